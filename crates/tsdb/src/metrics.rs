//! The store's own telemetry.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Debug, Clone)]
pub struct TsdbMetrics {
    pub head_series: IntGauge,
    pub series_created: IntCounter,
    pub series_removed: IntCounter,
    pub samples_appended: IntCounter,
    pub samples_rejected: IntCounterVec,
    pub exemplars_appended: IntCounter,
    pub wal_damaged_segments: IntCounter,
    pub wal_bytes_lost: IntCounter,
    pub wal_missing_segments: IntCounter,
    pub wal_dropped_samples: IntCounter,
    pub head_cuts: IntCounter,
    pub maintenance_panics: IntCounter,
    pub compactions: IntCounter,
    pub blocks_deleted: IntCounterVec,
    pub blocks: IntGauge,
    pub blocks_bytes: IntGauge,
    pub wal_bytes: IntGauge,
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

impl TsdbMetrics {
    pub fn new() -> Self {
        TsdbMetrics {
            head_series: gauge(
                "sightline_tsdb_head_series",
                "Series in the in-memory head.",
            ),
            series_created: counter(
                "sightline_tsdb_series_created_total",
                "Series created in the head.",
            ),
            series_removed: counter(
                "sightline_tsdb_series_removed_total",
                "Series removed from the head after their samples went to blocks.",
            ),
            samples_appended: counter(
                "sightline_tsdb_samples_appended_total",
                "Samples written to the WAL and the head.",
            ),
            samples_rejected: counter_vec(
                "sightline_tsdb_samples_rejected_total",
                "Samples refused, by reason.",
                &["reason"],
            ),
            exemplars_appended: counter(
                "sightline_tsdb_exemplars_appended_total",
                "Exemplars stored.",
            ),
            wal_damaged_segments: counter(
                "sightline_tsdb_wal_damaged_segments_total",
                "WAL segments found damaged at replay and truncated to their last good record.",
            ),
            wal_bytes_lost: counter(
                "sightline_tsdb_wal_bytes_lost_total",
                "WAL bytes after damage that replay could not read.",
            ),
            wal_missing_segments: counter(
                "sightline_tsdb_wal_missing_segments_total",
                "Gaps in WAL segment numbering found at replay.",
            ),
            wal_dropped_samples: counter(
                "sightline_tsdb_wal_replay_dropped_samples_total",
                "WAL samples at replay whose series record was lost.",
            ),
            head_cuts: counter(
                "sightline_tsdb_head_cuts_total",
                "Times head data was written to blocks.",
            ),
            maintenance_panics: counter(
                "sightline_tsdb_maintenance_panics_total",
                "Maintenance passes (head cut, compaction, retention) that panicked; the next pass runs as scheduled.",
            ),
            compactions: counter(
                "sightline_tsdb_compactions_total",
                "Blocks written by merging other blocks.",
            ),
            blocks_deleted: counter_vec(
                "sightline_tsdb_blocks_deleted_total",
                "Blocks deleted, by reason (retention_age, retention_size, compacted).",
                &["reason"],
            ),
            blocks: gauge("sightline_tsdb_blocks", "Blocks on disk."),
            blocks_bytes: gauge("sightline_tsdb_blocks_bytes", "Bytes of all blocks."),
            wal_bytes: gauge("sightline_tsdb_wal_bytes", "Bytes of the WAL directory."),
        }
    }

    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.head_series.clone()))?;
        registry.register(Box::new(self.series_created.clone()))?;
        registry.register(Box::new(self.series_removed.clone()))?;
        registry.register(Box::new(self.samples_appended.clone()))?;
        registry.register(Box::new(self.samples_rejected.clone()))?;
        registry.register(Box::new(self.exemplars_appended.clone()))?;
        registry.register(Box::new(self.wal_damaged_segments.clone()))?;
        registry.register(Box::new(self.wal_bytes_lost.clone()))?;
        registry.register(Box::new(self.wal_missing_segments.clone()))?;
        registry.register(Box::new(self.wal_dropped_samples.clone()))?;
        registry.register(Box::new(self.head_cuts.clone()))?;
        registry.register(Box::new(self.maintenance_panics.clone()))?;
        registry.register(Box::new(self.compactions.clone()))?;
        registry.register(Box::new(self.blocks_deleted.clone()))?;
        registry.register(Box::new(self.blocks.clone()))?;
        registry.register(Box::new(self.blocks_bytes.clone()))?;
        registry.register(Box::new(self.wal_bytes.clone()))?;
        Ok(())
    }
}

impl Default for TsdbMetrics {
    fn default() -> Self {
        TsdbMetrics::new()
    }
}
