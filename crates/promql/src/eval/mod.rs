//! Evaluation: one node at a time over every step of the query ("step-columnar").
//!
//! [`Evaluator::eval`] takes an expression and a [`Grid`] of evaluation times and
//! returns a [`Value`] with one point per step for every series. Selectors read each
//! series from storage once and walk it across all steps; binary operators match series
//! once and then combine their points step by step; aggregations group series once.

mod aggregate;
mod binary;
mod functions;
mod histograms;
mod range_functions;
mod selector;

pub(crate) use functions::merge_same_labels;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use promql_parser::parser::{AtModifier, Expr, Offset};

use crate::Error;
use crate::annotations::Annotations;
use crate::storage::Storage;
use crate::value::{Point, Value};

/// The evaluation times: `start`, `start + step`, ... up to `end` (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
}

impl Grid {
    pub(crate) fn instant(time: i64) -> Grid {
        Grid {
            start: time,
            end: time,
            step: 1,
        }
    }

    pub(crate) fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            ((self.end - self.start) / self.step) as usize + 1
        }
    }

    pub(crate) fn time(&self, idx: usize) -> i64 {
        self.start + idx as i64 * self.step
    }

    pub(crate) fn times(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|idx| self.time(idx))
    }
}

/// Cancellation shared between a query and whoever may cancel it (a client that went
/// away, a server shutting down).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_canceled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Limits and bookkeeping of one query run.
#[derive(Debug)]
pub(crate) struct Budget {
    pub(crate) cancel: CancelToken,
    pub(crate) deadline: Option<Instant>,
    pub(crate) max_samples: usize,
    pub(crate) current: usize,
    pub(crate) peak: usize,
    /// Samples read from storage, in total.
    pub(crate) loaded: u64,
}

impl Budget {
    /// Fails if the query was canceled or ran out of time.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.cancel.is_canceled() {
            return Err(Error::Canceled("expression evaluation".into()));
        }
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return Err(Error::Timeout("expression evaluation".into()));
        }
        Ok(())
    }

    /// Counts `weight` more samples held in memory.
    pub(crate) fn take(&mut self, weight: usize) -> Result<(), Error> {
        self.current += weight;
        self.peak = self.peak.max(self.current);
        if self.max_samples > 0 && self.current > self.max_samples {
            return Err(Error::TooManySamples {
                limit: self.max_samples,
            });
        }
        Ok(())
    }

    pub(crate) fn release(&mut self, weight: usize) {
        self.current = self.current.saturating_sub(weight);
    }
}

/// Engine settings an evaluation needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EvalSettings {
    pub(crate) lookback_ms: i64,
    pub(crate) subquery_step_ms: i64,
}

pub(crate) struct Evaluator<'a> {
    pub(crate) storage: &'a dyn Storage,
    pub(crate) settings: EvalSettings,
    /// The query's own start and end, which `@ start()` and `@ end()` refer to.
    pub(crate) query_start: i64,
    pub(crate) query_end: i64,
    pub(crate) budget: Budget,
    pub(crate) annotations: Annotations,
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("settings", &self.settings)
            .field("query_start", &self.query_start)
            .field("query_end", &self.query_end)
            .finish_non_exhaustive()
    }
}

pub(crate) fn duration_ms(duration: &std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(duration)) => duration_ms(duration),
        Some(Offset::Neg(duration)) => -duration_ms(duration),
    }
}

fn system_time_ms(time: &SystemTime) -> i64 {
    let round = |duration: std::time::Duration| (duration.as_nanos() as f64 / 1e6).round() as i64;
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => round(since),
        Err(before) => -round(before.duration()),
    }
}

