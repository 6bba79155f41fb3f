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

#[cfg(test)]
mod tests {
    use super::*;

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
