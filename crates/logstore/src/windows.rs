//! Lines and bytes counted in sliding windows, per group of label values: what LogQL's
//! `count_over_time`, `rate`, `bytes_over_time` and `bytes_rate` evaluate to at each
//! step of a range query.
//!
//! The window of the point at `t` is `(t - range, t]` (left-open, as Loki's). Each line
//! adds one at the first point whose window holds it and subtracts one after the last,
//! so a scan costs one pass over the matching lines whatever the ratio of range to step.

use crate::Error;
use crate::query::QueryError;
use crate::select::{Label, Selection};
use crate::store::LogStore;
use crate::streams::{Grouper, check_budget};

/// Most points of one series (Loki's and Prometheus's 11,000 steps, plus the first).
pub const MAX_POINTS: usize = 11_001;

/// Where to count: `points` evaluation times `first + k * step`, each over `(t - range, t]`.
#[derive(Debug, Clone)]
pub struct WindowsRequest<'a> {
    pub selection: &'a Selection,
    /// Nanoseconds.
    pub first: i64,
    /// Nanoseconds between points, positive.
    pub step: i64,
    pub points: usize,
    /// Nanoseconds, positive.
    pub range: i64,
    /// The labels whose values split the counts into groups.
    pub group_by: &'a [Label],
    /// Whether to sum the lines' bytes too.
    pub bytes: bool,
    pub max_scanned: u64,
    pub max_groups: usize,
}

/// One group's counts, one per point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowGroup {
    pub labels: Vec<Option<String>>,
    pub lines: Vec<u64>,
    /// Empty unless the request asked for bytes.
    pub bytes: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowCounts {
    pub groups: Vec<WindowGroup>,
    /// Lines that fell in some window, and their bytes.
    pub scanned_lines: u64,
    pub scanned_bytes: u64,
}

/// `ceil(a / b)` for a positive `b`.
fn ceil_div(a: i128, b: i128) -> i128 {
    -(-a).div_euclid(b)
}

/// The points whose window holds a line at `ts`: `k` in the returned closed range.
fn points_holding(ts: i64, request: &WindowsRequest<'_>) -> Option<(usize, usize)> {
    let (ts, first, step, range) = (
        i128::from(ts),
        i128::from(request.first),
        i128::from(request.step),
        i128::from(request.range),
    );
    // t_k - range < ts <= t_k  <=>  ts <= t_k < ts + range
    let low = ceil_div(ts - first, step).max(0);
    let high = (ceil_div(ts + range - first, step) - 1).min(request.points as i128 - 1);
    (low <= high).then_some((low as usize, high as usize))
}

fn prefix_sums(differences: Vec<i64>, points: usize) -> Vec<u64> {
    let mut running = 0i64;
    differences
        .into_iter()
        .take(points)
        .map(|difference| {
            running += difference;
            running.max(0) as u64
        })
        .collect()
}

impl LogStore {
    /// The lines (and optionally bytes) the selection picks in each point's window,
    /// grouped by the values of `request.group_by`; groups in the order they were met.
    pub fn count_windows(&self, request: &WindowsRequest<'_>) -> Result<WindowCounts, Error> {
        if request.step <= 0 || request.range <= 0 {
            return Err(Error::Query(QueryError(
                "windows need a positive step and range".into(),
            )));
        }
        if request.points == 0 || request.points > MAX_POINTS {
            return Err(Error::Query(QueryError(format!(
                "windows need 1 to {MAX_POINTS} points"
            ))));
        }
        let last = request
            .step
            .checked_mul(request.points as i64 - 1)
            .and_then(|span| request.first.checked_add(span))
            .ok_or_else(|| Error::Query(QueryError("the windows' range overflows".into())))?;
        let lower = request
            .first
            .saturating_sub(request.range)
            .saturating_add(1);
        let upper = last.saturating_add(1);
        let fields = self.shared.fields;
        let planned = self.plan(request.selection, lower, upper)?;
        check_budget(&planned, request.selection, request.max_scanned)?;
        let mut grouper = Grouper::new(request.group_by, request.max_groups);
        let mut lines: Vec<Vec<i64>> = Vec::new();
        let mut bytes: Vec<Vec<i64>> = Vec::new();
        let mut counts = WindowCounts::default();
        for part in &planned {
            grouper.scan(&fields, part, request.selection, &mut |group, ts, size| {
                counts.scanned_lines += 1;
                counts.scanned_bytes += size;
                let Some((low, high)) = points_holding(ts, request) else {
                    return;
                };
                while lines.len() <= group {
                    lines.push(vec![0; request.points + 1]);
                    if request.bytes {
                        bytes.push(vec![0; request.points + 1]);
                    }
                }
                lines[group][low] += 1;
                lines[group][high + 1] -= 1;
                if request.bytes {
                    let size = i64::try_from(size).unwrap_or(i64::MAX);
                    bytes[group][low] += size;
                    bytes[group][high + 1] -= size;
                }
            })?;
        }
        let keys = grouper.into_keys();
        lines.resize(keys.len(), vec![0; request.points + 1]);
        if request.bytes {
            bytes.resize(keys.len(), vec![0; request.points + 1]);
        }
        let mut bytes = bytes.into_iter();
        counts.groups = keys
            .into_iter()
            .zip(lines)
            .map(|(labels, lines)| WindowGroup {
                labels,
                lines: prefix_sums(lines, request.points),
                bytes: bytes
                    .next()
                    .map(|bytes| prefix_sums(bytes, request.points))
                    .unwrap_or_default(),
            })
            .collect();
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(first: i64, step: i64, points: usize, range: i64) -> WindowsRequest<'static> {
        static SELECTION: std::sync::LazyLock<Selection> =
            std::sync::LazyLock::new(Selection::default);
        WindowsRequest {
            selection: &SELECTION,
            first,
            step,
            points,
            range,
            group_by: &[],
            bytes: false,
            max_scanned: 0,
            max_groups: 0,
        }
    }

    #[test]
    fn windows_are_left_open_and_right_closed() {
        // Points at 100, 110, 120, 130; windows of 10: (90,100], (100,110], ...
        let r = request(100, 10, 4, 10);
        assert_eq!(points_holding(100, &r), Some((0, 0)));
        assert_eq!(points_holding(101, &r), Some((1, 1)));
        assert_eq!(points_holding(110, &r), Some((1, 1)));
        assert_eq!(points_holding(91, &r), Some((0, 0)));
        assert_eq!(points_holding(90, &r), None);
        assert_eq!(points_holding(131, &r), None);
        // A range of three steps: a line counts at three points.
        let r = request(100, 10, 4, 30);
        assert_eq!(points_holding(95, &r), Some((0, 2)));
        assert_eq!(points_holding(125, &r), Some((3, 3)));
        // Range shorter than the step: lines between windows count nowhere.
        let r = request(100, 10, 4, 5);
        assert_eq!(points_holding(104, &r), None);
        assert_eq!(points_holding(106, &r), Some((1, 1)));
        // Negative times.
        let r = request(-20, 10, 3, 10);
        assert_eq!(points_holding(-25, &r), Some((0, 0)));
        assert_eq!(points_holding(-10, &r), Some((1, 1)));
    }

    #[test]
    fn prefix_sums_turn_differences_into_counts() {
        assert_eq!(prefix_sums(vec![1, 0, -1, 2, -2], 4), vec![1, 1, 0, 2]);
    }
}
