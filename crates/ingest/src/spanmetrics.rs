//! Span-derived metrics: every span that reaches the trace store also counts towards
//! its service's rate, errors and latency, and client/server span pairs become edges of
//! the service graph. The series are Tempo's metrics-generator's, so dashboards built
//! for Tempo work unchanged:
//!
//! - `traces_spanmetrics_calls_total{service, span_name, span_kind, status_code}`
//! - `traces_spanmetrics_latency_bucket/_sum/_count{..., le}` (seconds), with the trace
//!   id of a recent span of each bucket as its exemplar
//! - `traces_service_graph_request_total{client, server}` and `..._failed_total`
//! - `traces_service_graph_request_server_seconds_*` and `..._client_seconds_*`
//! - `traces_service_graph_unpaired_spans_total{service, side}`: client or server
//!   spans whose other side did not arrive within `pairing_wait`.
//!
//! [`SpanMetricsSink`] wraps the store's [`SpanSink`]: spans the store accepted are
//! recorded in a [`SpanMetrics`], whose cumulative values [`SpanMetrics::flush`] turns
//! into a metric write batch every `flush_interval` (the composition root writes it to
//! the time-series store). A series first flushed also gets a zero one millisecond
//! earlier, so `increase()` and `rate()` count the spans of its first interval.
//!
//! Pairing: a client (or producer) span waits under (trace id, its span id); a server
//! (or consumer) span waits under (trace id, its parent span id). When both are there
//! the edge is counted; past `pairing_wait` a waiting span is counted as unpaired. At
//! most `max_pending_edges` spans wait; more are counted as unpaired at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use model::write::{ExemplarWrite, MetricMetadata, MetricType, SeriesWrite, WriteBatch};
use model::{Sample, Span, SpanId, SpanKind, SpanStatus, TraceId};

use crate::sink::{MetricsSink, SinkError, SpanSink, SpanWriteOutcome};

/// Tempo's default latency buckets, in seconds.
pub const DEFAULT_LATENCY_BUCKETS: [f64; 14] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
    16.384,
];

#[derive(Debug, Clone, PartialEq)]
pub struct SpanMetricsConfig {
    /// Upper bounds of the latency histograms, in seconds, increasing (`+Inf` is added).
    pub latency_buckets: Vec<f64>,
    /// How often the cumulative values are written to the time-series store.
    pub flush_interval: Duration,
    /// Most `calls` series (and, separately, most service-graph edges); spans that would
    /// add another are counted in `dropped_spans`, not in a series.
    pub max_series: usize,
    /// How long a client or server span waits for its other side.
    pub pairing_wait: Duration,
    pub max_pending_edges: usize,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            latency_buckets: DEFAULT_LATENCY_BUCKETS.to_vec(),
            flush_interval: Duration::from_secs(15),
            max_series: 100_000,
            pairing_wait: Duration::from_secs(10),
            max_pending_edges: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Exemplar {
    trace_id: TraceId,
    value: f64,
    timestamp_ms: i64,
}

#[derive(Debug, Clone)]
struct Histogram {
    /// Per bucket, not cumulative; the last is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
    /// The latest span of each bucket since the last flush.
    exemplars: Vec<Option<Exemplar>>,
}

impl Histogram {
    fn new(n_buckets: usize) -> Self {
        Histogram {
            counts: vec![0; n_buckets + 1],
            sum: 0.0,
            count: 0,
            exemplars: vec![None; n_buckets + 1],
        }
    }

