//! Sightline's trace API over the trace store: one trace by id, trace search, the
//! services and their span names, and the log lines of a trace.
//!
//! Answers use the envelope of the other APIs (`{"status":"success","data":...}`);
//! errors the Prometheus-shaped one, with 404 for an unknown trace (never an empty 200).
//!
//! JSON shapes, in snake_case like the log API:
//! - a trace summary (search hits, and the head of a whole trace):
//!   `{"trace_id", "root_service", "root_name", "has_root", "start_ns", "end_ns",
//!   "duration_ns", "span_count", "error_count", "services": [..]}`. The root is the span
//!   without a parent; while it has not arrived (`has_root: false`), the earliest span.
//! - a trace: the summary's fields plus `"spans": [span, ...]`, in start order.
//! - a span: `{"trace_id", "span_id", "parent_span_id" (null for a root), "service",
//!   "name", "kind" ("unspecified", "internal", "server", "client", "producer",
//!   "consumer"), "start_ns", "end_ns", "duration_ns", "status": {"code": "unset" | "ok" |
//!   "error", "message" (only with "error")}, "trace_state", "scope": {"name",
//!   "version"}, "attributes": {..}, "resource": {..}, "events": [{"time_ns", "name",
//!   "attributes"}], "links": [{"trace_id", "span_id", "trace_state", "attributes"}],
//!   "dropped_attributes_count", "dropped_events_count", "dropped_links_count"}`.
//!
//! Ids are lowercase hex (trace ids 32 digits; a 16-digit id in a request is widened).
//! Times and durations are Unix nanoseconds as decimal strings, as the log API writes
//! them, so no JavaScript client loses precision. Attributes are JSON objects: strings,
//! integers, floats and booleans as JSON values (NaN and infinities as the strings
//! `"NaN"`, `"+Inf"`, `"-Inf"`); a key given twice keeps its last value.
//!
//! Search parameters: `service`, `name` (span name), `status` (`error`, `ok` or
//! `unset`), `minDuration` / `maxDuration` (of one span, as [`params::parse_trace_duration`]
//! reads them: `150ms`, `1.5s`), `attr=key=value` (repeatable; span or resource
//! attributes, and `error`, `span.kind`, `otel.status_code`), `start` / `end` (Unix
//! seconds, Unix nanoseconds or RFC 3339; by default the last hour) and `limit` (default
//! 20, at most 1000). A trace matches when one of its spans meets every condition.

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use model::{ErrorKind, Span, SpanKind, SpanStatus, TraceId, UnixNanos, Value};
use serde::Serialize;
use tracestore::{SearchQuery, TraceStore, TraceSummary};

use crate::params;
use crate::status::success;
use crate::{ApiContext, ApiError};

const DEFAULT_LIMIT: usize = 20;
pub(crate) const MAX_LIMIT: usize = 1_000;
const DEFAULT_RANGE_NANOS: i64 = 3_600 * 1_000_000_000;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadData, message)
}

/// Runs `work` on the trace store on a blocking thread; 503 while the store opens.
pub(crate) async fn with_traces<T: Send + 'static>(
    context: &ApiContext,
    work: impl FnOnce(&TraceStore) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = context.traces.ready()?;
    crate::tsdb_api::blocking(move || work(&store)).await
}

/// A trace id from a path: 32 hex digits, or 16 (widened), case ignored.
pub(crate) fn parse_trace_id(text: &str) -> Result<TraceId, ApiError> {
    TraceId::from_hex(text).map_err(|err| bad(err.to_string()))
}

/// An attribute list as a JSON object.
pub(crate) fn attributes_json(
    list: &[(String, Value)],
) -> serde_json::Map<String, serde_json::Value> {
    list.iter()
        .map(|(key, value)| (key.clone(), value_json(value)))
        .collect()
}

/// A scalar as a JSON value; a float JSON cannot hold is written as Prometheus writes it.
pub(crate) fn value_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Str(text) => serde_json::Value::String(text.clone()),
        Value::Int(int) => serde_json::Value::from(*int),
        Value::Float(float) => serde_json::Number::from_f64(*float).map_or_else(
            || serde_json::Value::String(params::format_value(*float)),
            serde_json::Value::Number,
        ),
        Value::Bool(flag) => serde_json::Value::Bool(*flag),
    }
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "unspecified",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

fn nanos_text(instant: UnixNanos) -> String {
    instant.0.to_string()
}

