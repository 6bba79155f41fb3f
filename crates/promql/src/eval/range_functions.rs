//! Functions of one series' samples in a window: `rate`, `increase`, `delta`, `irate`,
//! `idelta`, `deriv`, `predict_linear`, `changes`, `resets`, the `*_over_time` family
//! and `double_exponential_smoothing`, computed as Prometheus 3 computes them
//! (extrapolation to the window's edges, counter resets, Kahan-compensated sums).

use std::sync::Arc;

use super::aggregate::quantile;
use super::kahan_inc;
use crate::annotations::Annotations;
use crate::histogram::{CounterResetHint, FloatHistogram, HistogramError};
use crate::value::Point;

/// One window of one series, and where it sits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window<'s> {
    pub(crate) floats: &'s [(i64, f64)],
    pub(crate) hists: &'s [(i64, Arc<FloatHistogram>)],
    /// Exclusive start and inclusive end, milliseconds.
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// The evaluation time (differs from `end` under `offset` or `@`).
    pub(crate) eval_time: i64,
    pub(crate) metric_name: &'s str,
}

impl Window<'_> {
    fn range_seconds(&self) -> f64 {
        (self.end - self.start) as f64 / 1000.0
    }

    fn is_mixed(&self) -> bool {
        !self.floats.is_empty() && !self.hists.is_empty()
    }
}

fn mixed_warning(notes: &mut Annotations, window: &Window<'_>) {
    notes.warn(format!(
        "encountered a mix of histograms and floats for metric name {:?}",
        window.metric_name
    ));
}

fn ignored_histograms_info(notes: &mut Annotations, window: &Window<'_>) {
    notes.info(format!(
        "ignored histograms in a range containing both floats and histograms for metric name {:?}",
        window.metric_name
    ));
}

