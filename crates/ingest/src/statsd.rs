//! StatsD over UDP and TCP, with DogStatsD tags and statsd_exporter-style mapping rules,
//! aggregated into Prometheus series and flushed to the metrics sink.
//!
//! [`decode`] parses lines, [`mapping`] names series, [`aggregate`] keeps their values
//! between flushes, [`handler`] runs the sockets and the flusher.

pub mod aggregate;
pub mod decode;
pub mod handler;
pub mod mapping;

pub use aggregate::{AggregatorConfig, DEFAULT_BUCKETS};
pub use handler::{StartError, StatsdConfig, StatsdServer, check_mappings};
pub use mapping::{MappingRule, MetricClass};
