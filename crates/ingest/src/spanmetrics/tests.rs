use std::sync::Mutex;

use model::write::WriteBatch;
use model::{ErrorKind, UnixNanos};

use super::*;
use crate::sink::SpanRejection;

fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    service: &str,
    kind: SpanKind,
    millis: i64,
    error: bool,
) -> Span {
    Span {
        trace_id: TraceId::from_bytes(&[trace; 16]).expect("id"),
        span_id: SpanId::from_bytes(&[id; 8]).expect("id"),
        parent_span_id: parent.map(|p| SpanId::from_bytes(&[p; 8]).expect("id")),
        service: service.into(),
        name: format!("op-{id}"),
        kind,
        start: UnixNanos(1_000_000_000),
        end: UnixNanos(1_000_000_000 + millis * 1_000_000),
        status: if error {
            SpanStatus::Error {
                message: "boom".into(),
            }
        } else {
            SpanStatus::Unset
        },
        trace_state: String::new(),
        scope_name: String::new(),
        scope_version: String::new(),
        resource_attributes: vec![],
        attributes: vec![],
        events: vec![],
        links: vec![],
        dropped_attributes: 0,
        dropped_events: 0,
        dropped_links: 0,
    }
}

/// `name{labels}` -> value of the non-zero-padding samples of a batch.
fn values(batch: &WriteBatch<'_>) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for (idx, series) in batch.series.iter().enumerate() {
        if series.best_effort {
            continue;
        }
        out.insert(
            batch.describe_series(idx),
            batch.series_samples(idx)[0].value,
        );
    }
    out
}

fn config() -> SpanMetricsConfig {
    SpanMetricsConfig {
        latency_buckets: vec![0.01, 0.1, 1.0],
        ..SpanMetricsConfig::default()
    }
}

#[test]
fn calls_and_latency_count_every_span() {
    let metrics = SpanMetrics::new(config());
    metrics.record(&[
        span(1, 1, None, "web", SpanKind::Server, 5, false),
        span(2, 1, None, "web", SpanKind::Server, 50, false),
        span(3, 1, None, "web", SpanKind::Server, 5000, true),
    ]);
    let flushed = metrics.flush(10_000);
    let batch = flushed.batch();
    let got = values(&batch);
    let ok = r#"{service="web", span_kind="SPAN_KIND_SERVER", span_name="op-1", status_code="STATUS_CODE_UNSET"}"#;
    let failed = r#"{service="web", span_kind="SPAN_KIND_SERVER", span_name="op-1", status_code="STATUS_CODE_ERROR"}"#;
    assert_eq!(got[&format!("traces_spanmetrics_calls_total{ok}")], 2.0);
    assert_eq!(got[&format!("traces_spanmetrics_calls_total{failed}")], 1.0);
    assert_eq!(got[&format!("traces_spanmetrics_latency_count{ok}")], 2.0);
    assert!((got[&format!("traces_spanmetrics_latency_sum{ok}")] - 0.055).abs() < 1e-9);
    let bucket = |le: &str| {
        got[&format!(
            r#"traces_spanmetrics_latency_bucket{{le="{le}", service="web", span_kind="SPAN_KIND_SERVER", span_name="op-1", status_code="STATUS_CODE_UNSET"}}"#
        )]
    };
    assert_eq!(
        [bucket("0.01"), bucket("0.1"), bucket("1"), bucket("+Inf")],
        [1.0, 2.0, 2.0, 2.0]
    );
    // New series get a zero just before, so increase() sees the first spans.
    let zeros: Vec<_> = batch.series.iter().filter(|s| s.best_effort).collect();
    assert_eq!(zeros.len(), batch.series.len() / 2);
    assert_eq!(batch.samples[zeros[0].samples.start].timestamp_ms, 9_999);
    // The bucket a span fell into carries its trace id as an exemplar.
    assert!(
        batch
            .exemplar_labels
            .contains(&("trace_id", "01010101010101010101010101010101"))
    );

    // Cumulative across flushes; no second zero; exemplars are not repeated.
    metrics.record(&[span(4, 1, None, "web", SpanKind::Server, 5, false)]);
    let flushed = metrics.flush(20_000);
    let batch = flushed.batch();
    assert_eq!(
        values(&batch)[&format!("traces_spanmetrics_calls_total{ok}")],
        3.0
    );
    assert!(batch.series.iter().all(|s| !s.best_effort));
    assert_eq!(batch.exemplars.len(), 1);
}

