//! `/v1/logs` against a recording sink: bodies built with the prost reference types,
//! written by a real OpenTelemetry SDK, or in OTLP/JSON as the Collector writes it;
//! status codes, `partial_success`, `google.rpc.Status` bodies, limits.

use std::sync::Arc;

use axum::http::StatusCode;
use model::error_kind::grpc_code;
use model::{ErrorKind, Severity, UnixNanos, Value};
use prost::Message as _;

use super::proto::common::{self, any_value};
use super::proto::logs_service::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use super::proto::{logs, resource};
use super::{ExportOutcome, export_logs_protobuf, http_router};
use crate::http_testing::{Answer, gzip, send};
use crate::json_logs::JsonLogsConfig;
use crate::metrics::{IngestMetrics, Protocol};
use crate::normalize::LogConfig;
use crate::sink::testing::RecordingSink;

/// Logs written by opentelemetry-python 1.45.2 (SDK `LoggingHandler` and the OTLP
/// exporter's encoder): a warning inside a span and an info line outside one.
const PYTHON_SDK_BODY: &[u8] = include_bytes!("testdata/python-sdk-1.45.2.logs.pb");

mod decode;
mod traces;
mod traces_decode;

fn test_config() -> JsonLogsConfig {
    JsonLogsConfig {
        log: LogConfig {
            max_line_bytes: 1024,
            max_fields: 20,
            max_depth: 4,
            ..LogConfig::default()
        },
        max_decompressed_bytes: 64 << 10,
    }
}

fn new_metrics() -> IngestMetrics {
    IngestMetrics::register(&prometheus::Registry::new()).expect("metrics")
}

impl Answer {
    /// `(rejected_log_records, error_message)` of a protobuf export response.
    fn partial_success(&self) -> Option<(i64, String)> {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        let response = ExportLogsServiceResponse::decode(&self.body[..]).expect("a response");
        response
            .partial_success
            .map(|p| (p.rejected_log_records, p.error_message))
    }

    fn status_message(&self) -> Status {
        Status::decode(&self.body[..]).expect("a google.rpc.Status")
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON answer")
    }
}

/// `google.rpc.Status`, for reading error bodies.
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn post_with(
    sink: Arc<RecordingSink>,
    metrics: IngestMetrics,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let app = http_router(sink, test_config(), metrics);
    send(app, "/v1/logs", headers, body).await
}

async fn post(sink: &Arc<RecordingSink>, content_type: &str, body: Vec<u8>) -> Answer {
    post_with(
        Arc::clone(sink),
        new_metrics(),
        &[("content-type", content_type)],
        body,
    )
    .await
}

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn any(value: any_value::Value) -> common::AnyValue {
    common::AnyValue { value: Some(value) }
}

fn string(text: &str) -> common::AnyValue {
    any(any_value::Value::StringValue(text.into()))
}

fn kv(key: &str, value: common::AnyValue) -> common::KeyValue {
    common::KeyValue {
        key: key.into(),
        value: Some(value),
    }
}

fn kvlist(values: Vec<common::KeyValue>) -> common::AnyValue {
    any(any_value::Value::KvlistValue(common::KeyValueList {
        values,
    }))
}

