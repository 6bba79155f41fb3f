//! Reading series: instant-vector selectors (the newest sample within the lookback
//! window, left-open, stale markers ending a series), range-vector selectors (every
//! sample in `(t - range, t]`) and subqueries (an inner evaluation whose points become
//! the samples of a range vector).

use std::collections::HashSet;
use std::sync::Arc;

use model::Labels;
use model::sample::is_stale_marker;
use promql_parser::parser::{Expr, MatrixSelector, SubqueryExpr, VectorSelector};

use super::{Evaluator, Grid, duration_ms, offset_ms, unwrap_parens};
use crate::Error;
use crate::histogram::FloatHistogram;
use crate::selector::selector_matchers;
use crate::storage::StoredSeries;
use crate::value::{Point, RangeSeries, StepSeries, Value};

/// Where a range vector's window sits for each evaluation time: samples in
/// `(end - range, end]` with `end = at.unwrap_or(t) - offset`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RangeArg {
    pub(crate) range: i64,
    pub(crate) offset: i64,
    pub(crate) at: Option<i64>,
}

impl RangeArg {
    /// `(exclusive start, inclusive end)` of the window at evaluation time `t`.
    pub(crate) fn window(&self, t: i64) -> (i64, i64) {
        let end = self.at.unwrap_or(t) - self.offset;
        (end - self.range, end)
    }
}

/// Histogram samples with their timestamps.
pub(crate) type HistogramPoints = [(i64, Arc<FloatHistogram>)];

/// Slices of one series' samples, window by window, for increasing evaluation times.
#[derive(Debug)]
pub(crate) struct Windows<'s> {
    series: &'s RangeSeries,
    float_lo: usize,
    float_hi: usize,
    hist_lo: usize,
    hist_hi: usize,
}

impl<'s> Windows<'s> {
    pub(crate) fn new(series: &'s RangeSeries) -> Self {
        Windows {
            series,
            float_lo: 0,
            float_hi: 0,
            hist_lo: 0,
            hist_hi: 0,
        }
    }

    /// Samples in `(lo, hi]`; successive calls must not move backwards.
    pub(crate) fn slice(&mut self, lo: i64, hi: i64) -> (&'s [(i64, f64)], &'s HistogramPoints) {
        let floats = &self.series.floats;
        let hists = &self.series.hists;
        // Windows never move back, but a fixed (`@`) window repeats: reset if needed.
        if self.float_lo > 0 && floats[self.float_lo - 1].0 > lo {
            self.float_lo = 0;
            self.float_hi = 0;
        }
        if self.hist_lo > 0 && hists[self.hist_lo - 1].0 > lo {
            self.hist_lo = 0;
            self.hist_hi = 0;
        }
        while self.float_lo < floats.len() && floats[self.float_lo].0 <= lo {
            self.float_lo += 1;
        }
        self.float_hi = self.float_hi.max(self.float_lo);
        while self.float_hi < floats.len() && floats[self.float_hi].0 <= hi {
            self.float_hi += 1;
        }
        while self.hist_lo < hists.len() && hists[self.hist_lo].0 <= lo {
            self.hist_lo += 1;
        }
        self.hist_hi = self.hist_hi.max(self.hist_lo);
        while self.hist_hi < hists.len() && hists[self.hist_hi].0 <= hi {
            self.hist_hi += 1;
        }
        (
            &floats[self.float_lo..self.float_hi],
            &hists[self.hist_lo..self.hist_hi],
        )
    }
}

fn is_stale_histogram(h: &FloatHistogram) -> bool {
    is_stale_marker(h.sum)
}

/// A stored series as a range series without stale markers.
fn without_stale(series: StoredSeries, labels: Arc<Labels>) -> RangeSeries {
    RangeSeries {
        labels,
        drop_name: false,
        floats: series
            .floats
            .iter()
            .filter(|s| !is_stale_marker(s.value))
            .map(|s| (s.timestamp_ms, s.value))
            .collect(),
        hists: series
            .histograms
            .into_iter()
            .filter(|(_, h)| !is_stale_histogram(h))
            .collect(),
    }
}

/// What an instant selector reports for each step: the sample's value, or (for
/// `timestamp()`) its timestamp in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    Value,
    Timestamp,
}

