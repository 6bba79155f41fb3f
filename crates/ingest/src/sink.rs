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
    /// Takes the lines: a store keeps an accepted line's record as it is.
    fn write(&self, lines: Vec<model::LogRecord>) -> Result<LogWriteOutcome, SinkError>;
}

/// One refused span of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRejection {
    /// Index into the batch's spans.
    pub span_idx: usize,
    /// Short identifier for reject counters (`too_old`, ...).
    pub reason: &'static str,
    /// A sentence naming the problem.
    pub message: String,
}

/// What a span sink did with a batch. Every span not rejected is durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanWriteOutcome {
    pub accepted: usize,
    pub rejected: Vec<SpanRejection>,
}

/// Receives decoded spans. Called from a blocking thread: it may do I/O. An `Err` of
/// kind `TooManyRequests` means the store is behind: nothing was written and the same
/// batch can be retried shortly.
pub trait SpanSink: Send + Sync + std::fmt::Debug {
    fn write(&self, spans: &[model::Span]) -> Result<SpanWriteOutcome, SinkError>;
}

/// Sinks for the protocols' tests: they record what they were given, and refuse on
/// demand.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Mutex;

    use model::{ErrorKind, LogRecord, Span};

    use super::{
        LineRejection, LogSink, LogWriteOutcome, SinkError, SpanRejection, SpanSink,
        SpanWriteOutcome,
    };

    #[derive(Debug)]
    pub(crate) struct Recording<T> {
        pub(crate) written: Mutex<Vec<T>>,
        /// How many times `write` was called.
        pub(crate) n_calls: Mutex<usize>,
        /// Refuse lines whose message (spans whose name) is this, as a store refuses a
        /// too-old line.
        pub(crate) refuse_message: Option<&'static str>,
        /// Refuse every batch with this kind, as a store that is behind or closed.
        pub(crate) fail: Option<ErrorKind>,
    }

    /// Records log lines.
    pub(crate) type RecordingSink = Recording<LogRecord>;

    /// Records spans.
    pub(crate) type RecordingSpanSink = Recording<Span>;

    impl<T> Default for Recording<T> {
        fn default() -> Self {
            Recording {
                written: Mutex::new(Vec::new()),
                n_calls: Mutex::new(0),
                refuse_message: None,
                fail: None,
            }
        }
    }

    impl<T: Clone> Recording<T> {
        pub(crate) fn written(&self) -> Vec<T> {
            self.written.lock().expect("lock").clone()
        }

        /// Keeps the items not refused; returns how many and the indexes of the others.
        fn record(
            &self,
            items: &[T],
            text: impl Fn(&T) -> &str,
        ) -> Result<(usize, Vec<usize>), SinkError> {
            *self.n_calls.lock().expect("lock") += 1;
            if let Some(kind) = self.fail {
                return Err(SinkError {
                    kind,
                    message: "the indexing queue is full".into(),
                });
            }
            let mut refused = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if Some(text(item)) == self.refuse_message {
                    refused.push(i);
                } else {
                    self.written.lock().expect("lock").push(item.clone());
                }
            }
            Ok((items.len() - refused.len(), refused))
        }
    }

    impl LogSink for RecordingSink {
        fn write(&self, lines: Vec<LogRecord>) -> Result<LogWriteOutcome, SinkError> {
            let (accepted, refused) = self.record(&lines, |line| &line.message)?;
            let rejected = refused.into_iter().map(|line_idx| LineRejection {
                line_idx,
                reason: "too_old",
                message: "the line is older than logs.retention".into(),
            });
            Ok(LogWriteOutcome {
                accepted,
                rejected: rejected.collect(),
            })
        }
    }

    impl SpanSink for RecordingSpanSink {
        fn write(&self, spans: &[Span]) -> Result<SpanWriteOutcome, SinkError> {
            let (accepted, refused) = self.record(spans, |span| &span.name)?;
            let rejected = refused.into_iter().map(|span_idx| SpanRejection {
                span_idx,
                reason: "too_old",
                message: "the span is older than traces.retention".into(),
            });
            Ok(SpanWriteOutcome {
                accepted,
                rejected: rejected.collect(),
            })
        }
    }
}
