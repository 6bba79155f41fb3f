//! Writes a block directory: `chunks` (zstd-compressed pages of encoded chunks),
//! `index` (symbols, series with their chunk locations and exemplars, page table; zstd
//! compressed) and `meta.json`. The directory is built under a temporary name and renamed
//! into place, so a crash never leaves a half-written block visible.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use model::Labels;

use super::meta::{BlockMeta, BlockStats, Compaction, META_FILE, META_VERSION};
use super::{CHUNKS_FILE, CHUNKS_MAGIC, FORMAT_VERSION, INDEX_FILE, INDEX_MAGIC};
use super::{ExemplarEntry, codec};
use crate::Error;
use crate::encoding::{put_bytes, put_uvarint, put_varint};
use crate::head::series::StoredExemplar;
use crate::wal::sync_dir;

/// Samples per encoded chunk inside a block.
pub const BLOCK_CHUNK_SAMPLES: usize = 1024;
/// Uncompressed bytes gathered before a page is compressed and written.
pub const PAGE_TARGET_BYTES: usize = 256 << 10;

/// One series to write: labels, samples sorted by time with unique timestamps, exemplars.
#[derive(Debug, Clone)]
pub struct SeriesInput {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
    pub exemplars: Vec<StoredExemplar>,
}

#[derive(Debug, Clone)]
struct ChunkEntry {
    min_time: i64,
    max_time: i64,
    n_samples: u64,
    page: u64,
    offset: u64,
    len: u64,
}

struct SeriesEntry {
    labels: Vec<(u32, u32)>,
    chunks: Vec<ChunkEntry>,
    exemplars: Vec<ExemplarEntry>,
}

/// A unique, time-sortable block id.
pub fn new_block_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{now_ms:013x}{:05x}{:06x}",
        std::process::id() & 0xfffff,
        sequence & 0xff_ffff
    )
}

/// Writes one block, series by series in label order, so only one series' samples are
/// in memory at a time. Symbols and the index are written by [`BlockWriter::finish`].
#[derive(Debug)]
pub struct BlockWriter {
    parent: PathBuf,
    id: String,
    tmp_dir: PathBuf,
    chunks_path: PathBuf,
    chunks: BufWriter<File>,
    file_offset: u64,
    pages: Vec<(u64, u64, u64)>,
    page: Vec<u8>,
    /// Per series: labels, chunks, exemplars (labels as strings until `finish`).
    entries: Vec<(Labels, Vec<ChunkEntry>, Vec<StoredExemplar>)>,
    stats: BlockStats,
    range: (i64, i64),
    compaction: Compaction,
    compression_level: i32,
}

impl BlockWriter {
    /// Starts a block for `range` (`[start, end)`) under `parent`.
    pub fn new(
        parent: &Path,
        range: (i64, i64),
        compaction: Compaction,
        compression_level: i32,
    ) -> Result<Self, Error> {
        let id = new_block_id();
        let tmp_dir = parent.join(format!("{id}.tmp"));
        std::fs::create_dir_all(&tmp_dir)
            .map_err(Error::io("cannot create block directory", &tmp_dir))?;
        let chunks_path = tmp_dir.join(CHUNKS_FILE);
        let file = File::create(&chunks_path)
            .map_err(Error::io("cannot create block chunks", &chunks_path))?;
        let mut chunks = BufWriter::new(file);
        chunks
            .write_all(CHUNKS_MAGIC)
            .and_then(|()| chunks.write_all(&[FORMAT_VERSION]))
            .map_err(Error::io("cannot write block chunks", &chunks_path))?;
        Ok(BlockWriter {
            parent: parent.to_owned(),
            id,
            tmp_dir,
            chunks_path,
            chunks,
            file_offset: (CHUNKS_MAGIC.len() + 1) as u64,
            pages: Vec::new(),
            page: Vec::with_capacity(PAGE_TARGET_BYTES + 4096),
            entries: Vec::new(),
            stats: BlockStats {
                num_series: 0,
                num_samples: 0,
                num_chunks: 0,
                data_min_time: i64::MAX,
                data_max_time: i64::MIN,
            },
            range,
            compaction,
            compression_level,
        })
    }

