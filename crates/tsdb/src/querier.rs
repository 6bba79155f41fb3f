//! The read path: series selected by matchers over a time range, merged from the head and
//! every block that overlaps the range, yielded one series at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use model::{Labels, Sample};

use crate::Error;
use crate::block::Block;
use crate::db::Db;
use crate::head::series::{MemSeries, StoredExemplar, merge_sorted};
use crate::matcher::Matcher;

/// Where one series' samples live.
#[derive(Debug, Default)]
struct Sources {
    head: Option<Arc<MemSeries>>,
    blocks: Vec<(Arc<Block>, u64)>,
}

/// One series and its samples in the queried range, sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// A query over `[mint, maxt]` (inclusive, milliseconds).
///
/// The blocks are those of the moment the querier is made; head series are read later,
/// one by one. When a head cut moves samples from the head to new blocks in between,
/// reading notices (the head's truncation count moved) and also reads the series from
/// the blocks installed since, so no sample is in neither place.
#[derive(Debug)]
pub struct Querier<'a> {
    db: &'a Db,
    blocks: Vec<Arc<Block>>,
    truncations: u64,
    mint: i64,
    maxt: i64,
}

impl Db {
    pub fn querier(&self, mint: i64, maxt: i64) -> Querier<'_> {
        let truncations = self.head().truncations();
        let blocks = self
            .blocks_snapshot()
            .into_iter()
            .filter(|block| block.meta().overlaps(mint, maxt))
            .collect();
        Querier {
            db: self,
            blocks,
            truncations,
            mint,
            maxt,
        }
    }
}

impl<'a> Querier<'a> {
    fn resolve(&self, matchers: &[Matcher]) -> BTreeMap<Labels, Sources> {
        let mut by_labels: BTreeMap<Labels, Sources> = BTreeMap::new();
        for block in &self.blocks {
            for idx in block.select(matchers) {
                if block.series_overlaps(idx, self.mint, self.maxt) {
                    by_labels
                        .entry(block.series_labels(idx))
                        .or_default()
                        .blocks
                        .push((Arc::clone(block), idx));
                }
            }
        }
        for series in self.db.head().select(matchers) {
            let in_range = series
                .lock()
                .time_range()
                .is_some_and(|(min, max)| min <= self.maxt && self.mint <= max);
            if in_range {
                let labels = series.labels();
                by_labels.entry(labels).or_default().head = Some(series);
            }
        }
        by_labels
    }

    /// The matching series, sorted by labels; samples are read as each is yielded.
    pub fn select(&self, matchers: &[Matcher]) -> SeriesIter<'_> {
        SeriesIter {
            querier: self,
            pending: self.resolve(matchers).into_iter(),
        }
    }

    /// Label sets of the matching series with data in range, sorted; no sample is read.
    pub fn series_labels(&self, matchers: &[Matcher]) -> Vec<Labels> {
        self.resolve(matchers).into_keys().collect()
    }

    /// Label names of the matching series (every series when `matchers` is empty).
    pub fn label_names(&self, matchers: &[Matcher]) -> Vec<String> {
        let names: BTreeSet<String> = self
            .resolve(matchers)
            .into_keys()
            .flat_map(|labels| {
                labels
                    .iter()
                    .map(|label| label.name.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        names.into_iter().collect()
    }

    /// Values of label `name` among the matching series, sorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher]) -> Vec<String> {
        let values: BTreeSet<String> = self
            .resolve(matchers)
            .into_keys()
            .filter_map(|labels| labels.get(name).map(str::to_owned))
            .collect();
        values.into_iter().collect()
    }

    /// Exemplars of the matching series in range, by series.
    pub fn exemplars(&self, matchers: &[Matcher]) -> Vec<(Labels, Vec<StoredExemplar>)> {
        self.resolve(matchers)
            .into_iter()
            .filter_map(|(labels, sources)| {
                let mut exemplars: Vec<StoredExemplar> = sources
                    .blocks
                    .iter()
                    .flat_map(|(block, idx)| block.series_exemplars(*idx, self.mint, self.maxt))
                    .collect();
                if let Some(series) = &sources.head {
                    let state = series.lock();
                    exemplars.extend(
                        state
                            .exemplars()
                            .filter(|e| self.mint <= e.timestamp_ms && e.timestamp_ms <= self.maxt)
                            .cloned(),
                    );
                }
                exemplars.sort_by_key(|e| e.timestamp_ms);
                exemplars.dedup();
                (!exemplars.is_empty()).then_some((labels, exemplars))
            })
            .collect()
    }

    fn read(&self, labels: &Labels, sources: &Sources) -> Result<Vec<Sample>, Error> {
        // The head first, then newer blocks: on equal timestamps the first source wins.
        let mut merged: Vec<(i64, f64)> = match &sources.head {
            Some(series) => series.lock().samples_in(self.mint, self.maxt),
            None => Vec::new(),
        };
        let mut cut_since: Vec<(Arc<Block>, u64)> = Vec::new();
        if sources.head.is_some() && self.db.head().truncations() != self.truncations {
            cut_since = self
                .db
                .blocks_snapshot()
                .into_iter()
                .filter(|block| {
                    block.meta().overlaps(self.mint, self.maxt)
                        && !self.blocks.iter().any(|known| known.uid() == block.uid())
                })
                .filter_map(|block| block.find_series(labels).map(|idx| (block, idx)))
                .collect();
        }
        let mut blocks: Vec<&(Arc<Block>, u64)> =
            sources.blocks.iter().chain(cut_since.iter()).collect();
        blocks.sort_by(|a, b| b.0.meta().id.cmp(&a.0.meta().id));
        for (block, idx) in blocks {
            let samples = block.series_samples(*idx, self.mint, self.maxt)?;
            merged = if merged.is_empty() {
                samples
            } else {
                merge_sorted(&merged, &samples)
            };
        }
        Ok(merged.into_iter().map(|(t, v)| Sample::new(t, v)).collect())
    }
}

/// Yields [`Series`] in label order.
#[derive(Debug)]
pub struct SeriesIter<'q> {
    querier: &'q Querier<'q>,
    pending: std::collections::btree_map::IntoIter<Labels, Sources>,
}

impl Iterator for SeriesIter<'_> {
    type Item = Result<Series, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (labels, sources) = self.pending.next()?;
            match self.querier.read(&labels, &sources) {
                Ok(samples) if samples.is_empty() => continue,
                Ok(samples) => return Some(Ok(Series { labels, samples })),
                Err(err) => return Some(Err(err)),
            }
        }
    }
}
