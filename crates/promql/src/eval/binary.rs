//! Binary operators: arithmetic, comparison (filtering or `bool`), `atan2`, and the set
//! operators `and`, `or`, `unless`, with Prometheus's vector matching (`on`,
//! `ignoring`, `group_left`, `group_right`). Series are matched once by their
//! signature; points are then combined step by step, and the errors Prometheus raises
//! for ambiguous matches are raised at the steps where the ambiguity occurs.

use std::collections::HashMap;
use std::sync::Arc;

use model::{Label, Labels};
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB, TokenId,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::{Evaluator, Grid};
use crate::Error;
use crate::histogram::{CounterResetHint, FloatHistogram};
use crate::value::{Point, StepSeries, Value};

pub(crate) fn op_name(op: TokenId) -> &'static str {
    match op {
        T_ADD => "+",
        T_SUB => "-",
        T_MUL => "*",
        T_DIV => "/",
        T_MOD => "%",
        T_POW => "^",
        T_EQLC => "==",
        T_NEQ => "!=",
        T_GTR => ">",
        T_LSS => "<",
        T_GTE => ">=",
        T_LTE => "<=",
        T_ATAN2 => "atan2",
        T_LAND => "and",
        T_LOR => "or",
        T_LUNLESS => "unless",
        _ => "?",
    }
}

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Operators whose result is no longer the metric the name names.
fn changes_meaning(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

/// `(value, keep)` of a float operation; comparisons keep the left value when true.
pub(crate) fn float_op(op: TokenId, lhs: f64, rhs: f64) -> (f64, bool) {
    match op {
        T_ADD => (lhs + rhs, true),
        T_SUB => (lhs - rhs, true),
        T_MUL => (lhs * rhs, true),
        T_DIV => (lhs / rhs, true),
        T_POW => (lhs.powf(rhs), true),
        T_MOD => (lhs % rhs, true),
        T_ATAN2 => (lhs.atan2(rhs), true),
        T_EQLC => (lhs, lhs == rhs),
        T_NEQ => (lhs, lhs != rhs),
        T_GTR => (lhs, lhs > rhs),
        T_LSS => (lhs, lhs < rhs),
        T_GTE => (lhs, lhs >= rhs),
        T_LTE => (lhs, lhs <= rhs),
        _ => (f64::NAN, false),
    }
}

/// The outcome of an operator on two points: a point to keep (or not), and perhaps a
/// note for the annotations.
struct Combined {
    point: Point,
    keep: bool,
    note: Option<String>,
}

fn incompatible(op: TokenId, left: &str, right: &str) -> Combined {
    Combined {
        point: Point::Absent,
        keep: false,
        note: Some(format!(
            "incompatible sample types encountered for binary operator \"{}\": {left} {} {right}",
            op_name(op),
            op_name(op)
        )),
    }
}

fn histogram_result(
    result: Result<FloatHistogram, crate::histogram::HistogramError>,
    op: TokenId,
) -> Combined {
    match result {
        Ok(h) => Combined {
            point: Point::H(Arc::new(h.compacted())),
            keep: true,
            note: None,
        },
        Err(err) => Combined {
            point: Point::Absent,
            keep: false,
            note: Some(format!(
                "incompatible bucket layout encountered for binary operator {}: {err}",
                op_name(op)
            )),
        },
    }
}

/// Applies `op` to two present points, floats or histograms.
fn combine(op: TokenId, lhs: &Point, rhs: &Point) -> Combined {
    match (lhs, rhs) {
        (Point::F(l), Point::F(r)) => {
            let (value, keep) = float_op(op, *l, *r);
            Combined {
                point: Point::F(value),
                keep,
                note: None,
            }
        }
        (Point::F(l), Point::H(h)) => match op {
            T_MUL => {
                let mut scaled = (**h).clone();
                scaled.mul(*l);
                histogram_result(Ok(scaled), op)
            }
            _ => incompatible(op, "float", "histogram"),
        },
        (Point::H(h), Point::F(r)) => match op {
            T_MUL | T_DIV => {
                let mut scaled = (**h).clone();
                if op == T_MUL {
                    scaled.mul(*r);
                } else {
                    scaled.div(*r);
                }
                histogram_result(Ok(scaled), op)
            }
            _ => incompatible(op, "histogram", "float"),
        },
        (Point::H(l), Point::H(r)) => match op {
            T_ADD => {
                let mut sum = (**l).clone();
                histogram_result(sum.add(r).map(|()| sum), op)
            }
            T_SUB => {
                let mut difference = (**l).clone();
                let result = difference.sub(r).map(|()| {
                    difference.counter_reset_hint = CounterResetHint::Gauge;
                    difference
                });
                histogram_result(result, op)
            }
            T_EQLC | T_NEQ => {
                let equal = l.equals(r);
                Combined {
                    point: Point::H(Arc::clone(l)),
                    keep: if op == T_EQLC { equal } else { !equal },
                    note: None,
                }
            }
            _ => incompatible(op, "histogram", "histogram"),
        },
        _ => Combined {
            point: Point::Absent,
            keep: false,
            note: None,
        },
    }
}

/// How series are matched across the operator.
struct Matching<'e> {
    on: bool,
    labels: Vec<&'e str>,
    card: Cardinality,
    include: Vec<&'e str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cardinality {
    OneToOne,
    ManyToOne,
    OneToMany,
}

