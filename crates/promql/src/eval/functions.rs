//! Function calls: which argument is the range vector, how scalar arguments are
//! evaluated per step, and the instant-vector functions (math, clamping, rounding,
//! dates, labels, sorting, `absent`, `scalar`, `vector`, `timestamp`, histograms).

use std::sync::Arc;

use model::{Label, Labels};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Call, Expr};

use super::histograms::{HistogramAsk, histogram_variance};
use super::range_functions::{self as rf, Window};
use super::selector::{Report, Windows};
use super::{Evaluator, Grid, unwrap_parens};
use crate::Error;
use crate::selector::selector_matchers;
use crate::value::{Point, StepSeries, Value};

/// Functions whose result still is the metric the name names.
fn keeps_metric_name(name: &str) -> bool {
    matches!(name, "last_over_time" | "first_over_time")
}

fn string_arg(expr: &Expr) -> Result<String, Error> {
    match unwrap_parens(expr) {
        Expr::StringLiteral(literal) => Ok(literal.val.clone()),
        _ => Err(Error::BadQuery("expected a string literal argument".into())),
    }
}

/// Prometheus's classic label name rule.
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The labels `absent` reports: the selector's equality matchers (a label matched twice
/// is left out).
fn absent_labels(expr: &Expr) -> Labels {
    let selector = match unwrap_parens(expr) {
        Expr::VectorSelector(selector) => selector,
        Expr::MatrixSelector(matrix) => &matrix.vs,
        _ => return Labels::default(),
    };
    let Ok(alternatives) = selector_matchers(selector) else {
        return Labels::default();
    };
    let Some(matchers) = alternatives.first() else {
        return Labels::default();
    };
    let mut kept: Vec<Label> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for matcher in matchers {
        if matcher.name == model::labels::METRIC_NAME {
            continue;
        }
        let first_equal =
            matcher.op == tsdb::MatchOp::Equal && !seen.contains(&matcher.name.as_str());
        if first_equal {
            kept.push(Label::new(matcher.name.as_str(), matcher.value.as_str()));
            seen.push(&matcher.name);
        } else {
            kept.retain(|label| label.name != matcher.name);
        }
    }
    Labels::from_pairs(kept.into_iter().map(|l| (l.name, l.value))).unwrap_or_default()
}

