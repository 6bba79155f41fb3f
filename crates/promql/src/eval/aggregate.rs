//! Aggregation operators: `sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`,
//! `stdvar`, `quantile`, `topk`, `bottomk`, `limitk`, `limit_ratio`, `count_values`,
//! with `by` and `without`. Series are grouped once; each step then folds the points
//! present at it into per-group accumulators, as Prometheus does (Kahan-compensated sums,
//! a mean that switches to incremental form before it would overflow, Welford variance).

use std::collections::HashMap;
use std::sync::Arc;

use model::{Label, Labels};
use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMIT_RATIO, T_LIMITK, T_MAX, T_MIN,
    T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK, TokenId,
};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::{Evaluator, Grid, kahan_inc, unwrap_parens};
use crate::Error;
use crate::histogram::{CounterResetHint, FloatHistogram};
use crate::value::{Point, StepSeries, Value};

fn op_name(op: TokenId) -> &'static str {
    match op {
        T_SUM => "sum",
        T_AVG => "avg",
        T_COUNT => "count",
        T_MIN => "min",
        T_MAX => "max",
        T_GROUP => "group",
        T_STDDEV => "stddev",
        T_STDVAR => "stdvar",
        T_QUANTILE => "quantile",
        T_TOPK => "topk",
        T_BOTTOMK => "bottomk",
        T_LIMITK => "limitk",
        T_LIMIT_RATIO => "limit_ratio",
        T_COUNT_VALUES => "count_values",
        _ => "aggregation",
    }
}

/// `by (...)`, `without (...)`, or neither.
struct Grouping<'e> {
    without: bool,
    labels: Vec<&'e str>,
}

impl<'e> Grouping<'e> {
    fn of(expr: &'e AggregateExpr) -> Self {
        match &expr.modifier {
            Some(LabelModifier::Include(labels)) => Grouping {
                without: false,
                labels: labels.labels.iter().map(String::as_str).collect(),
            },
            Some(LabelModifier::Exclude(labels)) => Grouping {
                without: true,
                labels: labels.labels.iter().map(String::as_str).collect(),
            },
            None => Grouping {
                without: false,
                labels: Vec::new(),
            },
        }
    }

    fn keeps(&self, name: &str) -> bool {
        if self.without {
            name != model::labels::METRIC_NAME && !self.labels.contains(&name)
        } else {
            self.labels.contains(&name)
        }
    }

    /// The group's labels: `by` keeps the listed labels; `without` drops them and the
    /// metric name.
    fn group_labels(&self, labels: &Labels) -> Labels {
        let kept: Vec<Label> = labels
            .iter()
            .filter(|label| self.keeps(&label.name))
            .cloned()
            .collect();
        Labels::from_sorted(kept).unwrap_or_default()
    }
}

/// Assigns every series a group; returns the groups' labels in order of first
/// appearance.
fn group_series(grouping: &Grouping<'_>, series: &[StepSeries]) -> (Vec<usize>, Vec<Labels>) {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups = Vec::new();
    let assignment = series
        .iter()
        .map(|s| {
            let labels = grouping.group_labels(&s.labels);
            *index.entry(labels.clone()).or_insert_with(|| {
                groups.push(labels);
                groups.len() - 1
            })
        })
        .collect();
    (assignment, groups)
}

/// One group's state at one step.
#[derive(Debug, Clone, Default)]
struct Accumulator {
    seen: bool,
    value: f64,
    mean: f64,
    compensation: f64,
    count: f64,
    incremental_mean: bool,
    histogram: Option<FloatHistogram>,
    has_float: bool,
    has_histogram: bool,
    incompatible: bool,
    reset_seen: bool,
    not_reset_seen: bool,
    values: Vec<f64>,
    drop_name: bool,
}

impl Accumulator {
    fn reset(&mut self) {
        let mut values = std::mem::take(&mut self.values);
        values.clear();
        *self = Accumulator {
            values,
            ..Accumulator::default()
        };
    }

    fn note_hint(&mut self, h: &FloatHistogram) {
        match h.counter_reset_hint {
            CounterResetHint::CounterReset => self.reset_seen = true,
            CounterResetHint::NotCounterReset => self.not_reset_seen = true,
            _ => {}
        }
    }
}

