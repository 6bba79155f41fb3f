//! Decoded streams into [`LogRecord`]s, as Loki would keep them: the entry's timestamp is
//! authoritative; a line that is a JSON object is normalized like any JSON log line
//! ([`normalize::json_object`]) and any other line is text ([`normalize::text_line`]);
//! stream labels and structured metadata name the service, level and host when the line
//! does not, and are kept as fields (unless the line has a field of that name), so
//! `env:prod` and the Loki API's `{env="prod"}` find them. The raw line is kept exactly.
//!
//! A stream whose labels are bad is refused whole; a bad entry (timestamp, size, UTF-8,
//! too many fields) is refused alone; the rest is kept.

use model::{LogRecord, SpanId, TraceId, UnixNanos, Value};
use serde_json::{Map, Value as Json};

use super::decode::{Entry, PushRequest, StreamLabels};
use super::labels::{self, Label};
use crate::normalize::{self, LineError, LogConfig};

/// Labels (or structured metadata) naming the service, first present wins.
pub const SERVICE_LABELS: [&str; 6] = [
    "service_name",
    "service",
    "app",
    "application",
    "job",
    "container",
];
/// Labels naming the level, first present wins.
pub const LEVEL_LABELS: [&str; 3] = ["level", "detected_level", "severity"];
/// Labels naming the host, first present wins.
pub const HOST_LABELS: [&str; 4] = ["host", "hostname", "instance", "node"];

/// Entries refused before reaching the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub stream_idx: usize,
    /// The entry in its stream, or `None` when the stream's labels refused all of it.
    pub entry_idx: Option<usize>,
    /// Entries refused: 1, or all of the stream's.
    pub n_entries: usize,
    pub error: LineError,
}

/// A request's records and refusals.
#[derive(Debug, Default)]
pub struct Decoded {
    pub records: Vec<LogRecord>,
    /// `(stream_idx, entry_idx)` of each record.
    pub origins: Vec<(usize, usize)>,
    pub rejected: Vec<Rejected>,
    /// Each stream's labels as written, for messages.
    pub streams: Vec<String>,
    /// Entries in the request, refused or not.
    pub n_entries: usize,
}

/// Normalizes every entry of a request.
pub fn to_records(request: &PushRequest<'_>, config: &LogConfig, arrival: UnixNanos) -> Decoded {
    let mut decoded = Decoded::default();
    for (stream_idx, stream) in request.streams.iter().enumerate() {
        decoded.streams.push(stream.labels.describe());
        decoded.n_entries += stream.entries.len();
        if stream.entries.is_empty() {
            // Nothing to write, so nothing to refuse.
            continue;
        }
        let labels = match &stream.labels {
            StreamLabels::Text(text) => labels::parse(text),
            StreamLabels::Pairs(pairs) => labels::check_pairs(pairs),
        };
        let labels = match labels {
            Ok(labels) => labels,
            Err(error) => {
                decoded.rejected.push(Rejected {
                    stream_idx,
                    entry_idx: None,
                    n_entries: stream.entries.len(),
                    error,
                });
                continue;
            }
        };
        for (entry_idx, entry) in stream.entries.iter().enumerate() {
            match record(entry, &labels, config, arrival) {
                Ok(record) => {
                    decoded.records.push(record);
                    decoded.origins.push((stream_idx, entry_idx));
                }
                Err(error) => decoded.rejected.push(Rejected {
                    stream_idx,
                    entry_idx: Some(entry_idx),
                    n_entries: 1,
                    error,
                }),
            }
        }
    }
    decoded
}

fn record(
    entry: &Entry<'_>,
    labels: &[Label<'_>],
    config: &LogConfig,
    arrival: UnixNanos,
) -> Result<LogRecord, LineError> {
    let timestamp = entry.timestamp.resolve()?;
    normalize::check_line_size(&entry.line, config)?;
    let line = std::str::from_utf8(&entry.line).map_err(|err| {
        LineError::new(
            "invalid_utf8",
            format!("the line is not valid UTF-8: {err}"),
        )
    })?;
    // Structured metadata first: it is the more specific of the two.
    let mut context = structured_metadata(entry)?;
    context.extend(
        labels
            .iter()
            .map(|(name, value)| (name.as_ref(), value.as_ref())),
    );
    let defaults = defaults(&context);
    let mut record = match json_object(line, config)? {
        Some(mut object) => {
            let in_line: Vec<bool> = context
                .iter()
                .map(|(name, _)| object.contains_key(*name))
                .collect();
            let unparsed_times = take_unparsed_times(&mut object);
            let mut record =
                normalize::json_object(line.to_owned(), object, config, arrival, &defaults)?;
            record.timestamp = timestamp;
            record.fields.extend(
                unparsed_times
                    .into_iter()
                    .map(|(key, value)| (key.to_owned(), to_value(value))),
            );
            add_fields(&mut record, &context, &in_line);
            record
        }
        None => {
            let mut record = normalize::text_line(line.to_owned(), timestamp, arrival, &defaults);
            add_fields(&mut record, &context, &vec![false; context.len()]);
            record
        }
    };
    if record.fields.len() > config.max_fields {
        return Err(LineError::new(
            "too_many_fields",
            format!(
                "the line, its labels and structured metadata have more than {} fields (logs.max_fields)",
                config.max_fields
            ),
        ));
    }
    // OpenTelemetry senders put the ids in structured metadata.
    let find = |key: &str| {
        context
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, v)| *v)
    };
    if record.trace_id.is_none() {
        record.trace_id = find("trace_id").and_then(|hex| TraceId::from_hex(hex).ok());
    }
    if record.span_id.is_none() {
        record.span_id = find("span_id").and_then(|hex| SpanId::from_hex(hex).ok());
    }
    Ok(record)
}

