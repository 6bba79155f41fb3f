//! Alerting: Prometheus rule files evaluated on a schedule, and notifications.
//!
//! Owns (filled by the alerting issue): loading and validating rule files in
//! Prometheus's format, recording and alerting rule evaluation through `promql`, alert
//! state (pending, firing, resolved) that survives restarts in `<data_dir>/alerting/`,
//! and sending alerts to Alertmanager.
//!
//! Must not know: HTTP routing (that is `api`), ingest protocols, store internals beyond
//! what `promql` exposes.
