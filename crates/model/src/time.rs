//! Instants, durations and time ranges.
//!
//! Metrics count time in Unix milliseconds (as Prometheus does); logs and spans in Unix
//! nanoseconds. [`UnixNanos`] converts between the two; [`TimeRange`] bounds queries.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Error;

/// An instant as nanoseconds since the Unix epoch (negative before 1970).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct UnixNanos(pub i64);

impl UnixNanos {
    pub fn now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        UnixNanos(i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX))
    }

    pub fn from_millis(ms: i64) -> Self {
        UnixNanos(ms.saturating_mul(1_000_000))
    }

    /// Milliseconds, rounded towards negative infinity.
    pub fn as_millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

/// A closed interval `[start, end]`: both ends included, as in Prometheus's HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeRange {
    start: UnixNanos,
    end: UnixNanos,
}

impl TimeRange {
    pub fn new(start: UnixNanos, end: UnixNanos) -> Result<Self, Error> {
        if end < start {
            return Err(Error::EmptyTimeRange {
                start: start.0,
                end: end.0,
            });
        }
        Ok(TimeRange { start, end })
    }

    /// Every representable instant.
    pub fn all() -> Self {
        TimeRange {
            start: UnixNanos(i64::MIN),
            end: UnixNanos(i64::MAX),
        }
    }

    pub fn start(&self) -> UnixNanos {
        self.start
    }

    pub fn end(&self) -> UnixNanos {
        self.end
    }

    pub fn contains(&self, instant: UnixNanos) -> bool {
        self.start <= instant && instant <= self.end
    }