impl Evaluator<'_> {
    /// The fixed evaluation time an `@` modifier sets, if any.
    pub(crate) fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at.as_ref()? {
            AtModifier::Start => Some(self.query_start),
            AtModifier::End => Some(self.query_end),
            AtModifier::At(time) => Some(system_time_ms(time)),
        }
    }

    /// Evaluates `expr` at every time of `grid`.
    pub(crate) fn eval(&mut self, expr: &Expr, grid: Grid) -> Result<Value, Error> {
        self.budget.check()?;
        match expr {
            Expr::NumberLiteral(literal) => Ok(Value::Scalar(vec![literal.val; grid.len()])),
            Expr::StringLiteral(literal) => Ok(Value::String(literal.val.clone())),
            Expr::Paren(paren) => self.eval(&paren.expr, grid),
            Expr::Unary(unary) => {
                let value = self.eval(&unary.expr, grid)?;
                negate(value)
            }
            Expr::Binary(binary) => self.eval_binary(binary, grid),
            Expr::Aggregate(aggregate) => self.eval_aggregate(aggregate, grid),
            Expr::Call(call) => self.eval_call(call, grid),
            Expr::VectorSelector(selector) => {
                let series = self.vector_selector(selector, grid)?;
                Ok(Value::Vector(series))
            }
            Expr::MatrixSelector(selector) => {
                if grid.len() != 1 {
                    return Err(Error::BadQuery(
                        "a range vector can only be the result of an instant query".into(),
                    ));
                }
                let series = self.matrix_selector_raw(selector, grid.start)?;
                Ok(Value::Matrix(series))
            }
            Expr::Subquery(subquery) => {
                if grid.len() != 1 {
                    return Err(Error::BadQuery(
                        "a subquery can only be the result of an instant query".into(),
                    ));
                }
                let series = self.subquery_raw(subquery, grid.start)?;
                Ok(Value::Matrix(series))
            }
            Expr::Extension(_) => Err(Error::BadQuery("unsupported expression".into())),
        }
    }

    /// Evaluates an expression that must be a scalar (a function or aggregation
    /// parameter): one value per step.
    pub(crate) fn eval_scalar(&mut self, expr: &Expr, grid: Grid) -> Result<Vec<f64>, Error> {
        match self.eval(expr, grid)? {
            Value::Scalar(values) => Ok(values),
            _ => Err(Error::BadQuery(format!(
                "expected a scalar, got {}",
                type_name(expr)
            ))),
        }
    }

    /// Evaluates an expression that must be an instant vector.
    pub(crate) fn eval_vector(
        &mut self,
        expr: &Expr,
        grid: Grid,
    ) -> Result<Vec<crate::value::StepSeries>, Error> {
        match self.eval(expr, grid)? {
            Value::Vector(series) => Ok(series),
            _ => Err(Error::BadQuery(format!(
                "expected an instant vector, got {}",
                type_name(expr)
            ))),
        }
    }
}

/// Prometheus's documented name of an expression's type.
pub(crate) fn type_name(expr: &Expr) -> &'static str {
    use promql_parser::parser::value::ValueType;
    match expr.value_type() {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
    }
}

/// Strips parentheses.
pub(crate) fn unwrap_parens(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(paren) = expr {
        expr = &paren.expr;
    }
    expr
}

fn negate(value: Value) -> Result<Value, Error> {
    match value {
        Value::Scalar(mut values) => {
            values.iter_mut().for_each(|v| *v = -*v);
            Ok(Value::Scalar(values))
        }
        Value::Vector(mut series) => {
            for s in &mut series {
                s.drop_name = true;
                for point in &mut s.points {
                    match point {
                        Point::F(v) => *v = -*v,
                        Point::H(h) => {
                            let mut negated = (**h).clone();
                            negated.mul(-1.0);
                            *h = Arc::new(negated);
                        }
                        Point::Absent => {}
                    }
                }
            }
            Ok(Value::Vector(series))
        }
        _ => Err(Error::BadQuery(
            "unary minus needs a scalar or an instant vector".into(),
        )),
    }
}

/// Kahan-Neumaier compensated addition: returns the new sum and compensation.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}
