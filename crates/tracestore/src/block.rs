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

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, FixedSizeBinaryBuilder, Int8Builder, Int64Builder, StringBuilder, UInt32Builder,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, FixedSizeBinaryArray, Int8Array, Int64Array, RecordBatch,
    StringArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use model::{Span, SpanId, TraceId, UnixNanos};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use wal::codec::{Corrupt, Decoder, put_attributes};

use crate::bloom::TraceBloom;
use crate::codec;
use crate::error::Error;
use crate::operations::{Kinds, Operations};
use crate::query::SearchQuery;

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

/// Writes `spans` (any order) as block `dir`, atomically. Returns the block's metadata.
pub fn write(dir: &Path, mut spans: Vec<&Span>, wal_upto: u64) -> Result<BlockMeta, Error> {
    spans.sort_unstable_by_key(|span| span_order(span));
    let mut writer = BlockWriter::create(dir, spans.len(), wal_upto, 0, Vec::new())?;
    for span in spans {
        writer.push(span)?;
    }
    writer.finish()
}

/// The order of a block's rows.
pub(crate) fn span_order(span: &Span) -> (TraceId, UnixNanos, SpanId) {
    (span.trace_id, span.start, span.span_id)
}

/// Writes one block from spans given in [`span_order`], holding at most one row group
/// of them: blocks are written under `<id>.tmp/` and renamed into place by `finish`.
pub struct BlockWriter {
    dir: PathBuf,
    tmp: PathBuf,
    schema: SchemaRef,
    writer: ArrowWriter<File>,
    rows: RowBuilder,
    meta: BlockMeta,
    bloom: TraceBloom,
    previous: Option<TraceId>,
}

impl std::fmt::Debug for BlockWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("dir", &self.dir)
            .field("spans", &self.meta.spans)
            .finish_non_exhaustive()
    }
}

impl BlockWriter {
    /// `max_traces` sizes the Bloom filter (an upper bound is fine). `level` counts the
    /// compactions behind the block; `sources` are the blocks it replaces.
    pub fn create(
        dir: &Path,
        max_traces: usize,
        wal_upto: u64,
        level: u32,
        sources: Vec<u64>,
    ) -> Result<Self, Error> {
        let tmp = dir.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(Error::io("cannot create block", &tmp))?;
        let spans_path = tmp.join(SPANS_FILE);
        let file =
            File::create(&spans_path).map_err(Error::io("cannot create block", &spans_path))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(ZSTD_LEVEL).map_err(|err| Error::Parquet(err.to_string()))?,
            ))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let schema = schema();
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(properties))
            .map_err(|err| Error::Parquet(err.to_string()))?;
        Ok(BlockWriter {
            dir: dir.to_path_buf(),
            tmp,
            schema,
            writer,
            rows: RowBuilder::default(),
            meta: BlockMeta {
                min_start: UnixNanos(i64::MAX),
                max_end: UnixNanos(i64::MIN),
                spans: 0,
                traces: 0,
                wal_upto,
                level,
                sources,
                operations: Operations::default(),
            },
            bloom: TraceBloom::with_capacity(max_traces),
            previous: None,
        })
    }

    /// Appends a span; spans must come in [`span_order`].
    pub fn push(&mut self, span: &Span) -> Result<(), Error> {
        let meta = &mut self.meta;
        meta.spans += 1;
        meta.min_start = meta.min_start.min(span.start);
        meta.max_end = meta.max_end.max(span.end);
        if self.previous != Some(span.trace_id) {
            meta.traces += 1;
            self.bloom.insert(&span.trace_id);
            self.previous = Some(span.trace_id);
        }
        meta.operations.record(span);
        self.rows.append(span)?;
        if self.rows.len == ROW_GROUP_ROWS {
            self.write_rows()?;
        }
        Ok(())
    }

    fn write_rows(&mut self) -> Result<(), Error> {
        let batch = std::mem::take(&mut self.rows).finish(&self.schema)?;
        self.writer
            .write(&batch)
            .map_err(|err| Error::Parquet(err.to_string()))
    }

    /// Writes the footer and the Bloom filter, syncs, and renames the block into place.
    pub fn finish(mut self) -> Result<BlockMeta, Error> {
        if self.rows.len > 0 {
            self.write_rows()?;
        }
        for key_value in self.meta.to_key_values() {
            self.writer.append_key_value_metadata(key_value);
        }
        let spans_path = self.tmp.join(SPANS_FILE);
        let file = self
            .writer
            .into_inner()
            .map_err(|err| Error::Parquet(err.to_string()))?;
        file.sync_all()
            .map_err(Error::io("cannot sync block", &spans_path))?;
        let bloom_path = self.tmp.join(BLOOM_FILE);
        std::fs::write(&bloom_path, self.bloom.encode())
            .and_then(|()| File::open(&bloom_path)?.sync_all())
            .map_err(Error::io("cannot write block", &bloom_path))?;
        wal::sync_dir(&self.tmp)?;
        std::fs::rename(&self.tmp, &self.dir)
            .map_err(Error::io("cannot install block", &self.dir))?;
        if let Some(parent) = self.dir.parent() {
            wal::sync_dir(parent)?;
        }
        Ok(self.meta)
    }
}