fn resource_logs(
    resource_attributes: Vec<common::KeyValue>,
    records: Vec<logs::LogRecord>,
) -> logs::ResourceLogs {
    logs::ResourceLogs {
        resource: Some(resource::Resource {
            attributes: resource_attributes,
            ..Default::default()
        }),
        scope_logs: vec![logs::ScopeLogs {
            scope: Some(common::InstrumentationScope {
                name: "app.payments".into(),
                version: "2.1.0".into(),
                ..Default::default()
            }),
            log_records: records,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

fn request(records: Vec<logs::LogRecord>) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![resource_logs(
            vec![
                kv("service.name", string("payments")),
                kv("host.name", string("ip-10")),
                kv("k8s.namespace.name", string("shop")),
            ],
            records,
        )],
    }
    .encode_to_vec()
}

fn record(body: common::AnyValue) -> logs::LogRecord {
    logs::LogRecord {
        time_unix_nano: 1_795_283_910_123_456_789,
        body: Some(body),
        ..Default::default()
    }
}

const TRACE_ID: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
const SPAN_ID: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];

fn str_field(key: &str, value: &str) -> (String, Value) {
    (key.to_owned(), Value::Str(value.to_owned()))
}

fn resource_and_scope_fields() -> Vec<(String, Value)> {
    vec![
        str_field("scope.name", "app.payments"),
        str_field("scope.version", "2.1.0"),
        str_field("resource.k8s.namespace.name", "shop"),
    ]
}

#[tokio::test]
async fn protobuf_records_of_every_kind_are_normalized() {
    let mut first = record(string("payment declined"));
    first.severity_number = 13;
    first.severity_text = "whatever".into();
    first.trace_id = TRACE_ID.to_vec();
    first.span_id = SPAN_ID.to_vec();
    first.event_name = "payment.declined".into();
    first.attributes = vec![
        kv("http.method", string("POST")),
        kv("retry", any(any_value::Value::BoolValue(true))),
        kv("attempt", any(any_value::Value::IntValue(3))),
        kv("ratio", any(any_value::Value::DoubleValue(0.25))),
        kv(
            "tags",
            any(any_value::Value::ArrayValue(common::ArrayValue {
                values: vec![string("a"), any(any_value::Value::IntValue(1))],
            })),
        ),
        kv(
            "user",
            kvlist(vec![
                kv("id", any(any_value::Value::IntValue(7))),
                kv("geo", kvlist(vec![kv("country", string("NO"))])),
            ]),
        ),
        kv("blob", any(any_value::Value::BytesValue(vec![1, 2, 3]))),
        kv("nothing", common::AnyValue { value: None }),
        kv("request_id", string("req-1")),
    ];
    let mut second = record(kvlist(vec![
        kv("msg", string("db down")),
        kv("db", kvlist(vec![kv("host", string("pg-1"))])),
        kv("http.method", string("GET")),
    ]));
    second.time_unix_nano = 0;
    second.observed_time_unix_nano = 1_795_283_911_000_000_000;
    second.severity_text = "ERROR".into();
    second.attributes = vec![kv("http.method", string("POST"))];
    let mut third = record(any(any_value::Value::IntValue(42)));
    third.time_unix_nano = 0;
    third.trace_id = vec![0; 16];
    third.span_id = vec![0; 8];

    let sink = Arc::new(RecordingSink::default());
    let before = UnixNanos::now();
    let answer = post(&sink, PROTOBUF, request(vec![first, second, third])).await;
    let after = UnixNanos::now();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some(PROTOBUF));
    assert!(
        answer.body.is_empty(),
        "full success: partial_success unset"
    );
    let written = sink.written();
    assert_eq!(written.len(), 3);

    let first = &written[0];
    assert_eq!(first.timestamp, UnixNanos(1_795_283_910_123_456_789));
    assert_eq!(
        first.severity,
        Severity::Warn,
        "the number wins over the text"
    );
    assert_eq!(first.service.as_deref(), Some("payments"));
    assert_eq!(first.host.as_deref(), Some("ip-10"));
    assert_eq!(
        first.trace_id.map(|id| id.to_string()).as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(
        first.span_id.map(|id| id.to_string()).as_deref(),
        Some("00f067aa0ba902b7")
    );
    assert_eq!(first.correlation_id.as_deref(), Some("req-1"));
    assert_eq!(first.message, "payment declined");
    assert_eq!(first.raw, "payment declined");
    let mut expected = vec![
        str_field("http.method", "POST"),
        ("retry".to_owned(), Value::Bool(true)),
        ("attempt".to_owned(), Value::Int(3)),
        ("ratio".to_owned(), Value::Float(0.25)),
        str_field("tags", r#"["a",1]"#),
        ("user.id".to_owned(), Value::Int(7)),
        str_field("user.geo.country", "NO"),
        str_field("blob", "AQID"),
        str_field("request_id", "req-1"),
        str_field("event.name", "payment.declined"),
    ];
    expected.extend(resource_and_scope_fields());
    assert_eq!(first.fields, expected);

    let second = &written[1];
    assert_eq!(
        second.timestamp,
        UnixNanos(1_795_283_911_000_000_000),
        "observed time"
    );
    assert_eq!(second.severity, Severity::Error, "from the text");
    assert_eq!(second.message, "db down");
    let mut expected = vec![
        str_field("http.method", "POST"),
        str_field("db.host", "pg-1"),
        str_field("body.http.method", "GET"),
    ];
    expected.extend(resource_and_scope_fields());
    assert_eq!(second.fields, expected);
    assert_eq!(
        second.raw,
        r#"{"body":{"msg":"db down","db":{"host":"pg-1"},"http.method":"GET"},"attributes":{"http.method":"POST"},"resource":{"service.name":"payments","host.name":"ip-10","k8s.namespace.name":"shop"}}"#
    );

    let third = &written[2];
    assert!(
        (before..=after).contains(&third.timestamp),
        "no time at all: arrival"
    );
    assert_eq!(
        (third.trace_id, third.span_id),
        (None, None),
        "all-zero ids are absent"
    );
    assert_eq!(third.message, "42");
    assert_eq!(third.severity, Severity::Unknown);
    assert_eq!(
        third.raw,
        r#"{"body":42,"resource":{"service.name":"payments","host.name":"ip-10","k8s.namespace.name":"shop"}}"#
    );
}

#[tokio::test]
async fn records_with_bad_ids_are_rejected_alone_in_partial_success() {
    let mut short_trace = record(string("short trace"));
    short_trace.trace_id = vec![1, 2, 3, 4, 5];
    let mut long_span = record(string("long span"));
    long_span.trace_id = TRACE_ID.to_vec();
    long_span.span_id = TRACE_ID.to_vec();
    let body = request(vec![
        record(string("ok 1")),
        short_trace,
        long_span,
        record(string("ok 2")),
    ]);
    let sink = Arc::new(RecordingSink::default());
    let metrics = new_metrics();
    let answer = post_with(
        Arc::clone(&sink),
        metrics.clone(),
        &[("content-type", PROTOBUF)],
        body,
    )
    .await;
    let (rejected, message) = answer.partial_success().expect("partial success");
    assert_eq!(rejected, 2);
    assert_eq!(
        message,
        "2 of 4 log records were rejected: \
         record 2: trace id \"0102030405\" is not valid: it must be 16 bytes long; \
         record 3: span id \"4bf92f3577b34da6a3ce929d0e0e4736\" is not valid: it must be 8 bytes long"
    );
    let messages: Vec<String> = sink.written().into_iter().map(|r| r.message).collect();
    assert_eq!(messages, ["ok 1", "ok 2"]);
    let counters = metrics
        .snapshot()
        .into_iter()
        .find(|c| c.protocol == Protocol::OtlpLogs)
        .expect("counters");
    assert_eq!((counters.items, counters.rejected), (2, 2));
}

#[tokio::test]
async fn sink_rejections_count_in_partial_success() {
    let sink = Arc::new(RecordingSink {
        refuse_message: Some("ancient"),
        ..RecordingSink::default()
    });
    let mut bad = record(string("bad id"));
    bad.span_id = vec![9];
    let body = request(vec![record(string("ancient")), bad, record(string("new"))]);
    let answer = post(&sink, PROTOBUF, body).await;
    let (rejected, message) = answer.partial_success().expect("partial success");
    assert_eq!(rejected, 2);
    assert!(
        message.starts_with("2 of 3 log records were rejected: record 1: the line is older"),
        "{message}"
    );
    assert!(message.contains("; record 2: span id \"09\""), "{message}");
    assert_eq!(sink.written().len(), 1);
}

#[tokio::test]
async fn an_opentelemetry_python_export_is_read() {
    let sink = Arc::new(RecordingSink::default());
    let answer = post(&sink, PROTOBUF, PYTHON_SDK_BODY.to_vec()).await;
    assert_eq!(answer.partial_success(), None);
    let written = sink.written();
    assert_eq!(written.len(), 2);
    let warning = &written[0];
    assert_eq!(warning.timestamp, UnixNanos(1_795_320_868_765_442_560));
    assert_eq!(warning.severity, Severity::Warn);
    assert_eq!(warning.message, "card declined for order o-17");
    assert_eq!(warning.service.as_deref(), Some("checkout"));
    assert_eq!(warning.host.as_deref(), Some("web-1"));
    assert_eq!(warning.correlation_id.as_deref(), Some("r-9"));
    assert_eq!(
        warning.trace_id.map(|id| id.to_string()).as_deref(),
        Some("d6f56b44705e881d73bf451eb2083615")
    );
    assert_eq!(
        warning.span_id.map(|id| id.to_string()).as_deref(),
        Some("b5716d95037dba9f")
    );
    let field = |key: &str| {
        warning
            .fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("amount"), Some(Value::Float(12.5)));
    assert_eq!(field("retries"), Some(Value::Int(3)));
    assert_eq!(field("tags"), Some(Value::Str(r#"["a","b"]"#.into())));
    assert_eq!(
        field("scope.name"),
        Some(Value::Str("checkout.payments".into()))
    );
    assert_eq!(
        field("resource.deployment.environment"),
        Some(Value::Str("prod".into()))
    );
    assert_eq!(
        field("resource.telemetry.sdk.language"),
        Some(Value::Str("python".into()))
    );
    let info = &written[1];
    assert_eq!((info.severity, info.trace_id), (Severity::Info, None));
    assert_eq!(info.message, "no span here");
}

/// As the Collector's `otlphttp` exporter writes JSON (pdata's marshaler): 64-bit
/// integers as strings, lowerCamelCase keys, hex ids, and empty id strings from older
/// versions.
const COLLECTOR_JSON: &str = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}},{"key":"resource-attr","value":{"stringValue":"resource-attr-val-1"}}]},"scopeLogs":[{"scope":{},"logRecords":[{"timeUnixNano":"1581452773000000789","observedTimeUnixNano":"1581452773000000790","severityNumber":9,"severityText":"Info","body":{"stringValue":"This is a log message"},"attributes":[{"key":"app","value":{"stringValue":"server"}},{"key":"instance_num","value":{"intValue":"1"}}],"droppedAttributesCount":1,"flags":1,"traceId":"08040201000000000000000000000000","spanId":"0102040800000000"},{"timeUnixNano":"1581452773000000789","severityNumber":9,"severityText":"Info","body":{"stringValue":"something happened"},"attributes":[{"key":"customer","value":{"stringValue":"acme"}},{"key":"env","value":{"stringValue":"dev"}}],"droppedAttributesCount":1,"traceId":"","spanId":""}],"schemaUrl":"https://opentelemetry.io/schemas/1.24.0"}]}]}"#;

