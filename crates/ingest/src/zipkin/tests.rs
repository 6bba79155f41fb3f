//! `POST /api/v2/spans` against a recording span sink, with bodies exactly as Zipkin
//! reporters send them: py_zipkin (Python), Brave (Java) and OpenTelemetry's Zipkin
//! exporter (JavaScript); refusals, limits, status codes and counters.

use std::sync::Arc;

use axum::http::StatusCode;
use model::{ErrorKind, Span, SpanKind, SpanStatus, UnixNanos, Value};

use super::router;
use crate::http_testing::{Answer, gzip, send};
use crate::metrics::{IngestMetrics, Protocol};
use crate::sink::testing::RecordingSpanSink;
use crate::spans::TraceLimits;

/// Written by py_zipkin 1.2.8's `V2_JSON` encoder (`zipkin_span` with a capturing
/// transport): a server span with a client child (remote endpoint, `error` tag, an
/// annotation) and a local child, 64-bit trace ids, `json.dumps` spacing.
const PY_ZIPKIN: &str = include_str!("testdata/py_zipkin-1.2.8.json");

/// Written by `@opentelemetry/exporter-zipkin` 2.12.1: a client span whose error status
/// is in `otel.status_code` and `error`, its resource attributes among the tags.
const OTEL_JS: &str = include_str!("testdata/opentelemetry-js-exporter-zipkin-2.12.1.json");

/// As Brave's reporter sends spans (zipkin2's JSON v2 writer: keys in its order, names
/// lowercased, 128-bit trace ids with `traceId128Bit`, IPv6 endpoints, `shared` on the
/// server half of a client/server span pair, `debug`). Written by hand in that shape:
/// no Java registry is reachable here.
const BRAVE: &str = r#"[{"traceId":"463ac35c9f6413ad48485a3953bb6124","parentId":"a2fb4a1d1a96d312","id":"b7ad6b7169203331","kind":"CLIENT","name":"get /api/inventory","timestamp":1795331900001000,"duration":12345,"localEndpoint":{"serviceName":"frontend","ipv4":"192.168.99.1","ipv6":"2001:db8::c001"},"remoteEndpoint":{"serviceName":"backend","ipv4":"192.168.99.101","port":9000},"annotations":[{"timestamp":1795331900001500,"value":"ws"},{"timestamp":1795331900012000,"value":"wr"}],"tags":{"http.method":"GET","http.path":"/api/inventory","error":"500"}},{"traceId":"463ac35c9f6413ad48485a3953bb6124","parentId":"a2fb4a1d1a96d312","id":"b7ad6b7169203331","kind":"SERVER","name":"get /api/inventory","timestamp":1795331900002000,"duration":10000,"localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.101","port":9000},"remoteEndpoint":{"ipv4":"192.168.99.1","port":51234},"tags":{"http.method":"GET","http.path":"/api/inventory","http.status_code":"500","error":"500"},"shared":true},{"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a2fb4a1d1a96d312","kind":"SERVER","name":"get /","timestamp":1795331900000000,"duration":15000,"localEndpoint":{"serviceName":"frontend","ipv4":"192.168.99.1"},"tags":{"http.method":"GET","http.path":"/"},"debug":true}]"#;

fn new_metrics() -> IngestMetrics {
    IngestMetrics::register(&prometheus::Registry::new()).expect("metrics")
}

fn limits() -> TraceLimits {
    TraceLimits {
        max_spans_per_request: 10,
        max_request_bytes: 64 << 10,
        ..TraceLimits::default()
    }
}

async fn post_with(
    sink: &Arc<RecordingSpanSink>,
    limits: TraceLimits,
    metrics: &IngestMetrics,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let app = router(Arc::clone(sink) as _, limits, metrics.clone());
    send(app, "/api/v2/spans", headers, body).await
}

async fn post(sink: &Arc<RecordingSpanSink>, body: &str) -> Answer {
    let headers = [("content-type", "application/json")];
    post_with(
        sink,
        limits(),
        &new_metrics(),
        &headers,
        body.as_bytes().to_vec(),
    )
    .await
}

fn attribute<'s>(span: &'s Span, key: &str) -> Option<&'s Value> {
    span.attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, value)| value)
}

fn text(value: &str) -> Value {
    Value::Str(value.to_owned())
}

fn pair(key: &str, value: Value) -> (String, Value) {
    (key.to_owned(), value)
}

