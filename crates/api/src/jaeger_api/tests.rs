//! Jaeger's query API through the router over a real trace store, in the exact JSON
//! Grafana's Jaeger data source and the Jaeger UI read: microsecond integers,
//! references, processes, tags; Jaeger's envelope and error shape; search as both
//! clients send it; operations with kinds; dependencies in and out of a window.

use axum::http::StatusCode;
use serde_json::json;

use crate::test_support;
use crate::traces_api::fixture::*;

fn tag(key: &str, value_type: &str, value: impl Into<serde_json::Value>) -> serde_json::Value {
    let value: serde_json::Value = value.into();
    json!({"key": key, "type": value_type, "value": value})
}

/// Query parameters and the trace ids they should find, in order.
type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>);

fn text_tag(key: &str, value: &str) -> serde_json::Value {
    tag(key, "string", json!(value))
}

/// The ids of the traces `/api/traces` answers, after checking the envelope.
async fn found(f: &Fixture, params: &[(&str, &str)]) -> Vec<String> {
    let (status, body) = f.get("/api/traces", params).await;
    assert_eq!(status, StatusCode::OK, "{params:?}: {body}");
    assert_eq!(
        (
            &body["total"],
            &body["limit"],
            &body["offset"],
            &body["errors"]
        ),
        (&json!(0), &json!(0), &json!(0), &json!(null)),
        "{body}"
    );
    body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| t["traceID"].as_str().expect("traceID").to_owned())
        .collect()
}

