//! Sightline's trace API through the router over a real trace store: exact JSON of a
//! trace, 404 and 400, every search filter, services, operations, 503 while the store
//! opens, and the log lines of a trace.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use logstore::{LogMetrics, LogStore, Options};
use model::{LogRecord, Severity, UnixNanos};
use serde_json::json;

use super::fixture::*;
use crate::test_support;

fn ns(nanos: i64) -> String {
    nanos.to_string()
}

/// Query parameters and the trace ids they should find, in order.
type Case<'a> = (Vec<(&'a str, String)>, Vec<&'a str>);

/// The ids of the traces a search finds, in order.
async fn found(f: &Fixture, params: &[(&str, &str)]) -> Vec<String> {
    let (status, body) = f.get("/api/v1/traces/search", params).await;
    assert_eq!(status, StatusCode::OK, "{params:?}: {body}");
    assert_eq!(body["status"], "success");
    body["data"]["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .map(|t| t["trace_id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_trace_comes_back_whole_in_the_documented_shape() {
    let f = Fixture::new();
    let t0 = f.t0;
    // A 64-bit id is widened; the answer carries the 32-digit form.
    let (status, body) = f.get("/api/v1/traces/A3CE929D0E0E4736", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "status": "success",
            "data": {
                "trace_id": HEALTH,
                "root_service": "frontend",
                "root_name": "GET /health",
                "has_root": true,
                "start_ns": ns(t0 + SECOND),
                "end_ns": ns(t0 + SECOND + 2 * MS),
                "duration_ns": "2000000",
                "span_count": 1,
                "error_count": 0,
                "services": ["frontend"],
                "spans": [{
                    "trace_id": HEALTH,
                    "span_id": HEALTH_ROOT,
                    "parent_span_id": null,
                    "service": "frontend",
                    "name": "GET /health",
                    "kind": "server",
                    "start_ns": ns(t0 + SECOND),
                    "end_ns": ns(t0 + SECOND + 2 * MS),
                    "duration_ns": "2000000",
                    "status": {"code": "ok"},
                    "trace_state": "",
                    "scope": {"name": "", "version": ""},
                    "attributes": {},
                    "resource": {"service.name": "frontend"},
                    "events": [],
                    "links": [],
                    "dropped_attributes_count": 0,
                    "dropped_events_count": 0,
                    "dropped_links_count": 0,
                }],
            },
        })
    );
}

