//! The HTTP API: every route Sightline serves on its main port.
//!
//! Owns: the axum [`router`], the tower layers every request passes through
//! ([`limits`]: body size and time limits; [`metrics`]: per-route request histograms),
//! health and readiness ([`readiness`]), self-metrics exposition, the status endpoints the
//! UI reads ([`status`]), serving the UI's assets ([`ui`]), log search and the Loki API
//! ([`logs_api`], [`loki_api`]), trace queries in Sightline's shape (`traces_api`) and in
//! Jaeger's (`jaeger_api`, for Grafana's Jaeger data source and the Jaeger UI), and the
//! one error type that turns an [`model::ErrorKind`] into a Prometheus-shaped JSON error
//! ([`error`]).
//!
//! Must not know: how stores are built or where their files live, configuration files,
//! signals, sockets. The `sightline` binary constructs an [`ApiContext`] and binds the
//! listener; routes here only see the handles it passes in.
//!
//! Start reading at [`router`].

pub mod error;
pub mod limits;
pub mod logql;
pub mod logs_api;
pub mod loki_api;
pub mod metrics;
pub mod params;
pub mod query;
pub mod readiness;
pub mod status;
pub mod stores;
pub mod ui;

mod health;
mod jaeger_api;
#[cfg(test)]
mod tests;
mod traces_api;
mod tsdb_api;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use error::ApiError;
pub use limits::Limits;
pub use metrics::HttpMetrics;
pub use query::{QueryMetrics, QueryService};
pub use readiness::Readiness;
pub use status::{BuildInfo, StoreStats};
pub use stores::StoreSlot;
pub use ui::UiAssets;

/// Everything the routes need, built once by the composition root.
#[derive(Debug)]
pub struct ApiContext {
    pub build: BuildInfo,
    pub readiness: Readiness,
    /// When the process started, for uptime.
    pub started_at: std::time::SystemTime,
    /// The process-wide registry `/metrics` exposes.
    pub registry: prometheus::Registry,
    pub http_metrics: HttpMetrics,
    pub ingest_metrics: ingest::IngestMetrics,
    pub store_stats: Arc<dyn StoreStats>,
    pub ui: UiAssets,
    pub limits: Limits,
    /// The time-series store, once open.
    pub tsdb: StoreSlot<tsdb::Db>,
    /// Where remote-write (and later StatsD) samples go.
    pub metrics_sink: Arc<dyn ingest::MetricsSink>,
    pub remote_write: ingest::remote_write::RemoteWriteConfig,
    /// The PromQL engine and the limits queries run under.
    pub query: QueryService,
    /// The log store, once open.
    pub logs: StoreSlot<logstore::LogStore>,
    /// Where ingested log lines go.
    pub log_sink: Arc<dyn ingest::LogSink>,
    pub json_logs: ingest::json_logs::JsonLogsConfig,
    /// Log fields that act as stream labels in the Loki API, beside service, level, host.
    pub log_label_fields: Vec<String>,
    /// Live tails open now.
    pub tail_slots: logs_api::TailSlots,
    /// The trace store, once open.
    pub traces: StoreSlot<tracestore::TraceStore>,
    /// Where ingested spans go (the trace store, counted by span metrics on the way).
    pub span_sink: Arc<dyn ingest::SpanSink>,
    pub trace_limits: ingest::TraceLimits,
}

