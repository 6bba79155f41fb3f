//! API errors, shaped as Prometheus's HTTP API shapes them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use model::ErrorKind;
use serde::Serialize;

/// An error answer: the kind decides the status, the message says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }
}

impl From<logstore::Error> for ApiError {
    fn from(err: logstore::Error) -> Self {
        ApiError::new(err.kind(), err.to_string())
    }
}

impl From<tracestore::Error> for ApiError {
    fn from(err: tracestore::Error) -> Self {
        ApiError::new(err.kind(), err.to_string())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorEnvelope<'a> {
    status: &'static str,
    error_type: &'static str,
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let envelope = ErrorEnvelope {
            status: "error",
            error_type: self.kind.prometheus_error_type(),
            error: &self.message,
        };
        (status, Json(envelope)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_prometheus_error_envelope() {
        let response =
            ApiError::new(ErrorKind::Timeout, "query timed out after 2m").into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        assert_eq!(
            std::str::from_utf8(&body).expect("utf-8"),
            r#"{"status":"error","errorType":"timeout","error":"query timed out after 2m"}"#
        );
    }
}
