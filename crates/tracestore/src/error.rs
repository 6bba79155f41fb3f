use std::path::PathBuf;

use model::ErrorKind;

/// What can go wrong in the trace store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write a trace block: {0}")]
    Parquet(String),
    #[error("a trace block is damaged: {0}")]
    Corrupt(String),
    #[error(
        "the trace store holds {head_bytes} bytes of spans not yet written to blocks, over its limit of {limit} (traces.max_head_bytes); retry shortly"
    )]
    Overloaded { head_bytes: usize, limit: usize },
    #[error("invalid trace query: {0}")]
    Query(String),
    #[error(
        "trace {trace_id} has more than {limit} spans (traces.max_spans_per_trace); the answer would be too large"
    )]
    TraceTooLarge { trace_id: String, limit: usize },
    #[error("the trace store is closed")]
    Closed,
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    /// How a client should hear about it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Overloaded { .. } => ErrorKind::TooManyRequests,
            Error::Query(_) => ErrorKind::BadData,
            Error::TraceTooLarge { .. } => ErrorKind::Execution,
            Error::Closed => ErrorKind::Unavailable,
            Error::Io { .. } | Error::Parquet(_) | Error::Corrupt(_) => ErrorKind::Internal,
        }
    }
}

impl From<wal::Error> for Error {
    fn from(err: wal::Error) -> Self {
        match err {
            wal::Error::Io {
                action,
                path,
                source,
            } => Error::Io {
                action,
                path,
                source,
            },
            wal::Error::Closed => Error::Closed,
        }
    }
}
