//! The Tantivy schema every partition shares, and the document a log line becomes.
//!
//! Columns and terms: `ts` (nanoseconds; fast, for ranges and sorting), `seq` (the store's line
//! number; fast, the tie-break of a sort and the key of a cursor), `size` (the raw
//! line's length in bytes; fast, for byte counts such as LogQL's `bytes_over_time`), the
//! normalized `level`, `service`, `host` (keywords, fast for top values and grouping),
//! `trace_id`, `span_id`, `correlation_id` (keywords), `message` (full text with
//! positions, for phrases), and `fields`, every other field of the line as a JSON object
//! with dotted paths: strings as keywords, numbers and booleans as such. Stored, in
//! zstd-compressed blocks: the raw line exactly as it arrived and the normalized
//! keywords, which compress against it.

use std::sync::{Arc, LazyLock};

use model::trace_id::HexId;
use model::{LogRecord, Value};
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, JsonObjectOptions, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions,
};
use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{Document, Index};

use crate::field_policy::FieldPolicy;

/// Tokenizer of `message`: words of letters and digits, lowercased, at most 64 bytes.
pub const TEXT_TOKENIZER: &str = "sightline_text";
/// Tokenizer of keyword values in `fields`: the whole value, when at most
/// [`MAX_KEYWORD_LEN`] bytes (a longer value is kept in the raw line, not indexed).
pub const KEYWORD_TOKENIZER: &str = "sightline_keyword";
pub const MAX_KEYWORD_LEN: usize = 1024;

/// Field handles of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub ts: Field,
    pub seq: Field,
    pub size: Field,
    pub level: Field,
    pub service: Field,
    pub host: Field,
    pub trace_id: Field,
    pub span_id: Field,
    pub correlation_id: Field,
    pub message: Field,
    pub fields: Field,
    /// The fields without index terms (see `field_policy.rs`), stored to be matched.
    pub field_values: Field,
    pub raw: Field,
}

/// Names of the keyword fields a query may name directly.
pub const KEYWORD_FIELDS: [&str; 6] = [
    "level",
    "service",
    "host",
    "trace_id",
    "span_id",
    "correlation_id",
];

pub fn build() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // Time ranges read the column (Tantivy's range query over a fast field), so `ts` has
    // no terms: a nanosecond timestamp would be a term of its own on almost every line.
    let ts = builder.add_i64_field("ts", FAST | STORED);
    let seq = builder.add_u64_field("seq", FAST | STORED);
    let size = builder.add_u64_field("size", FAST);
    let keyword_fast = STRING | STORED | FAST;
    let level = builder.add_text_field("level", keyword_fast.clone());
    let service = builder.add_text_field("service", keyword_fast.clone());
    let host = builder.add_text_field("host", keyword_fast);
    let trace_id = builder.add_text_field("trace_id", STRING | STORED);
    let span_id = builder.add_text_field("span_id", STRING | STORED);
    let correlation_id = builder.add_text_field("correlation_id", STRING | STORED);
    let message = builder.add_text_field(
        "message",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TEXT_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    let fields = builder.add_json_field(
        "fields",
        JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(KEYWORD_TOKENIZER)
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_expand_dots_enabled(),
    );
    let field_values = builder.add_json_field("field_values", STORED);
    let raw = builder.add_text_field("raw", STORED);
    let schema = builder.build();
    (
        schema,
        Fields {
            ts,
            seq,
            size,
            level,
            service,
            host,
            trace_id,
            span_id,
            correlation_id,
            message,
            fields,
            field_values,
            raw,
        },
    )
}

/// Registers the tokenizers the schema names; every opened or created index needs them.
pub fn register_tokenizers(index: &Index) {
    let manager = index.tokenizers();
    manager.register(
        TEXT_TOKENIZER,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(64))
            .filter(LowerCaser)
            .build(),
    );
    manager.register(
        KEYWORD_TOKENIZER,
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_KEYWORD_LEN + 1))
            .build(),
    );
}

/// Splits text the way `message` is indexed (for building phrase queries).
pub fn text_tokens(text: &str) -> Vec<String> {
    use tantivy::tokenizer::TokenStream as _;
    let mut analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .build();
    let mut stream = analyzer.token_stream(text);
    let mut tokens = Vec::new();
    while stream.advance() {
        tokens.push(stream.token().text.clone());
    }
    tokens
}

/// The document one line becomes. Tantivy reads the record's fields where they are (it
/// indexes any [`Document`]), so a line is not copied into a `TantivyDocument` first;
/// `seq` is set once the append knows the line's number.
#[derive(Debug)]
pub struct LogDoc {
    fields: Fields,
    pub seq: u64,
    /// The policy of the partition the line goes to, set by the indexer.
    pub policy: Arc<FieldPolicy>,
    trace_id: Option<HexId<32>>,
    span_id: Option<HexId<16>>,
    line: LogRecord,
}

impl LogDoc {
    pub fn new(fields: &Fields, seq: u64, line: LogRecord) -> Self {
        LogDoc {
            fields: *fields,
            seq,
            policy: Arc::clone(&INDEX_ALL),
            trace_id: line.trace_id.as_ref().map(model::TraceId::hex),
            span_id: line.span_id.as_ref().map(model::SpanId::hex),
            line,
        }
    }
}

