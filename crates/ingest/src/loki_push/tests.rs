//! Loki push through the router against a recording sink (protobuf and JSON bodies,
//! normalization, partial refusals, status codes), and label set parsing. The decoder
//! against the prost reference types is in `decode/tests.rs`.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::Arc;

use axum::http::StatusCode;
use model::{ErrorKind, LogRecord, Severity, UnixNanos, Value};
use prost::Message as _;

use super::labels;
use super::proto::google::protobuf::Timestamp as ProtoTimestamp;
use super::proto::logproto;
use super::router;
use crate::http_testing::send;
use crate::json_logs::JsonLogsConfig;
use crate::metrics::{IngestMetrics, Protocol};
use crate::normalize::LogConfig;
use crate::sink::LogSink;
use crate::sink::testing::RecordingSink;

// 2026-11-21T17:58:30.123456789Z
pub(super) const SECONDS: i64 = 1_795_283_910;
pub(super) const NANOS: i32 = 123_456_789;
pub(super) const INSTANT: UnixNanos = UnixNanos(1_795_283_910_123_456_789);

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    text: String,
    retry_after: Option<String>,
}

async fn post_to(
    path: &str,
    sink: &Arc<RecordingSink>,
    headers: Headers<'_>,
    body: Vec<u8>,
) -> (Answer, IngestMetrics) {
    let registry = prometheus::Registry::new();
    let metrics = IngestMetrics::register(&registry).expect("metrics");
    let config = JsonLogsConfig {
        log: LogConfig {
            max_line_bytes: 1024,
            max_fields: 20,
            ..LogConfig::default()
        },
        max_decompressed_bytes: 64 << 10,
    };
    let sink: Arc<dyn LogSink> = Arc::clone(sink) as Arc<dyn LogSink>;
    let app = router(sink, config, metrics.clone());
    let answer = send(app, path, headers, body).await;
    let retry_after = answer.header("retry-after").map(str::to_owned);
    let (status, bytes) = (answer.status, answer.body);
    let answer = Answer {
        status,
        text: String::from_utf8(bytes.to_vec()).expect("the answer is text"),
        retry_after,
    };
    (answer, metrics)
}

async fn post(
    sink: &Arc<RecordingSink>,
    headers: Headers<'_>,
    body: Vec<u8>,
) -> (Answer, IngestMetrics) {
    post_to("/loki/api/v1/push", sink, headers, body).await
}

/// Request headers, name and value.
type Headers<'a> = &'a [(&'a str, &'a str)];

const PROTOBUF: [(&str, &str); 1] = [("content-type", "application/x-protobuf")];
const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

pub(super) fn entry(line: &str, metadata: &[(&str, &str)]) -> logproto::EntryAdapter {
    logproto::EntryAdapter {
        timestamp: Some(ProtoTimestamp {
            seconds: SECONDS,
            nanos: NANOS,
        }),
        line: line.into(),
        structured_metadata: metadata
            .iter()
            .map(|(name, value)| logproto::LabelPairAdapter {
                name: (*name).into(),
                value: (*value).into(),
            })
            .collect(),
    }
}

pub(super) fn stream(
    labels: &str,
    entries: Vec<logproto::EntryAdapter>,
) -> logproto::StreamAdapter {
    logproto::StreamAdapter {
        labels: labels.into(),
        entries,
        hash: 0x1234_5678_9abc,
    }
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).expect("snappy")
}

fn push_body(streams: Vec<logproto::StreamAdapter>) -> Vec<u8> {
    snappy(&logproto::PushRequest { streams }.encode_to_vec())
}

fn field(record: &LogRecord, key: &str) -> Option<Value> {
    record
        .fields
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.clone())
}

fn text(value: &str) -> Option<Value> {
    Some(Value::Str(value.to_owned()))
}

fn counters(metrics: &IngestMetrics) -> crate::metrics::ProtocolCounters {
    metrics
        .snapshot()
        .into_iter()
        .find(|c| c.protocol == Protocol::LokiPush)
        .expect("loki counters")
}

