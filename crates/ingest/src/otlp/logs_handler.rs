//! `POST /v1/logs` (OTLP/HTTP): the media type picks protobuf or JSON (415 for any
//! other), `Content-Encoding` is undone within `max_decompressed_bytes` (413 past it),
//! and the answer is in the request's encoding, as the OTLP specification says: 200
//! with an `ExportLogsServiceResponse` (its `partial_success` counting rejected
//! records, which must not be resent); 400 with a `google.rpc.Status` for a body that
//! cannot be decoded; 429 or 503 with `Retry-After` when the store is behind or not
//! ready (OTLP clients retry exactly 429, 502, 503 and 504); 500 when the store failed
//! (`model::ErrorKind`'s one mapping).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use model::ErrorKind;

use super::logs_export::{ExportError, Format, export_logs};
use crate::body;
use crate::json_logs::JsonLogsConfig;
use crate::metrics::{IngestMetrics, Protocol};
use crate::sink::LogSink;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

#[derive(Debug, Clone)]
struct OtlpLogsState {
    sink: Arc<dyn LogSink>,
    config: Arc<JsonLogsConfig>,
    metrics: IngestMetrics,
}

/// The `/v1/logs` route, ready to merge into the main router. `config` is the one the
/// JSON log endpoint uses: the same line limits and decompression bound.
pub fn http_router(
    sink: Arc<dyn LogSink>,
    config: JsonLogsConfig,
    metrics: IngestMetrics,
) -> Router {
    Router::new()
        .route("/v1/logs", post(write))
        .with_state(OtlpLogsState {
            sink,
            config: Arc::new(config),
            metrics,
        })
}

fn content_type(format: Format) -> &'static str {
    match format {
        Format::Protobuf => PROTOBUF,
        Format::Json => JSON,
    }
}

/// The `google.rpc.Status` answer to a failed request.
fn refused(format: Format, err: &ExportError) -> Response {
    let status =
        StatusCode::from_u16(err.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(CONTENT_TYPE, content_type(format))],
        err.status_body(format),
    )
        .into_response();
    if matches!(
        err.kind,
        ErrorKind::TooManyRequests | ErrorKind::Unavailable
    ) {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A request-level problem found before decoding (media type, coding, size).
fn refused_body(state: &OtlpLogsState, format: Format, err: body::BodyError) -> Response {
    state
        .metrics
        .record_rejected(Protocol::OtlpLogs, err.reason, 1);
    let kind = match err.status {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorKind::UnsupportedMediaType,
        _ => ErrorKind::BadData,
    };
    refused(
        format,
        &ExportError {
            kind,
            reason: err.reason,
            message: err.message,
        },
    )
}

/// The format named by `Content-Type` (parameters such as `charset` ignored).
fn request_format(headers: &HeaderMap) -> Result<Format, String> {
    let text = headers
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or("?"))
        .unwrap_or("");
    let media_type = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        PROTOBUF => Ok(Format::Protobuf),
        JSON => Ok(Format::Json),
        _ => Err(format!(
            "unsupported Content-Type {text:?}: OTLP/HTTP sends {PROTOBUF} or {JSON}"
        )),
    }
}

async fn write(State(state): State<OtlpLogsState>, headers: HeaderMap, body: Bytes) -> Response {
    let format = match request_format(&headers) {
        Ok(format) => format,
        Err(message) => {
            // The request's encoding is unknown: answer in OTLP's default, protobuf.
            let err = body::BodyError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                reason: "unsupported_media_type",
                message,
            };
            return refused_body(&state, Format::Protobuf, err);
        }
    };
    let encoding = match body::encoding(&headers) {
        Ok(encoding) => encoding,
        Err(err) => return refused_body(&state, format, err),
    };
    let task = move || process(&state, format, encoding, &body);
    match tokio::task::spawn_blocking(task).await {
        Ok(response) => response,
        Err(join_err) => refused(
            format,
            &ExportError {
                kind: ErrorKind::Internal,
                reason: "internal",
                message: format!("log export failed: {join_err}"),
            },
        ),
    }
}

fn process(
    state: &OtlpLogsState,
    format: Format,
    encoding: body::Encoding,
    body: &[u8],
) -> Response {
    let plain = match body::decode(body, encoding, state.config.max_decompressed_bytes) {
        Ok(plain) => plain,
        Err(err) => return refused_body(state, format, err),
    };
    let exported = export_logs(
        state.sink.as_ref(),
        &state.config.log,
        &state.metrics,
        format,
        &plain,
        body.len(),
    );
    match exported {
        Ok(outcome) => (
            StatusCode::OK,
            [(CONTENT_TYPE, content_type(format))],
            outcome.response,
        )
            .into_response(),
        Err(err) => refused(format, &err),
    }
}
