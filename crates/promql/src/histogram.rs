//! Native histograms as PromQL evaluates them: float counts in exponential buckets
//! (schemas -4..=8) or in custom buckets (schema -53, "NHCB", the shape a classic
//! histogram takes when converted).
//!
//! The layout follows Prometheus's `FloatHistogram`: buckets are addressed by index and
//! stored in runs ("spans") so a histogram with a few populated buckets stays small.
//! Exponential bucket `i` at schema `s` covers `(base^(i-1), base^i]` with
//! `base = 2^(2^-s)`; negative buckets mirror them below zero; the zero bucket covers
//! `[-zero_threshold, zero_threshold]`. Custom bucket `i` covers
//! `(custom_values[i-1], custom_values[i]]`, the first starting at -Inf and the last
//! ending at +Inf.

use std::fmt::{self, Write as _};

/// The schema number of histograms with custom bucket bounds.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// What the writer of a histogram said about counter resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterResetHint {
    #[default]
    Unknown,
    CounterReset,
    NotCounterReset,
    /// A gauge histogram: counts go up and down, resets mean nothing.
    Gauge,
}

impl CounterResetHint {
    pub fn as_str(self) -> &'static str {
        match self {
            CounterResetHint::Unknown => "unknown",
            CounterResetHint::CounterReset => "reset",
            CounterResetHint::NotCounterReset => "not_reset",
            CounterResetHint::Gauge => "gauge",
        }
    }
}

/// A run of consecutive buckets: `offset` is the gap to the previous run's end (or the
/// first index, for the first span), `length` the number of buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: i32,
    pub length: u32,
}

/// One bucket with its bounds, as iterators yield it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub count: f64,
}

/// Why two histograms cannot be combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HistogramError {
    #[error("histograms have incompatible schemas (exponential and custom buckets)")]
    IncompatibleSchema,
    #[error("histograms have incompatible custom bucket bounds")]
    IncompatibleBounds,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    pub counter_reset_hint: CounterResetHint,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    pub positive_buckets: Vec<f64>,
    pub negative_spans: Vec<Span>,
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of the custom buckets, ascending, without the final +Inf.
    pub custom_values: Vec<f64>,
}

/// Absolute bucket indices of a span layout, in order.
fn indices(spans: &[Span]) -> impl Iterator<Item = i32> + '_ {
    let mut next = 0i32;
    spans.iter().flat_map(move |span| {
        let start = next + span.offset;
        next = start + span.length as i32;
        (0..span.length as i32).map(move |i| start + i)
    })
}

/// Builds spans and buckets from `(index, count)` pairs in ascending index order. Runs of
/// consecutive indices become spans; `keep` decides which pairs survive.
fn layout(pairs: &[(i32, f64)]) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut buckets = Vec::with_capacity(pairs.len());
    let mut end: Option<i32> = None;
    for &(idx, count) in pairs {
        match end {
            Some(e) if idx == e => {
                if let Some(last) = spans.last_mut() {
                    last.length += 1;
                }
            }
            Some(e) => spans.push(Span {
                offset: idx - e,
                length: 1,
            }),
            None => spans.push(Span {
                offset: idx,
                length: 1,
            }),
        }
        end = Some(idx + 1);
        buckets.push(count);
    }
    (spans, buckets)
}

/// Pairs of one side of a histogram.
fn pairs(spans: &[Span], buckets: &[f64]) -> Vec<(i32, f64)> {
    indices(spans).zip(buckets.iter().copied()).collect()
}

