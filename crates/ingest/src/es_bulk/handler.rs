//! The routes: `_bulk` (check the media type and coding, decode, normalize, write, and
//! answer item by item in Elasticsearch's shape) and the few requests shippers make
//! before their first `_bulk`. Every answer carries `X-Elastic-Product: Elasticsearch`,
//! which Elastic's own clients require.
//!
//! Status codes follow Elasticsearch, because shippers act on them: 200 whenever the
//! request could be read, even if items failed (`errors: true`, each failed item with
//! its status: do not resend it); 400 when an action line cannot be read (nothing was
//! written); 413/415 for bodies too large or of the wrong type; 429 or 503 with
//! `Retry-After` when the store cannot take the batch (nothing was written; resend).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use model::{ErrorKind, UnixNanos};
use serde::Serialize;
use serde::ser::SerializeMap as _;

use super::decode::{self, Item};
use crate::body;
use crate::json_logs::JsonLogsConfig;
use crate::metrics::{IngestMetrics, Protocol};
use crate::sink::{LineRejection, LogSink, LogWriteOutcome};

/// The Elasticsearch version reported: new enough for current shippers to use the
/// typeless 8.x API, and what the response shapes here follow.
const VERSION: &str = "8.11.0";
const LUCENE_VERSION: &str = "9.8.0";
const CLUSTER_NAME: &str = "sightline";
const CLUSTER_UUID: &str = "c2lnaHRsaW5lLXNpbmdsZQ";

/// Media types of a bulk body; Elastic's clients may send the `vnd.elasticsearch`
/// forms when asked for compatibility headers.
const ACCEPTED_TYPES: [&str; 4] = [
    "application/x-ndjson",
    "application/json",
    "application/vnd.elasticsearch+x-ndjson",
    "application/vnd.elasticsearch+json",
];

#[derive(Debug, Clone)]
struct EsBulkState {
    sink: Arc<dyn LogSink>,
    config: Arc<JsonLogsConfig>,
    metrics: IngestMetrics,
}

/// The routes, ready to merge into the main router. `GET /` is the web UI, so the
/// requests that probe a cluster are answered only under `/elasticsearch`; point a
/// shipper that probes (Vector, Filebeat, Fluentd) at `http://host:port/elasticsearch`.
pub fn router(sink: Arc<dyn LogSink>, config: JsonLogsConfig, metrics: IngestMetrics) -> Router {
    Router::new()
        .route("/_bulk", post(bulk).put(bulk))
        .route("/{index}/_bulk", post(bulk_into).put(bulk_into))
        .route("/elasticsearch/_bulk", post(bulk).put(bulk))
        // `get` answers HEAD too, with the same status and no body.
        .route("/elasticsearch", get(root))
        .route("/elasticsearch/", get(root))
        // Vector's health check.
        .route("/elasticsearch/_cluster/health", get(cluster_health))
        // The license check that Filebeat (and every Beat of Elastic's default
        // distribution) makes when it connects.
        .route("/elasticsearch/_license", get(license))
        // Filebeat's set-up on connect: template, lifecycle policy, data stream. They are
        // acknowledged and ignored: Sightline has no mappings, and retention is its own.
        .route(
            "/elasticsearch/_index_template/{name}",
            get(index_template).put(acknowledged),
        )
        .route(
            "/elasticsearch/_template/{name}",
            get(acknowledged).put(acknowledged),
        )
        .route(
            "/elasticsearch/_ilm/policy/{name}",
            get(ilm_policy).put(acknowledged),
        )
        .route(
            "/elasticsearch/_data_stream/{name}",
            get(data_stream).put(acknowledged),
        )
        // `{index}/_bulk` and everything unknown: the router cannot have both a
        // parameter and a catch-all at the same place.
        .route("/elasticsearch/{*rest}", any(prefixed))
        .layer(axum::middleware::map_response(mark_as_elasticsearch))
        .with_state(EsBulkState {
            sink,
            config: Arc::new(config),
            metrics,
        })
}

