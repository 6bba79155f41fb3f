//! The stores, configured from the file, and the ingest sinks implemented over them.

use std::sync::Arc;
use std::time::Duration;

use api::StoreSlot;
use ingest::{
    LabelLimits, LineRejection, LogSink, LogWriteOutcome, MetricsSink, SeriesRejection, SinkError,
    SpanSink, SpanWriteOutcome, WriteOutcome,
};
use model::ErrorKind;
use model::write::WriteBatch;

use crate::config::{Config, FsyncPolicyName, LogPartition};

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn usize_from(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// The PromQL engine's settings from `[query]`.
pub fn engine_options(config: &Config) -> promql::EngineOptions {
    let query = &config.query;
    promql::EngineOptions {
        lookback_delta: query.lookback_delta.0,
        default_subquery_step: query.default_subquery_step.0,
        timeout: query.timeout.0,
        max_samples: usize::try_from(query.max_samples).unwrap_or(usize::MAX),
        max_series: usize::try_from(query.max_series).unwrap_or(usize::MAX),
    }
}

pub fn tsdb_options(config: &Config) -> tsdb::Options {
    let tsdb = &config.tsdb;
    tsdb::Options {
        wal: wal_options(
            tsdb.wal_fsync,
            tsdb.wal_fsync_interval.0,
            tsdb.wal_segment_size.0,
        ),
        block_duration_ms: millis(tsdb.block_duration.0),
        out_of_order_window_ms: millis(tsdb.out_of_order_window.0),
        max_future_ms: millis(tsdb.max_future.0),
        retention_ms: millis(tsdb.retention.0),
        retention_bytes: tsdb.retention_size.0,
        limits: tsdb::SeriesLimits {
            max_series: usize_from(tsdb.max_series),
            max_series_per_metric: usize_from(tsdb.max_series_per_metric),
        },
        max_exemplars_per_series: usize_from(tsdb.max_exemplars_per_series),
        compression_level: 3,
        page_cache_bytes: usize_from(tsdb.page_cache_size.0),
    }
}

fn wal_options(policy: FsyncPolicyName, interval: Duration, segment_bytes: u64) -> wal::WalOptions {
    wal::WalOptions {
        fsync: match policy {
            FsyncPolicyName::Always => wal::FsyncPolicy::Always,
            FsyncPolicyName::Interval => wal::FsyncPolicy::Interval(interval),
            FsyncPolicyName::Never => wal::FsyncPolicy::Never,
        },
        segment_max_bytes: segment_bytes,
    }
}

/// The log store's settings from `[logs]`.
pub fn log_store_options(config: &Config) -> logstore::Options {
    let logs = &config.logs;
    logstore::Options {
        partitioning: match logs.partition {
            LogPartition::Hour => logstore::Partitioning::Hourly,
            LogPartition::Day => logstore::Partitioning::Daily,
        },
        commit_interval: logs.commit_interval.0,
        retention: logs.retention.0,
        retention_bytes: logs.retention_size.0,
        max_future: logs.max_future.0,
        wal: wal_options(
            logs.wal_fsync,
            logs.wal_fsync_interval.0,
            logs.wal_segment_size.0,
        ),
        indexing_memory_per_thread: usize_from(logs.indexing_memory.0),
        indexing_threads: usize_from(logs.indexing_threads),
        merge_threads: 1,
        max_indexing_queue: usize_from(logs.max_indexing_queue.0),
        max_open_writers: 3,
        compression_level: 3,
        // Stream labels are looked up by term, so they always get terms.
        indexed_fields: logstore::field_policy::FieldPolicy::new(
            &[logs.indexed_fields.as_slice(), logs.label_fields.as_slice()].concat(),
        ),
        max_filtered_lines: logs.max_filtered_lines,
    }
}

/// How log lines are normalized and bounded, from `[logs]`.
pub fn json_logs_config(config: &Config) -> ingest::json_logs::JsonLogsConfig {
    let logs = &config.logs;
    ingest::json_logs::JsonLogsConfig {
        log: ingest::normalize::LogConfig {
            correlation_fields: logs.correlation_fields.clone(),
            max_line_bytes: usize_from(logs.max_line_size.0),
            max_fields: usize_from(logs.max_fields),
            max_depth: usize_from(logs.max_depth),
        },
        max_decompressed_bytes: usize_from(logs.max_decompressed_size.0),
    }
}

/// The trace store's settings from `[traces]`.
pub fn trace_store_options(config: &Config) -> tracestore::TraceStoreOptions {
    let traces = &config.traces;
    tracestore::TraceStoreOptions {
        wal: wal_options(
            traces.wal_fsync,
            traces.wal_fsync_interval.0,
            traces.wal_segment_size.0,
        ),
        retention: traces.retention.0,
        block_max_age: traces.block_max_age.0,
        block_max_bytes: usize_from(traces.block_max_size.0),
        max_head_bytes: usize_from(traces.max_head_size.0),
        max_spans_per_trace: usize_from(traces.max_spans_per_trace),
        compaction_fan_in: usize_from(traces.compaction_fan_in),
        compaction_max_spans: traces.compaction_max_spans,
        compaction_max_level: u32::try_from(traces.compaction_max_level).unwrap_or(u32::MAX),
    }
}

/// The span ingest limits from `[traces]`.
pub fn trace_limits(config: &Config) -> ingest::TraceLimits {
    let traces = &config.traces;
    ingest::TraceLimits {
        max_attributes_per_span: usize_from(traces.max_attributes_per_span),
        max_events_per_span: usize_from(traces.max_events_per_span),
        max_links_per_span: usize_from(traces.max_links_per_span),
        max_attribute_value_bytes: usize_from(traces.max_attribute_value_size.0),
        max_spans_per_request: usize_from(traces.max_spans_per_request),
        max_request_bytes: usize_from(traces.max_decompressed_size.0),
    }
}

/// The span-metrics generator's settings from `[traces]`.
pub fn span_metrics_config(config: &Config) -> ingest::spanmetrics::SpanMetricsConfig {
    let traces = &config.traces;
    ingest::spanmetrics::SpanMetricsConfig {
        latency_buckets: traces.latency_buckets.clone(),
        flush_interval: traces.metrics_flush_interval.0,
        max_series: usize_from(traces.metrics_max_series),
        pairing_wait: traces.service_graph_wait.0,
        max_pending_edges: usize_from(traces.service_graph_max_pending),
    }
}

/// Spans into the trace store.
#[derive(Debug, Clone)]
pub struct TraceStoreSink {
    pub slot: StoreSlot<tracestore::TraceStore>,
}

impl SpanSink for TraceStoreSink {
    fn write(&self, spans: &[model::Span]) -> Result<SpanWriteOutcome, SinkError> {
        let store = self.slot.get().ok_or_else(|| SinkError {
            kind: ErrorKind::Unavailable,
            message: "the trace store is still opening (replaying its write-ahead log)".into(),
        })?;
        store.append(spans).map_err(|err| SinkError {
            kind: err.kind(),
            message: err.to_string(),
        })?;
        Ok(SpanWriteOutcome {
            accepted: spans.len(),
            rejected: Vec::new(),
        })
    }
}

/// Log lines into the log store.
#[derive(Debug, Clone)]
pub struct LogStoreSink {
    pub slot: StoreSlot<logstore::LogStore>,
}

impl LogSink for LogStoreSink {
    fn write(&self, lines: Vec<model::LogRecord>) -> Result<LogWriteOutcome, SinkError> {
        let store = self.slot.get().ok_or_else(|| SinkError {
            kind: ErrorKind::Unavailable,
            message: "the log store is still opening (replaying its write-ahead log)".into(),
        })?;
        let outcome = store.append(lines).map_err(|err| SinkError {
            kind: err.kind(),
            message: err.to_string(),
        })?;
        let retention = |reason: logstore::Rejection| match reason {
            logstore::Rejection::TooOld => "the line is older than logs.retention".to_owned(),
            logstore::Rejection::TooNew => {
                "the line's timestamp is further in the future than logs.max_future".to_owned()
            }
        };
        Ok(LogWriteOutcome {
            accepted: outcome.accepted,
            rejected: outcome
                .rejected
                .into_iter()
                .map(|(line_idx, reason)| LineRejection {
                    line_idx,
                    reason: reason.as_str(),
                    message: retention(reason),
                })
                .collect(),
        })
    }
}

pub fn label_limits(config: &Config) -> LabelLimits {
    LabelLimits {
        max_labels_per_series: usize_from(config.limits.max_labels_per_series),
        max_label_name_length: usize_from(config.limits.max_label_name_length),
        max_label_value_length: usize_from(config.limits.max_label_value_length),
    }
}

pub fn statsd_config(config: &Config) -> ingest::statsd::StatsdConfig {
    let statsd = &config.statsd;
    ingest::statsd::StatsdConfig {
        udp: Some(statsd.listen.0),
        tcp: statsd.tcp_enabled.then_some(statsd.tcp_listen.0),
        receive_buffer_bytes: usize_from(statsd.receive_buffer.0),
        flush_interval: statsd.flush_interval.0,
        max_line_bytes: usize_from(statsd.max_line_length.0),
        mappings: statsd
            .mappings
            .iter()
            .map(crate::config::StatsdMapping::to_rule)
            .collect(),
        aggregator: ingest::statsd::AggregatorConfig {
            buckets: statsd.histogram_buckets.clone(),
            max_series: usize_from(statsd.max_series),
            label_limits: label_limits(config),
        },
    }
}

/// Metric batches into the time-series store.
#[derive(Debug, Clone)]
pub struct TsdbSink {
    pub slot: StoreSlot<tsdb::Db>,
}

impl MetricsSink for TsdbSink {
    fn write(&self, batch: &WriteBatch<'_>) -> Result<WriteOutcome, SinkError> {
        let db: Arc<tsdb::Db> = self.slot.get().ok_or_else(|| SinkError {
            kind: ErrorKind::Unavailable,
            message: "the time-series store is still opening (replaying its write-ahead log)"
                .into(),
        })?;
        let report = db.append(batch).map_err(|err| SinkError {
            kind: match err {
                tsdb::Error::Closed => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
            message: err.to_string(),
        })?;
        Ok(WriteOutcome {
            samples_written: report.samples_appended,
            samples_duplicate: report.samples_duplicate,
            exemplars_written: report.exemplars_appended,
            rejected: report
                .rejected
                .into_iter()
                .map(|rejection| SeriesRejection {
                    series_idx: rejection.series_idx,
                    message: rejection.reason.describe(),
                    reason: rejection.reason.as_label(),
                    is_limit: rejection.reason.is_limit(),
                    samples: rejection.samples,
                })
                .collect(),
        })
    }
}