/// `rate`, `increase` and `delta`: the change over the window, extrapolated towards the
/// window's edges (at most half a sampling interval beyond the outer samples, and for
/// counters never below zero).
pub(crate) fn extrapolated_rate(
    window: &Window<'_>,
    is_counter: bool,
    is_rate: bool,
    notes: &mut Annotations,
) -> Option<Point> {
    if window.is_mixed() {
        mixed_warning(notes, window);
        return None;
    }
    let (first_t, last_t, n, mut result_float, mut result_hist) = if window.hists.len() > 1 {
        let h = histogram_rate(window, is_counter, notes)?;
        let n = window.hists.len();
        (window.hists[0].0, window.hists[n - 1].0, n, 0.0, Some(h))
    } else if window.floats.len() > 1 {
        let floats = window.floats;
        let n = floats.len();
        let mut result = floats[n - 1].1 - floats[0].1;
        if is_counter {
            for pair in floats.windows(2) {
                if pair[1].1 < pair[0].1 {
                    result += pair[0].1;
                }
            }
        }
        (floats[0].0, floats[n - 1].0, n, result, None)
    } else {
        return None;
    };
    let mut to_start = (first_t - window.start) as f64 / 1000.0;
    let mut to_end = (window.end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let average = sampled / (n - 1) as f64;
    let threshold = average * 1.1;
    if to_start >= threshold {
        to_start = average / 2.0;
    }
    if is_counter {
        let mut to_zero = to_start;
        match &result_hist {
            None => {
                let first = window.floats[0].1;
                if result_float > 0.0 && first >= 0.0 {
                    to_zero = sampled * (first / result_float);
                }
            }
            Some(h) => {
                let first = &window.hists[0].1;
                if h.count > 0.0 && first.count >= 0.0 {
                    to_zero = sampled * (first.count / h.count);
                }
            }
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = average / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= window.range_seconds();
    }
    match result_hist.as_mut() {
        Some(h) => {
            h.mul(factor);
            Some(Point::H(Arc::new(std::mem::take(h))))
        }
        None => {
            result_float *= factor;
            Some(Point::F(result_float))
        }
    }
}

fn mixed_schemas(notes: &mut Annotations, metric_name: &str) {
    notes.warn(format!(
        "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {metric_name:?}"
    ));
}

/// The change between the first and last native histogram of the window, counter resets
/// folded in.
fn histogram_rate(
    window: &Window<'_>,
    is_counter: bool,
    notes: &mut Annotations,
) -> Option<FloatHistogram> {
    let points = window.hists;
    let mut previous: FloatHistogram = (*points[0].1).clone();
    let last = &points[points.len() - 1].1;
    let not_counter = |h: &FloatHistogram| h.counter_reset_hint == CounterResetHint::Gauge;
    if is_counter && (not_counter(&previous) || not_counter(last)) {
        notes.warn(format!(
            "this native histogram metric is not a counter: {:?}",
            window.metric_name
        ));
    }
    if is_counter && points.len() > 1 {
        let second = &points[1].1;
        if second.detect_reset(&previous) {
            previous = FloatHistogram {
                schema: second.schema,
                custom_values: second.custom_values.clone(),
                ..FloatHistogram::default()
            };
        }
    }
    if last.uses_custom_buckets() != previous.uses_custom_buckets() {
        mixed_schemas(notes, window.metric_name);
        return None;
    }
    let mut min_schema = last.schema.min(previous.schema);
    for (_, h) in &points[1..points.len() - 1] {
        if h.uses_custom_buckets() != previous.uses_custom_buckets() {
            mixed_schemas(notes, window.metric_name);
            return None;
        }
        if is_counter && not_counter(h) {
            notes.warn(format!(
                "this native histogram metric is not a counter: {:?}",
                window.metric_name
            ));
        }
        min_schema = min_schema.min(h.schema);
    }
    let mut h = last.to_schema(min_schema);
    if let Err(err) = h.sub(&previous) {
        match err {
            HistogramError::IncompatibleSchema => mixed_schemas(notes, window.metric_name),
            HistogramError::IncompatibleBounds => notes.warn(format!(
                "vector contains histograms with incompatible custom buckets for metric name {:?}",
                window.metric_name
            )),
        }
        return None;
    }
    if is_counter {
        for pair in points.windows(2) {
            let (before, after) = (&pair[0].1, &pair[1].1);
            let before: &FloatHistogram = if std::ptr::eq(&**before, &*points[0].1) {
                &previous
            } else {
                before
            };
            if after.detect_reset(before) && h.add(before).is_err() {
                mixed_schemas(notes, window.metric_name);
                return None;
            }
        }
    } else if !not_counter(&points[0].1) || !not_counter(last) {
        notes.warn(format!(
            "this native histogram metric is not a gauge: {:?}",
            window.metric_name
        ));
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    Some(h.compacted())
}

/// `irate` and `idelta`: from the last two samples.
pub(crate) fn instant_value(
    window: &Window<'_>,
    is_rate: bool,
    notes: &mut Annotations,
) -> Option<Point> {
    if window.floats.len() + window.hists.len() < 2 {
        return None;
    }
    // The last two samples, floats or histograms, in time order.
    let mut last_two: Vec<(i64, Point)> = Vec::with_capacity(4);
    for &(t, v) in window.floats.iter().rev().take(2) {
        last_two.push((t, Point::F(v)));
    }
    for (t, h) in window.hists.iter().rev().take(2) {
        last_two.push((*t, Point::H(Arc::clone(h))));
    }
    last_two.sort_by_key(|(t, _)| *t);
    let (previous, last) = (&last_two[last_two.len() - 2], &last_two[last_two.len() - 1]);
    let interval = last.0 - previous.0;
    if interval == 0 {
        return None;
    }
    let per_second = |v: f64| {
        if is_rate {
            v / (interval as f64 / 1000.0)
        } else {
            v
        }
    };
    match (&previous.1, &last.1) {
        (Point::F(before), Point::F(after)) => {
            let value = if is_rate && after < before {
                // A counter reset: the counter restarted from zero.
                *after
            } else {
                after - before
            };
            Some(Point::F(per_second(value)))
        }
        (Point::H(before), Point::H(after)) => {
            let mut result = (**after).clone();
            let gauge = |h: &FloatHistogram| h.counter_reset_hint == CounterResetHint::Gauge;
            if is_rate && (gauge(after) || gauge(before)) {
                notes.warn(format!(
                    "this native histogram metric is not a counter: {:?}",
                    window.metric_name
                ));
            }
            if !is_rate && (!gauge(after) || !gauge(before)) {
                notes.warn(format!(
                    "this native histogram metric is not a gauge: {:?}",
                    window.metric_name
                ));
            }
            if (!is_rate || !after.detect_reset(before)) && result.sub(before).is_err() {
                notes.warn(format!(
                    "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {:?}",
                    window.metric_name
                ));
                return None;
            }
            result.counter_reset_hint = CounterResetHint::Gauge;
            result.compact(0);
            if is_rate {
                result.div(interval as f64 / 1000.0);
            }
            Some(Point::H(Arc::new(result)))
        }
        _ => {
            mixed_warning(notes, window);
            None
        }
    }
}

/// Least-squares slope and the intercept at `intercept_time`.
fn linear_regression(samples: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in samples.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

fn floats_only<'w>(window: &Window<'w>, notes: &mut Annotations) -> Option<&'w [(i64, f64)]> {
    if window.floats.is_empty() {
        return None;
    }
    if !window.hists.is_empty() {
        ignored_histograms_info(notes, window);
    }
    Some(window.floats)
}

pub(crate) fn deriv(window: &Window<'_>, notes: &mut Annotations) -> Option<Point> {
    if window.floats.len() < 2 {
        if window.floats.len() == 1 && !window.hists.is_empty() {
            ignored_histograms_info(notes, window);
        }
        return None;
    }
    if !window.hists.is_empty() {
        ignored_histograms_info(notes, window);
    }
    let (slope, _) = linear_regression(window.floats, window.floats[0].0);
    Some(Point::F(slope))
}

pub(crate) fn predict_linear(
    window: &Window<'_>,
    duration: f64,
    notes: &mut Annotations,
) -> Option<Point> {
    if window.floats.len() < 2 {
        if window.floats.len() == 1 && !window.hists.is_empty() {
            ignored_histograms_info(notes, window);
        }
        return None;
    }
    if !window.hists.is_empty() {
        ignored_histograms_info(notes, window);
    }
    let (slope, intercept) = linear_regression(window.floats, window.eval_time);
    Some(Point::F(slope * duration + intercept))
}

/// The window's samples, floats and histograms, in time order.
fn merged<'w>(window: &Window<'w>) -> Vec<Point> {
    let (mut fi, mut hi) = (0, 0);
    let mut out = Vec::with_capacity(window.floats.len() + window.hists.len());
    while fi < window.floats.len() || hi < window.hists.len() {
        let take_float = hi >= window.hists.len()
            || (fi < window.floats.len() && window.floats[fi].0 < window.hists[hi].0);
        if take_float {
            out.push(Point::F(window.floats[fi].1));
            fi += 1;
        } else {
            out.push(Point::H(Arc::clone(&window.hists[hi].1)));
            hi += 1;
        }
    }
    out
}

/// `changes` (`counting_resets = false`) and `resets`.
pub(crate) fn changes_or_resets(window: &Window<'_>, counting_resets: bool) -> Option<Point> {
    let samples = merged(window);
    if samples.is_empty() {
        return None;
    }
    let mut count = 0.0;
    for pair in samples.windows(2) {
        let changed = match (&pair[0], &pair[1]) {
            (Point::F(before), Point::F(after)) => {
                if counting_resets {
                    after < before
                } else {
                    before != after && !(before.is_nan() && after.is_nan())
                }
            }
            (Point::H(before), Point::H(after)) => {
                if counting_resets {
                    after.detect_reset(before)
                } else {
                    !after.equals(before)
                }
            }
            _ => true,
        };
        if changed {
            count += 1.0;
        }
    }
    Some(Point::F(count))
}

/// The mean of the window's floats: a compensated sum while it does not overflow, then
/// an incremental mean.
fn float_mean(floats: &[(i64, f64)]) -> f64 {
    let (mut sum, mut count) = (floats[0].1, 1.0);
    let (mut mean, mut compensation) = (0.0, 0.0);
    let mut incremental = false;
    for (i, &(_, f)) in floats.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        if !incremental {
            let (new_sum, new_c) = kahan_inc(f, sum, compensation);
            if !new_sum.is_infinite() {
                sum = new_sum;
                compensation = new_c;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            compensation /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, compensation) = kahan_inc(f / count, q * mean, q * compensation);
    }
    if incremental {
        mean + compensation
    } else {
        sum / count + compensation / count
    }
}

pub(crate) fn avg_over_time(window: &Window<'_>, notes: &mut Annotations) -> Option<Point> {
    if window.is_mixed() {
        mixed_warning(notes, window);
        return None;
    }
    if !window.floats.is_empty() {
        return Some(Point::F(float_mean(window.floats)));
    }
    let hists = window.hists;
    let mut mean = (*hists.first()?.1).clone();
    for (i, (_, h)) in hists.iter().enumerate().skip(1) {
        let count = (i + 1) as f64;
        // mean += (h - mean) / count
        let mut step = (**h).clone();
        step.div(count);
        let mut shrunk = mean.clone();
        shrunk.div(count);
        if step.sub(&shrunk).and_then(|()| mean.add(&step)).is_err() {
            notes.warn(format!(
                "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {:?}",
                window.metric_name
            ));
            return None;
        }
    }
    Some(Point::H(Arc::new(mean.compacted())))
}

pub(crate) fn sum_over_time(window: &Window<'_>, notes: &mut Annotations) -> Option<Point> {
    if window.is_mixed() {
        mixed_warning(notes, window);
        return None;
    }
    if !window.floats.is_empty() {
        let (mut sum, mut c) = (0.0, 0.0);
        for &(_, f) in window.floats {
            (sum, c) = kahan_inc(f, sum, c);
        }
        return Some(Point::F(if sum.is_infinite() { sum } else { sum + c }));
    }
    let mut sum = (*window.hists.first()?.1).clone();
    for (_, h) in &window.hists[1..] {
        if sum.add(h).is_err() {
            notes.warn(format!(
                "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {:?}",
                window.metric_name
            ));
            return None;
        }
    }
    Some(Point::H(Arc::new(sum.compacted())))
}

pub(crate) fn min_max_over_time(
    window: &Window<'_>,
    max: bool,
    notes: &mut Annotations,
) -> Option<Point> {
    let floats = floats_only(window, notes)?;
    let mut best = floats[0].1;
    for &(_, f) in floats {
        let better = if max { f > best } else { f < best };
        if better || best.is_nan() {
            best = f;
        }
    }
    Some(Point::F(best))
}

/// `ts_of_min_over_time`, `ts_of_max_over_time`: when the extreme was (the last time,
/// on ties).
pub(crate) fn ts_of_extreme(
    window: &Window<'_>,
    max: bool,
    notes: &mut Annotations,
) -> Option<Point> {
    let floats = floats_only(window, notes)?;
    let (mut best, mut at) = (floats[0].1, floats[0].0);
    for &(t, f) in floats {
        let better = if max { f >= best } else { f <= best };
        if better || best.is_nan() {
            best = f;
            at = t;
        }
    }
    Some(Point::F(at as f64 / 1000.0))
}

pub(crate) fn variance_over_time(
    window: &Window<'_>,
    deviation: bool,
    notes: &mut Annotations,
) -> Option<Point> {
    let floats = floats_only(window, notes)?;
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, f) in floats {
        count += 1.0;
        let delta = f - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (f - (mean + c_mean)), aux, c_aux);
    }
    let variance = (aux + c_aux) / count;
    Some(Point::F(if deviation { variance.sqrt() } else { variance }))
}

