//! The write path: resolve series, admit samples, log to the WAL, apply to the head.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use model::write::WriteBatch;
use model::{Label, Labels};

use super::{Db, read_lock};
use crate::Error;
use crate::head::SeriesLimitError;
use crate::head::series::{Admission, MemSeries, StoredExemplar};
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
    /// The timestamp is stored with a different value.
    Conflict {
        timestamp_ms: i64,
    },
    SeriesLimit(SeriesLimitError),
    /// Empty label set, or a label with an empty value (ingest must drop those).
    InvalidLabels,
}

impl RejectReason {
    /// Short label value for metrics.
    pub fn as_label(&self) -> &'static str {
        match self {
            RejectReason::TooOld { .. } => "too_old",
            RejectReason::OutOfBounds { .. } => "out_of_bounds",
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
                "the label set is empty or has an empty value".to_owned()
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

/// Per series of the batch: the head series and its admitted samples.
struct Admitted {
    series_idx: usize,
    series: Arc<MemSeries>,
    samples: std::ops::Range<usize>,
}

impl Db {
    /// Appends a batch. Returns `Err` only when nothing could be made durable (an I/O
    /// error writing the WAL, or a closed store); refused samples are in the report.
    pub fn append(&self, batch: &WriteBatch<'_>) -> Result<AppendReport, Error> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let _shared = read_lock(&self.gate);
        let mut report = AppendReport::default();
        let mut admitted: Vec<Admitted> = Vec::with_capacity(batch.series.len());
        let mut unlogged: Vec<Arc<MemSeries>> = Vec::new();
        let mut samples: Vec<RefSample> = Vec::with_capacity(batch.samples.len());
        let min_valid = self.min_valid_time.load(Ordering::Acquire);
        let ooo_window = self.options.out_of_order_window_ms;
        let mut best_effort_admitted = 0u64;
        let mut key_buffer = Vec::with_capacity(256);

        for (series_idx, series_write) in batch.series.iter().enumerate() {
            let labels = &batch.labels[series_write.labels.clone()];
            let batch_samples = &batch.samples[series_write.samples.clone()];
            // Rejections of derived samples are not the client's problem: not reported.
            let mut report_for_series = AppendReport::default();
            let series_report = if series_write.best_effort {
                &mut report_for_series
            } else {
                &mut report
            };
            if labels.is_empty() || labels.iter().any(|(_, value)| value.is_empty()) {
                report.reject(
                    series_idx,
                    RejectReason::InvalidLabels,
                    batch_samples.len() as u64,
                );
                continue;
            }
            let series = match self.head.get_or_create(labels, &mut key_buffer) {
                Ok((series, created)) => {
                    if created {
                        self.metrics.series_created.inc();
                    }
                    series
                }
                Err(limit) => {
                    report.reject(
                        series_idx,
                        RejectReason::SeriesLimit(limit),
                        batch_samples.len() as u64,
                    );
                    continue;
                }
            };
            if !series.is_logged() {
                unlogged.push(Arc::clone(&series));
            }
            let start = samples.len();
            {
                let state = series.lock();
                let mut newest = state.last_timestamp();
                for sample in batch_samples {
                    if sample.timestamp_ms < min_valid {
                        let reason = RejectReason::OutOfBounds {
                            timestamp_ms: sample.timestamp_ms,
                            min_valid_ms: min_valid,
                        };
                        series_report.reject(series_idx, reason, 1);
                        continue;
                    }
                    match state.admit(sample.timestamp_ms, sample.value, newest, ooo_window) {
                        Admission::InOrder => {
                            newest = Some(sample.timestamp_ms);
                            samples.push(RefSample {
                                series_ref: series.series_ref,
                                timestamp_ms: sample.timestamp_ms,
                                value: sample.value,
                            });
                        }
                        Admission::OutOfOrder => samples.push(RefSample {
                            series_ref: series.series_ref,
                            timestamp_ms: sample.timestamp_ms,
                            value: sample.value,
                        }),
                        Admission::Duplicate => series_report.samples_duplicate += 1,
                        Admission::Conflict => {
                            let reason = RejectReason::Conflict {
                                timestamp_ms: sample.timestamp_ms,
                            };
                            series_report.reject(series_idx, reason, 1);
                        }
                        Admission::TooOld => {
                            let reason = RejectReason::TooOld {
                                timestamp_ms: sample.timestamp_ms,
                                newest_ms: newest.unwrap_or(sample.timestamp_ms),
                            };
                            series_report.reject(series_idx, reason, 1);
                        }
                    }
                }
            }
            if series_write.best_effort {
                best_effort_admitted += (samples.len() - start) as u64;
            }
            admitted.push(Admitted {
                series_idx,
                series,
                samples: start..samples.len(),
            });
        }

        let exemplars: Vec<ExemplarRecord<'_>> = admitted
            .iter()
            .flat_map(|entry| {
                let series_write = &batch.series[entry.series_idx];
                batch.exemplars[series_write.exemplars.clone()]
                    .iter()
                    .map(move |exemplar| ExemplarRecord {
                        series_ref: entry.series.series_ref,
                        timestamp_ms: exemplar.timestamp_ms,
                        value: exemplar.value,
                        labels: batch.exemplar_labels[exemplar.labels.clone()].to_vec(),
                    })
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
        if !unlogged.is_empty() {
            frame_with(&mut frames, |out| {
                record::encode_series(
                    out,
                    unlogged.iter().map(|series| {
                        let labels: Vec<(&str, &str)> = series.label_pairs().collect();
                        (series.series_ref, labels.into_iter())
                    }),
                );
            });
        }
        if !samples.is_empty() {
            frame_with(&mut frames, |out| record::encode_samples(out, &samples));
        }
        if !exemplars.is_empty() {
            frame_with(&mut frames, |out| record::encode_exemplars(out, &exemplars));
        }
        if !metadata.is_empty() {
            frame_with(&mut frames, |out| record::encode_metadata(out, &metadata));
        }
        self.wal.append(&frames)?;
        for series in &unlogged {
            series.mark_logged();
        }

        let chunk_range = self.options.block_duration_ms;
        let max_exemplars = self.options.max_exemplars_per_series;
        for entry in &admitted {
            let mut state = entry.series.lock();
            for sample in &samples[entry.samples.clone()] {
                state.append(sample.timestamp_ms, sample.value, chunk_range);
            }
        }
        // Once per batch: these atomics are shared by every writer.
        let times = samples.iter().map(|sample| sample.timestamp_ms);
        if let (Some(oldest), Some(newest)) = (times.clone().min(), times.max()) {
            self.head.note_time(oldest);
            self.head.note_time(newest);
        }
        for exemplar in &exemplars {
            if let Some(series) = self.head.get_by_ref(exemplar.series_ref) {
                let stored = stored_exemplar(exemplar);
                if series.lock().add_exemplar(stored, max_exemplars) {
                    report.exemplars_appended += 1;
                }
            }
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