    fn observe(&mut self, bounds: &[f64], seconds: f64, exemplar: Exemplar) {
        let bucket = bounds
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(bounds.len());
        self.counts[bucket] += 1;
        self.sum += seconds;
        self.count += 1;
        self.exemplars[bucket] = Some(exemplar);
    }
}

#[derive(Debug)]
struct Series<V> {
    /// Sorted by name, without `__name__` and `le`.
    labels: Vec<(String, String)>,
    value: V,
    /// Not flushed yet: the next flush writes a zero before it.
    new: bool,
}

#[derive(Debug)]
struct Calls {
    calls: u64,
    latency: Histogram,
}

#[derive(Debug)]
struct Edge {
    requests: u64,
    failed: u64,
    server: Histogram,
    client: Histogram,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Client,
    Server,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

#[derive(Debug)]
struct Waiting {
    side: Side,
    service: String,
    seconds: f64,
    failed: bool,
    expires: Instant,
}

#[derive(Debug, Default)]
struct State {
    calls: HashMap<(String, String, &'static str, &'static str), Series<Calls>>,
    edges: HashMap<(String, String), Series<Edge>>,
    unpaired: HashMap<(String, Side), Series<u64>>,
    waiting: HashMap<(TraceId, SpanId), Waiting>,
    /// Spans not counted in a series because a series limit was reached.
    dropped_spans: u64,
}

/// The generator: cumulative span metrics, flushed on demand.
#[derive(Debug)]
pub struct SpanMetrics {
    config: SpanMetricsConfig,
    state: Mutex<State>,
}

fn status_label(status: &SpanStatus) -> &'static str {
    match status {
        SpanStatus::Unset => "STATUS_CODE_UNSET",
        SpanStatus::Ok => "STATUS_CODE_OK",
        SpanStatus::Error { .. } => "STATUS_CODE_ERROR",
    }
}

fn sorted(mut labels: Vec<(String, String)>) -> Vec<(String, String)> {
    labels.sort();
    labels
}

impl SpanMetrics {
    pub fn new(config: SpanMetricsConfig) -> Self {
        SpanMetrics {
            config,
            state: Mutex::new(State::default()),
        }
    }

    pub fn config(&self) -> &SpanMetricsConfig {
        &self.config
    }

    /// Counts `spans`, pairing client and server spans.
    pub fn record(&self, spans: &[Span]) {
        let now = Instant::now();
        let now_ms = model::UnixNanos::now().as_millis();
        let bounds = &self.config.latency_buckets;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for span in spans {
            let seconds = span.duration_nanos() as f64 / 1e9;
            let exemplar = Exemplar {
                trace_id: span.trace_id,
                value: seconds,
                timestamp_ms: now_ms,
            };
            let key = (
                span.service.clone(),
                span.name.clone(),
                span.kind.as_otlp_str(),
                status_label(&span.status),
            );
            let n_calls = state.calls.len();
            match state.calls.get_mut(&key) {
                Some(series) => {
                    series.value.calls += 1;
                    series.value.latency.observe(bounds, seconds, exemplar);
                }
                None if n_calls >= self.config.max_series => state.dropped_spans += 1,
                None => {
                    let mut latency = Histogram::new(bounds.len());
                    latency.observe(bounds, seconds, exemplar);
                    let labels = sorted(vec![
                        ("service".into(), key.0.clone()),
                        ("span_name".into(), key.1.clone()),
                        ("span_kind".into(), key.2.into()),
                        ("status_code".into(), key.3.into()),
                    ]);
                    state.calls.insert(
                        key,
                        Series {
                            labels,
                            value: Calls { calls: 1, latency },
                            new: true,
                        },
                    );
                }
            }
            self.pair(&mut state, span, seconds, now, now_ms);
        }
    }

    fn pair(&self, state: &mut State, span: &Span, seconds: f64, now: Instant, now_ms: i64) {
        let (side, key) = match (span.kind, span.parent_span_id) {
            (SpanKind::Client | SpanKind::Producer, _) => {
                (Side::Client, (span.trace_id, span.span_id))
            }
            (SpanKind::Server | SpanKind::Consumer, Some(parent)) => {
                (Side::Server, (span.trace_id, parent))
            }
            _ => return,
        };
        let failed = span.status.is_error();
        match state.waiting.remove(&key) {
            Some(other) if other.side != side => {
                let (client, server) = match side {
                    Side::Client => (
                        (span.service.as_str(), seconds, failed),
                        (other.service.as_str(), other.seconds, other.failed),
                    ),
                    Side::Server => (
                        (other.service.as_str(), other.seconds, other.failed),
                        (span.service.as_str(), seconds, failed),
                    ),
                };
                self.count_edge(state, client, server, span.trace_id, now_ms);
            }
            // A repeat of a waiting side (a retried export): keep waiting for the other.
            Some(same) => {
                state.waiting.insert(key, same);
            }
            None if state.waiting.len() >= self.config.max_pending_edges => {
                count_unpaired(state, &span.service, side);
            }
            None => {
                state.waiting.insert(
                    key,
                    Waiting {
                        side,
                        service: span.service.clone(),
                        seconds,
                        failed,
                        expires: now + self.config.pairing_wait,
                    },
                );
            }
        }
    }

