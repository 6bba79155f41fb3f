//! Ingest: turns what senders push into `model` values and hands them on.
//!
//! Owns: one module per protocol, each with the same files (`decode.rs`, `handler.rs`,
//! `tests.rs`): Prometheus remote-write and StatsD (metrics), JSON lines, Elasticsearch
//! `_bulk` and Loki push (logs), OTLP and Zipkin (logs and traces); the per-protocol
//! ingest counters in [`metrics`]. Each protocol's module arrives with its issue; the
//! [`Protocol`] list already names them all so their counters exist from the start.
//!
//! Must not know: any store. Decoded data goes to handler traits declared here and
//! implemented by the composition root (the `sightline` binary), so a protocol can be
//! tested without a store and a store without a protocol.

pub mod metrics;

pub use metrics::{IngestMetrics, Protocol, ProtocolCounters, Signal};
