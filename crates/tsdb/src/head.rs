//! The head: every series with recent samples, in memory, indexed by label hash, by
//! series ref and by postings.
//!
//! Locking: the series maps are split into stripes, each behind its own `RwLock`, so
//! lookups of existing series (the hot path) take a shared lock on one stripe; each
//! series' samples sit behind the series' own mutex. The postings take a write lock only
//! when a series is created or removed.

pub mod series;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

use model::write::{MetricMetadata, MetricType};
use series::{MemSeries, encode_key, hash_key};

use crate::matcher::Matcher;
use crate::postings::{self, MemPostings};

const STRIPES: usize = 64;

/// The label hash is already a hash: use it as is.
#[derive(Debug, Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type IdentityMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;
/// Label hash -> the series with that hash (more than one only on a collision).
type SeriesByHash = IdentityMap<Vec<Arc<MemSeries>>>;

/// Limits on series creation. Zero means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesLimits {
    pub max_series: usize,
    pub max_series_per_metric: usize,
}

/// Why a series could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeriesLimitError {
    Global { limit: usize },
    PerMetric { metric: String, limit: usize },
}

/// Metadata of a metric family, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}

#[derive(Debug)]
pub(crate) struct Head {
    by_hash: Box<[RwLock<SeriesByHash>]>,
    by_ref: Box<[RwLock<IdentityMap<Arc<MemSeries>>>]>,
    postings: RwLock<MemPostings>,
    next_ref: AtomicU64,
    n_series: AtomicUsize,
    series_per_metric: Mutex<HashMap<String, usize>>,
    limits: SeriesLimits,
    min_time: AtomicI64,
    max_time: AtomicI64,
    metadata: RwLock<HashMap<String, Metadata>>,
    /// Incremented as each truncation starts; readers compare it to notice a head cut.
    truncations: AtomicU64,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn stripe(key: u64) -> usize {
    (key as usize) % STRIPES
}

impl Head {
    pub(crate) fn new(limits: SeriesLimits) -> Self {
        Head {
            by_hash: (0..STRIPES).map(|_| RwLock::default()).collect(),
            by_ref: (0..STRIPES).map(|_| RwLock::default()).collect(),
            postings: RwLock::default(),
            next_ref: AtomicU64::new(1),
            n_series: AtomicUsize::new(0),
            series_per_metric: Mutex::default(),
            limits,
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            metadata: RwLock::default(),
            truncations: AtomicU64::new(0),
        }
    }

    /// How many truncations have started (see [`Head::truncate_before`]).
    pub(crate) fn truncations(&self) -> u64 {
        self.truncations.load(Ordering::SeqCst)
    }

    pub(crate) fn n_series(&self) -> usize {
        self.n_series.load(Ordering::Relaxed)
    }

    /// The series with this key (see [`encode_key`]), if the head has it.
    fn get(&self, hash: u64, key: &[u8]) -> Option<Arc<MemSeries>> {
        read(&self.by_hash[stripe(hash)])
            .get(&hash)
            .and_then(|candidates| candidates.iter().find(|series| series.key_equals(key)))
            .cloned()
    }

    pub(crate) fn get_by_ref(&self, series_ref: u64) -> Option<Arc<MemSeries>> {
        read(&self.by_ref[stripe(series_ref)])
            .get(&series_ref)
            .cloned()
    }

    /// The series with these labels, created (under the limits) if it is new. The bool
    /// says whether it was created. `key_buffer` is scratch space reused across calls.
    pub(crate) fn get_or_create(
        &self,
        labels: &[(&str, &str)],
        key_buffer: &mut Vec<u8>,
    ) -> Result<(Arc<MemSeries>, bool), SeriesLimitError> {
        encode_key(labels.iter().copied(), key_buffer);
        let key = key_buffer.as_slice();
        let hash = hash_key(key);
        if let Some(series) = self.get(hash, key) {
            return Ok((series, false));
        }
        let mut stripe_map = write(&self.by_hash[stripe(hash)]);
        if let Some(series) = stripe_map
            .get(&hash)
            .and_then(|candidates| candidates.iter().find(|series| series.key_equals(key)))
        {
            return Ok((Arc::clone(series), false));
        }
        let metric = labels
            .iter()
            .find(|(name, _)| *name == model::labels::METRIC_NAME)
            .map_or("", |(_, value)| *value);
        // Before touching the map: a refused series must leave no trace.
        self.reserve(metric)?;
        let series_ref = self.next_ref.fetch_add(1, Ordering::Relaxed);
        let series = Arc::new(MemSeries::new(series_ref, key, false));
        stripe_map
            .entry(hash)
            .or_default()
            .push(Arc::clone(&series));
        drop(stripe_map);
        self.index(&series);
        Ok((series, true))
    }

