//! Blocks: immutable Parquet files of spans sorted by trace id, one directory each.
//!
//! A block directory (`blocks/<id>/`) holds `spans.parquet`, one row per span sorted
//! by (trace id, start), and `traces.bloom`, the [`TraceBloom`] of its trace ids. It is
//! written under `<id>.tmp/` and renamed into place, so a block either exists whole or
//! not at all. The Parquet footer's key-value metadata carries what the store needs
//! without reading rows: the time range, span and trace counts, the WAL segment the
//! block's spans came from (so replay skips them), and the services with their span
//! names.
//!
//! Columns: `trace_id` (16-byte fixed), `span_id` (8), `parent_span_id` (8, null for
//! roots), `service`, `name`, `kind` (OTLP code), `start` (ns), `duration` (ns),
//! `status_code` (OTLP code), `status_message`, `trace_state`, `scope_name`,
//! `scope_version`, `resource_attributes` and `attributes` (attribute lists encoded as
//! [`wal::codec::put_attributes`] writes them: a sender's resource repeats on every
//! span and dictionary encoding stores it once per page), `events`, `links` (encoded by
//! [`crate::codec`]), and the three dropped counts. Row groups are small
//! ([`ROW_GROUP_ROWS`]) so a lookup decodes few rows; their trace-id statistics say
//! which row groups can hold an id.
//!
//! `write.rs` writes blocks (from the head, or merged by compaction); `read.rs` opens
//! them and answers lookups and searches.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use model::UnixNanos;
use parquet::file::metadata::KeyValue;
use wal::codec::Corrupt;

use crate::operations::{Kinds, Operations};

mod read;
mod write;

pub use read::{Block, BlockSpans};
pub use write::{BlockWriter, merge, span_order, write};

pub(crate) const SPANS_FILE: &str = "spans.parquet";
pub(crate) const BLOOM_FILE: &str = "traces.bloom";
/// Rows per row group: a trace lookup decodes one or two of them.
pub const ROW_GROUP_ROWS: usize = 8192;
const ZSTD_LEVEL: i32 = 3;

const KEY_MIN_START: &str = "sightline.min_start";
const KEY_MAX_END: &str = "sightline.max_end";
const KEY_TRACES: &str = "sightline.traces";
const KEY_WAL_UPTO: &str = "sightline.wal_upto";
const KEY_OPERATIONS: &str = "sightline.operations";
const KEY_LEVEL: &str = "sightline.level";
const KEY_SOURCES: &str = "sightline.sources";

/// Column positions, in schema order.
pub(crate) mod col {
    pub(crate) const TRACE_ID: usize = 0;
    pub(crate) const SPAN_ID: usize = 1;
    pub(crate) const PARENT_SPAN_ID: usize = 2;
    pub(crate) const SERVICE: usize = 3;
    pub(crate) const NAME: usize = 4;
    pub(crate) const KIND: usize = 5;
    pub(crate) const START: usize = 6;
    pub(crate) const DURATION: usize = 7;
    pub(crate) const STATUS_CODE: usize = 8;
    pub(crate) const STATUS_MESSAGE: usize = 9;
    pub(crate) const TRACE_STATE: usize = 10;
    pub(crate) const SCOPE_NAME: usize = 11;
    pub(crate) const SCOPE_VERSION: usize = 12;
    pub(crate) const RESOURCE_ATTRIBUTES: usize = 13;
    pub(crate) const ATTRIBUTES: usize = 14;
    pub(crate) const EVENTS: usize = 15;
    pub(crate) const LINKS: usize = 16;
    pub(crate) const DROPPED_ATTRIBUTES: usize = 17;
    pub(crate) const DROPPED_EVENTS: usize = 18;
    pub(crate) const DROPPED_LINKS: usize = 19;
}

fn schema() -> SchemaRef {
    let string = |name: &str| Field::new(name, DataType::Utf8, false);
    let binary = |name: &str| Field::new(name, DataType::Binary, false);
    let count = |name: &str| Field::new(name, DataType::UInt32, false);
    Arc::new(Schema::new(vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("parent_span_id", DataType::FixedSizeBinary(8), true),
        string("service"),
        string("name"),
        Field::new("kind", DataType::Int8, false),
        Field::new("start", DataType::Int64, false),
        Field::new("duration", DataType::Int64, false),
        Field::new("status_code", DataType::Int8, false),
        string("status_message"),
        string("trace_state"),
        string("scope_name"),
        string("scope_version"),
        binary("resource_attributes"),
        binary("attributes"),
        binary("events"),
        binary("links"),
        count("dropped_attributes"),
        count("dropped_events"),
        count("dropped_links"),
    ]))
}

