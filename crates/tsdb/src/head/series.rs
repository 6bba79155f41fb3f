//! One series in the head: its labels, its compressed in-order chunks, a small sorted
//! buffer of out-of-order samples, and its recent exemplars.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use model::{Label, Labels};

use crate::chunk::{SAMPLES_PER_CHUNK, XorChunk};

/// An exemplar kept with its series.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExemplar {
    pub timestamp_ms: i64,
    pub value: f64,
    pub labels: Labels,
}

/// What happens to a sample offered to a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Newer than everything: appended to the open chunk.
    InOrder,
    /// Older than the newest sample but inside the out-of-order window.
    OutOfOrder,
    /// The same timestamp and the same value bits are already stored: a retry.
    Duplicate,
    /// The same timestamp is stored with a different value.
    Conflict,
    /// Older than the out-of-order window allows.
    TooOld,
}

#[derive(Debug, Default)]
pub(crate) struct SeriesState {
    /// Full chunks, oldest first, non-overlapping and increasing.
    closed: Vec<XorChunk>,
    open: XorChunk,
    /// Out-of-order samples `(timestamp, value)`, sorted, unique timestamps.
    ooo: Vec<(i64, f64)>,
    exemplars: VecDeque<StoredExemplar>,
}

impl SeriesState {
    /// Timestamp of the newest in-order sample.
    pub(crate) fn last_timestamp(&self) -> Option<i64> {
        if !self.open.is_empty() {
            Some(self.open.max_time())
        } else {
            self.closed.last().map(XorChunk::max_time)
        }
    }

    fn last_value_bits(&self) -> Option<u64> {
        if !self.open.is_empty() {
            Some(self.open.last_value_bits())
        } else {
            self.closed.last().map(XorChunk::last_value_bits)
        }
    }