/// The entry's structured metadata as text, empty values dropped (as for labels).
fn structured_metadata<'a>(entry: &'a Entry<'_>) -> Result<Vec<(&'a str, &'a str)>, LineError> {
    let utf8 = |bytes: &'a [u8]| {
        std::str::from_utf8(bytes).map_err(|err| {
            LineError::new(
                "invalid_utf8",
                format!(
                    "structured metadata {:?} is not valid UTF-8: {err}",
                    labels::shorten(&String::from_utf8_lossy(bytes))
                ),
            )
        })
    };
    entry
        .metadata
        .iter()
        .filter(|(name, value)| !name.is_empty() && !value.is_empty())
        .map(|(name, value)| Ok((utf8(name)?, utf8(value)?)))
        .collect()
}

/// The service, level and host the labels name, under the keys `normalize` reads them
/// from (so its own lists decide nothing about labels).
fn defaults(context: &[(&str, &str)]) -> Vec<(String, String)> {
    let pick = |keys: &[&str]| {
        keys.iter().find_map(|key| {
            context
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| (*value).to_owned())
        })
    };
    [
        ("service", pick(&SERVICE_LABELS)),
        ("level", pick(&LEVEL_LABELS)),
        ("host", pick(&HOST_LABELS)),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key.to_owned(), value?)))
    .collect()
}

/// The line as a JSON object, `None` when it is not one (then it is text).
fn json_object(line: &str, config: &LogConfig) -> Result<Option<Map<String, Json>>, LineError> {
    if !line.trim_start().starts_with('{') {
        return Ok(None);
    }
    match serde_json::from_str(line) {
        Ok(object) => Ok(Some(object)),
        // serde_json stops at 128 levels, before `normalize` can apply logs.max_depth.
        Err(err) if err.to_string().starts_with("recursion limit exceeded") => Err(LineError::new(
            "too_deep",
            format!(
                "the line nests deeper than {} levels (logs.max_depth)",
                config.max_depth.min(128)
            ),
        )),
        Err(_) => Ok(None),
    }
}

/// Removes timestamp fields that `normalize` would refuse: the entry's timestamp wins,
/// so the line's own is only a field, kept as written.
fn take_unparsed_times(object: &mut Map<String, Json>) -> Vec<(&'static str, Json)> {
    let mut unparsed = Vec::new();
    for key in normalize::TIMESTAMP_KEYS {
        match object.get(key) {
            // Skipped by `normalize` too (objects flatten to other keys).
            None | Some(Json::Null | Json::Object(_)) => {}
            // This one will be read (and then replaced by the entry's timestamp).
            Some(value) if normalize::parse_timestamp(value).is_some() => break,
            Some(_) => {
                if let Some(value) = object.remove(key) {
                    unparsed.push((key, value));
                }
            }
        }
    }
    unparsed
}

fn to_value(value: Json) -> Value {
    match value {
        Json::String(text) => Value::Str(text),
        Json::Bool(flag) => Value::Bool(flag),
        Json::Number(number) => match number.as_i64() {
            Some(int) => Value::Int(int),
            None => Value::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        other => Value::Str(other.to_string()),
    }
}

/// Labels and structured metadata as fields, unless the line or an earlier pair has one
/// of that name.
fn add_fields(record: &mut LogRecord, context: &[(&str, &str)], in_line: &[bool]) {
    for (&(name, value), &in_line) in context.iter().zip(in_line) {
        if in_line || record.fields.iter().any(|(key, _)| key == name) {
            continue;
        }
        record
            .fields
            .push((name.to_owned(), Value::Str(value.to_owned())));
        // A label or metadata value the line itself does not hold.
        record.raw_holds_fields = false;
    }
}
