use thiserror::Error;

/// A value that does not satisfy the rules of the model type it was meant to become.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    #[error("label name {name:?} is not valid: {reason}")]
    InvalidLabelName { name: String, reason: &'static str },
    #[error("label {name:?} appears more than once in the label set")]
    DuplicateLabelName { name: String },
    #[error("label names are not sorted: {previous:?} comes before {next:?}")]
    UnsortedLabelNames { previous: String, next: String },
    #[error("metric name {name:?} is not valid: {reason}")]
    InvalidMetricName { name: String, reason: &'static str },
    #[error("{what} {input:?} is not valid: {reason}")]
    InvalidId {
        what: &'static str,
        input: String,
        reason: &'static str,
    },
    #[error("duration {input:?} is not valid: {reason}")]
    InvalidDuration { input: String, reason: &'static str },
    #[error("time range is empty: end {end} is before start {start}")]
    EmptyTimeRange { start: i64, end: i64 },
}