#[tokio::test]
async fn a_py_zipkin_report_is_read() {
    let sink = Arc::new(RecordingSpanSink::default());
    let answer = post(&sink, PY_ZIPKIN).await;
    assert_eq!((answer.status, answer.text()), (StatusCode::ACCEPTED, ""));
    let written = sink.written();
    assert_eq!(written.len(), 3);
    let (client, local, server) = (&written[0], &written[1], &written[2]);
    for span in &written {
        assert_eq!(
            span.trace_id.to_string(),
            "00000000000000005557eca62eb22688"
        );
        assert_eq!(span.service, "checkout");
        assert_eq!(
            span.resource_attributes,
            [
                pair("net.host.ip", text("10.0.0.7")),
                pair("net.host.port", Value::Int(8080))
            ]
        );
    }
    assert_eq!(client.name, "POST /charge");
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(client.span_id.to_string(), "f563110902bc2a6f");
    assert_eq!(
        client.parent_span_id.map(|id| id.to_string()).as_deref(),
        Some("9352e35dc389b1cb")
    );
    assert_eq!(client.start, UnixNanos(1_795_331_834_774_748_000));
    assert_eq!(client.duration_nanos(), 1_091_000);
    assert_eq!(
        client.status,
        SpanStatus::Error {
            message: "payment backend unavailable".into()
        }
    );
    assert_eq!(
        client.attributes,
        [
            pair("net.peer.ip", text("10.0.0.9")),
            pair("net.peer.port", Value::Int(9000)),
            pair("peer.service", text("payments")),
            pair("http.status_code", text("503")),
        ],
        "the error tag is the status"
    );
    assert_eq!(client.events.len(), 1);
    assert_eq!(
        (client.events[0].name.as_str(), client.events[0].time),
        ("retry", UnixNanos(1_795_331_834_774_754_000))
    );
    assert_eq!(
        (local.name.as_str(), local.kind),
        ("render", SpanKind::Unspecified)
    );
    assert_eq!(local.status, SpanStatus::Unset);
    assert_eq!(
        (server.kind, server.parent_span_id),
        (SpanKind::Server, None)
    );
    assert_eq!(
        server.attributes,
        [
            pair("http.method", text("GET")),
            pair("user.id", text("u-42"))
        ]
    );
}

#[tokio::test]
async fn a_brave_report_is_read_gzip_compressed() {
    let sink = Arc::new(RecordingSpanSink::default());
    let metrics = new_metrics();
    let body = gzip(BRAVE.as_bytes());
    let n_wire_bytes = body.len() as u64;
    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
    ];
    let answer = post_with(&sink, limits(), &metrics, &headers, body).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    let written = sink.written();
    let (client, server, root) = (&written[0], &written[1], &written[2]);
    assert_eq!(
        client.trace_id.to_string(),
        "463ac35c9f6413ad48485a3953bb6124"
    );
    assert_eq!(
        client.resource_attributes,
        [
            pair("net.host.ip", text("192.168.99.1")),
            pair("net.host.ipv6", text("2001:db8::c001")),
        ]
    );
    assert_eq!(
        client
            .events
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["ws", "wr"]
    );
    assert_eq!(
        client.status,
        SpanStatus::Error {
            message: "500".into()
        }
    );
    assert_eq!(
        server.span_id, client.span_id,
        "a shared span keeps its client's id"
    );
    assert_eq!(
        (server.service.as_str(), server.kind),
        ("backend", SpanKind::Server)
    );
    assert_eq!(attribute(server, "zipkin.shared"), Some(&Value::Bool(true)));
    assert_eq!(attribute(server, "net.peer.port"), Some(&Value::Int(51234)));
    assert_eq!(attribute(server, "peer.service"), None);
    assert_eq!(attribute(client, "zipkin.shared"), None);
    assert_eq!(
        (root.parent_span_id, root.status.clone()),
        (None, SpanStatus::Unset)
    );
    assert_eq!(attribute(root, "debug"), None, "debug is not kept");
    let counters = metrics
        .snapshot()
        .into_iter()
        .find(|c| c.protocol == Protocol::Zipkin)
        .expect("counters");
    assert_eq!(
        (counters.items, counters.bytes, counters.rejected),
        (3, n_wire_bytes, 0)
    );
}

