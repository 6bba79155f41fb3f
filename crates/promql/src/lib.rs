//! The PromQL engine: parses and evaluates instant and range queries over `tsdb`.
//!
//! Owns: series selectors ([`selector`]) today; evaluation with Prometheus 3 semantics
//! for float data (selectors, range vectors, subqueries, operators with vector matching,
//! aggregations, functions, staleness) and the query guardrails (timeout, samples
//! loaded, series returned) arrive with the PromQL issue.
//!
//! Must not know: HTTP or the Prometheus API's JSON shapes (that is `api`), alert rules
//! (that is `alerting`), how samples reached the store.

pub mod selector;

mod error;

pub use error::Error;
pub use selector::parse_selector;
