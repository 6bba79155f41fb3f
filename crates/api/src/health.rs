//! `/-/healthy` and `/-/ready`, answered as Prometheus answers them.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use crate::ApiContext;
use crate::readiness::ReadyStatus;

/// The process is up and serving HTTP.
pub(crate) async fn healthy() -> &'static str {
    "Sightline is Healthy.\n"
}

/// 200 once every store has replayed its write-ahead log; 503 before that and while
/// shutting down, saying which.
pub(crate) async fn ready(State(context): State<Arc<ApiContext>>) -> (StatusCode, String) {
    match context.readiness.status() {
        ReadyStatus::Ready => (StatusCode::OK, "Sightline is Ready.\n".to_owned()),
        ReadyStatus::Starting(pending) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Sightline is not ready: still starting {}.\n",
                pending.join(", ")
            ),
        ),
        ReadyStatus::ShuttingDown => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sightline is not ready: shutting down.\n".to_owned(),
        ),
    }
}
