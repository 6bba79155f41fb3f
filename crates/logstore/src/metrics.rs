//! The log store's own telemetry.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Debug, Clone)]
pub struct LogMetrics {
    pub lines_appended: IntCounter,
    pub lines_rejected: IntCounterVec,
    pub lines_replayed: IntCounter,
    pub commits: IntCounter,
    pub commit_failures: IntCounter,
    pub indexing_queue_bytes: IntGauge,
    pub lines_indexed: IntCounter,
    pub overloaded: IntCounter,
    pub partitions: IntGauge,
    pub partitions_deleted: IntCounterVec,
    pub partitions_damaged: IntCounter,
    pub wal_damaged_segments: IntCounter,
    pub wal_bytes_lost: IntCounter,
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).unwrap_or_else(|err| unreachable!("metric {name}: {err}"))
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).unwrap_or_else(|err| unreachable!("metric {name}: {err}"))
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|err| unreachable!("metric {name}: {err}"))
}

impl LogMetrics {
    pub fn new() -> Self {
        LogMetrics {
            lines_appended: counter(
                "sightline_logs_lines_appended_total",
                "Log lines written to the WAL and queued for indexing.",
            ),
            lines_rejected: counter_vec(
                "sightline_logs_lines_rejected_total",
                "Log lines the store refused, by reason.",
                &["reason"],
            ),
            lines_replayed: counter(
                "sightline_logs_lines_replayed_total",
                "Log lines re-indexed from the WAL at start (acknowledged but not yet committed when the last process stopped).",
            ),
            commits: counter(
                "sightline_logs_commits_total",
                "Index commits that made new lines searchable.",
            ),
            commit_failures: counter(
                "sightline_logs_commit_failures_total",
                "Index commits that failed (the lines stay in the WAL and are retried).",
            ),
            lines_indexed: counter(
                "sightline_logs_lines_indexed_total",
                "Lines committed to the index (searchable), replayed ones included.",
            ),
            indexing_queue_bytes: gauge(
                "sightline_logs_indexing_queue_bytes",
                "Approximate memory of lines written to the WAL and waiting to be indexed.",
            ),
            overloaded: counter(
                "sightline_logs_overloaded_total",
                "Append requests refused with 429 because the indexing queue was full.",
            ),
            partitions: gauge(
                "sightline_logs_partitions",
                "Time partitions (one Tantivy index each) on disk.",
            ),
            partitions_deleted: counter_vec(
                "sightline_logs_partitions_deleted_total",
                "Partitions deleted by retention, by reason (age, size).",
                &["reason"],
            ),
            partitions_damaged: counter(
                "sightline_logs_partitions_damaged_total",
                "Partitions that could not be opened at start and were set aside.",
            ),
            wal_damaged_segments: counter(
                "sightline_logs_wal_damaged_segments_total",
                "WAL segments found damaged at start (truncated at their last whole record).",
            ),
            wal_bytes_lost: counter(
                "sightline_logs_wal_bytes_lost_total",
                "WAL bytes after damage that could not be read at start.",
            ),
        }
    }

    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.lines_appended.clone()))?;
        registry.register(Box::new(self.lines_rejected.clone()))?;
        registry.register(Box::new(self.lines_replayed.clone()))?;
        registry.register(Box::new(self.commits.clone()))?;
        registry.register(Box::new(self.commit_failures.clone()))?;
        registry.register(Box::new(self.indexing_queue_bytes.clone()))?;
        registry.register(Box::new(self.lines_indexed.clone()))?;
        registry.register(Box::new(self.overloaded.clone()))?;
        registry.register(Box::new(self.partitions.clone()))?;
        registry.register(Box::new(self.partitions_deleted.clone()))?;
        registry.register(Box::new(self.partitions_damaged.clone()))?;
        registry.register(Box::new(self.wal_damaged_segments.clone()))?;
        registry.register(Box::new(self.wal_bytes_lost.clone()))?;
        Ok(())
    }
}

impl Default for LogMetrics {
    fn default() -> Self {
        Self::new()
    }
}
