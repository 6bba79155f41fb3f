//! Values: what evaluation passes between nodes, and what a query returns.
//!
//! The engine evaluates a whole range query at once, node by node ("step-columnar"): an
//! instant vector is a list of series, each with one [`Point`] per evaluation step.
//! Grouping, matching and label work happens once per series instead of once per step.

use std::sync::Arc;

use model::Labels;

use crate::histogram::FloatHistogram;

/// One series' value at one evaluation step.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Point {
    #[default]
    Absent,
    F(f64),
    H(Arc<FloatHistogram>),
}

impl Point {
    pub(crate) fn is_present(&self) -> bool {
        !matches!(self, Point::Absent)
    }

    pub(crate) fn float(&self) -> Option<f64> {
        match self {
            Point::F(value) => Some(*value),
            _ => None,
        }
    }

    /// Weight for the samples-in-memory limit.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Point::Absent => 0,
            Point::F(_) => 1,
            Point::H(h) => h.weight(),
        }
    }
}

/// An instant-vector series over the evaluation steps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepSeries {
    pub(crate) labels: Arc<Labels>,
    /// The metric name goes when evaluation ends (Prometheus 3 removes it late, so that
    /// `label_replace` can still read it after a function that changes the meaning).
    pub(crate) drop_name: bool,
    pub(crate) points: Vec<Point>,
}

impl StepSeries {
    pub(crate) fn weight(&self) -> usize {
        self.points.iter().map(Point::weight).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        !self.points.iter().any(Point::is_present)
    }
}

/// A series of raw samples with their own timestamps: a range vector's element, or what
/// a subquery produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RangeSeries {
    pub(crate) labels: Arc<Labels>,
    pub(crate) drop_name: bool,
    pub(crate) floats: Vec<(i64, f64)>,
    pub(crate) hists: Vec<(i64, Arc<FloatHistogram>)>,
}

impl RangeSeries {
    pub(crate) fn weight(&self) -> usize {
        self.floats.len() + self.hists.iter().map(|(_, h)| h.weight()).sum::<usize>()
    }
}

/// What evaluating a node yields.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// One value per step; a scalar is never absent.
    Scalar(Vec<f64>),
    String(String),
    Vector(Vec<StepSeries>),
    /// A range vector at one evaluation time (an instant query of `x[5m]` or a subquery).
    Matrix(Vec<RangeSeries>),
}

impl Value {
    pub(crate) fn weight(&self) -> usize {
        match self {
            Value::Scalar(values) => values.len(),
            Value::String(_) => 0,
            Value::Vector(series) => series.iter().map(StepSeries::weight).sum(),
            Value::Matrix(series) => series.iter().map(RangeSeries::weight).sum(),
        }
    }
}

/// A sample's value in a result.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    Float(f64),
    Histogram(Arc<FloatHistogram>),
}

/// One element of an instant-vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub timestamp_ms: i64,
    pub value: SampleValue,
}

/// One series of a range-vector (matrix) result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesResult {
    pub labels: Labels,
    pub floats: Vec<(i64, f64)>,
    pub histograms: Vec<(i64, Arc<FloatHistogram>)>,
}

/// The result of a query, typed as Prometheus's API types it.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Scalar {
        timestamp_ms: i64,
        value: f64,
    },
    String {
        timestamp_ms: i64,
        value: String,
    },
    /// An instant query of an instant-vector expression, in evaluation order.
    Vector(Vec<InstantSample>),
    /// A range query (series sorted by labels), or an instant query of a range-vector
    /// expression.
    Matrix(Vec<SeriesResult>),
}

impl QueryValue {
    /// Prometheus's `resultType`.
    pub fn type_name(&self) -> &'static str {
        match self {
            QueryValue::Scalar { .. } => "scalar",
            QueryValue::String { .. } => "string",
            QueryValue::Vector(_) => "vector",
            QueryValue::Matrix(_) => "matrix",
        }
    }

    /// How many series the result holds.
    pub fn n_series(&self) -> usize {
        match self {
            QueryValue::Scalar { .. } | QueryValue::String { .. } => 1,
            QueryValue::Vector(samples) => samples.len(),
            QueryValue::Matrix(series) => series.len(),
        }
    }
}