#[tokio::test]
async fn a_promtail_style_protobuf_push_is_written() {
    let sink = Arc::new(RecordingSink::default());
    let body = push_body(vec![
        stream(
            r#"{app="api", env="prod", host="web-1", level="warn"}"#,
            vec![
                entry("GET /health 200", &[]),
                entry(
                    "slow query",
                    &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")],
                ),
            ],
        ),
        stream(
            r#"{job="varlogs",filename="/var/log/syslog"}"#,
            vec![entry("kernel: boot", &[])],
        ),
    ]);
    let n_bytes = body.len() as u64;
    let (answer, metrics) = post(&sink, &PROTOBUF, body).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    let written = sink.written();
    assert_eq!(written.len(), 3);
    let first = &written[0];
    assert_eq!(
        first.timestamp, INSTANT,
        "the entry's timestamp is authoritative"
    );
    assert_eq!(first.raw, "GET /health 200");
    assert_eq!(first.message, "GET /health 200");
    assert_eq!(first.service.as_deref(), Some("api"));
    assert_eq!(first.host.as_deref(), Some("web-1"));
    assert_eq!(first.severity, Severity::Warn);
    assert_eq!(field(first, "env"), text("prod"), "labels are fields");
    assert_eq!(field(first, "app"), text("api"));
    assert_eq!(
        written[1].trace_id.map(|id| id.to_string()).as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        "a trace id in structured metadata"
    );
    assert_eq!(
        field(&written[1], "trace_id"),
        text("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(written[2].service.as_deref(), Some("varlogs"));
    assert_eq!(field(&written[2], "filename"), text("/var/log/syslog"));
    let counters = counters(&metrics);
    assert_eq!((counters.items, counters.bytes), (3, n_bytes));
    // Senders that omit Content-Type, or name the snappy framing as the coding, and the
    // legacy route all reach the same decoder.
    let body = push_body(vec![stream("{}", vec![entry("bare", &[])])]);
    let (answer, _) = post(&sink, &[], body.clone()).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    let snappy_coded = [
        ("content-type", "application/x-protobuf"),
        ("content-encoding", "snappy"),
    ];
    let (answer, _) = post(&sink, &snappy_coded, body.clone()).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    let (answer, _) = post_to("/api/prom/push", &sink, &PROTOBUF, body).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    assert_eq!(sink.written().len(), 6);
}

#[tokio::test]
async fn json_pushes_with_and_without_structured_metadata() {
    let sink = Arc::new(RecordingSink::default());
    let body = serde_json::json!({"streams": [
        {"stream": {"service_name": "checkout", "env": "prod", "app": "shop"},
         "values": [
            ["1795283910123456789", "plain text"],
            ["1795283910123456790", "with metadata", {"user": "u-42", "env": "staging"}],
         ]},
        {"stream": {"container": "nginx", "detected_level": "error"},
         "values": [["1795283910000000000", "\"GET / HTTP/1.1\" 502"]]},
    ]});
    let (answer, _) = post(&sink, &JSON, serde_json::to_vec(&body).expect("json")).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    let written = sink.written();
    assert_eq!(written.len(), 3);
    assert_eq!(written[0].timestamp, INSTANT);
    assert_eq!(
        written[0].service.as_deref(),
        Some("checkout"),
        "service_name wins over app"
    );
    assert_eq!(field(&written[0], "app"), text("shop"));
    assert_eq!(field(&written[0], "user"), None);
    assert_eq!(written[1].timestamp, UnixNanos(INSTANT.0 + 1));
    assert_eq!(field(&written[1], "user"), text("u-42"));
    assert_eq!(
        field(&written[1], "env"),
        text("staging"),
        "structured metadata is more specific than the stream's labels"
    );
    assert_eq!(written[2].service.as_deref(), Some("nginx"));
    assert_eq!(written[2].severity, Severity::Error);
    assert_eq!(written[2].raw, "\"GET / HTTP/1.1\" 502");
    // Loki's legacy shape, on the legacy route.
    let legacy = br#"{"streams":[{"labels":"{app=\"old\"}","entries":[
        {"ts":"2026-11-21T17:58:30.123456789Z","line":"legacy line","structuredMetadata":{"k":"v"}}]}]}"#;
    let (answer, _) = post_to("/api/prom/push", &sink, &JSON, legacy.to_vec()).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    let legacy_record = sink.written().pop().expect("written");
    assert_eq!(
        (legacy_record.timestamp, legacy_record.raw.as_str()),
        (INSTANT, "legacy line")
    );
    assert_eq!(legacy_record.service.as_deref(), Some("old"));
    assert_eq!(field(&legacy_record, "k"), text("v"));
}

