//! The time-series store: where every metric sample lives.
//!
//! Owns (filled by the metrics issue): the series index (sorted label sets -> series
//! refs, label pair -> postings), the write-ahead log, the in-memory head of compressed
//! chunks, immutable time-partitioned blocks on disk, compaction and retention, and the
//! read path that merges head and blocks for a time range and a set of matchers.
//!
//! Must not know: HTTP, any ingest wire format (remote-write, StatsD), PromQL. It stores
//! `model::Labels` and `model::Sample`s and answers matcher queries; callers above it
//! decide what they mean.
//!
//! Its data lives in `<data_dir>/tsdb/`.