/// The newest sample at or before `reference` and after `reference - lookback`, unless
/// it is a stale marker. `floats_upto` and `hists_upto` count the samples at or before
/// `reference`.
fn sample_at(
    series: &StoredSeries,
    floats_upto: usize,
    hists_upto: usize,
    reference: i64,
    lookback: i64,
    report: Report,
) -> Point {
    let float = floats_upto.checked_sub(1).map(|i| series.floats[i]);
    let hist = hists_upto.checked_sub(1).map(|i| &series.histograms[i]);
    let (t, point) = match (float, hist) {
        (Some(f), Some((ht, h))) if *ht > f.timestamp_ms => {
            if is_stale_histogram(h) {
                return Point::Absent;
            }
            (*ht, Point::H(Arc::clone(h)))
        }
        (Some(f), _) => {
            if is_stale_marker(f.value) {
                return Point::Absent;
            }
            (f.timestamp_ms, Point::F(f.value))
        }
        (None, Some((ht, h))) => {
            if is_stale_histogram(h) {
                return Point::Absent;
            }
            (*ht, Point::H(Arc::clone(h)))
        }
        (None, None) => return Point::Absent,
    };
    if t <= reference - lookback {
        return Point::Absent;
    }
    match report {
        Report::Value => point,
        Report::Timestamp => Point::F(t as f64 / 1000.0),
    }
}

/// One point per step of `grid` for a stored series (see [`sample_at`]).
fn lookback_points(
    series: &StoredSeries,
    grid: Grid,
    at: Option<i64>,
    offset: i64,
    lookback: i64,
    report: Report,
) -> Vec<Point> {
    let upto = |reference: i64| {
        (
            series
                .floats
                .partition_point(|s| s.timestamp_ms <= reference),
            series.histograms.partition_point(|(t, _)| *t <= reference),
        )
    };
    if let Some(at) = at {
        let reference = at - offset;
        let (f, h) = upto(reference);
        let point = sample_at(series, f, h, reference, lookback, report);
        return vec![point; grid.len()];
    }
    let mut points = Vec::with_capacity(grid.len());
    let (mut f, mut h) = (0usize, 0usize);
    for t in grid.times() {
        let reference = t - offset;
        while f < series.floats.len() && series.floats[f].timestamp_ms <= reference {
            f += 1;
        }
        while h < series.histograms.len() && series.histograms[h].0 <= reference {
            h += 1;
        }
        points.push(sample_at(series, f, h, reference, lookback, report));
    }
    points
}

