//! The log store: every log line, durable, full-text and field searchable.
//!
//! Owns: the write-ahead log of normalized [`model::LogRecord`]s (in the shared `wal`
//! crate's log, `record`), one Tantivy index per time partition (`schema`), the indexer
//! thread and its commit policy that makes new lines searchable within about a second,
//! background merges on a bounded pool, retention by whole partition, the search
//! language (`query`), and the read path (`search`: search with a cursor, the volume
//! histogram, top values, every line of one trace or correlation id; `select`, `streams`
//! and `windows`: lines picked by stream labels and line filters as Loki picks them,
//! label values, and counts in sliding windows for LogQL's metric queries).
//!
//! Must not know: HTTP, any ingest wire format (Elasticsearch bulk, Loki push, OTLP),
//! the other stores.
//!
//! Its data lives in `<data_dir>/logs/`: `wal/` and `partitions/<YYYYMMDD>[T<HH>]/`.
//!
//! Start reading at [`LogStore::open`] and [`LogStore::append`].

mod error;
pub mod field_policy;
pub mod metrics;
pub mod query;
pub mod record;
pub mod schema;
pub mod search;
pub mod select;
mod store;
pub mod stored_filter;
pub mod streams;
pub mod windows;

pub use error::Error;
pub use metrics::LogMetrics;
pub use search::{Cursor, Direction, Hit, SearchRequest, SearchResult, TopField};
pub use select::{Label, LabelMatcher, LineFilter, MatchOp, Pattern, Selection};
pub use store::{AppendOutcome, LogStore, OpenStats, Options, Partition, Partitioning, Rejection};
pub use streams::{Group, GroupsRequest, LinesRequest, LinesResult, StreamLine};
pub use wal::{FsyncPolicy, WalOptions};
pub use windows::{WindowCounts, WindowGroup, WindowsRequest};
