//! Immutable blocks: all samples of a time range, written once, read many times.
//!
//! A block directory holds `meta.json` ([`meta`]), `chunks` (pages of encoded chunks,
//! each page a zstd frame; see [`codec`]) and `index` (zstd-compressed symbols, series,
//! chunk locations, exemplars and page table; see [`writer`]). Opening a block reads
//! its index into memory and builds the postings; samples are read page by page through
//! a shared [`cache::PageCache`].

pub mod cache;
pub mod codec;
pub mod meta;
pub mod writer;

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cache::PageCache;
use meta::BlockMeta;
use model::{Label, Labels};

use crate::Error;
use crate::encoding::{Corrupt, Decoder};
use crate::head::series::StoredExemplar;
use crate::matcher::Matcher;
use crate::postings::{self, IndexReader};

pub const CHUNKS_FILE: &str = "chunks";
pub const INDEX_FILE: &str = "index";
pub const CHUNKS_MAGIC: &[u8; 4] = b"SLBC";
pub const INDEX_MAGIC: &[u8; 4] = b"SLBI";
pub const FORMAT_VERSION: u8 = 1;

/// Index payloads larger than this are refused as corrupt.
const MAX_INDEX_BYTES: usize = 4 << 30;
/// Largest decompressed page a block may declare (pages are written at about 256 KiB).
const MAX_PAGE_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, Copy)]
struct ChunkMeta {
    min_time: i64,
    max_time: i64,
    page: u32,
    offset: u32,
    len: u32,
}

/// An exemplar as stored in a block index: labels are symbol references.
#[derive(Debug, Clone)]
pub(crate) struct ExemplarEntry {
    pub(crate) timestamp_ms: i64,
    pub(crate) value: f64,
    pub(crate) labels: Vec<(u32, u32)>,
}

#[derive(Debug)]
struct SeriesEntry {
    labels: Vec<(u32, u32)>,
    chunks: Vec<ChunkMeta>,
    exemplars: Vec<ExemplarEntry>,
}

#[derive(Debug, Clone, Copy)]
struct PageMeta {
    offset: u64,
    compressed_len: u64,
    raw_len: u64,
}

/// Postings of a block, keyed by label strings.
#[derive(Debug, Default)]
struct BlockPostings {
    by_label: HashMap<String, HashMap<String, Vec<u64>>>,
    n_series: u64,
}

impl IndexReader for BlockPostings {
    fn label_values(&self, name: &str) -> Vec<&str> {
        self.by_label
            .get(name)
            .map(|values| values.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    fn postings(&self, name: &str, value: &str) -> &[u64] {
        self.by_label
            .get(name)
            .and_then(|values| values.get(value))
            .map_or(&[], Vec::as_slice)
    }

    fn all_postings(&self) -> Vec<u64> {
        (0..self.n_series).collect()
    }
}

/// An open block.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    uid: u64,
    symbols: Vec<String>,
    series: Vec<SeriesEntry>,
    postings: BlockPostings,
    pages: Vec<PageMeta>,
    chunks: File,
    cache: Arc<PageCache>,
    size_bytes: u64,
}

fn read_pairs(decoder: &mut Decoder<'_>, n_symbols: usize) -> Result<Vec<(u32, u32)>, Corrupt> {
    let n = decoder.len(1 << 16)?;
    if n > 0 && n_symbols == 0 {
        return Err(Corrupt("labels refer to an empty symbol table"));
    }
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        let name = decoder.len(n_symbols.saturating_sub(1))? as u32;
        let value = decoder.len(n_symbols.saturating_sub(1))? as u32;
        pairs.push((name, value));
    }
    Ok(pairs)
}

