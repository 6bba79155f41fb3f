//! Splits a `_bulk` body into items: an action line (`index`, `create`, `update` or
//! `delete` with its metadata), then, for every action but `delete`, a source line.
//! `index` and `create` sources become log records; `update` and `delete` are refused
//! item by item, so the lines that follow still pair up. A document that cannot be
//! normalized fails alone; only an action line that cannot be read fails the request,
//! because the lines after it can no longer be told apart.

use model::{LogRecord, UnixNanos, Value};
use serde_json::{Map, Value as Json};

use crate::normalize::{self, LineError, LogConfig};

/// The index of a document when neither its action nor the request path names one.
pub const DEFAULT_INDEX: &str = "default";

/// What an action line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Index,
    Create,
    Update,
    Delete,
}

impl Action {
    /// The action's name, as the request and the response spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    fn from_name(name: &str) -> Option<Action> {
        match name {
            "index" => Some(Action::Index),
            "create" => Some(Action::Create),
            "update" => Some(Action::Update),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    /// Whether a source line follows the action line.
    pub fn has_source(self) -> bool {
        self != Action::Delete
    }
}

/// Why one item was not written; its neighbours are unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// Elasticsearch's name for the failure (`document_parsing_exception`, ...).
    pub error_type: &'static str,
    /// Short identifier for reject counters.
    pub reason: &'static str,
    /// A sentence naming the problem.
    pub message: String,
}

/// One action of the request, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub action: Action,
    /// The target index: the action's `_index`, else the path's, else [`DEFAULT_INDEX`].
    pub index: String,
    /// The action's `_id`, when it gave one.
    pub id: Option<String>,
    /// 1-based number of the action line.
    pub line: usize,
    /// The item's record (an index into [`Decoded::records`]), or why there is none.
    pub result: Result<usize, ItemError>,
}

/// The items of one request and the records of those that normalized.
#[derive(Debug, Default)]
pub struct Decoded {
    pub items: Vec<Item>,
    pub records: Vec<LogRecord>,
}

/// The request cannot be read as a whole; nothing of it may be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// Short identifier for reject counters.
    pub reason: &'static str,
    /// A sentence naming the offending line.
    pub message: String,
}

/// The action line's parts that matter here; other metadata (`_type`, `pipeline`,
/// `routing`, `version`, `require_alias`, ...) is accepted and ignored.
struct ActionLine {
    action: Action,
    index: Option<String>,
    id: Option<String>,
}

/// Decodes a body. `path_index` is the `{index}` of `/{index}/_bulk`. Blank lines are
/// skipped anywhere, and the last line needs no newline.
pub fn decode(
    body: &[u8],
    path_index: Option<&str>,
    config: &LogConfig,
    arrival: UnixNanos,
) -> Result<Decoded, RequestError> {
    let mut decoded = Decoded::default();
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (!line.iter().all(u8::is_ascii_whitespace)).then_some((i + 1, line))
        });
    while let Some((number, line)) = lines.next() {
        let ActionLine { action, index, id } = parse_action(line, number, config)?;
        let index = index
            .or_else(|| path_index.map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_INDEX.to_owned());
        let source = if action.has_source() {
            let Some((_, source)) = lines.next() else {
                return Err(RequestError {
                    reason: "missing_source",
                    message: format!(
                        "the {:?} action on line {number} has no source line after it",
                        action.as_str()
                    ),
                });
            };
            Some(source)
        } else {
            None
        };
        let result = match (action, source) {
            (Action::Index | Action::Create, Some(source)) => {
                document(source, &index, id.as_deref(), config, arrival).map(|record| {
                    decoded.records.push(record);
                    decoded.records.len() - 1
                })
            }
            _ => Err(ItemError {
                error_type: "illegal_argument_exception",
                reason: "unsupported_action",
                message: format!(
                    "the {:?} action is not supported: log lines are kept as sent, never \
                     changed or removed; send \"index\" or \"create\"",
                    action.as_str()
                ),
            }),
        };
        decoded.items.push(Item {
            action,
            index,
            id,
            line: number,
            result,
        });
    }
    Ok(decoded)
}

fn parse_action(
    line: &[u8],
    number: usize,
    config: &LogConfig,
) -> Result<ActionLine, RequestError> {
    let malformed = |detail: String| RequestError {
        reason: "malformed_action",
        message: format!("malformed action/metadata line {number}: {detail}"),
    };
    if line.len() > config.max_line_bytes {
        return Err(malformed(format!(
            "it is {} bytes, over the limit of {} bytes (logs.max_line_size)",
            line.len(),
            config.max_line_bytes
        )));
    }
    let value: Json = serde_json::from_slice(line)
        .map_err(|err| malformed(format!("it is not valid JSON: {err}")))?;
    let Json::Object(object) = value else {
        return Err(malformed(format!(
            "expected an object such as {{\"create\":{{}}}} but found {}",
            kind(&value)
        )));
    };
    let n_keys = object.len();
    let mut entries = object.into_iter();
    let (Some((name, metadata)), 1) = (entries.next(), n_keys) else {
        return Err(malformed(format!(
            "expected exactly one action but found {n_keys} keys"
        )));
    };
    let action = Action::from_name(&name).ok_or_else(|| {
        malformed(format!(
            "expected \"create\", \"delete\", \"index\" or \"update\" but found {name:?}"
        ))
    })?;
    let Json::Object(metadata) = metadata else {
        return Err(malformed(format!(
            "the metadata of {name:?} must be an object but is {}",
            kind(&metadata)
        )));
    };
    Ok(ActionLine {
        action,
        index: simple_value(&metadata, "_index").map_err(&malformed)?,
        id: simple_value(&metadata, "_id").map_err(&malformed)?,
    })
}

/// A metadata field as text: strings as they are, numbers and booleans spelled out;
/// null or an empty string count as absent.
fn simple_value(metadata: &Map<String, Json>, key: &str) -> Result<Option<String>, String> {
    match metadata.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(text)) => Ok((!text.is_empty()).then(|| text.clone())),
        Some(value @ (Json::Number(_) | Json::Bool(_))) => Ok(Some(value.to_string())),
        Some(other) => Err(format!(
            "expected a simple value for field {key:?} but found {}",
            kind(other)
        )),
    }
}

fn kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Normalizes a source line (its exact bytes are the record's raw text) and notes where
/// Elasticsearch would have put it. The index is a field, never the service.
fn document(
    source: &[u8],
    index: &str,
    id: Option<&str>,
    config: &LogConfig,
    arrival: UnixNanos,
) -> Result<LogRecord, ItemError> {
    let mut record = normalize::json_line(source, config, arrival).map_err(item_error)?;
    set_field(&mut record.fields, "_index", index);
    if let Some(id) = id {
        set_field(&mut record.fields, "_id", id);
    }
    // `_index` and `_id` come from the action line, not from the document.
    record.raw_holds_fields = false;
    Ok(record)
}

fn set_field(fields: &mut Vec<(String, Value)>, key: &str, value: &str) {
    let value = Value::Str(value.to_owned());
    match fields.iter_mut().find(|(k, _)| k == key) {
        Some(field) => field.1 = value,
        None => fields.push((key.to_owned(), value)),
    }
}

/// Elasticsearch's names: a field limit is an `illegal_argument_exception`, anything
/// else wrong with a document a `document_parsing_exception`.
fn item_error(err: LineError) -> ItemError {
    let error_type = match err.reason {
        "too_many_fields" => "illegal_argument_exception",
        _ => "document_parsing_exception",
    };
    ItemError {
        error_type,
        reason: err.reason,
        message: err.message,
    }
}
