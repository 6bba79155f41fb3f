//! Jaeger's query HTTP API (`jaeger-query`'s `/api/...`), the part Grafana's Jaeger data
//! source and the Jaeger UI call: services, operations, trace search, one trace, and
//! service dependencies.
//!
//! Answers use Jaeger's envelope, `{"data": ..., "total": N, "limit": 0, "offset": 0,
//! "errors": null}`, with `total` set where Jaeger sets it (services and operations) and
//! 0 elsewhere. Errors are `{"data": null, "total": 0, "limit": 0, "offset": 0,
//! "errors": [{"code": <status>, "msg": "..."}]}` with that status: 400 for a bad
//! parameter, 404 `"trace not found"` for an unknown trace (never an empty 200: Grafana
//! reads `data[0]`), 503 while the trace store opens. Traces are in Jaeger's UI shape
//! ([`convert`]); trace ids are 32 hex digits, and a request may give 16.
//!
//! Where this differs from `jaeger-query`: `service` is optional in a search (Jaeger
//! refuses a search without it); a `limit` above 1000 is cut to 1000; `start`/`end` on
//! `/api/traces/<id>` are checked but not needed (a trace is found by id alone).

mod convert;
mod dependencies;
mod query;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use model::{ErrorKind, TraceId, UnixNanos};
use serde::Serialize;
use tracestore::TraceStore;

use crate::traces_api::{parse_trace_id, with_traces};
use crate::{ApiContext, ApiError, params};
use query::TracesRequest;

/// The window of `/api/dependencies` without `lookback` (Jaeger's default), in ms.
const DEFAULT_DEPENDENCY_LOOKBACK_MS: i64 = 24 * 3_600 * 1_000;
const NANOS_PER_MILLI: i64 = 1_000_000;

#[derive(Debug, Serialize)]
struct ErrorItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    msg: String,
    #[serde(rename = "traceID", skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct Envelope<T> {
    data: Option<T>,
    total: usize,
    limit: usize,
    offset: usize,
    errors: Option<Vec<ErrorItem>>,
}

fn answer<T: Serialize>(data: T, total: usize, errors: Vec<ErrorItem>) -> Response {
    Json(Envelope {
        data: Some(data),
        total,
        limit: 0,
        offset: 0,
        errors: (!errors.is_empty()).then_some(errors),
    })
    .into_response()
}

/// An error in Jaeger's shape; the kind decides the status as everywhere else.
#[derive(Debug)]
pub(crate) struct JaegerError(ApiError);

impl From<ApiError> for JaegerError {
    fn from(err: ApiError) -> Self {
        JaegerError(err)
    }
}

impl IntoResponse for JaegerError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let envelope = Envelope::<()> {
            data: None,
            total: 0,
            limit: 0,
            offset: 0,
            errors: Some(vec![ErrorItem {
                code: Some(status.as_u16()),
                msg: self.0.message,
                trace_id: None,
            }]),
        };
        (status, Json(envelope)).into_response()
    }
}

/// Jaeger's message for a trace it does not hold.
fn trace_not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "trace not found")
}

/// `GET /api/services`: `data: ["frontend", ...]`, sorted.
pub(crate) async fn services(
    State(context): State<Arc<ApiContext>>,
) -> Result<Response, JaegerError> {
    let services: Vec<String> = with_traces(&context, |store| {
        Ok(store.operations().services().map(str::to_owned).collect())
    })
    .await?;
    let total = services.len();
    Ok(answer(services, total, Vec::new()))
}

