//! Ingest: turns what senders push into `model` values and hands them on.
//!
//! Owns: one module per protocol, each with the same files (`decode.rs`, `handler.rs`,
//! `tests.rs`): Prometheus remote-write ([`remote_write`]) and StatsD (metrics), JSON
//! lines, Elasticsearch `_bulk` and Loki push (logs), OTLP and Zipkin (logs and traces);
//! the label rules every metrics protocol applies ([`validate`]), the line rules every log
//! protocol applies ([`normalize`]) and the span rules and limits every trace protocol
//! applies ([`spans`]); what a batch decoder returns and how it is written and answered
//! ([`batch`]); the per-protocol ingest counters ([`metrics`]). Protocols arrive with
//! their issues; the [`Protocol`] list already names them all so their counters exist
//! from the start.
//!
//! Must not know: any store. Decoded data goes to the sink traits declared in [`sink`]
//! and implemented by the composition root (the `sightline` binary), so a protocol can
//! be tested without a store and a store without a protocol.

pub mod batch;
pub mod body;
pub mod es_bulk;
pub mod fuzzing;
#[cfg(test)]
pub(crate) mod http_testing;
pub mod json_logs;
pub mod loki_push;
pub mod metrics;
pub mod normalize;
pub mod otlp;
pub mod protowire;
pub mod remote_write;
pub mod sink;
pub mod spanmetrics;
pub mod spans;
pub mod statsd;
pub mod validate;
pub mod zipkin;

pub use metrics::{IngestMetrics, Protocol, ProtocolCounters, Signal};
pub use sink::{
    LineRejection, LogSink, LogWriteOutcome, MetricsSink, SeriesRejection, SinkError,
    SpanRejection, SpanSink, SpanWriteOutcome, WriteOutcome,
};
pub use spans::TraceLimits;
pub use validate::{LabelLimits, LabelProblem};