/// Prometheus's `quantile`: linear interpolation between the closest ranks.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN sorts first, as Prometheus's value heap orders it.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Largest float that converts to an i64 without overflow, as Prometheus checks it.
const MAX_INT64: f64 = 9_223_372_036_854_774_784.0;
const MIN_INT64: f64 = -9_223_372_036_854_775_808.0;

impl Evaluator<'_> {
    pub(crate) fn eval_aggregate(
        &mut self,
        expr: &AggregateExpr,
        grid: Grid,
    ) -> Result<Value, Error> {
        let op = expr.op.id();
        if op == T_COUNT_VALUES {
            return self.count_values(expr, grid);
        }
        let params = match &expr.param {
            Some(param)
                if matches!(
                    op,
                    T_TOPK | T_BOTTOMK | T_QUANTILE | T_LIMITK | T_LIMIT_RATIO
                ) =>
            {
                Some(self.eval_scalar(unwrap_parens(param), grid)?)
            }
            _ => None,
        };
        let input = self.eval_vector(&expr.expr, grid)?;
        let input_weight: usize = input.iter().map(StepSeries::weight).sum();
        let grouping = Grouping::of(expr);
        let result = match op {
            T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO => {
                let params = params.unwrap_or_default();
                self.aggregate_k(op, &grouping, input, &params, grid)?
            }
            _ => self.aggregate(op, &grouping, &input, params.as_deref(), grid)?,
        };
        self.budget.release(input_weight);
        let weight = result.iter().map(StepSeries::weight).sum();
        self.budget.take(weight)?;
        Ok(Value::Vector(result))
    }

    fn aggregate(
        &mut self,
        op: TokenId,
        grouping: &Grouping<'_>,
        input: &[StepSeries],
        params: Option<&[f64]>,
        grid: Grid,
    ) -> Result<Vec<StepSeries>, Error> {
        let name = op_name(op);
        if op == T_QUANTILE
            && let Some(qs) = params
        {
            for q in qs {
                if q.is_nan() || *q < 0.0 || *q > 1.0 {
                    self.annotations
                        .warn(format!("quantile value should be between 0 and 1, got {q}"));
                    break;
                }
            }
        }
        let (assignment, group_labels) = group_series(grouping, input);
        let steps = grid.len();
        let mut output: Vec<StepSeries> = group_labels
            .into_iter()
            .map(|labels| StepSeries {
                labels: Arc::new(labels),
                drop_name: false,
                points: vec![Point::Absent; steps],
            })
            .collect();
        let mut accumulators = vec![Accumulator::default(); output.len()];
        for step in 0..steps {
            if step % 64 == 0 {
                self.budget.check()?;
            }
            accumulators.iter_mut().for_each(Accumulator::reset);
            for (series, &group) in input.iter().zip(&assignment) {
                let point = &series.points[step];
                if !point.is_present() {
                    continue;
                }
                let acc = &mut accumulators[group];
                self.accumulate(op, name, acc, point, series.drop_name);
            }
            for (group, acc) in accumulators.iter_mut().enumerate() {
                if !acc.seen {
                    continue;
                }
                let q = params.map_or(f64::NAN, |qs| qs[step]);
                if let Some(point) = self.finish(op, acc, q) {
                    output[group].points[step] = point;
                    output[group].drop_name |= acc.drop_name;
                }
            }
        }
        output.retain(|s| !s.is_empty());
        Ok(output)
    }

    fn accumulate(
        &mut self,
        op: TokenId,
        name: &str,
        acc: &mut Accumulator,
        point: &Point,
        drop_name: bool,
    ) {
        let (f, h) = match point {
            Point::F(f) => (*f, None),
            Point::H(h) => (0.0, Some(&**h)),
            Point::Absent => return,
        };
        if !acc.seen {
            acc.seen = true;
            acc.value = f;
            acc.mean = f;
            acc.count = 1.0;
            acc.drop_name = drop_name;
            match op {
                T_SUM | T_AVG => match h {
                    None => acc.has_float = true,
                    Some(h) => {
                        acc.note_hint(h);
                        acc.histogram = Some(h.clone());
                        acc.has_histogram = true;
                    }
                },
                T_STDDEV | T_STDVAR => match h {
                    Some(_) => {
                        acc.seen = false;
                        self.annotations
                            .info(format!("ignored histogram in {name} aggregation"));
                    }
                    None if f.is_nan() || f.is_infinite() => acc.value = f64::NAN,
                    None => acc.value = 0.0,
                },
                T_QUANTILE => match h {
                    Some(_) => {
                        acc.seen = false;
                        self.annotations
                            .info(format!("ignored histogram in {name} aggregation"));
                    }
                    None => acc.values.push(f),
                },
                T_GROUP => acc.value = 1.0,
                T_MIN | T_MAX if h.is_some() => {
                    acc.seen = false;
                    self.annotations
                        .info(format!("ignored histogram in {name} aggregation"));
                }
                _ => {}
            }
            return;
        }
        if acc.incompatible {
            return;
        }
        acc.drop_name |= drop_name;
        match op {
            T_SUM => match h {
                Some(h) => {
                    acc.has_histogram = true;
                    acc.note_hint(h);
                    if let Some(sum) = acc.histogram.as_mut()
                        && sum.add(h).is_err()
                    {
                        acc.incompatible = true;
                        self.annotations.warn(format!(
                            "vector contains a mix of histograms with exponential and custom buckets schemas in {name} aggregation"
                        ));
                    }
                }
                None => {
                    acc.has_float = true;
                    (acc.value, acc.compensation) = kahan_inc(f, acc.value, acc.compensation);
                }
            },
            T_AVG => {
                acc.count += 1.0;
                match h {
                    Some(h) => {
                        acc.has_histogram = true;
                        acc.note_hint(h);
                        if let Some(mean) = acc.histogram.as_mut() {
                            // mean += (h - mean) / count
                            let mut left = h.clone();
                            left.div(acc.count);
                            let mut right = mean.clone();
                            right.div(acc.count);
                            let result = left.sub(&right).and_then(|()| mean.add(&left));
                            if result.is_err() {
                                acc.incompatible = true;
                                self.annotations.warn(format!(
                                    "vector contains a mix of histograms with exponential and custom buckets schemas in {name} aggregation"
                                ));
                            }
                        }
                    }
                    None => {
                        acc.has_float = true;
                        if !acc.incremental_mean {
                            let (sum, c) = kahan_inc(f, acc.value, acc.compensation);
                            if !sum.is_infinite() {
                                acc.value = sum;
                                acc.compensation = c;
                                return;
                            }
                            // The sum would overflow: go on with the mean itself.
                            acc.incremental_mean = true;
                            acc.mean = acc.value / (acc.count - 1.0);
                            acc.compensation /= acc.count - 1.0;
                        }
                        let q = (acc.count - 1.0) / acc.count;
                        (acc.mean, acc.compensation) =
                            kahan_inc(f / acc.count, q * acc.mean, q * acc.compensation);
                    }
                }
            }
            T_GROUP => {}
            T_MAX => {
                if h.is_some() {
                    self.annotations
                        .info(format!("ignored histogram in {name} aggregation"));
                } else if acc.value < f || acc.value.is_nan() {
                    acc.value = f;
                }
            }
            T_MIN => {
                if h.is_some() {
                    self.annotations
                        .info(format!("ignored histogram in {name} aggregation"));
                } else if acc.value > f || acc.value.is_nan() {
                    acc.value = f;
                }
            }
            T_COUNT => acc.count += 1.0,
            T_STDDEV | T_STDVAR => {
                if h.is_some() {
                    self.annotations
                        .info(format!("ignored histogram in {name} aggregation"));
                } else {
                    acc.count += 1.0;
                    let delta = f - acc.mean;
                    acc.mean += delta / acc.count;
                    acc.value += delta * (f - acc.mean);
                }
            }
            T_QUANTILE => {
                if h.is_some() {
                    self.annotations
                        .info(format!("ignored histogram in {name} aggregation"));
                } else {
                    acc.values.push(f);
                }
            }
            _ => {}
        }
    }

    /// The group's point at this step, or none.
    fn finish(&mut self, op: TokenId, acc: &mut Accumulator, q: f64) -> Option<Point> {
        if acc.reset_seen && acc.not_reset_seen {
            self.annotations
                .warn("conflicting counter resets during histogram aggregation".to_owned());
        }
        let value = match op {
            T_SUM | T_AVG => {
                if acc.has_float && acc.has_histogram {
                    self.annotations.warn(format!(
                        "encountered a mix of histograms and floats for aggregation {}",
                        op_name(op)
                    ));
                    return None;
                }
                if acc.incompatible {
                    return None;
                }
                if acc.has_histogram {
                    let histogram = acc.histogram.take()?;
                    return Some(Point::H(Arc::new(histogram.compacted())));
                }
                match op {
                    T_SUM => acc.value + acc.compensation,
                    _ if acc.incremental_mean => acc.mean + acc.compensation,
                    _ => acc.value / acc.count + acc.compensation / acc.count,
                }
            }
            T_COUNT => acc.count,
            T_STDVAR => acc.value / acc.count,
            T_STDDEV => (acc.value / acc.count).sqrt(),
            T_QUANTILE => quantile(q, &mut acc.values),
            _ => acc.value,
        };
        Some(Point::F(value))
    }

    /// `topk`, `bottomk`, `limitk` and `limit_ratio`: input series (labels unchanged),
    /// each present only at the steps where it was selected.
    fn aggregate_k(
        &mut self,
        op: TokenId,
        grouping: &Grouping<'_>,
        input: Vec<StepSeries>,
        params: &[f64],
        grid: Grid,
    ) -> Result<Vec<StepSeries>, Error> {
        let name = op_name(op);
        if op == T_LIMIT_RATIO {
            if params.iter().any(|r| r.is_nan()) {
                return Err(Error::Execution("Ratio value is NaN".into()));
            }
            if params.iter().all(|&r| r == 0.0) {
                return Ok(Vec::new());
            }
            if let Some(&r) = params.iter().find(|&&r| !(-1.0..=1.0).contains(&r)) {
                self.annotations.warn(format!(
                    "ratio value should be between -1 and 1, got {r}, capping to {}",
                    r.clamp(-1.0, 1.0)
                ));
            }
        } else {
            if params.iter().any(|k| k.is_nan()) {
                return Err(Error::Execution("Parameter value is NaN".into()));
            }
            if let Some(&k) = params.iter().find(|&&k| k <= MIN_INT64) {
                return Err(Error::Execution(format!(
                    "Scalar value {k} underflows int64"
                )));
            }
            if let Some(&k) = params.iter().find(|&&k| k >= MAX_INT64) {
                return Err(Error::Execution(format!(
                    "Scalar value {k} overflows int64"
                )));
            }
            if params.iter().all(|&k| k < 1.0) {
                return Ok(Vec::new());
            }
        }
        let (assignment, group_labels) = group_series(grouping, &input);
        let steps = grid.len();
        let n_input = input.len() as i64;
        let mut selected: Vec<Vec<bool>> = vec![vec![false; steps]; input.len()];
        // For an instant query, the order Prometheus returns: group by group, each
        // sorted (topk descending, bottomk ascending).
        let mut order: Vec<usize> = Vec::new();
        let mut candidates: Vec<Vec<usize>> = vec![Vec::new(); group_labels.len()];
        for step in 0..steps {
            if step % 64 == 0 {
                self.budget.check()?;
            }
            candidates.iter_mut().for_each(Vec::clear);
            for (idx, (series, &group)) in input.iter().zip(&assignment).enumerate() {
                match &series.points[step] {
                    Point::Absent => {}
                    Point::H(_) if matches!(op, T_TOPK | T_BOTTOMK) => {
                        self.annotations
                            .info(format!("ignored histogram in {name} aggregation"));
                    }
                    _ => candidates[group].push(idx),
                }
            }
            let param = params[step];
            for members in &mut candidates {
                let chosen: Vec<usize> = match op {
                    T_TOPK | T_BOTTOMK | T_LIMITK => {
                        let k = (param as i64).min(n_input);
                        if k < 1 {
                            continue;
                        }
                        if op == T_LIMITK {
                            members.iter().copied().take(k as usize).collect()
                        } else {
                            let value =
                                |idx: usize| input[idx].points[step].float().unwrap_or(f64::NAN);
                            let top = op == T_TOPK;
                            members.sort_by(|&a, &b| {
                                let (va, vb) = (value(a), value(b));
                                match (va.is_nan(), vb.is_nan()) {
                                    (true, true) => std::cmp::Ordering::Equal,
                                    // NaN is never preferred.
                                    (true, false) => std::cmp::Ordering::Greater,
                                    (false, true) => std::cmp::Ordering::Less,
                                    (false, false) if top => {
                                        vb.partial_cmp(&va).unwrap_or(std::cmp::Ordering::Equal)
                                    }
                                    (false, false) => {
                                        va.partial_cmp(&vb).unwrap_or(std::cmp::Ordering::Equal)
                                    }
                                }
                            });
                            members.iter().copied().take(k as usize).collect()
                        }
                    }
                    _ => {
                        let ratio = param.clamp(-1.0, 1.0);
                        members
                            .iter()
                            .copied()
                            .filter(|&idx| ratio_selects(ratio, &input[idx].labels))
                            .collect()
                    }
                };
                for idx in chosen {
                    selected[idx][step] = true;
                    if steps == 1 {
                        order.push(idx);
                    }
                }
            }
        }
        let mut by_index: Vec<Option<StepSeries>> = input.into_iter().map(Some).collect();
        let mut take_series = |idx: usize| -> Option<StepSeries> {
            let mut series = by_index[idx].take()?;
            for (point, &keep) in series.points.iter_mut().zip(&selected[idx]) {
                if !keep {
                    *point = Point::Absent;
                }
            }
            (!series.is_empty()).then_some(series)
        };
        let indices: Vec<usize> = if steps == 1 {
            order
        } else {
            (0..selected.len()).collect()
        };
        Ok(indices.into_iter().filter_map(&mut take_series).collect())
    }

    fn count_values(&mut self, expr: &AggregateExpr, grid: Grid) -> Result<Value, Error> {
        let label = match expr.param.as_deref().map(unwrap_parens) {
            Some(Expr::StringLiteral(literal)) => literal.val.clone(),
            _ => {
                return Err(Error::BadQuery(
                    "count_values needs a string parameter naming the label".into(),
                ));
            }
        };
        if label.is_empty() {
            return Err(Error::Execution(format!("invalid label name {label:?}")));
        }
        let input = self.eval_vector(&expr.expr, grid)?;
        let grouping = Grouping::of(expr);
        let steps = grid.len();
        let mut output: Vec<StepSeries> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for step in 0..steps {
            let mut counts: Vec<(usize, f64)> = Vec::new();
            for series in &input {
                let value = match &series.points[step] {
                    Point::Absent => continue,
                    Point::F(f) => format_value(*f),
                    Point::H(h) => h.to_string(),
                };
                let mut labels: Vec<Label> = series
                    .labels
                    .iter()
                    .filter(|l| l.name != label)
                    .cloned()
                    .collect();
                labels.push(Label::new(label.as_str(), value));
                labels.sort();
                let with_value = Labels::from_sorted(labels).unwrap_or_default();
                let group: Vec<Label> = with_value
                    .iter()
                    .filter(|l| l.name == label || grouping.keeps(&l.name))
                    .cloned()
                    .collect();
                let group = Labels::from_sorted(group).unwrap_or_default();
                let idx = *index.entry(group.clone()).or_insert_with(|| {
                    output.push(StepSeries {
                        labels: Arc::new(group),
                        drop_name: false,
                        points: vec![Point::Absent; steps],
                    });
                    output.len() - 1
                });
                match counts.iter_mut().find(|(i, _)| *i == idx) {
                    Some((_, count)) => *count += 1.0,
                    None => counts.push((idx, 1.0)),
                }
            }
            for (idx, count) in counts {
                output[idx].points[step] = Point::F(count);
            }
        }
        let weight = output.iter().map(StepSeries::weight).sum();
        self.budget.take(weight)?;
        Ok(Value::Vector(output))
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)` as Prometheus uses it for label values.
pub(crate) fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{value}")
    }
}

/// `limit_ratio`'s deterministic sampling: a series is in when the hash of its labels,
/// as a fraction of the hash range, is below the ratio (or, for a negative ratio, at or
/// above one plus it).
fn ratio_selects(ratio: f64, labels: &Labels) -> bool {
    let mut bytes = Vec::with_capacity(128);
    for label in labels.iter() {
        bytes.extend_from_slice(label.name.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(label.value.as_bytes());
        bytes.push(0xff);
    }
    let offset = xxhash_rust::xxh3::xxh3_64(&bytes) as f64 / u64::MAX as f64;
    (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
}
