//! The time-series store: where every metric sample lives.
//!
//! Owns: the series index (sorted label sets -> series refs, label pair -> postings) and
//! matcher selection ([`postings`], [`matcher`]), the write-ahead log ([`wal`]), the
//! in-memory head of compressed chunks ([`head`], [`chunk`]), immutable
//! time-partitioned blocks on disk ([`block`]), compaction and retention, and the read
//! path that merges head and blocks for a time range and a set of matchers.
//!
//! Must not know: HTTP, any ingest wire format (remote-write, StatsD), PromQL. It stores
//! label sets and samples and answers matcher queries; callers above it decide what
//! they mean.
//!
//! Its data lives in `<data_dir>/tsdb/`.

pub mod block;
pub mod cardinality;
pub mod chunk;
pub use ::wal::codec as encoding;
pub mod head;
pub mod matcher;
pub mod metrics;
pub mod querier;
pub mod wal;

mod db;
mod error;
mod postings;

pub use cardinality::{CardinalityStats, HeadStats, NameCount};
pub use db::{
    AppendReport, Background, Db, FlushReport, OpenReport, Options, RejectReason, SeriesRejection,
};
pub use error::Error;
pub use head::{Metadata, SeriesLimitError, SeriesLimits};
pub use matcher::{MatchOp, Matcher};
pub use metrics::TsdbMetrics;
pub use querier::{Querier, Series, SeriesIter};
pub use wal::{FsyncPolicy, WalOptions};
