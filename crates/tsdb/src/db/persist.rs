//! Moving data to disk and keeping the disk tidy: cutting the head into blocks,
//! checkpointing the WAL, compacting blocks, and retention.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Db, write_lock};
use crate::Error;
use crate::block::Block;
use crate::block::cache::PageCache;
use crate::block::meta::Compaction;
use crate::block::writer::BlockWriter;
use crate::head::series::{StoredExemplar, merge_sorted};
use crate::wal::RECORD_CHUNK;
use crate::wal::record::{self, ExemplarRecord, MetadataRecord, RefSample};
use crate::wal::segment::frame_with;

/// What [`Db::flush`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    pub blocks_written: usize,
    pub samples_written: u64,
}

/// Block ranges grow by this factor per compaction level.
const LEVEL_FACTOR: i64 = 3;
/// Most levels above the block duration (2 h -> 6 h -> 18 h -> 54 h -> 162 h -> ~20 d).
const MAX_LEVELS: u32 = 5;

fn align_down(timestamp: i64, width: i64) -> i64 {
    timestamp.div_euclid(width) * width
}

/// Opens every block under `dir`; removes unfinished `*.tmp` directories, sets broken
/// blocks aside, and drops blocks that a compaction superseded before it could delete
/// them.
pub(crate) fn open_blocks(
    dir: &Path,
    cache: &Arc<PageCache>,
    broken: &mut Vec<String>,
) -> Result<Vec<Arc<Block>>, Error> {
    let mut blocks = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(Error::io("cannot list blocks", dir))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !path.is_dir() || name.ends_with(".broken") {
            continue;
        }
        if name.ends_with(".tmp") {
            let _ = std::fs::remove_dir_all(&path);
            continue;
        }
        match Block::open(&path, Arc::clone(cache)) {
            Ok(block) => blocks.push(Arc::new(block)),
            Err(err) => {
                tracing::error!(block = %name, "cannot open block, setting it aside: {err}");
                let _ = std::fs::rename(&path, dir.join(format!("{name}.broken")));
                broken.push(name);
            }
        }
    }
    let superseded: Vec<usize> = (0..blocks.len())
        .filter(|&i| {
            let sources = &blocks[i].meta().compaction.sources;
            blocks.iter().enumerate().any(|(j, other)| {
                j != i
                    && other.meta().compaction.sources.len() > sources.len()
                    && sources
                        .iter()
                        .all(|source| other.meta().compaction.sources.contains(source))
            })
        })
        .collect();
    for &idx in superseded.iter().rev() {
        let block = blocks.remove(idx);
        tracing::info!(block = %block.meta().id, "removing block left over by an interrupted compaction");
        let _ = std::fs::remove_dir_all(block.dir());
    }
    blocks.sort_by_key(|block| (block.meta().min_time, block.meta().id.clone()));
    Ok(blocks)
}

impl Db {
    fn blocks_dir(&self) -> std::path::PathBuf {
        self.dir.join("blocks")
    }

    /// Writes every sample in the head to blocks now, and trims the WAL. Afterwards the
    /// head refuses samples older than the newest one flushed.
    pub fn flush(&self) -> Result<FlushReport, Error> {
        let _maintenance = self
            .maintenance
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match self.head.time_range() {
            Some((_, max)) => self.persist_head_before(max.saturating_add(1)),
            None => Ok(FlushReport::default()),
        }
    }

    /// Periodic work: cut the head when it spans more than one and a half block ranges,
    /// compact blocks, apply retention.
    pub fn maintain(&self) -> Result<(), Error> {
        let _maintenance = self
            .maintenance
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let width = self.options.block_duration_ms;
        if let Some((min, max)) = self.head.time_range()
            && max.saturating_sub(min) > width + width / 2
        {
            self.persist_head_before(align_down(max.saturating_sub(width / 2), width))?;
        }
        self.apply_retention()?;
        self.compact()?;
        self.update_size_gauges();
        Ok(())
    }