pub(crate) fn quantile_over_time(
    window: &Window<'_>,
    q: f64,
    notes: &mut Annotations,
) -> Option<Point> {
    let floats = floats_only(window, notes)?;
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        notes.warn(format!("quantile value should be between 0 and 1, got {q}"));
    }
    let mut values: Vec<f64> = floats.iter().map(|&(_, f)| f).collect();
    Some(Point::F(quantile(q, &mut values)))
}

pub(crate) fn mad_over_time(window: &Window<'_>, notes: &mut Annotations) -> Option<Point> {
    let floats = floats_only(window, notes)?;
    let mut values: Vec<f64> = floats.iter().map(|&(_, f)| f).collect();
    let median = quantile(0.5, &mut values);
    let mut deviations: Vec<f64> = floats.iter().map(|&(_, f)| (f - median).abs()).collect();
    Some(Point::F(quantile(0.5, &mut deviations)))
}

/// `last_over_time` (`last = true`) and `first_over_time`.
pub(crate) fn edge_over_time(window: &Window<'_>, last: bool) -> Option<Point> {
    let float = if last {
        window.floats.last()
    } else {
        window.floats.first()
    };
    let hist = if last {
        window.hists.last()
    } else {
        window.hists.first()
    };
    match (float, hist) {
        (Some(&(ft, f)), Some((ht, h))) => {
            let float_wins = if last { ft > *ht } else { ft < *ht };
            Some(if float_wins {
                Point::F(f)
            } else {
                Point::H(Arc::clone(h))
            })
        }
        (Some(&(_, f)), None) => Some(Point::F(f)),
        (None, Some((_, h))) => Some(Point::H(Arc::clone(h))),
        (None, None) => None,
    }
}

