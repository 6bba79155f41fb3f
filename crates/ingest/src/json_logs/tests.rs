//! The handler against a recording sink: per-line results, status codes, limits.

use std::io::Write as _;
use std::sync::Arc;

use axum::http::StatusCode;
use model::ErrorKind;

use super::{JsonLogsConfig, router};
use crate::http_testing::send;
use crate::metrics::{IngestMetrics, Protocol};
use crate::normalize::LogConfig;
use crate::sink::testing::RecordingSink;

struct Answer {
    status: StatusCode,
    json: serde_json::Value,
    retry_after: Option<String>,
}

async fn post(
    sink: Arc<RecordingSink>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (Answer, IngestMetrics) {
    let registry = prometheus::Registry::new();
    let metrics = IngestMetrics::register(&registry).expect("metrics");
    let config = JsonLogsConfig {
        log: LogConfig {
            max_line_bytes: 1024,
            ..LogConfig::default()
        },
        max_decompressed_bytes: 64 << 10,
    };
    let app = router(sink, config, metrics.clone());
    let answer = send(app, "/api/v1/logs", headers, body).await;
    let retry_after = answer.header("retry-after").map(str::to_owned);
    let (status, bytes) = (answer.status, answer.body);
    let json = serde_json::from_slice(&bytes).expect("the answer is JSON");
    (
        Answer {
            status,
            json,
            retry_after,
        },
        metrics,
    )
}

#[tokio::test]
async fn ndjson_lines_are_written_and_counted() {
    let sink = Arc::new(RecordingSink::default());
    let body = b"{\"message\":\"one\",\"level\":\"info\"}\r\n\n  \n{\"message\":\"two\",\"service\":\"cart\"}\n".to_vec();
    let (answer, metrics) = post(
        Arc::clone(&sink),
        &[("content-type", "application/x-ndjson")],
        body,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json,
        serde_json::json!({"accepted": 2, "rejected": 0})
    );
    let written = sink.written.lock().expect("lock");
    assert_eq!(written.len(), 2);
    assert_eq!(
        written[0].raw, "{\"message\":\"one\",\"level\":\"info\"}",
        "CR and LF are not part of the line"
    );
    assert_eq!(written[1].service.as_deref(), Some("cart"));
    let counters = metrics.snapshot();
    let logs = counters
        .iter()
        .find(|c| c.protocol == Protocol::LogsJson)
        .expect("counters");
    assert_eq!(logs.items, 2);
}

#[tokio::test]
async fn a_json_array_is_a_batch_of_lines() {
    let sink = Arc::new(RecordingSink::default());
    let body = br#" [{"msg":"a"}, {"msg":"b", "n": [1, 2]}, 3]"#.to_vec();
    let (answer, _) = post(
        Arc::clone(&sink),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["accepted"], 2);
    assert_eq!(answer.json["errors"][0]["line"], 3);
    assert_eq!(answer.json["errors"][0]["reason"], "not_an_object");
    assert_eq!(
        sink.written.lock().expect("lock")[1].raw,
        r#"{"msg":"b", "n": [1, 2]}"#
    );
    let (answer, _) = post(Arc::clone(&sink), &[], b"[{\"msg\":".to_vec()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.json["error"]
            .as_str()
            .expect("error")
            .contains("not a valid JSON array")
    );
}

#[tokio::test]
async fn bad_lines_are_refused_by_number_and_their_neighbours_kept() {
    let sink = Arc::new(RecordingSink {
        refuse_message: Some("ancient"),
        ..RecordingSink::default()
    });
    let mut body = Vec::new();
    body.extend_from_slice(b"{\"msg\":\"ok 1\"}\n");
    body.extend_from_slice(b"{not json}\n");
    body.extend_from_slice(b"\xff\xfe\n");
    body.extend_from_slice(format!("{{\"msg\":\"{}\"}}\n", "x".repeat(2000)).as_bytes());
    body.extend_from_slice(b"{\"msg\":\"ancient\"}\n");
    body.extend_from_slice(b"{\"msg\":\"ok 2\",\"time\":\"never\"}\n");
    body.extend_from_slice(b"{\"msg\":\"ok 3\"}");
    let (answer, _) = post(Arc::clone(&sink), &[], body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["accepted"], 2);
    assert_eq!(answer.json["rejected"], 5);
    let reasons: Vec<(u64, &str)> = answer.json["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().expect("line"),
                e["reason"].as_str().expect("reason"),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            (2, "invalid_json"),
            (3, "invalid_utf8"),
            (4, "line_too_long"),
            (5, "too_old"),
            (6, "bad_timestamp")
        ]
    );
    let messages: Vec<String> = sink
        .written
        .lock()
        .expect("lock")
        .iter()
        .map(|l| l.message.clone())
        .collect();
    assert_eq!(messages, ["ok 1", "ok 3"]);
}

#[tokio::test]
async fn compressed_bodies_are_read_within_their_bound() {
    let sink = Arc::new(RecordingSink::default());
    let lines = b"{\"msg\":\"zipped\"}\n".repeat(10);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&lines).expect("gzip");
    let (answer, _) = post(
        Arc::clone(&sink),
        &[("content-encoding", "gzip")],
        gzip.finish().expect("gzip"),
    )
    .await;
    assert_eq!(
        (answer.status, answer.json["accepted"].as_u64()),
        (StatusCode::OK, Some(10))
    );
    let zstd = zstd::stream::encode_all(&lines[..], 3).expect("zstd");
    let (answer, _) = post(Arc::clone(&sink), &[("content-encoding", "zstd")], zstd).await;
    assert_eq!(answer.json["accepted"], 10);
    let bomb = zstd::stream::encode_all(&vec![b' '; 1 << 20][..], 3).expect("zstd");
    let (answer, _) = post(Arc::clone(&sink), &[("content-encoding", "zstd")], bomb).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    let (answer, _) = post(
        Arc::clone(&sink),
        &[("content-encoding", "br")],
        lines.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (answer, _) = post(
        Arc::clone(&sink),
        &[("content-type", "application/x-protobuf")],
        lines,
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        answer.json["error"]
            .as_str()
            .expect("error")
            .contains("application/x-ndjson")
    );
}

#[tokio::test]
async fn a_store_that_is_behind_asks_the_sender_to_retry() {
    let sink = Arc::new(RecordingSink {
        fail: Some(ErrorKind::TooManyRequests),
        ..RecordingSink::default()
    });
    let (answer, _) = post(sink, &[], b"{\"msg\":\"x\"}\n".to_vec()).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
    assert!(
        answer.json["error"]
            .as_str()
            .expect("error")
            .contains("nothing was written")
    );
    let failing = Arc::new(RecordingSink {
        fail: Some(ErrorKind::Internal),
        ..RecordingSink::default()
    });
    let (answer, _) = post(failing, &[], b"{\"msg\":\"x\"}\n".to_vec()).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
}
