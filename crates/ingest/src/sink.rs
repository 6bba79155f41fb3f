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

/// A sink for the protocols' tests: records what it was given, and refuses on demand.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Mutex;

    use model::{ErrorKind, LogRecord};

    use super::{LineRejection, LogSink, LogWriteOutcome, SinkError};

    #[derive(Debug, Default)]
    pub(crate) struct RecordingSink {
        pub(crate) written: Mutex<Vec<LogRecord>>,
        /// How many times `write` was called.
        pub(crate) n_calls: Mutex<usize>,
        /// Refuse lines whose message is this, as a store refuses a too-old line.
        pub(crate) refuse_message: Option<&'static str>,
        /// Refuse every batch with this kind, as a store that is behind or closed.
        pub(crate) fail: Option<ErrorKind>,
    }

    impl RecordingSink {
        pub(crate) fn written(&self) -> Vec<LogRecord> {
            self.written.lock().expect("lock").clone()
        }
    }

    impl LogSink for RecordingSink {
        fn write(&self, lines: &[LogRecord]) -> Result<LogWriteOutcome, SinkError> {
            *self.n_calls.lock().expect("lock") += 1;
            if let Some(kind) = self.fail {
                return Err(SinkError {
                    kind,
                    message: "the indexing queue is full".into(),
                });
            }
            let mut outcome = LogWriteOutcome::default();
            for (i, line) in lines.iter().enumerate() {
                if Some(line.message.as_str()) == self.refuse_message {
                    outcome.rejected.push(LineRejection {
                        line_idx: i,
                        reason: "too_old",
                        message: "the line is older than logs.retention".into(),
                    });
                    continue;
                }
                self.written.lock().expect("lock").push(line.clone());
                outcome.accepted += 1;
            }
            Ok(outcome)
        }
    }
}