    fn flush_page(&mut self) -> Result<(), Error> {
        if self.page.is_empty() {
            return Ok(());
        }
        let io = Error::io("cannot write block chunks", &self.chunks_path);
        let compressed = match zstd::bulk::compress(&self.page, self.compression_level) {
            Ok(compressed) => compressed,
            Err(err) => return Err(io(err)),
        };
        if let Err(err) = self.chunks.write_all(&compressed) {
            return Err(Error::io("cannot write block chunks", &self.chunks_path)(
                err,
            ));
        }
        self.pages.push((
            self.file_offset,
            compressed.len() as u64,
            self.page.len() as u64,
        ));
        self.file_offset += compressed.len() as u64;
        self.page.clear();
        Ok(())
    }

    /// Adds a series; calls must come in label order. Samples must be sorted with unique
    /// timestamps. A series without samples is skipped.
    pub fn add(
        &mut self,
        labels: &Labels,
        samples: &[(i64, f64)],
        exemplars: &[StoredExemplar],
    ) -> Result<(), Error> {
        let (Some(&(first, _)), Some(&(last, _))) = (samples.first(), samples.last()) else {
            return Ok(());
        };
        debug_assert!(
            self.entries
                .last()
                .is_none_or(|(previous, _, _)| previous < labels)
        );
        let mut chunk_entries = Vec::new();
        for chunk in samples.chunks(BLOCK_CHUNK_SAMPLES) {
            let offset = self.page.len();
            codec::encode(chunk, &mut self.page);
            chunk_entries.push(ChunkEntry {
                min_time: chunk[0].0,
                max_time: chunk[chunk.len() - 1].0,
                n_samples: chunk.len() as u64,
                page: self.pages.len() as u64,
                offset: offset as u64,
                len: (self.page.len() - offset) as u64,
            });
            self.stats.num_samples += chunk.len() as u64;
            self.stats.num_chunks += 1;
            if self.page.len() >= PAGE_TARGET_BYTES {
                self.flush_page()?;
            }
        }
        self.stats.num_series += 1;
        self.stats.data_min_time = self.stats.data_min_time.min(first);
        self.stats.data_max_time = self.stats.data_max_time.max(last);
        self.entries
            .push((labels.clone(), chunk_entries, exemplars.to_vec()));
        Ok(())
    }

    /// Writes the index and meta and moves the block into place; `None` (and nothing on
    /// disk) when no series had samples.
    pub fn finish(mut self) -> Result<Option<BlockMeta>, Error> {
        if self.entries.is_empty() {
            let _ = std::fs::remove_dir_all(&self.tmp_dir);
            return Ok(None);
        }
        self.flush_page()?;
        let chunks_path = self.chunks_path.clone();
        let file = self.chunks.into_inner().map_err(|err| {
            Error::io("cannot write block chunks", &chunks_path)(err.into_error())
        })?;
        file.sync_all()
            .map_err(Error::io("cannot sync block chunks", &chunks_path))?;

        let mut symbol_ids: BTreeMap<&str, u32> = BTreeMap::new();
        for (labels, _, exemplars) in &self.entries {
            let exemplar_labels = exemplars.iter().flat_map(|exemplar| exemplar.labels.iter());
            for label in labels.iter().chain(exemplar_labels) {
                symbol_ids.insert(&label.name, 0);
                symbol_ids.insert(&label.value, 0);
            }
        }
        for (idx, id) in symbol_ids.values_mut().enumerate() {
            *id = idx as u32;
        }
        let pairs = |labels: &Labels| -> Vec<(u32, u32)> {
            labels
                .iter()
                .map(|label| {
                    (
                        symbol_ids[label.name.as_str()],
                        symbol_ids[label.value.as_str()],
                    )
                })
                .collect()
        };
        let entries: Vec<SeriesEntry> = self
            .entries
            .iter()
            .map(|(labels, chunks, exemplars)| SeriesEntry {
                labels: pairs(labels),
                chunks: chunks.clone(),
                exemplars: exemplars
                    .iter()
                    .map(|exemplar| ExemplarEntry {
                        timestamp_ms: exemplar.timestamp_ms,
                        value: exemplar.value,
                        labels: pairs(&exemplar.labels),
                    })
                    .collect(),
            })
            .collect();
        let symbols: Vec<&str> = symbol_ids.keys().copied().collect();
        write_index(&self.tmp_dir, &symbols, &self.pages, &entries)?;
        let mut compaction = self.compaction;
        if compaction.sources.is_empty() {
            compaction.sources.push(self.id.clone());
        }
        let meta = BlockMeta {
            version: META_VERSION,
            id: self.id.clone(),
            min_time: self.range.0,
            max_time: self.range.1,
            stats: self.stats,
            compaction,
        };
        let meta_path = self.tmp_dir.join(META_FILE);
        let meta_json = serde_json::to_vec_pretty(&meta).map_err(|err| Error::Corrupt {
            path: meta_path.clone(),
            detail: err.to_string(),
        })?;
        write_synced(&meta_path, &meta_json)?;
        sync_dir(&self.tmp_dir)?;
        let final_dir = self.parent.join(&self.id);
        std::fs::rename(&self.tmp_dir, &final_dir)
            .map_err(Error::io("cannot install block", &final_dir))?;
        sync_dir(&self.parent)?;
        Ok(Some(meta))
    }
}