#[derive(Serialize)]
struct SummaryJson {
    trace_id: String,
    root_service: String,
    root_name: String,
    has_root: bool,
    start_ns: String,
    end_ns: String,
    duration_ns: String,
    span_count: usize,
    error_count: usize,
    services: Vec<String>,
}

impl From<TraceSummary> for SummaryJson {
    fn from(summary: TraceSummary) -> Self {
        SummaryJson {
            trace_id: summary.trace_id.to_string(),
            start_ns: nanos_text(summary.start),
            end_ns: nanos_text(summary.end),
            duration_ns: summary.duration_nanos().to_string(),
            root_service: summary.root_service,
            root_name: summary.root_name,
            has_root: summary.has_root,
            span_count: summary.span_count,
            error_count: summary.error_count,
            services: summary.services.into_iter().collect(),
        }
    }
}

#[derive(Serialize)]
struct StatusJson {
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

#[derive(Serialize)]
struct ScopeJson {
    name: String,
    version: String,
}

#[derive(Serialize)]
struct EventJson {
    time_ns: String,
    name: String,
    attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct LinkJson {
    trace_id: String,
    span_id: String,
    trace_state: String,
    attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct SpanJson {
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    service: String,
    name: String,
    kind: &'static str,
    start_ns: String,
    end_ns: String,
    duration_ns: String,
    status: StatusJson,
    trace_state: String,
    scope: ScopeJson,
    attributes: serde_json::Map<String, serde_json::Value>,
    resource: serde_json::Map<String, serde_json::Value>,
    events: Vec<EventJson>,
    links: Vec<LinkJson>,
    dropped_attributes_count: u32,
    dropped_events_count: u32,
    dropped_links_count: u32,
}

impl From<Span> for SpanJson {
    fn from(span: Span) -> Self {
        let duration_ns = span.duration_nanos().to_string();
        let status = match span.status {
            SpanStatus::Unset => StatusJson {
                code: "unset",
                message: None,
            },
            SpanStatus::Ok => StatusJson {
                code: "ok",
                message: None,
            },
            SpanStatus::Error { message } => StatusJson {
                code: "error",
                message: Some(message),
            },
        };
        SpanJson {
            trace_id: span.trace_id.to_string(),
            span_id: span.span_id.to_string(),
            parent_span_id: span.parent_span_id.map(|id| id.to_string()),
            kind: kind_name(span.kind),
            start_ns: nanos_text(span.start),
            end_ns: nanos_text(span.end),
            duration_ns,
            service: span.service,
            name: span.name,
            status,
            trace_state: span.trace_state,
            scope: ScopeJson {
                name: span.scope_name,
                version: span.scope_version,
            },
            attributes: attributes_json(&span.attributes),
            resource: attributes_json(&span.resource_attributes),
            events: span
                .events
                .into_iter()
                .map(|event| EventJson {
                    time_ns: nanos_text(event.time),
                    attributes: attributes_json(&event.attributes),
                    name: event.name,
                })
                .collect(),
            links: span
                .links
                .into_iter()
                .map(|link| LinkJson {
                    trace_id: link.trace_id.to_string(),
                    span_id: link.span_id.to_string(),
                    attributes: attributes_json(&link.attributes),
                    trace_state: link.trace_state,
                })
                .collect(),
            dropped_attributes_count: span.dropped_attributes,
            dropped_events_count: span.dropped_events,
            dropped_links_count: span.dropped_links,
        }
    }
}

#[derive(Serialize)]
struct TraceJson {
    #[serde(flatten)]
    summary: SummaryJson,
    spans: Vec<SpanJson>,
}

/// The 404 for a trace the store does not hold.
fn trace_not_found(trace_id: TraceId) -> ApiError {
    ApiError::new(ErrorKind::NotFound, format!("trace {trace_id} not found"))
}

/// `GET /api/v1/traces/<trace_id>`: every span of one trace, in start order.
pub(crate) async fn trace(
    State(context): State<Arc<ApiContext>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let trace_id = parse_trace_id(&id)?;
    let trace = with_traces(&context, move |store| {
        let spans = store.trace(&trace_id)?;
        let summary = TraceSummary::of(&spans).ok_or_else(|| trace_not_found(trace_id))?;
        Ok(TraceJson {
            summary: summary.into(),
            spans: spans.into_iter().map(SpanJson::from).collect(),
        })
    })
    .await?;
    Ok(success(trace).into_response())
}

/// The search a request asks for (see the module docs for the parameters).
fn search_query(pairs: &[(String, String)]) -> Result<SearchQuery, ApiError> {
    let text = |name: &str| {
        params::last(pairs, name)
            .map(str::trim)
            .filter(|text| !text.is_empty())
    };
    let (start, end) = params::time_range_nanos(pairs, DEFAULT_RANGE_NANOS)?;
    let mut query = SearchQuery::in_range(
        UnixNanos(start),
        UnixNanos(end),
        params::limit(pairs, DEFAULT_LIMIT, MAX_LIMIT)?,
    );
    query.service = text("service").map(str::to_owned);
    query.span_name = text("name").map(str::to_owned);
    match text("status").map(str::to_ascii_lowercase).as_deref() {
        None => {}
        Some("error") => query.errors_only = true,
        Some(code @ ("ok" | "unset")) => query
            .attributes
            .push(("otel.status_code".to_owned(), code.to_owned())),
        Some(other) => {
            return Err(bad(format!(
                "invalid parameter \"status\": {other:?} is not one of error, ok, unset"
            )));
        }
    }
    let duration = |name: &str| {
        text(name)
            .map(|text| {
                params::parse_trace_duration(name, text)
                    .map(|duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
            })
            .transpose()
    };
    query.min_duration_nanos = duration("minDuration")?;
    query.max_duration_nanos = duration("maxDuration")?;
    if let (Some(min), Some(max)) = (query.min_duration_nanos, query.max_duration_nanos)
        && max < min
    {
        return Err(bad(
            "invalid parameter \"maxDuration\": it is less than minDuration",
        ));
    }
    for condition in params::all(pairs, "attr") {
        match condition.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => query
                .attributes
                .push((key.trim().to_owned(), value.to_owned())),
            _ => {
                return Err(bad(format!(
                    "invalid parameter \"attr\": {condition:?} is not key=value"
                )));
            }
        }
    }
    Ok(query)
}

#[derive(Serialize)]
struct SearchData {
    traces: Vec<SummaryJson>,
}

/// `GET /api/v1/traces/search?service=&name=&status=&minDuration=&maxDuration=&attr=&start=&end=&limit=`:
/// summaries of matching traces, most recent first.
pub(crate) async fn search(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let query = search_query(&pairs)?;
    let summaries = with_traces(&context, move |store| Ok(store.search(&query)?)).await?;
    Ok(success(SearchData {
        traces: summaries.into_iter().map(SummaryJson::from).collect(),
    })
    .into_response())
}

#[derive(Debug, Serialize)]
struct FlushData {
    blocks: usize,
    block_spans: u64,
    block_bytes: u64,
}

/// `POST /api/v1/admin/traces/flush`: writes the spans held in memory as a block now;
/// returns when it is on disk, with the store's block totals.
pub(crate) async fn flush(State(context): State<Arc<ApiContext>>) -> Result<Response, ApiError> {
    let stats = with_traces(&context, |store| {
        store.flush()?;
        Ok(store.stats())
    })
    .await?;
    Ok(success(FlushData {
        blocks: stats.blocks,
        block_spans: stats.block_spans,
        block_bytes: stats.block_bytes,
    })
    .into_response())
}

/// `GET /api/v1/traces/services`: services with spans, sorted.
pub(crate) async fn services(State(context): State<Arc<ApiContext>>) -> Result<Response, ApiError> {
    let services: Vec<String> = with_traces(&context, |store| {
        Ok(store.operations().services().map(str::to_owned).collect())
    })
    .await?;
    Ok(success(services).into_response())
}

/// `GET /api/v1/traces/services/<service>/operations`: the span names of one service,
/// sorted; empty for a service without spans.
pub(crate) async fn operations(
    State(context): State<Arc<ApiContext>>,
    Path(service): Path<String>,
) -> Result<Response, ApiError> {
    let names: Vec<String> = with_traces(&context, move |store| {
        Ok(store
            .operations()
            .of(&service)
            .map(|names| names.keys().cloned().collect())
            .unwrap_or_default())
    })
    .await?;
    Ok(success(names).into_response())
}

/// `GET /api/v1/traces/<trace_id>/logs?start=&end=&limit=`: the log lines of one trace,
/// exactly as `/api/v1/logs/trace/<id>` answers them, for the id in its canonical form
/// (32 lowercase hex digits, as the log store keeps it).
pub(crate) async fn logs(
    State(context): State<Arc<ApiContext>>,
    Path(id): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    let trace_id = parse_trace_id(&id)?;
    crate::logs_api::trace(State(context), Path(trace_id.to_string()), query).await
}
