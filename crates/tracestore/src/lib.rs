//! The trace store: every span, keyed by trace id.
//!
//! Owns: the write-ahead log of `model::Span` batches ([`codec`]), a head that groups
//! recent spans by trace, immutable Parquet blocks sorted by trace id with a Bloom
//! filter of their trace ids so a lookup skips blocks that cannot hold a trace
//! ([`block`], [`bloom`]), retention, and the read path: a trace by id across head and
//! blocks, trace search ([`query`]), services and their span names ([`store`]).
//!
//! Must not know: HTTP, OTLP or Zipkin wire formats, the other stores. Span-derived
//! metrics are computed above it, not here.
//!
//! Its data lives in `<data_dir>/traces/`: `wal/` and `blocks/<id>/`.
//!
//! Start reading at [`store::TraceStore`].

pub mod block;
pub mod bloom;
pub mod codec;
pub mod operations;
pub mod query;
pub mod store;

mod error;

pub use error::Error;
pub use operations::{Kinds, Operations};
pub use query::{SearchQuery, TraceSummary};
pub use store::{OpenStats, StoreStats, TraceStore, TraceStoreOptions};
