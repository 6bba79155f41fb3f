//! `sightline serve`: opens the data directory, builds the API, binds the listeners,
//! and shuts down in order on SIGTERM or SIGINT.
//!
//! Start-up order: lock the data directory (so a second server fails on the lock, not on
//! a port), register the self-metrics, bind the listeners, start serving with `/-/ready`
//! answering 503, open the stores (replaying their write-ahead logs), then mark ready.
//! Shutdown order: mark not ready, stop accepting, drain in-flight requests (bounded by
//! `http.shutdown_timeout`), close the stores, release the lock.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;
use api::status::{StoreSize, StoreSizeCollector, register_build_info};
use api::{ApiContext, HttpMetrics, Limits, Readiness, StoreSlot, StoreStats, UiAssets};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use crate::build_info::build_info;
use crate::config::Config;
use crate::datadir::{self, DataDir, STORE_DIRS};

/// How often the time-series store cuts its head, compacts and applies retention.
const TSDB_MAINTENANCE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the server on a new multi-threaded runtime until it is told to stop.
pub fn run_blocking(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sightline")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(config))
}

/// Sizes of the stores' directories under the data directory.
#[derive(Debug)]
struct DataDirStats {
    root: PathBuf,
}

impl StoreStats for DataDirStats {
    fn store_sizes(&self) -> Vec<StoreSize> {
        STORE_DIRS
            .iter()
            .map(|&name| StoreSize {
                name,
                size_bytes: datadir::disk_usage(&self.root.join(name)),
            })
            .collect()
    }
}

