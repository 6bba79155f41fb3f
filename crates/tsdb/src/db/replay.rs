//! Rebuilding the head from the WAL at start.

use std::path::Path;

use super::Options;
use super::append::stored_exemplar;
use crate::Error;
use crate::head::Head;
use crate::wal::record::Record;
use crate::wal::{self, ReplayStats};

#[derive(Debug, Default)]
pub(crate) struct Replayed {
    pub(crate) stats: ReplayStats,
    pub(crate) samples: u64,
    pub(crate) dropped_samples: u64,
}

/// Applies every record to `head`. Samples older than `min_valid_time` are already in
/// blocks and are skipped; samples of a series whose record was lost are counted.
pub(crate) fn replay_into(
    head: &Head,
    wal_dir: &Path,
    options: &Options,
    min_valid_time: i64,
) -> Result<Replayed, Error> {
    let mut replayed = Replayed::default();
    let chunk_range = options.block_duration_ms;
    let stats = wal::replay(wal_dir, &mut |record| match record {
        Record::Series(series) => {
            for entry in series {
                head.restore(entry.series_ref, &entry.labels);
            }
        }
        Record::Samples(samples) => {
            let mut current: Option<std::sync::Arc<crate::head::series::MemSeries>> = None;
            for sample in samples {
                if sample.timestamp_ms < min_valid_time {
                    continue;
                }
                if current
                    .as_ref()
                    .is_none_or(|series| series.series_ref != sample.series_ref)
                {
                    current = head.get_by_ref(sample.series_ref);
                }
                match &current {
                    Some(series) => {
                        if series
                            .lock()
                            .append(sample.timestamp_ms, sample.value, chunk_range)
                        {
                            head.note_time(sample.timestamp_ms);
                            replayed.samples += 1;
                        }
                    }
                    None => replayed.dropped_samples += 1,
                }
            }
        }
        Record::Exemplars(exemplars) => {
            for exemplar in exemplars {
                if exemplar.timestamp_ms < min_valid_time {
                    continue;
                }
                if let Some(series) = head.get_by_ref(exemplar.series_ref) {
                    series
                        .lock()
                        .add_exemplar(stored_exemplar(&exemplar), options.max_exemplars_per_series);
                }
            }
        }
        Record::Metadata(entries) => {
            for entry in entries {
                head.set_metadata(&model::write::MetricMetadata {
                    metric_family: entry.metric_family,
                    metric_type: entry.metric_type,
                    help: entry.help,
                    unit: entry.unit,
                });
            }
        }
    })?;
    // Series whose samples all went to blocks come back from old series records empty.
    head.truncate_before(i64::MIN);
    replayed.stats = stats;
    Ok(replayed)
}
