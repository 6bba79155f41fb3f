//! Reading blocks: opening one, a trace by id, search, and every span in order.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{
    Array, BinaryArray, FixedSizeBinaryArray, Int8Array, Int64Array, RecordBatch, StringArray,
    UInt32Array,
};
use model::{Span, SpanId, TraceId, UnixNanos};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::file::statistics::Statistics;
use wal::codec::{Corrupt, Decoder};

use super::{BLOOM_FILE, BlockMeta, ROW_GROUP_ROWS, SPANS_FILE, col, schema};
use crate::bloom::TraceBloom;
use crate::codec;
use crate::error::Error;
use crate::query::SearchQuery;

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
    ) -> Result<ParquetRecordBatchReader, Error> {
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
            pending: VecDeque::new(),
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
    reader: ParquetRecordBatchReader,
    path: PathBuf,
    pending: VecDeque<Span>,
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
