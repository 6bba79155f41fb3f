//! `histogram_quantile` over classic histograms (series of cumulative `le` buckets) and
//! native histograms, `histogram_fraction`, and the native histogram statistics
//! (`histogram_count`, `_sum`, `_avg`, `_stddev`, `_stdvar`).

use std::collections::HashMap;
use std::sync::Arc;

use model::{Label, Labels};

use super::{Evaluator, kahan_inc};
use crate::histogram::FloatHistogram;
use crate::value::{Point, StepSeries};

/// Relative bucket differences below this are float noise, ignored by
/// `histogram_quantile` (as in Prometheus).
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// Prometheus's relative float comparison.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// The quantile `q` of cumulative classic buckets `(upper bound, count)`; also whether
/// monotonicity had to be forced. Linear interpolation within the bucket; the lowest
/// bucket starts at 0 if its upper bound is positive; a quantile in the +Inf bucket is
/// the upper bound of the bucket below it.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return (f64::NAN, false);
    }
    // Merge buckets with the same bound (`le="0.2"` and `le="2e-1"`).
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(bound, count) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    *buckets = merged;
    let mut forced = false;
    let mut previous = buckets[0].1;
    for bucket in buckets.iter_mut().skip(1) {
        let current = bucket.1;
        if current == previous {
            continue;
        }
        if almost_equal(previous, current, SMALL_DELTA_TOLERANCE) {
            bucket.1 = previous;
            continue;
        }
        if current < previous {
            bucket.1 = previous;
            forced = true;
            continue;
        }
        previous = current;
    }
    if buckets.len() < 2 {
        return (f64::NAN, false);
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return (f64::NAN, false);
    }
    let mut rank = q * observations;
    let last = buckets.len() - 1;
    let b = buckets[..last].partition_point(|bucket| bucket.1 < rank);
    if b == last {
        return (buckets[last - 1].0, forced);
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return (buckets[0].0, forced);
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}

/// The quantile `q` of a native histogram.
pub(crate) fn histogram_quantile(q: f64, h: &FloatHistogram) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if h.count == 0.0 || q.is_nan() {
        return f64::NAN;
    }
    let forward = h.sum.is_nan() || q < 0.5;
    let mut buckets = h.buckets_ascending();
    let mut rank = if forward {
        q * h.count
    } else {
        buckets.reverse();
        (1.0 - q) * h.count
    };
    let mut count = 0.0;
    let mut chosen = None;
    for bucket in &buckets {
        if bucket.count == 0.0 {
            continue;
        }
        count += bucket.count;
        chosen = Some(*bucket);
        if count >= rank {
            break;
        }
    }
    let Some(mut bucket) = chosen else {
        return f64::NAN;
    };
    if !h.uses_custom_buckets() && bucket.lower < 0.0 && bucket.upper > 0.0 {
        if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
            bucket.lower = 0.0;
        } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
            bucket.upper = 0.0;
        }
    } else if h.uses_custom_buckets() {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                return bucket.upper;
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            return bucket.lower;
        }
    }
    if count > h.count {
        count = h.count;
    }
    if count < rank {
        return bucket.upper;
    }
    if forward {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    bucket.lower + (bucket.upper - bucket.lower) * (rank / bucket.count)
}