async fn mark_as_elasticsearch(mut response: Response) -> Response {
    response.headers_mut().insert(
        HeaderName::from_static("x-elastic-product"),
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

async fn root() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "name": CLUSTER_NAME,
        "cluster_name": CLUSTER_NAME,
        "cluster_uuid": CLUSTER_UUID,
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "build_type": "tar",
            "build_snapshot": false,
            "lucene_version": LUCENE_VERSION,
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    }))
}

async fn cluster_health() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "cluster_name": CLUSTER_NAME,
        "status": "green",
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": 0,
        "active_shards": 0,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0
    }))
}

async fn license() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "license": {
            "status": "active",
            "uid": CLUSTER_UUID,
            "type": "basic",
            "mode": "basic",
            "max_nodes": 1000,
            "issued_to": CLUSTER_NAME,
            "issuer": "elasticsearch",
            "start_date_in_millis": -1
        }
    }))
}

/// Exists (200), so a shipper does not try to install one.
async fn index_template(Path(name): Path<String>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "index_templates": [
            {"name": name, "index_template": {"index_patterns": [], "composed_of": []}}
        ]
    }))
}

async fn ilm_policy(Path(name): Path<String>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ name: {"version": 1, "policy": {"phases": {}}} }))
}

async fn data_stream(Path(name): Path<String>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "data_streams": [{"name": name}] }))
}

async fn acknowledged() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "acknowledged": true }))
}

/// `/elasticsearch/{index}/_bulk`, else Elasticsearch's answer to an unknown endpoint.
async fn prefixed(
    State(state): State<EsBulkState>,
    method: Method,
    uri: Uri,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let index = rest
        .strip_suffix("/_bulk")
        .filter(|index| !index.is_empty() && !index.contains('/'));
    match index {
        Some(index) if method == Method::POST || method == Method::PUT => {
            write(state, Some(index.to_owned()), &headers, body).await
        }
        Some(_) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        None => no_handler(&method, &uri),
    }
}

fn no_handler(method: &Method, uri: &Uri) -> Response {
    es_error(
        StatusCode::BAD_REQUEST,
        "illegal_argument_exception",
        &format!(
            "no handler found for uri [{}] and method [{method}]: this endpoint answers \
             _bulk and the requests shippers make before it",
            uri.path()
        ),
    )
}

#[derive(Debug, Serialize)]
struct ErrorCause<'a> {
    #[serde(rename = "type")]
    error_type: &'a str,
    reason: &'a str,
}

#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    root_cause: [ErrorCause<'a>; 1],
    #[serde(rename = "type")]
    error_type: &'a str,
    reason: &'a str,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
    status: u16,
}

/// A whole-request failure in Elasticsearch's shape.
fn es_error(status: StatusCode, error_type: &str, reason: &str) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            root_cause: [ErrorCause { error_type, reason }],
            error_type,
            reason,
        },
        status: status.as_u16(),
    };
    (status, Json(body)).into_response()
}

/// Elasticsearch's name for a failure of the whole request with this status.
fn error_type_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "content_too_long_exception",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "media_type_header_exception",
        StatusCode::TOO_MANY_REQUESTS => "es_rejected_execution_exception",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable_shards_exception",
        status if status.is_server_error() => "exception",
        _ => "illegal_argument_exception",
    }
}

#[derive(Debug, Serialize)]
struct Shards {
    total: u32,
    successful: u32,
    failed: u32,
}

#[derive(Debug, Serialize)]
struct Created {
    #[serde(rename = "_index")]
    index: String,
    #[serde(rename = "_id")]
    id: String,
    #[serde(rename = "_version")]
    version: u64,
    result: &'static str,
    #[serde(rename = "_shards")]
    shards: Shards,
    #[serde(rename = "_seq_no")]
    seq_no: u64,
    #[serde(rename = "_primary_term")]
    primary_term: u64,
    status: u16,
}

