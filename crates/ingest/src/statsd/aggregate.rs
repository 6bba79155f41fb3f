//! Aggregation of StatsD events into Prometheus series between flushes.
//!
//! Counters become cumulative `_total` counters, gauges keep their last value (deltas
//! add to it), timers, histograms and distributions become cumulative Prometheus
//! histograms (timers in seconds), and sets become a gauge of the distinct members seen
//! since the previous flush. A sample rate weighs the observation (a counter adds
//! `value / rate`, a histogram counts `1 / rate`), so one line is always one update,
//! however small its rate.

use std::collections::{HashMap, HashSet};

use model::Sample;
use model::write::{MetricMetadata, MetricType, WriteBatch};

use super::decode::{Event, Kind, parse_tags};
use super::mapping::{Mapper, MetricClass, escape_name};
use crate::validate::{LabelLimits, check_labels};

/// How many events one sampled event stands for: `1 / rate`, snapped to the nearest
/// integer when it is one up to rounding (so `@0.1` counts exactly 10).
fn weight(sample_rate: f64) -> f64 {
    let weight = 1.0 / sample_rate;
    let nearest = weight.round();
    if (weight - nearest).abs() <= weight * 1e-9 {
        nearest
    } else {
        weight
    }
}

/// Prometheus's default buckets, in seconds.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone)]
pub struct AggregatorConfig {
    pub buckets: Vec<f64>,
    /// Most series kept; events of new series beyond it are refused. 0 means unlimited.
    pub max_series: usize,
    pub label_limits: LabelLimits,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            buckets: DEFAULT_BUCKETS.to_vec(),
            max_series: 100_000,
            label_limits: LabelLimits::default(),
        }
    }
}

/// Why an event was not aggregated (the `reason` label of reject counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A mapping rule said to drop it; not an error, but not stored either.
    Dropped,
    /// The name is already used by a metric of another type.
    TypeConflict,
    /// A counter cannot go down.
    NegativeCounter,
    /// The series limit is reached.
    SeriesLimit,
    /// The resulting label set breaks a label rule.
    InvalidLabels(&'static str),
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Dropped => "dropped_by_mapping",
            Refusal::TypeConflict => "type_conflict",
            Refusal::NegativeCounter => "negative_counter",
            Refusal::SeriesLimit => "max_series",
            Refusal::InvalidLabels(reason) => reason,
        }
    }
}

#[derive(Debug, Clone)]
enum Value {
    Counter(f64),
    Gauge(f64),
    Histogram {
        bounds: Vec<f64>,
        /// Per bucket, not cumulative; the last one is +Inf.
        counts: Vec<f64>,
        sum: f64,
        count: f64,
    },
    Set(HashSet<String>),
}

#[derive(Debug, Clone)]
struct Series {
    name: String,
    /// Sorted by name, without `__name__`.
    labels: Vec<(String, String)>,
    value: Value,
}

/// Aggregated state; owned by one lock, fed by the listeners, drained by the flusher.
#[derive(Debug)]
pub struct Aggregator {
    mapper: Mapper,
    config: AggregatorConfig,
    /// Raw `name|type|tags|container` -> series index, or `None` for dropped names.
    resolved: HashMap<String, Option<usize>>,
    by_identity: HashMap<(String, Vec<(String, String)>), usize>,
    series: Vec<Series>,
    class_of_name: HashMap<String, MetricClass>,
    key: String,
    /// Tags without a value, skipped (counted for `/metrics`).
    pub skipped_tags: u64,
}

fn class_of(kind: &Kind<'_>) -> MetricClass {
    match kind {
        Kind::Counter => MetricClass::Counter,
        Kind::Gauge { .. } | Kind::Set(_) => MetricClass::Gauge,
        Kind::Timer | Kind::Histogram | Kind::Distribution => MetricClass::Observer,
    }
}

impl Aggregator {
    pub fn new(mapper: Mapper, config: AggregatorConfig) -> Self {
        Aggregator {
            mapper,
            config,
            resolved: HashMap::new(),
            by_identity: HashMap::new(),
            series: Vec::new(),
            class_of_name: HashMap::new(),
            key: String::new(),
            skipped_tags: 0,
        }
    }