/// The main port's router: API, health, self-metrics and the UI.
pub fn router(context: ApiContext) -> Router {
    let limits = context.limits;
    let http_metrics = context.http_metrics.clone();
    let remote_write = ingest::remote_write::router(
        Arc::clone(&context.metrics_sink),
        context.remote_write,
        context.ingest_metrics.clone(),
    );
    // Every log protocol writes through the same sink under the same line limits.
    let log_routes = |router: fn(
        Arc<dyn ingest::LogSink>,
        ingest::json_logs::JsonLogsConfig,
        ingest::IngestMetrics,
    ) -> Router| {
        router(
            Arc::clone(&context.log_sink),
            context.json_logs.clone(),
            context.ingest_metrics.clone(),
        )
    };
    let log_ingest = log_routes(ingest::json_logs::router)
        .merge(log_routes(ingest::es_bulk::router))
        .merge(log_routes(ingest::loki_push::router))
        .merge(log_routes(ingest::otlp::http_router));
    // Every span protocol writes through the same sink under the same limits.
    let trace_ingest = ingest::otlp::traces_http_router(
        Arc::clone(&context.span_sink),
        context.trace_limits.clone(),
        context.ingest_metrics.clone(),
    )
    .merge(ingest::zipkin::router(
        Arc::clone(&context.span_sink),
        context.trace_limits.clone(),
        context.ingest_metrics.clone(),
    ));
    let context = Arc::new(context);
    Router::new()
        .route("/-/healthy", get(health::healthy))
        .route("/-/ready", get(health::ready))
        .route("/metrics", get(status::metrics))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/sightline", get(status::overview))
        .route("/api/v1/status/tsdb", get(tsdb_api::status))
        .route("/api/v1/admin/tsdb/flush", post(tsdb_api::flush))
        .route("/api/v1/export", get(tsdb_api::export))
        .route(
            "/api/v1/query",
            get(query::instant_query).post(query::instant_query),
        )
        .route(
            "/api/v1/query_range",
            get(query::range_query).post(query::range_query),
        )
        .route("/api/v1/series", get(query::series).post(query::series))
        .route(
            "/api/v1/labels",
            get(query::label_names).post(query::label_names),
        )
        .route("/api/v1/label/{name}/values", get(query::label_values))
        .route("/api/v1/metadata", get(query::metadata))
        .route(
            "/api/v1/query_exemplars",
            get(query::query_exemplars).post(query::query_exemplars),
        )
        .route(
            "/api/v1/format_query",
            get(query::format_query).post(query::format_query),
        )
        .route(
            "/api/v1/parse_query",
            get(query::parse_query).post(query::parse_query),
        )
        .route(
            "/api/v1/logs/search",
            get(logs_api::search).post(logs_api::search),
        )
        .route("/api/v1/logs/histogram", get(logs_api::histogram))
        .route("/api/v1/logs/top", get(logs_api::top))
        .route("/api/v1/logs/trace/{id}", get(logs_api::trace))
        .route("/api/v1/logs/tail", get(logs_api::tail))
        .route(
            "/loki/api/v1/query_range",
            get(loki_api::query_range).post(loki_api::query_range),
        )
        .route(
            "/loki/api/v1/query",
            get(loki_api::query).post(loki_api::query),
        )
        .route(
            "/loki/api/v1/labels",
            get(loki_api::labels).post(loki_api::labels),
        )
        .route(
            "/loki/api/v1/label/{name}/values",
            get(loki_api::label_values).post(loki_api::label_values),
        )
        .route(
            "/loki/api/v1/series",
            get(loki_api::series).post(loki_api::series),
        )
        .route(
            "/loki/api/v1/index/stats",
            get(loki_api::index_stats).post(loki_api::index_stats),
        )
        .route("/loki/api/v1/status/buildinfo", get(loki_api::buildinfo))
        .route("/api/v1/admin/traces/flush", post(traces_api::flush))
        .route("/api/v1/traces/search", get(traces_api::search))
        .route("/api/v1/traces/services", get(traces_api::services))
        .route(
            "/api/v1/traces/services/{service}/operations",
            get(traces_api::operations),
        )
        .route("/api/v1/traces/{trace_id}", get(traces_api::trace))
        .route("/api/v1/traces/{trace_id}/logs", get(traces_api::logs))
        .route("/api/services", get(jaeger_api::services))
        .route(
            "/api/services/{service}/operations",
            get(jaeger_api::service_operations),
        )
        .route("/api/operations", get(jaeger_api::operations))
        .route("/api/traces", get(jaeger_api::search))
        .route("/api/traces/{trace_id}", get(jaeger_api::trace))
        .route("/api/dependencies", get(jaeger_api::dependencies))
        .fallback(ui::serve)
        .with_state(context)
        .merge(remote_write)
        .merge(log_ingest)
        .merge(trace_ingest)
        // http.max_request_body bounds every body (limits.rs); axum's own 2 MiB default
        // would refuse large log batches below it.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            limits,
            limits::limit_body_and_time,
        ))
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            metrics::record_request,
        ))
}

