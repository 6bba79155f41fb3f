//! From LogQL to the log store: the labels a stream has, the selection a log query
//! makes, and metric queries evaluated over a grid of steps.
//!
//! A range aggregation is one `logstore::LogStore::count_windows` scan, grouped by the
//! stream labels (or, under `sum by`/`sum without`, directly by the labels the sum
//! keeps). Vector aggregations and binary operators then work on the series in memory,
//! as Loki's engine does: a window without lines gives no sample, not a zero.

use std::collections::{BTreeMap, HashMap};

use logql::{
    AggregationOp, BinaryOp, Expr, FilterOp, Grouping, LogQuery, RangeAggregation, RangeFunction,
    VectorAggregation,
};
use logstore::{Label, LabelMatcher, LineFilter, LogStore, MatchOp, Pattern, Selection};
use model::ErrorKind;

use crate::{ApiError, logql};

/// Most stored lines a query reads to apply line filters before it is refused as too
/// broad (the index answers label matchers without reading lines).
pub(crate) const MAX_SCANNED_LINES: u64 = 1_000_000;
/// Most series a metric query may produce before aggregation (Loki's default
/// `max_query_series`).
pub(crate) const MAX_SERIES: usize = 500;

/// Loki's refusal of a selector every line would pass.
pub(crate) const EMPTY_COMPATIBLE: &str = "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::BadData, message)
}

/// The label name a field goes by: characters other than letters, digits and `_`
/// become `_`, and a leading digit gets a `_` before it (`k8s.namespace.name` is
/// `k8s_namespace_name`).
pub(crate) fn label_name(field: &str) -> String {
    let mut name: String = field
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// The labels of every stream: `service`, `level`, `host`, then the configured fields.
#[derive(Debug, Clone)]
pub(crate) struct StreamLabels {
    names: Vec<String>,
    labels: Vec<Label>,
}

impl StreamLabels {
    /// A configured field whose name is taken (by a keyword label or an earlier field)
    /// is left out.
    pub(crate) fn new(fields: &[String]) -> Self {
        let mut names: Vec<String> = ["service", "level", "host"].map(str::to_owned).to_vec();
        let mut labels = vec![Label::Service, Label::Level, Label::Host];
        for field in fields {
            let name = label_name(field.trim());
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
                labels.push(Label::Field(field.trim().to_owned()));
            }
        }
        StreamLabels { names, labels }
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    pub(crate) fn labels(&self) -> &[Label] {
        &self.labels
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Label> {
        let index = self.names.iter().position(|known| known == name)?;
        self.labels.get(index)
    }

    /// The names and labels of a grouping, in the stream labels' order.
    fn grouping(&self, grouping: Option<&Grouping>) -> (Vec<String>, Vec<Label>) {
        let keep = |name: &String| match grouping {
            None => true,
            Some(Grouping::By(names)) => names.contains(name),
            Some(Grouping::Without(names)) => !names.contains(name),
        };
        self.names
            .iter()
            .zip(&self.labels)
            .filter(|(name, _)| keep(name))
            .map(|(name, label)| (name.clone(), label.clone()))
            .unzip()
    }
}

/// The label set of values read for `names`, without empty values (a label with an
/// empty value does not exist, as in Loki).
pub(crate) fn label_set(names: &[String], values: Vec<Option<String>>) -> BTreeMap<String, String> {
    names
        .iter()
        .zip(values)
        .filter_map(|(name, value)| {
            value
                .filter(|value| !value.is_empty())
                .map(|value| (name.clone(), value))
        })
        .collect()
}

/// The selection of a log query; `None` when no line can pass (a matcher that needs a
/// value for a label no stream has).
pub(crate) fn selection(
    query: &LogQuery,
    streams: &StreamLabels,
) -> Result<Option<Selection>, ApiError> {
    let mut matchers = Vec::with_capacity(query.matchers.len());
    let mut anchored = false;
    let mut impossible = false;
    for matcher in &query.matchers {
        let label = streams
            .get(&matcher.name)
            .cloned()
            // An unknown label is empty on every line: the matcher passes all or none.
            .unwrap_or_else(|| Label::Field(String::new()));
        let compiled = LabelMatcher::new(label, matcher.op, matcher.value.as_str())
            .map_err(|err| bad(err.0))?;
        if matches!(matcher.op, MatchOp::Equal | MatchOp::Regex) && !compiled.matches("") {
            anchored = true;
        }
        if streams.get(&matcher.name).is_some() {
            matchers.push(compiled);
        } else if !compiled.matches("") {
            impossible = true;
        }
    }
    if !anchored {
        return Err(bad(EMPTY_COMPATIBLE));
    }
    let line_filters = query
        .filters
        .iter()
        .map(|filter| {
            Ok(match filter.op {
                FilterOp::Contains => LineFilter::Contains(filter.text.clone()),
                FilterOp::NotContains => LineFilter::NotContains(filter.text.clone()),
                FilterOp::Matches => LineFilter::Matches(Pattern::anywhere(&filter.text)?),
                FilterOp::NotMatches => LineFilter::NotMatches(Pattern::anywhere(&filter.text)?),
            })
        })
        .collect::<Result<Vec<_>, logstore::query::QueryError>>()
        .map_err(|err| bad(err.0))?;
    Ok((!impossible).then_some(Selection {
        matchers,
        line_filters,
    }))
}

/// The times a metric query is evaluated at: `first + k * step` for `k < points`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) first: i64,
    pub(crate) step: i64,
    pub(crate) points: usize,
}

impl Grid {
    pub(crate) fn time(&self, index: usize) -> i64 {
        self.first + self.step * index as i64
    }
}

/// One series: its labels and a value (or none) at each point of the grid.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) points: Vec<Option<f64>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Scalar(f64),
    Vector(Vec<Series>),
}

