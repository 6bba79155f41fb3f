//! The PromQL engine: parses and evaluates instant and range queries over `tsdb`.
//!
//! Owns: series selectors ([`selector`]), evaluation with Prometheus 3 semantics
//! (selectors with `offset` and `@`, left-open range windows, lookback and staleness,
//! subqueries, operators with vector matching, aggregations, functions, delayed removal
//! of the metric name), native histograms as PromQL computes with them ([`histogram`]),
//! the query limits (timeout, samples in memory, series returned, cancellation), and the
//! runner of Prometheus's PromQL test scripts ([`testscript`]).
//!
//! Must not know: HTTP or the Prometheus API's JSON shapes (that is `api`), alert rules
//! (that is `alerting`), how samples reached the store.
//!
//! Start reading at [`Engine`]; evaluation is in `eval/`, one node at a time over all
//! steps of a query.

pub mod annotations;
pub mod engine;
pub mod histogram;
pub mod selector;
pub mod storage;
pub mod testscript;
pub mod tools;
pub mod value;

mod error;
mod eval;

pub use annotations::{Annotation, Annotations};
pub use engine::{Engine, EngineOptions, QueryResult, QueryStats, parse};
pub use error::Error;
pub use eval::CancelToken;
pub use selector::parse_selector;
pub use storage::{MemStorage, Storage, StoredSeries};
pub use value::{InstantSample, QueryValue, SampleValue, SeriesResult};