impl<'e> Matching<'e> {
    fn of(expr: &'e BinaryExpr) -> Result<Self, Error> {
        let modifier = expr.modifier.as_ref();
        if modifier.is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some()) {
            return Err(Error::BadQuery(
                "fill modifiers on binary operators are not supported".into(),
            ));
        }
        let (on, labels) = match modifier.and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(labels)) => {
                (true, labels.labels.iter().map(String::as_str).collect())
            }
            Some(LabelModifier::Exclude(labels)) => {
                (false, labels.labels.iter().map(String::as_str).collect())
            }
            None => (false, Vec::new()),
        };
        let (card, include) = match modifier.map(|m| &m.card) {
            Some(VectorMatchCardinality::ManyToOne(labels)) => (
                Cardinality::ManyToOne,
                labels.labels.iter().map(String::as_str).collect(),
            ),
            Some(VectorMatchCardinality::OneToMany(labels)) => (
                Cardinality::OneToMany,
                labels.labels.iter().map(String::as_str).collect(),
            ),
            _ => (Cardinality::OneToOne, Vec::new()),
        };
        Ok(Matching {
            on,
            labels,
            card,
            include,
        })
    }

    /// The matching key of a label set: the `on` labels, or every label except the
    /// `ignoring` ones and the metric name.
    fn signature(&self, labels: &Labels, buffer: &mut Vec<u8>) {
        buffer.clear();
        for label in labels.iter() {
            let matched = if self.on {
                self.labels.contains(&label.name.as_str())
            } else {
                label.name != model::labels::METRIC_NAME
                    && !self.labels.contains(&label.name.as_str())
            };
            if matched {
                buffer.extend_from_slice(label.name.as_bytes());
                buffer.push(0xff);
                buffer.extend_from_slice(label.value.as_bytes());
                buffer.push(0xff);
            }
        }
    }

    /// The labels the match group is identified by, for error messages.
    fn group_labels(&self, labels: &Labels) -> Labels {
        let kept: Vec<Label> = labels
            .iter()
            .filter(|label| {
                if self.on {
                    self.labels.contains(&label.name.as_str())
                } else {
                    label.name != model::labels::METRIC_NAME
                        && !self.labels.contains(&label.name.as_str())
                }
            })
            .cloned()
            .collect();
        Labels::from_sorted(kept).unwrap_or_default()
    }

    /// The result's labels, from the "many" side (the left side for one-to-one), with
    /// `group_x` labels taken from the "one" side.
    fn result_labels(&self, op: TokenId, many: &Labels, one: &Labels) -> Labels {
        let mut labels: Vec<Label> = many
            .iter()
            .filter(|label| !(changes_meaning(op) && label.name == model::labels::METRIC_NAME))
            .filter(|label| {
                if self.card != Cardinality::OneToOne {
                    return true;
                }
                let listed = self.labels.contains(&label.name.as_str());
                if self.on { listed } else { !listed }
            })
            .cloned()
            .collect();
        for name in &self.include {
            labels.retain(|label| label.name != *name);
            if let Some(value) = one.get(name) {
                labels.push(Label::new(*name, value));
            }
        }
        labels.sort();
        Labels::from_sorted(labels).unwrap_or_default()
    }
}

