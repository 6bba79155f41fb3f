//! The write path: resolve series, admit samples, log to the WAL, apply to the head.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use model::write::WriteBatch;
use model::{Label, Labels};

use super::{Db, read_lock};
use crate::Error;
use crate::head::SeriesLimitError;
use crate::head::series::{Admission, MemSeries, StoredExemplar};
use crate::wal::RECORD_CHUNK;
use crate::wal::record::{self, ExemplarRecord, MetadataRecord, RefSample};
use crate::wal::segment::frame_with;

/// Why samples of a series were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// Older than the out-of-order window behind the series' newest sample.
    TooOld {
        timestamp_ms: i64,
        newest_ms: i64,
    },
    /// Older than the data already cut into blocks.
    OutOfBounds {
        timestamp_ms: i64,
        min_valid_ms: i64,
    },
    /// Further ahead of the server's clock than `tsdb.max_future` allows.
    TooFarInFuture {
        timestamp_ms: i64,
        max_future_ms: i64,
    },
    /// The timestamp is stored with a different value.
    Conflict {
        timestamp_ms: i64,
    },
    SeriesLimit(SeriesLimitError),
    /// Empty label set, an empty name or value, or names not sorted and unique.
    InvalidLabels,
}

impl RejectReason {
    /// Short label value for metrics.
    pub fn as_label(&self) -> &'static str {
        match self {
            RejectReason::TooOld { .. } => "too_old",
            RejectReason::OutOfBounds { .. } => "out_of_bounds",
            RejectReason::TooFarInFuture { .. } => "too_far_in_future",
            RejectReason::Conflict { .. } => "duplicate_timestamp",
            RejectReason::SeriesLimit(SeriesLimitError::Global { .. }) => "max_series",
            RejectReason::SeriesLimit(SeriesLimitError::PerMetric { .. }) => {
                "max_series_per_metric"
            }
            RejectReason::InvalidLabels => "invalid_labels",
        }
    }

    /// Whether the client could succeed by retrying later (a limit), as opposed to
    /// never (bad data).
    pub fn is_limit(&self) -> bool {
        matches!(self, RejectReason::SeriesLimit(_))
    }

    /// Lowercase sentence describing the reason, without the series.
    pub fn describe(&self) -> String {
        match self {
            RejectReason::TooOld {
                timestamp_ms,
                newest_ms,
            } => format!(
                "sample at {timestamp_ms} is too old: the series already has a sample at {newest_ms}, beyond the out-of-order window"
            ),
            RejectReason::OutOfBounds {
                timestamp_ms,
                min_valid_ms,
            } => format!(
                "sample at {timestamp_ms} is older than data already written to blocks ({min_valid_ms})"
            ),
            RejectReason::TooFarInFuture {
                timestamp_ms,
                max_future_ms,
            } => format!(
                "sample at {timestamp_ms} is more than {max_future_ms}ms ahead of the server's clock (check the sender's clock and that timestamps are in milliseconds)"
            ),
            RejectReason::Conflict { timestamp_ms } => {
                format!("a different value is already stored at timestamp {timestamp_ms}")
            }
            RejectReason::SeriesLimit(SeriesLimitError::Global { limit }) => {
                format!("the limit of {limit} active series is reached")
            }
            RejectReason::SeriesLimit(SeriesLimitError::PerMetric { metric, limit }) => {
                format!("the limit of {limit} active series for metric {metric:?} is reached")
            }
            RejectReason::InvalidLabels => {
                "the label set is empty, has an empty name or value, or its names are not sorted and unique".to_owned()
            }
        }
    }
}

/// Samples of one series of the batch that were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRejection {
    /// Index into the batch's series.
    pub series_idx: usize,
    /// The first reason met for this series.
    pub reason: RejectReason,
    pub samples: u64,
}

/// What an append did. Everything not rejected is durable (per the WAL's fsync policy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendReport {
    pub samples_appended: u64,
    /// Samples already stored with the same value (retries); accepted, not stored twice.
    pub samples_duplicate: u64,
    pub exemplars_appended: u64,
    /// Exemplars dropped for invalid labels (over 128 characters, unsorted, duplicate).
    pub exemplars_rejected: u64,
    pub rejected_samples: u64,
    pub rejected: Vec<SeriesRejection>,
}

