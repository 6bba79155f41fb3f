//! Log records: one line of a service's log, normalized.

use crate::{SpanId, TraceId, UnixNanos, Value};

/// How serious a log line is, normalized from the many spellings senders use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Severity {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
    /// The line carried no level, or one we could not read.
    #[default]
    Unknown,
}

impl Severity {
    /// From a level name in any case: `warning`/`warn`, `err`/`error`, `critical`,
    /// `information` and so on. Unrecognized text gives [`Severity::Unknown`].
    pub fn from_text(level: &str) -> Severity {
        match level.trim().to_ascii_lowercase().as_str() {
            "trace" | "finest" | "finer" => Severity::Trace,
            "debug" | "fine" | "dbug" => Severity::Debug,
            "info" | "information" | "informational" | "notice" => Severity::Info,
            "warn" | "warning" => Severity::Warn,
            "error" | "err" | "eror" => Severity::Error,
            "fatal" | "critical" | "crit" | "alert" | "emerg" | "emergency" | "panic" => {
                Severity::Fatal
            }
            _ => Severity::Unknown,
        }
    }

    /// From an OTLP `SeverityNumber` (1-4 trace, 5-8 debug, ... 21-24 fatal).
    pub fn from_otlp_number(number: i32) -> Severity {
        match number {
            1..=4 => Severity::Trace,
            5..=8 => Severity::Debug,
            9..=12 => Severity::Info,
            13..=16 => Severity::Warn,
            17..=20 => Severity::Error,
            21..=24 => Severity::Fatal,
            _ => Severity::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Trace => "trace",
            Severity::Debug => "debug",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
            Severity::Fatal => "fatal",
            Severity::Unknown => "unknown",
        }
    }
}

/// One normalized log line. `raw` keeps the line exactly as it arrived, so it can be
/// returned unchanged whatever normalization did to the other fields.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// When the event happened (the sender's timestamp, or arrival time without one).
    pub timestamp: UnixNanos,
    /// When Sightline received it.
    pub observed: UnixNanos,
    pub severity: Severity,
    pub service: Option<String>,
    pub host: Option<String>,
    pub trace_id: Option<TraceId>,
    pub span_id: Option<SpanId>,
    /// A request id from a configured correlation field (`uuid`, `request_id`, ...),
    /// for services that do not propagate a W3C trace id.
    pub correlation_id: Option<String>,
    pub message: String,
    /// Every other field, nested objects flattened to dotted keys.
    pub fields: Vec<(String, Value)>,
    pub raw: String,
    /// Whether `raw` is a JSON object whose flattening holds every entry of `fields`
    /// under the same path (the fields were taken from it), so a store need not keep
    /// them a second time.
    pub raw_holds_fields: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_spellings_normalize() {
        let cases = [
            ("WARNING", Severity::Warn),
            ("warn", Severity::Warn),
            ("Err", Severity::Error),
            ("CRITICAL", Severity::Fatal),
            ("information", Severity::Info),
            (" debug ", Severity::Debug),
            ("verbose-ish", Severity::Unknown),
        ];
        for (text, expected) in cases {
            assert_eq!(Severity::from_text(text), expected, "{text}");
        }
    }

    #[test]
    fn otlp_severity_numbers_map_by_range() {
        assert_eq!(Severity::from_otlp_number(0), Severity::Unknown);
        assert_eq!(Severity::from_otlp_number(4), Severity::Trace);
        assert_eq!(Severity::from_otlp_number(9), Severity::Info);
        assert_eq!(Severity::from_otlp_number(17), Severity::Error);
        assert_eq!(Severity::from_otlp_number(24), Severity::Fatal);
        assert_eq!(Severity::from_otlp_number(25), Severity::Unknown);
    }
}