#[tokio::test]
async fn json_as_the_collector_writes_it_is_read() {
    let sink = Arc::new(RecordingSink::default());
    let answer = post(&sink, JSON, COLLECTOR_JSON.as_bytes().to_vec()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some(JSON));
    assert_eq!(answer.json(), serde_json::json!({}));
    let written = sink.written();
    assert_eq!(written.len(), 2);
    let first = &written[0];
    assert_eq!(first.timestamp, UnixNanos(1_581_452_773_000_000_789));
    assert_eq!(first.severity, Severity::Info);
    assert_eq!(first.service.as_deref(), Some("cart"));
    assert_eq!(first.message, "This is a log message");
    assert_eq!(
        first.trace_id.map(|id| id.to_string()).as_deref(),
        Some("08040201000000000000000000000000")
    );
    assert_eq!(
        first.fields,
        [
            str_field("app", "server"),
            ("instance_num".to_owned(), Value::Int(1)),
            str_field("resource.resource-attr", "resource-attr-val-1"),
        ]
    );
    assert_eq!((written[1].trace_id, written[1].span_id), (None, None));
}

#[tokio::test]
async fn json_reads_enum_names_snake_case_and_every_value_form() {
    let body = r#"{
      "resource_logs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"string_value": "svc"}}]},
        "scope_logs": [{
          "log_records": [
            {
              "time_unix_nano": 1795283910000000000,
              "severityNumber": "SEVERITY_NUMBER_ERROR2",
              "traceId": "4BF92F3577B34DA6A3CE929D0E0E4736",
              "span_id": "00F067AA0BA902B7",
              "body": {"kvlist_value": {"values": [
                {"key": "message", "value": {"stringValue": "structured"}},
                {"key": "n", "value": {"intValue": 5}},
                {"key": "big", "value": {"intValue": "-9007199254740993"}},
                {"key": "d", "value": {"doubleValue": "Infinity"}},
                {"key": "raw", "value": {"bytesValue": "aGVsbG8="}},
                {"key": "list", "value": {"arrayValue": {"values": [{"boolValue": false}, {}]}}},
                {"key": "none", "value": null}
              ]}},
              "someFutureField": {"ignored": true}
            },
            {"traceId": "not hex", "body": {"stringValue": "bad id"}},
            {"body": {"intValue": "five"}}
          ]
        }]
      }],
      "futureTopLevel": 1
    }"#;
    let sink = Arc::new(RecordingSink::default());
    let answer = post(
        &sink,
        "application/json; charset=utf-8",
        body.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    assert_eq!(json["partialSuccess"]["rejectedLogRecords"], "2");
    let message = json["partialSuccess"]["errorMessage"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("record 2: \"traceId\" \"not hex\" is not a hex string")
            && message.contains("record 3: \"intValue\" is not valid: \"five\""),
        "{message}"
    );
    let written = sink.written();
    assert_eq!(written.len(), 1);
    let record = &written[0];
    assert_eq!(record.timestamp, UnixNanos(1_795_283_910_000_000_000));
    assert_eq!(record.severity, Severity::Error);
    assert_eq!(record.service.as_deref(), Some("svc"));
    assert_eq!(record.message, "structured");
    assert_eq!(
        record.span_id.map(|id| id.to_string()).as_deref(),
        Some("00f067aa0ba902b7")
    );
    assert_eq!(
        record.fields,
        [
            ("n".to_owned(), Value::Int(5)),
            ("big".to_owned(), Value::Int(-9_007_199_254_740_993)),
            ("d".to_owned(), Value::Float(f64::INFINITY)),
            str_field("raw", "aGVsbG8="),
            str_field("list", "[false,null]"),
        ]
    );
    assert_eq!(
        record.raw,
        r#"{"body":{"message":"structured","n":5,"big":-9007199254740993,"d":"Infinity","raw":"aGVsbG8=","list":[false,null],"none":null},"resource":{"service.name":"svc"}}"#
    );
}

