//! The Loki read API, the subset Grafana's Loki data source uses: `query_range` and
//! `query` (log queries as streams, metric queries as matrices, vectors and scalars),
//! `labels`, `label/<name>/values`, `series`, `index/stats` and `status/buildinfo`.
//!
//! Shapes are Loki's: `{"status":"success","data":{"resultType":"streams","result":
//! [{"stream":{...},"values":[["<ns>","<line>"],...]}],"stats":{...}}}`; errors are
//! Loki's too, a status and a plain-text body (Grafana shows the text). A stream's labels
//! are `service`, `level`, `host` and the configured `logs.label_fields` (dots become
//! underscores); the LogQL subset is in [`crate::logql`].
//!
//! Times are read as Loki reads them (`params::parse_time_nanos`); without `start`/`end`
//! a query covers the last hour.

mod eval;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use logstore::{Direction, GroupsRequest, Label, LinesRequest, LogStore, Selection};
use model::{ErrorKind, UnixNanos};
use serde::{Serialize, Serializer};

use crate::logql::{self, Expr, LogQuery};
use crate::logs_api::with_store;
use crate::{ApiContext, ApiError, params};
use eval::{Evaluator, Grid, Series, StreamLabels, Value, Work, label_set};

/// Lines a log query returns without `limit`, and the most it may ask for (Loki's
/// `max_entries_limit_per_query`).
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 5_000;
/// Loki's bound on points per series: `(end - start) / step` at most this.
const MAX_STEPS: i64 = 11_000;
/// Most distinct label sets the metadata endpoints collect before refusing.
const MAX_METADATA_SETS: usize = 100_000;
const HOUR_NANOS: i64 = 3_600_000_000_000;
const SECOND_NANOS: i64 = 1_000_000_000;
/// The Loki API version Sightline answers as (`status/buildinfo`).
const LOKI_VERSION: &str = "3.0.0";

/// An error as Loki answers one: the status of its kind, the message as plain text.
#[derive(Debug)]
pub(crate) struct LokiError(ApiError);

impl From<ApiError> for LokiError {
    fn from(err: ApiError) -> Self {
        LokiError(err)
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.0.message).into_response();
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

type Answer = Result<Response, LokiError>;

/// A stream's labels, by name.
type LabelSet = BTreeMap<String, String>;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadData, message)
}

fn parse_error(err: &logql::ParseError) -> ApiError {
    bad(err.to_string())
}

/// Seconds with the milliseconds written out when there are any (`1700000000.5`), as a
/// JSON number: how Loki writes the times of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seconds(i64);

