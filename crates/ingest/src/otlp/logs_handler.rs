//! `POST /v1/logs` (OTLP/HTTP), served by the shared [`handler`](super::handler): media
//! types, content codings and status codes are described there.

use std::sync::Arc;

use axum::Router;

use super::export::Served;
use super::handler;
use super::logs_export::LogsExport;
use crate::json_logs::JsonLogsConfig;
use crate::metrics::IngestMetrics;
use crate::sink::LogSink;

/// The `/v1/logs` route, ready to merge into the main router. `config` is the one the
/// JSON log endpoint uses: the same line limits and decompression bound.
pub fn http_router(
    sink: Arc<dyn LogSink>,
    config: JsonLogsConfig,
    metrics: IngestMetrics,
) -> Router {
    let export = LogsExport {
        sink,
        config: config.log,
    };
    handler::route(
        "/v1/logs",
        Served {
            export,
            metrics,
            max_message_bytes: config.max_decompressed_bytes,
        },
    )
}