    #[cfg(test)]
    pub(crate) fn get_or_create_for_test(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<(Arc<MemSeries>, bool), SeriesLimitError> {
        self.get_or_create(labels, &mut Vec::new())
    }

    /// Counts a new series against the limits, or refuses it.
    fn reserve(&self, metric: &str) -> Result<(), SeriesLimitError> {
        let limits = self.limits;
        // Check and count under one lock, so concurrent creations cannot overshoot.
        let mut per_metric = self
            .series_per_metric
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if limits.max_series > 0 && self.n_series.load(Ordering::Relaxed) >= limits.max_series {
            return Err(SeriesLimitError::Global {
                limit: limits.max_series,
            });
        }
        let count = per_metric.entry(metric.to_owned()).or_default();
        if limits.max_series_per_metric > 0 && *count >= limits.max_series_per_metric {
            return Err(SeriesLimitError::PerMetric {
                metric: metric.to_owned(),
                limit: limits.max_series_per_metric,
            });
        }
        *count += 1;
        self.n_series.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn index(&self, series: &Arc<MemSeries>) {
        write(&self.by_ref[stripe(series.series_ref)])
            .insert(series.series_ref, Arc::clone(series));
        write(&self.postings).add(series.series_ref, series.label_pairs());
    }

    /// Recreates a series from the WAL with its original ref (already logged).
    pub(crate) fn restore(&self, series_ref: u64, labels: &[(&str, &str)]) -> Arc<MemSeries> {
        if let Some(existing) = self.get_by_ref(series_ref) {
            return existing;
        }
        let mut key = Vec::new();
        encode_key(labels.iter().copied(), &mut key);
        let series = Arc::new(MemSeries::new(series_ref, &key, true));
        write(&self.by_hash[stripe(series.hash)])
            .entry(series.hash)
            .or_default()
            .push(Arc::clone(&series));
        let metric = series.metric_name().to_owned();
        *self
            .series_per_metric
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(metric)
            .or_default() += 1;
        self.n_series.fetch_add(1, Ordering::Relaxed);
        self.index(&series);
        self.next_ref.fetch_max(series_ref + 1, Ordering::Relaxed);
        series
    }

    pub(crate) fn note_time(&self, timestamp: i64) {
        self.min_time.fetch_min(timestamp, Ordering::Relaxed);
        self.max_time.fetch_max(timestamp, Ordering::Relaxed);
    }

    /// `(min, max)` timestamps in the head, if it has any sample.
    pub(crate) fn time_range(&self) -> Option<(i64, i64)> {
        let (min, max) = (
            self.min_time.load(Ordering::Relaxed),
            self.max_time.load(Ordering::Relaxed),
        );
        (min <= max).then_some((min, max))
    }

    /// Series matching every matcher, in ref order.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<Arc<MemSeries>> {
        let refs = postings::select(&*read(&self.postings), matchers);
        refs.into_iter()
            .filter_map(|series_ref| self.get_by_ref(series_ref))
            .collect()
    }

    pub(crate) fn all_series(&self) -> Vec<Arc<MemSeries>> {
        self.by_ref
            .iter()
            .flat_map(|stripe_map| read(stripe_map).values().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// `(label name, values -> series refs)` for cardinality statistics.
    pub(crate) fn with_postings<R>(&self, visit: impl FnOnce(&MemPostings) -> R) -> R {
        visit(&read(&self.postings))
    }

    /// Drops samples before `cut` from every series and removes series left empty.
    /// The caller holds the append gate exclusively, so no append holds a removed series.
    pub(crate) fn truncate_before(&self, cut: i64) -> usize {
        // Before any series loses samples: a reader that then finds samples missing is
        // sure to see the new epoch and look in the blocks installed before this call.
        self.truncations.fetch_add(1, Ordering::SeqCst);
        let mut removed: Vec<Arc<MemSeries>> = Vec::new();
        let mut new_min = i64::MAX;
        for series in self.all_series() {
            let mut state = series.lock();
            state.truncate_before(cut);
            match state.time_range() {
                Some((min, _)) => new_min = new_min.min(min),
                None => removed.push(Arc::clone(&series)),
            }
        }
        for series in &removed {
            let mut stripe_map = write(&self.by_hash[stripe(series.hash)]);
            if let Some(candidates) = stripe_map.get_mut(&series.hash) {
                candidates.retain(|candidate| !Arc::ptr_eq(candidate, series));
                if candidates.is_empty() {
                    stripe_map.remove(&series.hash);
                }
            }
            write(&self.by_ref[stripe(series.series_ref)]).remove(&series.series_ref);
            let metric = series.metric_name();
            let mut per_metric = self
                .series_per_metric
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = per_metric.get_mut(metric) {
                *count -= 1;
                if *count == 0 {
                    per_metric.remove(metric);
                }
            }
        }
        let mut refs: Vec<u64> = removed.iter().map(|series| series.series_ref).collect();
        refs.sort_unstable();
        write(&self.postings).remove(&refs);
        self.n_series.fetch_sub(removed.len(), Ordering::Relaxed);
        self.min_time.store(new_min, Ordering::Relaxed);
        if new_min == i64::MAX {
            self.max_time.store(i64::MIN, Ordering::Relaxed);
        }
        removed.len()
    }

    /// Whether `entry` differs from what is stored (and so must be logged).
    pub(crate) fn metadata_differs(&self, entry: &MetricMetadata<'_>) -> bool {
        read(&self.metadata)
            .get(entry.metric_family)
            .is_none_or(|stored| {
                stored.metric_type != entry.metric_type
                    || stored.help != entry.help
                    || stored.unit != entry.unit
            })
    }

    /// Records metadata; returns whether it changed (and so must be logged).
    pub(crate) fn set_metadata(&self, entry: &MetricMetadata<'_>) -> bool {
        let metadata = Metadata {
            metric_type: entry.metric_type,
            help: entry.help.to_owned(),
            unit: entry.unit.to_owned(),
        };
        if read(&self.metadata).get(entry.metric_family) == Some(&metadata) {
            return false;
        }
        write(&self.metadata).insert(entry.metric_family.to_owned(), metadata);
        true
    }

    pub(crate) fn metadata(&self) -> HashMap<String, Metadata> {
        read(&self.metadata).clone()
    }

    /// Bytes of chunk data held by every series.
    pub(crate) fn chunk_bytes(&self) -> usize {
        self.all_series()
            .iter()
            .map(|series| series.lock().chunk_bytes())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::MatchOp;

    #[test]
    fn series_are_created_once_and_found_by_labels_ref_and_matchers() {
        let head = Head::new(SeriesLimits::default());
        let labels = [("__name__", "up"), ("job", "api")];
        let (first, created) = head.get_or_create_for_test(&labels).expect("create");
        assert!(created);
        let (again, created) = head.get_or_create_for_test(&labels).expect("lookup");
        assert!(!created && Arc::ptr_eq(&first, &again));
        head.get_or_create_for_test(&[("__name__", "up"), ("job", "web")])
            .expect("create");
        assert_eq!(head.n_series(), 2);
        assert!(Arc::ptr_eq(
            &head.get_by_ref(first.series_ref).expect("by ref"),
            &first
        ));
        let matcher = Matcher::new(MatchOp::Regex, "job", "a.*").expect("matcher");
        let selected = head.select(&[matcher]);
        assert_eq!(selected.len(), 1);
        assert_eq!(selected[0].labels().to_string(), r#"up{job="api"}"#);
    }

    #[test]
    fn limits_refuse_new_series_but_not_existing_ones() {
        let head = Head::new(SeriesLimits {
            max_series: 3,
            max_series_per_metric: 2,
        });
        head.get_or_create_for_test(&[("__name__", "a"), ("i", "1")])
            .expect("1");
        head.get_or_create_for_test(&[("__name__", "a"), ("i", "2")])
            .expect("2");
        assert_eq!(
            head.get_or_create_for_test(&[("__name__", "a"), ("i", "3")])
                .map(|_| ()),
            Err(SeriesLimitError::PerMetric {
                metric: "a".into(),
                limit: 2
            })
        );
        head.get_or_create_for_test(&[("__name__", "b")])
            .expect("3");
        assert_eq!(
            head.get_or_create_for_test(&[("__name__", "c")])
                .map(|_| ()),
            Err(SeriesLimitError::Global { limit: 3 })
        );
        head.get_or_create_for_test(&[("__name__", "a"), ("i", "1")])
            .expect("existing");
    }

    #[test]
    fn refused_series_leave_nothing_behind() {
        let head = Head::new(SeriesLimits {
            max_series: 1,
            max_series_per_metric: 0,
        });
        head.get_or_create_for_test(&[("__name__", "a")])
            .expect("first");
        for i in 0..100 {
            let value = i.to_string();
            assert!(
                head.get_or_create_for_test(&[("__name__", "b"), ("i", &value)])
                    .is_err()
            );
        }
        let entries: usize = head
            .by_hash
            .iter()
            .map(|stripe_map| read(stripe_map).len())
            .sum();
        assert_eq!(entries, 1);
    }

    #[test]
    fn truncation_removes_emptied_series_everywhere() {
        let head = Head::new(SeriesLimits::default());
        let (old, _) = head
            .get_or_create_for_test(&[("__name__", "old")])
            .expect("create");
        let (new, _) = head
            .get_or_create_for_test(&[("__name__", "new")])
            .expect("create");
        old.lock().append(1000, 1.0, 7_200_000);
        new.lock().append(5000, 1.0, 7_200_000);
        head.note_time(1000);
        head.note_time(5000);
        assert_eq!(head.truncate_before(2000), 1);
        assert_eq!(head.n_series(), 1);
        assert!(head.get_by_ref(old.series_ref).is_none());
        assert!(head.select(&[Matcher::equal("__name__", "old")]).is_empty());
        assert_eq!(head.time_range(), Some((5000, 5000)));
        // The name can be created again, with a new ref.
        let (recreated, created) = head
            .get_or_create_for_test(&[("__name__", "old")])
            .expect("create");
        assert!(created && recreated.series_ref != old.series_ref);
    }
}
