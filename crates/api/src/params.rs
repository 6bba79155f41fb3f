//! Query parameters as the Prometheus HTTP API takes them: repeated keys (`match[]`),
//! times as RFC 3339 or Unix seconds; time ranges and limits as the log and trace APIs
//! read them; durations as Prometheus and as Jaeger write them.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use model::ErrorKind;

use crate::ApiError;

/// All `key=value` pairs of a query string (or form body), decoded, in order.
pub fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|query| {
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

pub fn all<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

pub fn last<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn bad(message: String) -> ApiError {
    ApiError::new(ErrorKind::BadData, message)
}

/// A time parameter in milliseconds: Unix seconds (`1700000000.5`) or RFC 3339
/// (`2026-11-22T01:00:00Z`, `...+02:00`).
pub fn parse_time(name: &str, text: &str) -> Result<i64, ApiError> {
    let invalid = || {
        bad(format!(
            "invalid parameter {name:?}: cannot parse {text:?} to a valid timestamp"
        ))
    };
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() || seconds.abs() > 9.2e15 {
            return Err(invalid());
        }
        return Ok((seconds * 1000.0).round() as i64);
    }
    model::time::parse_rfc3339(text)
        .map(|nanos| nanos.0.div_euclid(1_000_000))
        .ok_or_else(invalid)
}

/// A time parameter in nanoseconds, as Loki reads one: an integer of at most 10 digits
/// is Unix seconds, a longer one Unix nanoseconds; a number with a fraction is seconds;
/// otherwise RFC 3339.
pub fn parse_time_nanos(name: &str, text: &str) -> Result<i64, ApiError> {
    let invalid = || {
        bad(format!(
            "invalid parameter {name:?}: cannot parse {text:?} to a valid timestamp"
        ))
    };
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let value: i64 = text.parse().map_err(|_| invalid())?;
        return if digits.len() <= 10 {
            value.checked_mul(1_000_000_000).ok_or_else(invalid)
        } else {
            Ok(value)
        };
    }
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() || seconds.abs() > 9.2e9 {
            return Err(invalid());
        }
        return Ok((seconds * 1e9).round() as i64);
    }
    model::time::parse_rfc3339(text)
        .map(|nanos| nanos.0)
        .ok_or_else(invalid)
}

/// `start` and `end` in nanoseconds (each read by [`parse_time_nanos`]); `end` defaults
/// to now plus a nanosecond (so what arrived this instant is included), `start` to
/// `default_span` before `end`.
pub fn time_range_nanos(
    pairs: &[(String, String)],
    default_span: i64,
) -> Result<(i64, i64), ApiError> {
    let time = |name: &str| {
        last(pairs, name)
            .filter(|text| !text.is_empty())
            .map(|text| parse_time_nanos(name, text))
            .transpose()
    };
    let end = time("end")?.unwrap_or_else(|| model::UnixNanos::now().0.saturating_add(1));
    let start = time("start")?.unwrap_or_else(|| end.saturating_sub(default_span));
    if end < start {
        return Err(bad(
            "invalid parameter \"end\": end timestamp must not be before start time".to_owned(),
        ));
    }
    Ok((start, end))
}

/// The `limit` parameter: `default` when absent, otherwise a whole number from 1 to `max`.
pub fn limit(pairs: &[(String, String)], default: usize, max: usize) -> Result<usize, ApiError> {
    match last(pairs, "limit").filter(|text| !text.is_empty()) {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(format!(
                "invalid parameter \"limit\": {text:?} is not a whole number from 1 to {max}"
            ))),
        },
    }
}

/// Parameters from the URL and, for a form POST, the body.
pub fn form(query: Option<&str>, headers: &HeaderMap, body: &Bytes) -> Vec<(String, String)> {
    let mut pairs = pairs(query);
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if is_form && !body.is_empty() {
        pairs.extend(form_urlencoded::parse(body).into_owned());
    }
    pairs
}

/// A duration parameter: Prometheus durations (`30s`, `1m30s`) or seconds (`15`, `0.5`).
pub fn parse_duration(name: &str, text: &str) -> Result<Duration, ApiError> {
    let invalid = || {
        bad(format!(
            "invalid parameter {name:?}: cannot parse {text:?} to a valid duration"
        ))
    };
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() || !(0.0..=1e10).contains(&seconds) {
            return Err(invalid());
        }
        return Ok(Duration::from_secs_f64(seconds));
    }
    model::time::parse_duration(text).map_err(|_| invalid())
}

/// Units of [`parse_trace_duration`], in nanoseconds.
const TRACE_DURATION_UNITS: [(&str, u128); 10] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

