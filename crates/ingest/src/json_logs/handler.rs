//! `POST /api/v1/logs`: check the media type and coding, decode, normalize, write, and
//! answer with a result per line: 200 when every line was written; 400 listing the
//! refused lines by number when some were not (the others are written: do not resend
//! them); 413/415 for bodies too large or of the wrong type; 429 with `Retry-After`
//! when the store is behind (nothing was written; resend later); 5xx only when a retry
//! can succeed.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use model::{ErrorKind, UnixNanos};
use serde::Serialize;

use super::decode;
use crate::body;
use crate::metrics::{IngestMetrics, Protocol};
use crate::normalize::LogConfig;
use crate::sink::LogSink;

/// How many refused lines a response lists.
const MAX_LISTED_ERRORS: usize = 100;

const ACCEPTED_TYPES: [&str; 7] = [
    "application/json",
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonlines",
    "application/x-jsonlines",
    "application/jsonl",
    "text/plain",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonLogsConfig {
    pub log: LogConfig,
    /// Largest body after `Content-Encoding` is undone.
    pub max_decompressed_bytes: usize,
}

impl Default for JsonLogsConfig {
    fn default() -> Self {
        JsonLogsConfig {
            log: LogConfig::default(),
            max_decompressed_bytes: 64 << 20,
        }
    }
}

#[derive(Debug, Clone)]
struct JsonLogsState {
    sink: Arc<dyn LogSink>,
    config: Arc<JsonLogsConfig>,
    metrics: IngestMetrics,
}

/// The route, ready to merge into the main router.
pub fn router(sink: Arc<dyn LogSink>, config: JsonLogsConfig, metrics: IngestMetrics) -> Router {
    Router::new()
        .route("/api/v1/logs", post(write))
        .with_state(JsonLogsState {
            sink,
            config: Arc::new(config),
            metrics,
        })
}

#[derive(Debug, Serialize)]
struct LineErrorBody {
    line: usize,
    reason: &'static str,
    error: String,
}

#[derive(Debug, Serialize)]
struct ResultBody {
    accepted: usize,
    rejected: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<LineErrorBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn answer(status: StatusCode, body: &ResultBody) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    (status, [(CONTENT_TYPE, "application/json")], text).into_response()
}

fn refused(status: StatusCode, message: String) -> Response {
    answer(
        status,
        &ResultBody {
            accepted: 0,
            rejected: 0,
            errors: Vec::new(),
            error: Some(message),
        },
    )
}

fn check_media_type(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let media_type = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media_type.is_empty() || ACCEPTED_TYPES.contains(&media_type.as_str()) {
        return Ok(());
    }
    Err(format!(
        "unsupported Content-Type {text:?}: send NDJSON or a JSON array as one of {}",
        ACCEPTED_TYPES.join(", ")
    ))
}

async fn write(State(state): State<JsonLogsState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(message) = check_media_type(&headers) {
        state
            .metrics
            .record_rejected(Protocol::LogsJson, "unsupported_media_type", 1);
        return refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    let encoding = match body::encoding(&headers) {
        Ok(encoding) => encoding,
        Err(err) => {
            state
                .metrics
                .record_rejected(Protocol::LogsJson, err.reason, 1);
            return refused(err.status, err.message);
        }
    };
    match tokio::task::spawn_blocking(move || process(&state, encoding, &body)).await {
        Ok(response) => response,
        Err(join_err) => refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("log write failed: {join_err}"),
        ),
    }
}

fn process(state: &JsonLogsState, encoding: body::Encoding, body: &[u8]) -> Response {
    let metrics = &state.metrics;
    let plain = match body::decode(body, encoding, state.config.max_decompressed_bytes) {
        Ok(plain) => plain,
        Err(err) => {
            metrics.record_rejected(Protocol::LogsJson, err.reason, 1);
            return refused(err.status, err.message);
        }
    };
    let mut decoded = match decode::decode(&plain, &state.config.log, UnixNanos::now()) {
        Ok(decoded) => decoded,
        Err(err) => {
            metrics.record_rejected(Protocol::LogsJson, err.reason, 1);
            return refused(StatusCode::BAD_REQUEST, err.message);
        }
    };
    let outcome = if decoded.records.is_empty() {
        crate::sink::LogWriteOutcome::default()
    } else {
        let count = decoded.records.len();
        match state.sink.write(std::mem::take(&mut decoded.records)) {
            Ok(outcome) => outcome,
            Err(err) => {
                let status = StatusCode::from_u16(err.kind.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                metrics.record_rejected(Protocol::LogsJson, "store_unavailable", count as u64);
                let mut response = refused(status, format!("nothing was written: {err}"));
                if err.kind == ErrorKind::TooManyRequests {
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
                }
                return response;
            }
        }
    };
    metrics.record_accepted(
        Protocol::LogsJson,
        outcome.accepted as u64,
        body.len() as u64,
    );
    let mut errors: Vec<LineErrorBody> = decoded
        .errors
        .into_iter()
        .map(|(line, err)| LineErrorBody {
            line,
            reason: err.reason,
            error: err.message,
        })
        .collect();
    errors.extend(outcome.rejected.iter().map(|rejection| {
        LineErrorBody {
            line: decoded
                .numbers
                .get(rejection.line_idx)
                .copied()
                .unwrap_or(0),
            reason: rejection.reason,
            error: rejection.message.clone(),
        }
    }));
    for error in &errors {
        metrics.record_rejected(Protocol::LogsJson, error.reason, 1);
    }
    errors.sort_by_key(|e| e.line);
    let rejected = errors.len();
    errors.truncate(MAX_LISTED_ERRORS);
    let status = if rejected == 0 {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    answer(
        status,
        &ResultBody {
            accepted: outcome.accepted,
            rejected,
            errors,
            error: (rejected > 0).then(|| {
                format!(
                    "{rejected} lines were not written (the other {} were)",
                    outcome.accepted
                )
            }),
        },
    )
}