impl Block {
    pub fn open(dir: &Path, cache: Arc<PageCache>) -> Result<Block, Error> {
        static NEXT_UID: AtomicU64 = AtomicU64::new(1);
        let meta = BlockMeta::read(dir)?;
        let index_path = dir.join(INDEX_FILE);
        let raw = std::fs::read(&index_path)
            .map_err(Error::io("cannot read block index", &index_path))?;
        let corrupt = Error::corrupt(&index_path);
        let (symbols, pages, series) = parse_index(&raw).map_err(corrupt)?;
        let chunks_path = dir.join(CHUNKS_FILE);
        let chunks = File::open(&chunks_path)
            .map_err(Error::io("cannot open block chunks", &chunks_path))?;
        let chunks_len = chunks
            .metadata()
            .map_err(Error::io("cannot open block chunks", &chunks_path))?
            .len();
        for page in &pages {
            let fits = page
                .offset
                .checked_add(page.compressed_len)
                .is_some_and(|end| end <= chunks_len);
            if !fits || page.raw_len > MAX_PAGE_BYTES {
                return Err(Error::Corrupt {
                    path: chunks_path,
                    detail: format!(
                        "page at offset {} ({} bytes, {} raw) does not fit the chunks file of {chunks_len} bytes",
                        page.offset, page.compressed_len, page.raw_len
                    ),
                });
            }
        }
        let mut postings = BlockPostings {
            by_label: HashMap::new(),
            n_series: series.len() as u64,
        };
        for (idx, entry) in series.iter().enumerate() {
            for &(name, value) in &entry.labels {
                postings
                    .by_label
                    .entry(symbols[name as usize].clone())
                    .or_default()
                    .entry(symbols[value as usize].clone())
                    .or_default()
                    .push(idx as u64);
            }
        }
        Ok(Block {
            dir: dir.to_owned(),
            size_bytes: crate::wal::dir_size(dir),
            meta,
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
            symbols,
            series,
            postings,
            pages,
            chunks,
            cache,
        })
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn uid(&self) -> u64 {
        self.uid
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    pub fn n_series(&self) -> usize {
        self.series.len()
    }

    /// Indexes of the series matching every matcher.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<u64> {
        postings::select(&self.postings, matchers)
    }

    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.postings.by_label.keys().map(String::as_str)
    }

    fn pairs_to_labels(&self, pairs: &[(u32, u32)]) -> Labels {
        let labels = pairs
            .iter()
            .map(|&(name, value)| {
                Label::new(
                    &*self.symbols[name as usize],
                    &*self.symbols[value as usize],
                )
            })
            .collect();
        Labels::from_sorted(labels).unwrap_or_default()
    }

    pub fn series_labels(&self, series_idx: u64) -> Labels {
        self.pairs_to_labels(&self.series[series_idx as usize].labels)
    }

    /// The index of the series with exactly these labels (series are stored sorted).
    pub fn find_series(&self, labels: &Labels) -> Option<u64> {
        let (mut low, mut high) = (0usize, self.series.len());
        while low < high {
            let middle = low + (high - low) / 2;
            match self.series_labels(middle as u64).cmp(labels) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(middle as u64),
            }
        }
        None
    }

    /// Whether the series has a chunk overlapping `[mint, maxt]`.
    pub fn series_overlaps(&self, series_idx: u64, mint: i64, maxt: i64) -> bool {
        self.series[series_idx as usize]
            .chunks
            .iter()
            .any(|chunk| chunk.min_time <= maxt && mint <= chunk.max_time)
    }

    fn page(&self, page_idx: u32) -> Result<Arc<Vec<u8>>, Error> {
        if let Some(page) = self.cache.get(self.uid, page_idx) {
            return Ok(page);
        }
        let path = self.dir.join(CHUNKS_FILE);
        let corrupt = |detail: &str| Error::Corrupt {
            path: path.clone(),
            detail: detail.to_owned(),
        };
        let meta = *self
            .pages
            .get(page_idx as usize)
            .ok_or_else(|| corrupt("page index out of range"))?;
        let mut compressed =
            vec![0; usize::try_from(meta.compressed_len).map_err(|_| corrupt("page too large"))?];
        self.chunks
            .read_exact_at(&mut compressed, meta.offset)
            .map_err(Error::io("cannot read block chunks", &path))?;
        let raw_len = usize::try_from(meta.raw_len).map_err(|_| corrupt("page too large"))?;
        let raw = zstd::bulk::decompress(&compressed, raw_len)
            .map_err(|err| corrupt(&format!("page {page_idx}: {err}")))?;
        if raw.len() != raw_len {
            return Err(corrupt("page shorter than its declared length"));
        }
        let raw = Arc::new(raw);
        self.cache.insert(self.uid, page_idx, Arc::clone(&raw));
        Ok(raw)
    }

    /// The series' samples in `[mint, maxt]`, sorted by time.
    pub fn series_samples(
        &self,
        series_idx: u64,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(i64, f64)>, Error> {
        let mut samples = Vec::new();
        let path = self.dir.join(CHUNKS_FILE);
        for chunk in &self.series[series_idx as usize].chunks {
            if chunk.max_time < mint || chunk.min_time > maxt {
                continue;
            }
            let page = self.page(chunk.page)?;
            let start = chunk.offset as usize;
            let bytes =
                page.get(start..start + chunk.len as usize)
                    .ok_or_else(|| Error::Corrupt {
                        path: path.clone(),
                        detail: "chunk outside its page".into(),
                    })?;
            let decoded = codec::decode(&mut Decoder::new(bytes)).map_err(Error::corrupt(&path))?;
            samples.extend(decoded.into_iter().filter(|&(t, _)| mint <= t && t <= maxt));
        }
        Ok(samples)
    }

    pub fn series_exemplars(&self, series_idx: u64, mint: i64, maxt: i64) -> Vec<StoredExemplar> {
        self.series[series_idx as usize]
            .exemplars
            .iter()
            .filter(|exemplar| mint <= exemplar.timestamp_ms && exemplar.timestamp_ms <= maxt)
            .map(|exemplar| StoredExemplar {
                timestamp_ms: exemplar.timestamp_ms,
                value: exemplar.value,
                labels: self.pairs_to_labels(&exemplar.labels),
            })
            .collect()
    }
}