/// What a query read from the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Work {
    pub(crate) lines: u64,
    pub(crate) bytes: u64,
}

/// Evaluates metric queries over one grid.
pub(crate) struct Evaluator<'a> {
    store: &'a LogStore,
    streams: &'a StreamLabels,
    grid: Grid,
    pub(crate) work: Work,
}

/// Folds the values of one point of a group.
#[derive(Debug, Clone, Copy, Default)]
struct Fold {
    count: usize,
    sum: f64,
    min: f64,
    max: f64,
}

impl Fold {
    fn add(&mut self, value: f64) {
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        self.sum += value;
    }

    fn value(&self, op: AggregationOp) -> Option<f64> {
        (self.count > 0).then(|| match op {
            AggregationOp::Sum => self.sum,
            AggregationOp::Count => self.count as f64,
            AggregationOp::Min => self.min,
            AggregationOp::Max => self.max,
            AggregationOp::Avg => self.sum / self.count as f64,
        })
    }
}

/// Series that share their labels become one, summed point by point.
fn merge_same_labels(series: Vec<Series>) -> Vec<Series> {
    let mut merged: Vec<Series> = Vec::with_capacity(series.len());
    let mut index: HashMap<BTreeMap<String, String>, usize> = HashMap::new();
    for one in series {
        match index.get(&one.labels) {
            Some(&at) => {
                for (total, value) in merged[at].points.iter_mut().zip(one.points) {
                    if let Some(value) = value {
                        *total = Some(total.unwrap_or(0.0) + value);
                    }
                }
            }
            None => {
                index.insert(one.labels.clone(), merged.len());
                merged.push(one);
            }
        }
    }
    merged
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(store: &'a LogStore, streams: &'a StreamLabels, grid: Grid) -> Self {
        Evaluator {
            store,
            streams,
            grid,
            work: Work::default(),
        }
    }

    pub(crate) fn eval(&mut self, expr: &Expr) -> Result<Value, ApiError> {
        match expr {
            Expr::Number(value) => Ok(Value::Scalar(*value)),
            Expr::Vector(value) => Ok(Value::Vector(vec![Series {
                labels: BTreeMap::new(),
                points: vec![Some(*value); self.grid.points],
            }])),
            Expr::Range(aggregation) => Ok(Value::Vector(self.range(aggregation, None)?)),
            Expr::Aggregate(aggregation) => self.aggregate(aggregation),
            Expr::Binary { op, lhs, rhs } => {
                let lhs = self.eval(lhs)?;
                let rhs = self.eval(rhs)?;
                Ok(binary(*op, lhs, rhs))
            }
            Expr::Log(_) => Err(bad(
                "a log query has no value to compute; use a range aggregation such as count_over_time({...}[1m])",
            )),
        }
    }

    fn range(
        &mut self,
        aggregation: &RangeAggregation,
        grouping: Option<&Grouping>,
    ) -> Result<Vec<Series>, ApiError> {
        let Some(selection) = selection(&aggregation.query, self.streams)? else {
            return Ok(Vec::new());
        };
        let (names, labels) = self.streams.grouping(grouping);
        let function = aggregation.function;
        let bytes = matches!(
            function,
            RangeFunction::BytesOverTime | RangeFunction::BytesRate
        );
        let counts = self
            .store
            .count_windows(&logstore::WindowsRequest {
                selection: &selection,
                first: self.grid.first,
                step: self.grid.step,
                points: self.grid.points,
                range: aggregation.range,
                group_by: &labels,
                bytes,
                max_scanned: MAX_SCANNED_LINES,
                max_groups: MAX_SERIES,
            })
            .map_err(ApiError::from)?;
        self.work.lines += counts.scanned_lines;
        self.work.bytes += counts.scanned_bytes;
        let seconds = aggregation.range as f64 / 1e9;
        let series = counts
            .groups
            .into_iter()
            .map(|group| {
                let points = (0..self.grid.points)
                    .map(|k| {
                        let lines = group.lines.get(k).copied().unwrap_or(0);
                        let bytes = group.bytes.get(k).copied().unwrap_or(0) as f64;
                        (lines > 0).then(|| match function {
                            RangeFunction::CountOverTime => lines as f64,
                            RangeFunction::Rate => lines as f64 / seconds,
                            RangeFunction::BytesOverTime => bytes,
                            RangeFunction::BytesRate => bytes / seconds,
                        })
                    })
                    .collect();
                Series {
                    labels: label_set(&names, group.labels),
                    points,
                }
            })
            .collect();
        Ok(merge_same_labels(series))
    }

    fn aggregate(&mut self, aggregation: &VectorAggregation) -> Result<Value, ApiError> {
        let op = aggregation.op;
        // A sum of range aggregations is the range aggregation grouped by what the sum
        // keeps: one scan, no intermediate series.
        if let (AggregationOp::Sum, Expr::Range(range)) = (op, aggregation.inner.as_ref()) {
            return Ok(Value::Vector(
                self.range(range, Some(&aggregation.grouping))?,
            ));
        }
        let Value::Vector(series) = self.eval(&aggregation.inner)? else {
            return Err(bad(format!("{} needs a vector, not a scalar", op.name())));
        };
        let mut groups: Vec<(BTreeMap<String, String>, Vec<Fold>)> = Vec::new();
        let mut index: HashMap<BTreeMap<String, String>, usize> = HashMap::new();
        for one in series {
            let labels: BTreeMap<String, String> = one
                .labels
                .into_iter()
                .filter(|(name, _)| match &aggregation.grouping {
                    Grouping::By(names) => names.contains(name),
                    Grouping::Without(names) => !names.contains(name),
                })
                .collect();
            let at = *index.entry(labels.clone()).or_insert_with(|| {
                groups.push((labels, vec![Fold::default(); self.grid.points]));
                groups.len() - 1
            });
            for (fold, value) in groups[at].1.iter_mut().zip(one.points) {
                if let Some(value) = value {
                    fold.add(value);
                }
            }
        }
        Ok(Value::Vector(
            groups
                .into_iter()
                .map(|(labels, folds)| Series {
                    labels,
                    points: folds.iter().map(|fold| fold.value(op)).collect(),
                })
                .collect(),
        ))
    }
}