/// `ts_of_last_over_time` and `ts_of_first_over_time`.
pub(crate) fn ts_of_edge(window: &Window<'_>, last: bool) -> Option<Point> {
    let times = window
        .floats
        .iter()
        .map(|(t, _)| *t)
        .chain(window.hists.iter().map(|(t, _)| *t));
    let t = if last { times.max() } else { times.min() }?;
    Some(Point::F(t as f64 / 1000.0))
}

pub(crate) fn count_over_time(window: &Window<'_>) -> Option<Point> {
    let n = window.floats.len() + window.hists.len();
    (n > 0).then_some(Point::F(n as f64))
}

pub(crate) fn present_over_time(window: &Window<'_>) -> Option<Point> {
    (!window.floats.is_empty() || !window.hists.is_empty()).then_some(Point::F(1.0))
}

/// Holt's linear method (`double_exponential_smoothing`, formerly `holt_winters`).
pub(crate) fn double_exponential_smoothing(
    window: &Window<'_>,
    smoothing: f64,
    trend: f64,
    notes: &mut Annotations,
) -> Option<Point> {
    let floats = window.floats;
    if floats.len() < 2 {
        if floats.len() == 1 && !window.hists.is_empty() {
            ignored_histograms_info(notes, window);
        }
        return None;
    }
    let trend_value = |i: usize, s0: f64, s1: f64, b: f64| {
        if i == 0 {
            b
        } else {
            trend * (s1 - s0) + (1.0 - trend) * b
        }
    };
    let (mut s0, mut s1) = (0.0, floats[0].1);
    let mut b = floats[1].1 - floats[0].1;
    for (i, &(_, f)) in floats.iter().enumerate().skip(1) {
        let x = smoothing * f;
        b = trend_value(i - 1, s0, s1, b);
        let y = (1.0 - smoothing) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    if !window.hists.is_empty() {
        ignored_histograms_info(notes, window);
    }
    Some(Point::F(s1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(floats: &[(i64, f64)], start: i64, end: i64) -> Window<'_> {
        Window {
            floats,
            hists: &[],
            start,
            end,
            eval_time: end,
            metric_name: "x",
        }
    }

    #[test]
    fn rate_extrapolates_to_the_window_but_not_below_zero() {
        // 0, 10, ..., 100 every 5m: the window (0, 50m] of increase(...[50m]) at 50m.
        let floats: Vec<(i64, f64)> = (0..=10).map(|i| (i * 300_000, i as f64 * 10.0)).collect();
        let mut notes = Annotations::default();
        let increase =
            extrapolated_rate(&window(&floats[1..], 0, 3_000_000), true, false, &mut notes);
        assert_eq!(increase, Some(Point::F(100.0)));
        // 1+10x10 seen over 100m: the zero point is 30s before the first sample.
        let floats: Vec<(i64, f64)> = (0..=10)
            .map(|i| (i * 300_000, 1.0 + i as f64 * 10.0))
            .collect();
        let increase = extrapolated_rate(
            &window(&floats, -3_000_000, 3_000_000),
            true,
            false,
            &mut notes,
        );
        assert_eq!(increase, Some(Point::F(101.0)));
    }

    #[test]
    fn linear_regression_matches_the_worked_example() {
        // Y = 0 10 20 30 40 0 10 20 30 40 50 at X = 0..3000 s in 300 s steps.
        let ys = [
            0.0, 10.0, 20.0, 30.0, 40.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0,
        ];
        let samples: Vec<(i64, f64)> = ys
            .iter()
            .enumerate()
            .map(|(i, &y)| (i as i64 * 300_000, y))
            .collect();
        let (slope, intercept) = linear_regression(&samples, 3_000_000);
        assert!((slope - 0.010606060606060607).abs() < 1e-15);
        assert!((intercept - 38.63636363636364).abs() < 1e-9);
    }
}