#[tokio::test]
async fn gzip_json_is_read_within_the_bound() {
    let sink = Arc::new(RecordingSink::default());
    let values: Vec<serde_json::Value> = (0..50)
        .map(|i| serde_json::json!([format!("{}", INSTANT.0 + i), format!("line {i}")]))
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({"streams": [
        {"stream": {"app": "zipped"}, "values": values}]}))
    .expect("json");
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&body).expect("gzip");
    let gzipped = gzip.finish().expect("gzip");
    let headers = [
        ("content-type", "application/json; charset=utf-8"),
        ("content-encoding", "gzip"),
    ];
    let (answer, _) = post(&sink, &headers, gzipped).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    assert_eq!(sink.written().len(), 50);
    assert_eq!(sink.written()[49].raw, "line 49");
    // A gzip bomb stops at logs.max_decompressed_size (64 KiB here).
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    bomb.write_all(&vec![b' '; 1 << 20]).expect("gzip");
    let (answer, _) = post(&sink, &headers, bomb.finish().expect("gzip")).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn json_lines_are_normalized_and_keep_their_own_fields() {
    let sink = Arc::new(RecordingSink::default());
    let lines = [
        // trace id and message from the line; service from the labels.
        r#"{"msg":"card declined","trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736","amount":12.5}"#,
        // The line's own service, level and env win over the labels'.
        r#"{"message":"own","service":"billing","level":"debug","env":"canary"}"#,
        // A timestamp the line writes in a form normalize cannot read stays a field.
        r#"{"time":"21/Nov/2026:17:58:30 +0000","msg":"apache time"}"#,
        // A line's readable timestamp is replaced by the entry's.
        r#"{"ts":"2020-01-01T00:00:00Z","msg":"old ts"}"#,
        // JSON that is not an object, or not JSON, is text.
        r#"[1,2,3]"#,
        r#"{"unterminated": "#,
    ];
    let entries = lines.iter().map(|line| entry(line, &[])).collect();
    let body = push_body(vec![stream(
        r#"{app="payments", env="prod", level="info", instance="10.0.0.7:9100"}"#,
        entries,
    )]);
    let (answer, _) = post(&sink, &PROTOBUF, body).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
    let written = sink.written();
    assert_eq!(written.len(), lines.len());
    for (record, line) in written.iter().zip(lines) {
        assert_eq!(record.raw, line, "the raw line is kept exactly");
        assert_eq!(record.timestamp, INSTANT, "{line}");
        assert_eq!(record.host.as_deref(), Some("10.0.0.7:9100"), "{line}");
    }
    let declined = &written[0];
    assert_eq!(declined.message, "card declined");
    assert_eq!(
        declined.trace_id.map(|id| id.to_string()).as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(declined.service.as_deref(), Some("payments"));
    assert_eq!(declined.severity, Severity::Info, "the level label applies");
    assert_eq!(field(declined, "amount"), Some(Value::Float(12.5)));
    assert_eq!(field(declined, "env"), text("prod"));
    let own = &written[1];
    assert_eq!(
        (own.service.as_deref(), own.severity),
        (Some("billing"), Severity::Debug)
    );
    assert_eq!(field(own, "env"), text("canary"), "the line's field wins");
    assert_eq!(
        own.fields.iter().filter(|(name, _)| name == "env").count(),
        1
    );
    assert_eq!(
        field(own, "level"),
        None,
        "a label is not added under a name the line has"
    );
    assert_eq!(
        field(&written[2], "time"),
        text("21/Nov/2026:17:58:30 +0000")
    );
    assert_eq!(written[2].message, "apache time");
    assert_eq!(written[3].message, "old ts");
    assert_eq!(written[4].message, "[1,2,3]");
    assert_eq!(written[5].message, r#"{"unterminated": "#);
}

/// Replaces `marker` in `bytes` with as many bytes that are not UTF-8 (prost's strings
/// cannot hold them).
fn corrupt(bytes: &mut [u8], marker: &[u8]) {
    let at = bytes
        .windows(marker.len())
        .position(|window| window == marker)
        .expect("marker present");
    bytes[at..at + marker.len()].fill(0xff);
}

#[tokio::test]
async fn bad_entries_and_streams_are_refused_and_their_neighbours_written() {
    let sink = Arc::new(RecordingSink {
        refuse_message: Some("ancient"),
        ..RecordingSink::default()
    });
    let mut out_of_range = entry("nanos out of range", &[]);
    out_of_range.timestamp = Some(ProtoTimestamp {
        seconds: SECONDS,
        nanos: -1,
    });
    let many_fields: String = format!(
        "{{{}}}",
        (0..20)
            .map(|i| format!("\"f{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let request = logproto::PushRequest {
        streams: vec![
            stream(
                r#"{app="api"}"#,
                vec![
                    entry("ok 1", &[]),
                    entry(&"x".repeat(2000), &[]),
                    entry("INVALID-UTF8", &[]),
                    entry("ancient", &[]),
                    entry(&many_fields, &[]),
                    out_of_range,
                    entry("ok 2", &[]),
                ],
            ),
            stream(
                r#"{app="api", app="web"}"#,
                vec![entry("dup 1", &[]), entry("dup 2", &[])],
            ),
            stream(r#"{app="x"} garbage"#, vec![entry("garbage", &[])]),
            stream(r#"{app="tail"}"#, vec![entry("ok 3", &[])]),
            // No entries: nothing is lost, so its labels are not judged.
            stream("not even a label set", Vec::new()),
        ],
    };
    let mut raw = request.encode_to_vec();
    corrupt(&mut raw, b"INVALID-UTF8");
    let (answer, metrics) = post(&sink, &PROTOBUF, snappy(&raw)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let messages: Vec<String> = sink.written().into_iter().map(|r| r.message).collect();
    assert_eq!(messages, ["ok 1", "ok 2", "ok 3"]);
    let lines: Vec<&str> = answer.text.lines().collect();
    assert_eq!(
        lines[0],
        "8 of 11 entries were rejected; the other 3 were written (do not send them again)"
    );
    let expected = [
        "stream 1 {app=\"api\"}, entry 2: the line is 2000 bytes",
        "stream 1 {app=\"api\"}, entry 3: the line is not valid UTF-8",
        "stream 1 {app=\"api\"}, entry 4: the line is older than logs.retention",
        "stream 1 {app=\"api\"}, entry 5: the line, its labels and structured metadata have more than 20 fields",
        "stream 1 {app=\"api\"}, entry 6: the timestamp's nanos -1 are outside",
        "stream 2 {app=\"api\", app=\"web\"} (2 entries): label name \"app\" appears twice",
        "stream 3 {app=\"x\"} garbage (1 entries): the label set",
    ];
    assert_eq!(lines.len(), 1 + expected.len(), "{}", answer.text);
    for (line, prefix) in lines[1..].iter().zip(expected) {
        assert!(
            line.starts_with(prefix),
            "{line:?} should start with {prefix:?}"
        );
    }
    assert!(
        lines[7].contains("unexpected text after the closing \"}\""),
        "{}",
        lines[7]
    );
    let counters = counters(&metrics);
    assert_eq!((counters.items, counters.rejected), (3, 8));
}

#[tokio::test]
async fn invalid_utf8_in_a_json_line_refuses_that_entry_only() {
    let sink = Arc::new(RecordingSink::default());
    let mut body = br#"{"streams":[{"stream":{"app":"a"},"values":[["1","good"],["2","bad BADBYTES"],["3","lone \ud800 surrogate"]]}]}"#.to_vec();
    corrupt(&mut body, b"BADBYTES");
    let (answer, _) = post(&sink, &JSON, body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(
        answer.text.starts_with("2 of 3 entries were rejected"),
        "{}",
        answer.text
    );
    assert!(
        answer.text.contains("entry 2: the line is not valid UTF-8"),
        "{}",
        answer.text
    );
    assert!(
        answer.text.contains("entry 3: the line is not valid UTF-8"),
        "{}",
        answer.text
    );
    assert_eq!(sink.written()[0].raw, "good");
}

#[tokio::test]
async fn unreadable_bodies_are_refused_naming_the_problem() {
    let sink = Arc::new(RecordingSink::default());
    let cases: [(Headers<'_>, Vec<u8>, &str); 6] = [
        (
            &PROTOBUF,
            b"not snappy at all".to_vec(),
            "not a valid snappy block",
        ),
        (
            &PROTOBUF,
            snappy(&[0x0a, 0x05, 0x0a]),
            "not a Loki PushRequest: malformed protobuf",
        ),
        (&PROTOBUF, Vec::new(), "not a valid snappy block"),
        (
            &JSON,
            b"{\"streams\": [".to_vec(),
            "not a Loki push request in JSON",
        ),
        (
            &JSON,
            br#"{"streams":[{"values":[[1.5,"x"]]}]}"#.to_vec(),
            "a timestamp in Unix nanoseconds",
        ),
        (
            &JSON,
            br#"{"streams":[{"values":[["1","x",{},4]]}]}"#.to_vec(),
            "invalid length 4",
        ),
    ];
    for (headers, body, expected) in cases {
        let (answer, _) = post(&sink, headers, body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{expected}");
        assert!(
            answer.text.contains(expected),
            "{:?} lacks {expected:?}",
            answer.text
        );
    }
    let bad_timestamp = br#"{"streams":[{"values":[["soon","x"],["7","y"]]}]}"#.to_vec();
    let (answer, _) = post(&sink, &JSON, bad_timestamp).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer
            .text
            .contains("entry 1: the timestamp \"soon\" is not Unix nanoseconds"),
        "{}",
        answer.text
    );
    assert_eq!(
        sink.written().len(),
        1,
        "a bad timestamp refuses its entry only"
    );
}

#[tokio::test]
async fn limits_types_and_an_overloaded_store_map_to_their_statuses() {
    let sink = Arc::new(RecordingSink::default());
    // The snappy header declares more than the bound: refused before decompressing.
    let big = push_body(vec![stream("{}", vec![entry(&"y".repeat(70 << 10), &[])])]);
    let (answer, _) = post(&sink, &PROTOBUF, big).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        answer.text.contains("logs.max_decompressed_size"),
        "{}",
        answer.text
    );
    let body = push_body(vec![stream("{}", vec![entry("x", &[])])]);
    for headers in [
        [
            ("content-type", "text/plain"),
            ("content-encoding", "identity"),
        ],
        [
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "br"),
        ],
        [
            ("content-type", "application/json"),
            ("content-encoding", "snappy"),
        ],
    ] {
        let (answer, metrics) = post(&sink, &headers, body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{headers:?}"
        );
        assert_eq!(counters(&metrics).rejected, 1);
    }
    let behind = Arc::new(RecordingSink {
        fail: Some(ErrorKind::TooManyRequests),
        ..RecordingSink::default()
    });
    let (answer, _) = post(&behind, &PROTOBUF, body.clone()).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
    assert!(
        answer.text.contains("nothing was written"),
        "{}",
        answer.text
    );
    assert!(behind.written().is_empty());
    let down = Arc::new(RecordingSink {
        fail: Some(ErrorKind::Unavailable),
        ..RecordingSink::default()
    });
    let (answer, _) = post(&down, &PROTOBUF, body).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.retry_after, None);
    // An empty push is a success, as in Loki.
    let (answer, _) = post(&sink, &JSON, br#"{"streams":[]}"#.to_vec()).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
}

/// Parsed labels as `name="value"` pairs, exactly; or the start of `reason: message`.
fn check(input: &str, expect: &str) {
    let (actual, matches) = match labels::parse(input.as_bytes()) {
        Ok(labels) => {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(name, value)| format!("{name}={value:?}"))
                .collect();
            let actual = pairs.join(" ");
            let matches = actual == expect;
            (actual, matches)
        }
        Err(err) => {
            let actual = format!("{}: {}", err.reason, err.message);
            let matches = actual.starts_with(expect) && !expect.is_empty();
            (actual, matches)
        }
    };
    assert!(matches, "{input}\n  got: {actual}\n  expected: {expect}");
}

#[test]
fn label_sets_parse_as_loki_reads_them() {
    check(r#"{app="api", env="prod"}"#, r#"app="api" env="prod""#);
    check("{}", "");
    check("  { }  ", "");
    check("{\n\tapp = \"api\" ,\n}", r#"app="api""#);
    check(
        r#"{msg="a \"quoted\" \\ value"}"#,
        r#"msg="a \"quoted\" \\ value""#,
    );
    check(r#"{a="tab\tnl\ncr\r"}"#, r#"a="tab\tnl\ncr\r""#);
    check(r#"{a="\x41\101\u00e9\U0001F600"}"#, "a=\"AAé😀\"");
    check(
        r#"{a='single "quotes" \'x\''}"#,
        r#"a="single \"quotes\" 'x'""#,
    );
    check("{a=`raw \\n\nstring`}", r#"a="raw \\n\nstring""#);
    check(r#"{a="日本語", _b9="x"}"#, r#"a="日本語" _b9="x""#);
    check(r#"{empty="", kept="k"}"#, r#"kept="k""#);
    check(
        r#"app="api""#,
        r#"bad_labels: the label set "app=\"api\"" is malformed: expected "{" at offset 0"#,
    );
    check(
        r#"{app=api}"#,
        r#"bad_labels: the label set "{app=api}" is malformed: expected a quoted value for label "app" at offset 5"#,
    );
    check(
        r#"{app="api""#,
        "bad_labels: the label set \"{app=\\\"api\\\"\" is malformed: expected \",\" or \"}\" after the value of label \"app\" at offset 10",
    );
    check(
        r#"{app="api}"#,
        "bad_labels: the label set \"{app=\\\"api}\" is malformed: unterminated value of label \"app\" at offset 5",
    );
    check(
        r#"{app=~"a.*"}"#,
        "bad_labels: the label set \"{app=~\\\"a.*\\\"}\" is malformed: label \"app\" has a matcher (=~)",
    );
    check(
        r#"{app!="a"}"#,
        "bad_labels: the label set \"{app!=\\\"a\\\"}\" is malformed: label \"app\" has a matcher (!)",
    );
    check(
        r#"{9lives="x"}"#,
        "bad_labels: the label set \"{9lives=\\\"x\\\"}\" is malformed: label name \"9lives\" is not valid: it starts with a digit at offset 1",
    );
    check(
        r#"{a-b="x"}"#,
        "bad_labels: the label set \"{a-b=\\\"x\\\"}\" is malformed: expected \"=\" after label name \"a\"",
    );
    check(
        r#"{a="\q"}"#,
        "bad_labels: the label set \"{a=\\\"\\\\q\\\"}\" is malformed: unknown escape sequence \\q at offset 4",
    );
    check(
        r#"{a="\x4"}"#,
        "bad_labels: the label set \"{a=\\\"\\\\x4\\\"}\" is malformed: escape sequence \\x needs 2 hex digits",
    );
    check(
        r#"{a="\777"}"#,
        "bad_labels: the label set \"{a=\\\"\\\\777\\\"}\" is malformed: octal escape sequence \\777 is over 255",
    );
    check(
        r#"{a="\ud800"}"#,
        "bad_labels: the label set \"{a=\\\"\\\\ud800\\\"}\" is malformed: escape sequence \\ud800 is not a Unicode character",
    );
    check(
        r#"{a="\xff"}"#,
        "bad_labels: the label set \"{a=\\\"\\\\xff\\\"}\" is malformed: the value of label \"a\" is not valid UTF-8 once unescaped",
    );
    check(
        "{a=\"line\nbreak\"}",
        "bad_labels: the label set \"{a=\\\"line\\nbreak\\\"}\" is malformed: newline in the value of label \"a\"",
    );
    check(
        r#"{a="1", b="2", a="3"}"#,
        "bad_labels: label name \"a\" appears twice",
    );
    let many: Vec<String> = (0..65).map(|i| format!("l{i}=\"v\"")).collect();
    check(
        &format!("{{{}}}", many.join(",")),
        "too_many_labels: the stream has 65 labels, over the limit of 64",
    );
    let at_limit = format!("{{{}}}", many[..64].join(","));
    assert_eq!(
        labels::parse(at_limit.as_bytes()).expect("64 labels").len(),
        64
    );
    let long = format!("{{a=\"{}\"}}", "v".repeat(16 << 10));
    check(
        &long,
        "labels_too_long: the stream's labels are 16390 bytes, over the limit of 16384",
    );
    let err = labels::parse(b"{a=\"\xff\"}").expect_err("not UTF-8");
    assert_eq!(err.reason, "bad_labels");
    // JSON streams' objects are checked the same way.
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    };
    let valid = pairs(&[("a", "1"), ("b", "")]);
    let checked = labels::check_pairs(&valid).expect("valid");
    assert_eq!(checked, [(Cow::Borrowed("a"), Cow::Borrowed("1"))]);
    for bad in [&[("a.b", "1")][..], &[("", "1")], &[("a", "1"), ("a", "2")]] {
        assert_eq!(
            labels::check_pairs(&pairs(bad)).expect_err("bad").reason,
            "bad_labels",
            "{bad:?}"
        );
    }
}