impl AppendReport {
    fn reject(&mut self, series_idx: usize, reason: RejectReason, samples: u64) {
        self.rejected_samples += samples;
        match self.rejected.last_mut() {
            Some(last) if last.series_idx == series_idx => last.samples += samples,
            _ => self.rejected.push(SeriesRejection {
                series_idx,
                reason,
                samples,
            }),
        }
    }
}

/// Per series of the batch: where its admitted samples are and which locked head series
/// they go to.
struct Admitted {
    series_idx: usize,
    /// Index into the batch's locked series.
    locked: usize,
    samples: std::ops::Range<usize>,
}

/// What this batch already admitted to one head series (a series can appear in several
/// entries of a batch, and a timestamp twice).
#[derive(Default)]
struct BatchSeries {
    /// The newest admitted timestamp and its value bits.
    newest: Option<(i64, u64)>,
    /// Every admitted `(timestamp, bits)`, built only once a sample arrives out of order
    /// within the batch (batches are almost always in order).
    seen: Option<std::collections::BTreeMap<i64, u64>>,
}

/// Most labels an exemplar may carry, counted in characters of names and values (as
/// Prometheus and OpenMetrics limit them).
const MAX_EXEMPLAR_LABEL_CHARS: usize = 128;

fn exemplar_labels_valid(labels: &[(&str, &str)]) -> bool {
    let chars: usize = labels
        .iter()
        .map(|(name, value)| name.chars().count() + value.chars().count())
        .sum();
    chars <= MAX_EXEMPLAR_LABEL_CHARS
        && labels.windows(2).all(|pair| pair[0].0 < pair[1].0)
        && labels.iter().all(|(name, _)| !name.is_empty())
}