#[tokio::test]
async fn opentelemetry_status_and_scope_tags_are_read() {
    let sink = Arc::new(RecordingSpanSink::default());
    assert_eq!(post(&sink, OTEL_JS).await.status, StatusCode::ACCEPTED);
    let span = &sink.written()[0];
    assert_eq!(span.service, "inventory");
    assert_eq!(
        span.status,
        SpanStatus::Error {
            message: "deadlock detected".into()
        }
    );
    assert_eq!(
        span.attributes,
        [
            pair("db.rows", text("3")),
            pair("db.system", text("postgresql")),
            pair("deployment.environment", text("prod")),
            pair("service.name", text("inventory")),
        ]
    );
    assert_eq!(span.events[0].name, "retrying");

    let body = r#"[{"traceId":"5685a0194915c23734b0845673eade1c","id":"5e782a93044dbb4f","timestamp":1795331854677000,"tags":{"otel.status_code":"OK","otel.scope.name":"inventory.db","otel.scope.version":"1.4.0","otel.library.name":"ignored.older.key","error":""}}]"#;
    let sink = Arc::new(RecordingSpanSink::default());
    assert_eq!(post(&sink, body).await.status, StatusCode::ACCEPTED);
    let span = &sink.written()[0];
    assert_eq!(
        span.status,
        SpanStatus::Ok,
        "otel.status_code wins over error"
    );
    assert_eq!(
        (span.scope_name.as_str(), span.scope_version.as_str()),
        ("inventory.db", "1.4.0"),
        "otel.scope.* over otel.library.*"
    );
    assert_eq!(span.service, "unknown_service");
    assert_eq!((span.attributes.len(), span.duration_nanos()), (0, 0));
}