#[tokio::test]
async fn gzip_bodies_are_read_within_their_bound() {
    let sink = Arc::new(RecordingSink::default());
    let metrics = new_metrics();
    let body = gzip(PYTHON_SDK_BODY);
    let n_wire_bytes = body.len() as u64;
    let headers = [("content-type", PROTOBUF), ("content-encoding", "gzip")];
    let answer = post_with(Arc::clone(&sink), metrics.clone(), &headers, body).await;
    assert_eq!(answer.partial_success(), None);
    assert_eq!(sink.written().len(), 2);
    let counters = metrics
        .snapshot()
        .into_iter()
        .find(|c| c.protocol == Protocol::OtlpLogs)
        .expect("counters");
    assert_eq!(
        (counters.items, counters.bytes),
        (2, n_wire_bytes),
        "bytes on the wire"
    );

    let bomb = gzip(&vec![b' '; 1 << 20]);
    let answer = post_with(Arc::clone(&sink), new_metrics(), &headers, bomb.clone()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    let status = answer.status_message();
    assert_eq!(status.code, grpc_code::RESOURCE_EXHAUSTED);
    assert!(status.message.contains("65536 bytes"), "{}", status.message);
    let json_headers = [("content-type", JSON), ("content-encoding", "gzip")];
    let answer = post_with(Arc::clone(&sink), new_metrics(), &json_headers, bomb).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.header("content-type"), Some(JSON));
    assert_eq!(answer.json()["code"], grpc_code::RESOURCE_EXHAUSTED);
}