/// The column builders of one row group.
#[derive(Default)]
struct RowBuilder {
    len: usize,
    trace_id: Option<FixedSizeBinaryBuilder>,
    span_id: Option<FixedSizeBinaryBuilder>,
    parent: Option<FixedSizeBinaryBuilder>,
    service: StringBuilder,
    name: StringBuilder,
    kind: Int8Builder,
    start: Int64Builder,
    duration: Int64Builder,
    status_code: Int8Builder,
    status_message: StringBuilder,
    trace_state: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    resource_attributes: BinaryBuilder,
    attributes: BinaryBuilder,
    events: BinaryBuilder,
    links: BinaryBuilder,
    dropped_attributes: UInt32Builder,
    dropped_events: UInt32Builder,
    dropped_links: UInt32Builder,
    scratch: Vec<u8>,
}

#[expect(clippy::needless_pass_by_value, reason = "used as a map_err function")]
fn arrow_error(err: arrow_schema::ArrowError) -> Error {
    Error::Parquet(err.to_string())
}

impl RowBuilder {
    fn append(&mut self, span: &Span) -> Result<(), Error> {
        self.trace_id
            .get_or_insert_with(|| FixedSizeBinaryBuilder::with_capacity(ROW_GROUP_ROWS, 16))
            .append_value(span.trace_id.as_bytes())
            .map_err(arrow_error)?;
        self.span_id
            .get_or_insert_with(|| FixedSizeBinaryBuilder::with_capacity(ROW_GROUP_ROWS, 8))
            .append_value(span.span_id.as_bytes())
            .map_err(arrow_error)?;
        let parent = self
            .parent
            .get_or_insert_with(|| FixedSizeBinaryBuilder::with_capacity(ROW_GROUP_ROWS, 8));
        match &span.parent_span_id {
            Some(id) => parent.append_value(id.as_bytes()).map_err(arrow_error)?,
            None => parent.append_null(),
        }
        self.service.append_value(&span.service);
        self.name.append_value(&span.name);
        self.kind.append_value(codec::kind_code(span.kind) as i8);
        self.start.append_value(span.start.0);
        self.duration
            .append_value(span.end.0.saturating_sub(span.start.0));
        self.status_code
            .append_value(codec::status_code(&span.status) as i8);
        self.status_message.append_value(match &span.status {
            model::SpanStatus::Error { message } => message.as_str(),
            model::SpanStatus::Unset | model::SpanStatus::Ok => "",
        });
        self.trace_state.append_value(&span.trace_state);
        self.scope_name.append_value(&span.scope_name);
        self.scope_version.append_value(&span.scope_version);
        let scratch = &mut self.scratch;
        scratch.clear();
        put_attributes(scratch, &span.resource_attributes);
        self.resource_attributes.append_value(&*scratch);
        scratch.clear();
        put_attributes(scratch, &span.attributes);
        self.attributes.append_value(&*scratch);
        scratch.clear();
        codec::encode_events(scratch, &span.events);
        self.events.append_value(&*scratch);
        scratch.clear();
        codec::encode_links(scratch, &span.links);
        self.links.append_value(&*scratch);
        self.dropped_attributes
            .append_value(span.dropped_attributes);
        self.dropped_events.append_value(span.dropped_events);
        self.dropped_links.append_value(span.dropped_links);
        self.len += 1;
        Ok(())
    }