/// A duration as trace APIs take one (Jaeger's `minDuration` and `lookback`): Go's
/// `time.ParseDuration` syntax, decimal amounts each followed by a unit (`ns`, `us` or
/// `µs`, `ms`, `s`, `m`, `h`), combined in any order (`250us`, `1.5s`, `1h30m`), plus
/// `d` and `w` (the Jaeger UI's lookback sends `2d`). `0` alone is zero; a bare number
/// has no unit and is refused, as Jaeger refuses it.
pub fn parse_trace_duration(name: &str, text: &str) -> Result<Duration, ApiError> {
    let invalid = || {
        bad(format!(
            "invalid parameter {name:?}: cannot parse {text:?} to a valid duration \
             (a number and a unit: ns, us, ms, s, m, h, d or w, e.g. 250ms or 1.5s)"
        ))
    };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let n_whole = rest.bytes().take_while(u8::is_ascii_digit).count();
        let whole = &rest[..n_whole];
        rest = &rest[n_whole..];
        let fraction = match rest.strip_prefix('.') {
            Some(after_dot) => {
                let n_fraction = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                rest = &after_dot[n_fraction..];
                &after_dot[..n_fraction]
            }
            None => "",
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let n_unit = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(idx, _)| idx);
        let unit = &rest[..n_unit];
        rest = &rest[n_unit..];
        let unit_nanos = TRACE_DURATION_UNITS
            .iter()
            .find(|(known, _)| *known == unit)
            .map(|(_, nanos)| *nanos)
            .ok_or_else(invalid)?;
        // 30 digits overflow nothing below u128::MAX and are far past any valid duration.
        if whole.len() > 30 {
            return Err(invalid());
        }
        let whole_value: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        // Digits past the nanosecond of the largest unit change nothing; Go drops them too.
        let fraction = &fraction[..fraction.len().min(18)];
        let fraction_nanos = if fraction.is_empty() {
            0
        } else {
            let digits: u128 = fraction.parse().map_err(|_| invalid())?;
            digits * unit_nanos / 10u128.pow(fraction.len() as u32)
        };
        total_nanos = whole_value
            .checked_mul(unit_nanos)
            .and_then(|nanos| nanos.checked_add(fraction_nanos))
            .and_then(|nanos| nanos.checked_add(total_nanos))
            .filter(|nanos| *nanos <= u128::from(u64::MAX))
            .ok_or_else(invalid)?;
    }
    Ok(Duration::from_nanos(
        u64::try_from(total_nanos).map_err(|_| invalid())?,
    ))
}

/// A float sample value as the Prometheus API writes it: `"1.5"`, `"NaN"`, `"+Inf"`.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_from_seconds_and_rfc3339() {
        let cases = [
            ("1795283910", 1_795_283_910_000),
            ("1795283910.123", 1_795_283_910_123),
            ("0", 0),
            ("-1.5", -1500),
            ("2026-11-21T17:58:30Z", 1_795_283_910_000),
            ("2026-11-21T17:58:30.5Z", 1_795_283_910_500),
            ("2026-11-21T19:58:30+02:00", 1_795_283_910_000),
            ("1970-01-01T00:00:00Z", 0),
            ("2000-02-29T12:00:00Z", 951_825_600_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_time("start", text), Ok(ms), "{text}");
        }
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-21",
            "NaN",
            "1e300",
        ] {
            let err = parse_time("end", bad).expect_err(bad);
            assert_eq!(
                err.message,
                format!("invalid parameter \"end\": cannot parse {bad:?} to a valid timestamp")
            );
        }
    }

    #[test]
    fn nanosecond_times_read_as_loki_reads_them() {
        let cases = [
            ("1795283910", 1_795_283_910_000_000_000),
            ("1795283910123456789", 1_795_283_910_123_456_789),
            ("1795283910.5", 1_795_283_910_500_000_000),
            ("2026-11-21T17:58:30.000000001Z", 1_795_283_910_000_000_001),
            ("0", 0),
        ];
        for (text, ns) in cases {
            assert_eq!(parse_time_nanos("start", text), Ok(ns), "{text}");
        }
        for bad in ["", "soon", "99999999999999999999", "1e300"] {
            assert!(parse_time_nanos("end", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trace_durations_read_as_jaeger_reads_them() {
        let cases = [
            ("0", 0),
            ("150ms", 150_000_000),
            ("2s", 2_000_000_000),
            ("1.5s", 1_500_000_000),
            ("1.2s", 1_200_000_000),
            (".5ms", 500_000),
            ("250us", 250_000),
            ("250µs", 250_000),
            ("7ns", 7),
            ("1h30m", 5_400_000_000_000),
            ("30m1h", 5_400_000_000_000),
            ("2d", 172_800_000_000_000),
            ("1w", 604_800_000_000_000),
            ("1.000000001s", 1_000_000_001),
        ];
        for (text, nanos) in cases {
            assert_eq!(
                parse_trace_duration("minDuration", text),
                Ok(Duration::from_nanos(nanos)),
                "{text}"
            );
        }
        for bad in [
            "",
            "15",
            "ms",
            "1.s.",
            "-1s",
            "1y",
            "1 s",
            "abc",
            "1e3s",
            "999999999999w",
        ] {
            let err = parse_trace_duration("maxDuration", bad).expect_err(bad);
            assert!(
                err.message.starts_with(&format!(
                    "invalid parameter \"maxDuration\": cannot parse {bad:?}"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn limits_and_time_ranges_name_the_bad_parameter() {
        let parsed = pairs(Some("limit=0"));
        let err = limit(&parsed, 20, 1000).expect_err("zero");
        assert_eq!(
            err.message,
            "invalid parameter \"limit\": \"0\" is not a whole number from 1 to 1000"
        );
        assert_eq!(limit(&pairs(None), 20, 1000), Ok(20));
        assert_eq!(limit(&pairs(Some("limit=1000")), 20, 1000), Ok(1000));
        let range = time_range_nanos(&pairs(Some("start=10&end=20")), 5);
        assert_eq!(range, Ok((10_000_000_000, 20_000_000_000)));
        let defaulted = time_range_nanos(&pairs(Some("end=20")), 5).expect("range");
        assert_eq!(defaulted, (20_000_000_000 - 5, 20_000_000_000));
        let err = time_range_nanos(&pairs(Some("start=20&end=10")), 5).expect_err("reversed");
        assert!(
            err.message.starts_with("invalid parameter \"end\""),
            "{err}"
        );
    }

    #[test]
    fn repeated_keys_and_values() {
        let parsed = pairs(Some("match%5B%5D=up&match[]=%7Bjob%3D%22a%22%7D&start=1"));
        assert_eq!(all(&parsed, "match[]"), ["up", r#"{job="a"}"#]);
        assert_eq!(last(&parsed, "start"), Some("1"));
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(-f64::INFINITY), "-Inf");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
    }
}
