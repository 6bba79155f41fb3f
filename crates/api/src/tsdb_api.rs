//! Routes over the time-series store: flush to blocks, raw export, cardinality.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use model::ErrorKind;
use serde::Serialize;

use crate::params::{self, format_value};
use crate::{ApiContext, ApiError};

/// Most samples one export may return.
const MAX_EXPORT_SAMPLES: usize = 20_000_000;

pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ApiError::new(ErrorKind::Internal, format!("request failed: {err}")))?
}

fn store_error(err: &tsdb::Error) -> ApiError {
    let kind = match err {
        tsdb::Error::Closed => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    ApiError::new(kind, err.to_string())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FlushData {
    blocks_written: usize,
    samples_written: u64,
}

/// `POST /api/v1/admin/tsdb/flush`: writes every head sample to blocks now (and trims
/// the WAL); returns when they are on disk. Afterwards, samples older than the newest
/// one flushed are refused.
pub(crate) async fn flush(State(context): State<Arc<ApiContext>>) -> Result<Response, ApiError> {
    let db = context.tsdb.ready()?;
    let report = blocking(move || db.flush().map_err(|err| store_error(&err))).await?;
    Ok(crate::status::success(FlushData {
        blocks_written: report.blocks_written,
        samples_written: report.samples_written,
    })
    .into_response())
}

/// `GET /api/v1/export?match[]=<selector>&start=&end=`: raw samples as JSON lines,
/// one series per line: `{"metric":{...},"values":["1.5",...],"timestamps":[ms,...]}`.
/// Values are strings as in the Prometheus API, so NaN and infinities survive.
pub(crate) async fn export(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let db = context.tsdb.ready()?;
    let pairs = params::pairs(query.as_deref());
    let selectors = params::all(&pairs, "match[]");
    if selectors.is_empty() {
        return Err(ApiError::new(
            ErrorKind::BadData,
            "no match[] parameter provided",
        ));
    }
    let mut alternatives = Vec::new();
    for selector in selectors {
        let parsed = promql::parse_selector(selector)
            .map_err(|err| ApiError::new(ErrorKind::BadData, err.to_string()))?;
        alternatives.extend(parsed);
    }
    let start = params::last(&pairs, "start")
        .map(|t| params::parse_time("start", t))
        .transpose()?
        .unwrap_or(i64::MIN);
    let end = params::last(&pairs, "end")
        .map(|t| params::parse_time("end", t))
        .transpose()?
        .unwrap_or(i64::MAX);
    if end < start {
        return Err(ApiError::new(
            ErrorKind::BadData,
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let body = blocking(move || {
        let querier = db.querier(start, end);
        let mut seen = std::collections::BTreeMap::new();
        for matchers in &alternatives {
            for series in querier.select(matchers) {
                let series = series.map_err(|err| store_error(&err))?;
                seen.insert(series.labels.clone(), series);
            }
        }
        let mut out = String::new();
        let mut n_samples = 0usize;
        for series in seen.into_values() {
            n_samples += series.samples.len();
            if n_samples > MAX_EXPORT_SAMPLES {
                return Err(ApiError::new(
                    ErrorKind::Execution,
                    format!("the export would return more than {MAX_EXPORT_SAMPLES} samples; narrow the selector or the time range"),
                ));
            }
            let metric: serde_json::Map<String, serde_json::Value> = series
                .labels
                .iter()
                .map(|label| (label.name.clone(), serde_json::Value::String(label.value.clone())))
                .collect();
            let line = serde_json::json!({
                "metric": metric,
                "values": series.samples.iter().map(|s| format_value(s.value)).collect::<Vec<_>>(),
                "timestamps": series.samples.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(),
            });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        Ok(out)
    })
    .await?;
    Ok(([(CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadStatsData {
    num_series: u64,
    num_label_pairs: u64,
    chunk_bytes: u64,
    min_time: Option<i64>,
    max_time: Option<i64>,
}

#[derive(Serialize)]
struct NameValue {
    name: String,
    value: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TsdbStatus {
    head_stats: HeadStatsData,
    series_count_by_metric_name: Vec<NameValue>,
    label_value_count_by_label_name: Vec<NameValue>,
    memory_in_bytes_by_label_name: Vec<NameValue>,
    series_count_by_label_value_pair: Vec<NameValue>,
}

fn name_values(counts: Vec<tsdb::NameCount>) -> Vec<NameValue> {
    counts
        .into_iter()
        .map(|count| NameValue {
            name: count.name,
            value: count.value,
        })
        .collect()
}

/// `GET /api/v1/status/tsdb?limit=10`: Prometheus's cardinality statistics of the head.
pub(crate) async fn status(
    State(context): State<Arc<ApiContext>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let db = context.tsdb.ready()?;
    let pairs = params::pairs(query.as_deref());
    let limit = match params::last(&pairs, "limit") {
        None => 10,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=10_000).contains(limit))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::BadData,
                    format!(
                        "invalid parameter \"limit\": {text:?} is not a number from 1 to 10000"
                    ),
                )
            })?,
    };
    let stats = blocking(move || Ok(db.cardinality(limit))).await?;
    Ok(crate::status::success(TsdbStatus {
        head_stats: HeadStatsData {
            num_series: stats.head.num_series,
            num_label_pairs: stats.head.num_label_pairs,
            chunk_bytes: stats.head.chunk_bytes,
            min_time: stats.head.min_time,
            max_time: stats.head.max_time,
        },
        series_count_by_metric_name: name_values(stats.series_count_by_metric_name),
        label_value_count_by_label_name: name_values(stats.label_value_count_by_label_name),
        memory_in_bytes_by_label_name: name_values(stats.memory_in_bytes_by_label_name),
        series_count_by_label_value_pair: name_values(stats.series_count_by_label_value_pair),
    })
    .into_response())
}