    /// Oldest and newest timestamps held, in-order or not.
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        let in_order_min = self
            .closed
            .first()
            .map(XorChunk::min_time)
            .or_else(|| (!self.open.is_empty()).then(|| self.open.min_time()));
        let in_order_max = self.last_timestamp();
        let ooo_min = self.ooo.first().map(|&(t, _)| t);
        let ooo_max = self.ooo.last().map(|&(t, _)| t);
        let min = [in_order_min, ooo_min].into_iter().flatten().min()?;
        let max = [in_order_max, ooo_max].into_iter().flatten().max()?;
        Some((min, max))
    }

    /// The stored value bits at `timestamp`, if any.
    fn value_bits_at(&self, timestamp: i64) -> Option<u64> {
        if let Ok(idx) = self.ooo.binary_search_by_key(&timestamp, |&(t, _)| t) {
            return Some(self.ooo[idx].1.to_bits());
        }
        self.closed
            .iter()
            .chain(std::iter::once(&self.open))
            .filter(|chunk| {
                !chunk.is_empty() && chunk.min_time() <= timestamp && timestamp <= chunk.max_time()
            })
            .find_map(|chunk| chunk.iter().find(|&(t, _)| t == timestamp))
            .map(|(_, value)| value.to_bits())
    }

    /// Decides what `(timestamp, value)` would do, without changing anything.
    /// `newest` is the newest timestamp accepted so far (stored, or earlier in the same
    /// batch); `ooo_window_ms` is how far behind it a sample may be.
    pub(crate) fn admit(
        &self,
        timestamp: i64,
        value: f64,
        newest: Option<i64>,
        ooo_window_ms: i64,
    ) -> Admission {
        let Some(newest) = newest else {
            return Admission::InOrder;
        };
        if timestamp > newest {
            return Admission::InOrder;
        }
        if timestamp == newest && self.last_timestamp() == Some(newest) {
            return if self.last_value_bits() == Some(value.to_bits()) {
                Admission::Duplicate
            } else {
                Admission::Conflict
            };
        }
        match self.value_bits_at(timestamp) {
            Some(bits) if bits == value.to_bits() => Admission::Duplicate,
            Some(_) => Admission::Conflict,
            None if timestamp < newest.saturating_sub(ooo_window_ms) => Admission::TooOld,
            None => Admission::OutOfOrder,
        }
    }

    /// Stores a sample that passed [`SeriesState::admit`] (or comes from the WAL). Never
    /// drops a new timestamp: a sample that became out of order since it was admitted
    /// goes to the out-of-order buffer. An already stored timestamp keeps its value.
    /// `chunk_range_ms` keeps a chunk from spanning two block ranges.
    pub(crate) fn append(&mut self, timestamp: i64, value: f64, chunk_range_ms: i64) -> bool {
        match self.last_timestamp() {
            Some(last) if timestamp <= last => {
                if self.value_bits_at(timestamp).is_some() {
                    return false;
                }
                let position = self.ooo.partition_point(|&(t, _)| t < timestamp);
                self.ooo.insert(position, (timestamp, value));
                true
            }
            _ => {
                let must_cut = self.open.len() >= SAMPLES_PER_CHUNK
                    || (!self.open.is_empty()
                        && self.open.min_time().div_euclid(chunk_range_ms)
                            != timestamp.div_euclid(chunk_range_ms));
                if must_cut {
                    self.closed.push(std::mem::take(&mut self.open));
                }
                self.open.append(timestamp, value);
                true
            }
        }
    }

    pub(crate) fn add_exemplar(&mut self, exemplar: StoredExemplar, max_per_series: usize) -> bool {
        if max_per_series == 0 || self.exemplars.contains(&exemplar) {
            return false;
        }
        if self.exemplars.len() >= max_per_series {
            self.exemplars.pop_front();
        }
        self.exemplars.push_back(exemplar);
        true
    }

    pub(crate) fn exemplars(&self) -> impl Iterator<Item = &StoredExemplar> {
        self.exemplars.iter()
    }

    /// Every sample in `[mint, maxt]`, sorted by time, in-order and out-of-order merged.
    pub(crate) fn samples_in(&self, mint: i64, maxt: i64) -> Vec<(i64, f64)> {
        if mint > maxt {
            return Vec::new();
        }
        let mut in_order: Vec<(i64, f64)> = Vec::new();
        for chunk in self.closed.iter().chain(std::iter::once(&self.open)) {
            if chunk.is_empty() || chunk.max_time() < mint || chunk.min_time() > maxt {
                continue;
            }
            in_order.extend(chunk.iter().filter(|&(t, _)| mint <= t && t <= maxt));
        }
        let start = self.ooo.partition_point(|&(t, _)| t < mint);
        let end = self.ooo.partition_point(|&(t, _)| t <= maxt);
        let ooo = &self.ooo[start..end];
        if ooo.is_empty() {
            return in_order;
        }
        merge_sorted(&in_order, ooo)
    }

    /// Adds to `ranges` the start of every `width`-aligned range before `cut` that holds
    /// a sample of this series. Chunks never span two ranges, so only the out-of-order
    /// samples are looked at one by one.
    pub(crate) fn ranges_before(
        &self,
        cut: i64,
        width: i64,
        ranges: &mut std::collections::BTreeSet<i64>,
    ) {
        for chunk in self.closed.iter().chain(std::iter::once(&self.open)) {
            if !chunk.is_empty() && chunk.min_time() < cut {
                ranges.insert(chunk.min_time().div_euclid(width) * width);
            }
        }
        for &(t, _) in self.ooo.iter().take_while(|&&(t, _)| t < cut) {
            ranges.insert(t.div_euclid(width) * width);
        }
    }

    /// Drops every sample before `cut` (it is in a block now): whole chunks, the older part
    /// of a chunk that spans `cut`, out-of-order samples and exemplars.
    pub(crate) fn truncate_before(&mut self, cut: i64) {
        let keep_from = |chunk: &XorChunk| -> Option<XorChunk> {
            if chunk.is_empty() || chunk.max_time() < cut {
                return None;
            }
            if chunk.min_time() >= cut {
                return Some(chunk.clone());
            }
            let mut kept = XorChunk::new();
            for (t, v) in chunk.iter().filter(|&(t, _)| t >= cut) {
                kept.append(t, v);
            }
            Some(kept)
        };
        self.closed = self.closed.iter().filter_map(keep_from).collect();
        self.open = keep_from(&self.open).unwrap_or_default();
        self.ooo.retain(|&(t, _)| t >= cut);
        self.exemplars
            .retain(|exemplar| exemplar.timestamp_ms >= cut);
    }

    /// Bytes of compressed chunk data held, for memory accounting.
    pub(crate) fn chunk_bytes(&self) -> usize {
        self.closed.iter().map(XorChunk::byte_size).sum::<usize>()
            + self.open.byte_size()
            + self.ooo.len() * 16
    }
}