impl Evaluator<'_> {
    /// Reads every series matching `selector` with a sample in `[mint, maxt]`, once each
    /// even when several `or` alternatives match it.
    fn select(
        &mut self,
        selector: &VectorSelector,
        mint: i64,
        maxt: i64,
        each: &mut dyn FnMut(&mut Self, StoredSeries) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let alternatives = selector_matchers(selector).map_err(Error::BadQuery)?;
        let storage = self.storage;
        let mut seen: HashSet<Labels> = HashSet::new();
        let several = alternatives.len() > 1;
        for matchers in &alternatives {
            storage.select(matchers, mint, maxt, &mut |series| {
                self.budget.check()?;
                if several && !seen.insert(series.labels.clone()) {
                    return Ok(());
                }
                let loaded = series.floats.len() + series.histograms.len();
                self.budget.loaded += loaded as u64;
                each(self, series)
            })?;
        }
        Ok(())
    }

    pub(crate) fn vector_selector(
        &mut self,
        selector: &VectorSelector,
        grid: Grid,
    ) -> Result<Vec<StepSeries>, Error> {
        self.vector_selector_reporting(selector, grid, Report::Value)
    }

    pub(crate) fn vector_selector_reporting(
        &mut self,
        selector: &VectorSelector,
        grid: Grid,
        report: Report,
    ) -> Result<Vec<StepSeries>, Error> {
        let offset = offset_ms(&selector.offset);
        let at = self.at_ms(&selector.at);
        let lookback = self.settings.lookback_ms;
        let (first, last) = match at {
            Some(at) => (at - offset, at - offset),
            None => (grid.start - offset, grid.end - offset),
        };
        let mut out = Vec::new();
        self.select(selector, first - lookback + 1, last, &mut |ev, series| {
            let points = lookback_points(&series, grid, at, offset, lookback, report);
            let weight: usize = points.iter().map(Point::weight).sum();
            if weight > 0 {
                ev.budget.take(weight)?;
                out.push(StepSeries {
                    labels: Arc::new(series.labels),
                    drop_name: false,
                    points,
                });
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// A range selector's samples at one evaluation time (an instant query of `x[5m]`).
    pub(crate) fn matrix_selector_raw(
        &mut self,
        selector: &MatrixSelector,
        time: i64,
    ) -> Result<Vec<RangeSeries>, Error> {
        let mut out = Vec::new();
        let grid = Grid::instant(time);
        self.for_each_range_series_of_selector(selector, grid, &mut |ev, series, arg| {
            let (lo, hi) = arg.window(time);
            let mut windows = Windows::new(&series);
            let (floats, hists) = windows.slice(lo, hi);
            if floats.is_empty() && hists.is_empty() {
                return Ok(());
            }
            let kept = RangeSeries {
                labels: Arc::clone(&series.labels),
                drop_name: false,
                floats: floats.to_vec(),
                hists: hists.to_vec(),
            };
            ev.budget.take(kept.weight())?;
            out.push(kept);
            Ok(())
        })?;
        Ok(out)
    }

    /// A subquery's points at one evaluation time (an instant query of `expr[5m:1m]`).
    pub(crate) fn subquery_raw(
        &mut self,
        subquery: &SubqueryExpr,
        time: i64,
    ) -> Result<Vec<RangeSeries>, Error> {
        let (inner, _) = self.subquery_series(subquery, Grid::instant(time))?;
        Ok(inner
            .into_iter()
            .filter(|s| !s.floats.is_empty() || !s.hists.is_empty())
            .collect())
    }

    /// Calls `each` with every series of a range-vector argument (a range selector or a
    /// subquery, possibly in parentheses) and where its windows sit.
    pub(crate) fn for_each_range_series(
        &mut self,
        arg: &Expr,
        grid: Grid,
        each: &mut dyn FnMut(&mut Self, RangeSeries, RangeArg) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match unwrap_parens(arg) {
            Expr::MatrixSelector(selector) => {
                self.for_each_range_series_of_selector(selector, grid, each)
            }
            Expr::Subquery(subquery) => {
                let (series, range_arg) = self.subquery_series(subquery, grid)?;
                for s in series {
                    self.budget.check()?;
                    each(self, s, range_arg)?;
                }
                Ok(())
            }
            other => Err(Error::BadQuery(format!(
                "expected a range vector, got {}",
                super::type_name(other)
            ))),
        }
    }

    fn for_each_range_series_of_selector(
        &mut self,
        selector: &MatrixSelector,
        grid: Grid,
        each: &mut dyn FnMut(&mut Self, RangeSeries, RangeArg) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let arg = RangeArg {
            range: duration_ms(&selector.range),
            offset: offset_ms(&selector.vs.offset),
            at: self.at_ms(&selector.vs.at),
        };
        let (first_lo, _) = arg.window(grid.start);
        let (_, last_hi) = arg.window(grid.end);
        self.select(&selector.vs, first_lo + 1, last_hi, &mut |ev, series| {
            let labels = Arc::new(series.labels.clone());
            let range_series = without_stale(series, labels);
            let weight = range_series.weight();
            ev.budget.take(weight)?;
            let result = each(ev, range_series, arg);
            ev.budget.release(weight);
            result
        })
    }

    /// Evaluates a subquery's inner expression on its own aligned grid; its points
    /// become the samples of range series.
    fn subquery_series(
        &mut self,
        subquery: &SubqueryExpr,
        outer: Grid,
    ) -> Result<(Vec<RangeSeries>, RangeArg), Error> {
        let arg = RangeArg {
            range: duration_ms(&subquery.range),
            offset: offset_ms(&subquery.offset),
            at: self.at_ms(&subquery.at),
        };
        let step = subquery
            .step
            .as_ref()
            .map(duration_ms)
            .filter(|&step| step > 0)
            .unwrap_or(self.settings.subquery_step_ms);
        let (lower, _) = arg.window(outer.start);
        let (_, end) = arg.window(outer.end);
        // The first multiple of the step after the window's (exclusive) start.
        let mut start = step * (lower / step);
        if start <= lower {
            start += step;
        }
        let inner = Grid { start, end, step };
        if inner.len() == 0 {
            return Ok((Vec::new(), arg));
        }
        let value = self.eval(&subquery.expr, inner)?;
        let series = match value {
            Value::Vector(series) => series,
            Value::Scalar(values) => vec![StepSeries {
                labels: Arc::new(Labels::default()),
                drop_name: false,
                points: values.into_iter().map(Point::F).collect(),
            }],
            _ => {
                return Err(Error::BadQuery(
                    "a subquery needs an instant vector inside".into(),
                ));
            }
        };
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            let mut range_series = RangeSeries {
                labels: s.labels,
                drop_name: s.drop_name,
                floats: Vec::new(),
                hists: Vec::new(),
            };
            for (idx, point) in s.points.into_iter().enumerate() {
                match point {
                    Point::F(v) => range_series.floats.push((inner.time(idx), v)),
                    Point::H(h) => range_series.hists.push((inner.time(idx), h)),
                    Point::Absent => {}
                }
            }
            out.push(range_series);
        }
        Ok((out, arg))
    }
}