    pub fn n_series(&self) -> usize {
        self.series.len()
    }

    /// Applies one event.
    pub fn add(&mut self, event: &Event<'_>) -> Result<(), Refusal> {
        if matches!(event.kind, Kind::Counter) && event.value < 0.0 {
            return Err(Refusal::NegativeCounter);
        }
        self.key.clear();
        for part in [
            event.name,
            "|",
            event.kind.code(),
            "|",
            event.tags_raw,
            "|",
            event.container_id.unwrap_or(""),
        ] {
            self.key.push_str(part);
        }
        let series_idx = match self.resolved.get(self.key.as_str()) {
            Some(Some(idx)) => *idx,
            Some(None) => return Err(Refusal::Dropped),
            None => {
                let resolved = self.resolve(event)?;
                self.resolved.insert(self.key.clone(), resolved);
                resolved.ok_or(Refusal::Dropped)?
            }
        };
        let weight = weight(event.sample_rate);
        match (&mut self.series[series_idx].value, event.kind) {
            (Value::Counter(total), _) => *total += event.value * weight,
            (Value::Gauge(value), Kind::Gauge { delta: true }) => *value += event.value,
            (Value::Gauge(value), _) => *value = event.value,
            (
                Value::Histogram {
                    bounds,
                    counts,
                    sum,
                    count,
                },
                kind,
            ) => {
                let observed = if kind == Kind::Timer {
                    event.value / 1000.0
                } else {
                    event.value
                };
                let bucket = bounds.partition_point(|&bound| bound < observed);
                counts[bucket] += weight;
                *sum += observed * weight;
                *count += weight;
            }
            (Value::Set(members), Kind::Set(member)) => {
                if !members.contains(member) {
                    members.insert(member.to_owned());
                }
            }
            (Value::Set(_), _) => return Err(Refusal::TypeConflict),
        }
        Ok(())
    }

    /// Finds or creates the series for a not yet seen raw key; `None` means dropped.
    fn resolve(&mut self, event: &Event<'_>) -> Result<Option<usize>, Refusal> {
        let class = class_of(&event.kind);
        let (tags, skipped) = parse_tags(event.tags_raw);
        self.skipped_tags += skipped as u64;
        let mut labels: Vec<(String, String)> = tags
            .iter()
            .map(|(k, v)| (escape_name(k), (*v).to_owned()))
            .collect();
        if let Some(container) = event.container_id.filter(|c| !c.is_empty()) {
            labels.push(("container_id".to_owned(), container.to_owned()));
        }
        let (mut name, buckets) = match self.mapper.map(event.name, class) {
            Some(mapped) if mapped.drop => return Ok(None),
            Some(mapped) => {
                // Mapping labels win over tags.
                labels.retain(|(label, _)| {
                    !mapped
                        .labels
                        .iter()
                        .any(|(mapped_label, _)| mapped_label == label)
                });
                labels.extend(mapped.labels);
                (
                    escape_name(&mapped.name),
                    mapped.buckets.map(<[f64]>::to_vec),
                )
            }
            None => (escape_name(event.name), None),
        };
        if class == MetricClass::Counter && !name.ends_with("_total") {
            name.push_str("_total");
        }
        labels.retain(|(_, value)| !value.is_empty());
        labels.sort();
        labels.dedup_by(|a, b| a.0 == b.0);
        match self.class_of_name.get(&name) {
            Some(existing) if *existing != class => return Err(Refusal::TypeConflict),
            _ => {}
        }
        let identity = (name, labels);
        if let Some(&idx) = self.by_identity.get(&identity) {
            return Ok(Some(idx));
        }
        let (name, labels) = identity;
        if self.config.max_series > 0 && self.series.len() >= self.config.max_series {
            return Err(Refusal::SeriesLimit);
        }
        let mut full: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        full.push((model::labels::METRIC_NAME, name.as_str()));
        full.sort();
        check_labels(&full, &self.config.label_limits)
            .map_err(|problem| Refusal::InvalidLabels(problem.reason()))?;
        let value = match (class, event.kind) {
            (MetricClass::Counter, _) => Value::Counter(0.0),
            (_, Kind::Set(_)) => Value::Set(HashSet::new()),
            (MetricClass::Gauge, _) => Value::Gauge(0.0),
            (MetricClass::Observer, _) => {
                let bounds = buckets.unwrap_or_else(|| self.config.buckets.clone());
                let counts = vec![0.0; bounds.len() + 1];
                Value::Histogram {
                    bounds,
                    counts,
                    sum: 0.0,
                    count: 0.0,
                }
            }
        };
        self.class_of_name.insert(name.clone(), class);
        let idx = self.series.len();
        self.by_identity.insert((name.clone(), labels.clone()), idx);
        self.series.push(Series {
            name,
            labels,
            value,
        });
        Ok(Some(idx))
    }

