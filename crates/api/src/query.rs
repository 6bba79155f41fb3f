//! Prometheus's HTTP query API: `/api/v1/query`, `/query_range`, `/series`, `/labels`,
//! `/label/<name>/values`, `/metadata`, `/query_exemplars`, `/format_query`,
//! `/parse_query`, answered in Prometheus's JSON shapes so Grafana's Prometheus data
//! source works unchanged.
//!
//! Queries run on blocking threads (evaluation is CPU-bound), at most
//! `query.max_concurrency` at once; a query waiting longer than its timeout for a slot
//! is refused. Dropping the request (the client went away) cancels the evaluation.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{CONTENT_TYPE, HeaderMap};
use axum::response::{IntoResponse, Response};
use model::{ErrorKind, Labels};
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use promql::{CancelToken, QueryResult, QueryValue, SampleValue};

use crate::params::{self, format_value};
use crate::{ApiContext, ApiError};

/// Prometheus's limit on points per series of a range query.
const MAX_POINTS_DEFAULT: usize = 11_000;

/// Counters of the query API, exposed on `/metrics`.
#[derive(Debug, Clone)]
pub struct QueryMetrics {
    queries: IntCounterVec,
    duration: HistogramVec,
    limit_hits: IntCounterVec,
    in_flight: IntGauge,
    samples_loaded: IntCounter,
}

impl QueryMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let queries = IntCounterVec::new(
            Opts::new(
                "sightline_query_requests_total",
                "Query API requests by endpoint and outcome (success or the Prometheus error type).",
            ),
            &["endpoint", "outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "sightline_query_duration_seconds",
                "Time to evaluate a query, from getting a slot to the result.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0,
            ]),
            &["endpoint"],
        )?;
        let limit_hits = IntCounterVec::new(
            Opts::new(
                "sightline_query_limit_hits_total",
                "Queries stopped by a limit: timeout, max_samples, max_series, max_concurrency, max_points; and queries canceled because the client went away.",
            ),
            &["limit"],
        )?;
        let in_flight = IntGauge::new(
            "sightline_queries_in_flight",
            "Queries being evaluated now.",
        )?;
        let samples_loaded = IntCounter::new(
            "sightline_query_samples_loaded_total",
            "Samples read from the time-series store by queries.",
        )?;
        registry.register(Box::new(queries.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(limit_hits.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(samples_loaded.clone()))?;
        for limit in [
            "timeout",
            "max_samples",
            "max_series",
            "max_concurrency",
            "max_points",
            "canceled",
        ] {
            limit_hits.with_label_values(&[limit]);
        }
        Ok(QueryMetrics {
            queries,
            duration,
            limit_hits,
            in_flight,
            samples_loaded,
        })
    }
}

/// The engine and the limits around it.
#[derive(Debug, Clone)]
pub struct QueryService {
    engine: promql::Engine,
    slots: Arc<tokio::sync::Semaphore>,
    max_concurrency: usize,
    max_points: usize,
    metrics: QueryMetrics,
}

impl QueryService {
    pub fn new(engine: promql::Engine, max_concurrency: usize, metrics: QueryMetrics) -> Self {
        let max_concurrency = max_concurrency.max(1);
        QueryService {
            engine,
            slots: Arc::new(tokio::sync::Semaphore::new(max_concurrency)),
            max_concurrency,
            max_points: MAX_POINTS_DEFAULT,
            metrics,
        }
    }

