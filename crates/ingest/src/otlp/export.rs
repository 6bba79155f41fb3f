//! One OTLP export, whatever the signal and the transport: decode, write to the sink,
//! count, and answer with the `Export*ServiceResponse` whose `partial_success` names
//! what was rejected. Each signal implements [`Export`] (`logs_export`,
//! `traces_export`); the HTTP routes (`handler`) and the gRPC services (`grpc`) are
//! generic over it ([`Served`]), so they differ per signal only in paths and names.

use std::fmt::Debug;

use super::response;
use crate::batch::{self, BatchSink, Decoded, Noun, RequestError};
use crate::metrics::{IngestMetrics, Protocol};

/// The encoding of a request, and so of its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Binary protobuf (`application/x-protobuf`, and gRPC).
    Protobuf,
    /// OTLP/JSON (`application/json`).
    Json,
}

/// An export that was accepted, perhaps in part. Every item (log record, span) not
/// counted in `rejected` is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOutcome {
    pub accepted: usize,
    /// Items refused by the decoder (bad ids, over a limit) or by the sink.
    pub rejected: usize,
    /// Why items were rejected, naming them by position in the request, then any
    /// warning (values a limit truncated); empty when there is nothing to say.
    pub error_message: String,
    /// The `Export*ServiceResponse` in the request's format: `partial_success` set only
    /// when `error_message` is not empty.
    pub response: Vec<u8>,
}

/// An export refused as a whole: nothing of it was written.
pub type ExportError = RequestError;

impl RequestError {
    /// The `google.rpc.Status` describing the failure, in `format`.
    pub fn status_body(&self, format: Format) -> Vec<u8> {
        let code = self.kind.grpc_code();
        match format {
            Format::Protobuf => response::status_protobuf(code, &self.message),
            Format::Json => response::status_json(code, &self.message).into_bytes(),
        }
    }
}

/// One signal's export, with its sink and limits: what the HTTP route and the gRPC
/// service of that signal call.
pub trait Export: Debug + Send + Sync + 'static {
    /// The gRPC service, e.g. `opentelemetry.proto.collector.logs.v1.LogsService`.
    const GRPC_SERVICE: &'static str;
    /// Whose counters requests refused before decoding go to.
    const PROTOCOL: Protocol;

    /// Decodes a request body and writes its items. `wire_bytes` is the body's size as
    /// received, for the byte counter. Blocks on the sink: call it from a blocking
    /// thread.
    fn export(
        &self,
        metrics: &IngestMetrics,
        format: Format,
        body: &[u8],
        wire_bytes: usize,
    ) -> Result<ExportOutcome, ExportError>;
}

/// A signal's export with what its transports add: the counters, and the bound on a
/// request body (HTTP, after `Content-Encoding`) or message (gRPC, after decompression).
#[derive(Debug)]
pub struct Served<E> {
    pub export: E,
    pub metrics: IngestMetrics,
    pub max_message_bytes: usize,
}

impl<E: Export> Served<E> {
    /// Exports one request: [`Export::export`] with these counters.
    pub(crate) fn run(
        &self,
        format: Format,
        body: &[u8],
        wire_bytes: usize,
    ) -> Result<ExportOutcome, ExportError> {
        self.export.export(&self.metrics, format, body, wire_bytes)
    }
}

/// What differs between signals in an export's counting and answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signal {
    pub(crate) protocol: Protocol,
    pub(crate) noun: Noun,
    /// The `partial_success` count's key in OTLP/JSON (`rejectedSpans`).
    pub(crate) rejected_json_key: &'static str,
}

/// Writes a decoded request and builds its response; `warning` (may be empty) follows
/// the rejections in `error_message`.
pub(crate) fn export<T, S: BatchSink<T> + ?Sized>(
    sink: &S,
    signal: Signal,
    metrics: &IngestMetrics,
    format: Format,
    decoded: Result<Decoded<T>, ExportError>,
    wire_bytes: usize,
    warning: &str,
) -> Result<ExportOutcome, ExportError> {
    let written = batch::write(sink, decoded, signal.protocol, metrics, wire_bytes)?;
    let mut error_message = written.summary(signal.noun);
    if !warning.is_empty() {
        if !error_message.is_empty() {
            error_message.push_str("; ");
        }
        error_message.push_str(warning);
    }
    let rejected = written.rejections.len();
    let response = match format {
        Format::Protobuf => response::export_protobuf(rejected as u64, &error_message),
        Format::Json => {
            response::export_json(signal.rejected_json_key, rejected as u64, &error_message)
                .into_bytes()
        }
    };
    Ok(ExportOutcome {
        accepted: written.accepted,
        rejected,
        error_message,
        response,
    })
}