/// The default policy of a document until the indexer sets its partition's.
static INDEX_ALL: LazyLock<Arc<FieldPolicy>> = LazyLock::new(|| Arc::new(FieldPolicy::all()));

/// Which of a line's other fields an object value holds.
#[derive(Debug, Clone, Copy)]
pub enum Keep<'a> {
    Indexed(&'a FieldPolicy),
    NotIndexed(&'a FieldPolicy),
}

impl Keep<'_> {
    fn keeps(self, path: &str) -> bool {
        match self {
            Keep::Indexed(policy) => policy.indexes(path),
            Keep::NotIndexed(policy) => !policy.indexes(path),
        }
    }
}

/// One value of a [`LogDoc`], borrowed from its record.
#[derive(Debug, Clone, Copy)]
pub enum DocValue<'a> {
    Str(&'a str),
    I64(i64),
    U64(u64),
    /// The line's other fields, by dotted path: those with index terms (`fields`) or the
    /// others (`field_values`).
    Object(&'a [(String, Value)], Keep<'a>),
    /// One field of that object.
    Field(&'a Value),
}

/// The key-value pairs of an object value.
#[derive(Debug, Clone)]
pub struct ObjectIter<'a>(std::slice::Iter<'a, (String, Value)>, Keep<'a>);

impl<'a> Iterator for ObjectIter<'a> {
    type Item = (&'a str, DocValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let keep = self.1;
        let (key, value) = self.0.find(|(key, _)| keep.keeps(key))?;
        Some((key.as_str(), DocValue::Field(value)))
    }
}

impl<'a> tantivy::schema::Value<'a> for DocValue<'a> {
    type ArrayIter = std::iter::Empty<Self>;
    type ObjectIter = ObjectIter<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        let leaf = match *self {
            DocValue::Str(text) => ReferenceValueLeaf::Str(text),
            DocValue::I64(int) => ReferenceValueLeaf::I64(int),
            DocValue::U64(int) => ReferenceValueLeaf::U64(int),
            DocValue::Object(pairs, keep) => {
                return ReferenceValue::Object(ObjectIter(pairs.iter(), keep));
            }
            DocValue::Field(Value::Str(text)) => ReferenceValueLeaf::Str(text),
            DocValue::Field(Value::Int(int)) => ReferenceValueLeaf::I64(*int),
            DocValue::Field(Value::Float(float)) => ReferenceValueLeaf::F64(*float),
            DocValue::Field(Value::Bool(flag)) => ReferenceValueLeaf::Bool(*flag),
        };
        ReferenceValue::Leaf(leaf)
    }
}

/// Most values one document has: one per schema field.
const DOC_VALUES: usize = 13;

impl Document for LogDoc {
    type Value<'a> = DocValue<'a>;
    type FieldsValuesIter<'a> =
        std::iter::Flatten<std::array::IntoIter<Option<(Field, DocValue<'a>)>, DOC_VALUES>>;

    fn iter_fields_and_values(&self) -> Self::FieldsValuesIter<'_> {
        fn text(field: Field, text: Option<&str>) -> Option<(Field, DocValue<'_>)> {
            text.map(|text| (field, DocValue::Str(text)))
        }
        let (fields, line) = (&self.fields, &self.line);
        let policy = &*self.policy;
        let (indexed, kept) = (Keep::Indexed(policy), Keep::NotIndexed(policy));
        let has = |keep: Keep<'_>| line.fields.iter().any(|(key, _)| keep.keeps(key));
        let terms = !line.fields.is_empty()
            && (policy.indexes_all() || (!policy.indexes_none() && has(indexed)));
        // Where some fields have no terms and the raw line does not hold the fields, the
        // kept values are always written, if only as an empty object: a filter must never
        // read the raw line as the fields of a line whose fields are elsewhere.
        let values = !policy.indexes_all() && !line.raw_holds_fields;
        let objects = (
            terms.then(|| (fields.fields, DocValue::Object(&line.fields, indexed))),
            values.then(|| (fields.field_values, DocValue::Object(&line.fields, kept))),
        );
        let values: [Option<(Field, DocValue<'_>)>; DOC_VALUES] = [
            Some((fields.ts, DocValue::I64(line.timestamp.0))),
            Some((fields.seq, DocValue::U64(self.seq))),
            Some((fields.size, DocValue::U64(line.raw.len() as u64))),
            text(fields.level, Some(line.severity.as_str())),
            text(fields.service, line.service.as_deref()),
            text(fields.host, line.host.as_deref()),
            text(fields.trace_id, self.trace_id.as_ref().map(HexId::as_str)),
            text(fields.span_id, self.span_id.as_ref().map(HexId::as_str)),
            text(fields.correlation_id, line.correlation_id.as_deref()),
            text(
                fields.message,
                Some(line.message.as_str()).filter(|m| !m.is_empty()),
            ),
            objects.0,
            objects.1,
            text(fields.raw, Some(line.raw.as_str())),
        ];
        values.into_iter().flatten()
    }
}

/// Roughly the memory a queued document holds, for the indexing queue's bound.
pub fn approximate_size(line: &LogRecord) -> usize {
    let fields: usize = line
        .fields
        .iter()
        .map(|(key, value)| {
            key.len()
                + match value {
                    Value::Str(text) => text.len(),
                    _ => 8,
                }
                + 48
        })
        .sum();
    256 + line.raw.len() + line.message.len() + fields
}
