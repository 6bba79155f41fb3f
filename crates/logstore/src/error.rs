use std::path::PathBuf;

use model::ErrorKind;

use crate::query::QueryError;

/// What can go wrong in the log store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{action} {}: {source}", path.display())]
    Index {
        action: &'static str,
        path: PathBuf,
        source: tantivy::TantivyError,
    },
    #[error(
        "the log store is indexing {queued_bytes} bytes of lines, over its queue limit of {limit} (logs.max_indexing_queue); retry shortly"
    )]
    Overloaded { queued_bytes: usize, limit: usize },
    #[error("invalid query: {0}")]
    Query(#[from] QueryError),
    #[error(
        "query too broad: its line filters would read more than {limit} stored lines; add label matchers or shorten the time range"
    )]
    TooBroad { limit: u64 },
    /// A stored-value filter would read more lines than `logs.max_filtered_lines`.
    #[error("query too broad: {0}")]
    FilterTooBroad(String),
    #[error(
        "maximum number of series ({limit}) reached for a single query; add label matchers, shorten the time range or aggregate with sum by (...)"
    )]
    TooManySeries { limit: usize },
    #[error("the log store is closed")]
    Closed,
    #[error("the log store's indexer stopped: {0}")]
    Failed(String),
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

    pub(crate) fn index(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(tantivy::TantivyError) -> Error {
        let path = path.into();
        move |source| Error::Index {
            action,
            path,
            source,
        }
    }

    /// How a client should hear about it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Overloaded { .. } => ErrorKind::TooManyRequests,
            Error::Query(_)
            | Error::TooBroad { .. }
            | Error::FilterTooBroad(_)
            | Error::TooManySeries { .. } => ErrorKind::BadData,
            Error::Closed => ErrorKind::Unavailable,
            Error::Io { .. } | Error::Index { .. } | Error::Failed(_) => ErrorKind::Internal,
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
