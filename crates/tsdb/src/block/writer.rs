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

struct Symbols {
    ids: BTreeMap<String, u32>,
}

impl Symbols {
    fn collect(series: &[(Labels, Vec<StoredExemplar>)]) -> Symbols {
        let mut ids = BTreeMap::new();
        for (labels, exemplars) in series {
            let exemplar_labels = exemplars.iter().flat_map(|exemplar| exemplar.labels.iter());
            for label in labels.iter().chain(exemplar_labels) {
                ids.entry(label.name.clone()).or_insert(0);
                ids.entry(label.value.clone()).or_insert(0);
            }
        }
        for (idx, id) in ids.values_mut().enumerate() {
            *id = idx as u32;
        }
        Symbols { ids }
    }

    fn pairs(&self, labels: &Labels) -> Vec<(u32, u32)> {
        labels
            .iter()
            .map(|label| (self.ids[&label.name], self.ids[&label.value]))
            .collect()
    }
}

/// Writes the block for `range` (`[start, end)`) under `parent`; returns its meta, or
/// `None` when no series has a sample (nothing is written then). `series` must be
/// sorted by labels. A block without `sources` (cut from the head) is its own source.
pub fn write_block(
    parent: &Path,
    range: (i64, i64),
    compaction: Compaction,
    series: Vec<SeriesInput>,
    compression_level: i32,
) -> Result<Option<BlockMeta>, Error> {
    let series: Vec<SeriesInput> = series
        .into_iter()
        .filter(|s| !s.samples.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let id = new_block_id();
    let tmp_dir = parent.join(format!("{id}.tmp"));
    std::fs::create_dir_all(&tmp_dir)
        .map_err(Error::io("cannot create block directory", &tmp_dir))?;

    let chunks_path = tmp_dir.join(CHUNKS_FILE);
    let chunks_file = File::create(&chunks_path)
        .map_err(Error::io("cannot create block chunks", &chunks_path))?;
    let mut chunks = BufWriter::new(chunks_file);
    let io_chunks = |err| Error::io("cannot write block chunks", &chunks_path)(err);
    chunks.write_all(CHUNKS_MAGIC).map_err(io_chunks)?;
    chunks.write_all(&[FORMAT_VERSION]).map_err(io_chunks)?;
    let mut file_offset = (CHUNKS_MAGIC.len() + 1) as u64;

    let symbols = Symbols::collect(
        &series
            .iter()
            .map(|s| (s.labels.clone(), s.exemplars.clone()))
            .collect::<Vec<_>>(),
    );
    let mut pages: Vec<(u64, u64, u64)> = Vec::new();
    let mut page = Vec::with_capacity(PAGE_TARGET_BYTES + 4096);
    let mut entries = Vec::with_capacity(series.len());
    let mut stats = BlockStats {
        num_series: series.len() as u64,
        num_samples: 0,
        num_chunks: 0,
        data_min_time: i64::MAX,
        data_max_time: i64::MIN,
    };
    let mut flush_page = |page: &mut Vec<u8>,
                          pages: &mut Vec<(u64, u64, u64)>,
                          file_offset: &mut u64|
     -> Result<(), Error> {
        if page.is_empty() {
            return Ok(());
        }
        let compressed = zstd::bulk::compress(page, compression_level).map_err(io_chunks)?;
        chunks.write_all(&compressed).map_err(io_chunks)?;
        pages.push((*file_offset, compressed.len() as u64, page.len() as u64));
        *file_offset += compressed.len() as u64;
        page.clear();
        Ok(())
    };
    for input in &series {
        let mut chunk_entries = Vec::new();
        for samples in input.samples.chunks(BLOCK_CHUNK_SAMPLES) {
            let offset = page.len();
            codec::encode(samples, &mut page);
            chunk_entries.push(ChunkEntry {
                min_time: samples[0].0,
                max_time: samples[samples.len() - 1].0,
                n_samples: samples.len() as u64,
                page: pages.len() as u64,
                offset: offset as u64,
                len: (page.len() - offset) as u64,
            });
            stats.num_samples += samples.len() as u64;
            stats.num_chunks += 1;
            if page.len() >= PAGE_TARGET_BYTES {
                flush_page(&mut page, &mut pages, &mut file_offset)?;
            }
        }
        stats.data_min_time = stats.data_min_time.min(input.samples[0].0);
        stats.data_max_time = stats
            .data_max_time
            .max(input.samples[input.samples.len() - 1].0);
        entries.push(SeriesEntry {
            labels: symbols.pairs(&input.labels),
            chunks: chunk_entries,
            exemplars: input
                .exemplars
                .iter()
                .map(|exemplar| ExemplarEntry {
                    timestamp_ms: exemplar.timestamp_ms,
                    value: exemplar.value,
                    labels: symbols.pairs(&exemplar.labels),
                })
                .collect(),
        });
    }
    flush_page(&mut page, &mut pages, &mut file_offset)?;
    let chunks_file = chunks
        .into_inner()
        .map_err(|err| io_chunks(err.into_error()))?;
    chunks_file.sync_all().map_err(io_chunks)?;

    write_index(&tmp_dir, &symbols, &pages, &entries)?;
    let mut compaction = compaction;
    if compaction.sources.is_empty() {
        compaction.sources.push(id.clone());
    }
    let meta = BlockMeta {
        version: META_VERSION,
        id: id.clone(),
        min_time: range.0,
        max_time: range.1,
        stats,
        compaction,
    };
    let meta_path = tmp_dir.join(META_FILE);
    let meta_json = serde_json::to_vec_pretty(&meta).map_err(|err| Error::Corrupt {
        path: meta_path.clone(),
        detail: err.to_string(),
    })?;
    write_synced(&meta_path, &meta_json)?;
    sync_dir(&tmp_dir)?;
    let final_dir = parent.join(&id);
    std::fs::rename(&tmp_dir, &final_dir).map_err(Error::io("cannot install block", &final_dir))?;
    sync_dir(parent)?;
    Ok(Some(meta))
}

fn write_synced(path: &PathBuf, bytes: &[u8]) -> Result<(), Error> {
    let mut file = File::create(path).map_err(Error::io("cannot create", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(Error::io("cannot write", path))
}

fn write_index(
    dir: &Path,
    symbols: &Symbols,
    pages: &[(u64, u64, u64)],
    entries: &[SeriesEntry],
) -> Result<(), Error> {
    let mut payload = Vec::new();
    put_uvarint(&mut payload, symbols.ids.len() as u64);
    for symbol in symbols.ids.keys() {
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