    /// Every series' current value at `timestamp_ms`, as owned rows; resets sets.
    pub fn flush(&mut self, timestamp_ms: i64) -> Flushed {
        let mut rows = Vec::new();
        let mut metadata = Vec::new();
        let mut seen_families = HashSet::new();
        for series in &mut self.series {
            let with = |extra: Option<(&str, String)>| -> Vec<(String, String)> {
                let mut labels = series.labels.clone();
                if let Some((name, value)) = extra {
                    labels.push((name.to_owned(), value));
                    labels.sort();
                }
                labels
            };
            let metric_type = match &mut series.value {
                Value::Counter(total) => {
                    rows.push(Row {
                        name: series.name.clone(),
                        labels: with(None),
                        value: *total,
                    });
                    MetricType::Counter
                }
                Value::Gauge(value) => {
                    rows.push(Row {
                        name: series.name.clone(),
                        labels: with(None),
                        value: *value,
                    });
                    MetricType::Gauge
                }
                Value::Set(members) => {
                    rows.push(Row {
                        name: series.name.clone(),
                        labels: with(None),
                        value: members.len() as f64,
                    });
                    members.clear();
                    MetricType::Gauge
                }
                Value::Histogram {
                    bounds,
                    counts,
                    sum,
                    count,
                } => {
                    let mut cumulative = 0.0;
                    for (idx, bucket_count) in counts.iter().enumerate() {
                        cumulative += bucket_count;
                        let le = bounds
                            .get(idx)
                            .map_or_else(|| "+Inf".to_owned(), |bound| bound.to_string());
                        rows.push(Row {
                            name: format!("{}_bucket", series.name),
                            labels: with(Some(("le", le))),
                            value: cumulative,
                        });
                    }
                    rows.push(Row {
                        name: format!("{}_sum", series.name),
                        labels: with(None),
                        value: *sum,
                    });
                    rows.push(Row {
                        name: format!("{}_count", series.name),
                        labels: with(None),
                        value: *count,
                    });
                    MetricType::Histogram
                }
            };
            if seen_families.insert(series.name.clone()) {
                metadata.push((series.name.clone(), metric_type));
            }
        }
        Flushed {
            timestamp_ms,
            rows,
            metadata,
        }
    }
}

/// One series' value at a flush.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// What a flush produced, owned so the write can happen outside the aggregator's lock.
#[derive(Debug, Clone, Default)]
pub struct Flushed {
    pub timestamp_ms: i64,
    pub rows: Vec<Row>,
    pub metadata: Vec<(String, MetricType)>,
}

impl Flushed {
    /// A write batch borrowing from the rows.
    pub fn batch(&self) -> WriteBatch<'_> {
        let mut batch = WriteBatch::new();
        for row in &self.rows {
            let mut labels: Vec<(&str, &str)> = row
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            labels.push((model::labels::METRIC_NAME, row.name.as_str()));
            labels.sort();
            batch.push_series(labels, [Sample::new(self.timestamp_ms, row.value)]);
        }
        for (family, metric_type) in &self.metadata {
            batch.metadata.push(MetricMetadata {
                metric_family: family,
                metric_type: *metric_type,
                help: "Aggregated from StatsD.",
                unit: "",
            });
        }
        batch
    }
}

#[cfg(test)]
mod tests;
