//! Structured JSON log lines at `POST /api/v1/logs`: NDJSON or a JSON array, optionally
//! gzip-, zstd- or deflate-compressed, with a result per line.

pub mod decode;
pub mod handler;

pub use handler::{JsonLogsConfig, router};

#[cfg(test)]
mod tests;