fn labels_valid(labels: &[(&str, &str)]) -> bool {
    !labels.is_empty()
        && labels
            .iter()
            .all(|(name, value)| !name.is_empty() && !value.is_empty())
        && labels.windows(2).all(|pair| pair[0].0 < pair[1].0)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

impl Db {
    /// Appends a batch. Returns `Err` only when nothing could be made durable (an I/O
    /// error writing the WAL, or a closed store); refused samples are in the report.
    ///
    /// Every head series the batch touches stays locked (in ref order, so batches cannot
    /// deadlock) from admission through the WAL write to the head apply: what is
    /// admitted is exactly what is logged and stored, even when two batches race on one
    /// timestamp.
    pub fn append(&self, batch: &WriteBatch<'_>) -> Result<AppendReport, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let _shared = read_lock(&self.gate);
        let mut report = AppendReport::default();
        let min_valid = self.min_valid_time.load(Ordering::Acquire);
        let max_valid = match self.options.max_future_ms {
            0 => i64::MAX,
            max_future => now_ms().saturating_add(max_future),
        };
        let ooo_window = self.options.out_of_order_window_ms;
        let mut key_buffer = Vec::with_capacity(256);

        // Resolve (or create) every series first: creation takes index locks, which must
        // not be taken while series are locked.
        let mut resolved: Vec<Option<Arc<MemSeries>>> = Vec::with_capacity(batch.series.len());
        let mut unlogged: Vec<Arc<MemSeries>> = Vec::new();
        for (series_idx, series_write) in batch.series.iter().enumerate() {
            let labels = &batch.labels[series_write.labels.clone()];
            let n_samples = series_write.samples.len() as u64;
            let mut ignored = AppendReport::default();
            // Rejections of derived samples are not the client's problem: not reported.
            let series_report = if series_write.best_effort {
                &mut ignored
            } else {
                &mut report
            };
            if !labels_valid(labels) {
                series_report.reject(series_idx, RejectReason::InvalidLabels, n_samples);
                resolved.push(None);
                continue;
            }
            match self.head.get_or_create(labels, &mut key_buffer) {
                Ok((series, created)) => {
                    if created {
                        self.metrics.series_created.inc();
                    }
                    if !series.is_logged() && !unlogged.iter().any(|s| Arc::ptr_eq(s, &series)) {
                        unlogged.push(Arc::clone(&series));
                    }
                    resolved.push(Some(series));
                }
                Err(limit) => {
                    series_report.reject(series_idx, RejectReason::SeriesLimit(limit), n_samples);
                    resolved.push(None);
                }
            }
        }

        let mut locked_series: Vec<Arc<MemSeries>> = resolved.iter().flatten().cloned().collect();
        locked_series.sort_by_key(|series| series.series_ref);
        locked_series.dedup_by_key(|series| series.series_ref);
        let mut guards: Vec<_> = locked_series.iter().map(|series| series.lock()).collect();
        let locked_index = |series: &MemSeries| {
            locked_series
                .binary_search_by_key(&series.series_ref, |locked| locked.series_ref)
                .unwrap_or_default()
        };
        let mut in_batch: Vec<BatchSeries> = (0..locked_series.len())
            .map(|_| BatchSeries::default())
            .collect();

        let mut admitted: Vec<Admitted> = Vec::with_capacity(batch.series.len());
        let mut samples: Vec<RefSample> = Vec::with_capacity(batch.samples.len());
        let mut best_effort_admitted = 0u64;
        for (series_idx, series_write) in batch.series.iter().enumerate() {
            let Some(series) = &resolved[series_idx] else {
                continue;
            };
            let mut ignored = AppendReport::default();
            let series_report = if series_write.best_effort {
                &mut ignored
            } else {
                &mut report
            };
            let locked = locked_index(series);
            let state = &guards[locked];
            let seen_in_batch = &mut in_batch[locked];
            let start = samples.len();
            for sample in &batch.samples[series_write.samples.clone()] {
                let (t, bits) = (sample.timestamp_ms, sample.value.to_bits());
                if t < min_valid {
                    let reason = RejectReason::OutOfBounds {
                        timestamp_ms: t,
                        min_valid_ms: min_valid,
                    };
                    series_report.reject(series_idx, reason, 1);
                    continue;
                }
                if t > max_valid {
                    let reason = RejectReason::TooFarInFuture {
                        timestamp_ms: t,
                        max_future_ms: self.options.max_future_ms,
                    };
                    series_report.reject(series_idx, reason, 1);
                    continue;
                }
                // Out of order within the batch: from now on look samples up by time.
                if seen_in_batch.seen.is_none()
                    && seen_in_batch.newest.is_some_and(|(newest, _)| t < newest)
                {
                    let so_far = admitted
                        .iter()
                        .filter(|entry| entry.locked == locked)
                        .flat_map(|entry| samples[entry.samples.clone()].iter())
                        .chain(samples[start..].iter())
                        .map(|s| (s.timestamp_ms, s.value.to_bits()))
                        .collect();
                    seen_in_batch.seen = Some(so_far);
                }
                // Already admitted by this batch?
                let batch_bits = match (&seen_in_batch.seen, seen_in_batch.newest) {
                    (Some(seen), _) => seen.get(&t).copied(),
                    (None, Some((newest, newest_bits))) if newest == t => Some(newest_bits),
                    _ => None,
                };
                if let Some(batch_bits) = batch_bits {
                    if batch_bits == bits {
                        series_report.samples_duplicate += 1;
                    } else {
                        let reason = RejectReason::Conflict { timestamp_ms: t };
                        series_report.reject(series_idx, reason, 1);
                    }
                    continue;
                }
                let stored_newest = state.last_timestamp();
                let newest = match (stored_newest, seen_in_batch.newest) {
                    (Some(a), Some((b, _))) => Some(a.max(b)),
                    (a, b) => a.or(b.map(|(t, _)| t)),
                };
                let verdict = state.admit(t, sample.value, newest, ooo_window);
                match verdict {
                    Admission::InOrder | Admission::OutOfOrder => {
                        if let Some(seen) = seen_in_batch.seen.as_mut() {
                            seen.insert(t, bits);
                        }
                        if seen_in_batch.newest.is_none_or(|(newest, _)| t > newest) {
                            seen_in_batch.newest = Some((t, bits));
                        }
                        samples.push(RefSample {
                            series_ref: series.series_ref,
                            timestamp_ms: t,
                            value: sample.value,
                        });
                    }
                    Admission::Duplicate => series_report.samples_duplicate += 1,
                    Admission::Conflict => {
                        let reason = RejectReason::Conflict { timestamp_ms: t };
                        series_report.reject(series_idx, reason, 1);
                    }
                    Admission::TooOld => {
                        let reason = RejectReason::TooOld {
                            timestamp_ms: t,
                            newest_ms: newest.unwrap_or(t),
                        };
                        series_report.reject(series_idx, reason, 1);
                    }
                }
            }
            if series_write.best_effort {
                best_effort_admitted += (samples.len() - start) as u64;
            }
            admitted.push(Admitted {
                series_idx,
                locked,
                samples: start..samples.len(),
            });
        }

        let mut exemplars_rejected = 0u64;
        let exemplars: Vec<ExemplarRecord<'_>> = admitted
            .iter()
            .flat_map(|entry| {
                let series_write = &batch.series[entry.series_idx];
                let series_ref = locked_series[entry.locked].series_ref;
                batch.exemplars[series_write.exemplars.clone()]
                    .iter()
                    .map(move |exemplar| ExemplarRecord {
                        series_ref,
                        timestamp_ms: exemplar.timestamp_ms,
                        value: exemplar.value,
                        labels: batch.exemplar_labels[exemplar.labels.clone()].to_vec(),
                    })
            })
            .filter(|exemplar| {
                let valid = exemplar_labels_valid(&exemplar.labels);
                if !valid {
                    exemplars_rejected += 1;
                }
                valid
            })
            .collect();
        let metadata: Vec<MetadataRecord<'_>> = batch
            .metadata
            .iter()
            .filter(|entry| self.head.metadata_differs(entry))
            .map(|entry| MetadataRecord {
                metric_family: entry.metric_family,
                metric_type: entry.metric_type,
                help: entry.help,
                unit: entry.unit,
            })
            .collect();

        let mut frames = Vec::with_capacity(samples.len() * 12 + unlogged.len() * 128 + 64);
        for chunk in unlogged.chunks(RECORD_CHUNK / 16) {
            frame_with(&mut frames, |out| {
                record::encode_series(
                    out,
                    chunk.iter().map(|series| {
                        let labels: Vec<(&str, &str)> = series.label_pairs().collect();
                        (series.series_ref, labels.into_iter())
                    }),
                );
            });
        }
        for chunk in samples.chunks(RECORD_CHUNK * 16) {
            frame_with(&mut frames, |out| record::encode_samples(out, chunk));
        }
        for chunk in exemplars.chunks(RECORD_CHUNK / 16) {
            frame_with(&mut frames, |out| record::encode_exemplars(out, chunk));
        }
        for chunk in metadata.chunks(RECORD_CHUNK / 16) {
            frame_with(&mut frames, |out| record::encode_metadata(out, chunk));
        }
        self.wal.append(&frames)?;
        for series in &unlogged {
            series.mark_logged();
        }

        let chunk_range = self.options.block_duration_ms;
        let max_exemplars = self.options.max_exemplars_per_series;
        for entry in &admitted {
            let state = &mut guards[entry.locked];
            for sample in &samples[entry.samples.clone()] {
                state.append(sample.timestamp_ms, sample.value, chunk_range);
            }
        }
        for exemplar in &exemplars {
            if let Ok(locked) =
                locked_series.binary_search_by_key(&exemplar.series_ref, |series| series.series_ref)
            {
                let stored = stored_exemplar(exemplar);
                if guards[locked].add_exemplar(stored, max_exemplars) {
                    report.exemplars_appended += 1;
                }
            }
        }
        drop(guards);
        // Once per batch: these atomics are shared by every writer.
        let times = samples.iter().map(|sample| sample.timestamp_ms);
        if let (Some(oldest), Some(newest)) = (times.clone().min(), times.max()) {
            self.head.note_time(oldest);
            self.head.note_time(newest);
        }
        for entry in &metadata {
            self.head.set_metadata(&model::write::MetricMetadata {
                metric_family: entry.metric_family,
                metric_type: entry.metric_type,
                help: entry.help,
                unit: entry.unit,
            });
        }
        self.metrics.samples_appended.inc_by(samples.len() as u64);
        report.samples_appended = samples.len() as u64 - best_effort_admitted;
        report.exemplars_rejected = exemplars_rejected;
        self.metrics
            .exemplars_appended
            .inc_by(report.exemplars_appended);
        for rejection in &report.rejected {
            self.metrics
                .samples_rejected
                .with_label_values(&[rejection.reason.as_label()])
                .inc_by(rejection.samples);
        }
        Ok(report)
    }
}

pub(crate) fn stored_exemplar(exemplar: &ExemplarRecord<'_>) -> StoredExemplar {
    let labels = exemplar
        .labels
        .iter()
        .map(|&(name, value)| Label::new(name, value))
        .collect();
    StoredExemplar {
        timestamp_ms: exemplar.timestamp_ms,
        value: exemplar.value,
        labels: Labels::from_sorted(labels).unwrap_or_else(|_| {
            Labels::from_pairs(exemplar.labels.iter().copied()).unwrap_or_default()
        }),
    }
}
