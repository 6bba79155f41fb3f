//! One logs export, whatever the transport: `logs_decode` or `logs_json`, then the
//! shared [`export`](super::export) (write, count, `partial_success`). The HTTP route
//! and the gRPC service both reach [`export_logs`] through [`LogsExport`].

use std::sync::Arc;

use model::UnixNanos;

use super::export::{self, Export, ExportError, ExportOutcome, Format, Signal};
use super::{logs_decode, logs_json};
use crate::batch::{Noun, RequestError};
use crate::metrics::{IngestMetrics, Protocol};
use crate::normalize::LogConfig;
use crate::sink::LogSink;

const LOGS: Signal = Signal {
    protocol: Protocol::OtlpLogs,
    noun: Noun {
        plural: "log records",
        one: "record",
    },
    rejected_json_key: "rejectedLogRecords",
};

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
    let decoded = decoded.map_err(RequestError::bad_data);
    export::export(sink, LOGS, metrics, format, decoded, wire_bytes, "")
}

/// The logs export: its sink and line limits.
#[derive(Debug, Clone)]
pub struct LogsExport {
    pub sink: Arc<dyn LogSink>,
    pub config: LogConfig,
}

impl Export for LogsExport {
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const PROTOCOL: Protocol = Protocol::OtlpLogs;

    fn export(
        &self,
        metrics: &IngestMetrics,
        format: Format,
        body: &[u8],
        wire_bytes: usize,
    ) -> Result<ExportOutcome, ExportError> {
        let sink = self.sink.as_ref();
        export_logs(sink, &self.config, metrics, format, body, wire_bytes)
    }
}