/// Serves until SIGTERM or SIGINT, then shuts down in order. Expects logging to be set up.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Signals first: a SIGTERM during start-up must still shut down in order.
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let build = build_info();
    info!(version = %build.version, revision = %build.revision, "starting sightline");

    let data_root = config.storage.data_dir.clone();
    let data_dir = tokio::task::spawn_blocking(move || DataDir::open(&data_root))
        .await
        .context("opening the data directory panicked")??;
    info!(path = %data_dir.root().display(), "data directory locked");

    let readiness = Readiness::new();
    readiness.register("tsdb");
    readiness.register("logs");
    readiness.register("traces");
    let registry = prometheus::Registry::new();
    let logs_slot: StoreSlot<logstore::LogStore> = StoreSlot::new("log store");
    let traces_slot: StoreSlot<tracestore::TraceStore> = StoreSlot::new("trace store");
    let log_metrics = logstore::LogMetrics::new();
    log_metrics.register(&registry)?;
    let tsdb_slot: StoreSlot<tsdb::Db> = StoreSlot::new("time-series store");
    let tsdb_metrics = tsdb::TsdbMetrics::new();
    tsdb_metrics.register(&registry)?;
    let metrics_sink: Arc<dyn ingest::MetricsSink> = Arc::new(crate::stores::TsdbSink {
        slot: tsdb_slot.clone(),
    });
    let ingest_metrics = ingest::IngestMetrics::register(&registry)?;
    let query = api::QueryService::new(
        promql::Engine::new(crate::stores::engine_options(&config)),
        usize::try_from(config.query.max_concurrency).unwrap_or(usize::MAX),
        api::QueryMetrics::register(&registry)?,
    );
    let log_sink: Arc<dyn ingest::LogSink> = Arc::new(crate::stores::LogStoreSink {
        slot: logs_slot.clone(),
    });
    let json_logs = crate::stores::json_logs_config(&config);
    // Spans go to the trace store; with span metrics on, what it accepted is also
    // counted into the traces_spanmetrics_* and traces_service_graph_* series.
    let store_span_sink: Arc<dyn ingest::SpanSink> = Arc::new(crate::stores::TraceStoreSink {
        slot: traces_slot.clone(),
    });
    let span_metrics = config.traces.span_metrics.then(|| {
        Arc::new(ingest::spanmetrics::SpanMetrics::new(
            crate::stores::span_metrics_config(&config),
        ))
    });
    let span_sink: Arc<dyn ingest::SpanSink> = match &span_metrics {
        Some(metrics) => Arc::new(ingest::spanmetrics::SpanMetricsSink::new(
            store_span_sink,
            Arc::clone(metrics),
        )),
        None => store_span_sink,
    };
    let trace_limits = crate::stores::trace_limits(&config);
    let context = ApiContext {
        readiness: readiness.clone(),
        started_at: SystemTime::now(),
        http_metrics: HttpMetrics::register(&registry)?,
        ingest_metrics: ingest_metrics.clone(),
        store_stats: Arc::new(DataDirStats {
            root: data_dir.root().to_owned(),
        }),
        ui: ui_assets(&config),
        limits: Limits {
            max_request_body_bytes: config.http.max_request_body.0,
            request_timeout: config.http.request_timeout.0,
        },
        registry: registry.clone(),
        build,
        tsdb: tsdb_slot.clone(),
        metrics_sink: Arc::clone(&metrics_sink),
        remote_write: ingest::remote_write::RemoteWriteConfig {
            max_decompressed_bytes: usize::try_from(config.remote_write.max_decompressed_size.0)
                .unwrap_or(usize::MAX),
            label_limits: crate::stores::label_limits(&config),
        },
        query,
        logs: logs_slot.clone(),
        log_sink: Arc::clone(&log_sink),
        json_logs: json_logs.clone(),
        log_label_fields: config.logs.label_fields.clone(),
        tail_slots: api::logs_api::TailSlots::default(),
        traces: traces_slot.clone(),
        span_sink: Arc::clone(&span_sink),
        trace_limits: trace_limits.clone(),
    };
    register_build_info(&context.registry, &context.build)?;
    context.registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    StoreSizeCollector::register(&context.registry, Arc::clone(&context.store_stats))?;

    let otlp_http_router = api::otlp_http_router(&context);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http_server = None;
    if config.http.enabled {
        let listener = TcpListener::bind(config.http.listen.0)
            .await
            .with_context(|| {
                format!("cannot listen on http.listen = \"{}\"", config.http.listen)
            })?;
        let local_addr = listener.local_addr()?;
        if !local_addr.ip().is_loopback() {
            warn!(%local_addr, "http listener is reachable from the network (http.listen is not a loopback address)");
        }
        info!(%local_addr, "http listener open: API, /metrics and UI");
        let router = api::router(context);
        let mut stop = stop_rx.clone();
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        });
        http_server = Some(tokio::spawn(server.into_future()));
    } else {
        info!("http listener disabled (http.enabled = false)");
    }
    let statsd = if config.statsd.enabled {
        let server = ingest::statsd::StatsdServer::start(
            crate::stores::statsd_config(&config),
            Arc::clone(&metrics_sink),
            ingest_metrics.clone(),
            &registry,
        )
        .await
        .context("cannot start the StatsD receiver")?;
        for addr in [server.udp_addr(), server.tcp_addr()].into_iter().flatten() {
            if !addr.ip().is_loopback() {
                warn!(%addr, "StatsD is reachable from the network (statsd.listen is not a loopback address)");
            }
        }
        info!(udp = ?server.udp_addr(), tcp = ?server.tcp_addr(), "StatsD listeners open");
        Some(server)
    } else {
        info!("StatsD disabled (statsd.enabled = false)");
        None
    };
    let mut otlp_servers = Vec::new();
    if config.otlp_http.enabled {
        let listener = TcpListener::bind(config.otlp_http.listen.0)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on otlp_http.listen = \"{}\"",
                    config.otlp_http.listen
                )
            })?;
        let local_addr = listener.local_addr()?;
        warn_if_exposed("OTLP/HTTP", "otlp_http.listen", local_addr);
        info!(%local_addr, "OTLP/HTTP listener open: /v1/logs");
        let mut stop = stop_rx.clone();
        let server = axum::serve(listener, otlp_http_router).with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        });
        otlp_servers.push(tokio::spawn(async move {
            server.await.context("OTLP/HTTP server failed")
        }));
    } else {
        info!("OTLP/HTTP disabled (otlp_http.enabled = false)");
    }
    if config.otlp_grpc.enabled {
        let listener = TcpListener::bind(config.otlp_grpc.listen.0)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on otlp_grpc.listen = \"{}\"",
                    config.otlp_grpc.listen
                )
            })?;
        let local_addr = listener.local_addr()?;
        warn_if_exposed("OTLP/gRPC", "otlp_grpc.listen", local_addr);
        info!(%local_addr, "OTLP/gRPC listener open: LogsService, TraceService");
        let logs_service = ingest::otlp::grpc::LogsService::new(
            Arc::clone(&log_sink),
            json_logs.log.clone(),
            ingest_metrics.clone(),
            json_logs.max_decompressed_bytes,
        );
        let trace_service = ingest::otlp::grpc::TraceService::new(
            Arc::clone(&span_sink),
            trace_limits.clone(),
            ingest_metrics.clone(),
        );
        let mut stop = stop_rx.clone();
        let server = tonic::transport::Server::builder()
            .add_service(logs_service)
            .add_service(trace_service)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async move {
                    let _ = stop.wait_for(|stopping| *stopping).await;
                },
            );
        otlp_servers.push(tokio::spawn(async move {
            server.await.context("OTLP/gRPC server failed")
        }));
    } else {
        info!("OTLP/gRPC disabled (otlp_grpc.enabled = false)");
    }

    // The stores open now, in parallel, each replaying its write-ahead log; /-/ready
    // says 503 until both are open.
    let logs_dir = data_dir.store_dir("logs");
    let log_options = crate::stores::log_store_options(&config);
    let logs_opening = tokio::task::spawn_blocking(move || {
        logstore::LogStore::open(&logs_dir, log_options, log_metrics)
    });
    let traces_dir = data_dir.store_dir("traces");
    let trace_options = crate::stores::trace_store_options(&config);
    let traces_opening = tokio::task::spawn_blocking(move || {
        tracestore::TraceStore::open(&traces_dir, trace_options)
    });
    let tsdb_dir = data_dir.store_dir("tsdb");
    let options = crate::stores::tsdb_options(&config);
    let opened =
        tokio::task::spawn_blocking(move || tsdb::Db::open(&tsdb_dir, options, tsdb_metrics))
            .await
            .context("opening the time-series store panicked")?;
    let (db, report) = opened.context("cannot open the time-series store")?;
    let db = Arc::new(db);
    info!(
        blocks = report.blocks,
        series = report.head_series,
        replayed_samples = report.replayed_samples,
        damaged_wal_segments = report.wal.damaged_segments,
        wal_bytes_lost = report.wal.bytes_lost,
        missing_wal_segments = report.wal.missing_segments,
        "time-series store open"
    );
    if report.wal.damaged_segments > 0
        || report.wal.missing_segments > 0
        || report.dropped_samples > 0
    {
        warn!(
            damaged_segments = report.wal.damaged_segments,
            bytes_lost = report.wal.bytes_lost,
            missing_segments = report.wal.missing_segments,
            dropped_samples = report.dropped_samples,
            "the time-series WAL was damaged; everything before the damage was recovered"
        );
    }
    let tsdb_background = tsdb::Background::start(Arc::clone(&db), TSDB_MAINTENANCE_INTERVAL);
    tsdb_slot.set(Arc::clone(&db));
    readiness.mark_ready("tsdb");

    let (log_store, log_report) = logs_opening
        .await
        .context("opening the log store panicked")?
        .context("cannot open the log store")?;
    let log_store = Arc::new(log_store);
    info!(
        partitions = log_report.partitions,
        replayed_lines = log_report.replayed_lines,
        damaged_wal_segments = log_report.wal.damaged_segments,
        "log store open"
    );
    if log_report.wal.damaged_segments > 0
        || log_report.wal.missing_segments > 0
        || log_report.damaged_partitions > 0
    {
        warn!(
            damaged_segments = log_report.wal.damaged_segments,
            bytes_lost = log_report.wal.bytes_lost,
            missing_segments = log_report.wal.missing_segments,
            damaged_partitions = log_report.damaged_partitions,
            "the log store was damaged; everything before the damage was recovered and damaged partitions were set aside"
        );
    }
    logs_slot.set(Arc::clone(&log_store));
    readiness.mark_ready("logs");

    let (trace_store, trace_report) = traces_opening
        .await
        .context("opening the trace store panicked")?
        .context("cannot open the trace store")?;
    let trace_store = Arc::new(trace_store);
    info!(
        blocks = trace_report.blocks,
        replayed_spans = trace_report.replayed_spans,
        damaged_wal_segments = trace_report.damaged_wal_segments,
        "trace store open"
    );
    if trace_report.damaged_wal_segments > 0 || trace_report.damaged_blocks > 0 {
        warn!(
            damaged_wal_segments = trace_report.damaged_wal_segments,
            damaged_blocks = trace_report.damaged_blocks,
            "the trace store was damaged; everything before the damage was recovered and damaged blocks are not served"
        );
    }
    traces_slot.set(Arc::clone(&trace_store));
    readiness.mark_ready("traces");
    let span_metrics_flusher = span_metrics.map(|metrics| {
        tokio::spawn(ingest::spanmetrics::run_flusher(
            metrics,
            Arc::clone(&metrics_sink),
            stop_rx.clone(),
        ))
    });
    info!("ready");

    let signal_name = tokio::select! {
        _ = sigterm.recv() => "SIGTERM",
        _ = sigint.recv() => "SIGINT",
        result = wait_server(&mut http_server) => {
            return result.and_then(|()| Err(anyhow::anyhow!("http server stopped unexpectedly")));
        }
    };
    info!(
        signal = signal_name,
        "shutting down: draining in-flight requests"
    );
    readiness.begin_shutdown();
    let _ = stop_tx.send(true);
    let drain_timeout = config.http.shutdown_timeout.0;
    // One drain deadline for every listener, not one each.
    let drain_deadline = tokio::time::Instant::now() + drain_timeout;
    tokio::select! {
        result = wait_server(&mut http_server) => result?,
        () = tokio::time::sleep_until(drain_deadline) => {
            warn!(timeout = %crate::config::units::HumanDuration(drain_timeout), "requests still in flight after http.shutdown_timeout; closing anyway");
        }
        _ = sigterm.recv() => anyhow::bail!("second SIGTERM during shutdown: stopping without draining"),
        _ = sigint.recv() => anyhow::bail!("second SIGINT during shutdown: stopping without draining"),
    }
    for server in otlp_servers {
        match tokio::time::timeout_at(drain_deadline, server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => warn!("{err:#}"),
            Ok(Err(err)) => warn!("an OTLP server panicked: {err}"),
            Err(_) => {
                warn!("OTLP requests still in flight after http.shutdown_timeout; closing anyway")
            }
        }
    }
    // StatsD and span metrics write what they aggregated; then the stores sync and
    // close, then the lock goes.
    if let Some(statsd) = statsd {
        statsd.shutdown().await;
    }
    if let Some(flusher) = span_metrics_flusher
        && let Err(err) = flusher.await
    {
        warn!("the span metrics flusher panicked: {err}");
    }
    tsdb_background.stop();
    tokio::task::spawn_blocking(move || db.close())
        .await
        .context("closing the time-series store panicked")?
        .context("cannot close the time-series store cleanly")?;
    tokio::task::spawn_blocking(move || log_store.close())
        .await
        .context("closing the log store panicked")?
        .context("cannot close the log store cleanly")?;
    tokio::task::spawn_blocking(move || trace_store.close())
        .await
        .context("closing the trace store panicked")?
        .context("cannot close the trace store cleanly")?;
    drop(data_dir);
    info!("shutdown complete");
    Ok(())
}

/// Waits for the HTTP server task to end; pending forever when there is none.
async fn wait_server(
    server: &mut Option<tokio::task::JoinHandle<std::io::Result<()>>>,
) -> anyhow::Result<()> {
    match server.as_mut() {
        Some(handle) => {
            let result = handle.await;
            *server = None;
            result
                .context("http server panicked")?
                .context("http server failed")
        }
        None => std::future::pending().await,
    }
}

fn warn_if_exposed(what: &str, key: &str, addr: std::net::SocketAddr) {
    if !addr.ip().is_loopback() {
        warn!(%addr, "{what} is reachable from the network ({key} is not a loopback address)");
    }
}

fn ui_assets(config: &Config) -> UiAssets {
    if config.http.ui_dir.as_os_str().is_empty() {
        crate::ui_assets::embedded()
    } else {
        UiAssets::Directory(config.http.ui_dir.clone())
    }
}
