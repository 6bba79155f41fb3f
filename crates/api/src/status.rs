//! Status endpoints: build info, self-metrics, and the overview the UI's Status page polls.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use model::ErrorKind;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Encoder, GaugeVec, IntGaugeVec, Opts, Registry, TextEncoder};
use serde::Serialize;

use crate::readiness::ReadyStatus;
use crate::{ApiContext, ApiError};

/// What was built, reported by `/api/v1/status/buildinfo` and `sightline --version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: String,
    /// The git commit built, or `unknown` outside a git checkout.
    pub revision: String,
    pub branch: String,
    /// Date of the commit built (`YYYYMMDD-HH:MM:SS`, UTC), so builds are reproducible.
    pub build_date: String,
    pub rustc_version: String,
}

/// Disk usage of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSize {
    pub name: &'static str,
    pub size_bytes: u64,
}

/// Reports store sizes for `/metrics` and the Status page. May do blocking I/O: it is
/// only called from a blocking thread.
pub trait StoreStats: Send + Sync + std::fmt::Debug {
    fn store_sizes(&self) -> Vec<StoreSize>;
}

/// `sightline_store_size_bytes{store}`, read from the stores at each scrape.
#[derive(Debug)]
pub struct StoreSizeCollector {
    stores: Arc<dyn StoreStats>,
    gauge: IntGaugeVec,
}

impl StoreSizeCollector {
    pub fn register(
        registry: &Registry,
        stores: Arc<dyn StoreStats>,
    ) -> Result<(), prometheus::Error> {
        let gauge = IntGaugeVec::new(
            Opts::new(
                "sightline_store_size_bytes",
                "Bytes on disk used by each store.",
            ),
            &["store"],
        )?;
        registry.register(Box::new(StoreSizeCollector { stores, gauge }))
    }
}

impl Collector for StoreSizeCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        for store in self.stores.store_sizes() {
            self.gauge
                .with_label_values(&[store.name])
                .set(i64::try_from(store.size_bytes).unwrap_or(i64::MAX));
        }
        self.gauge.collect()
    }
}

/// Registers `sightline_build_info{version, revision, branch, rustc_version} 1`.
pub fn register_build_info(
    registry: &Registry,
    build: &BuildInfo,
) -> Result<(), prometheus::Error> {
    let gauge = GaugeVec::new(
        Opts::new(
            "sightline_build_info",
            "A constant 1, labelled with what was built.",
        ),
        &["version", "revision", "branch", "rustc_version"],
    )?;
    gauge
        .with_label_values(&[
            build.version.as_str(),
            build.revision.as_str(),
            build.branch.as_str(),
            build.rustc_version.as_str(),
        ])
        .set(1.0);
    registry.register(Box::new(gauge))
}

#[derive(Serialize)]
pub(crate) struct Success<T> {
    status: &'static str,
    data: T,
}

pub(crate) fn success<T: Serialize>(data: T) -> Json<Success<T>> {
    Json(Success {
        status: "success",
        data,
    })
}

/// Prometheus's buildinfo shape. `goVersion` carries the Rust compiler's version, so
/// clients that read the field find one.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildInfoData<'a> {
    version: &'a str,
    revision: &'a str,
    branch: &'a str,
    build_user: &'a str,
    build_date: &'a str,
    go_version: &'a str,
}

pub(crate) async fn buildinfo(State(context): State<Arc<ApiContext>>) -> Response {
    let build = &context.build;
    success(BuildInfoData {
        version: &build.version,
        revision: &build.revision,
        branch: &build.branch,
        build_user: "sightline",
        build_date: &build.build_date,
        go_version: &build.rustc_version,
    })
    .into_response()
}

/// `/metrics`: the process registry in Prometheus text format 0.0.4.
pub(crate) async fn metrics(State(context): State<Arc<ApiContext>>) -> Response {
    // Gathering walks store directories: keep it off the async workers.
    let encoded = tokio::task::spawn_blocking(move || {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&context.registry.gather(), &mut buffer)
            .map(|()| buffer)
    })
    .await;
    match encoded {
        Ok(Ok(buffer)) => {
            ([(CONTENT_TYPE, TextEncoder::new().format_type())], buffer).into_response()
        }
        Ok(Err(err)) => ApiError::new(
            ErrorKind::Internal,
            format!("encoding metrics failed: {err}"),
        )
        .into_response(),
        Err(join_err) => ApiError::new(
            ErrorKind::Internal,
            format!("gathering metrics failed: {join_err}"),
        )
        .into_response(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Overview {
    version: String,
    revision: String,
    branch: String,
    build_date: String,
    start_time_seconds: f64,
    uptime_seconds: f64,
    ready: bool,
    ready_message: String,
    ingest: Vec<IngestRow>,
    stores: Vec<StoreRow>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IngestRow {
    protocol: &'static str,
    signal: &'static str,
    items: u64,
    bytes: u64,
    rejected: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoreRow {
    name: &'static str,
    size_bytes: u64,
}

/// `/api/v1/status/sightline`: build, uptime, readiness, ingest counters and store sizes,
/// read from the same counters `/metrics` exposes.
pub(crate) async fn overview(State(context): State<Arc<ApiContext>>) -> Response {
    let stores = Arc::clone(&context.store_stats);
    let store_sizes = match tokio::task::spawn_blocking(move || stores.store_sizes()).await {
        Ok(sizes) => sizes,
        Err(join_err) => {
            return ApiError::new(
                ErrorKind::Internal,
                format!("reading store sizes failed: {join_err}"),
            )
            .into_response();
        }
    };
    let (ready, ready_message) = match context.readiness.status() {
        ReadyStatus::Ready => (true, "ready".to_owned()),
        ReadyStatus::Starting(pending) => (false, format!("starting {}", pending.join(", "))),
        ReadyStatus::ShuttingDown => (false, "shutting down".to_owned()),
    };
    let build = &context.build;
    let start_time_seconds = unix_seconds(context.started_at);
    success(Overview {
        version: build.version.clone(),
        revision: build.revision.clone(),
        branch: build.branch.clone(),
        build_date: build.build_date.clone(),
        start_time_seconds,
        uptime_seconds: (unix_seconds(SystemTime::now()) - start_time_seconds).max(0.0),
        ready,
        ready_message,
        ingest: context
            .ingest_metrics
            .snapshot()
            .into_iter()
            .map(|counters| IngestRow {
                protocol: counters.protocol.as_str(),
                signal: counters.protocol.signal().as_str(),
                items: counters.items,
                bytes: counters.bytes,
                rejected: counters.rejected,
            })
            .collect(),
        stores: store_sizes
            .into_iter()
            .map(|store| StoreRow {
                name: store.name,
                size_bytes: store.size_bytes,
            })
            .collect(),
    })
    .into_response()
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |since_epoch| since_epoch.as_secs_f64())
}