/// `GET /api/services/<service>/operations`: `data: ["GET /cart", ...]`, the span names
/// of one service, sorted; empty for an unknown service.
pub(crate) async fn service_operations(
    State(context): State<Arc<ApiContext>>,
    Path(service): Path<String>,
) -> Result<Response, JaegerError> {
    let names: Vec<String> = with_traces(&context, move |store| {
        Ok(store
            .operations()
            .of(&service)
            .map(|names| names.keys().cloned().collect())
            .unwrap_or_default())
    })
    .await?;
    let total = names.len();
    Ok(answer(names, total, Vec::new()))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Operation {
    name: String,
    span_kind: &'static str,
}

/// `GET /api/operations?service=&spanKind=`: `data: [{"name", "spanKind"}]`, one entry
/// per span name and kind it was seen with (`spanKind: ""` for unspecified), sorted by
/// name.
pub(crate) async fn operations(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
) -> Result<Response, JaegerError> {
    let pairs = params::pairs(query.as_deref());
    let service = query::text(&pairs, "service")
        .ok_or_else(|| ApiError::new(ErrorKind::BadData, "parameter \"service\" is required"))?
        .to_owned();
    let span_kind = match query::text(&pairs, "spanKind") {
        None => None,
        Some(kind @ ("server" | "client" | "producer" | "consumer" | "internal")) => {
            Some(kind.to_owned())
        }
        Some(other) => {
            return Err(ApiError::new(
                ErrorKind::BadData,
                format!(
                    "invalid parameter \"spanKind\": {other:?} is not one of server, client, producer, consumer, internal"
                ),
            )
            .into());
        }
    };
    let operations = with_traces(&context, move |store| {
        let all = store.operations();
        let mut operations = Vec::new();
        for (name, kinds) in all.of(&service).into_iter().flatten() {
            operations.extend(kinds.iter().map(|kind| Operation {
                name: name.clone(),
                span_kind: convert::kind_tag(kind),
            }));
        }
        operations.retain(|op| span_kind.as_deref().is_none_or(|kind| op.span_kind == kind));
        Ok(operations)
    })
    .await?;
    let total = operations.len();
    Ok(answer(operations, total, Vec::new()))
}

/// The traces asked for, in Jaeger's shape, and one error per trace that could not be
/// given (unknown, or too large to read).
fn read_traces(
    store: &TraceStore,
    ids: impl IntoIterator<Item = TraceId>,
) -> Result<(Vec<convert::JaegerTrace>, Vec<ErrorItem>), ApiError> {
    let mut traces = Vec::new();
    let mut errors = Vec::new();
    for trace_id in ids {
        let error = match store.trace(&trace_id) {
            Ok(spans) if spans.is_empty() => trace_not_found().message,
            Ok(spans) => {
                traces.push(convert::trace(trace_id, &spans));
                continue;
            }
            Err(err @ tracestore::Error::TraceTooLarge { .. }) => err.to_string(),
            Err(err) => return Err(err.into()),
        };
        errors.push(ErrorItem {
            code: None,
            msg: error,
            trace_id: Some(trace_id.to_string()),
        });
    }
    Ok((traces, errors))
}

/// `GET /api/traces?service=&operation=&tags=&minDuration=&maxDuration=&limit=&start=&end=&lookback=`
/// (or `?traceID=...`, repeatable): whole traces with a span matching every condition,
/// most recent first. Parameters are read as Jaeger reads them ([`query`]).
pub(crate) async fn search(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
) -> Result<Response, JaegerError> {
    let pairs = params::pairs(query.as_deref());
    let request = query::traces_request(&pairs, UnixNanos::now().0)?;
    let (traces, errors) = with_traces(&context, move |store| {
        let ids: Vec<TraceId> = match request {
            TracesRequest::ByIds(ids) => ids,
            TracesRequest::Search(query) => store
                .search(&query)?
                .into_iter()
                .map(|summary| summary.trace_id)
                .collect(),
        };
        read_traces(store, ids)
    })
    .await?;
    Ok(answer(traces, 0, errors))
}

/// `GET /api/traces/<id>`: `data: [trace]`; 404 `"trace not found"` for an unknown id.
/// `start` and `end` (microseconds, as Grafana may send them) are checked, not needed.
pub(crate) async fn trace(
    State(context): State<Arc<ApiContext>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, JaegerError> {
    let trace_id = parse_trace_id(&id)?;
    let pairs = params::pairs(query.as_deref());
    for name in ["start", "end"] {
        query::integer_time(&pairs, name, 1_000, "microseconds")?;
    }
    let trace = with_traces(&context, move |store| {
        let spans = store.trace(&trace_id)?;
        if spans.is_empty() {
            return Err(trace_not_found());
        }
        Ok(convert::trace(trace_id, &spans))
    })
    .await?;
    Ok(answer([trace], 0, Vec::new()))
}

/// `GET /api/dependencies?endTs=<ms>&lookback=<ms>&service=`: `data: [{"parent",
/// "child", "callCount"}]`, calls between services in traces with a span starting in
/// `[endTs - lookback, endTs]` (by default the day before now), computed from at most
/// [`dependencies::MAX_TRACES`] traces; `service` keeps the edges that touch it.
pub(crate) async fn dependencies(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
) -> Result<Response, JaegerError> {
    let pairs = params::pairs(query.as_deref());
    let end = query::integer_time(&pairs, "endTs", NANOS_PER_MILLI, "milliseconds")?
        .unwrap_or_else(|| UnixNanos::now().0);
    let lookback = match query::text(&pairs, "lookback") {
        None => DEFAULT_DEPENDENCY_LOOKBACK_MS * NANOS_PER_MILLI,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|ms| *ms >= 0)
            .map(|ms| ms.saturating_mul(NANOS_PER_MILLI))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::BadData,
                    format!(
                        "invalid parameter \"lookback\": cannot parse {text:?} as a number of milliseconds"
                    ),
                )
            })?,
    };
    let service = query::text(&pairs, "service").map(str::to_owned);
    let start = UnixNanos(end.saturating_sub(lookback));
    let mut links = with_traces(&context, move |store| {
        Ok(dependencies::service_edges(store, start, UnixNanos(end))?)
    })
    .await?;
    if let Some(service) = service {
        links.retain(|link| link.parent == service || link.child == service);
    }
    Ok(answer(links, 0, Vec::new()))
}
