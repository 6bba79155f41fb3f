/// A query that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid series selector {input:?}: {reason}")]
    InvalidSelector { input: String, reason: String },
}
