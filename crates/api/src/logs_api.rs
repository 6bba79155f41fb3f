//! Log search over the log store: lines matching a query with a cursor, the volume
//! histogram, top values of a field, every line of one trace, and live tail over
//! server-sent events.
//!
//! Times are nanoseconds as Loki reads them (`params::time_range_nanos`): Unix seconds,
//! Unix nanoseconds, or RFC 3339. Without `start`/`end` a search covers the last hour; a
//! trace lookup covers everything kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use logstore::{Cursor, Direction, Hit, LogStore, SearchRequest, TopField};
use model::{ErrorKind, UnixNanos};
use serde::Serialize;

use crate::params;
use crate::readiness::ReadyStatus;
use crate::status::success;
use crate::{ApiContext, ApiError};

const DEFAULT_LIMIT: usize = 100;
const DEFAULT_TRACE_LIMIT: usize = 5_000;
const DEFAULT_TOP_LIMIT: usize = 10;
const MAX_TOP_LIMIT: usize = 1_000;
/// Buckets of a histogram whose `step` is not given.
const DEFAULT_BUCKETS: i64 = 100;
const DEFAULT_RANGE_NANOS: i64 = 3_600 * 1_000_000_000;
/// How often a live tail looks for new lines, and most lines it sends per look.
const TAIL_INTERVAL: Duration = Duration::from_millis(500);
const TAIL_BATCH: usize = 1_000;
/// Most live tails open at once; one more answers 429.
pub const MAX_TAILS: usize = 64;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadData, message)
}

/// A line as the search API returns it.
#[derive(Debug, Serialize)]
pub(crate) struct LineJson {
    /// RFC 3339 with nanoseconds.
    timestamp: String,
    /// Unix nanoseconds, as a string so no client loses precision.
    timestamp_ns: String,
    level: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    /// The line exactly as it arrived.
    line: String,
}

impl From<Hit> for LineJson {
    fn from(hit: Hit) -> Self {
        LineJson {
            timestamp: model::time::format_rfc3339(UnixNanos(hit.timestamp)),
            timestamp_ns: hit.timestamp.to_string(),
            level: hit.level,
            service: hit.service,
            host: hit.host,
            trace_id: hit.trace_id,
            span_id: hit.span_id,
            correlation_id: hit.correlation_id,
            line: hit.line,
        }
    }
}

#[derive(Serialize)]
struct LinesData {
    lines: Vec<LineJson>,
    /// Lines matching in the whole range, not only this page.
    total: u64,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// The query parameter; empty or absent matches every line.
fn query_text(pairs: &[(String, String)]) -> String {
    match params::last(pairs, "query").map(str::trim) {
        None | Some("") => "*".to_owned(),
        Some(text) => text.to_owned(),
    }
}

fn direction(pairs: &[(String, String)]) -> Result<Direction, ApiError> {
    match params::last(pairs, "direction").map(str::to_ascii_lowercase) {
        None => Ok(Direction::Backward),
        Some(d) if d.is_empty() || d == "backward" => Ok(Direction::Backward),
        Some(d) if d == "forward" => Ok(Direction::Forward),
        Some(d) => Err(bad(format!(
            "invalid parameter \"direction\": {d:?} is neither \"forward\" nor \"backward\""
        ))),
    }
}

/// Runs `work` on the log store on a blocking thread; 503 while the store opens.
pub(crate) async fn with_store<T: Send + 'static>(
    context: &ApiContext,
    work: impl FnOnce(&LogStore) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = context.logs.ready()?;
    crate::tsdb_api::blocking(move || work(&store)).await
}

/// `GET|POST /api/v1/logs/search?query=&start=&end=&limit=&direction=&cursor=`
pub(crate) async fn search(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let query = query_text(&pairs);
    let (start, end) = params::time_range_nanos(&pairs, DEFAULT_RANGE_NANOS)?;
    let limit = params::limit(&pairs, DEFAULT_LIMIT, logstore::search::MAX_LIMIT)?;
    let direction = direction(&pairs)?;
    let after = params::last(&pairs, "cursor")
        .filter(|text| !text.is_empty())
        .map(|text| {
            Cursor::decode(text).map_err(|err| bad(format!("invalid parameter \"cursor\": {err}")))
        })
        .transpose()?;
    let result = with_store(&context, move |store| {
        store
            .search(&SearchRequest {
                query: &query,
                start,
                end,
                direction,
                limit,
                after,
            })
            .map_err(ApiError::from)
    })
    .await?;
    Ok(success(LinesData {
        total: result.total,
        next_cursor: result.next.map(|cursor| cursor.encode()),
        lines: result.hits.into_iter().map(LineJson::from).collect(),
    })
    .into_response())
}

