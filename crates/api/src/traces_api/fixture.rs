//! A trace store in a temporary directory holding four known traces, for the tests of
//! Sightline's and Jaeger's trace APIs.
//!
//! All start within the last hour. `t0` is a whole second ten minutes ago; offsets below
//! are from it. Two traces are written to a block, two stay in the head.
//!
//! - `CHECKOUT` (block): frontend `GET /checkout` (server, 120 ms, at 1 ms + 999 ns) ->
//!   frontend `GET /inventory` (client, 10-60 ms) -> inventory `GET /inventory` (server,
//!   12-58 ms, error "out of stock", an event, a link to `HEALTH`) -> inventory `select
//!   stock` (client, 20-50 ms, on another host).
//! - `HEALTH` (head, a 64-bit id): frontend `GET /health` (server, at 1 s, 2 ms, ok).
//! - `RETRY` (head): frontend `GET /checkout` (server, at 2 s, 30 ms) -> inventory
//!   `GET /inventory` (server, 2 s + 5 ms, 20 ms).
//! - `PAY` (block, 30 minutes before `t0`): frontend `GET /pay` (server, 200 ms) ->
//!   payments `charge` (kind unspecified, 150 ms).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use model::span::{SpanEvent, SpanLink};
use model::{Span, SpanId, SpanKind, SpanStatus, TraceId, UnixNanos, Value};
use tower::ServiceExt;
use tracestore::{TraceStore, TraceStoreOptions};

use crate::test_support;

pub(crate) const MS: i64 = 1_000_000;
pub(crate) const SECOND: i64 = 1_000 * MS;
pub(crate) const MINUTE: i64 = 60 * SECOND;

pub(crate) const CHECKOUT: &str = "0af7651916cd43dd8448eb211c80319c";
pub(crate) const HEALTH: &str = "0000000000000000a3ce929d0e0e4736";
pub(crate) const RETRY: &str = "5b8efff798038103d269b633813fc60c";
pub(crate) const PAY: &str = "6e0c63257de34c92bf9efcd03927272e";

/// Span ids of `CHECKOUT`, root first.
pub(crate) const CHECKOUT_ROOT: &str = "00f067aa0ba902b7";
pub(crate) const CHECKOUT_CLIENT: &str = "00f067aa0ba902b8";
pub(crate) const CHECKOUT_SERVER: &str = "00f067aa0ba902b9";
pub(crate) const CHECKOUT_DB: &str = "00f067aa0ba902ba";
pub(crate) const HEALTH_ROOT: &str = "1111111111111111";

pub(crate) fn trace_id(hex: &str) -> TraceId {
    TraceId::from_hex(hex).expect("trace id")
}

fn span_id(hex: &str) -> SpanId {
    SpanId::from_hex(hex).expect("span id")
}

/// A span with nothing but its place, service, name, kind and times.
fn span(
    trace: &str,
    (id, parent): (&str, Option<&str>),
    (service, name, kind): (&str, &str, SpanKind),
    start: i64,
    duration: i64,
) -> Span {
    Span {
        trace_id: trace_id(trace),
        span_id: span_id(id),
        parent_span_id: parent.map(span_id),
        service: service.to_owned(),
        name: name.to_owned(),
        kind,
        start: UnixNanos(start),
        end: UnixNanos(start + duration),
        status: SpanStatus::Unset,
        trace_state: String::new(),
        scope_name: String::new(),
        scope_version: String::new(),
        resource_attributes: vec![("service.name".to_owned(), Value::from(service))],
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
        dropped_attributes: 0,
        dropped_events: 0,
        dropped_links: 0,
    }
}