    /// Runs `work` on a blocking thread within the limits; `timeout` is the query's
    /// own (never above the engine's).
    async fn run<T: Send + 'static>(
        &self,
        endpoint: &'static str,
        timeout: Duration,
        work: impl FnOnce(promql::Engine, CancelToken) -> Result<T, promql::Error> + Send + 'static,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let permit = match tokio::time::timeout(timeout, Arc::clone(&self.slots).acquire_owned())
            .await
        {
            Ok(Ok(permit)) => permit,
            _ => {
                self.metrics
                    .limit_hits
                    .with_label_values(&["max_concurrency"])
                    .inc();
                self.count(endpoint, "unavailable");
                return Err(ApiError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "too many concurrent queries: {} are running (query.max_concurrency) and none finished within the query's timeout of {}",
                        self.max_concurrency,
                        model::time::format_duration(timeout)
                    ),
                ));
            }
        };
        let cancel = CancelToken::new();
        // Cancels the evaluation if this future is dropped: the client went away (the
        // server notices when the connection closes) or the request timed out.
        let mut guard = CancelOnDrop {
            cancel: Some(cancel.clone()),
            metrics: self.metrics.clone(),
            endpoint,
        };
        let mut options = *self.engine.options();
        options.timeout = timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_millis(1));
        let engine = promql::Engine::new(options);
        let in_flight = self.metrics.in_flight.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            in_flight.inc();
            let result = work(engine, cancel);
            in_flight.dec();
            drop(permit);
            result
        })
        .await;
        guard.cancel = None;
        self.metrics
            .duration
            .with_label_values(&[endpoint])
            .observe(started.elapsed().as_secs_f64());
        let result = outcome
            .map_err(|err| ApiError::new(ErrorKind::Internal, format!("query failed: {err}")))?;
        match result {
            Ok(value) => {
                self.count(endpoint, "success");
                Ok(value)
            }
            Err(err) => {
                let limit = match &err {
                    promql::Error::Timeout(_) => Some("timeout"),
                    promql::Error::TooManySamples { .. } => Some("max_samples"),
                    promql::Error::TooManySeries { .. } => Some("max_series"),
                    promql::Error::Canceled(_) => Some("canceled"),
                    _ => None,
                };
                if let Some(limit) = limit {
                    self.metrics.limit_hits.with_label_values(&[limit]).inc();
                }
                let api_error = query_error(&err);
                self.count(endpoint, api_error.kind.prometheus_error_type());
                Err(api_error)
            }
        }
    }

    fn count(&self, endpoint: &str, outcome: &str) {
        self.metrics
            .queries
            .with_label_values(&[endpoint, outcome])
            .inc();
    }
}

/// Cancels the query (and counts it) when dropped before the query finished.
struct CancelOnDrop {
    cancel: Option<CancelToken>,
    metrics: QueryMetrics,
    endpoint: &'static str,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(cancel) = &self.cancel {
            cancel.cancel();
            self.metrics
                .limit_hits
                .with_label_values(&["canceled"])
                .inc();
            self.metrics
                .queries
                .with_label_values(&[self.endpoint, "canceled"])
                .inc();
        }
    }
}

pub(crate) fn query_error(err: &promql::Error) -> ApiError {
    let kind = match err {
        promql::Error::InvalidSelector { .. }
        | promql::Error::Parse(_)
        | promql::Error::BadQuery(_) => ErrorKind::BadData,
        promql::Error::Execution(_)
        | promql::Error::TooManySamples { .. }
        | promql::Error::TooManySeries { .. } => ErrorKind::Execution,
        promql::Error::Timeout(_) => ErrorKind::Timeout,
        promql::Error::Canceled(_) => ErrorKind::Canceled,
        promql::Error::Storage(_) => ErrorKind::Internal,
    };
    let message = match err {
        promql::Error::Parse(message) => format!("invalid parameter \"query\": {message}"),
        other => other.to_string(),
    };
    ApiError::new(kind, message)
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadData, message)
}

fn time_param(pairs: &[(String, String)], name: &str) -> Result<Option<i64>, ApiError> {
    params::last(pairs, name)
        .filter(|text| !text.is_empty())
        .map(|text| params::parse_time(name, text))
        .transpose()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// The query's timeout: the `timeout` parameter, capped by `query.timeout`.
fn query_timeout(service: &QueryService, pairs: &[(String, String)]) -> Result<Duration, ApiError> {
    let limit = service.engine.options().timeout;
    match params::last(pairs, "timeout").filter(|t| !t.is_empty()) {
        Some(text) => Ok(params::parse_duration("timeout", text)?.min(limit)),
        None => Ok(limit),
    }
}

fn query_param(pairs: &[(String, String)]) -> Result<String, ApiError> {
    params::last(pairs, "query")
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| bad("invalid parameter \"query\": query is empty"))
}

