//! `/v1/traces` and the gRPC `TraceService` against a recording span sink: bodies built
//! with the prost reference types, written by the OpenTelemetry Python SDK, or in
//! OTLP/JSON as the Collector writes it; status codes, `partial_success`,
//! `google.rpc.Status` bodies, limits, counters.

use std::io::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http;
use model::error_kind::grpc_code;
use model::{ErrorKind, SpanKind, SpanStatus, UnixNanos, Value};
use prost::Message as _;
use serde_json::{Value as Json, json};
use tower::ServiceExt;

use super::{
    Answer, JSON, PROTOBUF, SPAN_ID, TRACE_ID, any, any_value, common, gzip, kv, new_metrics, send,
    string, test_config,
};
use crate::metrics::{IngestMetrics, Protocol};
use crate::otlp::base64;
use crate::otlp::grpc::TraceService;
use crate::otlp::proto::trace_service::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use crate::otlp::proto::{resource, trace};
use crate::otlp::{export_traces_protobuf, http_router_with_traces, traces_http_router};
use crate::sink::testing::{RecordingSink, RecordingSpanSink};
use crate::spans::TraceLimits;

/// Spans written by opentelemetry-python 1.45.2 (SDK `TracerProvider` and the OTLP
/// exporter's encoder): a server span with a link, and a client child that recorded an
/// exception and an error status.
pub(super) const PYTHON_SDK_TRACES: &[u8] =
    include_bytes!("../testdata/python-sdk-1.45.2.traces.pb");

pub(super) const PARENT_ID: [u8; 8] = [0x53, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36];
pub(super) const LINKED_TRACE_ID: [u8; 16] = [
    0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c,
];
pub(super) const LINKED_SPAN_ID: [u8; 8] = [0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31];

pub(super) fn int(value: i64) -> common::AnyValue {
    any(any_value::Value::IntValue(value))
}

/// A valid server span of 250 ms.
pub(super) fn span(name: &str) -> trace::Span {
    trace::Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        name: name.into(),
        kind: trace::span::SpanKind::Server as i32,
        start_time_unix_nano: 1_795_283_910_000_000_000,
        end_time_unix_nano: 1_795_283_910_250_000_000,
        ..Default::default()
    }
}