/// The share of a native histogram's observations between `lower` and `upper`.
pub(crate) fn histogram_fraction(lower: f64, upper: f64, h: &FloatHistogram) -> f64 {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let only_positive = h.negative_buckets.is_empty() && !h.positive_buckets.is_empty();
    let only_negative = h.positive_buckets.is_empty() && !h.negative_buckets.is_empty();
    for mut b in h.buckets_ascending() {
        if b.lower < 0.0 && b.upper > 0.0 {
            if only_positive {
                b.lower = 0.0;
            } else if only_negative {
                b.upper = 0.0;
            }
        }
        if !lower_set && b.lower >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && b.lower >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && b.lower < lower && b.upper > lower {
            lower_rank = rank + b.count * (lower - b.lower) / (b.upper - b.lower);
            lower_set = true;
        }
        if !upper_set && b.lower < upper && b.upper > upper {
            upper_rank = rank + b.count * (upper - b.lower) / (b.upper - b.lower);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank += b.count;
    }
    if !lower_set || lower_rank > h.count {
        lower_rank = h.count;
    }
    if !upper_set || upper_rank > h.count {
        upper_rank = h.count;
    }
    (upper_rank - lower_rank) / h.count
}

/// The estimated variance of a native histogram's observations: every observation is
/// taken to be at its bucket's geometric mean (0 in the zero bucket).
pub(crate) fn histogram_variance(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let (mut variance, mut compensation) = (0.0, 0.0);
    for bucket in h.buckets_ascending() {
        if bucket.count == 0.0 {
            continue;
        }
        let value = if bucket.lower <= 0.0 && 0.0 <= bucket.upper {
            0.0
        } else {
            let value = (bucket.upper * bucket.lower).sqrt();
            if bucket.upper < 0.0 { -value } else { value }
        };
        let delta = value - mean;
        (variance, compensation) = kahan_inc(bucket.count * delta * delta, variance, compensation);
    }
    (variance + compensation) / h.count
}

/// What `histogram_quantile`/`histogram_fraction` compute per histogram.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HistogramAsk {
    Quantile,
    Fraction,
}

impl Evaluator<'_> {
    /// `histogram_quantile(q, v)` (or `histogram_fraction(lower, upper, v)`): classic
    /// buckets grouped by their labels without `le`, and native histograms.
    pub(crate) fn histogram_quantile_or_fraction(
        &mut self,
        ask: HistogramAsk,
        params: &[Vec<f64>],
        input: &[StepSeries],
        steps: usize,
    ) -> Vec<StepSeries> {
        // Classic buckets: series that differ only in `le` belong together.
        let mut groups: HashMap<Labels, usize> = HashMap::new();
        let mut group_members: Vec<Vec<(usize, f64)>> = Vec::new();
        let mut group_labels: Vec<Labels> = Vec::new();
        let mut bad_le: Vec<usize> = Vec::new();
        let mut natives: Vec<usize> = Vec::new();
        for (idx, series) in input.iter().enumerate() {
            let has_histogram = series.points.iter().any(|p| matches!(p, Point::H(_)));
            let has_float = series.points.iter().any(|p| matches!(p, Point::F(_)));
            if has_histogram {
                natives.push(idx);
            }
            if !has_float {
                continue;
            }
            let bound = series.labels.get("le").and_then(parse_le);
            let Some(bound) = bound else {
                bad_le.push(idx);
                continue;
            };
            let key: Vec<Label> = series
                .labels
                .iter()
                .filter(|l| l.name != "le")
                .cloned()
                .collect();
            let key = Labels::from_sorted(key).unwrap_or_default();
            let group = *groups.entry(key.clone()).or_insert_with(|| {
                group_labels.push(key.without(model::labels::METRIC_NAME));
                group_members.push(Vec::new());
                group_labels.len() - 1
            });
            group_members[group].push((idx, bound));
        }
        for &idx in &bad_le {
            let labels = &input[idx].labels;
            self.annotations.warn(format!(
                "bucket label \"le\" is missing or has a malformed value of {:?} for metric name {:?}",
                labels.get("le").unwrap_or(""),
                labels.metric_name().unwrap_or("")
            ));
        }
        let mut output: Vec<StepSeries> = Vec::new();
        // Native histograms, in input order.
        for &idx in &natives {
            let series = &input[idx];
            let mut points = vec![Point::Absent; steps];
            for (step, point) in series.points.iter().enumerate() {
                let Point::H(h) = point else {
                    continue;
                };
                // A classic histogram with the very same labels at this step: ambiguous.
                if groups.get(&series.labels).is_some_and(|&g| {
                    group_members[g]
                        .iter()
                        .any(|&(member, _)| input[member].points[step].float().is_some())
                }) {
                    self.annotations.warn(format!(
                        "vector contains a mix of classic and native histograms for metric name {:?}",
                        series.labels.metric_name().unwrap_or("")
                    ));
                    continue;
                }
                let value = match ask {
                    HistogramAsk::Quantile => histogram_quantile(params[0][step], h),
                    HistogramAsk::Fraction => {
                        histogram_fraction(params[0][step], params[1][step], h)
                    }
                };
                points[step] = Point::F(value);
            }
            if points.iter().any(Point::is_present) {
                output.push(StepSeries {
                    labels: Arc::clone(&series.labels),
                    drop_name: true,
                    points,
                });
            }
        }
        if let HistogramAsk::Quantile = ask {
            let mut buckets: Vec<(f64, f64)> = Vec::new();
            for (group, members) in group_members.iter().enumerate() {
                let mut points = vec![Point::Absent; steps];
                let key = groups
                    .iter()
                    .find_map(|(key, &g)| (g == group).then_some(key));
                for (step, point) in points.iter_mut().enumerate() {
                    buckets.clear();
                    buckets.extend(members.iter().filter_map(|&(member, bound)| {
                        input[member].points[step]
                            .float()
                            .map(|count| (bound, count))
                    }));
                    if buckets.is_empty() {
                        continue;
                    }
                    let native_here = key.is_some_and(|key| {
                        natives.iter().any(|&n| {
                            *input[n].labels == *key && matches!(input[n].points[step], Point::H(_))
                        })
                    });
                    if native_here {
                        continue;
                    }
                    let (value, forced) = bucket_quantile(params[0][step], &mut buckets);
                    if forced {
                        self.annotations.info(format!(
                            "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?}",
                            key.and_then(|k| k.metric_name()).unwrap_or("")
                        ));
                    }
                    *point = Point::F(value);
                }
                if points.iter().any(Point::is_present) {
                    output.push(StepSeries {
                        labels: Arc::new(group_labels[group].clone()),
                        drop_name: true,
                        points,
                    });
                }
            }
        }
        output
    }
}

