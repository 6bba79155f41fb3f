//! Router-level tests: each route through the full layer stack.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use crate::test_support;

async fn get(context: crate::ApiContext, path: &str) -> (StatusCode, String) {
    let request = Request::get(path).body(Body::empty()).expect("request");
    let response = crate::router(context)
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn ready_reports_pending_components_then_ready_then_shutdown() {
    let context = test_support::context();
    let readiness = context.readiness.clone();
    readiness.register("tsdb");
    let router = crate::router(context);
    let ask = || async {
        let request = Request::get("/-/ready")
            .body(Body::empty())
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    assert_eq!(
        ask().await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sightline is not ready: still starting tsdb.\n".to_owned()
        )
    );
    readiness.mark_ready("tsdb");
    assert_eq!(
        ask().await,
        (StatusCode::OK, "Sightline is Ready.\n".to_owned())
    );
    readiness.begin_shutdown();
    assert_eq!(ask().await.0, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn healthy_answers_plain_text() {
    assert_eq!(
        get(test_support::context(), "/-/healthy").await,
        (StatusCode::OK, "Sightline is Healthy.\n".to_owned())
    );
}

#[tokio::test]
async fn buildinfo_has_prometheus_shape() {
    let (status, body) = get(test_support::context(), "/api/v1/status/buildinfo").await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["status"], "success");
    let data = json["data"].as_object().expect("data object");
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "branch",
            "buildDate",
            "buildUser",
            "goVersion",
            "revision",
            "version"
        ]
    );
    assert_eq!(data["version"], "9.9.9");
}

#[tokio::test]
async fn metrics_expose_request_histograms_and_store_sizes() {
    let context = test_support::context();
    crate::status::StoreSizeCollector::register(&context.registry, context.store_stats.clone())
        .expect("register store sizes");
    let router = crate::router(context);
    let healthy = Request::get("/-/healthy")
        .body(Body::empty())
        .expect("request");
    router.clone().oneshot(healthy).await.expect("infallible");
    let request = Request::get("/metrics")
        .body(Body::empty())
        .expect("request");
    let response = router.oneshot(request).await.expect("infallible");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(
            r#"sightline_http_request_duration_seconds_count{code="200",method="GET",route="/-/healthy"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"sightline_store_size_bytes{store="tsdb"} 42"#),
        "{text}"
    );
    assert!(
        text.contains(r#"sightline_ingest_items_total{protocol="statsd"} 0"#),
        "{text}"
    );
}

#[tokio::test]
async fn overview_reports_counters_and_stores() {
    let context = test_support::context();
    context
        .ingest_metrics
        .record_accepted(ingest::Protocol::RemoteWrite, 5, 100);
    let (status, body) = get(context, "/api/v1/status/sightline").await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    let data = &json["data"];
    assert_eq!(data["version"], "9.9.9");
    assert_eq!(data["ready"], true);
    assert!(data["uptimeSeconds"].as_f64().expect("uptime") >= 0.0);
    assert_eq!(data["ingest"][0]["protocol"], "remote_write");
    assert_eq!(data["ingest"][0]["items"], 5);
    assert_eq!(data["stores"][0]["name"], "tsdb");
    assert_eq!(data["stores"][0]["sizeBytes"], 42);
}
