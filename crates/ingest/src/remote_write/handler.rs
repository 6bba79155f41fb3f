//! `POST /api/v1/write`: negotiate the version from the headers, decompress within the
//! configured bound, decode, write, and answer as the remote-write specifications say:
//! 204 when everything was written; 400 naming the series when some data was refused
//! (the valid rest is written), series limits included: a limit holds until old series
//! leave the head, hours later, so a sender must not retry; 413/415 for bodies that are
//! too large or of the wrong type; 5xx only when a retry can succeed. 2.0
//! answers always carry the `X-Prometheus-Remote-Write-*-Written` headers.

use std::sync::{Arc, PoisonError, RwLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use model::ErrorKind;

use super::decode::{self, Decoded, KnownLabelSets};
use crate::metrics::{IngestMetrics, Protocol};
use crate::sink::{MetricsSink, WriteOutcome};
use crate::validate::LabelLimits;

const SAMPLES_WRITTEN: &str = "x-prometheus-remote-write-samples-written";
const HISTOGRAMS_WRITTEN: &str = "x-prometheus-remote-write-histograms-written";
const EXEMPLARS_WRITTEN: &str = "x-prometheus-remote-write-exemplars-written";

/// How many problems a response body lists before summarizing the rest.
const MAX_LISTED_PROBLEMS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteWriteConfig {
    /// Largest decompressed body, checked against the snappy header before allocating.
    pub max_decompressed_bytes: usize,
    pub label_limits: LabelLimits,
}

impl Default for RemoteWriteConfig {
    fn default() -> Self {
        RemoteWriteConfig {
            max_decompressed_bytes: 32 << 20,
            label_limits: LabelLimits::default(),
        }
    }
}

/// Label sets remembered as valid before the set is cleared (about 16 bytes each).
const MAX_KNOWN_LABEL_SETS: usize = 1 << 21;

#[derive(Debug, Clone)]
struct RemoteWriteState {
    sink: Arc<dyn MetricsSink>,
    config: RemoteWriteConfig,
    metrics: IngestMetrics,
    known: Arc<RwLock<KnownLabelSets>>,
}

/// The remote-write route, ready to merge into the main router.
pub fn router(
    sink: Arc<dyn MetricsSink>,
    config: RemoteWriteConfig,
    metrics: IngestMetrics,
) -> Router {
    Router::new()
        .route("/api/v1/write", post(write))
        .with_state(RemoteWriteState {
            sink,
            config,
            metrics,
            known: Arc::default(),
        })
}

/// Which message the body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut body = message.into();
    body.push('\n');
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// Reads the version from `Content-Type` and checks `Content-Encoding`. Missing headers
/// mean 1.0 and snappy, as Prometheus's own receiver assumes.
pub fn negotiate(headers: &HeaderMap) -> Result<Version, String> {
    let mut version = Version::V1;
    if let Some(value) = headers.get(CONTENT_TYPE) {
        let text = value
            .to_str()
            .map_err(|_| "Content-Type is not valid text".to_owned())?;
        let mut parts = text.split(';');
        let media_type = parts.next().unwrap_or("").trim();
        if !media_type.is_empty() && !media_type.eq_ignore_ascii_case("application/x-protobuf") {
            return Err(format!(
                "unsupported Content-Type {text:?}: remote write takes application/x-protobuf"
            ));
        }
        for parameter in parts {
            let Some((key, value)) = parameter.split_once('=') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("proto") {
                version = match value.trim().trim_matches('"') {
                    "prometheus.WriteRequest" => Version::V1,
                    "io.prometheus.write.v2.Request" => Version::V2,
                    other => {
                        return Err(format!(
                            "unsupported protobuf message {other:?}: use prometheus.WriteRequest or io.prometheus.write.v2.Request"
                        ));
                    }
                };
            }
        }
    }
    if let Some(value) = headers.get(CONTENT_ENCODING) {
        let text = value.to_str().unwrap_or("");
        if !text.trim().eq_ignore_ascii_case("snappy") {
            return Err(format!(
                "unsupported Content-Encoding {text:?}: remote-write bodies are snappy block-compressed"
            ));
        }
    }
    Ok(version)
}

async fn write(State(state): State<RemoteWriteState>, headers: HeaderMap, body: Bytes) -> Response {
    let version = match negotiate(&headers) {
        Ok(version) => version,
        Err(message) => {
            state
                .metrics
                .record_rejected(Protocol::RemoteWrite, "unsupported_media_type", 1);
            return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
        }
    };
    // Decompression, decoding and the (synchronous, durable) write are CPU and I/O work.
    match tokio::task::spawn_blocking(move || process(&state, version, &body)).await {
        Ok(response) => response,
        Err(join_err) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("remote write failed: {join_err}"),
        ),
    }
}

/// Decompresses `body`, refusing before allocating if its header declares more than
/// `max_bytes`.
pub fn decompress(body: &[u8], max_bytes: usize) -> Result<Vec<u8>, (StatusCode, String)> {
    let declared = snap::raw::decompress_len(body).map_err(|err| {
        (
            StatusCode::BAD_REQUEST,
            format!("body is not a snappy block: {err}"),
        )
    })?;
    if declared > max_bytes {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "body decompresses to {declared} bytes, over the limit of {max_bytes} bytes (remote_write.max_decompressed_size)"
            ),
        ));
    }
    let mut out = vec![0; declared];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut out)
        .map_err(|err| {
            (
                StatusCode::BAD_REQUEST,
                format!("body is not a valid snappy block: {err}"),
            )
        })?;
    out.truncate(n);
    Ok(out)
}

