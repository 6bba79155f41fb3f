//! OpenTelemetry's OTLP, logs and traces: OTLP/HTTP at `POST /v1/logs` and
//! `POST /v1/traces` (protobuf or JSON, optionally gzip-, zstd- or deflate-compressed),
//! and the gRPC services `LogsService` and `TraceService` the binary serves ([`grpc`]).
//!
//! Data path, the same for both signals:
//! - decode: `logs_decode` / `traces_decode` (protobuf, zero-copy over
//!   [`crate::protowire`], with [`common_decode`] for attributes, resources and scopes)
//!   or `logs_json` / `traces_json` (OTLP/JSON, with [`common_json`]);
//! - convert: [`log_record`] / [`span`] (one OTLP record or span plus its resource and
//!   scope -> a [`model::LogRecord`] / [`model::Span`], with [`any_value`] flattening
//!   attributes; span checks and limits are [`crate::spans`]');
//! - export: `logs_export` / `traces_export`, each an [`export::Export`] over the shared
//!   [`export`] (write to the sink, count, build the response);
//! - serve: [`handler`] (HTTP: media types, content coding, status codes) with the
//!   routes `logs_handler` and `traces_handler`, and [`grpc`]. `response` encodes the
//!   export responses and the `google.rpc.Status` of failures in either encoding.
//!
//! An item that cannot be stored (an id of the wrong length, an end before its start) is
//! rejected alone and counted in the response's `partial_success`; a body that cannot be
//! decoded is refused whole with 400, one over a request limit with 413.

pub mod any_value;
pub mod base64;
pub mod common_decode;
pub mod common_json;
pub mod export;
pub mod grpc;
pub mod handler;
pub mod log_record;
pub mod logs_decode;
pub mod logs_export;
pub mod logs_handler;
pub mod logs_json;
pub mod response;
pub mod span;
pub mod traces_decode;
pub mod traces_export;
pub mod traces_handler;
pub mod traces_json;

pub use export::{ExportError, ExportOutcome, Format};
pub use logs_export::{export_logs, export_logs_protobuf};
pub use logs_handler::http_router;
pub use traces_export::{export_traces, export_traces_protobuf};
pub use traces_handler::{http_router_with_traces, traces_http_router};

#[cfg(test)]
pub(crate) mod proto;

#[cfg(test)]
mod tests;