#[tokio::test]
async fn other_media_types_and_codings_are_415() {
    let sink = Arc::new(RecordingSink::default());
    for content_type in [None, Some("text/plain"), Some("application/x-ndjson")] {
        let headers: Vec<(&str, &str)> = content_type
            .map(|t| ("content-type", t))
            .into_iter()
            .collect();
        let answer = post_with(
            Arc::clone(&sink),
            new_metrics(),
            &headers,
            PYTHON_SDK_BODY.to_vec(),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
        assert_eq!(answer.header("content-type"), Some(PROTOBUF));
        let status = answer.status_message();
        assert_eq!(status.code, grpc_code::INVALID_ARGUMENT);
        assert!(
            status
                .message
                .contains("application/x-protobuf or application/json")
        );
    }
    let headers = [("content-type", JSON), ("content-encoding", "br")];
    let answer = post_with(Arc::clone(&sink), new_metrics(), &headers, b"{}".to_vec()).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        answer.json()["message"]
            .as_str()
            .expect("message")
            .contains("\"br\"")
    );
    assert!(sink.written().is_empty());
}

#[tokio::test]
async fn undecodable_bodies_are_400_with_a_status() {
    let sink = Arc::new(RecordingSink::default());
    let truncated = PYTHON_SDK_BODY[..PYTHON_SDK_BODY.len() - 3].to_vec();
    let answer = post(&sink, PROTOBUF, truncated).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let status = answer.status_message();
    assert_eq!(status.code, grpc_code::INVALID_ARGUMENT);
    assert_eq!(
        status.message,
        "the body is not a valid ExportLogsServiceRequest: \
         malformed protobuf: field runs past the end of its message"
    );
    for body in [
        "{\"resourceLogs\":",
        "[]",
        r#"{"resourceLogs":{"not":"an array"}}"#,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[1]}]}]}"#,
    ] {
        let answer = post(&sink, JSON, body.as_bytes().to_vec()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.header("content-type"), Some(JSON));
        let json = answer.json();
        assert_eq!(json["code"], grpc_code::INVALID_ARGUMENT, "{body}");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert!(sink.written().is_empty());
}

#[tokio::test]
async fn a_store_that_is_behind_or_down_asks_for_a_retry() {
    let cases = [
        (
            ErrorKind::TooManyRequests,
            StatusCode::TOO_MANY_REQUESTS,
            Some("1"),
            grpc_code::RESOURCE_EXHAUSTED,
        ),
        (
            ErrorKind::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("1"),
            grpc_code::UNAVAILABLE,
        ),
        (
            ErrorKind::Internal,
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            grpc_code::INTERNAL,
        ),
    ];
    for (kind, status, retry_after, code) in cases {
        let sink = Arc::new(RecordingSink {
            fail: Some(kind),
            ..RecordingSink::default()
        });
        let answer = post(&sink, PROTOBUF, request(vec![record(string("x"))])).await;
        assert_eq!(answer.status, status, "{kind:?}");
        assert_eq!(answer.header("retry-after"), retry_after, "{kind:?}");
        let message = answer.status_message();
        assert_eq!(message.code, code, "{kind:?}");
        assert_eq!(
            message.message,
            "nothing was written: the indexing queue is full"
        );
    }
}

#[tokio::test]
async fn an_empty_export_succeeds_without_writing() {
    let sink = Arc::new(RecordingSink::default());
    let answer = post(&sink, PROTOBUF, Vec::new()).await;
    assert_eq!((answer.status, answer.body.len()), (StatusCode::OK, 0));
    let answer = post(&sink, JSON, br#"{"resourceLogs":[]}"#.to_vec()).await;
    assert_eq!(answer.json(), serde_json::json!({}));
    assert_eq!(*sink.n_calls.lock().expect("lock"), 0);
}

#[test]
fn the_grpc_entry_point_shares_the_export() {
    let sink = RecordingSink::default();
    let metrics = new_metrics();
    let config = LogConfig::default();
    let mut bad = record(string("bad"));
    bad.trace_id = vec![1];
    let body = request(vec![record(string("good")), bad]);
    let outcome: ExportOutcome =
        export_logs_protobuf(&sink, &config, &metrics, &body).expect("exported");
    assert_eq!((outcome.accepted, outcome.rejected), (1, 1));
    let response = ExportLogsServiceResponse::decode(&outcome.response[..]).expect("response");
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_log_records, 1);
    assert_eq!(partial.error_message, outcome.error_message);

    let err = export_logs_protobuf(&sink, &config, &metrics, b"\x0a\x05ab").expect_err("truncated");
    assert_eq!(err.kind.grpc_code(), grpc_code::INVALID_ARGUMENT);
    let behind = RecordingSink {
        fail: Some(ErrorKind::TooManyRequests),
        ..RecordingSink::default()
    };
    let err = export_logs_protobuf(&behind, &config, &metrics, &body).expect_err("behind");
    assert_eq!(err.kind.grpc_code(), grpc_code::RESOURCE_EXHAUSTED);
}
