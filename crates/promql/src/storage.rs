//! Where the engine reads series from: the time-series store, or an in-memory store
//! (for tests and the conformance runner, which also holds native histograms).

use std::collections::BTreeMap;
use std::sync::Arc;

use model::{Labels, Sample};
use tsdb::Matcher;

use crate::Error;
use crate::histogram::FloatHistogram;

/// One series with its samples in the requested range, sorted by time. Stale markers are
/// included: the engine interprets them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredSeries {
    pub labels: Labels,
    pub floats: Vec<Sample>,
    pub histograms: Vec<(i64, Arc<FloatHistogram>)>,
}

/// A source of series for queries.
pub trait Storage: Sync {
    /// Calls `each` for every series matching all `matchers` that has a sample in
    /// `[mint, maxt]`, in label order, with its samples in that range. Series are handed
    /// over one at a time so a query never needs them all in memory at once.
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        each: &mut dyn FnMut(StoredSeries) -> Result<(), Error>,
    ) -> Result<(), Error>;
}

impl Storage for tsdb::Db {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        each: &mut dyn FnMut(StoredSeries) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let querier = self.querier(mint, maxt);
        for series in querier.select(matchers) {
            let series = series.map_err(|err| Error::Storage(err.to_string()))?;
            each(StoredSeries {
                labels: series.labels,
                floats: series.samples,
                histograms: Vec::new(),
            })?;
        }
        Ok(())
    }
}

/// Series held in memory, sorted by labels.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    series: BTreeMap<Labels, StoredSeries>,
}

impl MemStorage {
    pub fn new() -> Self {
        MemStorage::default()
    }

    /// Adds a float sample (kept sorted; a second sample at one timestamp replaces it).
    pub fn add_float(&mut self, labels: &Labels, timestamp_ms: i64, value: f64) {
        let series = self.entry(labels);
        let position = series
            .floats
            .partition_point(|s| s.timestamp_ms < timestamp_ms);
        match series.floats.get_mut(position) {
            Some(existing) if existing.timestamp_ms == timestamp_ms => existing.value = value,
            _ => series
                .floats
                .insert(position, Sample::new(timestamp_ms, value)),
        }
    }

    pub fn add_histogram(&mut self, labels: &Labels, timestamp_ms: i64, histogram: FloatHistogram) {
        let series = self.entry(labels);
        let position = series
            .histograms
            .partition_point(|(t, _)| *t < timestamp_ms);
        let histogram = Arc::new(histogram);
        match series.histograms.get_mut(position) {
            Some(existing) if existing.0 == timestamp_ms => existing.1 = histogram,
            _ => series
                .histograms
                .insert(position, (timestamp_ms, histogram)),
        }
    }

    fn entry(&mut self, labels: &Labels) -> &mut StoredSeries {
        self.series
            .entry(labels.clone())
            .or_insert_with(|| StoredSeries {
                labels: labels.clone(),
                ..StoredSeries::default()
            })
    }

    pub fn clear(&mut self) {
        self.series.clear();
    }
}

impl Storage for MemStorage {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        each: &mut dyn FnMut(StoredSeries) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for (labels, series) in &self.series {
            let matches = matchers
                .iter()
                .all(|matcher| matcher.matches(labels.get(&matcher.name).unwrap_or("")));
            if !matches {
                continue;
            }
            let floats: Vec<Sample> = series
                .floats
                .iter()
                .filter(|s| mint <= s.timestamp_ms && s.timestamp_ms <= maxt)
                .copied()
                .collect();
            let histograms: Vec<(i64, Arc<FloatHistogram>)> = series
                .histograms
                .iter()
                .filter(|(t, _)| mint <= *t && *t <= maxt)
                .cloned()
                .collect();
            if floats.is_empty() && histograms.is_empty() {
                continue;
            }
            each(StoredSeries {
                labels: labels.clone(),
                floats,
                histograms,
            })?;
        }
        Ok(())
    }
}
