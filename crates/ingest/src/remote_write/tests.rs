//! The HTTP handler against a recording sink: status codes, messages and headers.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use model::ErrorKind;
use model::write::WriteBatch;
use prost::Message as _;
use tower::ServiceExt;

use super::proto::{prometheus as v1, v2};
use super::{RemoteWriteConfig, router};
use crate::metrics::{IngestMetrics, Protocol};
use crate::sink::{MetricsSink, SeriesRejection, SinkError, WriteOutcome};

/// Records the samples it is given; answers with a canned outcome.
#[derive(Debug, Default)]
struct RecordingSink {
    written: Mutex<Vec<(String, i64, u64)>>,
    reject_first_series: Option<(&'static str, bool)>,
    fail: Option<ErrorKind>,
}

impl MetricsSink for RecordingSink {
    fn write(&self, batch: &WriteBatch<'_>) -> Result<WriteOutcome, SinkError> {
        if let Some(kind) = self.fail {
            return Err(SinkError {
                kind,
                message: "disk unavailable".into(),
            });
        }
        let mut outcome = WriteOutcome::default();
        for idx in 0..batch.series.len() {
            if idx == 0
                && let Some((reason, is_limit)) = self.reject_first_series
            {
                outcome.rejected.push(SeriesRejection {
                    series_idx: 0,
                    message: format!("refused because {reason}"),
                    reason,
                    is_limit,
                    samples: batch.series_samples(0).len() as u64,
                });
                continue;
            }
            for sample in batch.series_samples(idx) {
                let name = batch.describe_series(idx);
                self.written.lock().expect("lock").push((
                    name,
                    sample.timestamp_ms,
                    sample.value.to_bits(),
                ));
                outcome.samples_written += 1;
            }
        }
        Ok(outcome)
    }
}

struct Answer {
    status: StatusCode,
    body: String,
    headers: axum::http::HeaderMap,
}

async fn post(
    sink: Arc<RecordingSink>,
    content_type: Option<&str>,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (Answer, IngestMetrics) {
    let registry = prometheus::Registry::new();
    let metrics = IngestMetrics::register(&registry).expect("metrics");
    let config = RemoteWriteConfig {
        max_decompressed_bytes: 4096,
        ..RemoteWriteConfig::default()
    };
    let app = router(sink, config, metrics.clone());
    let mut request = Request::post("/api/v1/write");
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    let response = app
        .oneshot(request.body(Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        Answer {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            headers,
        },
        metrics,
    )
}

fn snappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(bytes)
        .expect("compress")
}

/// Labels and `(timestamp, value)` samples of one series.
type SeriesSpec<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn v1_body(series: &[SeriesSpec<'_>]) -> Vec<u8> {
    let request = v1::WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, samples)| v1::TimeSeries {
                labels: labels
                    .iter()
                    .map(|(n, v)| v1::Label {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
                samples: samples
                    .iter()
                    .map(|&(timestamp, value)| v1::Sample { value, timestamp })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        metadata: Vec::new(),
    };
    snappy(&request.encode_to_vec())
}

const PROTOBUF: Option<&str> = Some("application/x-protobuf");
const SNAPPY: Option<&str> = Some("snappy");
const UP: &[(&str, &str)] = &[("__name__", "up"), ("job", "api")];

#[tokio::test]
async fn valid_v1_request_is_written_and_answered_204() {
    let sink = Arc::new(RecordingSink::default());
    let body = v1_body(&[(
        UP,
        &[
            (1000, 1.0),
            (2000, f64::from_bits(model::sample::STALE_NAN_BITS)),
        ],
    )]);
    let n_bytes = body.len() as u64;
    let (answer, metrics) = post(Arc::clone(&sink), PROTOBUF, SNAPPY, body).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::NO_CONTENT, "")
    );
    assert!(
        answer
            .headers
            .get("x-prometheus-remote-write-samples-written")
            .is_none(),
        "1.0 answers need no headers"
    );
    assert_eq!(
        *sink.written.lock().expect("lock"),
        [
            (r#"up{job="api"}"#.to_owned(), 1000, 1.0f64.to_bits()),
            (
                r#"up{job="api"}"#.to_owned(),
                2000,
                model::sample::STALE_NAN_BITS
            )
        ]
    );
    let counters = metrics
        .snapshot()
        .into_iter()
        .find(|c| c.protocol == Protocol::RemoteWrite)
        .expect("counters");
    assert_eq!(
        (counters.items, counters.bytes, counters.rejected),
        (2, n_bytes, 0)
    );
}

#[tokio::test]
async fn missing_headers_mean_v1_and_snappy() {
    let (answer, _) = post(
        Arc::new(RecordingSink::default()),
        None,
        None,
        v1_body(&[(UP, &[(1, 1.0)])]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn wrong_content_type_or_encoding_is_415() {
    let sink = Arc::new(RecordingSink::default());
    let cases = [
        (
            Some("application/json"),
            SNAPPY,
            "unsupported Content-Type \"application/json\"",
        ),
        (
            PROTOBUF,
            Some("gzip"),
            "unsupported Content-Encoding \"gzip\"",
        ),
        (
            Some("application/x-protobuf;proto=foo.Bar"),
            SNAPPY,
            "unsupported protobuf message \"foo.Bar\"",
        ),
    ];
    for (content_type, encoding, message) in cases {
        let (answer, _) = post(
            Arc::clone(&sink),
            content_type,
            encoding,
            v1_body(&[(UP, &[(1, 1.0)])]),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{message}"
        );
        assert!(answer.body.starts_with(message), "{}", answer.body);
    }
    assert!(sink.written.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn declared_decompressed_size_over_the_limit_is_413_before_allocating() {
    // A snappy header claiming 4 GiB, followed by nothing: refused from the header alone.
    let body = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    let (answer, _) = post(Arc::new(RecordingSink::default()), PROTOBUF, SNAPPY, body).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        answer.body.trim(),
        "body decompresses to 4294967295 bytes, over the limit of 4096 bytes (remote_write.max_decompressed_size)"
    );
}

#[tokio::test]
async fn bad_snappy_and_bad_protobuf_are_400_naming_the_problem() {
    let (answer, _) = post(
        Arc::new(RecordingSink::default()),
        PROTOBUF,
        SNAPPY,
        b"\x0anot snappy".to_vec(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.body.starts_with("body is not a valid snappy block"),
        "{}",
        answer.body
    );
    let (answer, _) = post(
        Arc::new(RecordingSink::default()),
        PROTOBUF,
        SNAPPY,
        snappy(b"\x0a\x05ab"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body.trim(),
        "malformed protobuf: field runs past the end of its message"
    );
}

#[tokio::test]
async fn invalid_series_are_400_on_the_first_line_and_the_rest_is_written() {
    let sink = Arc::new(RecordingSink::default());
    let body = v1_body(&[
        (&[("job", "x")], &[(1, 1.0)]),
        (UP, &[(1, 1.0)]),
        (&[("__name__", "a-b")], &[(1, 1.0)]),
    ]);
    let (answer, metrics) = post(Arc::clone(&sink), PROTOBUF, SNAPPY, body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let first_line = answer.body.lines().next().expect("a line");
    assert_eq!(
        first_line,
        r#"2 of 3 samples were not written; series {job="x"}: it has no __name__ label (and 1 more series, listed below)"#
    );
    assert!(
        answer
            .body
            .contains(r#"series a-b{}: metric name "a-b" is not valid"#),
        "{}",
        answer.body
    );
    assert_eq!(sink.written.lock().expect("lock").len(), 1);
    let counters = metrics
        .snapshot()
        .into_iter()
        .find(|c| c.protocol == Protocol::RemoteWrite)
        .expect("counters");
    assert_eq!((counters.items, counters.rejected), (1, 2));
}

#[tokio::test]
async fn store_rejections_and_series_limits_answer_400_naming_the_series() {
    let sink = Arc::new(RecordingSink {
        reject_first_series: Some(("too_old", false)),
        ..Default::default()
    });
    let (answer, _) = post(
        Arc::clone(&sink),
        PROTOBUF,
        SNAPPY,
        v1_body(&[(UP, &[(1, 1.0)])]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body.trim(),
        r#"1 of 1 samples were not written; series up{job="api"}: refused because too_old"#
    );
    let limited = Arc::new(RecordingSink {
        reject_first_series: Some(("max_series", true)),
        ..Default::default()
    });
    let (answer, _) = post(limited, PROTOBUF, SNAPPY, v1_body(&[(UP, &[(1, 1.0)])])).await;
    // Not 429: Prometheus would retry for as long as the limit holds, hours.
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("max_series"), "{}", answer.body);
}

#[tokio::test]
async fn sink_failures_are_retryable_5xx() {
    let unavailable = Arc::new(RecordingSink {
        fail: Some(ErrorKind::Unavailable),
        ..Default::default()
    });
    let (answer, _) = post(unavailable, PROTOBUF, SNAPPY, v1_body(&[(UP, &[(1, 1.0)])])).await;
    assert_eq!(
        (answer.status, answer.body.trim()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "write failed: disk unavailable"
        )
    );
    let broken = Arc::new(RecordingSink {
        fail: Some(ErrorKind::Internal),
        ..Default::default()
    });
    let (answer, _) = post(broken, PROTOBUF, SNAPPY, v1_body(&[(UP, &[(1, 1.0)])])).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn v2_answers_carry_written_counts_on_success_and_on_failure() {
    let v2_type = Some("application/x-protobuf;proto=io.prometheus.write.v2.Request");
    let request = v2::Request {
        symbols: ["", "__name__", "up", "job"].map(String::from).to_vec(),
        timeseries: vec![
            v2::TimeSeries {
                labels_refs: vec![1, 2],
                samples: vec![v2::Sample {
                    value: 1.0,
                    timestamp: 5,
                    start_timestamp: 0,
                }],
                ..Default::default()
            },
            v2::TimeSeries {
                labels_refs: vec![3, 2],
                samples: vec![v2::Sample {
                    value: 1.0,
                    timestamp: 5,
                    start_timestamp: 0,
                }],
                ..Default::default()
            },
        ],
    };
    let sink = Arc::new(RecordingSink::default());
    let (answer, _) = post(
        Arc::clone(&sink),
        v2_type,
        SNAPPY,
        snappy(&request.encode_to_vec()),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "the series without __name__ is invalid"
    );
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("x-prometheus-remote-write-samples-written").as_deref(),
        Some("1")
    );
    assert_eq!(
        header("x-prometheus-remote-write-histograms-written").as_deref(),
        Some("0")
    );
    assert_eq!(
        header("x-prometheus-remote-write-exemplars-written").as_deref(),
        Some("0")
    );
}