/// Merges two ascending pair lists, combining counts of equal indices with `f`.
fn merge_pairs(a: &[(i32, f64)], b: &[(i32, f64)], f: impl Fn(f64, f64) -> f64) -> Vec<(i32, f64)> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(&(ia, ca)), Some(&(ib, cb))) if ia == ib => {
                out.push((ia, f(ca, cb)));
                i += 1;
                j += 1;
            }
            (Some(&(ia, ca)), Some(&(ib, _))) if ia < ib => {
                out.push((ia, f(ca, 0.0)));
                i += 1;
            }
            (Some(_), Some(&(ib, cb))) | (None, Some(&(ib, cb))) => {
                out.push((ib, f(0.0, cb)));
                j += 1;
            }
            (Some(&(ia, ca)), None) => {
                out.push((ia, f(ca, 0.0)));
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// The index a bucket of `from` schema falls into at the coarser `to` schema.
fn target_index(idx: i32, from: i32, to: i32) -> i32 {
    ((idx - 1) >> (from - to)) + 1
}

/// Upper bound of exponential bucket `idx` at `schema`.
pub fn exponential_bound(idx: i32, schema: i32) -> f64 {
    if schema < 0 {
        let exp = i64::from(idx) << (-schema);
        if exp == 1024 {
            return f64::MAX;
        }
        return ldexp(1.0, exp);
    }
    let per_octave = 1i32 << schema;
    let frac_idx = idx & (per_octave - 1);
    let frac = (f64::from(frac_idx) / f64::from(per_octave) - 1.0).exp2();
    let exp = i64::from(idx >> schema) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(frac, exp)
}

fn ldexp(frac: f64, exp: i64) -> f64 {
    if exp > 1100 {
        return f64::INFINITY * frac.signum();
    }
    if exp < -1100 {
        return 0.0;
    }
    // Two steps keep intermediate powers of two representable.
    let half = exp / 2;
    frac * (half as f64).exp2() * ((exp - half) as f64).exp2()
}

impl FloatHistogram {
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Bounds of positive bucket `idx`.
    fn positive_bounds(&self, idx: i32) -> (f64, f64) {
        if self.uses_custom_buckets() {
            let at = |i: i32| -> f64 {
                if i < 0 {
                    f64::NEG_INFINITY
                } else {
                    self.custom_values
                        .get(i as usize)
                        .copied()
                        .unwrap_or(f64::INFINITY)
                }
            };
            (at(idx - 1), at(idx))
        } else {
            (
                exponential_bound(idx - 1, self.schema),
                exponential_bound(idx, self.schema),
            )
        }
    }

    /// Every bucket in ascending order of bounds: negative buckets, the zero bucket (if
    /// it holds observations), positive buckets. Empty buckets of the layout included.
    pub fn buckets_ascending(&self) -> Vec<Bucket> {
        let mut out =
            Vec::with_capacity(self.negative_buckets.len() + self.positive_buckets.len() + 1);
        let negative = pairs(&self.negative_spans, &self.negative_buckets);
        for &(idx, count) in negative.iter().rev() {
            let (lower, upper) = self.positive_bounds(idx);
            out.push(Bucket {
                lower: -upper,
                upper: -lower,
                count,
            });
        }
        if self.zero_count > 0.0 {
            out.push(Bucket {
                lower: -self.zero_threshold,
                upper: self.zero_threshold,
                count: self.zero_count,
            });
        }
        for (idx, count) in pairs(&self.positive_spans, &self.positive_buckets) {
            let (lower, upper) = self.positive_bounds(idx);
            out.push(Bucket {
                lower,
                upper,
                count,
            });
        }
        out
    }

    /// Removes empty buckets, merging runs separated by at most `max_empty` empty
    /// buckets into one span.
    pub fn compact(&mut self, max_empty: i32) {
        fn side(spans: &mut Vec<Span>, buckets: &mut Vec<f64>, max_empty: i32) {
            let kept: Vec<(i32, f64)> = pairs(spans, buckets)
                .into_iter()
                .filter(|&(_, c)| c != 0.0)
                .collect();
            let mut filled: Vec<(i32, f64)> = Vec::with_capacity(kept.len());
            for (idx, count) in kept {
                if let Some(&(last, _)) = filled.last() {
                    let gap = idx - last - 1;
                    if gap > 0 && gap <= max_empty {
                        filled.extend((last + 1..idx).map(|i| (i, 0.0)));
                    }
                }
                filled.push((idx, count));
            }
            (*spans, *buckets) = layout(&filled);
        }
        side(
            &mut self.positive_spans,
            &mut self.positive_buckets,
            max_empty,
        );
        side(
            &mut self.negative_spans,
            &mut self.negative_buckets,
            max_empty,
        );
    }

    pub fn compacted(mut self) -> Self {
        self.compact(0);
        self
    }

    /// Scales every count and the sum.
    pub fn mul(&mut self, factor: f64) {
        self.zero_count *= factor;
        self.count *= factor;
        self.sum *= factor;
        self.positive_buckets.iter_mut().for_each(|b| *b *= factor);
        self.negative_buckets.iter_mut().for_each(|b| *b *= factor);
    }

    pub fn div(&mut self, divisor: f64) {
        self.zero_count /= divisor;
        self.count /= divisor;
        self.sum /= divisor;
        self.positive_buckets.iter_mut().for_each(|b| *b /= divisor);
        self.negative_buckets.iter_mut().for_each(|b| *b /= divisor);
    }

    /// This histogram at a coarser (lower) exponential schema.
    pub fn to_schema(&self, target: i32) -> FloatHistogram {
        let mut out = self.clone();
        if self.uses_custom_buckets() || target >= self.schema {
            return out;
        }
        let reduce = |spans: &[Span], buckets: &[f64]| {
            let mut reduced: Vec<(i32, f64)> = Vec::new();
            for (idx, count) in pairs(spans, buckets) {
                let t = target_index(idx, self.schema, target);
                match reduced.last_mut() {
                    Some((last, c)) if *last == t => *c += count,
                    _ => reduced.push((t, count)),
                }
            }
            layout(&reduced)
        };
        (out.positive_spans, out.positive_buckets) =
            reduce(&self.positive_spans, &self.positive_buckets);
        (out.negative_spans, out.negative_buckets) =
            reduce(&self.negative_spans, &self.negative_buckets);
        out.schema = target;
        out
    }

    /// Moves buckets that fall inside a wider zero threshold into the zero bucket.
    fn widen_zero_bucket(&mut self, threshold: f64) {
        if threshold <= self.zero_threshold {
            return;
        }
        let mut moved = 0.0;
        let mut keep = |spans: &mut Vec<Span>, buckets: &mut Vec<f64>, schema: i32| {
            let kept: Vec<(i32, f64)> = pairs(spans, buckets)
                .into_iter()
                .filter(|&(idx, count)| {
                    let inside = exponential_bound(idx, schema) <= threshold;
                    if inside {
                        moved += count;
                    }
                    !inside
                })
                .collect();
            (*spans, *buckets) = layout(&kept);
        };
        keep(
            &mut self.positive_spans,
            &mut self.positive_buckets,
            self.schema,
        );
        keep(
            &mut self.negative_spans,
            &mut self.negative_buckets,
            self.schema,
        );
        self.zero_count += moved;
        self.zero_threshold = threshold;
    }

    fn combine(&mut self, other: &FloatHistogram, sign: f64) -> Result<(), HistogramError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::IncompatibleSchema);
        }
        let mut other = other.clone();
        if self.uses_custom_buckets() {
            if self.custom_values != other.custom_values {
                return Err(HistogramError::IncompatibleBounds);
            }
        } else {
            let schema = self.schema.min(other.schema);
            if self.schema != schema {
                *self = self.to_schema(schema);
            }
            other = other.to_schema(schema);
            let threshold = self.zero_threshold.max(other.zero_threshold);
            self.widen_zero_bucket(threshold);
            other.widen_zero_bucket(threshold);
        }
        self.zero_count += sign * other.zero_count;
        self.count += sign * other.count;
        self.sum += sign * other.sum;
        let merged = merge_pairs(
            &pairs(&self.positive_spans, &self.positive_buckets),
            &pairs(&other.positive_spans, &other.positive_buckets),
            |a, b| a + sign * b,
        );
        (self.positive_spans, self.positive_buckets) = layout(&merged);
        let merged = merge_pairs(
            &pairs(&self.negative_spans, &self.negative_buckets),
            &pairs(&other.negative_spans, &other.negative_buckets),
            |a, b| a + sign * b,
        );
        (self.negative_spans, self.negative_buckets) = layout(&merged);
        self.counter_reset_hint = match (self.counter_reset_hint, other.counter_reset_hint) {
            (a, b) if a == b => a,
            (CounterResetHint::Gauge, _) | (_, CounterResetHint::Gauge) => CounterResetHint::Gauge,
            _ => CounterResetHint::Unknown,
        };
        Ok(())
    }

    /// Adds `other` bucket by bucket (at the coarser schema of the two).
    pub fn add(&mut self, other: &FloatHistogram) -> Result<(), HistogramError> {
        self.combine(other, 1.0)
    }

    /// Subtracts `other` bucket by bucket.
    pub fn sub(&mut self, other: &FloatHistogram) -> Result<(), HistogramError> {
        self.combine(other, -1.0)
    }

    /// Whether going from `previous` to `self` must have involved a counter reset: a
    /// count or any bucket went down, or the bucket layout became incompatible.
    pub fn detect_reset(&self, previous: &FloatHistogram) -> bool {
        match self.counter_reset_hint {
            CounterResetHint::CounterReset => return true,
            CounterResetHint::NotCounterReset => return false,
            CounterResetHint::Unknown | CounterResetHint::Gauge => {}
        }
        if self.count < previous.count {
            return true;
        }
        if self.uses_custom_buckets() != previous.uses_custom_buckets()
            || (self.uses_custom_buckets() && self.custom_values != previous.custom_values)
        {
            return true;
        }
        if self.schema > previous.schema || self.zero_threshold < previous.zero_threshold {
            return true;
        }
        let mut previous = previous.to_schema(self.schema);
        previous.widen_zero_bucket(self.zero_threshold);
        if previous.zero_threshold != self.zero_threshold || self.zero_count < previous.zero_count {
            return true;
        }
        let went_down = |cur: (&[Span], &[f64]), prev: (&[Span], &[f64])| {
            let cur = pairs(cur.0, cur.1);
            let prev = pairs(prev.0, prev.1);
            merge_pairs(&cur, &prev, |c, p| if c < p { -1.0 } else { 0.0 })
                .iter()
                .any(|&(_, v)| v < 0.0)
        };
        went_down(
            (&self.positive_spans, &self.positive_buckets),
            (&previous.positive_spans, &previous.positive_buckets),
        ) || went_down(
            (&self.negative_spans, &self.negative_buckets),
            (&previous.negative_spans, &previous.negative_buckets),
        )
    }

    /// Exact equality of the data (bucket layouts compared after dropping empty spans).
    pub fn equals(&self, other: &FloatHistogram) -> bool {
        let same_float = |a: f64, b: f64| a.to_bits() == b.to_bits() || a == b;
        self.schema == other.schema
            && same_float(self.zero_threshold, other.zero_threshold)
            && same_float(self.zero_count, other.zero_count)
            && same_float(self.count, other.count)
            && same_float(self.sum, other.sum)
            && self.custom_values == other.custom_values
            && pairs(&self.positive_spans, &self.positive_buckets)
                == pairs(&other.positive_spans, &other.positive_buckets)
            && pairs(&self.negative_spans, &self.negative_buckets)
                == pairs(&other.negative_spans, &other.negative_buckets)
    }

    /// Bytes-ish weight of this histogram for the samples-in-memory limit, in units of
    /// float samples (Prometheus counts a histogram as its size / 16 bytes).
    pub fn weight(&self) -> usize {
        (self.positive_buckets.len()
            + self.negative_buckets.len()
            + self.custom_values.len()
            + self.positive_spans.len()
            + self.negative_spans.len()
            + 6)
        .div_ceil(2)
    }
}