#[tokio::test]
async fn bad_spans_are_named_in_a_400_and_the_others_are_written() {
    let sink = Arc::new(RecordingSpanSink::default());
    let metrics = new_metrics();
    let span = |fields: &str| {
        format!(
            r#"{{"traceId":"463ac35c9f6413ad","id":"b7ad6b7169203331","timestamp":1795331900001000{fields}}}"#
        )
    };
    let body = format!(
        "[{}]",
        [
            span(""),
            span(r#","kind":"LOCAL""#),
            r#"{"traceId":"463ac35c9f6413ad48485a3953bb612","id":"b7ad6b7169203331"}"#.to_owned(),
            r#"{"traceId":"463ac35c9f6413ad","id":"b7ad6b7169203331"}"#.to_owned(),
            "\"not a span\"".to_owned(),
            span(r#","parentId":"0000000000000000","name":"root""#),
            span(r#","tags":{"nested":{"a":1}}"#),
            span(r#","duration":-5"#),
            span(r#","annotations":[{"value":"no time"}]"#),
            span(r#","parentId":"abc""#),
        ]
        .join(",")
    );
    let headers = [("content-type", "application/json; charset=utf-8")];
    let answer = post_with(&sink, limits(), &metrics, &headers, body.into_bytes()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.text(),
        "8 of 10 spans were rejected: \
         span 2: \"kind\" \"LOCAL\" is not CLIENT, SERVER, PRODUCER or CONSUMER (span id b7ad6b7169203331); \
         span 3: trace id \"463ac35c9f6413ad48485a3953bb612\" is not valid: it must be 32 hex digits (or 16 for a 64-bit id); \
         span 4: the span has no \"timestamp\" (span id b7ad6b7169203331); \
         span 5: the span is not a JSON object: \"not a span\"; \
         span 7: tag \"nested\" is not a string: {\"a\":1} (span id b7ad6b7169203331); \
         span 8: \"duration\" is not a whole number of microseconds: -5 (span id b7ad6b7169203331); \
         span 9: an annotation has no \"timestamp\": {\"value\":\"no time\"} (span id b7ad6b7169203331); \
         span 10: parent span id \"abc\" is not valid: it must be 16 hex digits (span id b7ad6b7169203331)\n\
         the other 2 spans were written: do not send them again\n"
    );
    let written = sink.written();
    assert_eq!(written.len(), 2);
    assert_eq!(
        (written[1].name.as_str(), written[1].parent_span_id),
        ("root", None)
    );
    let counters = metrics
        .snapshot()
        .into_iter()
        .find(|c| c.protocol == Protocol::Zipkin)
        .expect("counters");
    assert_eq!((counters.items, counters.rejected), (2, 8));
}

#[tokio::test]
async fn bodies_that_are_not_span_lists_are_400_and_nothing_is_written() {
    let sink = Arc::new(RecordingSpanSink::default());
    for (body, message) in [
        ("[{\"traceId\":", "the body is not valid JSON: "),
        (
            r#"{"traceId":"463ac35c9f6413ad"}"#,
            "the body is not a JSON array of Zipkin v2 spans",
        ),
    ] {
        let answer = post(&sink, body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            answer.text().starts_with(message),
            "{body}: {}",
            answer.text()
        );
    }
    assert_eq!(post(&sink, "[]").await.status, StatusCode::ACCEPTED);
    assert_eq!(*sink.n_calls.lock().expect("lock"), 0);
}

#[tokio::test]
async fn limits_trim_tags_and_annotations_and_refuse_large_requests() {
    let sink = Arc::new(RecordingSpanSink::default());
    let metrics = new_metrics();
    let tight = TraceLimits {
        max_attributes_per_span: 2,
        max_events_per_span: 1,
        max_attribute_value_bytes: 4,
        max_spans_per_request: 2,
        max_request_bytes: 4096,
        ..TraceLimits::default()
    };
    let body = r#"[{"traceId":"463ac35c9f6413ad","id":"b7ad6b7169203331","timestamp":1795331900001000,"tags":{"a":"long value","b":"2","c":"3"},"annotations":[{"timestamp":1795331900001001,"value":"one"},{"timestamp":1795331900001002,"value":"two"}]}]"#;
    let headers = [("content-type", "application/json")];
    let answer = post_with(&sink, tight.clone(), &metrics, &headers, body.into()).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let span = &sink.written()[0];
    assert_eq!(
        span.attributes,
        [
            pair("a", text("long…[truncated 6 bytes]")),
            pair("b", text("2"))
        ]
    );
    assert_eq!((span.events.len(), span.dropped_events), (1, 1));
    assert_eq!(span.dropped_attributes, 1);
    for (limit, n) in [
        ("max_attribute_value_bytes", 1),
        ("max_attributes_per_span", 1),
        ("max_events_per_span", 1),
    ] {
        assert_eq!(metrics.limited(Protocol::Zipkin, limit), n, "{limit}");
    }

    let three = format!(
        "[{body_span},{body_span},{body_span}]",
        body_span = &body[1..body.len() - 1]
    );
    let answer = post_with(&sink, tight.clone(), &metrics, &headers, three.into_bytes()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answer.text(),
        "the request has more than 2 spans (max_spans_per_request); send smaller batches\n"
    );
    let bomb = gzip(&vec![b' '; 1 << 20]);
    let gzipped = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
    ];
    let answer = post_with(&sink, tight, &metrics, &gzipped, bomb).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(sink.written().len(), 1);
}

#[tokio::test]
async fn other_encodings_are_415() {
    let sink = Arc::new(RecordingSpanSink::default());
    for content_type in [
        "application/x-protobuf",
        "application/x-thrift",
        "text/plain",
    ] {
        let headers = [("content-type", content_type)];
        let answer = post_with(&sink, limits(), &new_metrics(), &headers, b"[]".to_vec()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        assert!(
            answer.text().contains("send Zipkin v2 JSON"),
            "{}",
            answer.text()
        );
    }
    let answer = post_with(&sink, limits(), &new_metrics(), &[], PY_ZIPKIN.into()).await;
    assert_eq!(
        answer.status,
        StatusCode::ACCEPTED,
        "no Content-Type is JSON, as in Zipkin"
    );
    let headers = [("content-encoding", "br")];
    let answer = post_with(&sink, limits(), &new_metrics(), &headers, b"[]".to_vec()).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_store_that_is_behind_or_down_asks_for_a_retry() {
    let cases = [
        (
            ErrorKind::TooManyRequests,
            StatusCode::TOO_MANY_REQUESTS,
            Some("1"),
        ),
        (
            ErrorKind::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("1"),
        ),
        (ErrorKind::Internal, StatusCode::INTERNAL_SERVER_ERROR, None),
    ];
    for (kind, status, retry_after) in cases {
        let sink = Arc::new(RecordingSpanSink {
            fail: Some(kind),
            ..RecordingSpanSink::default()
        });
        let answer = post(&sink, PY_ZIPKIN).await;
        assert_eq!(answer.status, status, "{kind:?}");
        assert_eq!(answer.header("retry-after"), retry_after, "{kind:?}");
        assert_eq!(
            answer.text(),
            "nothing was written: the indexing queue is full\n"
        );
    }
}
