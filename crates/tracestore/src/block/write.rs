//! Writing blocks: one from the head's spans, or one merged from several by compaction.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, FixedSizeBinaryBuilder, Int8Builder, Int64Builder, StringBuilder, UInt32Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use model::{Span, SpanId, TraceId, UnixNanos};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use wal::codec::put_attributes;

use super::{BLOOM_FILE, Block, BlockMeta, ROW_GROUP_ROWS, SPANS_FILE, ZSTD_LEVEL, schema};
use crate::bloom::TraceBloom;
use crate::codec;
use crate::error::Error;
use crate::operations::Operations;

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
pub fn span_order(span: &Span) -> (TraceId, UnixNanos, SpanId) {
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
