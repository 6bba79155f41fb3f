//! The log store: every log line, durable, full-text and field searchable.
//!
//! Owns (filled by the logs issue): the write-ahead log of `model::LogRecord`s, a Tantivy
//! index partitioned by time, the commit policy that makes new lines searchable within
//! seconds, background merges, retention by whole partition, and the read path (search,
//! histograms, top values, every line of one trace or correlation id, live tail).
//!
//! Must not know: HTTP, any ingest wire format (Elasticsearch bulk, Loki push, OTLP),
//! the other stores.
//!
//! Its data lives in `<data_dir>/logs/`.