fn process(state: &RemoteWriteState, version: Version, body: &[u8]) -> Response {
    let metrics = &state.metrics;
    let raw = match decompress(body, state.config.max_decompressed_bytes) {
        Ok(raw) => raw,
        Err((status, message)) => {
            let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "bad_snappy"
            };
            metrics.record_rejected(Protocol::RemoteWrite, reason, 1);
            return with_written(plain(status, message), version, &WriteOutcome::default());
        }
    };
    let decoded = match version {
        Version::V1 => {
            // One read lock for the whole request: the set is shared by every writer.
            let known = state.known.read().unwrap_or_else(PoisonError::into_inner);
            decode::decode_v1(&raw, &state.config.label_limits, &known)
        }
        Version::V2 => decode::decode_v2(&raw, &state.config.label_limits),
    };
    if let Ok(decoded) = &decoded
        && !decoded.newly_valid.is_empty()
    {
        let mut known = state.known.write().unwrap_or_else(PoisonError::into_inner);
        if known.len() + decoded.newly_valid.len() > MAX_KNOWN_LABEL_SETS {
            known.clear();
        }
        known.extend(decoded.newly_valid.iter().copied());
    }
    let decoded = match decoded {
        Ok(decoded) => decoded,
        Err(err) => {
            metrics.record_rejected(Protocol::RemoteWrite, "malformed_protobuf", 1);
            return with_written(
                plain(StatusCode::BAD_REQUEST, err.to_string()),
                version,
                &WriteOutcome::default(),
            );
        }
    };
    let outcome = if decoded.batch.series.is_empty() {
        WriteOutcome::default()
    } else {
        match state.sink.write(&decoded.batch) {
            Ok(outcome) => outcome,
            Err(err) => {
                // Nothing was written; a retry can succeed.
                let status = match err.kind {
                    ErrorKind::Unavailable | ErrorKind::Timeout => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                return with_written(
                    plain(status, format!("write failed: {err}")),
                    version,
                    &WriteOutcome::default(),
                );
            }
        }
    };
    metrics.record_accepted(
        Protocol::RemoteWrite,
        outcome.samples_written + outcome.samples_duplicate,
        body.len() as u64,
    );
    for invalid in &decoded.invalid {
        metrics.record_rejected(
            Protocol::RemoteWrite,
            invalid.reason,
            invalid.samples.max(1),
        );
    }
    for rejection in &outcome.rejected {
        metrics.record_rejected(Protocol::RemoteWrite, rejection.reason, rejection.samples);
    }
    if decoded.histograms > 0 {
        metrics.record_rejected(
            Protocol::RemoteWrite,
            "native_histograms_unsupported",
            decoded.histograms,
        );
    }
    with_written(answer(&decoded, &outcome), version, &outcome)
}

/// 204 if everything was written, else the problems, naming series.
fn answer(decoded: &Decoded<'_>, outcome: &WriteOutcome) -> Response {
    let mut problems: Vec<String> = decoded
        .invalid
        .iter()
        .map(|invalid| format!("series {}: {}", invalid.series, invalid.problem))
        .collect();
    problems.extend(outcome.rejected.iter().map(|rejection| {
        format!(
            "series {}: {}",
            decoded.batch.describe_series(rejection.series_idx),
            rejection.message
        )
    }));
    if let Some(series) = &decoded.histogram_series {
        problems.push(format!(
            "series {series}: native histograms are not supported yet ({} histogram samples not written)",
            decoded.histograms
        ));
    }
    if problems.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let status = StatusCode::BAD_REQUEST;
    let not_written: u64 = decoded.invalid.iter().map(|i| i.samples).sum::<u64>()
        + outcome.rejected.iter().map(|r| r.samples).sum::<u64>();
    // Prometheus logs only the first line of the body: it names the first problem.
    let mut message = format!(
        "{not_written} of {} samples were not written",
        decoded.samples_received
    );
    if decoded.histograms > 0 {
        message.push_str(&format!(", nor {} histogram samples", decoded.histograms));
    }
    message.push_str(&format!("; {}", problems[0]));
    if problems.len() > 1 {
        message.push_str(&format!(
            " (and {} more series, listed below)",
            problems.len() - 1
        ));
    }
    for problem in problems.iter().skip(1).take(MAX_LISTED_PROBLEMS) {
        message.push_str("\n  ");
        message.push_str(problem);
    }
    if problems.len() > MAX_LISTED_PROBLEMS + 1 {
        message.push_str(&format!(
            "\n  and {} more",
            problems.len() - 1 - MAX_LISTED_PROBLEMS
        ));
    }
    plain(status, message)
}

/// Adds the 2.0 `-Written` headers (1.0 senders ignore them, so 1.0 answers skip them).
fn with_written(mut response: Response, version: Version, outcome: &WriteOutcome) -> Response {
    if version == Version::V2 {
        let headers = response.headers_mut();
        let samples = outcome.samples_written + outcome.samples_duplicate;
        for (name, value) in [
            (SAMPLES_WRITTEN, samples),
            (HISTOGRAMS_WRITTEN, 0),
            (EXEMPLARS_WRITTEN, outcome.exemplars_written),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
    response
}
