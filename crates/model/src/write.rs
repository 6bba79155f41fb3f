//! A batch of metric writes, as ingest hands it to the time-series store.
//!
//! Flat and borrowed: every series' labels, samples and exemplars live in shared vectors
//! and each [`SeriesWrite`] names its ranges, so a decoder can fill one batch from a
//! request buffer without allocating per series, and reuse it for the next request.

use std::ops::Range;

use crate::Sample;

/// The type of a metric family, as in Prometheus's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    #[default]
    Unknown,
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
}

impl MetricType {
    /// Numbered as in remote-write's `MetricMetadata.MetricType`.
    pub fn as_u8(self) -> u8 {
        match self {
            MetricType::Unknown => 0,
            MetricType::Counter => 1,
            MetricType::Gauge => 2,
            MetricType::Histogram => 3,
            MetricType::GaugeHistogram => 4,
            MetricType::Summary => 5,
            MetricType::Info => 6,
            MetricType::StateSet => 7,
        }
    }

    /// Unknown numbers read as [`MetricType::Unknown`].
    pub fn from_u8(number: u8) -> MetricType {
        match number {
            1 => MetricType::Counter,
            2 => MetricType::Gauge,
            3 => MetricType::Histogram,
            4 => MetricType::GaugeHistogram,
            5 => MetricType::Summary,
            6 => MetricType::Info,
            7 => MetricType::StateSet,
            _ => MetricType::Unknown,
        }
    }

    /// The name in Prometheus's `/api/v1/metadata` answers.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
        }
    }
}

/// Type, help and unit of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricMetadata<'a> {
    pub metric_family: &'a str,
    pub metric_type: MetricType,
    pub help: &'a str,
    pub unit: &'a str,
}

/// One series of a batch: ranges into the batch's shared vectors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeriesWrite {
    /// Into [`WriteBatch::labels`]: sorted by name, names unique, values non-empty.
    pub labels: Range<usize>,
    /// Into [`WriteBatch::samples`].
    pub samples: Range<usize>,
    /// Into [`WriteBatch::exemplars`].
    pub exemplars: Range<usize>,
    /// Samples the server derived rather than the client sent (a counter's zero at its
    /// start timestamp): stored if they can be, never reported as rejected or written.
    pub best_effort: bool,
}

/// An exemplar: a sample of a trace that contributed to a series' value.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarWrite {
    /// Into [`WriteBatch::exemplar_labels`], e.g. `trace_id`.
    pub labels: Range<usize>,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// Metric writes from one request (or one StatsD flush).
#[derive(Debug, Clone, Default)]
pub struct WriteBatch<'a> {
    pub series: Vec<SeriesWrite>,
    pub labels: Vec<(&'a str, &'a str)>,
    pub samples: Vec<Sample>,
    pub exemplars: Vec<ExemplarWrite>,
    pub exemplar_labels: Vec<(&'a str, &'a str)>,
    pub metadata: Vec<MetricMetadata<'a>>,
}

impl<'a> WriteBatch<'a> {
    pub fn new() -> Self {
        WriteBatch::default()
    }

    /// The labels of series `series_idx`.
    pub fn series_labels(&self, series_idx: usize) -> &[(&'a str, &'a str)] {
        &self.labels[self.series[series_idx].labels.clone()]
    }

    pub fn series_samples(&self, series_idx: usize) -> &[Sample] {
        &self.samples[self.series[series_idx].samples.clone()]
    }

    /// Appends a series with its samples; the caller has sorted and checked the labels.
    pub fn push_series(
        &mut self,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        samples: impl IntoIterator<Item = Sample>,
    ) {
        let labels_start = self.labels.len();
        self.labels.extend(labels);
        let samples_start = self.samples.len();
        self.samples.extend(samples);
        self.series.push(SeriesWrite {
            labels: labels_start..self.labels.len(),
            samples: samples_start..self.samples.len(),
            exemplars: self.exemplars.len()..self.exemplars.len(),
            best_effort: false,
        });
    }

    /// `name{a="b"}` for messages that must name a series.
    pub fn describe_series(&self, series_idx: usize) -> String {
        let labels = self.series_labels(series_idx);
        let mut out = String::new();
        if let Some((_, name)) = labels
            .iter()
            .find(|(label, _)| *label == crate::labels::METRIC_NAME)
        {
            out.push_str(name);
        }
        out.push('{');
        let mut first = true;
        for (name, value) in labels
            .iter()
            .filter(|(label, _)| *label != crate::labels::METRIC_NAME)
        {
            if !first {
                out.push_str(", ");
            }
            first = false;
            out.push_str(name);
            out.push('=');
            out.push_str(&format!("{value:?}"));
        }
        out.push('}');
        out
    }

    pub fn n_samples(&self) -> usize {
        self.samples.len()
    }

    pub fn clear(&mut self) {
        self.series.clear();
        self.labels.clear();
        self.samples.clear();
        self.exemplars.clear();
        self.exemplar_labels.clear();
        self.metadata.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_ranges_and_description() {
        let mut batch = WriteBatch::new();
        batch.push_series([("__name__", "up"), ("job", "api")], [Sample::new(1, 1.0)]);
        batch.push_series(
            [("__name__", "down")],
            [Sample::new(2, 0.0), Sample::new(3, 0.0)],
        );
        assert_eq!(batch.series_labels(1), &[("__name__", "down")]);
        assert_eq!(batch.series_samples(1).len(), 2);
        assert_eq!(batch.describe_series(0), r#"up{job="api"}"#);
        assert_eq!(batch.n_samples(), 3);
    }

    #[test]
    fn metric_type_numbers_round_trip() {
        for number in 0..=8u8 {
            let kind = MetricType::from_u8(number);
            if number <= 7 {
                assert_eq!(kind.as_u8(), number);
            } else {
                assert_eq!(kind, MetricType::Unknown);
            }
        }
    }
}