    fn count_edge(
        &self,
        state: &mut State,
        (client, client_seconds, client_failed): (&str, f64, bool),
        (server, server_seconds, server_failed): (&str, f64, bool),
        trace_id: TraceId,
        now_ms: i64,
    ) {
        let bounds = &self.config.latency_buckets;
        let key = (client.to_owned(), server.to_owned());
        let n_edges = state.edges.len();
        let series = match state.edges.get_mut(&key) {
            Some(series) => series,
            None if n_edges >= self.config.max_series => {
                state.dropped_spans += 2;
                return;
            }
            None => state.edges.entry(key).or_insert_with(|| Series {
                labels: sorted(vec![
                    ("client".into(), client.to_owned()),
                    ("server".into(), server.to_owned()),
                ]),
                value: Edge {
                    requests: 0,
                    failed: 0,
                    server: Histogram::new(bounds.len()),
                    client: Histogram::new(bounds.len()),
                },
                new: true,
            }),
        };
        let edge = &mut series.value;
        edge.requests += 1;
        if client_failed || server_failed {
            edge.failed += 1;
        }
        let exemplar = |value| Exemplar {
            trace_id,
            value,
            timestamp_ms: now_ms,
        };
        edge.server
            .observe(bounds, server_seconds, exemplar(server_seconds));
        edge.client
            .observe(bounds, client_seconds, exemplar(client_seconds));
    }

    /// Counts spans that waited past `pairing_wait` as unpaired.
    fn expire(state: &mut State, now: Instant) {
        let expired: Vec<(TraceId, SpanId)> = state
            .waiting
            .iter()
            .filter(|(_, waiting)| waiting.expires <= now)
            .map(|(key, _)| *key)
            .collect();
        for key in expired {
            if let Some(waiting) = state.waiting.remove(&key) {
                count_unpaired(state, &waiting.service, waiting.side);
            }
        }
    }

    /// Spans not counted because a series limit was reached, since the start.
    pub fn dropped_spans(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dropped_spans
    }