#[derive(Debug, Serialize)]
struct ItemFailure {
    #[serde(rename = "type")]
    error_type: &'static str,
    reason: String,
}

#[derive(Debug, Serialize)]
struct Failed {
    #[serde(rename = "_index")]
    index: String,
    #[serde(rename = "_id")]
    id: Option<String>,
    status: u16,
    error: ItemFailure,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ItemResult {
    Created(Created),
    Failed(Failed),
}

/// `{"<action>": {...}}`.
#[derive(Debug)]
struct ItemResponse {
    action: &'static str,
    result: ItemResult,
}

impl Serialize for ItemResponse {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.action, &self.result)?;
        map.end()
    }
}

/// Field order matters: Fluent Bit looks for `"errors":false,"items":[` in the text
/// when the answer is larger than its response buffer.
#[derive(Debug, Serialize)]
struct BulkResponse {
    took: u64,
    errors: bool,
    items: Vec<ItemResponse>,
}

/// Numbers every written item (`_seq_no`) and makes generated ids unique in the process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// An id for an item that came without one: 20 URL-safe characters (like
/// Elasticsearch's own) from the arrival time and the process-wide sequence number.
fn generated_id(arrival: UnixNanos, sequence: u64) -> String {
    let mut bytes = [0u8; 15];
    bytes[..8].copy_from_slice(&arrival.0.to_be_bytes());
    bytes[8..].copy_from_slice(&sequence.to_be_bytes()[1..]);
    let mut id = String::with_capacity(20);
    for chunk in bytes.chunks_exact(3) {
        let group = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            id.push(char::from(URL_SAFE[(group >> shift & 63) as usize]));
        }
    }
    id
}

fn check_media_type(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let media_type = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media_type.is_empty() || ACCEPTED_TYPES.contains(&media_type.as_str()) {
        return Ok(());
    }
    Err(format!(
        "Content-Type header [{text}] is not supported: send NDJSON as {}",
        ACCEPTED_TYPES.join(" or ")
    ))
}

async fn bulk(State(state): State<EsBulkState>, headers: HeaderMap, body: Bytes) -> Response {
    write(state, None, &headers, body).await
}

async fn bulk_into(
    State(state): State<EsBulkState>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write(state, Some(index), &headers, body).await
}

async fn write(
    state: EsBulkState,
    path_index: Option<String>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    if let Err(message) = check_media_type(headers) {
        state
            .metrics
            .record_rejected(Protocol::ElasticsearchBulk, "unsupported_media_type", 1);
        let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return es_error(status, error_type_for(status), &message);
    }
    let encoding = match body::encoding(headers) {
        Ok(encoding) => encoding,
        Err(err) => {
            state
                .metrics
                .record_rejected(Protocol::ElasticsearchBulk, err.reason, 1);
            return es_error(err.status, error_type_for(err.status), &err.message);
        }
    };
    let work = move || process(&state, path_index.as_deref(), encoding, &body, started);
    match tokio::task::spawn_blocking(work).await {
        Ok(response) => response,
        Err(join_err) => {
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            es_error(
                status,
                error_type_for(status),
                &format!("the bulk write failed: {join_err}"),
            )
        }
    }
}