/// The OTLP/HTTP port's router (`/v1/logs`), with the main port's limits and request
/// metrics. The same routes are also on the main port.
pub fn otlp_http_router(context: &ApiContext) -> Router {
    ingest::otlp::http_router_with_traces(
        Arc::clone(&context.log_sink),
        context.json_logs.clone(),
        Arc::clone(&context.span_sink),
        context.trace_limits.clone(),
        context.ingest_metrics.clone(),
    )
    .layer(axum::extract::DefaultBodyLimit::disable())
    .layer(axum::middleware::from_fn_with_state(
        context.limits,
        limits::limit_body_and_time,
    ))
    .layer(axum::middleware::from_fn_with_state(
        context.http_metrics.clone(),
        metrics::record_request,
    ))
}

/// A test context over a temporary registry; only for this crate's tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    #[derive(Debug)]
    pub(crate) struct NoStores;

    impl StoreStats for NoStores {
        fn store_sizes(&self) -> Vec<status::StoreSize> {
            vec![status::StoreSize {
                name: "tsdb",
                size_bytes: 42,
            }]
        }
    }

    /// Accepts every sample.
    #[derive(Debug)]
    pub(crate) struct NullSink;

    impl ingest::MetricsSink for NullSink {
        fn write(
            &self,
            batch: &model::write::WriteBatch<'_>,
        ) -> Result<ingest::WriteOutcome, ingest::SinkError> {
            Ok(ingest::WriteOutcome {
                samples_written: batch.samples.len() as u64,
                ..Default::default()
            })
        }
    }

    /// Accepts every line.
    #[derive(Debug)]
    pub(crate) struct NullLogSink;

    impl ingest::LogSink for NullLogSink {
        fn write(
            &self,
            lines: Vec<model::LogRecord>,
        ) -> Result<ingest::LogWriteOutcome, ingest::SinkError> {
            Ok(ingest::LogWriteOutcome {
                accepted: lines.len(),
                rejected: Vec::new(),
            })
        }
    }

    /// Accepts every span.
    #[derive(Debug)]
    pub(crate) struct NullSpanSink;

    impl ingest::SpanSink for NullSpanSink {
        fn write(
            &self,
            spans: &[model::Span],
        ) -> Result<ingest::SpanWriteOutcome, ingest::SinkError> {
            Ok(ingest::SpanWriteOutcome {
                accepted: spans.len(),
                rejected: Vec::new(),
            })
        }
    }

    pub(crate) fn context() -> ApiContext {
        let registry = prometheus::Registry::new();
        ApiContext {
            build: BuildInfo {
                version: "9.9.9".into(),
                revision: "abc123".into(),
                branch: "main".into(),
                build_date: "20261122-00:00:00".into(),
                rustc_version: "rustc 1.95.0".into(),
            },
            readiness: Readiness::new(),
            started_at: std::time::SystemTime::now(),
            http_metrics: HttpMetrics::register(&registry).expect("register http metrics"),
            ingest_metrics: ingest::IngestMetrics::register(&registry)
                .expect("register ingest metrics"),
            registry,
            store_stats: Arc::new(NoStores),
            ui: UiAssets::NotBuilt,
            limits: Limits {
                max_request_body_bytes: 1024,
                request_timeout: std::time::Duration::from_secs(5),
            },
            tsdb: StoreSlot::new("time-series store"),
            metrics_sink: Arc::new(NullSink),
            remote_write: ingest::remote_write::RemoteWriteConfig::default(),
            query: QueryService::new(
                promql::Engine::default(),
                4,
                QueryMetrics::register(&prometheus::Registry::new()).expect("query metrics"),
            ),
            logs: StoreSlot::new("log store"),
            log_sink: Arc::new(NullLogSink),
            json_logs: ingest::json_logs::JsonLogsConfig::default(),
            log_label_fields: Vec::new(),
            tail_slots: logs_api::TailSlots::default(),
            traces: StoreSlot::new("trace store"),
            span_sink: Arc::new(NullSpanSink),
            trace_limits: ingest::TraceLimits::default(),
        }
    }
}
