//! Aggregation of StatsD events into Prometheus series between flushes.
//!
//! Counters become cumulative `_total` counters, gauges keep their last value (deltas
//! add to it), timers become cumulative Prometheus histograms in seconds named
//! `<name>_seconds`, histograms and distributions histograms of their raw values, and sets
//! a gauge of the distinct members seen since the previous flush. The suffixes follow
//! Prometheus naming and keep one StatsD name sent with several types from colliding
//! (StatsD servers keep each type apart; a Prometheus name has one type). A sample rate weighs the observation (a counter adds
//! `value / rate`, a histogram counts `1 / rate`), so one line is always one update,
//! however small its rate.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use model::Sample;
use model::write::{MetricMetadata, MetricType, WriteBatch};

use super::decode::{Event, Kind, parse_tags};
use super::mapping::{Mapper, MetricClass, escape_name};
use crate::validate::{LabelLimits, check_labels};

/// How many events one sampled event stands for: `1 / rate`, snapped to the nearest
/// integer when it is one up to rounding (so `@0.1` counts exactly 10).
/// Raw keys remembered before the cache starts over.
const RESOLVED_CACHE_MAX: usize = 1 << 17;

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
    /// A timer, histogram or distribution with a tag or mapped label named `le`, which
    /// its bucket series use.
    ReservedLabel,
    /// The value times the sample rate's weight, or the running total, is not finite.
    ValueOverflow,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Dropped => "dropped_by_mapping",
            Refusal::TypeConflict => "type_conflict",
            Refusal::NegativeCounter => "negative_counter",
            Refusal::SeriesLimit => "max_series",
            Refusal::InvalidLabels(reason) => reason,
            Refusal::ReservedLabel => "reserved_label_le",
            Refusal::ValueOverflow => "value_overflow",
        }
    }
}

/// Bucket bounds with their `le` label values, shared by every series that uses them.
#[derive(Debug)]
struct Buckets {
    bounds: Vec<f64>,
    /// One per bound, then `+Inf`.
    le: Vec<Arc<str>>,
}

impl Buckets {
    fn new(bounds: Vec<f64>) -> Arc<Buckets> {
        let le = bounds
            .iter()
            .map(|bound| Arc::from(bound.to_string()))
            .chain(std::iter::once(Arc::from("+Inf")))
            .collect();
        Arc::new(Buckets { bounds, le })
    }
}

#[derive(Debug, Clone)]
enum Value {
    Counter(f64),
    Gauge(f64),
    Histogram {
        buckets: Arc<Buckets>,
        /// Per bucket, not cumulative; the last one is +Inf.
        counts: Vec<f64>,
        sum: f64,
        count: f64,
        /// `<name>_bucket`, `<name>_sum`, `<name>_count`.
        names: Arc<[Arc<str>; 3]>,
    },
    Set(HashSet<String>),
}

#[derive(Debug, Clone)]
struct Series {
    name: Arc<str>,
    /// Sorted by name, without `__name__`.
    labels: Arc<[(String, String)]>,
    value: Value,
}

/// Aggregated state; owned by one lock, fed by the listeners, drained by the flusher.
#[derive(Debug)]
pub struct Aggregator {
    mapper: Mapper,
    config: AggregatorConfig,
    /// Raw `name|type|tags|container` -> series index, or `None` for dropped names.
    resolved: HashMap<String, Option<usize>>,
    /// xxh3-128 of (name, labels) -> series index.
    by_identity: HashMap<u128, usize>,
    default_buckets: Arc<Buckets>,
    rule_buckets: HashMap<Vec<u64>, Arc<Buckets>>,
    series: Vec<Series>,
    kind_of_name: HashMap<String, NameKind>,
    key: String,
    /// Tags without a value, skipped (counted for `/metrics`).
    pub skipped_tags: u64,
}

/// What a Prometheus name holds, for type conflicts (finer than [`MetricClass`]:
/// a set and a gauge of the same name cannot share series).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameKind {
    Counter,
    Gauge,
    Set,
    Histogram,
}

