//! The engine: parses a query, evaluates it over a [`Storage`] within the limits, and
//! returns a result typed as Prometheus's API types it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::Labels;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr};

use crate::Error;
use crate::annotations::Annotations;
use crate::eval::merge_same_labels;
use crate::eval::{Budget, CancelToken, EvalSettings, Evaluator, Grid};
use crate::storage::Storage;
use crate::value::{
    InstantSample, Point, QueryValue, SampleValue, SeriesResult, StepSeries, Value,
};

/// How queries are evaluated and what they may cost.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    pub lookback_delta: Duration,
    /// The resolution of a subquery written without one (`x[1h:]`).
    pub default_subquery_step: Duration,
    /// A query running longer fails with a timeout error.
    pub timeout: Duration,
    /// Most samples a query may hold in memory at once (0: no limit).
    pub max_samples: usize,
    /// Most series a result may have (0: no limit).
    pub max_series: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: Duration::from_secs(300),
            default_subquery_step: Duration::from_secs(60),
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_series: 0,
        }
    }
}

/// What a query cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Samples read from storage.
    pub samples_loaded: u64,
    /// Most samples held in memory at once.
    pub peak_samples: usize,
}

/// A query's result with its warnings and cost.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub value: QueryValue,
    pub annotations: Annotations,
    pub stats: QueryStats,
}

/// Evaluates PromQL.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    options: EngineOptions,
}

/// Parses a query, mapping parse errors to [`Error::Parse`].
pub fn parse(query: &str) -> Result<Expr, Error> {
    parser::parse(query).map_err(Error::Parse)
}