    /// Every series' cumulative value at `timestamp_ms` (expiring waiting spans first).
    pub fn flush(&self, timestamp_ms: i64) -> Flushed {
        let bounds = &self.config.latency_buckets;
        let le_labels: Vec<String> = bounds
            .iter()
            .map(|le| format_le(*le))
            .chain(std::iter::once("+Inf".to_owned()))
            .collect();
        let mut out = Flushed {
            timestamp_ms,
            rows: Vec::new(),
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        Self::expire(&mut state, Instant::now());
        for series in state.calls.values_mut() {
            let new = std::mem::take(&mut series.new);
            out.push(
                &series.labels,
                CALLS,
                None,
                series.value.calls as f64,
                None,
                new,
            );
            out.histogram(
                LATENCY,
                &series.labels,
                &mut series.value.latency,
                &le_labels,
                new,
            );
        }
        for series in state.edges.values_mut() {
            let new = std::mem::take(&mut series.new);
            let edge = &mut series.value;
            out.push(
                &series.labels,
                REQUESTS,
                None,
                edge.requests as f64,
                None,
                new,
            );
            out.push(&series.labels, FAILED, None, edge.failed as f64, None, new);
            out.histogram(
                SERVER_SECONDS,
                &series.labels,
                &mut edge.server,
                &le_labels,
                new,
            );
            out.histogram(
                CLIENT_SECONDS,
                &series.labels,
                &mut edge.client,
                &le_labels,
                new,
            );
        }
        for series in state.unpaired.values_mut() {
            let new = std::mem::take(&mut series.new);
            out.push(
                &series.labels,
                UNPAIRED,
                None,
                series.value as f64,
                None,
                new,
            );
        }
        out
    }
}

fn count_unpaired(state: &mut State, service: &str, side: Side) {
    let key = (service.to_owned(), side);
    let series = state.unpaired.entry(key).or_insert_with(|| Series {
        labels: sorted(vec![
            ("service".into(), service.to_owned()),
            ("side".into(), side.as_str().into()),
        ]),
        value: 0,
        new: true,
    });
    series.value += 1;
}

/// `0.002`, `1.024`, `16`: the shortest text that reads back as the bound.
fn format_le(le: f64) -> String {
    format!("{le}")
}

const CALLS: &str = "traces_spanmetrics_calls_total";
const LATENCY: &str = "traces_spanmetrics_latency";
const REQUESTS: &str = "traces_service_graph_request_total";
const FAILED: &str = "traces_service_graph_request_failed_total";
const SERVER_SECONDS: &str = "traces_service_graph_request_server_seconds";
const CLIENT_SECONDS: &str = "traces_service_graph_request_client_seconds";
const UNPAIRED: &str = "traces_service_graph_unpaired_spans_total";

/// The families a flush writes, with their metadata.
const FAMILIES: [(&str, MetricType, &str); 7] = [
    (
        CALLS,
        MetricType::Counter,
        "Spans received, by service, span name, kind and status.",
    ),
    (LATENCY, MetricType::Histogram, "Span durations in seconds."),
    (
        REQUESTS,
        MetricType::Counter,
        "Requests between two services, from client and server span pairs.",
    ),
    (
        FAILED,
        MetricType::Counter,
        "Requests between two services where either side failed.",
    ),
    (
        SERVER_SECONDS,
        MetricType::Histogram,
        "Server-side durations of requests between two services, in seconds.",
    ),
    (
        CLIENT_SECONDS,
        MetricType::Histogram,
        "Client-side durations of requests between two services, in seconds.",
    ),
    (
        UNPAIRED,
        MetricType::Counter,
        "Client or server spans whose other side did not arrive in time.",
    ),
];

/// One series' value at a flush.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    /// Sorted, without `__name__`; `le` included for buckets.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub exemplar: Option<(String, f64, i64)>,
    /// First flush of this series: a zero goes 1 ms before the value.
    pub new: bool,
}

/// What a flush produced, written outside the generator's lock.
#[derive(Debug, Clone, Default)]
pub struct Flushed {
    pub timestamp_ms: i64,
    pub rows: Vec<Row>,
}

impl Flushed {
    fn push(
        &mut self,
        labels: &[(String, String)],
        name: &str,
        le: Option<&str>,
        value: f64,
        exemplar: Option<Exemplar>,
        new: bool,
    ) {
        let mut labels = labels.to_vec();
        if let Some(le) = le {
            labels.push(("le".into(), le.into()));
            labels.sort();
        }
        self.rows.push(Row {
            name: name.to_owned(),
            labels,
            value,
            exemplar: exemplar.map(|e| (e.trace_id.to_string(), e.value, e.timestamp_ms)),
            new,
        });
    }

    fn histogram(
        &mut self,
        family: &str,
        labels: &[(String, String)],
        histogram: &mut Histogram,
        le_labels: &[String],
        new: bool,
    ) {
        let bucket_name = format!("{family}_bucket");
        let mut cumulative = 0u64;
        for (idx, le) in le_labels.iter().enumerate() {
            cumulative += histogram.counts[idx];
            let exemplar = histogram.exemplars[idx].take();
            self.push(
                labels,
                &bucket_name,
                Some(le),
                cumulative as f64,
                exemplar,
                new,
            );
        }
        self.push(
            labels,
            &format!("{family}_sum"),
            None,
            histogram.sum,
            None,
            new,
        );
        self.push(
            labels,
            &format!("{family}_count"),
            None,
            histogram.count as f64,
            None,
            new,
        );
    }