#[tokio::test]
async fn a_trace_from_a_block_keeps_every_field() {
    let f = Fixture::new();
    let t0 = f.t0;
    let (status, body) = f.get(&format!("/api/v1/traces/{CHECKOUT}"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(data["root_name"], "GET /checkout");
    assert_eq!(data["start_ns"], ns(t0 + MS + 999));
    assert_eq!(data["duration_ns"], "120000000");
    assert_eq!(data["span_count"], 4);
    assert_eq!(data["error_count"], 1);
    assert_eq!(data["services"], json!(["frontend", "inventory"]));
    let spans = data["spans"].as_array().expect("spans");
    let order: Vec<&str> = spans
        .iter()
        .map(|s| s["span_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        order,
        [CHECKOUT_ROOT, CHECKOUT_CLIENT, CHECKOUT_SERVER, CHECKOUT_DB]
    );
    assert_eq!(
        spans[0]["scope"],
        json!({"name": "io.opentelemetry.http", "version": "1.2.0"})
    );
    assert_eq!(spans[0]["trace_state"], "vendor=1");
    assert_eq!(
        spans[0]["attributes"],
        json!({"http.method": "GET", "http.status_code": 200})
    );
    assert_eq!(
        spans[0]["events"],
        json!([{"time_ns": ns(t0 + 5 * MS + 1_500), "name": "cache miss", "attributes": {"cache.key": "cart:17"}}])
    );
    assert_eq!(spans[1]["kind"], "client");
    assert_eq!(
        spans[2],
        json!({
            "trace_id": CHECKOUT,
            "span_id": CHECKOUT_SERVER,
            "parent_span_id": CHECKOUT_CLIENT,
            "service": "inventory",
            "name": "GET /inventory",
            "kind": "server",
            "start_ns": ns(t0 + 12 * MS),
            "end_ns": ns(t0 + 58 * MS),
            "duration_ns": "46000000",
            "status": {"code": "error", "message": "out of stock"},
            "trace_state": "",
            "scope": {"name": "", "version": ""},
            "attributes": {"http.route": "/inventory", "retry": true, "load": 0.5, "ratio": "NaN"},
            "resource": {"service.name": "inventory", "host.name": "inv-1"},
            "events": [{"time_ns": ns(t0 + 40 * MS), "name": "exception", "attributes": {"exception.message": "no stock"}}],
            "links": [{"trace_id": HEALTH, "span_id": HEALTH_ROOT, "trace_state": "", "attributes": {}}],
            "dropped_attributes_count": 2,
            "dropped_events_count": 0,
            "dropped_links_count": 0,
        })
    );
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_errors_not_empty_answers() {
    let f = Fixture::new();
    let (status, body) = f
        .get("/api/v1/traces/0123456789abcdef0123456789abcdef", &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({
            "status": "error",
            "errorType": "not_found",
            "error": "trace 0123456789abcdef0123456789abcdef not found",
        })
    );
    for bad in [
        "xyz",
        "0af7651916cd43dd8448eb211c80319",
        "00000000000000000000000000000000",
    ] {
        let (status, body) = f.get(&format!("/api/v1/traces/{bad}"), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["errorType"], "bad_data");
        let message = body["error"].as_str().expect("message");
        assert!(
            message.contains(&format!("trace id \"{bad}\"")),
            "{message}"
        );
    }
}

#[tokio::test]
async fn search_filters_each_narrow_the_hits() {
    let f = Fixture::new();
    let t0 = f.t0;
    let cases: Vec<Case<'_>> = vec![
        // Most recent first, by the latest matching span.
        (vec![], vec![RETRY, HEALTH, CHECKOUT, PAY]),
        (vec![("service", "inventory".into())], vec![RETRY, CHECKOUT]),
        (vec![("name", "GET /health".into())], vec![HEALTH]),
        (vec![("status", "error".into())], vec![CHECKOUT]),
        (vec![("status", "OK".into())], vec![HEALTH]),
        (vec![("minDuration", "100ms".into())], vec![CHECKOUT, PAY]),
        (vec![("maxDuration", "5ms".into())], vec![HEALTH]),
        (
            vec![
                ("minDuration", "40ms".into()),
                ("maxDuration", "0.05s".into()),
            ],
            vec![CHECKOUT],
        ),
        (vec![("attr", "host.name=inv-2".into())], vec![CHECKOUT]),
        (
            vec![("attr", "http.status_code=200".into())],
            vec![CHECKOUT],
        ),
        (vec![("attr", "span.kind=client".into())], vec![CHECKOUT]),
        (
            // Both conditions must hold on one span.
            vec![
                ("attr", "host.name=inv-2".into()),
                ("attr", "http.route=/inventory".into()),
            ],
            vec![],
        ),
        (
            vec![
                ("service", "frontend".into()),
                ("name", "GET /checkout".into()),
            ],
            vec![RETRY, CHECKOUT],
        ),
        (vec![("start", ns(t0 + 1_500 * MS))], vec![RETRY]),
        (
            vec![
                ("start", ns(t0 - 31 * MINUTE)),
                ("end", ns(t0 - 29 * MINUTE)),
            ],
            vec![PAY],
        ),
        (vec![("end", ns(t0 - 40 * MINUTE))], vec![]),
        (vec![("limit", "2".into())], vec![RETRY, HEALTH]),
    ];
    for (params, expected) in cases {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(found(&f, &params).await, expected, "{params:?}");
    }
}

#[tokio::test]
async fn search_answers_summaries() {
    let f = Fixture::new();
    let (status, body) = f
        .get("/api/v1/traces/search", &[("service", "payments")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"traces": [{
            "trace_id": PAY,
            "root_service": "frontend",
            "root_name": "GET /pay",
            "has_root": true,
            "start_ns": ns(f.t0 - 30 * MINUTE),
            "end_ns": ns(f.t0 - 30 * MINUTE + 200 * MS),
            "duration_ns": "200000000",
            "span_count": 2,
            "error_count": 0,
            "services": ["frontend", "payments"],
        }]})
    );
}

#[tokio::test]
async fn bad_search_parameters_are_named() {
    let f = Fixture::new();
    let cases = [
        (
            "status",
            "broken",
            "invalid parameter \"status\": \"broken\" is not one of error, ok, unset",
        ),
        (
            "minDuration",
            "15",
            "invalid parameter \"minDuration\": cannot parse \"15\"",
        ),
        (
            "maxDuration",
            "1x",
            "invalid parameter \"maxDuration\": cannot parse \"1x\"",
        ),
        (
            "attr",
            "nokey",
            "invalid parameter \"attr\": \"nokey\" is not key=value",
        ),
        (
            "attr",
            "=v",
            "invalid parameter \"attr\": \"=v\" is not key=value",
        ),
        (
            "limit",
            "1001",
            "invalid parameter \"limit\": \"1001\" is not a whole number from 1 to 1000",
        ),
        (
            "start",
            "yesterday",
            "invalid parameter \"start\": cannot parse \"yesterday\"",
        ),
    ];
    for (name, value, message) in cases {
        let (status, body) = f.get("/api/v1/traces/search", &[(name, value)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}={value}: {body}");
        let error = body["error"].as_str().expect("error");
        assert!(error.starts_with(message), "{name}={value}: {error}");
    }
    let (status, body) = f
        .get(
            "/api/v1/traces/search",
            &[("minDuration", "2s"), ("maxDuration", "1s")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "invalid parameter \"maxDuration\": it is less than minDuration"
    );
}

#[tokio::test]
async fn services_and_their_span_names() {
    let f = Fixture::new();
    let (status, body) = f.get("/api/v1/traces/services", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "success", "data": ["frontend", "inventory", "payments"]})
    );
    let (_, body) = f
        .get("/api/v1/traces/services/frontend/operations", &[])
        .await;
    assert_eq!(
        body["data"],
        json!(["GET /checkout", "GET /health", "GET /inventory", "GET /pay"])
    );
    let (status, body) = f
        .get("/api/v1/traces/services/nobody/operations", &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], json!([]));
}

#[tokio::test]
async fn routes_answer_503_while_the_store_opens() {
    let context = test_support::context();
    let (status, body) = get_json(context, "/api/v1/traces/search", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["errorType"], "unavailable");
    assert_eq!(
        body["error"],
        "the trace store is still opening (replaying its write-ahead log); retry shortly"
    );
}

fn log_line(ts: i64, trace: Option<&str>, message: &str) -> LogRecord {
    LogRecord {
        timestamp: UnixNanos(ts),
        observed: UnixNanos(ts),
        severity: Severity::Info,
        service: Some("frontend".to_owned()),
        host: None,
        trace_id: trace.map(trace_id),
        span_id: None,
        correlation_id: None,
        message: message.to_owned(),
        fields: Vec::new(),
        raw: message.to_owned(),
        raw_holds_fields: false,
    }
}

#[tokio::test]
async fn the_logs_of_a_trace_are_the_log_apis_answer() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options {
        commit_interval: Duration::from_secs(3600),
        indexing_memory_per_thread: 15 << 20,
        indexing_threads: 1,
        ..Options::default()
    };
    let (logs, _) = LogStore::open(dir.path(), options, LogMetrics::new()).expect("open");
    logs.append(vec![
        log_line(f.t0 + 2 * MS, Some(HEALTH), "health ok"),
        log_line(f.t0 + 3 * MS, Some(CHECKOUT), "checkout started"),
        log_line(f.t0 + 4 * MS, None, "unrelated"),
    ])
    .expect("append");
    logs.flush().expect("flush");
    let logs = Arc::new(logs);
    let context = || {
        let context = f.context();
        context.logs.set(Arc::clone(&logs));
        context
    };
    // The 16-digit, upper-case form finds the lines the log store keeps under the
    // canonical id.
    let (status, body) = get_json(context(), "/api/v1/traces/A3CE929D0E0E4736/logs", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, direct) = get_json(context(), &format!("/api/v1/logs/trace/{HEALTH}"), &[]).await;
    assert_eq!(body, direct);
    assert_eq!(body["data"]["total"], 1);
    assert_eq!(body["data"]["lines"][0]["line"], "health ok");
    assert_eq!(body["data"]["lines"][0]["trace_id"], HEALTH);
    let (status, body) = get_json(context(), "/api/v1/traces/nothex/logs", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