/// JSON answer.
fn json(body: String) -> Response {
    ([(CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET|POST /api/v1/query?query=&time=&timeout=`
pub(crate) async fn instant_query(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let text = query_param(&pairs)?;
    let time = time_param(&pairs, "time")?.unwrap_or_else(now_ms);
    let service = &context.query;
    let timeout = query_timeout(service, &pairs)?;
    let db = context.tsdb.ready()?;
    let samples_loaded = service.metrics.samples_loaded.clone();
    let result = service
        .run("query", timeout, move |engine, cancel| {
            let result = engine.instant(&*db, &text, time, &cancel);
            if let Ok(result) = &result {
                samples_loaded.inc_by(result.stats.samples_loaded);
            }
            result
        })
        .await?;
    Ok(json(render(&result)))
}

/// `GET|POST /api/v1/query_range?query=&start=&end=&step=&timeout=`
pub(crate) async fn range_query(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let text = query_param(&pairs)?;
    let start = time_param(&pairs, "start")?.ok_or_else(|| {
        bad("invalid parameter \"start\": cannot parse \"\" to a valid timestamp")
    })?;
    let end = time_param(&pairs, "end")?
        .ok_or_else(|| bad("invalid parameter \"end\": cannot parse \"\" to a valid timestamp"))?;
    if end < start {
        return Err(bad(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step_text = params::last(&pairs, "step").unwrap_or("");
    let step = params::parse_duration("step", step_text)?;
    let step_ms = step.as_millis() as i64;
    if step_ms <= 0 {
        return Err(bad(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let service = &context.query;
    let points = (end - start) / step_ms + 1;
    if points as u64 > service.max_points as u64 {
        service
            .metrics
            .limit_hits
            .with_label_values(&["max_points"])
            .inc();
        return Err(bad(format!(
            "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
            service.max_points
        )));
    }
    let timeout = query_timeout(service, &pairs)?;
    let db = context.tsdb.ready()?;
    let samples_loaded = service.metrics.samples_loaded.clone();
    let result = service
        .run("query_range", timeout, move |engine, cancel| {
            let result = engine.range(&*db, &text, start, end, step_ms, &cancel);
            if let Ok(result) = &result {
                samples_loaded.inc_by(result.stats.samples_loaded);
            }
            result
        })
        .await?;
    Ok(json(render(&result)))
}

/// A JSON string literal.
fn quote(out: &mut String, text: &str) {
    match serde_json::to_string(text) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

/// Prometheus's timestamp: seconds with the milliseconds written out (`1.500`).
fn write_timestamp(out: &mut String, ms: i64) {
    if ms < 0 {
        out.push('-');
    }
    let ms = ms.unsigned_abs();
    let _ = write!(out, "{}", ms / 1000);
    let fraction = ms % 1000;
    if fraction != 0 {
        let _ = write!(out, ".{fraction:03}");
    }
}

fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (idx, label) in labels.iter().enumerate() {
        if idx > 0 {
            out.push(',');
        }
        quote(out, &label.name);
        out.push(':');
        quote(out, &label.value);
    }
    out.push('}');
}

fn write_float_point(out: &mut String, ms: i64, value: f64) {
    out.push('[');
    write_timestamp(out, ms);
    out.push_str(",\"");
    out.push_str(&format_value(value));
    out.push_str("\"]");
}

/// A native histogram as Prometheus's API shows it: count, sum, and the non-empty
/// buckets as `[boundary rule, lower, upper, count]` (rule 0: `(l, u]`, 1: `[l, u)`,
/// 3: `[l, u]`).
fn write_histogram(out: &mut String, h: &promql::histogram::FloatHistogram) {
    out.push_str("{\"count\":\"");
    out.push_str(&format_value(h.count));
    out.push_str("\",\"sum\":\"");
    out.push_str(&format_value(h.sum));
    out.push('"');
    let buckets: Vec<_> = h
        .buckets_ascending()
        .into_iter()
        .filter(|b| b.count != 0.0)
        .collect();
    if !buckets.is_empty() {
        out.push_str(",\"buckets\":[");
        for (idx, bucket) in buckets.iter().enumerate() {
            if idx > 0 {
                out.push(',');
            }
            let rule = if bucket.lower < 0.0 && bucket.upper > 0.0 && !h.uses_custom_buckets() {
                3
            } else if bucket.upper <= 0.0 && !h.uses_custom_buckets() {
                1
            } else {
                0
            };
            let _ = write!(
                out,
                "[{rule},\"{}\",\"{}\",\"{}\"]",
                format_value(bucket.lower),
                format_value(bucket.upper),
                format_value(bucket.count)
            );
        }
        out.push(']');
    }
    out.push('}');
}

fn write_histogram_point(out: &mut String, ms: i64, h: &promql::histogram::FloatHistogram) {
    out.push('[');
    write_timestamp(out, ms);
    out.push(',');
    write_histogram(out, h);
    out.push(']');
}

/// The success envelope of a query result, with its warnings and infos.
pub(crate) fn render(result: &QueryResult) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("{\"status\":\"success\",\"data\":{\"resultType\":\"");
    out.push_str(result.value.type_name());
    out.push_str("\",\"result\":");
    match &result.value {
        QueryValue::Scalar {
            timestamp_ms,
            value,
        } => write_float_point(&mut out, *timestamp_ms, *value),
        QueryValue::String {
            timestamp_ms,
            value,
        } => {
            out.push('[');
            write_timestamp(&mut out, *timestamp_ms);
            out.push(',');
            quote(&mut out, value);
            out.push(']');
        }
        QueryValue::Vector(samples) => {
            out.push('[');
            for (idx, sample) in samples.iter().enumerate() {
                if idx > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &sample.labels);
                match &sample.value {
                    SampleValue::Float(value) => {
                        out.push_str(",\"value\":");
                        write_float_point(&mut out, sample.timestamp_ms, *value);
                    }
                    SampleValue::Histogram(h) => {
                        out.push_str(",\"histogram\":");
                        write_histogram_point(&mut out, sample.timestamp_ms, h);
                    }
                }
                out.push('}');
            }
            out.push(']');
        }
        QueryValue::Matrix(series) => {
            out.push('[');
            for (idx, s) in series.iter().enumerate() {
                if idx > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                if !s.floats.is_empty() {
                    out.push_str(",\"values\":[");
                    for (i, &(t, v)) in s.floats.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        write_float_point(&mut out, t, v);
                    }
                    out.push(']');
                }
                if !s.histograms.is_empty() {
                    out.push_str(",\"histograms\":[");
                    for (i, (t, h)) in s.histograms.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        write_histogram_point(&mut out, *t, h);
                    }
                    out.push(']');
                }
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push('}');
    let warnings: Vec<&str> = result.annotations.warnings().collect();
    let infos: Vec<&str> = result.annotations.infos().collect();
    for (key, list) in [("warnings", warnings), ("infos", infos)] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(out, ",\"{key}\":[");
        for (idx, message) in list.iter().enumerate() {
            if idx > 0 {
                out.push(',');
            }
            quote(&mut out, message);
        }
        out.push(']');
    }
    out.push('}');
    out
}

/// The success envelope around `data`, with optional warnings.
fn success(data: serde_json::Value, warnings: &[String]) -> Response {
    let mut envelope = serde_json::Map::new();
    envelope.insert("status".into(), "success".into());
    envelope.insert("data".into(), data);
    let mut envelope = serde_json::Value::Object(envelope);
    if !warnings.is_empty() {
        envelope["warnings"] = serde_json::json!(warnings);
    }
    json(envelope.to_string())
}

/// The union of the `match[]` selectors' matcher alternatives.
fn match_params(pairs: &[(String, String)]) -> Result<Vec<Vec<tsdb::Matcher>>, ApiError> {
    let mut alternatives = Vec::new();
    for selector in params::all(pairs, "match[]") {
        let parsed = promql::parse_selector(selector).map_err(|err| bad(err.to_string()))?;
        alternatives.extend(parsed);
    }
    Ok(alternatives)
}

fn limit_param(pairs: &[(String, String)]) -> Result<usize, ApiError> {
    match params::last(pairs, "limit").filter(|t| !t.is_empty()) {
        None => Ok(0),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|limit| *limit >= 0)
            .map(|limit| limit as usize)
            .ok_or_else(|| {
                bad(format!(
                    "invalid parameter \"limit\": cannot parse {text:?} to a valid limit"
                ))
            }),
    }
}

fn range_params(pairs: &[(String, String)]) -> Result<(i64, i64), ApiError> {
    let start = time_param(pairs, "start")?.unwrap_or(i64::MIN);
    let end = time_param(pairs, "end")?.unwrap_or(i64::MAX);
    if end < start {
        return Err(bad(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    Ok((start, end))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ApiError::new(ErrorKind::Internal, format!("request failed: {err}")))?
}

fn truncated(limit: usize) -> Vec<String> {
    vec![format!("results truncated due to limit of {limit}")]
}

/// `GET|POST /api/v1/series?match[]=&start=&end=&limit=`
pub(crate) async fn series(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let alternatives = match_params(&pairs)?;
    if alternatives.is_empty() {
        return Err(bad("no match[] parameter provided"));
    }
    let (start, end) = range_params(&pairs)?;
    let limit = limit_param(&pairs)?;
    let db = context.tsdb.ready()?;
    let (found, warnings) = blocking(move || {
        let querier = db.querier(start, end);
        let mut all: std::collections::BTreeSet<Labels> = std::collections::BTreeSet::new();
        for matchers in &alternatives {
            all.extend(querier.series_labels(matchers));
        }
        let mut warnings = Vec::new();
        let mut found: Vec<Labels> = all.into_iter().collect();
        if limit > 0 && found.len() > limit {
            found.truncate(limit);
            warnings = truncated(limit);
        }
        Ok((found, warnings))
    })
    .await?;
    let data: Vec<serde_json::Value> = found.iter().map(labels_json).collect();
    Ok(success(serde_json::Value::Array(data), &warnings))
}

fn labels_json(labels: &Labels) -> serde_json::Value {
    serde_json::Value::Object(
        labels
            .iter()
            .map(|l| (l.name.clone(), serde_json::Value::String(l.value.clone())))
            .collect(),
    )
}

/// `GET|POST /api/v1/labels?match[]=&start=&end=&limit=`
pub(crate) async fn label_names(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let alternatives = match_params(&pairs)?;
    let (start, end) = range_params(&pairs)?;
    let limit = limit_param(&pairs)?;
    let db = context.tsdb.ready()?;
    let (names, warnings) = blocking(move || {
        let querier = db.querier(start, end);
        let mut names: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        if alternatives.is_empty() {
            names.extend(querier.label_names(&[]));
        }
        for matchers in &alternatives {
            names.extend(querier.label_names(matchers));
        }
        let mut names: Vec<String> = names.into_iter().collect();
        let mut warnings = Vec::new();
        if limit > 0 && names.len() > limit {
            names.truncate(limit);
            warnings = truncated(limit);
        }
        Ok((names, warnings))
    })
    .await?;
    Ok(success(serde_json::json!(names), &warnings))
}

/// `GET /api/v1/label/<name>/values?match[]=&start=&end=&limit=`
pub(crate) async fn label_values(
    State(context): State<Arc<ApiContext>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let alternatives = match_params(&pairs)?;
    let (start, end) = range_params(&pairs)?;
    let limit = limit_param(&pairs)?;
    let name = match name.strip_prefix("U__") {
        // Prometheus's escaping of label names that are not classic identifiers.
        Some(escaped) => unescape_label_name(escaped).unwrap_or(name.clone()),
        None => name,
    };
    if name.is_empty() {
        return Err(bad("invalid label name: \"\""));
    }
    let db = context.tsdb.ready()?;
    let (values, warnings) = blocking(move || {
        let querier = db.querier(start, end);
        let mut values: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        if alternatives.is_empty() {
            values.extend(querier.label_values(&name, &[]));
        }
        for matchers in &alternatives {
            values.extend(querier.label_values(&name, matchers));
        }
        let mut values: Vec<String> = values.into_iter().collect();
        let mut warnings = Vec::new();
        if limit > 0 && values.len() > limit {
            values.truncate(limit);
            warnings = truncated(limit);
        }
        Ok((values, warnings))
    })
    .await?;
    Ok(success(serde_json::json!(values), &warnings))
}

/// `U__` label name escaping: `_` stays, `__` is `_`, `_1F600_` is a code point.
fn unescape_label_name(escaped: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = escaped.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let hex: String = chars.by_ref().take_while(|&c| c != '_').collect();
        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
    }
    Some(out)
}

/// `GET /api/v1/metadata?metric=&limit=&limit_per_metric=`
pub(crate) async fn metadata(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let limit = params::last(&pairs, "limit")
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<i64>().map_err(|_| {
                bad(format!(
                    "invalid parameter \"limit\": {t:?} is not a number"
                ))
            })
        })
        .transpose()?
        .unwrap_or(-1);
    let per_metric = params::last(&pairs, "limit_per_metric")
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<i64>().map_err(|_| {
                bad(format!(
                    "invalid parameter \"limit_per_metric\": {t:?} is not a number"
                ))
            })
        })
        .transpose()?
        .unwrap_or(-1);
    let metric = params::last(&pairs, "metric")
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    let db = context.tsdb.ready()?;
    let data = blocking(move || {
        let metadata = db.metadata();
        let mut names: Vec<&String> = metadata
            .keys()
            .filter(|name| metric.as_ref().is_none_or(|wanted| wanted == *name))
            .collect();
        names.sort();
        let mut data = serde_json::Map::new();
        for name in names {
            if limit >= 0 && data.len() as i64 >= limit {
                break;
            }
            let entry = &metadata[name];
            let entries = if per_metric == 0 {
                Vec::new()
            } else {
                vec![serde_json::json!({
                    "type": entry.metric_type.as_str(),
                    "help": entry.help,
                    "unit": entry.unit,
                })]
            };
            data.insert(name.clone(), serde_json::Value::Array(entries));
        }
        Ok(serde_json::Value::Object(data))
    })
    .await?;
    Ok(success(data, &[]))
}

/// `GET|POST /api/v1/query_exemplars?query=&start=&end=`: the exemplars kept with the
/// series the query's selectors select.
pub(crate) async fn query_exemplars(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let text = query_param(&pairs)?;
    let (start, end) = range_params(&pairs)?;
    let selectors = promql::tools::selectors(&text).map_err(|err| query_error(&err))?;
    let db = context.tsdb.ready()?;
    let data = blocking(move || {
        let querier = db.querier(start, end);
        let mut by_series: std::collections::BTreeMap<
            Labels,
            Vec<tsdb::head::series::StoredExemplar>,
        > = std::collections::BTreeMap::new();
        for matchers in &selectors {
            for (labels, exemplars) in querier.exemplars(matchers) {
                by_series.entry(labels).or_insert(exemplars);
            }
        }
        let mut out = String::from("[");
        for (idx, (labels, exemplars)) in by_series.iter().enumerate() {
            if idx > 0 {
                out.push(',');
            }
            out.push_str("{\"seriesLabels\":");
            write_labels(&mut out, labels);
            out.push_str(",\"exemplars\":[");
            for (i, exemplar) in exemplars.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"labels\":");
                write_labels(&mut out, &exemplar.labels);
                out.push_str(",\"value\":\"");
                out.push_str(&format_value(exemplar.value));
                out.push_str("\",\"timestamp\":");
                write_timestamp(&mut out, exemplar.timestamp_ms);
                out.push('}');
            }
            out.push_str("]}");
        }
        out.push(']');
        Ok(out)
    })
    .await?;
    Ok(json(format!("{{\"status\":\"success\",\"data\":{data}}}")))
}

/// `GET|POST /api/v1/format_query?query=`
pub(crate) async fn format_query(
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let text = query_param(&pairs)?;
    let formatted = promql::tools::format_query(&text).map_err(|err| query_error(&err))?;
    Ok(success(serde_json::Value::String(formatted), &[]))
}

/// `GET|POST /api/v1/parse_query?query=`
pub(crate) async fn parse_query(
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let text = query_param(&pairs)?;
    let tree = promql::tools::syntax_tree(&text).map_err(|err| query_error(&err))?;
    Ok(success(tree, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_prometheus_writes_them() {
        for (ms, shown) in [
            (1_500, "1.500"),
            (1_000, "1"),
            (1_435_781_451_781, "1435781451.781"),
            (5, "0.005"),
            (-1_500, "-1.500"),
        ] {
            let mut out = String::new();
            write_timestamp(&mut out, ms);
            assert_eq!(out, shown);
        }
    }

    #[test]
    fn escaped_label_names() {
        assert_eq!(
            unescape_label_name("foo_2E_bar").as_deref(),
            Some("foo.bar")
        );
        assert_eq!(unescape_label_name("a__b").as_deref(), Some("a_b"));
    }
}