fn name_kind(kind: &Kind<'_>) -> NameKind {
    match kind {
        Kind::Counter => NameKind::Counter,
        Kind::Gauge { .. } => NameKind::Gauge,
        Kind::Set(_) => NameKind::Set,
        Kind::Timer | Kind::Histogram | Kind::Distribution => NameKind::Histogram,
    }
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
            default_buckets: Buckets::new(config.buckets.clone()),
            config,
            resolved: HashMap::new(),
            by_identity: HashMap::new(),
            rule_buckets: HashMap::new(),
            series: Vec::new(),
            kind_of_name: HashMap::new(),
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
        let weight = weight(event.sample_rate);
        if !(event.value * weight).is_finite() {
            return Err(Refusal::ValueOverflow);
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
                // Raw keys come from the network: a flood of distinct spellings of the
                // same series (tag order, dropped names) must not grow this forever.
                if self.resolved.len() >= RESOLVED_CACHE_MAX {
                    self.resolved.clear();
                }
                self.resolved.insert(self.key.clone(), resolved);
                resolved.ok_or(Refusal::Dropped)?
            }
        };
        match (&mut self.series[series_idx].value, event.kind) {
            (Value::Counter(total), _) => {
                let next = *total + event.value * weight;
                if !next.is_finite() {
                    return Err(Refusal::ValueOverflow);
                }
                *total = next;
            }
            (Value::Gauge(value), Kind::Gauge { delta: true }) => *value += event.value,
            (Value::Gauge(value), _) => *value = event.value,
            (
                Value::Histogram {
                    buckets,
                    counts,
                    sum,
                    count,
                    ..
                },
                kind,
            ) => {
                let observed = if kind == Kind::Timer {
                    event.value / 1000.0
                } else {
                    event.value
                };
                let next_sum = *sum + observed * weight;
                if !next_sum.is_finite() || !(*count + weight).is_finite() {
                    return Err(Refusal::ValueOverflow);
                }
                let bucket = buckets.bounds.partition_point(|&bound| bound < observed);
                counts[bucket] += weight;
                *sum = next_sum;
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
        let suffix = match event.kind {
            Kind::Counter => "_total",
            Kind::Timer => "_seconds",
            _ => "",
        };
        if !name.ends_with(suffix) {
            name.push_str(suffix);
        }
        labels.retain(|(_, value)| !value.is_empty());
        labels.sort();
        labels.dedup_by(|a, b| a.0 == b.0);
        if class == MetricClass::Observer && labels.iter().any(|(label, _)| label == "le") {
            return Err(Refusal::ReservedLabel);
        }
        let kind = name_kind(&event.kind);
        // A histogram also owns `<name>_bucket`, `_sum` and `_count`.
        let owned_names: Vec<String> = match kind {
            NameKind::Histogram => ["", "_bucket", "_sum", "_count"]
                .iter()
                .map(|suffix| format!("{name}{suffix}"))
                .collect(),
            _ => vec![name.clone()],
        };
        let conflicts = owned_names.iter().any(|owned| {
            self.kind_of_name
                .get(owned)
                .is_some_and(|existing| *existing != kind)
        });
        if conflicts {
            return Err(Refusal::TypeConflict);
        }
        let identity = identity_hash(&name, &labels);
        if let Some(&idx) = self.by_identity.get(&identity) {
            return Ok(Some(idx));
        }
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
                let buckets = match buckets {
                    None => Arc::clone(&self.default_buckets),
                    Some(bounds) => Arc::clone(
                        self.rule_buckets
                            .entry(bounds.iter().map(|b| b.to_bits()).collect())
                            .or_insert_with(|| Buckets::new(bounds)),
                    ),
                };
                let counts = vec![0.0; buckets.bounds.len() + 1];
                let names = Arc::new(
                    ["_bucket", "_sum", "_count"]
                        .map(|suffix| Arc::from(format!("{name}{suffix}"))),
                );
                Value::Histogram {
                    buckets,
                    counts,
                    sum: 0.0,
                    count: 0.0,
                    names,
                }
            }
        };
        for owned in owned_names {
            self.kind_of_name.insert(owned, kind);
        }
        let idx = self.series.len();
        self.by_identity.insert(identity, idx);
        self.series.push(Series {
            name: Arc::from(name),
            labels: Arc::from(labels),
            value,
        });
        Ok(Some(idx))
    }

    /// Every series' current value at `timestamp_ms`; resets sets. Rows share names and
    /// labels with the aggregator, so a flush copies no strings.
    pub fn flush(&mut self, timestamp_ms: i64) -> Flushed {
        let mut rows = Vec::new();
        let mut metadata = Vec::new();
        let mut seen_families = HashSet::new();
        for series in &mut self.series {
            let row = |name: &Arc<str>, le: Option<&Arc<str>>, value: f64| Row {
                name: Arc::clone(name),
                labels: Arc::clone(&series.labels),
                le: le.cloned(),
                value,
            };
            let metric_type = match &mut series.value {
                Value::Counter(total) => {
                    rows.push(row(&series.name, None, *total));
                    MetricType::Counter
                }
                Value::Gauge(value) => {
                    rows.push(row(&series.name, None, *value));
                    MetricType::Gauge
                }
                Value::Set(members) => {
                    rows.push(row(&series.name, None, members.len() as f64));
                    members.clear();
                    MetricType::Gauge
                }
                Value::Histogram {
                    buckets,
                    counts,
                    sum,
                    count,
                    names,
                } => {
                    let mut cumulative = 0.0;
                    for (bucket_count, le) in counts.iter().zip(&buckets.le) {
                        cumulative += bucket_count;
                        rows.push(row(&names[0], Some(le), cumulative));
                    }
                    rows.push(row(&names[1], None, *sum));
                    rows.push(row(&names[2], None, *count));
                    MetricType::Histogram
                }
            };
            if seen_families.insert(Arc::clone(&series.name)) {
                metadata.push((Arc::clone(&series.name), metric_type));
            }
        }
        Flushed {
            timestamp_ms,
            rows,
            metadata,
        }
    }
}

