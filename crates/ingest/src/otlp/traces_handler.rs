//! `POST /v1/traces` (OTLP/HTTP), served by the shared [`handler`](super::handler):
//! media types, content codings and status codes are described there. A request with
//! more than `max_spans_per_request` spans is answered 413 (`RESOURCE_EXHAUSTED` in
//! its `google.rpc.Status`), which OTLP clients do not retry.

use std::sync::Arc;

use axum::Router;

use super::export::Served;
use super::handler;
use super::logs_handler::http_router;
use super::traces_export::TracesExport;
use crate::json_logs::JsonLogsConfig;
use crate::metrics::IngestMetrics;
use crate::sink::{LogSink, SpanSink};
use crate::spans::TraceLimits;

/// The `/v1/traces` route, ready to merge into the main router.
pub fn traces_http_router(
    sink: Arc<dyn SpanSink>,
    limits: TraceLimits,
    metrics: IngestMetrics,
) -> Router {
    let max_message_bytes = limits.max_request_bytes;
    handler::route(
        "/v1/traces",
        Served {
            export: TracesExport { sink, limits },
            metrics,
            max_message_bytes,
        },
    )
}

/// Both OTLP/HTTP routes, `/v1/logs` ([`http_router`]) and `/v1/traces`, for the
/// OTLP/HTTP port.
pub fn http_router_with_traces(
    log_sink: Arc<dyn LogSink>,
    logs_config: JsonLogsConfig,
    span_sink: Arc<dyn SpanSink>,
    trace_limits: TraceLimits,
    metrics: IngestMetrics,
) -> Router {
    http_router(log_sink, logs_config, metrics.clone()).merge(traces_http_router(
        span_sink,
        trace_limits,
        metrics,
    ))
}
