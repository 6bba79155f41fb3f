/// Why a query could not be run, or stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid series selector {input:?}: {reason}")]
    InvalidSelector { input: String, reason: String },
    /// The query text does not parse.
    #[error("{0}")]
    Parse(String),
    /// The query parses but cannot be run as asked (a range query of a range vector, a
    /// bad step, a bad time).
    #[error("{0}")]
    BadQuery(String),
    /// Evaluation failed on the data (duplicate label sets, many-to-many matching, an
    /// invalid argument value).
    #[error("{0}")]
    Execution(String),
    #[error("query timed out in {0}; the limit is query.timeout")]
    Timeout(String),
    #[error("query was canceled in {0}")]
    Canceled(String),
    #[error(
        "query processing would load too many samples into memory in query execution (the limit is query.max_samples = {limit})"
    )]
    TooManySamples { limit: usize },
    #[error(
        "query returns more than {limit} series (the limit is query.max_series); narrow the selectors or aggregate"
    )]
    TooManySeries { limit: usize },
    /// The store failed to read.
    #[error("storage error: {0}")]
    Storage(String),
}

impl Error {
    /// Prometheus's `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::InvalidSelector { .. } | Error::Parse(_) | Error::BadQuery(_) => "bad_data",
            Error::Execution(_) | Error::TooManySamples { .. } | Error::TooManySeries { .. } => {
                "execution"
            }
            Error::Timeout(_) => "timeout",
            Error::Canceled(_) => "canceled",
            Error::Storage(_) => "internal",
        }
    }
}