/// Natural order of strings: runs of digits compare as numbers.
pub(crate) fn natural_less(a: &str, b: &str) -> bool {
    fn chunks(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit() {
                out.push(&s[start..i]);
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (i, chunk_a) in ca.iter().enumerate() {
        let Some(chunk_b) = cb.get(i) else {
            return false;
        };
        let last_a = i == ca.len() - 1;
        let last_b = i == cb.len() - 1;
        if let (Ok(na), Ok(nb)) = (chunk_a.parse::<i64>(), chunk_b.parse::<i64>()) {
            if na == nb {
                if last_a {
                    return true;
                } else if last_b {
                    return false;
                }
                continue;
            }
            return na < nb;
        }
        if chunk_a == chunk_b {
            if last_a {
                return true;
            } else if last_b {
                return false;
            }
            continue;
        }
        return chunk_a < chunk_b;
    }
    false
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// A date function of Unix seconds (truncated to whole seconds, as Prometheus does).
fn date_part(name: &str, seconds: f64) -> f64 {
    let seconds = seconds as i64;
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = model::time::civil_from_days(days);
    let days_before_month = |y: i64, m: u32| -> u32 {
        const CUMULATIVE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        CUMULATIVE[(m - 1) as usize] + u32::from(m > 2 && is_leap(y))
    };
    match name {
        "year" => year as f64,
        "month" => f64::from(month),
        "day_of_month" => f64::from(day),
        "day_of_year" => f64::from(days_before_month(year, month) + day),
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "hour" => (in_day / 3600) as f64,
        "minute" => (in_day % 3600 / 60) as f64,
        "days_in_month" => match month {
            2 if is_leap(year) => 29.0,
            2 => 28.0,
            4 | 6 | 9 | 11 => 30.0,
            _ => 31.0,
        },
        _ => f64::NAN,
    }
}

fn math(name: &str) -> Option<fn(f64) -> f64> {
    let f: fn(f64) -> f64 = match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    };
    Some(f)
}

/// Applies `f` to every float point; histograms are dropped. The name goes.
fn map_floats(
    mut series: Vec<StepSeries>,
    mut f: impl FnMut(usize, f64) -> f64,
) -> Vec<StepSeries> {
    for s in &mut series {
        for (step, point) in s.points.iter_mut().enumerate() {
            *point = match point {
                Point::F(v) => Point::F(f(step, *v)),
                _ => Point::Absent,
            };
        }
        s.drop_name = true;
    }
    series.retain(|s| !s.is_empty());
    series
}

/// Merges series whose label sets became equal (after `label_replace`), as long as they
/// never have a point at the same step.
pub(crate) fn merge_same_labels(series: Vec<StepSeries>) -> Result<Vec<StepSeries>, Error> {
    let mut index: std::collections::HashMap<Arc<Labels>, usize> = std::collections::HashMap::new();
    let mut out: Vec<StepSeries> = Vec::with_capacity(series.len());
    for s in series {
        match index.get(&s.labels) {
            Some(&idx) => {
                let target = &mut out[idx];
                for (slot, point) in target.points.iter_mut().zip(s.points) {
                    if !point.is_present() {
                        continue;
                    }
                    if slot.is_present() {
                        return Err(Error::Execution(
                            "vector cannot contain metrics with the same labelset".into(),
                        ));
                    }
                    *slot = point;
                }
                target.drop_name &= s.drop_name;
            }
            None => {
                index.insert(Arc::clone(&s.labels), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

impl Evaluator<'_> {
    pub(crate) fn eval_call(&mut self, call: &Call, grid: Grid) -> Result<Value, Error> {
        let name = call.func.name;
        let args: Vec<&Expr> = call.args.args.iter().map(|a| unwrap_parens(a)).collect();
        if let Some(matrix_idx) = args
            .iter()
            .position(|a| a.value_type() == ValueType::Matrix)
        {
            return self.range_call(name, &args, matrix_idx, grid);
        }
        let steps = grid.len();
        let value = match name {
            "time" => Value::Scalar(grid.times().map(|t| t as f64 / 1000.0).collect()),
            "pi" => Value::Scalar(vec![std::f64::consts::PI; steps]),
            "start" => Value::Scalar(vec![self.query_start as f64 / 1000.0; steps]),
            "end" => Value::Scalar(vec![self.query_end as f64 / 1000.0; steps]),
            "step" => Value::Scalar(vec![grid.step as f64 / 1000.0; steps]),
            "range" => Value::Scalar(vec![
                (self.query_end - self.query_start) as f64 / 1000.0;
                steps
            ]),
            "vector" => {
                let values = self.eval_scalar(args[0], grid)?;
                Value::Vector(vec![StepSeries {
                    labels: Arc::new(Labels::default()),
                    drop_name: false,
                    points: values.into_iter().map(Point::F).collect(),
                }])
            }
            "scalar" => {
                let series = self.eval_vector(args[0], grid)?;
                let values = (0..steps)
                    .map(|step| {
                        let mut floats = series.iter().filter_map(|s| s.points[step].float());
                        match (floats.next(), floats.next()) {
                            (Some(value), None) => value,
                            _ => f64::NAN,
                        }
                    })
                    .collect();
                Value::Scalar(values)
            }
            "timestamp" => Value::Vector(self.timestamp(args[0], grid)?),
            "absent" => {
                let series = self.eval_vector(args[0], grid)?;
                let points: Vec<Point> = (0..steps)
                    .map(|step| {
                        if series.iter().any(|s| s.points[step].is_present()) {
                            Point::Absent
                        } else {
                            Point::F(1.0)
                        }
                    })
                    .collect();
                let out = StepSeries {
                    labels: Arc::new(absent_labels(args[0])),
                    drop_name: true,
                    points,
                };
                Value::Vector(if out.is_empty() {
                    Vec::new()
                } else {
                    vec![out]
                })
            }
            "year" | "month" | "day_of_month" | "day_of_year" | "day_of_week" | "hour"
            | "minute" | "days_in_month" => {
                if args.is_empty() {
                    Value::Vector(vec![StepSeries {
                        labels: Arc::new(Labels::default()),
                        drop_name: false,
                        points: grid
                            .times()
                            .map(|t| Point::F(date_part(name, (t / 1000) as f64)))
                            .collect(),
                    }])
                } else {
                    let series = self.eval_vector(args[0], grid)?;
                    Value::Vector(map_floats(series, |_, v| date_part(name, v)))
                }
            }
            "round" => {
                let series = self.eval_vector(args[0], grid)?;
                let to_nearest = match args.get(1) {
                    Some(arg) => self.eval_scalar(arg, grid)?,
                    None => vec![1.0; steps],
                };
                Value::Vector(map_floats(series, |step, v| {
                    let inverse = 1.0 / to_nearest[step];
                    (v * inverse + 0.5).floor() / inverse
                }))
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let series = self.eval_vector(args[0], grid)?;
                let (low, high) = match name {
                    "clamp" => (
                        self.eval_scalar(args[1], grid)?,
                        self.eval_scalar(args[2], grid)?,
                    ),
                    "clamp_min" => (self.eval_scalar(args[1], grid)?, vec![f64::INFINITY; steps]),
                    _ => (
                        vec![f64::NEG_INFINITY; steps],
                        self.eval_scalar(args[1], grid)?,
                    ),
                };
                let mut out =
                    map_floats(series, |step, v| go_max(low[step], go_min(high[step], v)));
                // A maximum below the minimum empties that step.
                for s in &mut out {
                    for (step, point) in s.points.iter_mut().enumerate() {
                        if high[step] < low[step] {
                            *point = Point::Absent;
                        }
                    }
                }
                out.retain(|s| !s.is_empty());
                Value::Vector(out)
            }
            "sort" | "sort_desc" => {
                let mut series = self.eval_vector(args[0], grid)?;
                for s in &mut series {
                    for point in &mut s.points {
                        if matches!(point, Point::H(_)) {
                            *point = Point::Absent;
                        }
                    }
                }
                series.retain(|s| !s.is_empty());
                if steps == 1 {
                    let descending = name == "sort_desc";
                    series.sort_by(|a, b| {
                        let (va, vb) = (
                            a.points[0].float().unwrap_or(f64::NAN),
                            b.points[0].float().unwrap_or(f64::NAN),
                        );
                        match (va.is_nan(), vb.is_nan()) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            (false, false) if descending => {
                                vb.partial_cmp(&va).unwrap_or(std::cmp::Ordering::Equal)
                            }
                            (false, false) => {
                                va.partial_cmp(&vb).unwrap_or(std::cmp::Ordering::Equal)
                            }
                        }
                    });
                }
                Value::Vector(series)
            }
            "sort_by_label" | "sort_by_label_desc" => {
                let mut series = self.eval_vector(args[0], grid)?;
                let labels: Vec<String> = args[1..]
                    .iter()
                    .map(|a| string_arg(a))
                    .collect::<Result<_, _>>()?;
                let descending = name == "sort_by_label_desc";
                series.sort_by(|a, b| {
                    for label in &labels {
                        let (va, vb) = (
                            a.labels.get(label).unwrap_or(""),
                            b.labels.get(label).unwrap_or(""),
                        );
                        if va == vb {
                            continue;
                        }
                        let less = natural_less(va, vb);
                        return match (less, descending) {
                            (true, false) | (false, true) => std::cmp::Ordering::Less,
                            _ => std::cmp::Ordering::Greater,
                        };
                    }
                    let order = a.labels.cmp(&b.labels);
                    if descending { order.reverse() } else { order }
                });
                Value::Vector(series)
            }
            "label_replace" => Value::Vector(self.label_replace(&args, grid)?),
            "label_join" => Value::Vector(self.label_join(&args, grid)?),
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
            | "histogram_stdvar" => {
                let mut series = self.eval_vector(args[0], grid)?;
                for s in &mut series {
                    for point in &mut s.points {
                        *point = match point {
                            Point::H(h) => Point::F(match name {
                                "histogram_count" => h.count,
                                "histogram_sum" => h.sum,
                                "histogram_avg" => h.sum / h.count,
                                "histogram_stddev" => histogram_variance(h).sqrt(),
                                _ => histogram_variance(h),
                            }),
                            _ => Point::Absent,
                        };
                    }
                    s.drop_name = true;
                }
                series.retain(|s| !s.is_empty());
                Value::Vector(series)
            }
            "histogram_quantile" => {
                let q = self.eval_scalar(args[0], grid)?;
                if let Some(bad) = q.iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0) {
                    self.annotations.warn(format!(
                        "quantile value should be between 0 and 1, got {bad}"
                    ));
                }
                let series = self.eval_vector(args[1], grid)?;
                Value::Vector(self.histogram_quantile_or_fraction(
                    HistogramAsk::Quantile,
                    &[q],
                    &series,
                    steps,
                ))
            }
            "histogram_fraction" => {
                let lower = self.eval_scalar(args[0], grid)?;
                let upper = self.eval_scalar(args[1], grid)?;
                let series = self.eval_vector(args[2], grid)?;
                Value::Vector(self.histogram_quantile_or_fraction(
                    HistogramAsk::Fraction,
                    &[lower, upper],
                    &series,
                    steps,
                ))
            }
            other => {
                if let Some(f) = math(other) {
                    let series = self.eval_vector(args[0], grid)?;
                    Value::Vector(map_floats(series, |_, v| f(v)))
                } else {
                    return Err(Error::BadQuery(format!(
                        "function {other:?} is not supported"
                    )));
                }
            }
        };
        self.budget.take(value.weight())?;
        Ok(value)
    }

    /// `timestamp(v)`: of a selector, each sample's own timestamp; of anything else, the
    /// evaluation time.
    fn timestamp(&mut self, arg: &Expr, grid: Grid) -> Result<Vec<StepSeries>, Error> {
        let mut series = match arg {
            Expr::VectorSelector(selector) => {
                self.vector_selector_reporting(selector, grid, Report::Timestamp)?
            }
            other => {
                let mut series = self.eval_vector(other, grid)?;
                for s in &mut series {
                    for (step, point) in s.points.iter_mut().enumerate() {
                        if point.is_present() {
                            *point = Point::F(grid.time(step) as f64 / 1000.0);
                        }
                    }
                }
                series
            }
        };
        for s in &mut series {
            s.drop_name = true;
        }
        Ok(series)
    }

    fn label_replace(&mut self, args: &[&Expr], grid: Grid) -> Result<Vec<StepSeries>, Error> {
        let destination = string_arg(args[1])?;
        let replacement = string_arg(args[2])?;
        let source = string_arg(args[3])?;
        let pattern = string_arg(args[4])?;
        let regex = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
            Error::Execution(format!(
                "invalid regular expression in label_replace(): {pattern}"
            ))
        })?;
        if !valid_label_name(&destination) {
            return Err(Error::Execution(format!(
                "invalid destination label name in label_replace(): {destination}"
            )));
        }
        let mut series = self.eval_vector(args[0], grid)?;
        for s in &mut series {
            let value = s.labels.get(&source).unwrap_or("");
            let Some(captures) = regex.captures(value) else {
                continue;
            };
            let mut replaced = String::new();
            captures.expand(&replacement, &mut replaced);
            s.labels = Arc::new(with_label(&s.labels, &destination, &replaced));
            if destination == model::labels::METRIC_NAME {
                s.drop_name = false;
            }
        }
        merge_same_labels(series)
    }

    fn label_join(&mut self, args: &[&Expr], grid: Grid) -> Result<Vec<StepSeries>, Error> {
        let destination = string_arg(args[1])?;
        let separator = string_arg(args[2])?;
        let sources: Vec<String> = args[3..]
            .iter()
            .map(|a| string_arg(a))
            .collect::<Result<_, _>>()?;
        if let Some(bad) = sources.iter().find(|s| !valid_label_name(s)) {
            return Err(Error::Execution(format!(
                "invalid source label name in label_join(): {bad}"
            )));
        }
        if !valid_label_name(&destination) {
            return Err(Error::Execution(format!(
                "invalid destination label name in label_join(): {destination}"
            )));
        }
        let mut series = self.eval_vector(args[0], grid)?;
        for s in &mut series {
            let joined = sources
                .iter()
                .map(|source| s.labels.get(source).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(&separator);
            s.labels = Arc::new(with_label(&s.labels, &destination, &joined));
            if destination == model::labels::METRIC_NAME {
                s.drop_name = false;
            }
        }
        merge_same_labels(series)
    }

    /// Functions of a range vector: one output point per step from the samples in that
    /// step's window, series by series.
    fn range_call(
        &mut self,
        name: &str,
        args: &[&Expr],
        matrix_idx: usize,
        grid: Grid,
    ) -> Result<Value, Error> {
        let mut scalars: Vec<Vec<f64>> = Vec::new();
        for (idx, arg) in args.iter().enumerate() {
            if idx != matrix_idx {
                scalars.push(self.eval_scalar(arg, grid)?);
            }
        }
        if name == "double_exponential_smoothing" {
            for (what, values) in ["smoothing factor", "trend factor"].iter().zip(&scalars) {
                if let Some(bad) = values.iter().find(|v| !(**v > 0.0 && **v < 1.0)) {
                    let short = if *what == "smoothing factor" {
                        "sf"
                    } else {
                        "tf"
                    };
                    return Err(Error::Execution(format!(
                        "invalid {what}. Expected: 0 < {short} < 1, got: {bad:.6}"
                    )));
                }
            }
        }
        let steps = grid.len();
        let is_absent = name == "absent_over_time";
        let mut covered = vec![false; steps];
        let mut output: Vec<StepSeries> = Vec::new();
        let drop_name = !keeps_metric_name(name);
        let warn_counter = matches!(name, "rate" | "increase");
        let mut not_counter_names: Vec<String> = Vec::new();
        self.for_each_range_series(args[matrix_idx], grid, &mut |ev, series, arg| {
            let mut windows = Windows::new(&series);
            let metric_name = series.labels.metric_name().unwrap_or("");
            let mut points = Vec::with_capacity(steps);
            let mut any = false;
            for (step, t) in grid.times().enumerate() {
                if step % 256 == 255 {
                    ev.budget.check()?;
                }
                let (lo, hi) = arg.window(t);
                let (floats, hists) = windows.slice(lo, hi);
                if floats.is_empty() && hists.is_empty() {
                    points.push(Point::Absent);
                    continue;
                }
                if is_absent {
                    covered[step] = true;
                    continue;
                }
                let window = Window {
                    floats,
                    hists,
                    start: lo,
                    end: hi,
                    eval_time: t,
                    metric_name,
                };
                let scalar = |i: usize| scalars.get(i).map_or(f64::NAN, |values| values[step]);
                let notes = &mut ev.annotations;
                let point = match name {
                    "rate" => rf::extrapolated_rate(&window, true, true, notes),
                    "increase" => rf::extrapolated_rate(&window, true, false, notes),
                    "delta" => rf::extrapolated_rate(&window, false, false, notes),
                    "irate" => rf::instant_value(&window, true, notes),
                    "idelta" => rf::instant_value(&window, false, notes),
                    "deriv" => rf::deriv(&window, notes),
                    "predict_linear" => rf::predict_linear(&window, scalar(0), notes),
                    "changes" => rf::changes_or_resets(&window, false),
                    "resets" => rf::changes_or_resets(&window, true),
                    "avg_over_time" => rf::avg_over_time(&window, notes),
                    "sum_over_time" => rf::sum_over_time(&window, notes),
                    "count_over_time" => rf::count_over_time(&window),
                    "min_over_time" => rf::min_max_over_time(&window, false, notes),
                    "max_over_time" => rf::min_max_over_time(&window, true, notes),
                    "last_over_time" => rf::edge_over_time(&window, true),
                    "first_over_time" => rf::edge_over_time(&window, false),
                    "ts_of_last_over_time" => rf::ts_of_edge(&window, true),
                    "ts_of_first_over_time" => rf::ts_of_edge(&window, false),
                    "ts_of_max_over_time" => rf::ts_of_extreme(&window, true, notes),
                    "ts_of_min_over_time" => rf::ts_of_extreme(&window, false, notes),
                    "present_over_time" => rf::present_over_time(&window),
                    "stddev_over_time" => rf::variance_over_time(&window, true, notes),
                    "stdvar_over_time" => rf::variance_over_time(&window, false, notes),
                    "mad_over_time" => rf::mad_over_time(&window, notes),
                    "quantile_over_time" => rf::quantile_over_time(&window, scalar(0), notes),
                    "double_exponential_smoothing" => {
                        rf::double_exponential_smoothing(&window, scalar(0), scalar(1), notes)
                    }
                    other => {
                        return Err(Error::BadQuery(format!(
                            "function {other:?} is not supported"
                        )));
                    }
                };
                any |= point.is_some();
                points.push(point.unwrap_or_default());
            }
            if is_absent || !any {
                return Ok(());
            }
            if warn_counter
                && !metric_name.is_empty()
                && points.iter().any(|p| matches!(p, Point::F(_)))
                && !["_total", "_sum", "_count", "_bucket"]
                    .iter()
                    .any(|suffix| metric_name.ends_with(suffix))
                && !not_counter_names.iter().any(|n| n == metric_name)
            {
                not_counter_names.push(metric_name.to_owned());
            }
            let out = StepSeries {
                labels: Arc::clone(&series.labels),
                drop_name: drop_name || series.drop_name,
                points,
            };
            ev.budget.take(out.weight())?;
            output.push(out);
            Ok(())
        })?;
        for metric in not_counter_names {
            self.annotations.info(format!(
                "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}"
            ));
        }
        if is_absent {
            let points: Vec<Point> = covered
                .iter()
                .map(|&c| if c { Point::Absent } else { Point::F(1.0) })
                .collect();
            let series = StepSeries {
                labels: Arc::new(absent_labels(args[matrix_idx])),
                drop_name: true,
                points,
            };
            return Ok(Value::Vector(if series.is_empty() {
                Vec::new()
            } else {
                vec![series]
            }));
        }
        Ok(Value::Vector(output))
    }
}

/// Go's `math.Max`: NaN wins, and +0 is above -0.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() { b } else { a }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN wins, and -0 is below +0.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() { a } else { b }
    } else if a < b {
        a
    } else {
        b
    }
}

/// `labels` with `name` set to `value` (removed when `value` is empty).
fn with_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut pairs: Vec<Label> = labels.iter().filter(|l| l.name != name).cloned().collect();
    if !value.is_empty() {
        pairs.push(Label::new(name, value));
        pairs.sort();
    }
    Labels::from_sorted(pairs).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_compares_digit_runs_as_numbers() {
        assert!(natural_less("4m5", "4m600"));
        assert!(natural_less("4m600", "4m1000"));
        assert!(natural_less("1.2.3", "1.11.3"));
        assert!(natural_less("cpu2", "cpu10"));
        assert!(!natural_less("b", "a"));
    }

    #[test]
    fn dates_follow_the_civil_calendar() {
        assert_eq!(date_part("year", 1_136_239_445.0), 2006.0);
        assert_eq!(date_part("day_of_month", 1_136_239_445.0), 2.0);
        assert_eq!(date_part("day_of_week", 1_136_239_445.0), 1.0);
        assert_eq!(date_part("hour", 1_136_239_445.0), 22.0);
        assert_eq!(date_part("minute", 1_136_239_445.0), 4.0);
        assert_eq!(date_part("day_of_year", 1_483_191_420.0), 366.0);
        assert_eq!(date_part("days_in_month", 1_454_284_800.0), 29.0);
        assert_eq!(date_part("day_of_week", 0.0), 4.0);
    }
}