    /// Moves every head sample older than `cut` into blocks (one per aligned range),
    /// then drops them from the head and folds the WAL into a checkpoint.
    fn persist_head_before(&self, cut: i64) -> Result<FlushReport, Error> {
        // From here on the head refuses samples older than `cut`, so the snapshot below
        // cannot miss one that arrives while the blocks are written.
        {
            let _exclusive = write_lock(&self.gate);
            self.min_valid_time.fetch_max(cut, Ordering::AcqRel);
        }
        let width = self.options.block_duration_ms;
        let mut all_series = self.head.all_series();
        all_series.sort_by_cached_key(|series| series.labels());
        let mut report = FlushReport::default();
        let mut new_blocks = Vec::new();
        // Only the aligned ranges that hold data: a stray ancient sample must not make
        // the cut walk every empty range since.
        let mut ranges = std::collections::BTreeSet::new();
        for series in &all_series {
            series.lock().ranges_before(cut, width, &mut ranges);
        }
        // One block per aligned range, written series by series: only one series'
        // samples are in memory at a time.
        for range in ranges {
            let end = range.saturating_add(width).min(cut);
            let mut writer: Option<BlockWriter> = None;
            for series in &all_series {
                let state = series.lock();
                let samples = state.samples_in(range, end - 1);
                if samples.is_empty() {
                    continue;
                }
                let exemplars: Vec<_> = state
                    .exemplars()
                    .filter(|e| range <= e.timestamp_ms && e.timestamp_ms < end)
                    .cloned()
                    .collect();
                drop(state);
                if writer.is_none() {
                    let level1 = Compaction {
                        level: 1,
                        sources: Vec::new(),
                    };
                    writer = Some(BlockWriter::new(
                        &self.blocks_dir(),
                        (range, end),
                        level1,
                        self.options.compression_level,
                    )?);
                }
                if let Some(writer) = writer.as_mut() {
                    writer.add(&series.labels(), &samples, &exemplars)?;
                }
                report.samples_written += samples.len() as u64;
            }
            if let Some(meta) = writer.map(BlockWriter::finish).transpose()?.flatten() {
                let dir = self.blocks_dir().join(&meta.id);
                new_blocks.push(Arc::new(Block::open(&dir, Arc::clone(&self.cache))?));
                report.blocks_written += 1;
            }
        }
        self.install_blocks(new_blocks, &[]);
        let checkpoint_upto = {
            let _exclusive = write_lock(&self.gate);
            let next_segment = self.wal.rotate()?;
            let removed = self.head.truncate_before(cut);
            self.metrics.series_removed.inc_by(removed as u64);
            next_segment - 1
        };
        self.write_checkpoint(checkpoint_upto)?;
        self.metrics.head_cuts.inc();
        self.update_size_gauges();
        tracing::info!(
            blocks = report.blocks_written,
            samples = report.samples_written,
            before = cut,
            "head data written to blocks"
        );
        Ok(report)
    }

    /// Folds WAL segments up to `upto` into a checkpoint holding the head as it is now:
    /// series, samples, exemplars and metadata. Streamed to disk record by record, so a
    /// large head never needs a second copy in memory.
    fn write_checkpoint(&self, upto: u64) -> Result<(), Error> {
        let all_series = self.head.all_series();
        let metadata = self.head.metadata();
        crate::wal::write_checkpoint(self.wal.dir(), upto, |file| {
            let mut frames = Vec::with_capacity(1 << 20);
            let mut flush = |frames: &mut Vec<u8>, force: bool| -> std::io::Result<()> {
                if force || frames.len() >= 1 << 20 {
                    file.write_all(frames)?;
                    frames.clear();
                }
                Ok(())
            };
            for batch in all_series.chunks(RECORD_CHUNK / 16) {
                frame_with(&mut frames, |out| {
                    record::encode_series(
                        out,
                        batch.iter().map(|series| {
                            let labels: Vec<(&str, &str)> = series.label_pairs().collect();
                            (series.series_ref, labels.into_iter())
                        }),
                    );
                });
                flush(&mut frames, false)?;
            }
            let mut samples = Vec::new();
            let mut exemplars: Vec<(u64, StoredExemplar)> = Vec::new();
            let write_exemplars =
                |frames: &mut Vec<u8>, exemplars: &mut Vec<(u64, StoredExemplar)>| {
                    let records: Vec<ExemplarRecord<'_>> = exemplars
                        .iter()
                        .map(|(series_ref, exemplar)| ExemplarRecord {
                            series_ref: *series_ref,
                            timestamp_ms: exemplar.timestamp_ms,
                            value: exemplar.value,
                            labels: exemplar
                                .labels
                                .iter()
                                .map(|l| (l.name.as_str(), l.value.as_str()))
                                .collect(),
                        })
                        .collect();
                    if !records.is_empty() {
                        frame_with(frames, |out| record::encode_exemplars(out, &records));
                    }
                    exemplars.clear();
                };
            for series in &all_series {
                let state = series.lock();
                samples.extend(
                    state
                        .samples_in(i64::MIN, i64::MAX)
                        .into_iter()
                        .map(|(t, v)| RefSample {
                            series_ref: series.series_ref,
                            timestamp_ms: t,
                            value: v,
                        }),
                );
                exemplars.extend(state.exemplars().cloned().map(|e| (series.series_ref, e)));
                drop(state);
                if samples.len() >= RECORD_CHUNK {
                    frame_with(&mut frames, |out| record::encode_samples(out, &samples));
                    samples.clear();
                }
                if exemplars.len() >= RECORD_CHUNK / 16 {
                    write_exemplars(&mut frames, &mut exemplars);
                }
                flush(&mut frames, false)?;
            }
            if !samples.is_empty() {
                frame_with(&mut frames, |out| record::encode_samples(out, &samples));
            }
            write_exemplars(&mut frames, &mut exemplars);
            let entries: Vec<(&String, &crate::head::Metadata)> = metadata.iter().collect();
            for chunk in entries.chunks(RECORD_CHUNK / 16) {
                let records: Vec<MetadataRecord<'_>> = chunk
                    .iter()
                    .map(|(family, entry)| MetadataRecord {
                        metric_family: family,
                        metric_type: entry.metric_type,
                        help: &entry.help,
                        unit: &entry.unit,
                    })
                    .collect();
                frame_with(&mut frames, |out| record::encode_metadata(out, &records));
            }
            flush(&mut frames, true)
        })?;
        Ok(())
    }