    fn finish(mut self, schema: &SchemaRef) -> Result<RecordBatch, Error> {
        let fixed = |builder: Option<FixedSizeBinaryBuilder>, width: i32| -> ArrayRef {
            Arc::new(
                builder
                    .unwrap_or_else(|| FixedSizeBinaryBuilder::new(width))
                    .finish(),
            )
        };
        let columns: Vec<ArrayRef> = vec![
            fixed(self.trace_id.take(), 16),
            fixed(self.span_id.take(), 8),
            fixed(self.parent.take(), 8),
            Arc::new(self.service.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.duration.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            Arc::new(self.resource_attributes.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.events.finish()),
            Arc::new(self.links.finish()),
            Arc::new(self.dropped_attributes.finish()),
            Arc::new(self.dropped_events.finish()),
            Arc::new(self.dropped_links.finish()),
        ];
        RecordBatch::try_new(Arc::clone(schema), columns).map_err(arrow_error)
    }
}

/// An open block: its footer and trace filter in memory, its rows on disk.
#[derive(Debug)]
pub struct Block {
    pub id: u64,
    pub dir: PathBuf,
    pub meta: BlockMeta,
    pub bytes: u64,
    bloom: TraceBloom,
    reader_meta: ArrowReaderMetadata,
}

fn corrupt(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("{}: {what}", path.display()))
}

impl Block {
    pub fn open(id: u64, dir: &Path) -> Result<Block, Error> {
        let spans_path = dir.join(SPANS_FILE);
        let file = File::open(&spans_path).map_err(Error::io("cannot open block", &spans_path))?;
        let bytes = file
            .metadata()
            .map_err(Error::io("cannot open block", &spans_path))?
            .len();
        let reader_meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
            .map_err(|err| corrupt(&spans_path, err))?;
        if reader_meta.schema().fields() != schema().fields() {
            return Err(corrupt(&spans_path, "unexpected columns"));
        }
        let file_meta = reader_meta.metadata().file_metadata();
        let spans = u64::try_from(file_meta.num_rows()).unwrap_or(0);
        let key_values = file_meta.key_value_metadata().cloned().unwrap_or_default();
        let meta = BlockMeta::from_key_values(spans, &key_values)
            .map_err(|err| corrupt(&spans_path, err))?;
        let bloom_path = dir.join(BLOOM_FILE);
        let bloom_bytes =
            std::fs::read(&bloom_path).map_err(Error::io("cannot open block", &bloom_path))?;
        let bloom = TraceBloom::decode(&bloom_bytes).map_err(|err| corrupt(&bloom_path, err))?;
        Ok(Block {
            id,
            dir: dir.to_path_buf(),
            meta,
            bytes: bytes + bloom_bytes.len() as u64,
            bloom,
            reader_meta,
        })
    }

    /// The row groups whose trace-id range includes `id`.
    fn row_groups_for(&self, id: &TraceId) -> Vec<usize> {
        let key = id.as_bytes().as_slice();
        self.reader_meta
            .metadata()
            .row_groups()
            .iter()
            .enumerate()
            .filter(|(_, group)| {
                match group.column(col::TRACE_ID).statistics() {
                    Some(stats) => match (stats.min_bytes_opt(), stats.max_bytes_opt()) {
                        (Some(min), Some(max)) => min <= key && key <= max,
                        _ => true,
                    },
                    // No statistics: the row group cannot be ruled out.
                    None => true,
                }
            })
            .map(|(idx, _)| idx)
            .collect()
    }

    /// The row groups that may hold a span starting in `[start, end]`.
    fn row_groups_in(&self, start: i64, end: i64) -> Vec<usize> {
        self.reader_meta
            .metadata()
            .row_groups()
            .iter()
            .enumerate()
            .filter(|(_, group)| match group.column(col::START).statistics() {
                Some(Statistics::Int64(stats)) => match (stats.min_opt(), stats.max_opt()) {
                    (Some(&min), Some(&max)) => min <= end && max >= start,
                    _ => true,
                },
                _ => true,
            })
            .map(|(idx, _)| idx)
            .collect()
    }