/// The test-script notation, `{{schema:1 count:3 sum:4 buckets:[1 2]}}`.
impl fmt::Display for FloatHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("{{");
        let _ = write!(out, "schema:{}", self.schema);
        if self.count != 0.0 {
            let _ = write!(out, " count:{}", self.count);
        }
        if self.sum != 0.0 {
            let _ = write!(out, " sum:{}", self.sum);
        }
        if self.zero_threshold != 0.0 {
            let _ = write!(out, " z_bucket_w:{}", self.zero_threshold);
        }
        if self.zero_count != 0.0 {
            let _ = write!(out, " z_bucket:{}", self.zero_count);
        }
        if !self.custom_values.is_empty() {
            let values: Vec<String> = self.custom_values.iter().map(f64::to_string).collect();
            let _ = write!(out, " custom_values:[{}]", values.join(" "));
        }
        let mut side = |name: &str, offset_name: &str, spans: &[Span], buckets: &[f64]| {
            if buckets.is_empty() {
                return;
            }
            let p = pairs(spans, buckets);
            let first = p[0].0;
            let last = p[p.len() - 1].0;
            let mut dense = vec![0.0; (last - first + 1) as usize];
            for (idx, count) in p {
                dense[(idx - first) as usize] = count;
            }
            if first != 0 {
                let _ = write!(out, " {offset_name}:{first}");
            }
            let values: Vec<String> = dense.iter().map(f64::to_string).collect();
            let _ = write!(out, " {name}:[{}]", values.join(" "));
        };
        side(
            "buckets",
            "offset",
            &self.positive_spans,
            &self.positive_buckets,
        );
        side(
            "n_buckets",
            "n_offset",
            &self.negative_spans,
            &self.negative_buckets,
        );
        if self.counter_reset_hint != CounterResetHint::Unknown {
            let _ = write!(
                out,
                " counter_reset_hint:{}",
                self.counter_reset_hint.as_str()
            );
        }
        out.push_str("}}");
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(counts: &[f64], bounds: &[f64]) -> FloatHistogram {
        let (positive_spans, positive_buckets) = layout(
            &counts
                .iter()
                .enumerate()
                .map(|(i, &c)| (i as i32, c))
                .collect::<Vec<_>>(),
        );
        FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: counts.iter().sum(),
            positive_spans,
            positive_buckets,
            custom_values: bounds.to_vec(),
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn custom_bucket_bounds_start_and_end_at_infinity() {
        let h = custom(&[1.0, 2.0, 3.0], &[0.5, 1.0]);
        let bounds: Vec<(f64, f64)> = h
            .buckets_ascending()
            .iter()
            .map(|b| (b.lower, b.upper))
            .collect();
        assert_eq!(
            bounds,
            [(f64::NEG_INFINITY, 0.5), (0.5, 1.0), (1.0, f64::INFINITY)]
        );
    }

    #[test]
    fn compact_drops_empty_buckets_and_splits_spans() {
        let mut h = custom(&[0.0, 2.0, 0.0, 0.0, 3.0, 0.0], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        h.compact(0);
        assert_eq!(
            h.positive_spans,
            [
                Span {
                    offset: 1,
                    length: 1
                },
                Span {
                    offset: 2,
                    length: 1
                }
            ]
        );
        assert_eq!(h.positive_buckets, [2.0, 3.0]);
        let mut h = custom(&[0.0, 2.0, 0.0, 0.0, 3.0, 0.0], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        h.compact(2);
        assert_eq!(
            h.positive_spans,
            [Span {
                offset: 1,
                length: 4
            }]
        );
    }

    #[test]
    fn add_and_sub_merge_layouts() {
        let mut a = custom(&[1.0, 0.0, 2.0], &[1.0, 2.0]);
        let b = custom(&[0.0, 5.0, 1.0], &[1.0, 2.0]);
        a.add(&b).expect("same bounds");
        assert_eq!(a.count, 9.0);
        assert_eq!(a.positive_buckets, [1.0, 5.0, 3.0]);
        a.sub(&b).expect("same bounds");
        assert_eq!(a.clone().compacted().positive_buckets, [1.0, 2.0]);
        let other_bounds = custom(&[1.0], &[7.0]);
        assert_eq!(
            a.add(&other_bounds),
            Err(HistogramError::IncompatibleBounds)
        );
    }

    #[test]
    fn exponential_bounds_and_schema_reduction() {
        // Bucket i at schema 0 is (2^(i-1), 2^i].
        assert_eq!(exponential_bound(1, 0), 2.0);
        assert_eq!(exponential_bound(2, 0), 4.0);
        assert_eq!(exponential_bound(0, 1), 1.0);
        assert!((exponential_bound(1, 1) - std::f64::consts::SQRT_2).abs() < 1e-15);
        assert_eq!(exponential_bound(1, -1), 4.0);
        // Buckets 1 and 2 at schema 1 ((1,√2] and (√2,2]) fall into bucket 1 at schema 0.
        let h = FloatHistogram {
            schema: 1,
            positive_spans: vec![Span {
                offset: 1,
                length: 2,
            }],
            positive_buckets: vec![3.0, 4.0],
            count: 7.0,
            ..FloatHistogram::default()
        };
        let reduced = h.to_schema(0);
        assert_eq!(reduced.positive_buckets, [7.0]);
        assert_eq!(reduced.positive_spans[0].offset, 1);
    }

    #[test]
    fn resets_are_detected_per_bucket() {
        let before = custom(&[1.0, 4.0], &[1.0]);
        let after = custom(&[3.0, 3.0], &[1.0]);
        assert!(after.detect_reset(&before));
        let grown = custom(&[1.0, 5.0], &[1.0]);
        assert!(!grown.detect_reset(&before));
    }
}
