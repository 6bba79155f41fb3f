//! One logs export, whatever the transport: decode, write to the sink, count, and say
//! what was rejected. The HTTP handler and the gRPC service both call [`export_logs`];
//! they differ only in how they carry the answer.

use model::{ErrorKind, UnixNanos};

use super::log_record::Decoded;
use super::{logs_decode, logs_json, response};
use crate::metrics::{IngestMetrics, Protocol};
use crate::normalize::LogConfig;
use crate::sink::{LogSink, LogWriteOutcome};

/// How many rejected records the `error_message` names before summarizing the rest.
const MAX_LISTED_REJECTIONS: usize = 10;

/// The encoding of a request, and so of its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Binary protobuf (`application/x-protobuf`, and gRPC).
    Protobuf,
    /// OTLP/JSON (`application/json`).
    Json,
}

/// An export that was accepted, perhaps in part. Every record not counted in
/// `rejected` is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOutcome {
    pub accepted: usize,
    /// Records refused by the decoder (bad ids, over a limit) or by the sink.
    pub rejected: usize,
    /// Why records were rejected, naming them by position in the request; empty when
    /// none were.
    pub error_message: String,
    /// The `ExportLogsServiceResponse` in the request's format: `partial_success` set
    /// only when records were rejected.
    pub response: Vec<u8>,
}

/// An export refused as a whole: nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExportError {
    /// `BadData` for a body that cannot be decoded; otherwise the sink's kind
    /// (`TooManyRequests`, `Unavailable`, `Internal`: a retry may succeed). Gives the HTTP
    /// status and the gRPC code.
    pub kind: ErrorKind,
    /// Short identifier for reject counters.
    pub reason: &'static str,
    pub message: String,
}

impl ExportError {
    /// The `google.rpc.Status` describing the failure, in `format`.
    pub fn status_body(&self, format: Format) -> Vec<u8> {
        let code = self.kind.grpc_code();
        match format {
            Format::Protobuf => response::status_protobuf(code, &self.message),
            Format::Json => response::status_json(code, &self.message).into_bytes(),
        }
    }
}

/// [`export_logs`] for a protobuf body that arrived as is (the gRPC service).
pub fn export_logs_protobuf(
    sink: &dyn LogSink,
    config: &LogConfig,
    metrics: &IngestMetrics,
    body: &[u8],
) -> Result<ExportOutcome, ExportError> {
    export_logs(sink, config, metrics, Format::Protobuf, body, body.len())
}

/// Decodes an `ExportLogsServiceRequest` and writes its records. `wire_bytes` is the
/// body's size as received (before decompression), for the byte counter. Blocks on the
/// sink: call it from a blocking thread.
pub fn export_logs(
    sink: &dyn LogSink,
    config: &LogConfig,
    metrics: &IngestMetrics,
    format: Format,
    body: &[u8],
    wire_bytes: usize,
) -> Result<ExportOutcome, ExportError> {
    let arrival = UnixNanos::now();
    let decoded = match format {
        Format::Protobuf => logs_decode::decode(body, config, arrival),
        Format::Json => logs_json::decode(body, config, arrival),
    };
    let decoded = decoded.map_err(|err| {
        metrics.record_rejected(Protocol::OtlpLogs, err.reason, 1);
        ExportError {
            kind: ErrorKind::BadData,
            reason: err.reason,
            message: err.message,
        }
    })?;
    let outcome = if decoded.records.is_empty() {
        LogWriteOutcome::default()
    } else {
        sink.write(&decoded.records).map_err(|err| {
            metrics.record_rejected(
                Protocol::OtlpLogs,
                "store_unavailable",
                decoded.records.len() as u64,
            );
            ExportError {
                kind: err.kind,
                reason: "store_unavailable",
                message: format!("nothing was written: {err}"),
            }
        })?
    };
    metrics.record_accepted(
        Protocol::OtlpLogs,
        outcome.accepted as u64,
        wire_bytes as u64,
    );
    let rejections = rejections(&decoded, &outcome);
    for (_, reason, _) in &rejections {
        metrics.record_rejected(Protocol::OtlpLogs, reason, 1);
    }
    let error_message = summary(&rejections, decoded.n_records());
    let rejected = rejections.len();
    let response = match format {
        Format::Protobuf => response::export_protobuf(rejected as u64, &error_message),
        Format::Json => {
            response::export_json("rejectedLogRecords", rejected as u64, &error_message)
                .into_bytes()
        }
    };
    Ok(ExportOutcome {
        accepted: outcome.accepted,
        rejected,
        error_message,
        response,
    })
}

/// Every rejected record, by position in the request: `(number, reason, message)`.
fn rejections<'a>(
    decoded: &'a Decoded,
    outcome: &'a LogWriteOutcome,
) -> Vec<(usize, &'static str, &'a str)> {
    let mut rejections: Vec<_> = decoded
        .errors
        .iter()
        .map(|(number, err)| (*number, err.reason, err.message.as_str()))
        .chain(outcome.rejected.iter().map(|rejection| {
            let number = decoded
                .numbers
                .get(rejection.line_idx)
                .copied()
                .unwrap_or(0);
            (number, rejection.reason, rejection.message.as_str())
        }))
        .collect();
    rejections.sort_by_key(|(number, _, _)| *number);
    rejections
}

fn summary(rejections: &[(usize, &'static str, &str)], n_records: usize) -> String {
    if rejections.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = rejections
        .iter()
        .take(MAX_LISTED_REJECTIONS)
        .map(|(number, _, message)| format!("record {number}: {message}"))
        .collect();
    let mut text = format!(
        "{} of {n_records} log records were rejected: {}",
        rejections.len(),
        listed.join("; ")
    );
    if rejections.len() > MAX_LISTED_REJECTIONS {
        text.push_str(&format!(
            "; and {} more",
            rejections.len() - MAX_LISTED_REJECTIONS
        ));
    }
    text
}