    fn install_blocks(&self, added: Vec<Arc<Block>>, removed: &[Arc<Block>]) {
        let mut blocks = write_lock(&self.blocks);
        blocks.retain(|block| !removed.iter().any(|gone| Arc::ptr_eq(gone, block)));
        blocks.extend(added);
        blocks.sort_by_key(|block| (block.meta().min_time, block.meta().id.clone()));
    }

    fn delete_blocks(&self, doomed: &[Arc<Block>], reason: &'static str) {
        if doomed.is_empty() {
            return;
        }
        self.install_blocks(Vec::new(), doomed);
        for block in doomed {
            self.cache.forget_block(block.uid());
            if let Err(err) = std::fs::remove_dir_all(block.dir()) {
                tracing::error!(block = %block.meta().id, "cannot delete block: {err}");
            }
            self.metrics
                .blocks_deleted
                .with_label_values(&[reason])
                .inc();
        }
    }

    /// Merges blocks that fall in one aligned window of the next level, once the head
    /// holds no data for that window; also merges blocks that overlap. No window is wider
    /// than a tenth of the retention, so retention can still drop old data block by block.
    fn compact(&self) -> Result<(), Error> {
        let width = self.options.block_duration_ms;
        let head_min = self.head.time_range().map_or(i64::MAX, |(min, _)| min);
        let max_window = match self.options.retention_ms {
            0 => i64::MAX,
            retention => retention / 10,
        };
        loop {
            let blocks = self.blocks_snapshot();
            let mut plan: Option<(i64, i64, Vec<Arc<Block>>)> = None;
            let mut window_width = width;
            'levels: for _ in 0..MAX_LEVELS {
                window_width *= LEVEL_FACTOR;
                if window_width > max_window {
                    break;
                }
                let mut windows: BTreeMap<i64, Vec<Arc<Block>>> = BTreeMap::new();
                for block in &blocks {
                    let start = align_down(block.meta().min_time, window_width);
                    if block.meta().max_time <= start + window_width {
                        windows.entry(start).or_default().push(Arc::clone(block));
                    }
                }
                for (start, members) in windows {
                    let end = start + window_width;
                    if members.len() >= 2 && head_min >= end {
                        plan = Some((start, end, members));
                        break 'levels;
                    }
                }
            }
            if plan.is_none() {
                plan = overlapping_group(&blocks);
            }
            let Some((start, end, members)) = plan else {
                return Ok(());
            };
            self.merge_blocks(start, end, &members)?;
        }
    }

    fn merge_blocks(&self, start: i64, end: i64, members: &[Arc<Block>]) -> Result<(), Error> {
        // Newer blocks first, so on equal timestamps their sample wins.
        let mut ordered: Vec<&Arc<Block>> = members.iter().collect();
        ordered.sort_by(|a, b| b.meta().id.cmp(&a.meta().id));
        let mut by_labels: BTreeMap<model::Labels, Vec<(&Arc<Block>, u64)>> = BTreeMap::new();
        for block in &ordered {
            for idx in 0..block.n_series() as u64 {
                by_labels
                    .entry(block.series_labels(idx))
                    .or_default()
                    .push((block, idx));
            }
        }
        let mut sources: Vec<String> = members
            .iter()
            .flat_map(|block| block.meta().compaction.sources.iter().cloned())
            .collect();
        sources.sort();
        sources.dedup();
        let level = members
            .iter()
            .map(|block| block.meta().compaction.level)
            .max()
            .unwrap_or(1)
            + 1;
        let max_time = members
            .iter()
            .map(|block| block.meta().max_time)
            .max()
            .unwrap_or(end);
        let min_time = members
            .iter()
            .map(|block| block.meta().min_time)
            .min()
            .unwrap_or(start);
        let mut writer = BlockWriter::new(
            &self.blocks_dir(),
            (min_time, max_time),
            Compaction { level, sources },
            self.options.compression_level,
        )?;
        // One series at a time: read from every member, merge, write.
        for (labels, parts) in by_labels {
            let mut samples: Vec<(i64, f64)> = Vec::new();
            let mut exemplars = Vec::new();
            for (block, idx) in parts {
                let part = block.series_samples(idx, i64::MIN, i64::MAX)?;
                samples = if samples.is_empty() {
                    part
                } else {
                    merge_sorted(&samples, &part)
                };
                for exemplar in block.series_exemplars(idx, i64::MIN, i64::MAX) {
                    if !exemplars.contains(&exemplar) {
                        exemplars.push(exemplar);
                    }
                }
            }
            exemplars.sort_by_key(|e| e.timestamp_ms);
            writer.add(&labels, &samples, &exemplars)?;
        }
        let added = match writer.finish()? {
            Some(meta) => vec![Arc::new(Block::open(
                &self.blocks_dir().join(&meta.id),
                Arc::clone(&self.cache),
            )?)],
            None => Vec::new(),
        };
        self.install_blocks(added, &[]);
        self.delete_blocks(members, "compacted");
        self.metrics.compactions.inc();
        Ok(())
    }

    fn apply_retention(&self) -> Result<(), Error> {
        let blocks = self.blocks_snapshot();
        if self.options.retention_ms > 0 {
            // Relative to the data in blocks, as Prometheus does: the head's newest
            // sample must not be able to expire everything at once.
            let newest = blocks
                .iter()
                .map(|block| block.meta().stats.data_max_time)
                .max();
            if let Some(newest) = newest {
                let horizon = newest.saturating_sub(self.options.retention_ms);
                let expired: Vec<Arc<Block>> = blocks
                    .iter()
                    .filter(|block| block.meta().stats.data_max_time < horizon)
                    .cloned()
                    .collect();
                self.delete_blocks(&expired, "retention_age");
            }
        }
        if self.options.retention_bytes > 0 {
            let mut blocks = self.blocks_snapshot();
            blocks.sort_by_key(|block| block.meta().stats.data_max_time);
            let mut total = self.size_bytes();
            let mut doomed = Vec::new();
            for block in blocks {
                if total <= self.options.retention_bytes {
                    break;
                }
                total = total.saturating_sub(block.size_bytes());
                doomed.push(block);
            }
            self.delete_blocks(&doomed, "retention_size");
        }
        Ok(())
    }
}

/// Blocks whose time ranges overlap, to be merged into one.
fn overlapping_group(blocks: &[Arc<Block>]) -> Option<(i64, i64, Vec<Arc<Block>>)> {
    for (idx, block) in blocks.iter().enumerate() {
        let overlapping: Vec<Arc<Block>> = blocks[idx + 1..]
            .iter()
            .filter(|other| {
                other.meta().min_time < block.meta().max_time
                    && block.meta().min_time < other.meta().max_time
            })
            .cloned()
            .collect();
        if !overlapping.is_empty() {
            let mut group = vec![Arc::clone(block)];
            group.extend(overlapping);
            let start = group.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
            let end = group.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
            return Some((start, end, group));
        }
    }
    None
}