/// Writes a whole block from series already in memory (sorted by labels).
pub fn write_block(
    parent: &Path,
    range: (i64, i64),
    compaction: Compaction,
    series: &[SeriesInput],
    compression_level: i32,
) -> Result<Option<BlockMeta>, Error> {
    let mut writer = BlockWriter::new(parent, range, compaction, compression_level)?;
    for input in series {
        writer.add(&input.labels, &input.samples, &input.exemplars)?;
    }
    writer.finish()
}

fn write_synced(path: &PathBuf, bytes: &[u8]) -> Result<(), Error> {
    let mut file = File::create(path).map_err(Error::io("cannot create", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(Error::io("cannot write", path))
}

fn write_index(
    dir: &Path,
    symbols: &[&str],
    pages: &[(u64, u64, u64)],
    entries: &[SeriesEntry],
) -> Result<(), Error> {
    let mut payload = Vec::new();
    put_uvarint(&mut payload, symbols.len() as u64);
    for symbol in symbols {
        put_bytes(&mut payload, symbol.as_bytes());
    }
    put_uvarint(&mut payload, pages.len() as u64);
    for &(offset, compressed_len, raw_len) in pages {
        put_uvarint(&mut payload, offset);
        put_uvarint(&mut payload, compressed_len);
        put_uvarint(&mut payload, raw_len);
    }
    put_uvarint(&mut payload, entries.len() as u64);
    let put_pairs = |payload: &mut Vec<u8>, pairs: &[(u32, u32)]| {
        put_uvarint(payload, pairs.len() as u64);
        for &(name, value) in pairs {
            put_uvarint(payload, u64::from(name));
            put_uvarint(payload, u64::from(value));
        }
    };
    for entry in entries {
        put_pairs(&mut payload, &entry.labels);
        put_uvarint(&mut payload, entry.chunks.len() as u64);
        for chunk in &entry.chunks {
            put_varint(&mut payload, chunk.min_time);
            put_uvarint(
                &mut payload,
                chunk.max_time.wrapping_sub(chunk.min_time) as u64,
            );
            put_uvarint(&mut payload, chunk.n_samples);
            put_uvarint(&mut payload, chunk.page);
            put_uvarint(&mut payload, chunk.offset);
            put_uvarint(&mut payload, chunk.len);
        }
        put_uvarint(&mut payload, entry.exemplars.len() as u64);
        for exemplar in &entry.exemplars {
            put_varint(&mut payload, exemplar.timestamp_ms);
            payload.extend_from_slice(&exemplar.value.to_bits().to_le_bytes());
            put_pairs(&mut payload, &exemplar.labels);
        }
    }
    let path = dir.join(INDEX_FILE);
    let compressed = zstd::bulk::compress(&payload, 9)
        .map_err(Error::io("cannot compress block index", &path))?;
    let mut bytes = Vec::with_capacity(compressed.len() + 16);
    bytes.extend_from_slice(INDEX_MAGIC);
    bytes.push(FORMAT_VERSION);
    put_uvarint(&mut bytes, payload.len() as u64);
    bytes.extend_from_slice(&compressed);
    write_synced(&path, &bytes)
}