/// `GET /api/v1/logs/trace/<id>?start=&end=&limit=`: every line of one request, by
/// trace id or correlation id, oldest first, across services.
pub(crate) async fn trace(
    State(context): State<Arc<ApiContext>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let (start, end) = params::time_range_nanos(&pairs, i64::MAX)?;
    let limit = params::limit(&pairs, DEFAULT_TRACE_LIMIT, logstore::search::MAX_LIMIT)?;
    let result = with_store(&context, move |store| {
        store
            .lines_of(&id, start, end, limit)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(success(LinesData {
        total: result.total,
        next_cursor: None,
        lines: result.hits.into_iter().map(LineJson::from).collect(),
    })
    .into_response())
}

#[derive(Serialize)]
struct Bucket {
    /// Start of the bucket, Unix nanoseconds as a string.
    start_ns: String,
    count: u64,
}

#[derive(Serialize)]
struct HistogramData {
    step_ns: String,
    buckets: Vec<Bucket>,
}

/// `GET /api/v1/logs/histogram?query=&start=&end=&step=`: matching lines per bucket;
/// `step` as a duration (`1m`) or seconds, by default a hundredth of the range.
pub(crate) async fn histogram(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let query = query_text(&pairs);
    let (start, end) = params::time_range_nanos(&pairs, DEFAULT_RANGE_NANOS)?;
    let span = end.saturating_sub(start).max(1);
    let step = match params::last(&pairs, "step").filter(|text| !text.is_empty()) {
        Some(text) => {
            let step = params::parse_duration("step", text)?;
            i64::try_from(step.as_nanos()).unwrap_or(i64::MAX)
        }
        None => (span / DEFAULT_BUCKETS).max(1),
    };
    if step <= 0 {
        return Err(bad("invalid parameter \"step\": zero or negative step"));
    }
    let buckets = usize::try_from(span / step + i64::from(span % step != 0)).unwrap_or(usize::MAX);
    if buckets > logstore::search::MAX_BUCKETS {
        return Err(bad(format!(
            "exceeded maximum resolution of {} buckets; raise \"step\" or shorten the range",
            logstore::search::MAX_BUCKETS
        )));
    }
    let counts = with_store(&context, move |store| {
        store
            .histogram(&query, start, step, buckets)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(success(HistogramData {
        step_ns: step.to_string(),
        buckets: counts
            .into_iter()
            .enumerate()
            .map(|(i, count)| Bucket {
                start_ns: (start + step * i as i64).to_string(),
                count,
            })
            .collect(),
    })
    .into_response())
}

#[derive(Serialize)]
struct TopValue {
    value: String,
    count: u64,
}

#[derive(Serialize)]
struct TopData {
    field: String,
    values: Vec<TopValue>,
}

/// `GET /api/v1/logs/top?field=service|level|host&query=&start=&end=&limit=`
pub(crate) async fn top(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let name = params::last(&pairs, "field").unwrap_or_default().to_owned();
    let field = TopField::parse(&name).ok_or_else(|| {
        bad(format!(
            "invalid parameter \"field\": {name:?}; top values are counted for service, level and host"
        ))
    })?;
    let query = query_text(&pairs);
    let (start, end) = params::time_range_nanos(&pairs, DEFAULT_RANGE_NANOS)?;
    let limit = params::limit(&pairs, DEFAULT_TOP_LIMIT, MAX_TOP_LIMIT)?;
    let values = with_store(&context, move |store| {
        store
            .top_values(&query, start, end, field, limit)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(success(TopData {
        field: name,
        values: values
            .into_iter()
            .map(|(value, count)| TopValue { value, count })
            .collect(),
    })
    .into_response())
}

/// Counts open live tails; a slot is given back when its stream is dropped.
#[derive(Debug, Default)]
pub struct TailSlots {
    open: AtomicUsize,
}

struct TailSlot(Arc<ApiContext>);

impl Drop for TailSlot {
    fn drop(&mut self) {
        self.0.tail_slots.open.fetch_sub(1, Ordering::AcqRel);
    }
}

struct TailState {
    slot: TailSlot,
    query: String,
    next_seq: u64,
    pending: std::vec::IntoIter<Hit>,
    first: bool,
}

/// `GET /api/v1/logs/tail?query=`: server-sent events, one `line` event per new line
/// that matches (the JSON of a search hit), from the moment of the request on. Lines
/// come in the order they were written, as soon as they are searchable.
pub(crate) async fn tail(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let query = query_text(&pairs);
    logstore::query::parse(&query).map_err(|err| bad(format!("invalid query: {err}")))?;
    let store = context.logs.ready()?;
    let open = context.tail_slots.open.fetch_add(1, Ordering::AcqRel);
    let slot = TailSlot(Arc::clone(&context));
    if open >= MAX_TAILS {
        return Err(ApiError::new(
            ErrorKind::TooManyRequests,
            format!("{MAX_TAILS} live tails are already open; close one and retry"),
        ));
    }
    let state = TailState {
        slot,
        query,
        next_seq: store.searchable_below(),
        pending: Vec::new().into_iter(),
        first: true,
    };
    let stream = futures_util::stream::unfold(state, move |mut state| {
        let store = Arc::clone(&store);
        async move {
            loop {
                if let Some(hit) = state.pending.next() {
                    let event = Event::default()
                        .event("line")
                        .json_data(LineJson::from(hit))
                        .map_err(std::io::Error::other);
                    return Some((event, state));
                }
                if state.first {
                    // An event at once, so clients know the tail is live.
                    state.first = false;
                    return Some((Ok(Event::default().event("open").data("{}")), state));
                }
                if state.slot.0.readiness.status() == ReadyStatus::ShuttingDown {
                    return None;
                }
                tokio::time::sleep(TAIL_INTERVAL).await;
                let below = store.searchable_below();
                let (query, from) = (state.query.clone(), state.next_seq);
                let store = Arc::clone(&store);
                let found = tokio::task::spawn_blocking(move || {
                    store.lines_numbered(&query, from, below, TAIL_BATCH)
                })
                .await;
                let hits = match found {
                    Ok(Ok(hits)) => hits,
                    Ok(Err(err)) => {
                        let event = Event::default().event("error").data(err.to_string());
                        return Some((Ok(event), state));
                    }
                    Err(_) => return None,
                };
                // A full batch may leave lines below `below`: continue after the last.
                state.next_seq = if hits.len() == TAIL_BATCH {
                    hits.last().map_or(below, |h| h.seq + 1)
                } else {
                    below
                };
                state.pending = hits.into_iter();
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
