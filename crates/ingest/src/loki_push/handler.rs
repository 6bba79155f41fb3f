//! `POST /loki/api/v1/push` and the legacy `POST /api/prom/push`: the format from
//! `Content-Type` (protobuf when there is none, as Loki assumes), the coding undone
//! within `logs.max_decompressed_size`, decode, normalize, write, and answer as Loki
//! does, in plain text:
//! - 204 when every entry was written;
//! - 400 when some entries or streams were refused, saying how many and why; the rest
//!   was written, and Promtail and Alloy do not retry a 400, which is right;
//! - 400 naming the problem when the body cannot be read (snappy, protobuf, JSON);
//! - 413 for a body too large, 415 for a `Content-Type` or `Content-Encoding` not taken;
//! - 429 with `Retry-After` when the store is behind, 503 when it cannot write, 500 when
//!   it failed: nothing was written, and a resend can succeed.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use model::{ErrorKind, UnixNanos};

use super::decode::{self, PushRequest};
use super::records::{self, Decoded};
use crate::body::{self, BodyError, Encoding};
use crate::json_logs::JsonLogsConfig;
use crate::metrics::{IngestMetrics, Protocol};
use crate::sink::{LogSink, LogWriteOutcome};

/// How many refusals a 400 lists.
const MAX_LISTED_REJECTS: usize = 10;

#[derive(Debug, Clone)]
struct LokiPushState {
    sink: Arc<dyn LogSink>,
    config: Arc<JsonLogsConfig>,
    metrics: IngestMetrics,
}

/// The routes, ready to merge into the main router. `config` bounds lines and bodies as
/// for JSON logs.
pub fn router(sink: Arc<dyn LogSink>, config: JsonLogsConfig, metrics: IngestMetrics) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(push))
        .route("/api/prom/push", post(push))
        .with_state(LokiPushState {
            sink,
            config: Arc::new(config),
            metrics,
        })
}

/// How the body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A snappy block of a protobuf `PushRequest`.
    Protobuf,
    Json,
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut text = message.into();
    text.push('\n');
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

fn unsupported(message: String) -> BodyError {
    BodyError {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        reason: "unsupported_media_type",
        message,
    }
}

/// The format from `Content-Type` and the coding from `Content-Encoding`.
pub fn negotiate(headers: &HeaderMap) -> Result<(Format, Encoding), BodyError> {
    let content_type = match headers.get(CONTENT_TYPE) {
        None => "",
        Some(value) => value
            .to_str()
            .map_err(|_| unsupported("Content-Type is not valid text".to_owned()))?,
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let format = match media_type.as_str() {
        "" | "application/x-protobuf" | "application/protobuf" => Format::Protobuf,
        "application/json" => Format::Json,
        _ => {
            return Err(unsupported(format!(
                "unsupported Content-Type {content_type:?}: Loki push takes application/x-protobuf (snappy-compressed) or application/json"
            )));
        }
    };
    let snappy = headers
        .get(CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|text| text.trim().eq_ignore_ascii_case("snappy"));
    // Some senders label the protobuf body's own snappy framing as its coding (Loki
    // allows it); a JSON body has no such framing.
    if snappy && format == Format::Protobuf {
        return Ok((format, Encoding::Identity));
    }
    Ok((format, body::encoding(headers)?))
}

async fn push(State(state): State<LokiPushState>, headers: HeaderMap, body: Bytes) -> Response {
    let (format, encoding) = match negotiate(&headers) {
        Ok(negotiated) => negotiated,
        Err(err) => {
            state
                .metrics
                .record_rejected(Protocol::LokiPush, err.reason, 1);
            return plain(err.status, err.message);
        }
    };
    // Decompression, decoding and the (synchronous, durable) write are CPU and I/O work.
    match tokio::task::spawn_blocking(move || process(&state, format, encoding, &body)).await {
        Ok(response) => response,
        Err(join_err) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("log push failed: {join_err}"),
        ),
    }
}

