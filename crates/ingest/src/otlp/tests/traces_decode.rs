//! The trace decoders alone, protobuf and OTLP/JSON: every request built with the prost
//! types is also written as the Collector writes OTLP/JSON ([`to_json`]) and must decode
//! to the same spans and the same refusals either way.

use model::span::{SpanEvent, SpanLink};
use model::{ErrorKind, Span, SpanId, SpanKind, SpanStatus, TraceId, UnixNanos, Value};
use prost::Message as _;

use super::traces::{
    LINKED_SPAN_ID, LINKED_TRACE_ID, PARENT_ID, int, span, to_json, traces_request,
};
use super::{SPAN_ID, TRACE_ID, any, any_value, common, kv, kvlist, string};
use crate::batch::RequestError;
use crate::otlp::proto::trace;
use crate::otlp::proto::trace_service::ExportTraceServiceRequest;
use crate::otlp::{traces_decode, traces_json};
use crate::spans::{DecodedSpans, TraceLimits, Trimmed};

/// Decodes `request` as protobuf and as OTLP/JSON, checks that both agree, and returns
/// the protobuf reading.
fn decode_both(
    request: &ExportTraceServiceRequest,
    limits: &TraceLimits,
) -> Result<DecodedSpans, RequestError> {
    let protobuf = traces_decode::decode(&request.encode_to_vec(), limits);
    let json = traces_json::decode(to_json(request).to_string().as_bytes(), limits);
    match (&protobuf, &json) {
        (Ok(protobuf), Ok(json)) => {
            assert_eq!(protobuf.spans.records, json.spans.records);
            assert_eq!(protobuf.spans.numbers, json.spans.numbers);
            assert_eq!(protobuf.spans.errors, json.spans.errors);
            assert_eq!(protobuf.trimmed, json.trimmed);
        }
        (Err(protobuf), Err(json)) => assert_eq!(protobuf, json),
        _ => panic!("the encodings disagree: {protobuf:?} / {json:?}"),
    }
    protobuf
}

fn decode_one(request: &ExportTraceServiceRequest) -> Span {
    let decoded = decode_both(request, &TraceLimits::default()).expect("decodes");
    assert_eq!(decoded.spans.errors, [], "no span refused");
    assert_eq!(decoded.spans.records.len(), 1);
    decoded.spans.records[0].clone()
}

/// `(position, reason, message)` of each refused span.
fn refusals(decoded: &DecodedSpans) -> Vec<(usize, &'static str, String)> {
    decoded
        .spans
        .errors
        .iter()
        .map(|(number, err)| (*number, err.reason, err.message.clone()))
        .collect()
}

fn str_value(text: &str) -> Value {
    Value::Str(text.to_owned())
}

fn pair(key: &str, value: Value) -> (String, Value) {
    (key.to_owned(), value)
}

