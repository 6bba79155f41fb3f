//! The stores, configured from the file, and the ingest sinks implemented over them.

use std::sync::Arc;
use std::time::Duration;

use api::StoreSlot;
use ingest::{LabelLimits, MetricsSink, SeriesRejection, SinkError, WriteOutcome};
use model::ErrorKind;
use model::write::WriteBatch;

use crate::config::{Config, FsyncPolicyName};

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
        wal: tsdb::WalOptions {
            fsync: match tsdb.wal_fsync {
                FsyncPolicyName::Always => tsdb::FsyncPolicy::Always,
                FsyncPolicyName::Interval => tsdb::FsyncPolicy::Interval(tsdb.wal_fsync_interval.0),
                FsyncPolicyName::Never => tsdb::FsyncPolicy::Never,
            },
            segment_max_bytes: tsdb.wal_segment_size.0,
        },
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
