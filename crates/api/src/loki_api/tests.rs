//! The Loki API through the router over a real log store: Loki's exact JSON shapes,
//! direction and limit across streams, line filters, metric numbers, labels, series,
//! and errors as plain text.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use logstore::{LogMetrics, LogStore, Options};
use model::{LogRecord, Severity, UnixNanos, Value};
use serde_json::json;
use tower::ServiceExt;

use crate::test_support;

const SECOND: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * SECOND;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<LogStore>,
    /// A whole hour two hours ago; lines are at `t0 + 1s ...`.
    t0: i64,
}

fn record(ts: i64, service: &str, level: Severity, host: &str, env: &str, raw: &str) -> LogRecord {
    LogRecord {
        timestamp: UnixNanos(ts),
        observed: UnixNanos(ts),
        severity: level,
        service: Some(service.to_owned()),
        host: Some(host.to_owned()),
        trace_id: None,
        span_id: None,
        correlation_id: None,
        message: raw.to_owned(),
        fields: vec![("env".to_owned(), Value::Str(env.to_owned()))],
        raw: raw.to_owned(),
        raw_holds_fields: false,
    }
}

fn fixture() -> Fixture {
    fixture_with(|t0| {
        let s = |n: i64| t0 + n * SECOND;
        vec![
            record(
                s(1),
                "checkout",
                Severity::Info,
                "c-0",
                "prod",
                "order 17 received",
            ),
            record(
                s(2),
                "payments",
                Severity::Error,
                "p-0",
                "prod",
                "card declined",
            ),
            record(
                s(3),
                "checkout",
                Severity::Info,
                "c-0",
                "prod",
                "order 18 received",
            ),
            record(
                s(4),
                "checkout",
                Severity::Warn,
                "c-1",
                "dev",
                "order 19 slow",
            ),
            record(
                s(5),
                "payments",
                Severity::Error,
                "p-0",
                "prod",
                "card declined again",
            ),
            record(
                s(65),
                "checkout",
                Severity::Info,
                "c-0",
                "prod",
                "order 20 received",
            ),
        ]
    })
}

const LABEL_FIELDS: [&str; 2] = ["env", "k8s.namespace.name"];

fn fixture_with(lines: impl FnOnce(i64) -> Vec<LogRecord>) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options {
        commit_interval: Duration::from_secs(3600),
        indexing_memory_per_thread: 15 << 20,
        indexing_threads: 1,
        // As the server does: the label fields get terms.
        indexed_fields: logstore::field_policy::FieldPolicy::new(&LABEL_FIELDS),
        ..Options::default()
    };
    let (store, _) = LogStore::open(dir.path(), options, LogMetrics::new()).expect("open");
    let t0 = (UnixNanos::now().0 - 2 * HOUR).div_euclid(HOUR) * HOUR;
    store.append(lines(t0)).expect("append");
    store.flush().expect("flush");
    Fixture {
        _dir: dir,
        store: Arc::new(store),
        t0,
    }
}

impl Fixture {
    fn context(&self) -> crate::ApiContext {
        let mut context = test_support::context();
        context.logs.set(Arc::clone(&self.store));
        context.log_label_fields = LABEL_FIELDS.map(str::to_owned).to_vec();
        context
    }

    /// `t0 + seconds` in nanoseconds, as a query parameter.
    fn at(&self, seconds: i64) -> String {
        (self.t0 + seconds * SECOND).to_string()
    }

    /// `t0 + seconds` as Loki writes a sample's time.
    fn secs(&self, seconds: i64) -> serde_json::Value {
        json!(self.t0 / SECOND + seconds)
    }

    async fn get(&self, path: &str, params: &[(&str, &str)]) -> (StatusCode, String, String) {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let request = Request::get(format!("{path}?{query}"))
            .body(Body::empty())
            .expect("request");
        send(self.context(), request).await
    }

    async fn json(&self, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let (status, body, content_type) = self.get(path, params).await;
        assert_eq!(status, StatusCode::OK, "{path} {params:?}: {body}");
        assert_eq!(content_type, "application/json");
        serde_json::from_str(&body).expect("json")
    }

    /// `data.result` of a query, after checking the envelope and the result type.
    async fn result(
        &self,
        path: &str,
        params: &[(&str, &str)],
        result_type: &str,
    ) -> serde_json::Value {
        let mut body = self.json(path, params).await;
        assert_eq!(body["status"], "success");
        assert_eq!(body["data"]["resultType"], result_type, "{body}");
        assert!(body["data"]["stats"]["summary"]["execTime"].is_number());
        body["data"]["result"].take()
    }
}