fn attrs(list: &[(&str, Value)]) -> Vec<(String, Value)> {
    list.iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

fn checkout(t0: i64) -> Vec<Span> {
    let frontend_resource = attrs(&[
        ("service.name", Value::from("frontend")),
        ("host.name", Value::from("fe-1")),
    ]);
    let mut root = span(
        CHECKOUT,
        (CHECKOUT_ROOT, None),
        ("frontend", "GET /checkout", SpanKind::Server),
        t0 + MS + 999,
        120 * MS,
    );
    root.resource_attributes = frontend_resource.clone();
    root.attributes = attrs(&[
        ("http.method", Value::from("GET")),
        ("http.status_code", Value::Int(200)),
    ]);
    root.scope_name = "io.opentelemetry.http".to_owned();
    root.scope_version = "1.2.0".to_owned();
    root.trace_state = "vendor=1".to_owned();
    root.events = vec![SpanEvent {
        time: UnixNanos(t0 + 5 * MS + 1_500),
        name: "cache miss".to_owned(),
        attributes: attrs(&[("cache.key", Value::from("cart:17"))]),
    }];
    let mut client = span(
        CHECKOUT,
        (CHECKOUT_CLIENT, Some(CHECKOUT_ROOT)),
        ("frontend", "GET /inventory", SpanKind::Client),
        t0 + 10 * MS,
        50 * MS,
    );
    client.resource_attributes = frontend_resource;
    let mut server = span(
        CHECKOUT,
        (CHECKOUT_SERVER, Some(CHECKOUT_CLIENT)),
        ("inventory", "GET /inventory", SpanKind::Server),
        t0 + 12 * MS,
        46 * MS,
    );
    server.resource_attributes = attrs(&[
        ("service.name", Value::from("inventory")),
        ("host.name", Value::from("inv-1")),
    ]);
    server.status = SpanStatus::Error {
        message: "out of stock".to_owned(),
    };
    server.attributes = attrs(&[
        ("http.route", Value::from("/inventory")),
        ("retry", Value::Bool(true)),
        ("load", Value::Float(0.5)),
        ("ratio", Value::Float(f64::NAN)),
    ]);
    server.events = vec![SpanEvent {
        time: UnixNanos(t0 + 40 * MS),
        name: "exception".to_owned(),
        attributes: attrs(&[("exception.message", Value::from("no stock"))]),
    }];
    server.links = vec![SpanLink {
        trace_id: trace_id(HEALTH),
        span_id: span_id(HEALTH_ROOT),
        trace_state: String::new(),
        attributes: Vec::new(),
    }];
    server.dropped_attributes = 2;
    let mut db = span(
        CHECKOUT,
        (CHECKOUT_DB, Some(CHECKOUT_SERVER)),
        ("inventory", "select stock", SpanKind::Client),
        t0 + 20 * MS,
        30 * MS,
    );
    db.resource_attributes = attrs(&[
        ("service.name", Value::from("inventory")),
        ("host.name", Value::from("inv-2")),
    ]);
    vec![db, server, client, root]
}

fn health(t0: i64) -> Vec<Span> {
    let mut root = span(
        HEALTH,
        (HEALTH_ROOT, None),
        ("frontend", "GET /health", SpanKind::Server),
        t0 + SECOND,
        2 * MS,
    );
    root.status = SpanStatus::Ok;
    vec![root]
}

fn retry(t0: i64) -> Vec<Span> {
    vec![
        span(
            RETRY,
            ("2222222222222222", None),
            ("frontend", "GET /checkout", SpanKind::Server),
            t0 + 2 * SECOND,
            30 * MS,
        ),
        span(
            RETRY,
            ("2222222222222223", Some("2222222222222222")),
            ("inventory", "GET /inventory", SpanKind::Server),
            t0 + 2 * SECOND + 5 * MS,
            20 * MS,
        ),
    ]
}

fn pay(t0: i64) -> Vec<Span> {
    let start = t0 - 30 * MINUTE;
    vec![
        span(
            PAY,
            ("3333333333333333", None),
            ("frontend", "GET /pay", SpanKind::Server),
            start,
            200 * MS,
        ),
        span(
            PAY,
            ("3333333333333334", Some("3333333333333333")),
            ("payments", "charge", SpanKind::Unspecified),
            start + 10 * MS,
            150 * MS,
        ),
    ]
}

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) store: Arc<TraceStore>,
    pub(crate) t0: i64,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = TraceStore::open(dir.path(), TraceStoreOptions::default()).expect("open");
        let t0 = (UnixNanos::now().0 - 10 * MINUTE).div_euclid(SECOND) * SECOND;
        store.append(&checkout(t0)).expect("append");
        store.append(&pay(t0)).expect("append");
        store.flush().expect("flush");
        store.append(&health(t0)).expect("append");
        store.append(&retry(t0)).expect("append");
        Fixture {
            _dir: dir,
            store: Arc::new(store),
            t0,
        }
    }

    pub(crate) fn context(&self) -> crate::ApiContext {
        let context = test_support::context();
        context.traces.set(Arc::clone(&self.store));
        context
    }

    /// `GET path?params` through the router: the status and the body as JSON.
    pub(crate) async fn get(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> (StatusCode, serde_json::Value) {
        get_json(self.context(), path, params).await
    }
}

pub(crate) async fn get_json(
    context: crate::ApiContext,
    path: &str,
    params: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let uri = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = crate::router(context)
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{path} {params:?}"
    );
    let body = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("body");
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|err| panic!("{path}: {err}: {}", String::from_utf8_lossy(&body)));
    (status, json)
}