impl Engine {
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// An instant query at `time_ms`.
    pub fn instant(
        &self,
        storage: &dyn Storage,
        query: &str,
        time_ms: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult, Error> {
        let expr = parse(query)?;
        self.instant_expr(storage, &expr, time_ms, cancel)
    }

    /// A range query from `start_ms` to `end_ms` every `step_ms`.
    pub fn range(
        &self,
        storage: &dyn Storage,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult, Error> {
        let expr = parse(query)?;
        self.range_expr(storage, &expr, start_ms, end_ms, step_ms, cancel)
    }

    pub fn instant_expr(
        &self,
        storage: &dyn Storage,
        expr: &Expr,
        time_ms: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult, Error> {
        self.run(storage, expr, Grid::instant(time_ms), true, cancel)
    }

    pub fn range_expr(
        &self,
        storage: &dyn Storage,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        cancel: &CancelToken,
    ) -> Result<QueryResult, Error> {
        if step_ms <= 0 {
            return Err(Error::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(Error::BadQuery(
                "end timestamp must not be before start time".into(),
            ));
        }
        match expr.value_type() {
            ValueType::Vector | ValueType::Scalar => {}
            other => {
                let name = match other {
                    ValueType::Matrix => "range vector",
                    _ => "string",
                };
                return Err(Error::BadQuery(format!(
                    "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
                )));
            }
        }
        let grid = Grid {
            start: start_ms,
            end: end_ms,
            step: step_ms,
        };
        self.run(storage, expr, grid, false, cancel)
    }

    fn run(
        &self,
        storage: &dyn Storage,
        expr: &Expr,
        grid: Grid,
        instant: bool,
        cancel: &CancelToken,
    ) -> Result<QueryResult, Error> {
        let options = &self.options;
        let mut evaluator = Evaluator {
            storage,
            settings: EvalSettings {
                lookback_ms: options.lookback_delta.as_millis() as i64,
                subquery_step_ms: (options.default_subquery_step.as_millis() as i64).max(1),
            },
            query_start: grid.start,
            query_end: grid.end,
            budget: Budget {
                cancel: cancel.clone(),
                deadline: (!options.timeout.is_zero()).then(|| Instant::now() + options.timeout),
                max_samples: options.max_samples,
                current: 0,
                peak: 0,
                loaded: 0,
            },
            annotations: Annotations::default(),
        };
        let value = evaluator.eval(expr, grid)?;
        evaluator.budget.check()?;
        let value = finish(value, grid, instant)?;
        if options.max_series > 0 && value.n_series() > options.max_series {
            return Err(Error::TooManySeries {
                limit: options.max_series,
            });
        }
        Ok(QueryResult {
            value,
            annotations: evaluator.annotations,
            stats: QueryStats {
                samples_loaded: evaluator.budget.loaded,
                peak_samples: evaluator.budget.peak,
            },
        })
    }
}

fn without_name(labels: &Labels) -> Labels {
    labels.without(model::labels::METRIC_NAME)
}

/// Removes metric names marked to go, then shapes the result: an instant vector in
/// evaluation order (label sets must be unique), a matrix sorted by labels (series
/// whose label sets became equal are merged if they never overlap).
fn finish(value: Value, grid: Grid, instant: bool) -> Result<QueryValue, Error> {
    let same_labelset =
        || Error::Execution("vector cannot contain metrics with the same labelset".into());
    match value {
        Value::Scalar(values) if instant => Ok(QueryValue::Scalar {
            timestamp_ms: grid.start,
            value: values.first().copied().unwrap_or(f64::NAN),
        }),
        Value::Scalar(values) => Ok(QueryValue::Matrix(vec![SeriesResult {
            labels: Labels::default(),
            floats: grid.times().zip(values).collect(),
            histograms: Vec::new(),
        }])),
        Value::String(value) => Ok(QueryValue::String {
            timestamp_ms: grid.start,
            value,
        }),
        Value::Vector(series) if instant => {
            let mut seen: HashSet<Labels> = HashSet::with_capacity(series.len());
            let mut samples = Vec::with_capacity(series.len());
            for s in series {
                let value = match s.points.into_iter().next() {
                    Some(Point::F(f)) => SampleValue::Float(f),
                    Some(Point::H(h)) => SampleValue::Histogram(h),
                    _ => continue,
                };
                let labels = if s.drop_name {
                    without_name(&s.labels)
                } else {
                    Arc::unwrap_or_clone(s.labels)
                };
                if !seen.insert(labels.clone()) {
                    return Err(same_labelset());
                }
                samples.push(InstantSample {
                    labels,
                    timestamp_ms: grid.start,
                    value,
                });
            }
            Ok(QueryValue::Vector(samples))
        }
        Value::Vector(series) => {
            let renamed: Vec<StepSeries> = series
                .into_iter()
                .map(|mut s| {
                    if s.drop_name {
                        s.labels = Arc::new(without_name(&s.labels));
                        s.drop_name = false;
                    }
                    s
                })
                .collect();
            let merged = merge_same_labels(renamed)?;
            let mut out: Vec<SeriesResult> = merged
                .into_iter()
                .map(|s| {
                    let mut result = SeriesResult {
                        labels: Arc::unwrap_or_clone(s.labels),
                        ..SeriesResult::default()
                    };
                    for (idx, point) in s.points.into_iter().enumerate() {
                        match point {
                            Point::F(f) => result.floats.push((grid.time(idx), f)),
                            Point::H(h) => result.histograms.push((grid.time(idx), h)),
                            Point::Absent => {}
                        }
                    }
                    result
                })
                .filter(|s| !s.floats.is_empty() || !s.histograms.is_empty())
                .collect();
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(QueryValue::Matrix(out))
        }
        Value::Matrix(series) => {
            let mut seen: HashSet<Labels> = HashSet::with_capacity(series.len());
            let mut out = Vec::with_capacity(series.len());
            for s in series {
                let labels = if s.drop_name {
                    without_name(&s.labels)
                } else {
                    Arc::unwrap_or_clone(s.labels)
                };
                if !seen.insert(labels.clone()) {
                    return Err(same_labelset());
                }
                out.push(SeriesResult {
                    labels,
                    floats: s.floats,
                    histograms: s.hists,
                });
            }
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(QueryValue::Matrix(out))
        }
    }
}
