//! One traces export, whatever the transport: `traces_decode` or `traces_json`, then the
//! shared [`export`](super::export) (write, count, `partial_success`). Values the
//! limits truncated are reported as a warning in `partial_success.error_message` (with
//! `rejected_spans` 0 when nothing was rejected, as OTLP allows) and counted in
//! `sightline_ingest_limited_total`. The HTTP route and the gRPC service both reach
//! [`export_traces`] through [`TracesExport`].

use std::sync::Arc;

use super::export::{self, Export, ExportError, ExportOutcome, Format, Signal};
use super::{traces_decode, traces_json};
use crate::batch::Noun;
use crate::metrics::{IngestMetrics, Protocol};
use crate::sink::SpanSink;
use crate::spans::TraceLimits;

const TRACES: Signal = Signal {
    protocol: Protocol::OtlpTraces,
    noun: Noun {
        plural: "spans",
        one: "span",
    },
    rejected_json_key: "rejectedSpans",
};

/// [`export_traces`] for a protobuf body that arrived as is (the gRPC service).
pub fn export_traces_protobuf(
    sink: &dyn SpanSink,
    limits: &TraceLimits,
    metrics: &IngestMetrics,
    body: &[u8],
) -> Result<ExportOutcome, ExportError> {
    export_traces(sink, limits, metrics, Format::Protobuf, body, body.len())
}

/// Decodes an `ExportTraceServiceRequest` and writes its spans. `wire_bytes` is the
/// body's size as received (before decompression), for the byte counter. Blocks on the
/// sink: call it from a blocking thread.
pub fn export_traces(
    sink: &dyn SpanSink,
    limits: &TraceLimits,
    metrics: &IngestMetrics,
    format: Format,
    body: &[u8],
    wire_bytes: usize,
) -> Result<ExportOutcome, ExportError> {
    let decoded = match format {
        Format::Protobuf => traces_decode::decode(body, limits),
        Format::Json => traces_json::decode(body, limits),
    };
    let (decoded, warning) = match decoded {
        Ok(decoded) => {
            decoded.trimmed.record(metrics, Protocol::OtlpTraces);
            (Ok(decoded.spans), decoded.trimmed.warning(limits))
        }
        Err(err) => (Err(err), String::new()),
    };
    export::export(sink, TRACES, metrics, format, decoded, wire_bytes, &warning)
}

/// The traces export: its sink and limits.
#[derive(Debug, Clone)]
pub struct TracesExport {
    pub sink: Arc<dyn SpanSink>,
    pub limits: TraceLimits,
}

impl Export for TracesExport {
    const GRPC_SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PROTOCOL: Protocol = Protocol::OtlpTraces;

    fn export(
        &self,
        metrics: &IngestMetrics,
        format: Format,
        body: &[u8],
        wire_bytes: usize,
    ) -> Result<ExportOutcome, ExportError> {
        let (sink, limits) = (self.sink.as_ref(), &self.limits);
        export_traces(sink, limits, metrics, format, body, wire_bytes)
    }
}
