//! Zipkin v2 at `POST /api/v2/spans`: a JSON array of spans, as Brave (Java), py_zipkin
//! and the OpenTelemetry Zipkin exporters send it (optionally gzip-, zstd- or
//! deflate-compressed), answered 202 as Zipkin answers.
//!
//! Start with [`handler`]; [`decode`] maps Zipkin's fields onto [`model::Span`].

pub mod decode;
pub mod handler;

pub use handler::router;

#[cfg(test)]
mod tests;