/// Maps each series to the ordinal of its signature.
fn signatures(
    matching: &Matching<'_>,
    sides: [&[StepSeries]; 2],
) -> (Vec<usize>, Vec<usize>, usize) {
    let mut ordinals: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut buffer = Vec::with_capacity(256);
    let mut assign = |series: &[StepSeries]| -> Vec<usize> {
        series
            .iter()
            .map(|s| {
                matching.signature(&s.labels, &mut buffer);
                let next = ordinals.len();
                *ordinals.entry(buffer.clone()).or_insert(next)
            })
            .collect()
    };
    let lhs = assign(sides[0]);
    let rhs = assign(sides[1]);
    (lhs, rhs, ordinals.len())
}

/// For every signature, per step, whether some series of `sides` with it is present.
fn presence(
    series: &[StepSeries],
    sigs: &[usize],
    n_sigs: usize,
    steps: usize,
) -> Vec<Option<Vec<bool>>> {
    let mut present: Vec<Option<Vec<bool>>> = vec![None; n_sigs];
    for (s, &sig) in series.iter().zip(sigs) {
        let slots = present[sig].get_or_insert_with(|| vec![false; steps]);
        for (slot, point) in slots.iter_mut().zip(&s.points) {
            *slot |= point.is_present();
        }
    }
    present
}