    /// All rows as one write batch borrowing from them.
    pub fn batch(&self) -> WriteBatch<'_> {
        let mut batch = WriteBatch::new();
        for row in &self.rows {
            let labels_start = batch.labels.len();
            batch
                .labels
                .push((model::labels::METRIC_NAME, row.name.as_str()));
            batch
                .labels
                .extend(row.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            batch.labels[labels_start..].sort();
            let labels = labels_start..batch.labels.len();
            if row.new {
                let samples_start = batch.samples.len();
                batch.samples.push(Sample::new(self.timestamp_ms - 1, 0.0));
                batch.series.push(SeriesWrite {
                    labels: labels.clone(),
                    samples: samples_start..batch.samples.len(),
                    exemplars: batch.exemplars.len()..batch.exemplars.len(),
                    best_effort: true,
                });
            }
            let samples_start = batch.samples.len();
            batch
                .samples
                .push(Sample::new(self.timestamp_ms, row.value));
            let exemplars_start = batch.exemplars.len();
            if let Some((trace_id, value, timestamp_ms)) = &row.exemplar {
                let label_start = batch.exemplar_labels.len();
                batch.exemplar_labels.push(("trace_id", trace_id.as_str()));
                batch.exemplars.push(ExemplarWrite {
                    labels: label_start..batch.exemplar_labels.len(),
                    timestamp_ms: *timestamp_ms,
                    value: *value,
                });
            }
            batch.series.push(SeriesWrite {
                labels,
                samples: samples_start..batch.samples.len(),
                exemplars: exemplars_start..batch.exemplars.len(),
                best_effort: false,
            });
        }
        for (family, metric_type, help) in FAMILIES {
            batch.metadata.push(MetricMetadata {
                metric_family: family,
                metric_type,
                help,
                unit: "",
            });
        }
        batch
    }
}

/// A [`SpanSink`] that counts what the inner sink accepted.
#[derive(Debug)]
pub struct SpanMetricsSink {
    inner: Arc<dyn SpanSink>,
    metrics: Arc<SpanMetrics>,
}

impl SpanMetricsSink {
    pub fn new(inner: Arc<dyn SpanSink>, metrics: Arc<SpanMetrics>) -> Self {
        SpanMetricsSink { inner, metrics }
    }
}

impl SpanSink for SpanMetricsSink {
    fn write(&self, spans: &[Span]) -> Result<SpanWriteOutcome, SinkError> {
        let outcome = self.inner.write(spans)?;
        if outcome.rejected.is_empty() {
            self.metrics.record(spans);
        } else {
            let rejected: HashSet<usize> = outcome.rejected.iter().map(|r| r.span_idx).collect();
            let accepted: Vec<Span> = spans
                .iter()
                .enumerate()
                .filter(|(idx, _)| !rejected.contains(idx))
                .map(|(_, span)| span.clone())
                .collect();
            self.metrics.record(&accepted);
        }
        Ok(outcome)
    }
}

/// Writes a flush to `sink` every `flush_interval` until `stop` turns true, then once
/// more. A refused flush is logged; the cumulative values go again at the next one.
pub async fn run_flusher(
    metrics: Arc<SpanMetrics>,
    sink: Arc<dyn MetricsSink>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(metrics.config.flush_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        let stopping = tokio::select! {
            _ = ticks.tick() => false,
            _ = stop.changed() => true,
        };
        let flushed = metrics.flush(model::UnixNanos::now().as_millis());
        if !flushed.rows.is_empty() {
            let sink = Arc::clone(&sink);
            let written = tokio::task::spawn_blocking(move || sink.write(&flushed.batch())).await;
            match written {
                Ok(Ok(outcome)) => {
                    for rejection in outcome.rejected.iter().take(5) {
                        tracing::warn!(
                            reason = rejection.reason,
                            "the store refused a span metrics series: {}",
                            rejection.message
                        );
                    }
                }
                Ok(Err(err)) => {
                    tracing::warn!("span metrics flush failed, retrying at the next flush: {err}")
                }
                Err(join_err) => tracing::error!("span metrics flush panicked: {join_err}"),
            }
        }
        if stopping || *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
