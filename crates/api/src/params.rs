//! Query parameters as the Prometheus HTTP API takes them: repeated keys (`match[]`),
//! times as RFC 3339 or Unix seconds.

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