type ParsedIndex = (Vec<String>, Vec<PageMeta>, Vec<SeriesEntry>);

fn parse_index(raw: &[u8]) -> Result<ParsedIndex, Corrupt> {
    let mut header = Decoder::new(raw);
    if header.take(4)? != INDEX_MAGIC {
        return Err(Corrupt("not a block index (bad magic)"));
    }
    if header.u8()? != FORMAT_VERSION {
        return Err(Corrupt("unknown block index version"));
    }
    let payload_len = header.len(MAX_INDEX_BYTES)?;
    let compressed = &raw[header.position()..];
    let payload = zstd::bulk::decompress(compressed, payload_len)
        .map_err(|_| Corrupt("index does not decompress"))?;
    let mut decoder = Decoder::new(&payload);
    let n_symbols = decoder.len(payload.len())?;
    let mut symbols = Vec::with_capacity(n_symbols.min(1 << 16));
    for _ in 0..n_symbols {
        symbols.push(decoder.str()?.to_owned());
    }
    let n_pages = decoder.len(payload.len())?;
    let mut pages = Vec::with_capacity(n_pages.min(1 << 16));
    for _ in 0..n_pages {
        pages.push(PageMeta {
            offset: decoder.uvarint()?,
            compressed_len: decoder.uvarint()?,
            raw_len: decoder.uvarint()?,
        });
    }
    let n_series = decoder.len(payload.len())?;
    let mut series = Vec::with_capacity(n_series.min(1 << 16));
    let as_u32 = |value: u64| u32::try_from(value).map_err(|_| Corrupt("offset out of range"));
    for _ in 0..n_series {
        let labels = read_pairs(&mut decoder, n_symbols)?;
        let n_chunks = decoder.len(payload.len())?;
        let mut chunks = Vec::with_capacity(n_chunks.min(1024));
        for _ in 0..n_chunks {
            let min_time = decoder.varint()?;
            let span = decoder.uvarint()?;
            let _n_samples = decoder.uvarint()?;
            let page = as_u32(decoder.uvarint()?)?;
            if page as usize >= n_pages {
                return Err(Corrupt("chunk names a missing page"));
            }
            chunks.push(ChunkMeta {
                min_time,
                max_time: min_time.wrapping_add(span as i64),
                page,
                offset: as_u32(decoder.uvarint()?)?,
                len: as_u32(decoder.uvarint()?)?,
            });
        }
        let n_exemplars = decoder.len(payload.len())?;
        let mut exemplars = Vec::with_capacity(n_exemplars.min(1024));
        for _ in 0..n_exemplars {
            let timestamp = decoder.varint()?;
            let value = f64::from_bits(decoder.u64_le()?);
            exemplars.push(ExemplarEntry {
                timestamp_ms: timestamp,
                value,
                labels: read_pairs(&mut decoder, n_symbols)?,
            });
        }
        series.push(SeriesEntry {
            labels,
            chunks,
            exemplars,
        });
    }
    Ok((symbols, pages, series))
}

#[cfg(test)]
mod tests;