fn process(state: &LokiPushState, format: Format, encoding: Encoding, body: &[u8]) -> Response {
    let metrics = &state.metrics;
    let refuse = |err: BodyError| {
        metrics.record_rejected(Protocol::LokiPush, err.reason, 1);
        plain(err.status, err.message)
    };
    let max_bytes = state.config.max_decompressed_bytes;
    let plain_body = match body::decode(body, encoding, max_bytes) {
        Ok(plain_body) => plain_body,
        Err(err) => return refuse(err),
    };
    let snappy_decoded;
    let request: PushRequest<'_> = match format {
        Format::Protobuf => {
            snappy_decoded = match decode::decompress(&plain_body, max_bytes) {
                Ok(raw) => raw,
                Err(err) => return refuse(err),
            };
            match decode::decode_protobuf(&snappy_decoded) {
                Ok(request) => request,
                Err(err) => {
                    return refuse(BodyError {
                        status: StatusCode::BAD_REQUEST,
                        reason: "malformed_protobuf",
                        message: format!("the body is not a Loki PushRequest: {err}"),
                    });
                }
            }
        }
        Format::Json => match decode::decode_json(&plain_body) {
            Ok(request) => request,
            Err(err) => {
                return refuse(BodyError {
                    status: StatusCode::BAD_REQUEST,
                    reason: "invalid_json",
                    message: format!("the body is not a Loki push request in JSON: {err}"),
                });
            }
        },
    };
    let mut decoded = records::to_records(&request, &state.config.log, UnixNanos::now());
    let outcome = if decoded.records.is_empty() {
        LogWriteOutcome::default()
    } else {
        let count = decoded.records.len();
        match state.sink.write(std::mem::take(&mut decoded.records)) {
            Ok(outcome) => outcome,
            Err(err) => {
                metrics.record_rejected(Protocol::LokiPush, "store_unavailable", count as u64);
                let status = StatusCode::from_u16(err.kind.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut response = plain(status, format!("nothing was written: {err}"));
                if err.kind == ErrorKind::TooManyRequests {
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                }
                return response;
            }
        }
    };
    metrics.record_accepted(
        Protocol::LokiPush,
        outcome.accepted as u64,
        body.len() as u64,
    );
    answer(metrics, &decoded, &outcome)
}

/// One refusal, located for the sender.
struct Refusal<'a> {
    stream_idx: usize,
    entry_idx: Option<usize>,
    n_entries: usize,
    reason: &'static str,
    message: &'a str,
}

/// 204, or 400 listing the first refusals in request order.
fn answer(metrics: &IngestMetrics, decoded: &Decoded, outcome: &LogWriteOutcome) -> Response {
    let mut refusals: Vec<Refusal<'_>> = decoded
        .rejected
        .iter()
        .map(|rejected| Refusal {
            stream_idx: rejected.stream_idx,
            entry_idx: rejected.entry_idx,
            n_entries: rejected.n_entries,
            reason: rejected.error.reason,
            message: &rejected.error.message,
        })
        .collect();
    refusals.extend(outcome.rejected.iter().map(|rejection| {
        let (stream_idx, entry_idx) = decoded
            .origins
            .get(rejection.line_idx)
            .copied()
            .unwrap_or_default();
        Refusal {
            stream_idx,
            entry_idx: Some(entry_idx),
            n_entries: 1,
            reason: rejection.reason,
            message: &rejection.message,
        }
    }));
    if refusals.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    for refusal in &refusals {
        metrics.record_rejected(Protocol::LokiPush, refusal.reason, refusal.n_entries as u64);
    }
    refusals.sort_by_key(|refusal| (refusal.stream_idx, refusal.entry_idx));
    let n_rejected: usize = refusals.iter().map(|refusal| refusal.n_entries).sum();
    let mut text = format!(
        "{n_rejected} of {} entries were rejected; the other {} were written (do not send them again)",
        decoded.n_entries, outcome.accepted
    );
    for refusal in refusals.iter().take(MAX_LISTED_REJECTS) {
        let labels = decoded
            .streams
            .get(refusal.stream_idx)
            .map_or("", String::as_str);
        let stream_number = refusal.stream_idx + 1;
        let place = match refusal.entry_idx {
            Some(entry_idx) => format!("stream {stream_number} {labels}, entry {}", entry_idx + 1),
            None => format!(
                "stream {stream_number} {labels} ({} entries)",
                refusal.n_entries
            ),
        };
        text.push_str(&format!("\n{place}: {}", refusal.message));
    }
    if refusals.len() > MAX_LISTED_REJECTS {
        text.push_str(&format!(
            "\nand {} more",
            refusals.len() - MAX_LISTED_REJECTS
        ));
    }
    plain(StatusCode::BAD_REQUEST, text)
}
