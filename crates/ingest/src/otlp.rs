//! OpenTelemetry's OTLP: logs over OTLP/HTTP at `POST /v1/logs` (protobuf or JSON,
//! optionally gzip-compressed), and the same export for the gRPC service the binary
//! serves ([`export_logs_protobuf`]). Traces arrive with their issue.
//!
//! Data path: `logs_decode` (protobuf, zero-copy over [`crate::protowire`]) or
//! `logs_json` (OTLP/JSON) -> [`log_record`] (one OTLP record plus its resource and
//! scope -> a [`model::LogRecord`], with [`any_value`] flattening attributes) ->
//! `logs_export` (write to the [`crate::LogSink`], count, build the response) ->
//! `logs_handler` (HTTP: media types, content coding, status codes). `response` encodes
//! the export responses and the `google.rpc.Status` of failures in either encoding.
//!
//! A record that cannot be stored (an id of the wrong length, over a limit) is rejected
//! alone and counted in the response's `partial_success`; a body that cannot be decoded
//! is refused whole with 400.

pub mod any_value;
pub mod base64;
pub mod grpc;
pub mod log_record;
pub mod logs_decode;
pub mod logs_export;
pub mod logs_handler;
pub mod logs_json;
pub mod response;

pub use logs_export::{ExportError, ExportOutcome, Format, export_logs, export_logs_protobuf};
pub use logs_handler::http_router;

#[cfg(test)]
pub(crate) mod proto;

#[cfg(test)]
mod tests;