fn process(
    state: &EsBulkState,
    path_index: Option<&str>,
    encoding: body::Encoding,
    body: &[u8],
    started: Instant,
) -> Response {
    let metrics = &state.metrics;
    let protocol = Protocol::ElasticsearchBulk;
    let plain = match body::decode(body, encoding, state.config.max_decompressed_bytes) {
        Ok(plain) => plain,
        Err(err) => {
            metrics.record_rejected(protocol, err.reason, 1);
            return es_error(err.status, error_type_for(err.status), &err.message);
        }
    };
    let arrival = UnixNanos::now();
    let mut decoded = match decode::decode(&plain, path_index, &state.config.log, arrival) {
        Ok(decoded) => decoded,
        Err(err) => {
            metrics.record_rejected(protocol, err.reason, 1);
            let status = StatusCode::BAD_REQUEST;
            return es_error(status, error_type_for(status), &err.message);
        }
    };
    let count = decoded.records.len();
    let outcome = if count == 0 {
        LogWriteOutcome::default()
    } else {
        match state.sink.write(std::mem::take(&mut decoded.records)) {
            Ok(outcome) => outcome,
            Err(err) => {
                metrics.record_rejected(protocol, "store_unavailable", count as u64);
                let status = StatusCode::from_u16(err.kind.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut response = es_error(
                    status,
                    error_type_for(status),
                    &format!("nothing was written: {err}"),
                );
                if matches!(
                    err.kind,
                    ErrorKind::TooManyRequests | ErrorKind::Unavailable
                ) {
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                }
                return response;
            }
        }
    };
    metrics.record_accepted(protocol, outcome.accepted as u64, body.len() as u64);
    let response = answer(decoded.items, count, &outcome, arrival, started, metrics);
    (StatusCode::OK, Json(response)).into_response()
}

/// The per-item answer, in request order.
fn answer(
    items: Vec<Item>,
    records: usize,
    outcome: &LogWriteOutcome,
    arrival: UnixNanos,
    started: Instant,
    metrics: &IngestMetrics,
) -> BulkResponse {
    let mut rejections: Vec<Option<&LineRejection>> = vec![None; records];
    for rejection in &outcome.rejected {
        if let Some(slot) = rejections.get_mut(rejection.line_idx) {
            *slot = Some(rejection);
        }
    }
    let mut errors = false;
    let items = items
        .into_iter()
        .map(
            |Item {
                 action,
                 index,
                 id,
                 result,
                 ..
             }| {
                let failure = match result {
                    Ok(record_idx) => {
                        rejections
                            .get(record_idx)
                            .copied()
                            .flatten()
                            .map(|rejection| {
                                (
                                    rejection.reason,
                                    ItemFailure {
                                        error_type: "illegal_argument_exception",
                                        reason: rejection.message.clone(),
                                    },
                                )
                            })
                    }
                    Err(err) => Some((
                        err.reason,
                        ItemFailure {
                            error_type: err.error_type,
                            reason: err.message,
                        },
                    )),
                };
                let result = match failure {
                    None => {
                        let seq_no = SEQUENCE.fetch_add(1, Ordering::Relaxed);
                        ItemResult::Created(Created {
                            index,
                            id: id.unwrap_or_else(|| generated_id(arrival, seq_no)),
                            version: 1,
                            result: "created",
                            shards: Shards {
                                total: 1,
                                successful: 1,
                                failed: 0,
                            },
                            seq_no,
                            primary_term: 1,
                            status: 201,
                        })
                    }
                    Some((reason, error)) => {
                        metrics.record_rejected(Protocol::ElasticsearchBulk, reason, 1);
                        errors = true;
                        ItemResult::Failed(Failed {
                            index,
                            id,
                            status: 400,
                            error,
                        })
                    }
                };
                ItemResponse {
                    action: action.as_str(),
                    result,
                }
            },
        )
        .collect();
    BulkResponse {
        took: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        errors,
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_twenty_url_safe_characters_and_unique() {
        let arrival = UnixNanos(1_795_283_910_123_456_789);
        let ids: Vec<String> = (0..1000).map(|seq| generated_id(arrival, seq)).collect();
        for id in &ids {
            assert_eq!(id.len(), 20, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{id}"
            );
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        assert_ne!(
            generated_id(UnixNanos(1), 7),
            generated_id(UnixNanos(2), 7),
            "a restart (another arrival time) does not repeat ids"
        );
        assert_eq!(generated_id(UnixNanos(0), 0), "AAAAAAAAAAAAAAAAAAAA");
        // Checked against Python's base64.urlsafe_b64encode.
        assert_eq!(generated_id(UnixNanos(-1), 0), "__________8AAAAAAAAA");
        assert_eq!(generated_id(arrival, 5), "GOohNFXiCRUAAAAAAAAF");
    }
}