    /// Whether the two ranges share at least one instant.
    pub fn overlaps(&self, other: &TimeRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

const PROMETHEUS_UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration such as `90s`, `1h30m` or `500ms`: integer amounts with
/// units `y w d h m s ms`, each unit at most once and from largest to smallest. `0` alone
/// means zero.
pub fn parse_duration(input: &str) -> Result<Duration, Error> {
    let invalid = |reason| Error::InvalidDuration {
        input: input.to_owned(),
        reason,
    };
    if input == "0" {
        return Ok(Duration::ZERO);
    }
    if input.is_empty() {
        return Err(invalid("it is empty"));
    }
    let mut rest = input;
    let mut total_ms: u64 = 0;
    let mut last_unit_idx: Option<usize> = None;
    while !rest.is_empty() {
        let n_digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n_digits == 0 {
            return Err(invalid(
                "expected a number followed by a unit (ms, s, m, h, d, w, y)",
            ));
        }
        let amount: u64 = rest[..n_digits]
            .parse()
            .map_err(|_| invalid("the number is too large"))?;
        rest = &rest[n_digits..];
        let n_unit = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..n_unit];
        rest = &rest[n_unit..];
        let unit_idx = PROMETHEUS_UNITS
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(|| invalid("unknown or missing unit; use ms, s, m, h, d, w or y"))?;
        if last_unit_idx.is_some_and(|last| unit_idx <= last) {
            return Err(invalid(
                "units must go from largest to smallest, each at most once",
            ));
        }
        last_unit_idx = Some(unit_idx);
        let unit_ms = PROMETHEUS_UNITS[unit_idx].1;
        total_ms = amount
            .checked_mul(unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| invalid("the duration is too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way Prometheus prints one (`1h30m`, `15s`, `250ms`, `0s`).
/// Sub-millisecond parts are dropped.
pub fn format_duration(duration: Duration) -> PrometheusDuration {
    PrometheusDuration(duration)
}

/// [`Display`](fmt::Display) adapter returned by [`format_duration`].
#[derive(Debug, Clone, Copy)]
pub struct PrometheusDuration(Duration);

impl fmt::Display for PrometheusDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, unit_ms) in PROMETHEUS_UNITS {
            if ms >= unit_ms {
                write!(f, "{}{unit}", ms / unit_ms)?;
                ms %= unit_ms;
            }
        }
        Ok(())
    }
}

/// An RFC 3339 timestamp (`2026-11-21T17:58:30.123456789Z`, `...+02:00`; `t` or a space
/// may separate date and time) with up to nanosecond precision.
pub fn parse_rfc3339(text: &str) -> Option<UnixNanos> {
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
    let mut nanos = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Digits past nanoseconds are dropped, not rounded.
        for (i, digit) in fraction.bytes().take(digits.min(9)).enumerate() {
            nanos += i64::from(digit - b'0') * 10i64.pow(8 - i as u32);
        }
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
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(nanos))
        .map(UnixNanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a count of days since
/// 1970-01-01; the inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// An instant in RFC 3339, UTC, with nanoseconds: `2026-11-21T17:58:30.123456789Z`.
pub fn format_rfc3339(instant: UnixNanos) -> String {
    let seconds = instant.0.div_euclid(1_000_000_000);
    let nanos = instant.0.rem_euclid(1_000_000_000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let in_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_to_nanoseconds_and_formats_back() {
        let cases = [
            ("2026-11-21T17:58:30Z", 1_795_283_910_000_000_000),
            ("2026-11-21T17:58:30.123456789Z", 1_795_283_910_123_456_789),
            ("2026-11-21T17:58:30.1234567891Z", 1_795_283_910_123_456_789),
            ("2026-11-21 19:58:30.5+02:00", 1_795_283_910_500_000_000),
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59.5Z", -500_000_000),
            ("2000-02-29T12:00:00Z", 951_825_600_000_000_000),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse_rfc3339(text), Some(UnixNanos(nanos)), "{text}");
        }
        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-11-21",
            "2026-11-21T17:58:30",
            "2026-11-21T17:58:30.Z",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            format_rfc3339(UnixNanos(1_795_283_910_123_456_789)),
            "2026-11-21T17:58:30.123456789Z"
        );
        assert_eq!(
            format_rfc3339(UnixNanos(-500_000_000)),
            "1969-12-31T23:59:59.500000000Z"
        );
        for days in [-800_000, -1, 0, 59, 10_957, 20_778, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
    }

    #[test]
    fn parses_prometheus_durations() {
        let cases = [
            ("0", 0),
            ("500ms", 500),
            ("15s", 15_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("2w", 1_209_600_000),
            ("1y", 31_536_000_000),
            ("1m1s1ms", 61_001),
        ];
        for (input, ms) in cases {
            assert_eq!(
                parse_duration(input),
                Ok(Duration::from_millis(ms)),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_malformed_durations_naming_the_input() {
        for bad in [
            "",
            "5",
            "s",
            "1x",
            "1m1h",
            "1s1s",
            "-1s",
            "1.5s",
            "99999999999999999999s",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn format_round_trips() {
        for input in ["0s", "250ms", "15s", "1h30m", "1d", "1w2d", "1y"] {
            let parsed = parse_duration(input).expect(input);
            assert_eq!(format_duration(parsed).to_string(), input);
        }
    }

    #[test]
    fn time_ranges_are_closed() {
        let range = TimeRange::new(UnixNanos(10), UnixNanos(20)).expect("valid range");
        assert!(range.contains(UnixNanos(10)));
        assert!(range.contains(UnixNanos(20)));
        assert!(!range.contains(UnixNanos(21)));
        let touching = TimeRange::new(UnixNanos(20), UnixNanos(30)).expect("valid range");
        assert!(range.overlaps(&touching));
        assert!(TimeRange::new(UnixNanos(2), UnixNanos(1)).is_err());
    }

    #[test]
    fn millis_round_down() {
        assert_eq!(UnixNanos(1_999_999).as_millis(), 1);
        assert_eq!(UnixNanos(-1).as_millis(), -1);
        assert_eq!(UnixNanos::from_millis(3).0, 3_000_000);
    }
}
