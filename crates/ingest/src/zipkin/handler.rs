//! `POST /api/v2/spans`: check the media type and coding, decode, write, and answer as
//! Zipkin does, in plain text:
//! - 202 (empty) when every span was written;
//! - 400 naming the refused spans by position (and id, when it could be read) when
//!   some were refused: the others **were written**. Zipkin has no partial success:
//!   its own server refuses the whole list at the first bad span, and reporters (Brave's
//!   `AsyncReporter`, py_zipkin's transports) log a 400 and drop the batch without
//!   retrying. Writing the good spans keeps one broken span from losing its neighbours
//!   (as every other protocol here does), and since nothing is resent after a 400, no
//!   span is stored twice;
//! - 400 naming the problem when the body is not a JSON array of spans;
//! - 413 for a body over `max_request_bytes` or with more than `max_spans_per_request`
//!   spans, 415 for a `Content-Type` (Zipkin's protobuf and thrift are not taken) or
//!   `Content-Encoding` not taken;
//! - 429 (with `Retry-After`) when the store is behind, 503 (with `Retry-After`) when it
//!   cannot write yet, 500 when it failed: nothing was written.
//!
//! Values truncated by a limit are counted in `sightline_ingest_limited_total`; a 202
//! has no room to say so.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::decode;
use crate::batch::{self, Noun};
use crate::body::{self, BodyError, Encoding};
use crate::metrics::{IngestMetrics, Protocol};
use crate::sink::SpanSink;
use crate::spans::TraceLimits;

const SPANS: Noun = Noun {
    plural: "spans",
    one: "span",
};

#[derive(Debug, Clone)]
struct ZipkinState {
    sink: Arc<dyn SpanSink>,
    limits: Arc<TraceLimits>,
    metrics: IngestMetrics,
}

/// The route, ready to merge into the main router.
pub fn router(sink: Arc<dyn SpanSink>, limits: TraceLimits, metrics: IngestMetrics) -> Router {
    Router::new()
        .route("/api/v2/spans", post(spans))
        .with_state(ZipkinState {
            sink,
            limits: Arc::new(limits),
            metrics,
        })
}

const TEXT: &str = "text/plain; charset=utf-8";

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut text = message.into();
    text.push('\n');
    (status, [(CONTENT_TYPE, TEXT)], text).into_response()
}

/// The coding from `Content-Encoding`, once `Content-Type` is JSON (or absent, which
/// Zipkin reads as JSON).
fn negotiate(headers: &HeaderMap) -> Result<Encoding, BodyError> {
    let (media_type, text) = body::media_type(headers);
    if !matches!(media_type.as_str(), "" | "application/json") {
        return Err(BodyError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            reason: "unsupported_media_type",
            message: format!(
                "unsupported Content-Type {text:?}: send Zipkin v2 JSON (application/json); \
                 Zipkin's protobuf and thrift encodings are not accepted"
            ),
        });
    }
    body::encoding(headers)
}

async fn spans(State(state): State<ZipkinState>, headers: HeaderMap, body: Bytes) -> Response {
    let encoding = match negotiate(&headers) {
        Ok(encoding) => encoding,
        Err(err) => {
            state
                .metrics
                .record_rejected(Protocol::Zipkin, err.reason, 1);
            return plain(err.status, err.message);
        }
    };
    // Decompression, decoding and the (synchronous, durable) write are CPU and I/O work.
    match tokio::task::spawn_blocking(move || process(&state, encoding, &body)).await {
        Ok(response) => response,
        Err(join_err) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the span write failed: {join_err}"),
        ),
    }
}

fn process(state: &ZipkinState, encoding: Encoding, body: &[u8]) -> Response {
    let metrics = &state.metrics;
    let plain_body = match body::decode(body, encoding, state.limits.max_request_bytes) {
        Ok(plain_body) => plain_body,
        Err(err) => {
            metrics.record_rejected(Protocol::Zipkin, err.reason, 1);
            return plain(err.status, err.message);
        }
    };
    let decoded = decode::decode(&plain_body, &state.limits).map(|decoded| {
        decoded.trimmed.record(metrics, Protocol::Zipkin);
        decoded.spans
    });
    match batch::write(
        state.sink.as_ref(),
        decoded,
        Protocol::Zipkin,
        metrics,
        body.len(),
    ) {
        Ok(written) if written.rejections.is_empty() => StatusCode::ACCEPTED.into_response(),
        Ok(written) => plain(
            StatusCode::BAD_REQUEST,
            format!(
                "{}\nthe other {} spans were written: do not send them again",
                written.summary(SPANS),
                written.accepted
            ),
        ),
        Err(err) => err.http_response(TEXT, format!("{}\n", err.message).into_bytes()),
    }
}
