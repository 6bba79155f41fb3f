use std::path::PathBuf;

use crate::encoding::Corrupt;

/// What can go wrong in the time-series store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is corrupt: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("invalid matcher {name}{op}{value:?}: {reason}")]
    InvalidMatcher {
        name: String,
        op: &'static str,
        value: String,
        reason: String,
    },
    #[error("the store is closed")]
    Closed,
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

    pub(crate) fn corrupt(path: impl Into<PathBuf>) -> impl FnOnce(Corrupt) -> Error {
        let path = path.into();
        move |corrupt| Error::Corrupt {
            path,
            detail: corrupt.0.to_owned(),
        }
    }
}
