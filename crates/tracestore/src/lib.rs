//! The trace store: every span, keyed by trace id.
//!
//! Owns (filled by the traces issue): the write-ahead log of `model::Span`s, a head that
//! groups recent spans by trace, immutable Parquet blocks sorted by trace id with a
//! per-block filter to skip blocks that cannot hold a trace, compaction and retention,
//! and the read path (trace by id, trace search, services and operations).
//!
//! Must not know: HTTP, OTLP or Zipkin wire formats, the other stores. Span-derived
//! metrics are computed above it, not here.
//!
//! Its data lives in `<data_dir>/traces/`.