/// What a block's footer says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMeta {
    /// The earliest span start and the latest span end in the block.
    pub min_start: UnixNanos,
    pub max_end: UnixNanos,
    pub spans: u64,
    pub traces: u64,
    /// Every WAL segment numbered at or below this is in blocks.
    pub wal_upto: u64,
    /// How many compactions made this block (0: cut from the head).
    pub level: u32,
    /// The blocks this one replaces (a compaction's inputs), deleted once it is in place.
    pub sources: Vec<u64>,
    /// Span names by service, with their kinds.
    pub operations: Operations,
}

impl BlockMeta {
    fn to_key_values(&self) -> Vec<KeyValue> {
        let mut operations = String::new();
        for (service, name, kinds) in self.operations.iter() {
            operations.push_str(&escape(service));
            operations.push('\t');
            operations.push_str(&escape(name));
            operations.push('\t');
            operations.push_str(&kinds.bits().to_string());
            operations.push('\n');
        }
        vec![
            KeyValue::new(KEY_MIN_START.into(), self.min_start.0.to_string()),
            KeyValue::new(KEY_MAX_END.into(), self.max_end.0.to_string()),
            KeyValue::new(KEY_TRACES.into(), self.traces.to_string()),
            KeyValue::new(KEY_WAL_UPTO.into(), self.wal_upto.to_string()),
            KeyValue::new(KEY_OPERATIONS.into(), operations),
            KeyValue::new(KEY_LEVEL.into(), self.level.to_string()),
            KeyValue::new(
                KEY_SOURCES.into(),
                self.sources
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ]
    }

    fn from_key_values(spans: u64, key_values: &[KeyValue]) -> Result<Self, Corrupt> {
        let get = |key: &str| {
            key_values
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.as_deref())
                .ok_or(Corrupt("block metadata is missing a key"))
        };
        let number = |key: &str| -> Result<i64, Corrupt> {
            get(key)?
                .parse()
                .map_err(|_| Corrupt("block metadata holds a bad number"))
        };
        let mut operations = Operations::default();
        for line in get(KEY_OPERATIONS)?.lines() {
            let mut parts = line.split('\t');
            let (Some(service), Some(name)) = (parts.next(), parts.next()) else {
                return Err(Corrupt("block metadata holds a bad operation"));
            };
            let kinds = match parts.next() {
                Some(bits) => bits
                    .parse()
                    .map_err(|_| Corrupt("block metadata holds bad span kinds"))?,
                // Written before kinds were recorded.
                None => 0,
            };
            operations.add(&unescape(service), &unescape(name), Kinds::from_bits(kinds));
        }
        // Level and sources are absent from blocks written before compaction existed.
        let level = match get(KEY_LEVEL) {
            Ok(text) => text
                .parse()
                .map_err(|_| Corrupt("block metadata holds a bad number"))?,
            Err(_) => 0,
        };
        let sources = match get(KEY_SOURCES) {
            Ok(text) => text
                .split(',')
                .filter(|id| !id.is_empty())
                .map(|id| {
                    id.parse()
                        .map_err(|_| Corrupt("block metadata holds a bad block id"))
                })
                .collect::<Result<Vec<u64>, Corrupt>>()?,
            Err(_) => Vec::new(),
        };
        Ok(BlockMeta {
            level,
            sources,
            min_start: UnixNanos(number(KEY_MIN_START)?),
            max_end: UnixNanos(number(KEY_MAX_END)?),
            spans,
            traces: u64::try_from(number(KEY_TRACES)?)
                .map_err(|_| Corrupt("block metadata holds a bad number"))?,
            wal_upto: u64::try_from(number(KEY_WAL_UPTO)?)
                .map_err(|_| Corrupt("block metadata holds a bad number"))?,
            operations,
        })
    }
}

/// Tabs, newlines and backslashes escaped, so an operation is one tab-separated line.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