    fn reader(
        &self,
        row_groups: Vec<usize>,
        columns: Option<&[usize]>,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, Error> {
        let path = self.dir.join(SPANS_FILE);
        let file = File::open(&path).map_err(Error::io("cannot read block", &path))?;
        let mut builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.reader_meta.clone())
                .with_row_groups(row_groups)
                .with_batch_size(ROW_GROUP_ROWS);
        if let Some(columns) = columns {
            let mask =
                ProjectionMask::roots(self.reader_meta.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        builder.build().map_err(|err| corrupt(&path, err))
    }

    /// The block's spans in [`span_order`], one row group decoded at a time.
    pub fn spans(&self) -> Result<BlockSpans, Error> {
        let path = self.dir.join(SPANS_FILE);
        let row_groups = (0..self.reader_meta.metadata().num_row_groups()).collect();
        Ok(BlockSpans {
            reader: self.reader(row_groups, None)?,
            path,
            pending: std::collections::VecDeque::new(),
        })
    }

    /// Every span of trace `id` in this block, in start order.
    pub fn trace(&self, id: &TraceId) -> Result<Vec<Span>, Error> {
        if !self.bloom.may_contain(id) {
            return Ok(Vec::new());
        }
        let row_groups = self.row_groups_for(id);
        if row_groups.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.dir.join(SPANS_FILE);
        let mut spans = Vec::new();
        for batch in self.reader(row_groups, None)? {
            let batch = batch.map_err(|err| corrupt(&path, err))?;
            let columns = Columns::of(&batch, &path)?;
            for row in 0..batch.num_rows() {
                if columns.trace_id.value(row) == id.as_bytes() {
                    spans.push(columns.span(row).map_err(|err| corrupt(&path, err))?);
                }
            }
        }
        Ok(spans)
    }

    /// Calls `visit` with the trace id and start of every span matching `query`, in
    /// trace-id order; `visit` answers whether to go on. Cheap columns are checked
    /// first: a span is decoded whole only when attribute conditions need it.
    pub fn search(
        &self,
        query: &SearchQuery,
        visit: &mut dyn FnMut(TraceId, UnixNanos) -> bool,
    ) -> Result<(), Error> {
        let (start, end) = (query.start.0, query.end.0);
        if self.meta.min_start.0 > end || self.meta.max_end.0 < start {
            return Ok(());
        }
        if let Some(service) = &query.service
            && !self
                .meta
                .operations
                .contains(service, query.span_name.as_deref())
        {
            return Ok(());
        }
        let row_groups = self.row_groups_in(start, end);
        if row_groups.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(SPANS_FILE);
        // Six columns decide most conditions; attribute conditions add the kind and the
        // two attribute columns, decoded only for rows the six columns let through. No
        // span is decoded whole.
        let with_attributes = !query.attributes.is_empty();
        let mut columns = vec![
            col::TRACE_ID,
            col::SERVICE,
            col::NAME,
            col::START,
            col::DURATION,
            col::STATUS_CODE,
        ];
        if with_attributes {
            columns.extend([col::KIND, col::RESOURCE_ATTRIBUTES, col::ATTRIBUTES]);
        }
        for batch in self.reader(row_groups, Some(&columns))? {
            let batch = batch.map_err(|err| corrupt(&path, err))?;
            let cheap = CheapColumns::of(&batch, &path)?;
            let attribute_columns = if with_attributes {
                Some((
                    named::<Int8Array>(&batch, "kind", &path)?,
                    named::<BinaryArray>(&batch, "resource_attributes", &path)?,
                    named::<BinaryArray>(&batch, "attributes", &path)?,
                ))
            } else {
                None
            };
            for row in 0..batch.num_rows() {
                let span_start = cheap.start.value(row);
                let duration = u64::try_from(cheap.duration.value(row)).unwrap_or(0);
                let status_code = cheap.status_code.value(row);
                let cheap_match = span_start >= start
                    && span_start <= end
                    && query
                        .service
                        .as_ref()
                        .is_none_or(|s| s == cheap.service.value(row))
                    && query
                        .span_name
                        .as_ref()
                        .is_none_or(|n| n == cheap.name.value(row))
                    && (!query.errors_only || status_code == 2)
                    && query.min_duration_nanos.is_none_or(|min| duration >= min)
                    && query.max_duration_nanos.is_none_or(|max| duration <= max);
                if !cheap_match {
                    continue;
                }
                if let Some((kind, resource, attributes)) = attribute_columns {
                    let decode = || -> Result<bool, Corrupt> {
                        let kind = codec::kind_from_code(
                            u8::try_from(kind.value(row)).map_err(|_| Corrupt("bad span kind"))?,
                        )?;
                        let status = codec::status_from_code(
                            u8::try_from(status_code).map_err(|_| Corrupt("bad status code"))?,
                            "",
                        )?;
                        Ok(query.attributes_match(
                            &Decoder::new(attributes.value(row)).attributes()?,
                            &Decoder::new(resource.value(row)).attributes()?,
                            kind,
                            &status,
                        ))
                    };
                    if !decode().map_err(|err| corrupt(&path, err))? {
                        continue;
                    }
                }
                let trace_id = TraceId::from_bytes(cheap.trace_id.value(row))
                    .map_err(|_| corrupt(&path, "bad trace id"))?;
                if !visit(trace_id, UnixNanos(span_start)) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// An iterator over a block's spans, in [`span_order`].
pub struct BlockSpans {
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    path: PathBuf,
    pending: std::collections::VecDeque<Span>,
}

impl std::fmt::Debug for BlockSpans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockSpans")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Iterator for BlockSpans {
    type Item = Result<Span, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(span) = self.pending.pop_front() {
                return Some(Ok(span));
            }
            let batch = match self.reader.next()? {
                Ok(batch) => batch,
                Err(err) => return Some(Err(corrupt(&self.path, err))),
            };
            let columns = match Columns::of(&batch, &self.path) {
                Ok(columns) => columns,
                Err(err) => return Some(Err(err)),
            };
            for row in 0..batch.num_rows() {
                match columns.span(row) {
                    Ok(span) => self.pending.push_back(span),
                    Err(err) => return Some(Err(corrupt(&self.path, err))),
                }
            }
        }
    }
}

/// Merges `blocks` into the new block `dir` (streaming: one row group per input held),
/// dropping spans repeated across them (a retried export). The result is one level
/// above the highest input and lists the inputs as its sources.
pub fn merge(dir: &Path, blocks: &[&Block]) -> Result<BlockMeta, Error> {
    let max_traces = blocks.iter().map(|b| b.meta.traces as usize).sum();
    let wal_upto = blocks.iter().map(|b| b.meta.wal_upto).max().unwrap_or(0);
    let level = blocks.iter().map(|b| b.meta.level).max().unwrap_or(0) + 1;
    let sources = blocks.iter().map(|b| b.id).collect();
    let mut writer = BlockWriter::create(dir, max_traces, wal_upto, level, sources)?;
    let mut inputs = blocks
        .iter()
        .map(|block| block.spans())
        .collect::<Result<Vec<_>, Error>>()?;
    let mut heads: Vec<Option<Span>> = inputs
        .iter_mut()
        .map(|input| input.next().transpose())
        .collect::<Result<_, Error>>()?;
    let mut last: Option<(TraceId, UnixNanos, SpanId, u8, String)> = None;
    loop {
        let next = heads
            .iter()
            .enumerate()
            .filter_map(|(idx, head)| head.as_ref().map(|span| (span_order(span), idx)))
            .min();
        let Some((_, idx)) = next else {
            break;
        };
        let Some(span) = heads[idx].take() else {
            break;
        };
        heads[idx] = inputs[idx].next().transpose()?;
        let key = (
            span.trace_id,
            span.start,
            span.span_id,
            codec::kind_code(span.kind),
            span.service.clone(),
        );
        if last.as_ref() == Some(&key) {
            continue;
        }
        writer.push(&span)?;
        last = Some(key);
    }
    writer.finish()
}

/// The columns search checks first, found by name so a projected batch works too.
struct CheapColumns<'a> {
    trace_id: &'a FixedSizeBinaryArray,
    service: &'a StringArray,
    name: &'a StringArray,
    start: &'a Int64Array,
    duration: &'a Int64Array,
    status_code: &'a Int8Array,
}

fn named<'a, T: 'static>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a T, Error> {
    batch
        .column_by_name(name)
        .and_then(|column| column.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            corrupt(
                path,
                format!("column {name} is missing or has the wrong type"),
            )
        })
}

impl<'a> CheapColumns<'a> {
    fn of(batch: &'a RecordBatch, path: &Path) -> Result<Self, Error> {
        Ok(CheapColumns {
            trace_id: named(batch, "trace_id", path)?,
            service: named(batch, "service", path)?,
            name: named(batch, "name", path)?,
            start: named(batch, "start", path)?,
            duration: named(batch, "duration", path)?,
            status_code: named(batch, "status_code", path)?,
        })
    }
}

/// A record batch's columns, typed.
struct Columns<'a> {
    trace_id: &'a FixedSizeBinaryArray,
    span_id: &'a FixedSizeBinaryArray,
    parent: &'a FixedSizeBinaryArray,
    service: &'a StringArray,
    name: &'a StringArray,
    kind: &'a Int8Array,
    start: &'a Int64Array,
    duration: &'a Int64Array,
    status_code: &'a Int8Array,
    status_message: &'a StringArray,
    trace_state: &'a StringArray,
    scope_name: &'a StringArray,
    scope_version: &'a StringArray,
    resource_attributes: &'a BinaryArray,
    attributes: &'a BinaryArray,
    events: &'a BinaryArray,
    links: &'a BinaryArray,
    dropped_attributes: &'a UInt32Array,
    dropped_events: &'a UInt32Array,
    dropped_links: &'a UInt32Array,
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, idx: usize, path: &Path) -> Result<&'a T, Error> {
    batch
        .column(idx)
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| corrupt(path, format!("column {idx} has the wrong type")))
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch, path: &Path) -> Result<Self, Error> {
        Ok(Columns {
            trace_id: column(batch, col::TRACE_ID, path)?,
            span_id: column(batch, col::SPAN_ID, path)?,
            parent: column(batch, col::PARENT_SPAN_ID, path)?,
            service: column(batch, col::SERVICE, path)?,
            name: column(batch, col::NAME, path)?,
            kind: column(batch, col::KIND, path)?,
            start: column(batch, col::START, path)?,
            duration: column(batch, col::DURATION, path)?,
            status_code: column(batch, col::STATUS_CODE, path)?,
            status_message: column(batch, col::STATUS_MESSAGE, path)?,
            trace_state: column(batch, col::TRACE_STATE, path)?,
            scope_name: column(batch, col::SCOPE_NAME, path)?,
            scope_version: column(batch, col::SCOPE_VERSION, path)?,
            resource_attributes: column(batch, col::RESOURCE_ATTRIBUTES, path)?,
            attributes: column(batch, col::ATTRIBUTES, path)?,
            events: column(batch, col::EVENTS, path)?,
            links: column(batch, col::LINKS, path)?,
            dropped_attributes: column(batch, col::DROPPED_ATTRIBUTES, path)?,
            dropped_events: column(batch, col::DROPPED_EVENTS, path)?,
            dropped_links: column(batch, col::DROPPED_LINKS, path)?,
        })
    }

    fn span(&self, row: usize) -> Result<Span, Corrupt> {
        let trace_id =
            TraceId::from_bytes(self.trace_id.value(row)).map_err(|_| Corrupt("bad trace id"))?;
        let span_id =
            SpanId::from_bytes(self.span_id.value(row)).map_err(|_| Corrupt("bad span id"))?;
        let parent_span_id = if self.parent.is_null(row) {
            None
        } else {
            Some(SpanId::from_bytes(self.parent.value(row)).map_err(|_| Corrupt("bad span id"))?)
        };
        let start = self.start.value(row);
        let kind = u8::try_from(self.kind.value(row)).map_err(|_| Corrupt("bad span kind"))?;
        let status =
            u8::try_from(self.status_code.value(row)).map_err(|_| Corrupt("bad status code"))?;
        Ok(Span {
            trace_id,
            span_id,
            parent_span_id,
            service: self.service.value(row).to_owned(),
            name: self.name.value(row).to_owned(),
            kind: codec::kind_from_code(kind)?,
            start: UnixNanos(start),
            end: UnixNanos(start.saturating_add(self.duration.value(row))),
            status: codec::status_from_code(status, self.status_message.value(row))?,
            trace_state: self.trace_state.value(row).to_owned(),
            scope_name: self.scope_name.value(row).to_owned(),
            scope_version: self.scope_version.value(row).to_owned(),
            resource_attributes: Decoder::new(self.resource_attributes.value(row)).attributes()?,
            attributes: Decoder::new(self.attributes.value(row)).attributes()?,
            events: codec::decode_events(&mut Decoder::new(self.events.value(row)))?,
            links: codec::decode_links(&mut Decoder::new(self.links.value(row)))?,
            dropped_attributes: self.dropped_attributes.value(row),
            dropped_events: self.dropped_events.value(row),
            dropped_links: self.dropped_links.value(row),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::span;

    #[test]
    fn a_block_returns_each_trace_whole_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spans = Vec::new();
        // 250 traces of 16 spans each, starting 10 ns apart.
        for trace in 1..=4000u16 {
            let t = (trace % 250) as u8 + 1;
            let id = (trace / 250) as u8 + 1;
            spans.push(span(t, id, (id > 1).then_some(1), i64::from(trace) * 10));
        }
        let expected_t7: Vec<Span> = spans
            .iter()
            .filter(|s| s.trace_id.as_bytes()[0] == 7)
            .cloned()
            .collect();
        let block_dir = dir.path().join("0000000001");
        let meta = write(&block_dir, spans.iter().collect(), 42).expect("write");
        assert_eq!(meta.spans, 4000);
        assert_eq!(meta.traces, 250);
        assert_eq!(meta.wal_upto, 42);
        assert_eq!(meta.min_start, UnixNanos(10));
        assert!(meta.operations.contains("svc-1", Some("GET /1")));
        let kinds = meta.operations.of("svc-1").expect("service")["GET /2"];
        assert_eq!(
            kinds.iter().collect::<Vec<_>>(),
            vec![model::SpanKind::Client]
        );
        assert!(!block_dir.with_extension("tmp").exists());

        let block = Block::open(1, &block_dir).expect("open");
        assert_eq!(block.meta, meta);
        let mut found = block.trace(&expected_t7[0].trace_id).expect("trace");
        found.sort_by_key(|s| s.start);
        let mut expected = expected_t7;
        expected.sort_by_key(|s| s.start);
        assert_eq!(found, expected);
        let absent = TraceId::from_bytes(&[0xfe; 16]).expect("id");
        assert!(block.trace(&absent).expect("trace").is_empty());

        let mut seen = 0;
        let query = SearchQuery::in_range(UnixNanos(1000), UnixNanos(1990), 10);
        block
            .search(&query, &mut |_, start| {
                assert!((1000..=1990).contains(&start.0));
                seen += 1;
                true
            })
            .expect("search");
        assert_eq!(seen, 100);
        let query = SearchQuery {
            service: Some("svc-1".into()),
            attributes: vec![("http.route".into(), "/3".into())],
            ..SearchQuery::in_range(UnixNanos(0), UnixNanos(i64::MAX), 10)
        };
        let mut found = Vec::new();
        block
            .search(&query, &mut |id, _| {
                found.push(id);
                true
            })
            .expect("search");
        // Span 3 of every trace whose first id byte is 1 mod 3.
        assert_eq!(found.len(), 250 / 3 + 1);
        assert!(found.iter().all(|id| id.as_bytes()[0] % 3 == 1));
    }

    #[test]
    fn a_damaged_block_is_an_error_never_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let block_dir = dir.path().join("0000000001");
        write(&block_dir, vec![&span(1, 1, None, 5)], 1).expect("write");
        let path = block_dir.join(SPANS_FILE);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
        assert!(matches!(Block::open(1, &block_dir), Err(Error::Corrupt(_))));
        std::fs::write(&path, &bytes).expect("write");
        std::fs::write(block_dir.join(BLOOM_FILE), b"xx").expect("write");
        assert!(matches!(Block::open(1, &block_dir), Err(Error::Corrupt(_))));
    }

    #[test]
    fn operations_survive_tabs_and_newlines() {
        for text in ["plain", "a\tb", "line\nbreak", "back\\slash\\t"] {
            assert_eq!(unescape(&escape(text)), text);
        }
    }
}