/// xxh3-128 of a name and its labels, the aggregator's series identity.
fn identity_hash(name: &str, labels: &[(String, String)]) -> u128 {
    let mut bytes = Vec::with_capacity(128);
    bytes.extend_from_slice(name.as_bytes());
    for (label, value) in labels {
        bytes.push(0xff);
        bytes.extend_from_slice(label.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(value.as_bytes());
    }
    xxhash_rust::xxh3::xxh3_128(&bytes)
}

/// One series' value at a flush.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: Arc<str>,
    /// Without `__name__` and `le`.
    pub labels: Arc<[(String, String)]>,
    /// The bucket bound of a histogram `_bucket` row.
    pub le: Option<Arc<str>>,
    pub value: f64,
}

/// What a flush produced, so the write can happen outside the aggregator's lock.
#[derive(Debug, Clone, Default)]
pub struct Flushed {
    pub timestamp_ms: i64,
    pub rows: Vec<Row>,
    pub metadata: Vec<(Arc<str>, MetricType)>,
}

impl Flushed {
    /// The rows in parts of at most `rows` (metadata goes with the first part).
    pub fn chunks(&self, rows: usize) -> impl Iterator<Item = FlushedPart<'_>> {
        self.rows
            .chunks(rows.max(1))
            .enumerate()
            .map(move |(idx, part)| FlushedPart {
                timestamp_ms: self.timestamp_ms,
                rows: part,
                metadata: if idx == 0 { &self.metadata } else { &[] },
            })
    }

    /// All rows as one write batch.
    pub fn batch(&self) -> WriteBatch<'_> {
        FlushedPart {
            timestamp_ms: self.timestamp_ms,
            rows: &self.rows,
            metadata: &self.metadata,
        }
        .batch()
    }
}

/// Part of a flush, written as one batch.
#[derive(Debug, Clone, Copy)]
pub struct FlushedPart<'f> {
    pub timestamp_ms: i64,
    pub rows: &'f [Row],
    pub metadata: &'f [(Arc<str>, MetricType)],
}

impl<'f> FlushedPart<'f> {
    /// A write batch borrowing from the rows.
    pub fn batch(&self) -> WriteBatch<'f> {
        let mut batch = WriteBatch::new();
        for row in self.rows {
            let mut labels: Vec<(&str, &str)> = row
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            labels.push((model::labels::METRIC_NAME, &row.name));
            if let Some(le) = &row.le {
                labels.push(("le", le));
            }
            labels.sort();
            batch.push_series(labels, [Sample::new(self.timestamp_ms, row.value)]);
        }
        for (family, metric_type) in self.metadata {
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
