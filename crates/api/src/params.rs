//! Query parameters as the Prometheus HTTP API takes them: repeated keys (`match[]`),
//! times as RFC 3339 or Unix seconds.

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
    parse_rfc3339(text).ok_or_else(invalid)
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded: String = fraction[..digits]
            .chars()
            .chain(std::iter::repeat('0'))
            .take(3)
            .collect();
        millis = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (rest[1..3].parse::<i64>().ok()? * 60 + rest[4..6].parse::<i64>().ok()?)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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