impl Evaluator<'_> {
    pub(crate) fn eval_binary(&mut self, expr: &BinaryExpr, grid: Grid) -> Result<Value, Error> {
        let op = expr.op.id();
        let return_bool = expr.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&expr.lhs, grid)?;
        let rhs = self.eval(&expr.rhs, grid)?;
        let released = lhs.weight() + rhs.weight();
        let result = match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => Value::Scalar(
                l.iter()
                    .zip(&r)
                    .map(|(&a, &b)| {
                        let (value, keep) = float_op(op, a, b);
                        if is_comparison(op) {
                            if keep { 1.0 } else { 0.0 }
                        } else {
                            value
                        }
                    })
                    .collect(),
            ),
            (Value::Vector(series), Value::Scalar(scalar)) => {
                Value::Vector(self.vector_scalar(op, series, &scalar, false, return_bool))
            }
            (Value::Scalar(scalar), Value::Vector(series)) => {
                Value::Vector(self.vector_scalar(op, series, &scalar, true, return_bool))
            }
            (Value::Vector(l), Value::Vector(r)) => {
                let matching = Matching::of(expr)?;
                let steps = grid.len();
                match op {
                    T_LAND | T_LUNLESS => {
                        Value::Vector(set_filter(&matching, l, &r, steps, op == T_LAND))
                    }
                    T_LOR => Value::Vector(set_or(&matching, l, r, steps)),
                    _ => Value::Vector(self.vector_vector(
                        op,
                        &matching,
                        return_bool,
                        &l,
                        &r,
                        steps,
                    )?),
                }
            }
            _ => {
                return Err(Error::BadQuery(format!(
                    "binary operator \"{}\" needs scalars or instant vectors",
                    op_name(op)
                )));
            }
        };
        self.budget.release(released);
        self.budget.take(result.weight())?;
        Ok(result)
    }

    fn vector_scalar(
        &mut self,
        op: TokenId,
        mut series: Vec<StepSeries>,
        scalar: &[f64],
        scalar_on_left: bool,
        return_bool: bool,
    ) -> Vec<StepSeries> {
        let comparison = is_comparison(op);
        for s in &mut series {
            for (point, &value) in s.points.iter_mut().zip(scalar) {
                if !point.is_present() {
                    continue;
                }
                let scalar_point = Point::F(value);
                let combined = if scalar_on_left {
                    combine(op, &scalar_point, point)
                } else {
                    combine(op, point, &scalar_point)
                };
                if let Some(note) = combined.note {
                    self.annotations.info(note);
                }
                *point = if return_bool {
                    if combined.point.is_present() || combined.keep {
                        Point::F(if combined.keep { 1.0 } else { 0.0 })
                    } else {
                        Point::Absent
                    }
                } else if combined.keep {
                    // A comparison keeps the vector's own value, whichever side it is on.
                    if comparison {
                        std::mem::take(point)
                    } else {
                        combined.point
                    }
                } else {
                    Point::Absent
                };
            }
            if changes_meaning(op) || return_bool {
                s.drop_name = true;
            }
        }
        series.retain(|s| !s.is_empty());
        series
    }

    fn vector_vector(
        &mut self,
        op: TokenId,
        matching: &Matching<'_>,
        return_bool: bool,
        lhs: &[StepSeries],
        rhs: &[StepSeries],
        steps: usize,
    ) -> Result<Vec<StepSeries>, Error> {
        let (lhs_sigs, rhs_sigs, n_sigs) = signatures(matching, [lhs, rhs]);
        // The "many" side is iterated; the "one" side must be unique per signature.
        let swapped = matching.card == Cardinality::OneToMany;
        let (many, many_sigs, one, one_sigs) = if swapped {
            (rhs, &rhs_sigs, lhs, &lhs_sigs)
        } else {
            (lhs, &lhs_sigs, rhs, &rhs_sigs)
        };
        let many_any: Vec<bool> = (0..steps)
            .map(|step| many.iter().any(|s| s.points[step].is_present()))
            .collect();
        let one_any: Vec<bool> = (0..steps)
            .map(|step| one.iter().any(|s| s.points[step].is_present()))
            .collect();
        // Per signature and step: the one-side series present there.
        let mut one_at: Vec<Option<Vec<Option<usize>>>> = vec![None; n_sigs];
        for (j, (s, &sig)) in one.iter().zip(one_sigs).enumerate() {
            let slots = one_at[sig].get_or_insert_with(|| vec![None; steps]);
            for (step, point) in s.points.iter().enumerate() {
                if !point.is_present() {
                    continue;
                }
                if let Some(other) = slots[step] {
                    if many_any[step] {
                        let side = if swapped { "left" } else { "right" };
                        return Err(Error::Execution(format!(
                            "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                            matching.group_labels(&s.labels),
                            s.labels,
                            one[other].labels
                        )));
                    }
                    continue;
                }
                slots[step] = Some(j);
            }
        }

        let mut output: Vec<StepSeries> = Vec::new();
        let mut output_index: HashMap<Arc<Labels>, usize> = HashMap::new();
        let mut pair_labels: HashMap<(usize, usize), usize> = HashMap::new();
        // One-to-one: a signature may match only once per step.
        let mut matched_once: Vec<Option<Vec<bool>>> = vec![None; n_sigs];
        // Many-to-one: a result label set may come only once per step.
        let mut claimed: HashMap<usize, Vec<bool>> = HashMap::new();

        for (i, (m, &sig)) in many.iter().zip(many_sigs).enumerate() {
            if i % 256 == 255 {
                self.budget.check()?;
            }
            let Some(slots) = &one_at[sig] else {
                continue;
            };
            for step in 0..steps {
                let many_point = &m.points[step];
                if !many_point.is_present() || !one_any[step] {
                    continue;
                }
                let Some(j) = slots[step] else {
                    continue;
                };
                let out_idx = match pair_labels.get(&(i, j)) {
                    Some(&idx) => idx,
                    None => {
                        let labels =
                            Arc::new(matching.result_labels(op, &m.labels, &one[j].labels));
                        let idx = *output_index.entry(Arc::clone(&labels)).or_insert_with(|| {
                            output.push(StepSeries {
                                labels,
                                drop_name: return_bool || m.drop_name,
                                points: vec![Point::Absent; steps],
                            });
                            output.len() - 1
                        });
                        pair_labels.insert((i, j), idx);
                        idx
                    }
                };
                if matching.card == Cardinality::OneToOne {
                    let seen = matched_once[sig].get_or_insert_with(|| vec![false; steps]);
                    if seen[step] {
                        return Err(Error::Execution(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                        ));
                    }
                    seen[step] = true;
                } else {
                    let seen = claimed.entry(out_idx).or_insert_with(|| vec![false; steps]);
                    if seen[step] {
                        return Err(Error::Execution(
                            "multiple matches for labels: grouping labels must ensure unique matches".into(),
                        ));
                    }
                    seen[step] = true;
                }
                let one_point = &one[j].points[step];
                let (left, right) = if swapped {
                    (one_point, many_point)
                } else {
                    (many_point, one_point)
                };
                let combined = combine(op, left, right);
                if let Some(note) = combined.note {
                    self.annotations.info(note);
                }
                let point = if return_bool {
                    if combined.point.is_present() || combined.keep {
                        Point::F(if combined.keep { 1.0 } else { 0.0 })
                    } else {
                        Point::Absent
                    }
                } else if combined.keep {
                    combined.point
                } else {
                    Point::Absent
                };
                if !point.is_present() {
                    continue;
                }
                let slot = &mut output[out_idx].points[step];
                if slot.is_present() {
                    return Err(Error::Execution(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
                *slot = point;
            }
        }
        output.retain(|s| !s.is_empty());
        Ok(output)
    }
}

/// `and` (keep the left points whose signature is on the right at that step) and
/// `unless` (keep those whose signature is not).
fn set_filter(
    matching: &Matching<'_>,
    mut lhs: Vec<StepSeries>,
    rhs: &[StepSeries],
    steps: usize,
    keep_matched: bool,
) -> Vec<StepSeries> {
    let (lhs_sigs, rhs_sigs, n_sigs) = signatures(matching, [&lhs, rhs]);
    let rhs_present = presence(rhs, &rhs_sigs, n_sigs, steps);
    for (s, &sig) in lhs.iter_mut().zip(&lhs_sigs) {
        for (step, point) in s.points.iter_mut().enumerate() {
            let matched = rhs_present[sig]
                .as_ref()
                .is_some_and(|present| present[step]);
            if matched != keep_matched {
                *point = Point::Absent;
            }
        }
    }
    lhs.retain(|s| !s.is_empty());
    lhs
}

/// `or`: every left point, and the right points whose signature has no left point at
/// that step.
fn set_or(
    matching: &Matching<'_>,
    lhs: Vec<StepSeries>,
    mut rhs: Vec<StepSeries>,
    steps: usize,
) -> Vec<StepSeries> {
    let (lhs_sigs, rhs_sigs, n_sigs) = signatures(matching, [&lhs, &rhs]);
    let lhs_present = presence(&lhs, &lhs_sigs, n_sigs, steps);
    for (s, &sig) in rhs.iter_mut().zip(&rhs_sigs) {
        if let Some(present) = &lhs_present[sig] {
            for (point, &taken) in s.points.iter_mut().zip(present) {
                if taken {
                    *point = Point::Absent;
                }
            }
        }
    }
    rhs.retain(|s| !s.is_empty());
    let mut out = lhs;
    out.extend(rhs);
    out
}