/// Merges two sorted sample runs; on equal timestamps the first run's sample wins.
pub(crate) fn merge_sorted(a: &[(i64, f64)], b: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x.0 < y.0 => {
                out.push(x);
                i += 1;
            }
            (Some(&x), Some(&y)) if x.0 > y.0 => {
                out.push(y);
                j += 1;
            }
            (Some(&x), Some(_)) => {
                out.push(x);
                i += 1;
                j += 1;
            }
            (Some(&x), None) => {
                out.push(x);
                i += 1;
            }
            (None, Some(&y)) => {
                out.push(y);
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// A series in the head. Its labels live only in its key (see [`encode_key`]): one
/// allocation instead of two strings per label, compared in one go.
#[derive(Debug)]
pub struct MemSeries {
    pub(crate) series_ref: u64,
    key: Box<[u8]>,
    pub(crate) hash: u64,
    /// Whether its series record is in the WAL; until then, every append that uses it
    /// logs the record too (a duplicate record is harmless on replay).
    logged: AtomicBool,
    state: Mutex<SeriesState>,
}

impl MemSeries {
    pub(crate) fn new(series_ref: u64, key: &[u8], logged: bool) -> Self {
        MemSeries {
            series_ref,
            key: key.into(),
            hash: hash_key(key),
            logged: AtomicBool::new(logged),
            state: Mutex::new(SeriesState::default()),
        }
    }

    /// `(name, value)` pairs in label order, read from the key.
    pub fn label_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut pieces = self
            .key
            .split(|&byte| byte == 0xff)
            .map(|piece| std::str::from_utf8(piece).unwrap_or(""));
        std::iter::from_fn(move || {
            let name = pieces.next().filter(|name| !name.is_empty())?;
            Some((name, pieces.next().unwrap_or("")))
        })
    }

    /// The labels as an owned set (for results and blocks).
    pub fn labels(&self) -> Labels {
        let labels = self
            .label_pairs()
            .map(|(name, value)| Label::new(name, value))
            .collect();
        Labels::from_sorted(labels).unwrap_or_default()
    }

    pub fn metric_name(&self) -> &str {
        self.label_pairs()
            .find(|(name, _)| *name == model::labels::METRIC_NAME)
            .map_or("", |(_, value)| value)
    }

    pub fn series_ref(&self) -> u64 {
        self.series_ref
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SeriesState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_logged(&self) -> bool {
        self.logged.load(Ordering::Acquire)
    }

    pub(crate) fn mark_logged(&self) {
        self.logged.store(true, Ordering::Release);
    }

    pub(crate) fn key_equals(&self, key: &[u8]) -> bool {
        *self.key == *key
    }
}

/// Writes a label set as one byte string: each name and value followed by `0xff`, a
/// byte that never occurs in UTF-8, so distinct label sets give distinct keys.
pub(crate) fn encode_key<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    out: &mut Vec<u8>,
) {
    out.clear();
    for (name, value) in labels {
        out.extend_from_slice(name.as_bytes());
        out.push(0xff);
        out.extend_from_slice(value.as_bytes());
        out.push(0xff);
    }
}

/// The head's lookup hash of a key (collisions are resolved by comparing keys).
pub(crate) fn hash_key(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn state_with(samples: &[(i64, f64)]) -> SeriesState {
        let mut state = SeriesState::default();
        for &(t, v) in samples {
            assert!(state.append(t, v, 2 * HOUR));
        }
        state
    }

    #[test]
    fn admission_rules() {
        let state = state_with(&[(1000, 1.0), (2000, 2.0), (3000, f64::NAN)]);
        let newest = state.last_timestamp();
        let admit = |t, v: f64| state.admit(t, v, newest, 1500);
        assert_eq!(admit(4000, 4.0), Admission::InOrder);
        assert_eq!(admit(3000, f64::NAN), Admission::Duplicate);
        assert_eq!(admit(3000, 3.0), Admission::Conflict);
        assert_eq!(admit(2000, 2.0), Admission::Duplicate);
        assert_eq!(admit(2000, 2.5), Admission::Conflict);
        assert_eq!(admit(2500, 2.5), Admission::OutOfOrder);
        assert_eq!(admit(1499, 1.5), Admission::TooOld);
        assert_eq!(state.admit(1499, 1.5, newest, 0), Admission::TooOld);
        assert_eq!(
            SeriesState::default().admit(5, 5.0, None, 0),
            Admission::InOrder
        );
    }

    #[test]
    fn out_of_order_samples_merge_into_reads_and_duplicates_keep_the_first_value() {
        let mut state = state_with(&[(1000, 1.0), (3000, 3.0)]);
        assert!(state.append(2000, 2.0, 2 * HOUR));
        assert!(
            !state.append(2000, 9.0, 2 * HOUR),
            "a stored timestamp keeps its value"
        );
        assert!(!state.append(3000, 9.0, 2 * HOUR));
        assert_eq!(
            state.samples_in(0, 10_000),
            [(1000, 1.0), (2000, 2.0), (3000, 3.0)]
        );
        assert_eq!(state.samples_in(1500, 2999), [(2000, 2.0)]);
        assert_eq!(state.time_range(), Some((1000, 3000)));
    }

    #[test]
    fn chunks_are_cut_by_size_and_at_block_boundaries() {
        let mut state = SeriesState::default();
        for idx in 0..250 {
            state.append(idx * 15_000, idx as f64, 2 * HOUR);
        }
        // 120 + 120 + 10 samples; 250 * 15 s stays inside the first 2 h range.
        assert_eq!(state.closed.len(), 2);
        state.append(2 * HOUR, 0.0, 2 * HOUR);
        assert_eq!(
            state.closed.len(),
            3,
            "a new block range starts a new chunk"
        );
        assert_eq!(state.samples_in(0, i64::MAX).len(), 251);
    }

    #[test]
    fn truncation_keeps_only_newer_samples() {
        let mut state = SeriesState::default();
        for idx in 0..300 {
            state.append(idx * 1000, idx as f64, 2 * HOUR);
        }
        state.append(-5, 0.5, 2 * HOUR);
        state.truncate_before(150_500);
        let kept = state.samples_in(i64::MIN, i64::MAX);
        assert_eq!(kept.first(), Some(&(151_000, 151.0)));
        assert_eq!(kept.len(), 149);
        state.truncate_before(i64::MAX);
        assert_eq!(state.time_range(), None);
    }

    #[test]
    fn keys_separate_names_from_values() {
        let key = |labels: &[(&str, &str)]| {
            let mut out = Vec::new();
            encode_key(labels.iter().copied(), &mut out);
            out
        };
        assert_ne!(key(&[("ab", "c")]), key(&[("a", "bc")]));
        assert_ne!(key(&[("a", "b"), ("c", "d")]), key(&[("a", "b\u{ff}c")]));
        assert_eq!(hash_key(&key(&[("a", "b")])), hash_key(&key(&[("a", "b")])));
    }
}