#[test]
fn client_and_server_spans_pair_into_edges_in_either_order() {
    let metrics = SpanMetrics::new(config());
    // Trace 1: client first. Trace 2: server first, and the server failed.
    metrics.record(&[span(1, 2, Some(1), "web", SpanKind::Client, 30, false)]);
    metrics.record(&[span(1, 3, Some(2), "api", SpanKind::Server, 20, false)]);
    metrics.record(&[span(2, 3, Some(2), "api", SpanKind::Server, 20, true)]);
    metrics.record(&[span(2, 2, Some(1), "web", SpanKind::Client, 30, false)]);
    // An internal span never pairs; a root server span has no client.
    metrics.record(&[
        span(3, 4, Some(3), "api", SpanKind::Internal, 1, false),
        span(4, 1, None, "web", SpanKind::Server, 1, false),
    ]);
    let got = values(&metrics.flush(5_000).batch());
    let edge = r#"{client="web", server="api"}"#;
    assert_eq!(
        got[&format!("traces_service_graph_request_total{edge}")],
        2.0
    );
    assert_eq!(
        got[&format!("traces_service_graph_request_failed_total{edge}")],
        1.0
    );
    assert_eq!(
        got[&format!("traces_service_graph_request_server_seconds_count{edge}")],
        2.0
    );
    assert!(
        (got[&format!("traces_service_graph_request_client_seconds_sum{edge}")] - 0.06).abs()
            < 1e-9
    );
    assert_eq!(got.keys().filter(|k| k.contains("unpaired")).count(), 0);
}

#[test]
fn a_side_that_waits_too_long_is_counted_unpaired() {
    let metrics = SpanMetrics::new(SpanMetricsConfig {
        pairing_wait: Duration::ZERO,
        ..config()
    });
    metrics.record(&[span(1, 2, Some(1), "web", SpanKind::Client, 30, false)]);
    let got = values(&metrics.flush(5_000).batch());
    assert_eq!(
        got[r#"traces_service_graph_unpaired_spans_total{service="web", side="client"}"#],
        1.0
    );
    // Its server arriving later no longer makes an edge.
    metrics.record(&[span(1, 3, Some(2), "api", SpanKind::Server, 20, false)]);
    let got = values(&metrics.flush(6_000).batch());
    assert!(
        !got.keys()
            .any(|k| k.starts_with("traces_service_graph_request_total"))
    );
}

#[test]
fn the_series_limit_drops_spans_not_memory() {
    let metrics = SpanMetrics::new(SpanMetricsConfig {
        max_series: 2,
        max_pending_edges: 1,
        ..config()
    });
    for id in 1..=5 {
        metrics.record(&[span(1, id, None, "web", SpanKind::Server, 1, false)]);
    }
    assert_eq!(metrics.dropped_spans(), 3);
    let got = values(&metrics.flush(1).batch());
    assert_eq!(
        got.keys()
            .filter(|k| k.starts_with("traces_spanmetrics_calls_total"))
            .count(),
        2
    );
    // Past max_pending_edges, a waiting side is unpaired at once.
    metrics.record(&[
        span(2, 2, Some(1), "web", SpanKind::Client, 1, false),
        span(3, 2, Some(1), "web", SpanKind::Client, 1, false),
    ]);
    let got = values(&metrics.flush(2).batch());
    assert_eq!(
        got[r#"traces_service_graph_unpaired_spans_total{service="web", side="client"}"#],
        1.0
    );
}

#[derive(Debug, Default)]
struct Refusing {
    refuse: Vec<usize>,
    fail: bool,
    seen: Mutex<usize>,
}

impl SpanSink for Refusing {
    fn write(&self, spans: &[Span]) -> Result<SpanWriteOutcome, SinkError> {
        *self.seen.lock().expect("lock") += spans.len();
        if self.fail {
            return Err(SinkError {
                kind: ErrorKind::TooManyRequests,
                message: "full".into(),
            });
        }
        Ok(SpanWriteOutcome {
            accepted: spans.len() - self.refuse.len(),
            rejected: self
                .refuse
                .iter()
                .map(|&span_idx| SpanRejection {
                    span_idx,
                    reason: "too_old",
                    message: "old".into(),
                })
                .collect(),
        })
    }
}

#[test]
fn the_sink_counts_only_what_the_store_accepted() {
    let metrics = Arc::new(SpanMetrics::new(config()));
    let inner = Arc::new(Refusing {
        refuse: vec![2, 0],
        ..Refusing::default()
    });
    let sink = SpanMetricsSink::new(
        Arc::clone(&inner) as Arc<dyn SpanSink>,
        Arc::clone(&metrics),
    );
    let spans: Vec<Span> = (1..=4)
        .map(|id| span(id, 1, None, "web", SpanKind::Server, 1, false))
        .collect();
    let outcome = sink.write(&spans).expect("write");
    assert_eq!(outcome.accepted, 2);
    assert_eq!(
        *inner.seen.lock().expect("lock"),
        4,
        "every span reaches the store"
    );
    let got = values(&metrics.flush(1).batch());
    let calls: f64 = got
        .iter()
        .filter(|(k, _)| k.starts_with("traces_spanmetrics_calls_total"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(calls, 2.0);

    let failing = SpanMetricsSink::new(
        Arc::new(Refusing {
            fail: true,
            ..Refusing::default()
        }),
        Arc::clone(&metrics),
    );
    assert!(failing.write(&spans).is_err());
    let got = values(&metrics.flush(2).batch());
    let calls: f64 = got
        .iter()
        .filter(|(k, _)| k.starts_with("traces_spanmetrics_calls_total"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(calls, 2.0, "a refused batch is not counted");
}