/// A binary operator: scalars with scalars, each point of a series with a scalar, and
/// series with series of the same labels (points present on both sides).
fn binary(op: BinaryOp, lhs: Value, rhs: Value) -> Value {
    let each = |series: Vec<Series>, apply: &dyn Fn(f64) -> f64| {
        series
            .into_iter()
            .map(|one| Series {
                labels: one.labels,
                points: one.points.into_iter().map(|v| v.map(apply)).collect(),
            })
            .collect()
    };
    match (lhs, rhs) {
        (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(op.apply(a, b)),
        (Value::Vector(series), Value::Scalar(b)) => {
            Value::Vector(each(series, &|a| op.apply(a, b)))
        }
        (Value::Scalar(a), Value::Vector(series)) => {
            Value::Vector(each(series, &|b| op.apply(a, b)))
        }
        (Value::Vector(left), Value::Vector(right)) => {
            let right: HashMap<BTreeMap<String, String>, Vec<Option<f64>>> = right
                .into_iter()
                .map(|one| (one.labels, one.points))
                .collect();
            Value::Vector(
                left.into_iter()
                    .filter_map(|one| {
                        let other = right.get(&one.labels)?;
                        let points = one
                            .points
                            .iter()
                            .zip(other)
                            .map(|(a, b)| Some(op.apply((*a)?, (*b)?)))
                            .collect();
                        Some(Series {
                            labels: one.labels,
                            points,
                        })
                    })
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], points: &[Option<f64>]) -> Series {
        Series {
            labels: labels
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn configured_fields_become_label_names() {
        assert_eq!(label_name("k8s.namespace.name"), "k8s_namespace_name");
        assert_eq!(label_name("app-id"), "app_id");
        assert_eq!(label_name("2fa.method"), "_2fa_method");
        let streams = StreamLabels::new(&[
            "k8s.namespace.name".into(),
            "k8s_namespace_name".into(),
            "level".into(),
            "env".into(),
        ]);
        assert_eq!(
            streams.names(),
            ["service", "level", "host", "k8s_namespace_name", "env"]
        );
        assert_eq!(
            streams.get("k8s_namespace_name"),
            Some(&Label::Field("k8s.namespace.name".into()))
        );
        assert_eq!(streams.get("env"), Some(&Label::Field("env".into())));
        assert_eq!(streams.get("nope"), None);
    }

    fn query(matchers: &[(&str, MatchOp, &str)]) -> LogQuery {
        LogQuery {
            matchers: matchers
                .iter()
                .map(|(name, op, value)| logql::Matcher {
                    name: (*name).to_owned(),
                    op: *op,
                    value: (*value).to_owned(),
                })
                .collect(),
            filters: vec![logql::LineFilter {
                op: FilterOp::Matches,
                text: "a+".into(),
            }],
        }
    }

    #[test]
    fn selections_map_labels_and_refuse_empty_compatible_selectors() {
        let streams = StreamLabels::new(&["env".into()]);
        let selected = selection(
            &query(&[
                ("service", MatchOp::Equal, "api"),
                ("env", MatchOp::NotRegex, "dev.*"),
                ("team", MatchOp::NotEqual, "x"),
            ]),
            &streams,
        )
        .expect("valid")
        .expect("can match");
        assert_eq!(
            selected.matchers,
            [
                LabelMatcher::new(Label::Service, MatchOp::Equal, "api").expect("valid"),
                LabelMatcher::new(Label::Field("env".into()), MatchOp::NotRegex, "dev.*")
                    .expect("valid"),
            ],
            "a matcher on an unknown label that passes the empty value is dropped"
        );
        assert_eq!(
            selected.line_filters,
            [LineFilter::Matches(Pattern::anywhere("a+").expect("valid"))]
        );
        // A matcher that needs a value of a label no stream has matches nothing.
        assert_eq!(
            selection(
                &query(&[
                    ("service", MatchOp::Equal, "api"),
                    ("team", MatchOp::Equal, "x")
                ]),
                &streams
            ),
            Ok(None)
        );
        for matchers in [
            vec![("service", MatchOp::Regex, ".*")],
            vec![("service", MatchOp::NotEqual, "api")],
            vec![
                ("service", MatchOp::Equal, ""),
                ("host", MatchOp::NotRegex, "a"),
            ],
        ] {
            assert_eq!(
                selection(&query(&matchers), &streams),
                Err(bad(EMPTY_COMPATIBLE)),
                "{matchers:?}"
            );
        }
    }

    #[test]
    fn binary_operators_match_series_by_labels() {
        let a = series(&[("level", "info")], &[Some(1.0), None, Some(3.0)]);
        let b = series(&[("level", "info")], &[Some(2.0), Some(2.0), Some(2.0)]);
        let c = series(&[("level", "warn")], &[Some(5.0), Some(5.0), Some(5.0)]);
        assert_eq!(
            binary(
                BinaryOp::Div,
                Value::Vector(vec![a.clone(), c]),
                Value::Vector(vec![b])
            ),
            Value::Vector(vec![series(
                &[("level", "info")],
                &[Some(0.5), None, Some(1.5)]
            )])
        );
        assert_eq!(
            binary(BinaryOp::Sub, Value::Scalar(10.0), Value::Vector(vec![a])),
            Value::Vector(vec![series(
                &[("level", "info")],
                &[Some(9.0), None, Some(7.0)]
            )])
        );
        assert_eq!(
            binary(BinaryOp::Mul, Value::Scalar(3.0), Value::Scalar(4.0)),
            Value::Scalar(12.0)
        );
    }

    #[test]
    fn folds_compute_each_aggregation() {
        let mut fold = Fold::default();
        assert_eq!(fold.value(AggregationOp::Sum), None);
        for value in [4.0, 1.0, 7.0] {
            fold.add(value);
        }
        assert_eq!(fold.value(AggregationOp::Sum), Some(12.0));
        assert_eq!(fold.value(AggregationOp::Count), Some(3.0));
        assert_eq!(fold.value(AggregationOp::Min), Some(1.0));
        assert_eq!(fold.value(AggregationOp::Max), Some(7.0));
        assert_eq!(fold.value(AggregationOp::Avg), Some(4.0));
    }
}