#[tokio::test]
async fn a_trace_is_in_jaegers_ui_shape() {
    let f = Fixture::new();
    let us = f.t0 / 1_000;
    let (status, body) = f.get(&format!("/api/traces/{CHECKOUT}"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected = json!({
        "data": [{
            "traceID": CHECKOUT,
            "spans": [
                {
                    "traceID": CHECKOUT,
                    "spanID": CHECKOUT_ROOT,
                    "flags": 1,
                    "operationName": "GET /checkout",
                    "references": [],
                    // 1 ms + 999 ns: microseconds, truncated.
                    "startTime": us + 1_000,
                    "duration": 120_000,
                    "tags": [
                        text_tag("http.method", "GET"),
                        tag("http.status_code", "int64", json!(200)),
                        text_tag("span.kind", "server"),
                        text_tag("w3c.tracestate", "vendor=1"),
                        text_tag("otel.scope.name", "io.opentelemetry.http"),
                        text_tag("otel.scope.version", "1.2.0"),
                    ],
                    "logs": [{
                        "timestamp": us + 5_001,
                        "fields": [text_tag("event", "cache miss"), text_tag("cache.key", "cart:17")],
                    }],
                    "processID": "p1",
                    "warnings": null,
                },
                {
                    "traceID": CHECKOUT,
                    "spanID": CHECKOUT_CLIENT,
                    "flags": 1,
                    "operationName": "GET /inventory",
                    "references": [{"refType": "CHILD_OF", "traceID": CHECKOUT, "spanID": CHECKOUT_ROOT}],
                    "startTime": us + 10_000,
                    "duration": 50_000,
                    "tags": [text_tag("span.kind", "client")],
                    "logs": [],
                    "processID": "p1",
                    "warnings": null,
                },
                {
                    "traceID": CHECKOUT,
                    "spanID": CHECKOUT_SERVER,
                    "flags": 1,
                    "operationName": "GET /inventory",
                    "references": [
                        {"refType": "CHILD_OF", "traceID": CHECKOUT, "spanID": CHECKOUT_CLIENT},
                        {"refType": "FOLLOWS_FROM", "traceID": HEALTH, "spanID": HEALTH_ROOT},
                    ],
                    "startTime": us + 12_000,
                    "duration": 46_000,
                    "tags": [
                        text_tag("http.route", "/inventory"),
                        tag("retry", "bool", json!(true)),
                        tag("load", "float64", json!(0.5)),
                        text_tag("ratio", "NaN"),
                        text_tag("span.kind", "server"),
                        text_tag("otel.status_code", "ERROR"),
                        tag("error", "bool", json!(true)),
                        text_tag("otel.status_description", "out of stock"),
                        tag("otel.dropped_attributes_count", "int64", json!(2)),
                    ],
                    "logs": [{
                        "timestamp": us + 40_000,
                        "fields": [text_tag("event", "exception"), text_tag("exception.message", "no stock")],
                    }],
                    "processID": "p2",
                    "warnings": null,
                },
                {
                    "traceID": CHECKOUT,
                    "spanID": CHECKOUT_DB,
                    "flags": 1,
                    "operationName": "select stock",
                    "references": [{"refType": "CHILD_OF", "traceID": CHECKOUT, "spanID": CHECKOUT_SERVER}],
                    "startTime": us + 20_000,
                    "duration": 30_000,
                    "tags": [text_tag("span.kind", "client")],
                    "logs": [],
                    "processID": "p3",
                    "warnings": null,
                },
            ],
            "processes": {
                "p1": {"serviceName": "frontend", "tags": [text_tag("host.name", "fe-1")]},
                "p2": {"serviceName": "inventory", "tags": [text_tag("host.name", "inv-1")]},
                "p3": {"serviceName": "inventory", "tags": [text_tag("host.name", "inv-2")]},
            },
            "warnings": null,
        }],
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": null,
    });
    assert_eq!(body, expected);
}

#[tokio::test]
async fn a_64_bit_id_finds_its_trace_and_status_ok_is_tagged() {
    let f = Fixture::new();
    // Grafana may add the panel's range in microseconds; it is checked, not needed.
    let (status, body) = f
        .get(
            "/api/traces/a3ce929d0e0e4736",
            &[("start", "1"), ("end", "4102444800000000")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let trace = &body["data"][0];
    assert_eq!(trace["traceID"], HEALTH);
    assert_eq!(
        trace["spans"][0]["tags"],
        json!([
            text_tag("span.kind", "server"),
            text_tag("otel.status_code", "OK")
        ])
    );
    assert_eq!(
        trace["processes"],
        json!({"p1": {"serviceName": "frontend", "tags": []}})
    );
}

#[tokio::test]
async fn unknown_and_bad_ids_answer_jaegers_error_shape() {
    let f = Fixture::new();
    let (status, body) = f
        .get("/api/traces/0123456789abcdef0123456789abcdef", &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"data": null, "total": 0, "limit": 0, "offset": 0,
               "errors": [{"code": 404, "msg": "trace not found"}]})
    );
    let (status, body) = f.get("/api/traces/not-an-id", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["data"], json!(null));
    assert_eq!(body["errors"][0]["code"], 400);
    let msg = body["errors"][0]["msg"].as_str().expect("msg");
    assert!(
        msg.starts_with("trace id \"not-an-id\" is not valid"),
        "{msg}"
    );
    let (status, body) = f
        .get(&format!("/api/traces/{CHECKOUT}"), &[("start", "soon")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errors"][0]["msg"],
        "invalid parameter \"start\": cannot parse \"soon\" as Unix microseconds"
    );
}

#[tokio::test]
async fn services_and_operations_as_the_pickers_read_them() {
    let f = Fixture::new();
    let (status, body) = f.get("/api/services", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"data": ["frontend", "inventory", "payments"], "total": 3, "limit": 0,
               "offset": 0, "errors": null})
    );
    let (_, body) = f.get("/api/services/inventory/operations", &[]).await;
    assert_eq!(
        body,
        json!({"data": ["GET /inventory", "select stock"], "total": 2, "limit": 0,
               "offset": 0, "errors": null})
    );
    let (_, body) = f.get("/api/services/nobody/operations", &[]).await;
    assert_eq!((&body["data"], &body["total"]), (&json!([]), &json!(0)));

    let (_, body) = f.get("/api/operations", &[("service", "inventory")]).await;
    assert_eq!(
        body["data"],
        json!([{"name": "GET /inventory", "spanKind": "server"},
               {"name": "select stock", "spanKind": "client"}])
    );
    assert_eq!(body["total"], 2);
    let (_, body) = f
        .get(
            "/api/operations",
            &[("service", "frontend"), ("spanKind", "server")],
        )
        .await;
    assert_eq!(
        body["data"],
        json!([{"name": "GET /checkout", "spanKind": "server"},
               {"name": "GET /health", "spanKind": "server"},
               {"name": "GET /pay", "spanKind": "server"}])
    );
    let (_, body) = f.get("/api/operations", &[("service", "payments")]).await;
    assert_eq!(body["data"], json!([{"name": "charge", "spanKind": ""}]));
    let (status, body) = f.get("/api/operations", &[("spanKind", "server")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errors"][0]["msg"],
        "parameter \"service\" is required"
    );
    let (status, body) = f
        .get(
            "/api/operations",
            &[("service", "frontend"), ("spanKind", "sever")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errors"][0]["msg"]
            .as_str()
            .expect("msg")
            .starts_with("invalid parameter \"spanKind\": \"sever\""),
        "{body}"
    );
}

#[tokio::test]
async fn search_reads_the_jaeger_ui_and_grafana_requests() {
    let f = Fixture::new();
    let us = |nanos: i64| (nanos / 1_000).to_string();
    // The Jaeger UI: JSON tags, a lookback beside the window, empty durations.
    let window_start = us(f.t0 - 15 * MINUTE);
    let window_end = us(f.t0 + 5 * SECOND);
    let ui = [
        ("service", "inventory"),
        ("tags", r#"{"error":"true"}"#),
        ("lookback", "1h"),
        ("start", window_start.as_str()),
        ("end", window_end.as_str()),
        ("limit", "20"),
        ("minDuration", ""),
        ("maxDuration", ""),
    ];
    assert_eq!(found(&f, &ui).await, [CHECKOUT]);
    // Grafana: logfmt converted to JSON, `lookback=custom`, Go durations.
    let grafana = [
        ("service", "frontend"),
        ("operation", "GET /checkout"),
        ("tags", r#"{"http.status_code":"200"}"#),
        ("minDuration", "1.2ms"),
        ("limit", "20"),
        ("start", window_start.as_str()),
        ("end", window_end.as_str()),
        ("lookback", "custom"),
    ];
    assert_eq!(found(&f, &grafana).await, [CHECKOUT]);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("service", "inventory"), ("lookback", "1h")],
            vec![RETRY, CHECKOUT],
        ),
        (
            vec![("service", "frontend"), ("lookback", "1h")],
            vec![RETRY, HEALTH, CHECKOUT, PAY],
        ),
        (
            vec![("service", "frontend"), ("lookback", "20m")],
            vec![RETRY, HEALTH, CHECKOUT],
        ),
        (
            vec![("service", "frontend")],
            vec![RETRY, HEALTH, CHECKOUT, PAY],
        ),
        (vec![("service", "frontend"), ("limit", "1")], vec![RETRY]),
        (vec![("tags", "host.name=inv-2")], vec![CHECKOUT]),
        (vec![("tags", "error")], vec![CHECKOUT]),
        (vec![("tag", "span.kind:client")], vec![CHECKOUT]),
        (vec![("tags", r#"{"otel.status_code":"OK"}"#)], vec![HEALTH]),
        (
            vec![("operation", "charge"), ("maxDuration", "150ms")],
            vec![PAY],
        ),
        (
            vec![("operation", "charge"), ("maxDuration", "149.999ms")],
            vec![],
        ),
        (vec![("service", "nobody")], vec![]),
    ];
    for (params, expected) in cases {
        assert_eq!(found(&f, &params).await, expected, "{params:?}");
    }
    let (_, body) = f.get("/api/traces", &[("service", "payments")]).await;
    let pay = &body["data"][0];
    assert_eq!(
        pay["spans"].as_array().map(Vec::len),
        Some(2),
        "whole traces"
    );
    assert_eq!(pay["processes"]["p2"]["serviceName"], "payments");
}

#[tokio::test]
async fn search_by_trace_ids_reports_the_unknown_ones() {
    let f = Fixture::new();
    let unknown = "0123456789abcdef0123456789abcdef";
    let (status, body) = f
        .get(
            "/api/traces",
            &[
                ("traceID", HEALTH),
                ("traceID", unknown),
                ("traceID", "5B8EFFF798038103D269B633813FC60C"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| t["traceID"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [HEALTH, RETRY]);
    assert_eq!(
        body["errors"],
        json!([{"msg": "trace not found", "traceID": unknown}])
    );
}

#[tokio::test]
async fn bad_search_parameters_answer_400_naming_them() {
    let f = Fixture::new();
    let cases = [
        (
            ("minDuration", "15"),
            "invalid parameter \"minDuration\": cannot parse \"15\"",
        ),
        (
            ("start", "1.5"),
            "invalid parameter \"start\": cannot parse \"1.5\" as Unix microseconds",
        ),
        (("lookback", "forever"), "invalid parameter \"lookback\""),
        (("limit", "-1"), "invalid parameter \"limit\""),
        (("tags", "{\"a\":"), "invalid parameter \"tags\""),
        (("tag", "a"), "invalid parameter \"tag\""),
    ];
    for ((name, value), message) in cases {
        let (status, body) = f
            .get("/api/traces", &[("service", "frontend"), (name, value)])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}={value}: {body}");
        assert_eq!(body["data"], json!(null));
        assert_eq!(body["total"], 0);
        assert_eq!(body["errors"][0]["code"], 400);
        let msg = body["errors"][0]["msg"].as_str().expect("msg");
        assert!(msg.starts_with(message), "{name}={value}: {msg}");
    }
}

#[tokio::test]
async fn dependencies_count_calls_across_services_in_the_window() {
    let f = Fixture::new();
    let (status, body) = f.get("/api/dependencies", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "data": [
                {"parent": "frontend", "child": "inventory", "callCount": 2},
                {"parent": "frontend", "child": "payments", "callCount": 1},
            ],
            "total": 0, "limit": 0, "offset": 0, "errors": null,
        })
    );
    // As the Jaeger UI and Grafana ask: an end and a lookback in milliseconds. This
    // window holds CHECKOUT and HEALTH, not RETRY (2 s) or PAY (30 minutes before).
    let end_ms = ((f.t0 + 1_500 * MS) / MS).to_string();
    let lookback_ms = (20 * MINUTE / MS).to_string();
    let (_, body) = f
        .get(
            "/api/dependencies",
            &[("endTs", &end_ms), ("lookback", &lookback_ms)],
        )
        .await;
    assert_eq!(
        body["data"],
        json!([{"parent": "frontend", "child": "inventory", "callCount": 1}])
    );
    let (_, body) = f.get("/api/dependencies", &[("service", "payments")]).await;
    assert_eq!(
        body["data"],
        json!([{"parent": "frontend", "child": "payments", "callCount": 1}])
    );
    let (_, body) = f
        .get(
            "/api/dependencies",
            &[("endTs", &((f.t0 - 50 * MINUTE) / MS).to_string())],
        )
        .await;
    assert_eq!(body["data"], json!([]));
    for (name, value) in [("endTs", "now"), ("lookback", "1h"), ("lookback", "-5")] {
        let (status, body) = f.get("/api/dependencies", &[(name, value)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}={value}");
        let msg = body["errors"][0]["msg"].as_str().expect("msg");
        assert!(
            msg.starts_with(&format!("invalid parameter \"{name}\"")),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn routes_answer_503_in_jaegers_shape_while_the_store_opens() {
    let (status, body) = get_json(test_support::context(), "/api/services", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"data": null, "total": 0, "limit": 0, "offset": 0, "errors": [{
            "code": 503,
            "msg": "the trace store is still opening (replaying its write-ahead log); retry shortly",
        }]})
    );
}