async fn send(context: crate::ApiContext, request: Request<Body>) -> (StatusCode, String, String) {
    let response = crate::router(context)
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        content_type,
    )
}

#[tokio::test]
async fn log_queries_answer_streams_with_the_limit_across_streams() {
    let f = fixture();
    let (start, end) = (f.at(0), f.at(3600));
    let query = r#"{service=~"checkout|payments"}"#;
    let newest = f
        .result(
            "/loki/api/v1/query_range",
            &[
                ("query", query),
                ("start", &start),
                ("end", &end),
                ("limit", "3"),
            ],
            "streams",
        )
        .await;
    assert_eq!(
        newest,
        json!([
            {
                "stream": {"env": "dev", "host": "c-1", "level": "warn", "service": "checkout"},
                "values": [[f.at(4), "order 19 slow"]]
            },
            {
                "stream": {"env": "prod", "host": "c-0", "level": "info", "service": "checkout"},
                "values": [[f.at(65), "order 20 received"]]
            },
            {
                "stream": {"env": "prod", "host": "p-0", "level": "error", "service": "payments"},
                "values": [[f.at(5), "card declined again"]]
            }
        ])
    );
    let oldest = f
        .result(
            "/loki/api/v1/query_range",
            &[
                ("query", query),
                ("start", &start),
                ("end", &end),
                ("limit", "3"),
                ("direction", "FORWARD"),
            ],
            "streams",
        )
        .await;
    assert_eq!(
        oldest,
        json!([
            {
                "stream": {"env": "prod", "host": "c-0", "level": "info", "service": "checkout"},
                "values": [[f.at(1), "order 17 received"], [f.at(3), "order 18 received"]]
            },
            {
                "stream": {"env": "prod", "host": "p-0", "level": "error", "service": "payments"},
                "values": [[f.at(2), "card declined"]]
            }
        ])
    );
    // Within a stream, backward means newest first; the end is exclusive.
    let checkout = f
        .result(
            "/loki/api/v1/query_range",
            &[
                ("query", r#"{service="checkout", host="c-0"}"#),
                ("start", &f.at(1)),
                ("end", &f.at(65)),
            ],
            "streams",
        )
        .await;
    assert_eq!(
        checkout[0]["values"],
        json!([
            [f.at(3), "order 18 received"],
            [f.at(1), "order 17 received"]
        ])
    );
}

#[tokio::test]
async fn line_filters_and_matchers_select_lines() {
    let f = fixture();
    let (start, end) = (f.at(0), f.at(3600));
    let lines = |result: serde_json::Value| -> Vec<String> {
        let mut lines: Vec<String> = result
            .as_array()
            .expect("streams")
            .iter()
            .flat_map(|stream| stream["values"].as_array().expect("values").clone())
            .map(|entry| entry[1].as_str().expect("line").to_owned())
            .collect();
        lines.sort();
        lines
    };
    let cases: &[(&str, &[&str])] = &[
        (
            r#"{service="checkout"} |= "order" != "19" |~ "1[78]""#,
            &["order 17 received", "order 18 received"],
        ),
        (r#"{service="payments"} !~ `again$`"#, &["card declined"]),
        (r#"{env="dev"}"#, &["order 19 slow"]),
        (
            r#"{env=~"prod", level!="info"} | drop __error__"#,
            &["card declined", "card declined again"],
        ),
        (r#"{service="checkout"} |= "Order""#, &[]),
        (r#"{service="checkout", team="web"}"#, &[]),
        (
            r#"{host=~"c-.", team!="web"} |~ "(?i)ORDER 1[89]""#,
            &["order 18 received", "order 19 slow"],
        ),
    ];
    for (query, expected) in cases {
        let result = f
            .result(
                "/loki/api/v1/query_range",
                &[("query", query), ("start", &start), ("end", &end)],
                "streams",
            )
            .await;
        assert_eq!(lines(result), *expected, "{query}");
    }
}

#[tokio::test]
async fn log_volume_counts_lines_per_level_in_each_window() {
    let f = fixture();
    // Grafana's log-volume query, with $__auto replaced as Grafana does.
    let matrix = f
        .result(
            "/loki/api/v1/query_range",
            &[
                (
                    "query",
                    r#"sum by (level, detected_level) (count_over_time({service=~".+"} | drop __error__[1m]))"#,
                ),
                ("start", &f.at(60)),
                ("end", &f.at(120)),
                ("step", "60000ms"),
                ("limit", "1000"),
                ("direction", "backward"),
            ],
            "matrix",
        )
        .await;
    assert_eq!(
        matrix,
        json!([
            {"metric": {"level": "error"}, "values": [[f.secs(60), "2"]]},
            {"metric": {"level": "info"}, "values": [[f.secs(60), "2"], [f.secs(120), "1"]]},
            {"metric": {"level": "warn"}, "values": [[f.secs(60), "1"]]}
        ])
    );
    // Windows are (t - range, t]: a line at exactly t - range does not count.
    let edge = f
        .result(
            "/loki/api/v1/query_range",
            &[
                ("query", r#"sum(count_over_time({service="checkout"}[2s]))"#),
                ("start", &f.at(1)),
                ("end", &f.at(5)),
                ("step", "1"),
            ],
            "matrix",
        )
        .await;
    assert_eq!(
        edge,
        json!([{
            "metric": {},
            "values": [
                [f.secs(1), "1"], [f.secs(2), "1"], [f.secs(3), "1"], [f.secs(4), "2"], [f.secs(5), "1"]
            ]
        }])
    );
}

#[tokio::test]
async fn metric_functions_and_aggregations() {
    let f = fixture();
    let time = f.at(60);
    let at = |query: &'static str| {
        let params = [("query", query), ("time", time.as_str())];
        let f = &f;
        async move { f.result("/loki/api/v1/query", &params, "vector").await }
    };
    assert_eq!(
        at(r#"rate({service="payments"}[1m])"#).await,
        json!([{
            "metric": {"env": "prod", "host": "p-0", "level": "error", "service": "payments"},
            "value": [f.secs(60), "0.03333333333333333"]
        }])
    );
    assert_eq!(
        at(r#"sum(bytes_over_time({service="payments"}[1m]))"#).await,
        json!([{"metric": {}, "value": [f.secs(60), "32"]}])
    );
    assert_eq!(
        at(r#"sum by (service) (bytes_rate({service=~".+"}[1m])) * 60"#).await,
        json!([
            {"metric": {"service": "checkout"}, "value": [f.secs(60), "47"]},
            {"metric": {"service": "payments"}, "value": [f.secs(60), "32"]}
        ])
    );
    assert_eq!(
        at(r#"count by (service) (count_over_time({service=~".+"}[1m]))"#).await,
        json!([
            {"metric": {"service": "checkout"}, "value": [f.secs(60), "2"]},
            {"metric": {"service": "payments"}, "value": [f.secs(60), "1"]}
        ])
    );
    assert_eq!(
        at(r#"max without (host, env, level) (count_over_time({service=~".+"}[1m]))"#).await,
        json!([
            {"metric": {"service": "checkout"}, "value": [f.secs(60), "2"]},
            {"metric": {"service": "payments"}, "value": [f.secs(60), "2"]}
        ])
    );
    assert_eq!(
        at(r#"sum(count_over_time({level="error"}[1m])) / sum(count_over_time({service=~".+"}[1m]))"#)
            .await,
        json!([{"metric": {}, "value": [f.secs(60), "0.4"]}])
    );
    assert_eq!(
        at(r#"sum(count_over_time({service="nonesuch"}[1m]))"#).await,
        json!([])
    );
}

#[tokio::test]
async fn grafana_health_check_and_literals() {
    let f = fixture();
    // Grafana's Save & test: an instant query at the end of [1s, 4s], sent as the
    // nanoseconds 4000000000, which Loki reads as seconds (ten digits).
    let body = f
        .json(
            "/loki/api/v1/query",
            &[
                ("query", "vector(1)+vector(1)"),
                ("time", "4000000000"),
                ("limit", "1000"),
            ],
        )
        .await;
    assert_eq!(body["status"], "success");
    assert_eq!(
        body["data"]["result"],
        json!([{"metric": {}, "value": [4_000_000_000i64, "2"]}])
    );
    assert_eq!(body["data"]["resultType"], "vector");
    let scalar = f
        .result(
            "/loki/api/v1/query",
            &[("query", "1 + 2 * 3"), ("time", "1.5")],
            "scalar",
        )
        .await;
    assert_eq!(scalar, json!([1.5, "7"]));
    let matrix = f
        .result(
            "/loki/api/v1/query_range",
            &[
                ("query", "vector(2) / 4"),
                ("start", "10"),
                ("end", "20"),
                ("step", "5s"),
            ],
            "matrix",
        )
        .await;
    assert_eq!(
        matrix,
        json!([{"metric": {}, "values": [[10, "0.5"], [15, "0.5"], [20, "0.5"]]}])
    );
}

#[tokio::test]
async fn refusals_are_plain_text_as_loki_answers_them() {
    let f = fixture();
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            "/loki/api/v1/query_range",
            &[("query", r#"{service="checkout"} | json"#)],
            "parse error at line 1, col 24: the json parser is not supported; a pipeline may hold line filters (|= != |~ !~) and | drop __error__",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", r#"{service=~".*"}"#)],
            r#"parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will"#,
        ),
        (
            "/loki/api/v1/query",
            &[("query", r#"{service="checkout"}"#)],
            "log queries are not supported as an instant query type, please change your query to a range query type",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", r#"{service="checkout"}"#), ("limit", "5001")],
            "max entries limit per query exceeded, limit > max_entries_limit_per_query (5001 > 5000)",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", r#"{service="checkout"}"#), ("limit", "0")],
            "limit must be a positive value",
        ),
        (
            "/loki/api/v1/query_range",
            &[
                ("query", r#"{service="checkout"}"#),
                ("direction", "sideways"),
            ],
            "invalid direction 'sideways'",
        ),
        (
            "/loki/api/v1/query_range",
            &[
                ("query", "vector(1)"),
                ("start", "0"),
                ("end", "11001"),
                ("step", "1"),
            ],
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", "vector(1)"), ("start", "20"), ("end", "10")],
            "end timestamp must not be before start time",
        ),
        (
            "/loki/api/v1/query_range",
            &[("query", "vector(1)"), ("start", "soon")],
            "invalid parameter \"start\": cannot parse \"soon\" to a valid timestamp",
        ),
        (
            "/loki/api/v1/labels",
            &[("query", r#"sum(count_over_time({a="b"}[1m]))"#)],
            "only label matchers are supported: \"sum(count_over_time({a=\\\"b\\\"}[1m]))\" is not a stream selector",
        ),
        (
            "/loki/api/v1/query_range",
            &[],
            "parse error at line 1, col 1: the query is empty",
        ),
    ];
    for (path, params, expected) in cases {
        let (status, body, content_type) = f.get(path, params).await;
        assert_eq!(
            (status, body.as_str(), content_type.as_str()),
            (
                StatusCode::BAD_REQUEST,
                *expected,
                "text/plain; charset=utf-8"
            ),
            "{path} {params:?}"
        );
    }
    // A range that fits exactly 11,000 steps is accepted.
    let (status, _, _) = f
        .get(
            "/loki/api/v1/query_range",
            &[
                ("query", "vector(1)"),
                ("start", "0"),
                ("end", "11000"),
                ("step", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_store_still_opening_answers_503() {
    let request = Request::get("/loki/api/v1/labels")
        .body(Body::empty())
        .expect("request");
    let (status, body, content_type) = send(test_support::context(), request).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(content_type, "text/plain; charset=utf-8");
    assert!(body.contains("still opening"), "{body}");
}

#[tokio::test]
async fn labels_values_and_series_for_the_label_browser() {
    let f = fixture();
    let (start, end) = (f.at(0), f.at(3600));
    let range = [("start", start.as_str()), ("end", end.as_str())];
    let data = |body: serde_json::Value| {
        assert_eq!(body["status"], "success");
        body["data"].clone()
    };
    assert_eq!(
        data(f.json("/loki/api/v1/labels", &range).await),
        json!(["env", "host", "level", "service"]),
        "a configured field no line has is not listed"
    );
    let with = |query: &'static str| {
        let mut params = range.to_vec();
        params.push(("query", query));
        params
    };
    assert_eq!(
        data(
            f.json("/loki/api/v1/labels", &with(r#"{service="payments"}"#))
                .await
        ),
        json!(["env", "host", "level", "service"])
    );
    assert_eq!(
        data(f.json("/loki/api/v1/label/service/values", &range).await),
        json!(["checkout", "payments"])
    );
    assert_eq!(
        data(
            f.json(
                "/loki/api/v1/label/env/values",
                &with(r#"{service="checkout"}"#)
            )
            .await
        ),
        json!(["dev", "prod"])
    );
    assert_eq!(
        data(
            f.json(
                "/loki/api/v1/label/host/values",
                &with(r#"{level="error"}"#)
            )
            .await
        ),
        json!(["p-0"])
    );
    assert_eq!(
        data(f.json("/loki/api/v1/label/team/values", &range).await),
        json!([])
    );
    // Only the first five seconds: the 65th second's line is outside.
    assert_eq!(
        data(
            f.json(
                "/loki/api/v1/label/level/values",
                &[
                    ("start", &f.at(0)),
                    ("end", &f.at(5)),
                    ("query", r#"{service="checkout"}"#)
                ]
            )
            .await
        ),
        json!(["info", "warn"])
    );
    let mut params = range.to_vec();
    params.push(("match[]", r#"{service="payments"}"#));
    params.push(("match[]", r#"{host="c-1"}"#));
    assert_eq!(
        data(f.json("/loki/api/v1/series", &params).await),
        json!([
            {"env": "dev", "host": "c-1", "level": "warn", "service": "checkout"},
            {"env": "prod", "host": "p-0", "level": "error", "service": "payments"}
        ])
    );
}

#[tokio::test]
async fn index_stats_and_buildinfo() {
    let f = fixture();
    let stats = f
        .json(
            "/loki/api/v1/index/stats",
            &[
                ("query", r#"{service="checkout"}"#),
                ("start", &f.at(0)),
                ("end", &f.at(3600)),
            ],
        )
        .await;
    assert_eq!(
        stats,
        json!({"streams": 2, "chunks": 2, "entries": 4, "bytes": 64})
    );
    let info = f.json("/loki/api/v1/status/buildinfo", &[]).await;
    assert_eq!(info["version"], "3.0.0");
    assert_eq!(info["revision"], "abc123");
}

#[tokio::test]
async fn queries_also_come_as_form_posts() {
    let f = fixture();
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("query", r#"sum(count_over_time({service="checkout"}[1h]))"#),
            ("time", &f.at(3600)),
        ])
        .finish();
    let request = Request::post("/loki/api/v1/query")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let (status, body, _) = send(f.context(), request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        body["data"]["result"],
        json!([{"metric": {}, "value": [f.secs(3600), "4"]}])
    );
}

#[tokio::test]
async fn configured_fields_are_stream_labels_with_underscored_names() {
    let f = fixture_with(|t0| {
        let mut shop = record(t0 + SECOND, "cart", Severity::Info, "k-0", "prod", "added");
        shop.fields
            .push(("k8s.namespace.name".into(), Value::Str("shop".into())));
        let mut ops = record(t0 + 2 * SECOND, "cart", Severity::Info, "k-0", "prod", "gc");
        ops.fields
            .push(("k8s.namespace.name".into(), Value::Str("ops".into())));
        vec![shop, ops]
    });
    let (start, end) = (f.at(0), f.at(60));
    let streams = f
        .result(
            "/loki/api/v1/query_range",
            &[
                ("query", r#"{k8s_namespace_name=~"sh.p"}"#),
                ("start", &start),
                ("end", &end),
            ],
            "streams",
        )
        .await;
    assert_eq!(
        streams,
        json!([{
            "stream": {
                "env": "prod",
                "host": "k-0",
                "k8s_namespace_name": "shop",
                "level": "info",
                "service": "cart"
            },
            "values": [[f.at(1), "added"]]
        }])
    );
    let names = f
        .json("/loki/api/v1/labels", &[("start", &start), ("end", &end)])
        .await;
    assert_eq!(
        names["data"],
        json!(["env", "host", "k8s_namespace_name", "level", "service"])
    );
    let values = f
        .json(
            "/loki/api/v1/label/k8s_namespace_name/values",
            &[("start", &start), ("end", &end)],
        )
        .await;
    assert_eq!(values["data"], json!(["ops", "shop"]));
    let volume = f
        .result(
            "/loki/api/v1/query",
            &[
                (
                    "query",
                    r#"sum by (k8s_namespace_name) (count_over_time({service="cart"}[1m]))"#,
                ),
                ("time", &end),
            ],
            "vector",
        )
        .await;
    assert_eq!(
        volume,
        json!([
            {"metric": {"k8s_namespace_name": "ops"}, "value": [f.secs(60), "1"]},
            {"metric": {"k8s_namespace_name": "shop"}, "value": [f.secs(60), "1"]}
        ])
    );
}
