//! What ingest hands decoded data to. Declared here, implemented by the composition root
//! over the stores, so no protocol depends on a store.

use model::ErrorKind;
use model::write::WriteBatch;

/// Refused samples of one series of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRejection {
    /// Index into the batch's series.
    pub series_idx: usize,
    /// Lowercase sentence naming the problem, without the series.
    pub message: String,
    /// Short identifier for reject counters (`too_old`, `max_series`, ...).
    pub reason: &'static str,
    /// A limit was hit (retrying later may succeed), rather than invalid data.
    pub is_limit: bool,
    pub samples: u64,
}

/// What a sink did with a batch. Everything not rejected is durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    pub samples_written: u64,
    /// Samples already stored with the same value (a retry); accepted, not stored twice.
    pub samples_duplicate: u64,
    pub exemplars_written: u64,
    pub rejected: Vec<SeriesRejection>,
}

/// The sink could not take the batch at all; nothing of it was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    /// `Unavailable` or `Internal` (a retry may succeed), never a client error.
    pub kind: ErrorKind,
    pub message: String,
}

/// Receives metric batches. Called from a blocking thread: it may do I/O.
pub trait MetricsSink: Send + Sync + std::fmt::Debug {
    fn write(&self, batch: &WriteBatch<'_>) -> Result<WriteOutcome, SinkError>;
}

/// One refused log line of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRejection {
    /// Index into the batch's lines.
    pub line_idx: usize,
    /// Short identifier for reject counters (`too_old`, ...).
    pub reason: &'static str,
    /// A sentence naming the problem.
    pub message: String,
}

/// What a log sink did with a batch. Every line not rejected is durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogWriteOutcome {
    pub accepted: usize,
    pub rejected: Vec<LineRejection>,
}

/// Receives normalized log lines. Called from a blocking thread: it may do I/O. An
/// `Err` of kind `TooManyRequests` means the store is behind: nothing was written and
/// the same batch can be retried shortly.
pub trait LogSink: Send + Sync + std::fmt::Debug {
    fn write(&self, lines: &[model::LogRecord]) -> Result<LogWriteOutcome, SinkError>;
}
