//! Elasticsearch-compatible `_bulk` ingest, so the Elasticsearch outputs of Fluent Bit,
//! Fluentd, Vector and Filebeat can send logs unchanged: `POST /_bulk` and
//! `/{index}/_bulk`, the same under `/elasticsearch`, and under `/elasticsearch` the
//! requests those shippers make before sending (the root document with the version,
//! `_cluster/health`, `_license`, template and lifecycle set-up).
//!
//! Each `index` or `create` document is normalized like a JSON log line (raw text kept);
//! its target index is kept as the field `_index` (and a given id as `_id`), never as
//! the service. `update` and `delete` are refused item by item. Limits are those of
//! `POST /api/v1/logs` ([`crate::json_logs::JsonLogsConfig`]).
//!
//! Shipper settings: Fluent Bit needs only `Path /elasticsearch` (or none) and
//! `Suppress_Type_Name On` or off; Vector and Filebeat need the endpoint
//! `http://host:port/elasticsearch` since they read the version from the root document;
//! Fluentd needs `path /elasticsearch` and `reload_connections false` (it would
//! otherwise ask `_nodes/http` for other nodes to connect to, which are not there).

pub mod decode;
pub mod handler;

pub use handler::router;

#[cfg(test)]
mod tests;
