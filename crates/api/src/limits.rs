//! Request limits applied to every route: body size and wall time.
//!
//! Both limits answer with a message naming the limit, in the API's error envelope, so
//! a client sees why, not just a status code.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use model::ErrorKind;
use model::time::format_duration;

use crate::ApiError;

/// Limits every request is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted, in bytes, as sent (before any decompression).
    pub max_request_body_bytes: u64,
    /// Longest a request may take before it is answered with 503.
    pub request_timeout: Duration,
}

/// Rejects a body whose declared length is over the limit before reading any of it,
/// caps a body without a declared length as it streams (axum's extractors then answer
/// 413), and answers 503 when the handler runs past the timeout.
pub async fn limit_body_and_time(
    State(limits): State<Limits>,
    request: Request,
    next: Next,
) -> Response {
    let max_bytes = limits.max_request_body_bytes;
    let declared_len = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(declared_len) = declared_len.filter(|&len| len > max_bytes) {
        return ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("request body of {declared_len} bytes is over the limit of {max_bytes} bytes"),
        )
        .into_response();
    }
    let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    let request = request.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => ApiError::new(
            ErrorKind::Timeout,
            format!(
                "request took longer than the server's limit of {}",
                format_duration(limits.request_timeout)
            ),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Bytes;
    use axum::http::{Request as HttpRequest, StatusCode};
    use axum::routing::post;
    use tower::ServiceExt;

    fn app(limits: Limits) -> Router {
        Router::new()
            .route(
                "/echo",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .route(
                "/slow",
                // A handler that never finishes on its own.
                post(std::future::pending::<&'static str>),
            )
            .layer(axum::middleware::from_fn_with_state(
                limits,
                limit_body_and_time,
            ))
    }

    const LIMITS: Limits = Limits {
        max_request_body_bytes: 10,
        request_timeout: Duration::from_millis(50),
    };

    async fn send(request: HttpRequest<Body>) -> (StatusCode, String) {
        let response = app(LIMITS).oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn body_within_limit_passes() {
        let request = HttpRequest::post("/echo")
            .body(Body::from("0123456789"))
            .expect("request");
        assert_eq!(send(request).await, (StatusCode::OK, "10".to_owned()));
    }

    #[tokio::test]
    async fn declared_length_over_limit_is_rejected_with_a_named_limit() {
        let request = HttpRequest::post("/echo")
            .header(CONTENT_LENGTH, "11")
            .body(Body::from("0123456789a"))
            .expect("request");
        let (status, body) = send(request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            body.contains("request body of 11 bytes is over the limit of 10 bytes"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn undeclared_body_over_limit_is_rejected_while_read() {
        // No Content-Length header, as with a chunked upload: the cap applies as it streams.
        let request = HttpRequest::post("/echo")
            .body(Body::from("0123456789ab"))
            .expect("request");
        assert!(request.headers().get(CONTENT_LENGTH).is_none());
        let (status, _body) = send(request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn slow_handler_times_out_with_503() {
        let request = HttpRequest::post("/slow")
            .body(Body::empty())
            .expect("request");
        let (status, body) = send(request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains(r#""errorType":"timeout""#), "{body}");
        assert!(body.contains("limit of 50ms"), "{body}");
    }
}