impl Seconds {
    fn from_nanos(nanos: i64) -> Self {
        Seconds(nanos.div_euclid(1_000_000))
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ms = self.0;
        let sign = if ms < 0 { "-" } else { "" };
        let ms = ms.unsigned_abs();
        let text = match ms % 1000 {
            0 => format!("{sign}{}", ms / 1000),
            fraction => format!(
                "{sign}{}.{}",
                ms / 1000,
                format!("{fraction:03}").trim_end_matches('0')
            ),
        };
        let raw =
            serde_json::value::RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

#[derive(Serialize)]
struct Success<T> {
    status: &'static str,
    data: T,
}

fn success<T: Serialize>(data: T) -> Response {
    Json(Success {
        status: "success",
        data,
    })
    .into_response()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueryData<R> {
    result_type: &'static str,
    result: R,
    stats: Stats,
}

/// The summary of Loki's statistics, which Grafana shows in the query inspector.
#[derive(Serialize)]
struct Stats {
    summary: Summary,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    bytes_processed_per_second: u64,
    lines_processed_per_second: u64,
    total_bytes_processed: u64,
    total_lines_processed: u64,
    /// Seconds.
    exec_time: f64,
    queue_time: f64,
    subqueries: u64,
    total_entries_returned: u64,
}

impl Stats {
    fn new(work: Work, entries: usize, started: Instant) -> Self {
        let seconds = started.elapsed().as_secs_f64();
        let per_second = |amount: u64| {
            if seconds > 0.0 {
                (amount as f64 / seconds) as u64
            } else {
                0
            }
        };
        Stats {
            summary: Summary {
                bytes_processed_per_second: per_second(work.bytes),
                lines_processed_per_second: per_second(work.lines),
                total_bytes_processed: work.bytes,
                total_lines_processed: work.lines,
                exec_time: seconds,
                queue_time: 0.0,
                subqueries: 0,
                total_entries_returned: entries as u64,
            },
        }
    }
}

#[derive(Debug, Serialize, PartialEq, Eq)]
struct Stream {
    stream: BTreeMap<String, String>,
    /// `["<unix nanoseconds>", "<line>"]`
    values: Vec<(String, String)>,
}

#[derive(Serialize)]
struct MatrixSeries {
    metric: BTreeMap<String, String>,
    values: Vec<(Seconds, String)>,
}

#[derive(Serialize)]
struct VectorSample {
    metric: BTreeMap<String, String>,
    value: (Seconds, String),
}

/// Loki's rendering of a label set, the order of streams and series.
fn label_text(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

fn time(pairs: &[(String, String)], name: &str) -> Result<Option<i64>, ApiError> {
    params::last(pairs, name)
        .filter(|text| !text.is_empty())
        .map(|text| params::parse_time_nanos(name, text))
        .transpose()
}

fn now() -> i64 {
    UnixNanos::now().0
}

/// `start` and `end`, by default the hour before now.
fn bounds(pairs: &[(String, String)]) -> Result<(i64, i64), ApiError> {
    let end = time(pairs, "end")?.unwrap_or_else(now);
    let start = time(pairs, "start")?.unwrap_or_else(|| end.saturating_sub(HOUR_NANOS));
    if end < start {
        return Err(bad("end timestamp must not be before start time"));
    }
    Ok((start, end))
}

fn direction(pairs: &[(String, String)]) -> Result<Direction, ApiError> {
    match params::last(pairs, "direction").unwrap_or_default() {
        "" => Ok(Direction::Backward),
        text if text.eq_ignore_ascii_case("backward") => Ok(Direction::Backward),
        text if text.eq_ignore_ascii_case("forward") => Ok(Direction::Forward),
        text => Err(bad(format!("invalid direction '{text}'"))),
    }
}

fn limit(pairs: &[(String, String)]) -> Result<usize, ApiError> {
    let Some(text) = params::last(pairs, "limit").filter(|text| !text.is_empty()) else {
        return Ok(DEFAULT_LIMIT);
    };
    let limit: i64 = text.parse().map_err(|_| {
        bad(format!(
            "invalid parameter \"limit\": {text:?} is not a whole number"
        ))
    })?;
    if limit <= 0 {
        return Err(bad("limit must be a positive value"));
    }
    if limit > MAX_LIMIT as i64 {
        return Err(bad(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {MAX_LIMIT})"
        )));
    }
    Ok(limit as usize)
}

fn query_text(pairs: &[(String, String)]) -> String {
    params::last(pairs, "query").unwrap_or_default().to_owned()
}

/// The stream labels of this server.
fn stream_labels(context: &ApiContext) -> StreamLabels {
    StreamLabels::new(&context.log_label_fields)
}

/// A log query: the lines, grouped into streams, at most `limit` across all of them.
fn log_streams(
    store: &LogStore,
    streams: &StreamLabels,
    query: &LogQuery,
    range: (i64, i64),
    direction: Direction,
    limit: usize,
) -> Result<(Vec<Stream>, Work), ApiError> {
    let Some(selection) = eval::selection(query, streams)? else {
        return Ok((Vec::new(), Work::default()));
    };
    let found = store
        .select_lines(&LinesRequest {
            selection: &selection,
            start: range.0,
            end: range.1,
            direction,
            limit,
            labels: streams.labels(),
            max_scanned: eval::MAX_SCANNED_LINES,
        })
        .map_err(ApiError::from)?;
    let mut grouped: BTreeMap<String, Stream> = BTreeMap::new();
    for line in found.lines {
        let labels = label_set(streams.names(), line.labels);
        grouped
            .entry(label_text(&labels))
            .or_insert_with(|| Stream {
                stream: labels,
                values: Vec::new(),
            })
            .values
            .push((line.timestamp.to_string(), line.line));
    }
    let work = Work {
        lines: found.scanned_lines,
        bytes: found.scanned_bytes,
    };
    Ok((grouped.into_values().collect(), work))
}

/// The series of a metric result in Loki's order, without series that have no point.
fn sorted(series: Vec<Series>) -> Vec<Series> {
    let mut series: Vec<Series> = series
        .into_iter()
        .filter(|one| one.points.iter().any(Option::is_some))
        .collect();
    series.sort_by(|a, b| a.labels.iter().cmp(b.labels.iter()));
    series
}

/// `GET|POST /loki/api/v1/query_range?query=&start=&end=&step=&limit=&direction=`
pub(crate) async fn query_range(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let started = Instant::now();
    let pairs = params::form(query.as_deref(), &headers, &body);
    let expr = logql::parse(&query_text(&pairs)).map_err(|err| parse_error(&err))?;
    let (start, end) = bounds(&pairs)?;
    let streams = stream_labels(&context);
    if let Expr::Log(log) = expr {
        let direction = direction(&pairs)?;
        let limit = limit(&pairs)?;
        let (result, work) = with_store(&context, move |store| {
            log_streams(store, &streams, &log, (start, end), direction, limit)
        })
        .await?;
        let entries = result.iter().map(|stream| stream.values.len()).sum();
        return Ok(success(QueryData {
            result_type: "streams",
            result,
            stats: Stats::new(work, entries, started),
        }));
    }
    let span = end.saturating_sub(start);
    let step = match params::last(&pairs, "step").filter(|text| !text.is_empty()) {
        Some(text) => {
            let step = params::parse_duration("step", text)?;
            i64::try_from(step.as_nanos()).unwrap_or(i64::MAX)
        }
        // Loki's default: a 250th of the range, in whole seconds, at least one.
        None => (span / SECOND_NANOS / 250).max(1) * SECOND_NANOS,
    };
    if step <= 0 {
        return Err(bad(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        )
        .into());
    }
    if span / step > MAX_STEPS {
        return Err(bad(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        )
        .into());
    }
    let grid = Grid {
        first: start,
        step,
        points: (span / step) as usize + 1,
    };
    let (value, work) = with_store(&context, move |store| {
        let mut evaluator = Evaluator::new(store, &streams, grid);
        let value = evaluator.eval(&expr)?;
        Ok((value, evaluator.work))
    })
    .await?;
    let series = match value {
        // A number over a range is the same number at every step.
        Value::Scalar(number) => vec![Series {
            labels: BTreeMap::new(),
            points: vec![Some(number); grid.points],
        }],
        Value::Vector(series) => sorted(series),
    };
    let result: Vec<MatrixSeries> = series
        .into_iter()
        .map(|one| MatrixSeries {
            metric: one.labels,
            values: one
                .points
                .iter()
                .enumerate()
                .filter_map(|(k, value)| {
                    value.map(|v| (Seconds::from_nanos(grid.time(k)), params::format_value(v)))
                })
                .collect(),
        })
        .collect();
    let entries = result.iter().map(|series| series.values.len()).sum();
    Ok(success(QueryData {
        result_type: "matrix",
        result,
        stats: Stats::new(work, entries, started),
    }))
}

/// `GET|POST /loki/api/v1/query?query=&time=`: metric queries at one instant (Loki
/// refuses log queries here, and so does Sightline).
pub(crate) async fn query(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let started = Instant::now();
    let pairs = params::form(query.as_deref(), &headers, &body);
    let expr = logql::parse(&query_text(&pairs)).map_err(|err| parse_error(&err))?;
    if let Expr::Log(_) = expr {
        return Err(bad(
            "log queries are not supported as an instant query type, please change your query to a range query type",
        )
        .into());
    }
    let at = time(&pairs, "time")?.unwrap_or_else(now);
    let grid = Grid {
        first: at,
        step: SECOND_NANOS,
        points: 1,
    };
    let streams = stream_labels(&context);
    let (value, work) = with_store(&context, move |store| {
        let mut evaluator = Evaluator::new(store, &streams, grid);
        let value = evaluator.eval(&expr)?;
        Ok((value, evaluator.work))
    })
    .await?;
    let seconds = Seconds::from_nanos(at);
    match value {
        Value::Scalar(number) => Ok(success(QueryData {
            result_type: "scalar",
            result: (seconds, params::format_value(number)),
            stats: Stats::new(work, 1, started),
        })),
        Value::Vector(series) => {
            let result: Vec<VectorSample> = sorted(series)
                .into_iter()
                .filter_map(|one| {
                    let value = one.points.first().copied().flatten()?;
                    Some(VectorSample {
                        metric: one.labels,
                        value: (seconds, params::format_value(value)),
                    })
                })
                .collect();
            let entries = result.len();
            Ok(success(QueryData {
                result_type: "vector",
                result,
                stats: Stats::new(work, entries, started),
            }))
        }
    }
}

/// The selection of a `query` (or `match[]`) parameter of the metadata endpoints: a log
/// query (its line filters apply). `Ok(None)`: it can match nothing.
fn metadata_selection(text: &str, streams: &StreamLabels) -> Result<Option<Selection>, ApiError> {
    match logql::parse(text).map_err(|err| parse_error(&err))? {
        Expr::Log(query) => eval::selection(&query, streams),
        _ => Err(bad(format!(
            "only label matchers are supported: {text:?} is not a stream selector"
        ))),
    }
}

/// The distinct label sets (of `labels`, a subset of the stream labels) among the lines
/// of `[start, end)` that the selection picks, with their line counts and bytes.
fn label_sets(
    store: &LogStore,
    streams: &StreamLabels,
    labels: &[Label],
    selection: &Selection,
    (start, end): (i64, i64),
) -> Result<Vec<(LabelSet, logstore::Group)>, ApiError> {
    let names: Vec<String> = labels
        .iter()
        .filter_map(|label| {
            let at = streams.labels().iter().position(|known| known == label)?;
            streams.names().get(at).cloned()
        })
        .collect();
    let groups = store
        .groups(&GroupsRequest {
            selection,
            start,
            end,
            labels,
            max_scanned: eval::MAX_SCANNED_LINES,
            max_groups: MAX_METADATA_SETS,
        })
        .map_err(ApiError::from)?;
    Ok(groups
        .into_iter()
        .map(|group| (label_set(&names, group.labels.clone()), group))
        .collect())
}

/// `GET|POST /loki/api/v1/labels?start=&end=&query=`
pub(crate) async fn labels(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let (start, end) = bounds(&pairs)?;
    let streams = stream_labels(&context);
    let text = query_text(&pairs);
    let names = with_store(&context, move |store| {
        if text.trim().is_empty() {
            let values = store
                .label_values(streams.labels(), start, end)
                .map_err(ApiError::from)?;
            return Ok(streams
                .names()
                .iter()
                .zip(values)
                .filter(|(_, values)| !values.is_empty())
                .map(|(name, _)| name.clone())
                .collect::<BTreeSet<String>>());
        }
        let Some(selection) = metadata_selection(&text, &streams)? else {
            return Ok(BTreeSet::new());
        };
        Ok(
            label_sets(store, &streams, streams.labels(), &selection, (start, end))?
                .into_iter()
                .flat_map(|(labels, _)| labels.into_keys())
                .collect(),
        )
    })
    .await?;
    Ok(success(names.into_iter().collect::<Vec<_>>()))
}

/// `GET|POST /loki/api/v1/label/<name>/values?start=&end=&query=`
pub(crate) async fn label_values(
    State(context): State<Arc<ApiContext>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let (start, end) = bounds(&pairs)?;
    let streams = stream_labels(&context);
    let text = query_text(&pairs);
    let values = with_store(&context, move |store| {
        let Some(label) = streams.get(&name).cloned() else {
            return Ok(BTreeSet::new());
        };
        if text.trim().is_empty() {
            let mut values = store
                .label_values(std::slice::from_ref(&label), start, end)
                .map_err(ApiError::from)?;
            return Ok(values.pop().unwrap_or_default());
        }
        let Some(selection) = metadata_selection(&text, &streams)? else {
            return Ok(BTreeSet::new());
        };
        let one = std::slice::from_ref(&label);
        Ok(label_sets(store, &streams, one, &selection, (start, end))?
            .into_iter()
            .filter_map(|(mut labels, _)| labels.remove(&name))
            .collect())
    })
    .await?;
    Ok(success(values.into_iter().collect::<Vec<_>>()))
}

/// `GET|POST /loki/api/v1/series?match[]=&start=&end=`: the label sets of the streams
/// any of the selectors picks (every stream without `match[]`).
pub(crate) async fn series(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let (start, end) = bounds(&pairs)?;
    let streams = stream_labels(&context);
    let mut selectors: Vec<String> = params::all(&pairs, "match[]")
        .into_iter()
        .chain(params::all(&pairs, "match"))
        .map(str::to_owned)
        .collect();
    selectors.retain(|text| !text.trim().is_empty());
    let sets = with_store(&context, move |store| {
        let selections = if selectors.is_empty() {
            vec![Some(Selection::default())]
        } else {
            selectors
                .iter()
                .map(|text| metadata_selection(text, &streams))
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut sets: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for selection in selections.into_iter().flatten() {
            let found = label_sets(store, &streams, streams.labels(), &selection, (start, end))?;
            for (labels, _) in found {
                sets.insert(label_text(&labels), labels);
            }
        }
        Ok(sets)
    })
    .await?;
    Ok(success(sets.into_values().collect::<Vec<_>>()))
}

#[derive(Serialize)]
struct IndexStats {
    streams: u64,
    chunks: u64,
    entries: u64,
    bytes: u64,
}

/// `GET|POST /loki/api/v1/index/stats?query=&start=&end=`: how much a selector reads,
/// which Grafana shows before running a query. Sightline has no chunks; it counts one
/// per stream.
pub(crate) async fn index_stats(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let pairs = params::form(query.as_deref(), &headers, &body);
    let (start, end) = bounds(&pairs)?;
    let streams = stream_labels(&context);
    let text = query_text(&pairs);
    let stats = with_store(&context, move |store| {
        let selection = if text.trim().is_empty() {
            Some(Selection::default())
        } else {
            metadata_selection(&text, &streams)?
        };
        let mut stats = IndexStats {
            streams: 0,
            chunks: 0,
            entries: 0,
            bytes: 0,
        };
        let Some(selection) = selection else {
            return Ok(stats);
        };
        let sets = label_sets(store, &streams, streams.labels(), &selection, (start, end))?;
        let distinct: BTreeSet<String> =
            sets.iter().map(|(labels, _)| label_text(labels)).collect();
        stats.streams = distinct.len() as u64;
        stats.chunks = stats.streams;
        for (_, group) in sets {
            stats.entries += group.lines;
            stats.bytes += group.bytes;
        }
        Ok(stats)
    })
    .await?;
    Ok(Json(stats).into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LokiBuildInfo {
    version: &'static str,
    revision: String,
    branch: String,
    build_user: &'static str,
    build_date: String,
    go_version: String,
}

/// `GET /loki/api/v1/status/buildinfo`: the Loki API version Sightline answers as, and
/// Sightline's own build.
pub(crate) async fn buildinfo(State(context): State<Arc<ApiContext>>) -> Response {
    Json(LokiBuildInfo {
        version: LOKI_VERSION,
        revision: context.build.revision.clone(),
        branch: context.build.branch.clone(),
        build_user: "sightline",
        build_date: context.build.build_date.clone(),
        go_version: context.build.rustc_version.clone(),
    })
    .into_response()
}
