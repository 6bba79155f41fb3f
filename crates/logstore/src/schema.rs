//! The Tantivy schema every partition shares, and the document a log line becomes.
//!
//! Indexed: `ts` (nanoseconds; fast, for ranges and sorting), `seq` (the store's line
//! number; fast, the tie-break of a sort and the key of a cursor), `size` (the raw
//! line's length in bytes; fast, for byte counts such as LogQL's `bytes_over_time`), the
//! normalized `level`, `service`, `host` (keywords, fast for top values and grouping),
//! `trace_id`, `span_id`, `correlation_id` (keywords), `message` (full text with
//! positions, for phrases), and `fields`, every other field of the line as a JSON object
//! with dotted paths: strings as keywords, numbers and booleans as such. Stored, in
//! zstd-compressed blocks: the raw line exactly as it arrived and the normalized
//! keywords, which compress against it.

use model::{LogRecord, Value};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, JsonObjectOptions, OwnedValue, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{Index, TantivyDocument};

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
    let ts = builder.add_i64_field("ts", INDEXED | FAST | STORED);
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

/// The document one line becomes.
pub fn document(fields: &Fields, seq: u64, line: &LogRecord) -> TantivyDocument {
    let mut doc = document_without_seq(fields, line);
    doc.add_u64(fields.seq, seq);
    doc
}

/// The document without its sequence number (added once the number is known).
pub fn document_without_seq(fields: &Fields, line: &LogRecord) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_i64(fields.ts, line.timestamp.0);
    doc.add_u64(fields.size, line.raw.len() as u64);
    doc.add_text(fields.level, line.severity.as_str());
    if let Some(service) = &line.service {
        doc.add_text(fields.service, service);
    }
    if let Some(host) = &line.host {
        doc.add_text(fields.host, host);
    }
    if let Some(id) = &line.trace_id {
        doc.add_text(fields.trace_id, id.to_string());
    }
    if let Some(id) = &line.span_id {
        doc.add_text(fields.span_id, id.to_string());
    }
    if let Some(id) = &line.correlation_id {
        doc.add_text(fields.correlation_id, id);
    }
    if !line.message.is_empty() {
        doc.add_text(fields.message, &line.message);
    }
    if !line.fields.is_empty() {
        let object = line
            .fields
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    Value::Str(text) => OwnedValue::Str(text.clone()),
                    Value::Int(int) => OwnedValue::I64(*int),
                    Value::Float(float) => OwnedValue::F64(*float),
                    Value::Bool(flag) => OwnedValue::Bool(*flag),
                };
                (key.clone(), value)
            })
            .collect();
        doc.add_field_value(fields.fields, &OwnedValue::Object(object));
    }
    doc.add_text(fields.raw, &line.raw);
    doc
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
