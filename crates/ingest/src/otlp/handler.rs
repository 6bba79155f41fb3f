//! OTLP/HTTP, for every signal (`POST /v1/logs`, `POST /v1/traces`): the media type
//! picks protobuf or JSON (415 for any other), `Content-Encoding` (gzip, zstd, deflate)
//! is undone within the signal's message bound (413 past it), and the answer is in the
//! request's encoding, as the OTLP specification says: 200 with an
//! `Export*ServiceResponse` (its `partial_success` counting rejected items, which must
//! not be resent); 400 with a `google.rpc.Status` for a body that cannot be decoded;
//! 413 for one over a request limit; 429 or 503 with `Retry-After` when the store is
//! behind or not ready (OTLP clients retry exactly 429, 502, 503 and 504); 500 when the
//! store failed (`model::ErrorKind`'s one mapping).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use model::ErrorKind;

use super::export::{Export, ExportError, Format, Served};
use crate::body;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// `POST path` for one signal, ready to merge into a router.
pub(crate) fn route<E: Export>(path: &str, served: Served<E>) -> Router {
    Router::new()
        .route(path, post(write::<E>))
        .with_state(Arc::new(served))
}

fn content_type(format: Format) -> &'static str {
    match format {
        Format::Protobuf => PROTOBUF,
        Format::Json => JSON,
    }
}

/// The `google.rpc.Status` answer to a failed request.
fn refused(format: Format, err: &ExportError) -> Response {
    err.http_response(content_type(format), err.status_body(format))
}

/// A request-level problem found before decoding (media type, coding, size).
fn refused_body<E: Export>(served: &Served<E>, format: Format, err: body::BodyError) -> Response {
    served.metrics.record_rejected(E::PROTOCOL, err.reason, 1);
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
    match body::media_type(headers) {
        (media_type, _) if media_type == PROTOBUF => Ok(Format::Protobuf),
        (media_type, _) if media_type == JSON => Ok(Format::Json),
        (_, text) => Err(format!(
            "unsupported Content-Type {text:?}: OTLP/HTTP sends {PROTOBUF} or {JSON}"
        )),
    }
}

async fn write<E: Export>(
    State(served): State<Arc<Served<E>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let format = match request_format(&headers) {
        Ok(format) => format,
        Err(message) => {
            // The request's encoding is unknown: answer in OTLP's default, protobuf.
            let err = body::BodyError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                reason: "unsupported_media_type",
                message,
            };
            return refused_body(&served, Format::Protobuf, err);
        }
    };
    let encoding = match body::encoding(&headers) {
        Ok(encoding) => encoding,
        Err(err) => return refused_body(&served, format, err),
    };
    let task = move || process(&served, format, encoding, &body);
    match tokio::task::spawn_blocking(task).await {
        Ok(response) => response,
        Err(join_err) => refused(
            format,
            &ExportError {
                kind: ErrorKind::Internal,
                reason: "internal",
                message: format!("the export failed: {join_err}"),
            },
        ),
    }
}

fn process<E: Export>(
    served: &Served<E>,
    format: Format,
    encoding: body::Encoding,
    body: &[u8],
) -> Response {
    let plain = match body::decode(body, encoding, served.max_message_bytes) {
        Ok(plain) => plain,
        Err(err) => return refused_body(served, format, err),
    };
    match served.run(format, &plain, body.len()) {
        Ok(outcome) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, content_type(format))],
            outcome.response,
        )
            .into_response(),
        Err(err) => refused(format, &err),
    }
}