#[test]
fn every_field_is_mapped_in_both_encodings() {
    let mut request = traces_request(vec![trace::Span {
        trace_state: "ot=th:0;rv:1".into(),
        parent_span_id: PARENT_ID.to_vec(),
        flags: 0x301,
        kind: trace::span::SpanKind::Client as i32,
        attributes: vec![
            kv("http.method", string("POST")),
            kv("retry", any(any_value::Value::BoolValue(true))),
            kv("attempt", int(3)),
            kv("ratio", any(any_value::Value::DoubleValue(0.25))),
            kv(
                "tags",
                any(any_value::Value::ArrayValue(common::ArrayValue {
                    values: vec![string("a"), int(1)],
                })),
            ),
            kv("user", kvlist(vec![kv("id", int(7))])),
            kv("blob", any(any_value::Value::BytesValue(vec![1, 2, 3]))),
            kv("nothing", common::AnyValue { value: None }),
        ],
        dropped_attributes_count: 2,
        events: vec![
            trace::span::Event {
                time_unix_nano: 1_795_283_910_100_000_000,
                name: "exception".into(),
                attributes: vec![kv("exception.type", string("ValueError"))],
                dropped_attributes_count: 1,
            },
            trace::span::Event {
                time_unix_nano: 1_795_283_910_200_000_000,
                name: "retry".into(),
                ..Default::default()
            },
        ],
        dropped_events_count: 1,
        links: vec![trace::span::Link {
            trace_id: LINKED_TRACE_ID.to_vec(),
            span_id: LINKED_SPAN_ID.to_vec(),
            trace_state: "vendor=x1".into(),
            attributes: vec![kv("link.kind", string("follows"))],
            dropped_attributes_count: 0,
            flags: 0x100,
        }],
        dropped_links_count: 3,
        status: Some(trace::Status {
            message: "card declined".into(),
            code: trace::status::StatusCode::Error as i32,
        }),
        ..span("charge card")
    }]);
    request.resource_spans[0]
        .resource
        .as_mut()
        .expect("resource")
        .attributes
        .push(kv("k8s", kvlist(vec![kv("pod", string("p-1"))])));

    let decoded = decode_one(&request);
    let expected = Span {
        trace_id: TraceId::from_bytes(&TRACE_ID).expect("id"),
        span_id: SpanId::from_bytes(&SPAN_ID).expect("id"),
        parent_span_id: Some(SpanId::from_bytes(&PARENT_ID).expect("id")),
        service: "checkout".into(),
        name: "charge card".into(),
        kind: SpanKind::Client,
        start: UnixNanos(1_795_283_910_000_000_000),
        end: UnixNanos(1_795_283_910_250_000_000),
        status: SpanStatus::Error {
            message: "card declined".into(),
        },
        trace_state: "ot=th:0;rv:1".into(),
        scope_name: "app.checkout".into(),
        scope_version: "3.0.1".into(),
        resource_attributes: vec![
            pair("k8s.namespace.name", str_value("shop")),
            pair("k8s.pod", str_value("p-1")),
        ],
        attributes: vec![
            pair("http.method", str_value("POST")),
            pair("retry", Value::Bool(true)),
            pair("attempt", Value::Int(3)),
            pair("ratio", Value::Float(0.25)),
            pair("tags", str_value(r#"["a",1]"#)),
            pair("user.id", Value::Int(7)),
            pair("blob", str_value("AQID")),
        ],
        events: vec![
            SpanEvent {
                time: UnixNanos(1_795_283_910_100_000_000),
                name: "exception".into(),
                attributes: vec![pair("exception.type", str_value("ValueError"))],
            },
            SpanEvent {
                time: UnixNanos(1_795_283_910_200_000_000),
                name: "retry".into(),
                attributes: Vec::new(),
            },
        ],
        links: vec![SpanLink {
            trace_id: TraceId::from_bytes(&LINKED_TRACE_ID).expect("id"),
            span_id: SpanId::from_bytes(&LINKED_SPAN_ID).expect("id"),
            trace_state: "vendor=x1".into(),
            attributes: vec![pair("link.kind", str_value("follows"))],
        }],
        dropped_attributes: 2,
        dropped_events: 1,
        dropped_links: 3,
    };
    assert_eq!(decoded, expected);
}

#[test]
fn kinds_statuses_and_missing_resources_map_as_otlp_defines_them() {
    let cases = [
        (0, SpanKind::Unspecified),
        (1, SpanKind::Internal),
        (2, SpanKind::Server),
        (3, SpanKind::Client),
        (4, SpanKind::Producer),
        (5, SpanKind::Consumer),
        (42, SpanKind::Unspecified),
    ];
    for (number, kind) in cases {
        let request = traces_request(vec![trace::Span {
            kind: number,
            ..span("k")
        }]);
        assert_eq!(decode_one(&request).kind, kind, "kind {number}");
    }
    let statuses = [
        (None, SpanStatus::Unset),
        (Some((1, "ignored")), SpanStatus::Ok),
        (Some((0, "ignored")), SpanStatus::Unset),
        (Some((7, "unknown code")), SpanStatus::Unset),
    ];
    for (status, expected) in statuses {
        let request = traces_request(vec![trace::Span {
            status: status.map(|(code, message)| trace::Status {
                message: message.into(),
                code,
            }),
            ..span("s")
        }]);
        assert_eq!(decode_one(&request).status, expected, "{status:?}");
    }
    let mut request = traces_request(vec![span("no resource")]);
    request.resource_spans[0].resource = None;
    request.resource_spans[0].scope_spans[0].scope = None;
    let decoded = decode_one(&request);
    assert_eq!(decoded.service, "unknown_service");
    assert_eq!(decoded.resource_attributes, []);
    assert_eq!(
        (decoded.scope_name.as_str(), decoded.scope_version.as_str()),
        ("", "")
    );
}

#[test]
fn ids_of_the_wrong_length_or_all_zero_refuse_their_span_alone() {
    let with = |edit: fn(&mut trace::Span)| {
        let mut span = span("bad");
        edit(&mut span);
        span
    };
    let request = traces_request(vec![
        span("ok"),
        with(|s| s.trace_id = TRACE_ID[..15].to_vec()),
        with(|s| s.span_id = vec![1; 9]),
        with(|s| s.trace_id = vec![0; 16]),
        with(|s| s.span_id = vec![0; 8]),
        with(|s| s.trace_id = Vec::new()),
        with(|s| s.parent_span_id = vec![1, 2, 3, 4]),
        with(|s| s.parent_span_id = vec![0; 8]),
        with(|s| {
            s.links = vec![trace::span::Link {
                trace_id: LINKED_TRACE_ID.to_vec(),
                span_id: vec![0; 8],
                ..Default::default()
            }];
        }),
    ]);
    let decoded = decode_both(&request, &TraceLimits::default()).expect("decodes");
    assert_eq!(
        refusals(&decoded),
        [
            (
                2,
                "invalid_trace_id",
                "trace id \"4bf92f3577b34da6a3ce929d0e0e47\" is not valid: it must be 16 bytes long"
                    .to_owned()
            ),
            (
                3,
                "invalid_span_id",
                "span id \"010101010101010101\" is not valid: it must be 8 bytes long".to_owned()
            ),
            (
                4,
                "invalid_trace_id",
                "trace id \"00000000000000000000000000000000\" is not valid: an all-zero id is invalid"
                    .to_owned()
            ),
            (
                5,
                "invalid_span_id",
                "span id \"0000000000000000\" is not valid: an all-zero id is invalid".to_owned()
            ),
            (
                6,
                "invalid_trace_id",
                "trace id \"\" is not valid: it must be 16 bytes long".to_owned()
            ),
            (
                7,
                "invalid_parent_span_id",
                "parent span id \"01020304\" is not valid: it must be 8 bytes long \
                 (span id 00f067aa0ba902b7)"
                    .to_owned()
            ),
            (
                9,
                "invalid_link",
                "link 1: span id \"0000000000000000\" is not valid: an all-zero id is invalid \
                 (span id 00f067aa0ba902b7)"
                    .to_owned()
            ),
        ]
    );
    assert_eq!(decoded.spans.numbers, [1, 8]);
    assert_eq!(
        decoded.spans.records[1].parent_span_id, None,
        "eight zero bytes are no parent"
    );
}

#[test]
fn spans_that_end_before_they_start_or_after_2262_are_refused() {
    let request = traces_request(vec![
        trace::Span {
            end_time_unix_nano: 1_795_283_909_999_999_999,
            ..span("backwards")
        },
        trace::Span {
            end_time_unix_nano: 1_795_283_910_000_000_000,
            ..span("instant")
        },
        trace::Span {
            end_time_unix_nano: u64::MAX,
            ..span("far future")
        },
        trace::Span {
            events: vec![trace::span::Event {
                time_unix_nano: 1 << 63,
                ..Default::default()
            }],
            ..span("late event")
        },
    ]);
    let decoded = decode_both(&request, &TraceLimits::default()).expect("decodes");
    assert_eq!(
        refusals(&decoded),
        [
            (
                1,
                "end_before_start",
                "the end time 1795283909999999999 ns is before the start time \
                 1795283910000000000 ns (span id 00f067aa0ba902b7)"
                    .to_owned()
            ),
            (
                3,
                "bad_timestamp",
                "the end time 18446744073709551615 ns is after the year 2262 \
                 (span id 00f067aa0ba902b7)"
                    .to_owned()
            ),
            (
                4,
                "bad_timestamp",
                "the event time 9223372036854775808 ns is after the year 2262 \
                 (span id 00f067aa0ba902b7)"
                    .to_owned()
            ),
        ]
    );
    assert_eq!(decoded.spans.records[0].duration_nanos(), 0);
}

#[test]
fn limits_trim_what_a_span_carries_and_count_it() {
    let limits = TraceLimits {
        max_attributes_per_span: 2,
        max_events_per_span: 1,
        max_links_per_span: 1,
        max_attribute_value_bytes: 8,
        ..TraceLimits::default()
    };
    let event = |name: &str| trace::span::Event {
        time_unix_nano: 1_795_283_910_100_000_000,
        name: name.into(),
        attributes: vec![kv("exception.message", string("twelve bytes"))],
        dropped_attributes_count: 0,
    };
    let link = trace::span::Link {
        trace_id: LINKED_TRACE_ID.to_vec(),
        span_id: LINKED_SPAN_ID.to_vec(),
        ..Default::default()
    };
    let mut request = traces_request(vec![trace::Span {
        attributes: vec![
            kv("db.statement", string("SELECT * FROM orders")),
            kv("db.rows", int(3)),
            kv("dropped.1", int(1)),
            kv("dropped.2", int(2)),
        ],
        dropped_attributes_count: 5,
        events: vec![event("first"), event("second"), event("third")],
        links: vec![link.clone(), link],
        ..span("big")
    }]);
    request.resource_spans[0]
        .resource
        .as_mut()
        .expect("resource")
        .attributes
        .push(kv("host.name", string("a-very-long-host-name")));
    let decoded = decode_both(&request, &limits).expect("decodes");
    let span = &decoded.spans.records[0];
    assert_eq!(
        span.attributes,
        [
            pair("db.statement", str_value("SELECT *…[truncated 12 bytes]")),
            pair("db.rows", Value::Int(3)),
        ]
    );
    assert_eq!(
        span.resource_attributes,
        [
            pair("k8s.namespace.name", str_value("shop")),
            pair("host.name", str_value("a-very-l…[truncated 13 bytes]")),
        ]
    );
    assert_eq!(span.events.len(), 1);
    assert_eq!(
        span.events[0].attributes,
        [pair(
            "exception.message",
            str_value("twelve b…[truncated 4 bytes]")
        )]
    );
    assert_eq!(span.links.len(), 1);
    assert_eq!(
        (
            span.dropped_attributes,
            span.dropped_events,
            span.dropped_links
        ),
        (5 + 2, 2, 1),
        "the sender's counts plus the limits'"
    );
    assert_eq!(
        decoded.trimmed,
        Trimmed {
            truncated_values: 3,
            too_deep_attributes: 0,
            dropped_attributes: 2,
            dropped_events: 2,
            dropped_links: 1,
        }
    );
}

#[test]
fn too_many_spans_refuse_the_whole_request() {
    let limits = TraceLimits {
        max_spans_per_request: 3,
        ..TraceLimits::default()
    };
    let mut request = traces_request(vec![span("1"), span("2")]);
    let scope = request.resource_spans[0].scope_spans[0].clone();
    request.resource_spans[0].scope_spans.push(scope);
    let err = decode_both(&request, &limits).expect_err("four spans");
    assert_eq!(err.kind, ErrorKind::PayloadTooLarge);
    assert_eq!(err.reason, "too_many_spans");
    assert_eq!(
        err.message,
        "the request has more than 3 spans (max_spans_per_request); send smaller batches"
    );
    request.resource_spans[0].scope_spans[1].spans.pop();
    let decoded = decode_both(&request, &limits).expect("three spans");
    assert_eq!(decoded.spans.numbers, [1, 2, 3]);
}

#[test]
fn attributes_nested_too_deep_are_dropped_and_counted() {
    let mut deep = string("leaf");
    for _ in 0..40 {
        deep = kvlist(vec![kv("a", deep)]);
    }
    let request = traces_request(vec![trace::Span {
        attributes: vec![kv("deep", deep), kv("ok", int(1))],
        ..span("deep")
    }]);
    let decoded =
        traces_decode::decode(&request.encode_to_vec(), &TraceLimits::default()).expect("decodes");
    let span = &decoded.spans.records[0];
    assert_eq!(span.attributes, [pair("ok", Value::Int(1))]);
    assert_eq!(span.dropped_attributes, 1);
    assert_eq!(decoded.trimmed.too_deep_attributes, 1);
}

/// Every prefix of real bodies: the decoder never panics, and whenever prost reads the
/// prefix, the zero-copy decoder reads it too, finding as many spans.
#[test]
fn truncated_bodies_never_panic_and_agree_with_prost() {
    let limits = TraceLimits::default();
    for body in [
        super::traces::PYTHON_SDK_TRACES.to_vec(),
        traces_request(vec![span("a"), span("b")]).encode_to_vec(),
    ] {
        for cut in 0..=body.len() {
            let prefix = &body[..cut];
            let ours = traces_decode::decode(prefix, &limits);
            if let Ok(theirs) = ExportTraceServiceRequest::decode(prefix) {
                let n_spans: usize = theirs
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                let ours = ours.unwrap_or_else(|err| panic!("cut {cut}: {err:?}"));
                assert_eq!(ours.spans.n_records(), n_spans, "cut {cut}");
            }
        }
    }
}

/// OTLP/JSON as the JavaScript SDK's `exporter-trace-otlp-http` writes it: enum kinds as
/// numbers, times as decimal strings, empty lists, and no `parentSpanId` for a root.
const JS_SDK_JSON: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web-frontend"}},{"key":"telemetry.sdk.language","value":{"stringValue":"webjs"}},{"key":"telemetry.sdk.name","value":{"stringValue":"opentelemetry"}},{"key":"telemetry.sdk.version","value":{"stringValue":"1.25.1"}}],"droppedAttributesCount":0},"scopeSpans":[{"scope":{"name":"@opentelemetry/instrumentation-fetch","version":"0.52.1"},"spans":[{"traceId":"d4cda95b652f4a1592b449d5929fda1b","spanId":"6e0c63257de34c92","name":"HTTP GET","kind":3,"startTimeUnixNano":"1718000000123456789","endTimeUnixNano":"1718000000623456789","attributes":[{"key":"http.method","value":{"stringValue":"GET"}},{"key":"http.status_code","value":{"intValue":200}},{"key":"http.response_content_length","value":{"intValue":1234}}],"droppedAttributesCount":0,"events":[{"attributes":[],"name":"fetchStart","timeUnixNano":"1718000000123556789","droppedAttributesCount":0}],"droppedEventsCount":0,"status":{"code":0},"links":[],"droppedLinksCount":0}]}]}]}"#;

#[test]
fn json_as_the_javascript_sdk_writes_it_is_read() {
    let decoded =
        traces_json::decode(JS_SDK_JSON.as_bytes(), &TraceLimits::default()).expect("decodes");
    assert_eq!(decoded.spans.errors, []);
    let span = &decoded.spans.records[0];
    assert_eq!(span.service, "web-frontend");
    assert_eq!(
        span.trace_id.to_string(),
        "d4cda95b652f4a1592b449d5929fda1b"
    );
    assert_eq!(span.parent_span_id, None);
    assert_eq!(span.kind, SpanKind::Client);
    assert_eq!(span.start, UnixNanos(1_718_000_000_123_456_789));
    assert_eq!(span.duration_nanos(), 500_000_000);
    assert_eq!(span.status, SpanStatus::Unset);
    assert_eq!(span.scope_name, "@opentelemetry/instrumentation-fetch");
    assert_eq!(
        span.attributes[1],
        pair("http.status_code", Value::Int(200))
    );
    assert_eq!(span.events[0].name, "fetchStart");
}

#[test]
fn json_enum_names_and_bad_values_refuse_single_spans() {
    let spans = [
        r#"{"kind":"SPAN_KIND_PRODUCER","status":{"code":"STATUS_CODE_ERROR","message":"m"}}"#,
        r#"{"kind":"SPAN_KIND_SERVERLESS"}"#,
        r#"{"status":{"code":"ERROR"}}"#,
        r#"{"traceId":"S/kvNXezTaajzpKdDg5HNg=="}"#,
        r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e47"}"#,
        r#"{"spanId":7}"#,
        r#"{"startTimeUnixNano":"soon"}"#,
        r#"{"events":{"name":"not a list"}}"#,
        r#"{"links":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00"}]}"#,
    ];
    let body = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        spans
            .iter()
            .map(|fields| {
                let mut span: serde_json::Value = serde_json::from_str(fields).expect("json");
                let defaults = serde_json::json!({
                    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "spanId": "00f067aa0ba902b7",
                    "startTimeUnixNano": "1795283910000000000",
                    "endTimeUnixNano": "1795283910000000001",
                });
                for (key, value) in defaults.as_object().expect("object") {
                    span.as_object_mut()
                        .expect("object")
                        .entry(key.clone())
                        .or_insert(value.clone());
                }
                span.to_string()
            })
            .collect::<Vec<_>>()
            .join(",")
    );
    let decoded = traces_json::decode(body.as_bytes(), &TraceLimits::default()).expect("decodes");
    assert_eq!(decoded.spans.numbers, [1]);
    let span = &decoded.spans.records[0];
    assert_eq!(span.kind, SpanKind::Producer);
    assert_eq!(
        span.status,
        SpanStatus::Error {
            message: "m".into()
        }
    );
    let refused: Vec<(usize, &str, String)> = refusals(&decoded);
    let expected = [
        (
            2,
            "invalid_value",
            r#""kind" is not a SpanKind number or name: "SPAN_KIND_SERVERLESS""#,
        ),
        (
            3,
            "invalid_value",
            r#""code" is not a StatusCode number or name: "ERROR""#,
        ),
        (
            4,
            "invalid_trace_id",
            r#""traceId" "S/kvNXezTaajzpKdDg5HNg==" is not a hex string"#,
        ),
        (
            5,
            "invalid_trace_id",
            r#"trace id "4bf92f3577b34da6a3ce929d0e0e47" is not valid: it must be 16 bytes long"#,
        ),
        (6, "invalid_value", r#""spanId" is not a string: 7"#),
        (
            7,
            "invalid_value",
            r#""startTimeUnixNano" is not an unsigned 64-bit integer: "soon""#,
        ),
        (
            8,
            "invalid_json",
            r#""events" is not an array: {"name":"not a list"}"#,
        ),
        (
            9,
            "invalid_link",
            r#"link 1: span id "00" is not valid: it must be 8 bytes long (span id 00f067aa0ba902b7)"#,
        ),
    ];
    let expected: Vec<(usize, &str, String)> = expected
        .into_iter()
        .map(|(number, reason, message)| (number, reason, message.to_owned()))
        .collect();
    assert_eq!(refused, expected);
}

#[test]
fn json_that_names_no_span_is_refused_whole() {
    let bodies = [
        ("{\"resourceSpans\":", "the body is not valid JSON: "),
        ("[]", "the body is not a JSON object"),
        (
            r#"{"resourceSpans":{"not":"an array"}}"#,
            r#""resourceSpans" is not an array"#,
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[1]}]}]}"#,
            r#"an element of "spans" is not an object: 1"#,
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":"x"}]}"#,
            r#""scopeSpans" is not an array"#,
        ),
    ];
    for (body, message) in bodies {
        let err = traces_json::decode(body.as_bytes(), &TraceLimits::default()).expect_err(body);
        assert_eq!(err.kind, ErrorKind::BadData, "{body}");
        assert!(err.message.starts_with(message), "{body}: {}", err.message);
    }
    let bad_resource = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"intValue":"x"}}]},"scopeSpans":[{"spans":[{},{}]}]}]}"#;
    let decoded =
        traces_json::decode(bad_resource.as_bytes(), &TraceLimits::default()).expect("decodes");
    assert_eq!(
        refusals(&decoded),
        [1, 2].map(|number| (
            number,
            "invalid_value",
            r#"attribute "k": "intValue" is not valid: "x""#.to_owned()
        ))
    );
}