/// An `le` label value as a number (`+Inf`, `1e-1`, `0.1`...).
fn parse_le(value: &str) -> Option<f64> {
    match value {
        "+Inf" | "+inf" | "Inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => value.parse::<f64>().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_quantiles_interpolate_and_force_monotonicity() {
        let mut buckets = vec![
            (0.1, 20.0),
            (1.0, 10.0),
            (10.0, 50.0),
            (100.0, 40.0),
            (1000.0, 90.0),
            (f64::INFINITY, 80.0),
        ];
        let (q, forced) = bucket_quantile(0.5, &mut buckets);
        assert!((q - 8.5).abs() < 1e-12 && forced);
        // `le="0.2"`, `le="2e-1"` and `le="2.0e-1"` are one bucket.
        let mut buckets = vec![
            (0.1, 1.0),
            (0.2, 1.0),
            (0.2, 1.0),
            (0.2, 1.0),
            (f64::INFINITY, 4.0),
        ];
        assert!((bucket_quantile(0.5, &mut buckets).0 - 0.15).abs() < 1e-12);
        let mut only_inf = vec![(f64::INFINITY, 3.0)];
        assert!(bucket_quantile(0.5, &mut only_inf).0.is_nan());
        let mut no_inf = vec![(1.0, 3.0), (2.0, 4.0)];
        assert!(bucket_quantile(0.5, &mut no_inf).0.is_nan());
    }

    #[test]
    fn le_values_parse_like_prometheus() {
        assert_eq!(parse_le("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_le("2.0e-1"), Some(0.2));
        assert_eq!(parse_le("x"), None);
    }
}
