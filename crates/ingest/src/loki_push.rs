//! Loki push at `POST /loki/api/v1/push` (and the legacy `POST /api/prom/push`), so
//! Promtail, Grafana Alloy and Loki clients send here unchanged: snappy-compressed
//! protobuf or JSON (optionally gzip-, zstd- or deflate-compressed), one result for the
//! request, as Loki answers.
//!
//! Start with [`handler`]; [`decode`] reads both formats into one view of streams and
//! entries, [`labels`] reads and checks label sets, [`records`] turns entries into
//! `LogRecord`s.

pub mod decode;
pub mod handler;
pub mod labels;
pub mod records;

#[cfg(test)]
pub(crate) mod proto;

pub use handler::router;

#[cfg(test)]
mod tests;