/// The spans under one resource (`checkout` in namespace `shop`) and one scope.
pub(super) fn traces_request(spans: Vec<trace::Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![trace::ResourceSpans {
            resource: Some(resource::Resource {
                attributes: vec![
                    kv("service.name", string("checkout")),
                    kv("k8s.namespace.name", string("shop")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![trace::ScopeSpans {
                scope: Some(common::InstrumentationScope {
                    name: "app.checkout".into(),
                    version: "3.0.1".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn any_json(value: &common::AnyValue) -> Json {
    match &value.value {
        None => json!({}),
        Some(any_value::Value::StringValue(text)) => json!({ "stringValue": text }),
        Some(any_value::Value::BoolValue(flag)) => json!({ "boolValue": flag }),
        Some(any_value::Value::IntValue(int)) => json!({ "intValue": int.to_string() }),
        Some(any_value::Value::DoubleValue(float)) => json!({ "doubleValue": float }),
        Some(any_value::Value::ArrayValue(array)) => {
            json!({ "arrayValue": { "values": array.values.iter().map(any_json).collect::<Vec<_>>() } })
        }
        Some(any_value::Value::KvlistValue(list)) => {
            json!({ "kvlistValue": { "values": key_values_json(&list.values) } })
        }
        Some(any_value::Value::BytesValue(bytes)) => json!({ "bytesValue": base64::encode(bytes) }),
    }
}

fn key_values_json(values: &[common::KeyValue]) -> Json {
    values
        .iter()
        .map(|kv| json!({ "key": kv.key, "value": kv.value.as_ref().map(any_json) }))
        .collect()
}

/// A request in OTLP/JSON as the Collector's `otlphttp` exporter writes it: hex ids,
/// 64-bit integers as strings, enums as numbers, lowerCamelCase keys.
pub(super) fn to_json(request: &ExportTraceServiceRequest) -> Json {
    let span_json = |span: &trace::Span| {
        json!({
            "traceId": hex(&span.trace_id),
            "spanId": hex(&span.span_id),
            "traceState": span.trace_state,
            "parentSpanId": hex(&span.parent_span_id),
            "flags": span.flags,
            "name": span.name,
            "kind": span.kind,
            "startTimeUnixNano": span.start_time_unix_nano.to_string(),
            "endTimeUnixNano": span.end_time_unix_nano.to_string(),
            "attributes": key_values_json(&span.attributes),
            "droppedAttributesCount": span.dropped_attributes_count,
            "events": span.events.iter().map(|event| json!({
                "timeUnixNano": event.time_unix_nano.to_string(),
                "name": event.name,
                "attributes": key_values_json(&event.attributes),
                "droppedAttributesCount": event.dropped_attributes_count,
            })).collect::<Vec<_>>(),
            "droppedEventsCount": span.dropped_events_count,
            "links": span.links.iter().map(|link| json!({
                "traceId": hex(&link.trace_id),
                "spanId": hex(&link.span_id),
                "traceState": link.trace_state,
                "attributes": key_values_json(&link.attributes),
                "droppedAttributesCount": link.dropped_attributes_count,
                "flags": link.flags,
            })).collect::<Vec<_>>(),
            "droppedLinksCount": span.dropped_links_count,
            "status": span.status.as_ref().map_or(json!({}), |status| {
                json!({ "message": status.message, "code": status.code })
            }),
        })
    };
    let resource_spans: Vec<Json> = request
        .resource_spans
        .iter()
        .map(|group| {
            let scope_spans: Vec<Json> = group
                .scope_spans
                .iter()
                .map(|scope| {
                    json!({
                        "scope": scope.scope.as_ref().map(|s| json!({ "name": s.name, "version": s.version })),
                        "spans": scope.spans.iter().map(span_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({
                "resource": group.resource.as_ref().map(|r| json!({ "attributes": key_values_json(&r.attributes) })),
                "scopeSpans": scope_spans,
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

fn limits() -> TraceLimits {
    TraceLimits {
        max_attribute_value_bytes: 16,
        max_spans_per_request: 4,
        max_request_bytes: 64 << 10,
        ..TraceLimits::default()
    }
}

async fn post_traces(
    sink: &Arc<RecordingSpanSink>,
    metrics: &IngestMetrics,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let app = traces_http_router(Arc::clone(sink) as _, limits(), metrics.clone());
    send(app, "/v1/traces", headers, body).await
}

async fn post(sink: &Arc<RecordingSpanSink>, content_type: &str, body: Vec<u8>) -> Answer {
    let headers = [("content-type", content_type)];
    post_traces(sink, &new_metrics(), &headers, body).await
}

/// `(rejected_spans, error_message)` of a protobuf export response.
fn partial_success(answer: &Answer) -> Option<(i64, String)> {
    assert_eq!(answer.status, http::StatusCode::OK, "{answer:?}");
    let response = ExportTraceServiceResponse::decode(&answer.body[..]).expect("a response");
    response
        .partial_success
        .map(|p| (p.rejected_spans, p.error_message))
}

fn counters(metrics: &IngestMetrics, protocol: Protocol) -> (u64, u64, u64) {
    let counters = metrics
        .snapshot()
        .into_iter()
        .find(|c| c.protocol == protocol)
        .expect("counters");
    (counters.items, counters.bytes, counters.rejected)
}

#[tokio::test]
async fn an_opentelemetry_python_export_is_read() {
    let sink = Arc::new(RecordingSpanSink::default());
    let app = traces_http_router(
        Arc::clone(&sink) as _,
        TraceLimits::default(),
        new_metrics(),
    );
    let headers = [("content-type", PROTOBUF)];
    let answer = send(app, "/v1/traces", &headers, PYTHON_SDK_TRACES.to_vec()).await;
    assert_eq!(answer.header("content-type"), Some(PROTOBUF));
    assert_eq!(partial_success(&answer), None, "full success");
    let written = sink.written();
    assert_eq!(written.len(), 2);
    let (client, server) = (&written[0], &written[1]);
    for span in [client, server] {
        assert_eq!(
            span.trace_id.to_string(),
            "d873050f1276bcd028c250f2b694a32e"
        );
        assert_eq!(span.service, "checkout");
        assert_eq!(
            (span.scope_name.as_str(), span.scope_version.as_str()),
            ("checkout.payments", "2.1.0")
        );
        let resource_keys: Vec<&str> = span
            .resource_attributes
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            resource_keys,
            [
                "telemetry.sdk.language",
                "telemetry.sdk.name",
                "telemetry.sdk.version",
                "service.instance.id",
                "host.name",
                "deployment.environment"
            ],
            "service.name is the service"
        );
    }
    assert_eq!(client.name, "charge card");
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(client.span_id.to_string(), "b368afc76db4db08");
    assert_eq!(
        client.parent_span_id.map(|id| id.to_string()).as_deref(),
        Some("cd917451f7e73417")
    );
    assert_eq!(
        (client.start, client.end),
        (
            UnixNanos(1_795_331_869_502_172_607),
            UnixNanos(1_795_331_869_502_554_737)
        )
    );
    assert_eq!(
        client.status,
        SpanStatus::Error {
            message: "card declined".into()
        }
    );
    let exception = &client.events[0];
    assert_eq!(
        (exception.name.as_str(), exception.time),
        ("exception", UnixNanos(1_795_331_869_502_537_636))
    );
    assert_eq!(
        exception.attributes[0],
        ("exception.type".to_owned(), Value::Str("ValueError".into()))
    );
    assert_eq!(server.name, "POST /checkout");
    assert_eq!(
        (server.kind, server.parent_span_id),
        (SpanKind::Server, None)
    );
    assert_eq!(server.status, SpanStatus::Ok);
    assert_eq!(
        server.attributes,
        [
            ("http.request.method".to_owned(), Value::Str("POST".into())),
            ("http.response.status_code".to_owned(), Value::Int(502)),
            ("retry".to_owned(), Value::Bool(true)),
            ("ratio".to_owned(), Value::Float(0.25)),
            ("tags".to_owned(), Value::Str(r#"["a","b"]"#.into())),
        ]
    );
    let link = &server.links[0];
    assert_eq!(
        (link.trace_id.to_string(), link.span_id.to_string()),
        (
            "0af7651916cd43dd8448eb211c80319c".to_owned(),
            "b7ad6b7169203331".to_owned()
        )
    );
    assert_eq!(
        link.attributes,
        [("link.kind".to_owned(), Value::Str("follows".into()))]
    );
}

/// As the Collector's `otlphttp` exporter writes traces (pdata's JSON marshaler):
/// 64-bit integers as strings, enums as numbers, `flags`, and a `status` object.
const COLLECTOR_JSON: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"frontend"}},{"key":"host.name","value":{"stringValue":"ip-10-1-2-3"}}],"droppedAttributesCount":1},"scopeSpans":[{"scope":{"name":"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp","version":"0.49.0"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","traceState":"ot=th:0","parentSpanId":"eee19b7ec3c1b173","flags":257,"name":"GET /api/products","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","attributes":[{"key":"http.route","value":{"stringValue":"/api/products"}},{"key":"http.response.status_code","value":{"intValue":"500"}}],"droppedAttributesCount":1,"events":[{"timeUnixNano":"1544712660500000000","name":"exception","attributes":[{"key":"exception.message","value":{"stringValue":"timeout"}}],"droppedAttributesCount":2}],"droppedEventsCount":1,"links":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","traceState":"vendor=x1","attributes":[],"flags":256}],"status":{"message":"upstream timeout","code":2}}],"schemaUrl":"https://opentelemetry.io/schemas/1.24.0"}],"schemaUrl":"https://opentelemetry.io/schemas/1.24.0"}]}"#;

#[tokio::test]
async fn json_as_the_collector_writes_it_is_read() {
    let sink = Arc::new(RecordingSpanSink::default());
    let answer = post(&sink, JSON, COLLECTOR_JSON.as_bytes().to_vec()).await;
    assert_eq!(answer.status, http::StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some(JSON));
    assert_eq!(answer.json(), json!({}));
    let written = sink.written();
    let span = &written[0];
    assert_eq!(span.service, "frontend");
    assert_eq!(span.trace_state, "ot=th:0");
    assert_eq!(
        span.parent_span_id.map(|id| id.to_string()).as_deref(),
        Some("eee19b7ec3c1b173")
    );
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.duration_nanos(), 1_000_000_000);
    assert_eq!(
        span.status,
        SpanStatus::Error {
            message: "upstream timeout".into()
        }
    );
    assert_eq!(
        span.attributes[1],
        ("http.response.status_code".to_owned(), Value::Int(500))
    );
    assert_eq!((span.dropped_attributes, span.dropped_events), (1, 1));
    assert_eq!(span.links[0].trace_state, "vendor=x1");
    assert_eq!(
        span.resource_attributes,
        [("host.name".to_owned(), Value::Str("ip-10-1-2-3".into()))]
    );
}

fn bad_ids_request() -> ExportTraceServiceRequest {
    let mut short_trace = span("short trace");
    short_trace.trace_id = vec![1, 2, 3, 4, 5];
    let mut zero_span = span("zero span");
    zero_span.span_id = vec![0; 8];
    traces_request(vec![span("ok 1"), short_trace, zero_span, span("ok 2")])
}

#[tokio::test]
async fn spans_with_bad_ids_are_rejected_alone_in_partial_success() {
    let sink = Arc::new(RecordingSpanSink::default());
    let metrics = new_metrics();
    let headers = [("content-type", PROTOBUF)];
    let answer = post_traces(&sink, &metrics, &headers, bad_ids_request().encode_to_vec()).await;
    let (rejected, message) = partial_success(&answer).expect("partial success");
    assert_eq!(rejected, 2);
    assert_eq!(
        message,
        "2 of 4 spans were rejected: \
         span 2: trace id \"0102030405\" is not valid: it must be 16 bytes long; \
         span 3: span id \"0000000000000000\" is not valid: an all-zero id is invalid"
    );
    let names: Vec<String> = sink.written().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["ok 1", "ok 2"]);
    let (items, _, n_rejected) = counters(&metrics, Protocol::OtlpTraces);
    assert_eq!((items, n_rejected), (2, 2));

    let json_body = to_json(&bad_ids_request()).to_string().into_bytes();
    let answer = post(&sink, JSON, json_body).await;
    let json = answer.json();
    assert_eq!(json["partialSuccess"]["rejectedSpans"], "2");
    assert_eq!(json["partialSuccess"]["errorMessage"], message.as_str());
}

#[tokio::test]
async fn sink_rejections_count_in_partial_success() {
    let sink = Arc::new(RecordingSpanSink {
        refuse_message: Some("ancient"),
        ..RecordingSpanSink::default()
    });
    let mut bad = span("bad parent");
    bad.parent_span_id = vec![9];
    let body = traces_request(vec![span("ancient"), bad, span("new")]).encode_to_vec();
    let (rejected, message) = partial_success(&post(&sink, PROTOBUF, body).await).expect("partial");
    assert_eq!(rejected, 2);
    assert_eq!(
        message,
        "2 of 3 spans were rejected: span 1: the span is older than traces.retention; \
         span 2: parent span id \"09\" is not valid: it must be 8 bytes long \
         (span id 00f067aa0ba902b7)"
    );
    assert_eq!(sink.written().len(), 1);
}

#[tokio::test]
async fn truncated_values_are_a_warning_with_nothing_rejected() {
    let sink = Arc::new(RecordingSpanSink::default());
    let metrics = new_metrics();
    let long = trace::Span {
        attributes: vec![kv("db.statement", string(&"x".repeat(100)))],
        ..span("long")
    };
    let headers = [("content-type", PROTOBUF)];
    let body = traces_request(vec![long]).encode_to_vec();
    let answer = post_traces(&sink, &metrics, &headers, body).await;
    assert_eq!(
        partial_success(&answer),
        Some((
            0,
            "1 attribute values were longer than 16 bytes and were truncated".to_owned()
        ))
    );
    assert_eq!(
        sink.written()[0].attributes[0].1,
        Value::Str(format!("{}…[truncated 84 bytes]", "x".repeat(16)))
    );
    assert_eq!(
        metrics.limited(Protocol::OtlpTraces, "max_attribute_value_bytes"),
        1
    );
    assert_eq!(
        counters(&metrics, Protocol::OtlpTraces).2,
        0,
        "nothing rejected"
    );
}

#[tokio::test]
async fn too_many_spans_are_413_and_nothing_is_written() {
    let sink = Arc::new(RecordingSpanSink::default());
    let request = traces_request((0..5).map(|i| span(&i.to_string())).collect());
    let answer = post(&sink, PROTOBUF, request.encode_to_vec()).await;
    assert_eq!(answer.status, http::StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answer.header("retry-after"),
        None,
        "resending it cannot succeed"
    );
    let status = answer.status_message();
    assert_eq!(status.code, grpc_code::RESOURCE_EXHAUSTED);
    assert_eq!(
        status.message,
        "the request has more than 4 spans (max_spans_per_request); send smaller batches"
    );
    let answer = post(&sink, JSON, to_json(&request).to_string().into_bytes()).await;
    assert_eq!(answer.status, http::StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json()["code"], grpc_code::RESOURCE_EXHAUSTED);
    assert_eq!(*sink.n_calls.lock().expect("lock"), 0);
}

#[tokio::test]
async fn every_coding_is_read_within_its_bound() {
    let body = traces_request(vec![span("compressed")]).encode_to_vec();
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(&body).expect("zlib");
    let codings = [
        ("gzip", gzip(&body)),
        (
            "zstd",
            zstd::stream::encode_all(&body[..], 3).expect("zstd"),
        ),
        ("deflate", zlib.finish().expect("zlib")),
    ];
    for (coding, compressed) in codings {
        let sink = Arc::new(RecordingSpanSink::default());
        let metrics = new_metrics();
        let n_wire_bytes = compressed.len() as u64;
        let headers = [("content-type", PROTOBUF), ("content-encoding", coding)];
        let answer = post_traces(&sink, &metrics, &headers, compressed).await;
        assert_eq!(partial_success(&answer), None, "{coding}");
        assert_eq!(sink.written().len(), 1, "{coding}");
        assert_eq!(
            counters(&metrics, Protocol::OtlpTraces),
            (1, n_wire_bytes, 0),
            "{coding}: bytes on the wire"
        );
    }
    let sink = Arc::new(RecordingSpanSink::default());
    let bomb = gzip(&vec![0; 1 << 20]);
    let headers = [("content-type", PROTOBUF), ("content-encoding", "gzip")];
    let answer = post_traces(&sink, &new_metrics(), &headers, bomb).await;
    assert_eq!(answer.status, http::StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.status_message().code, grpc_code::RESOURCE_EXHAUSTED);
}

#[tokio::test]
async fn bad_media_types_and_bodies_are_refused_with_a_status() {
    let sink = Arc::new(RecordingSpanSink::default());
    let answer = post(&sink, "text/plain", PYTHON_SDK_TRACES.to_vec()).await;
    assert_eq!(answer.status, http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(answer.status_message().code, grpc_code::INVALID_ARGUMENT);
    let truncated = PYTHON_SDK_TRACES[..PYTHON_SDK_TRACES.len() - 3].to_vec();
    let answer = post(&sink, PROTOBUF, truncated).await;
    assert_eq!(answer.status, http::StatusCode::BAD_REQUEST);
    let status = answer.status_message();
    assert_eq!(status.code, grpc_code::INVALID_ARGUMENT);
    assert_eq!(
        status.message,
        "the body is not a valid ExportTraceServiceRequest: \
         malformed protobuf: field runs past the end of its message"
    );
    let answer = post(
        &sink,
        JSON,
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":["x"]}]}]}"#.to_vec(),
    )
    .await;
    assert_eq!(answer.status, http::StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.json(),
        json!({"code": grpc_code::INVALID_ARGUMENT, "message": "an element of \"spans\" is not an object: \"x\""})
    );
    assert!(sink.written().is_empty());
}

#[tokio::test]
async fn a_store_that_is_behind_or_down_asks_for_a_retry() {
    let cases = [
        (
            ErrorKind::TooManyRequests,
            http::StatusCode::TOO_MANY_REQUESTS,
            Some("1"),
        ),
        (
            ErrorKind::Unavailable,
            http::StatusCode::SERVICE_UNAVAILABLE,
            Some("1"),
        ),
        (
            ErrorKind::Internal,
            http::StatusCode::INTERNAL_SERVER_ERROR,
            None,
        ),
    ];
    for (kind, status, retry_after) in cases {
        let sink = Arc::new(RecordingSpanSink {
            fail: Some(kind),
            ..RecordingSpanSink::default()
        });
        let metrics = new_metrics();
        let body = traces_request(vec![span("x")]).encode_to_vec();
        let answer = post_traces(&sink, &metrics, &[("content-type", PROTOBUF)], body).await;
        assert_eq!(answer.status, status, "{kind:?}");
        assert_eq!(answer.header("retry-after"), retry_after, "{kind:?}");
        let message = answer.status_message();
        assert_eq!(message.code, kind.grpc_code(), "{kind:?}");
        assert_eq!(
            message.message,
            "nothing was written: the indexing queue is full"
        );
        assert_eq!(counters(&metrics, Protocol::OtlpTraces), (0, 0, 1));
    }
}

#[tokio::test]
async fn one_router_serves_logs_and_traces() {
    let log_sink = Arc::new(RecordingSink::default());
    let span_sink = Arc::new(RecordingSpanSink::default());
    let app = http_router_with_traces(
        Arc::clone(&log_sink) as _,
        test_config(),
        Arc::clone(&span_sink) as _,
        limits(),
        new_metrics(),
    );
    let headers = [("content-type", PROTOBUF)];
    let body = traces_request(vec![span("routed")]).encode_to_vec();
    let answer = send(app.clone(), "/v1/traces", &headers, body).await;
    assert_eq!(answer.status, http::StatusCode::OK);
    let answer = send(app, "/v1/logs", &headers, super::PYTHON_SDK_BODY.to_vec()).await;
    assert_eq!(answer.status, http::StatusCode::OK);
    assert_eq!(
        (span_sink.written().len(), log_sink.written().len()),
        (1, 2)
    );
}

#[test]
fn the_grpc_entry_point_shares_the_export() {
    let sink = RecordingSpanSink::default();
    let metrics = new_metrics();
    let body = bad_ids_request().encode_to_vec();
    let outcome = export_traces_protobuf(&sink, &limits(), &metrics, &body).expect("exported");
    assert_eq!((outcome.accepted, outcome.rejected), (2, 2));
    let response = ExportTraceServiceResponse::decode(&outcome.response[..]).expect("response");
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 2);
    assert_eq!(partial.error_message, outcome.error_message);
}

/// What a gRPC call answered: `grpc-status`, `grpc-message`, whether a
/// `grpc-status-details-bin` came, and the response message.
#[derive(Debug)]
struct GrpcAnswer {
    status: String,
    message: String,
    has_details: bool,
    response: Option<Vec<u8>>,
}

/// Calls `path` on the service with one uncompressed message, as a gRPC client does.
async fn grpc_call(service: TraceService, path: &str, message: &[u8]) -> GrpcAnswer {
    use http_body_util::BodyExt as _;
    let mut framed = vec![0];
    framed.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    framed.extend_from_slice(message);
    let request = http::Request::post(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(http_body_util::Full::new(
            Bytes::from(framed),
        )))
        .expect("request");
    let response = service.oneshot(request).await.expect("infallible");
    let mut headers = response.headers().clone();
    let mut body = response.into_body();
    let mut data = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("frame");
        match frame.into_data() {
            Ok(bytes) => data.extend_from_slice(&bytes),
            Err(frame) => headers.extend(frame.into_trailers().expect("trailers")),
        }
    }
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| value.to_str().expect("text").to_owned())
    };
    GrpcAnswer {
        status: header("grpc-status").expect("grpc-status"),
        message: header("grpc-message").unwrap_or_default(),
        has_details: headers.contains_key("grpc-status-details-bin"),
        response: (data.len() >= 5).then(|| data[5..].to_vec()),
    }
}

const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

#[tokio::test]
async fn the_grpc_trace_service_answers_as_otlp_says() {
    let sink = Arc::new(RecordingSpanSink::default());
    let service = TraceService::new(Arc::clone(&sink) as _, limits(), new_metrics());

    let answer = grpc_call(service.clone(), EXPORT, &bad_ids_request().encode_to_vec()).await;
    assert_eq!(answer.status, "0", "{answer:?}");
    let response = ExportTraceServiceResponse::decode(&answer.response.expect("message")[..])
        .expect("response");
    assert_eq!(response.partial_success.expect("partial").rejected_spans, 2);
    assert_eq!(sink.written().len(), 2);

    let answer = grpc_call(service.clone(), EXPORT, b"\x0a\x05ab").await;
    assert_eq!(answer.status, grpc_code::INVALID_ARGUMENT.to_string());
    assert!(!answer.has_details);

    let too_many = traces_request((0..5).map(|i| span(&i.to_string())).collect());
    let answer = grpc_call(service.clone(), EXPORT, &too_many.encode_to_vec()).await;
    assert_eq!(answer.status, grpc_code::RESOURCE_EXHAUSTED.to_string());
    assert!(
        !answer.has_details,
        "no RetryInfo: resending cannot succeed"
    );

    let answer = grpc_call(
        service,
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        b"",
    )
    .await;
    assert_eq!(answer.status, "12", "UNIMPLEMENTED");
    // grpc-message is percent-encoded.
    let message = answer.message.replace("%20", " ");
    assert!(
        message.contains("TraceService serves only Export"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn the_grpc_trace_service_asks_for_a_retry_when_the_store_is_behind() {
    let sink = Arc::new(RecordingSpanSink {
        fail: Some(ErrorKind::TooManyRequests),
        ..RecordingSpanSink::default()
    });
    let service = TraceService::new(sink as _, limits(), new_metrics());
    let body = traces_request(vec![span("x")]).encode_to_vec();
    let answer = grpc_call(service, EXPORT, &body).await;
    assert_eq!(answer.status, grpc_code::RESOURCE_EXHAUSTED.to_string());
    assert!(answer.has_details, "RetryInfo");
}
