//! Loki push bodies into one view of streams and entries, whatever the format:
//! snappy-compressed protobuf `logproto.PushRequest`s (`proto/loki/push.proto`) read in
//! place with [`crate::protowire`], so lines, label strings and structured metadata stay
//! slices of the decompressed body; and JSON bodies, in Loki's shape
//! (`{"streams":[{"stream":{..},"values":[["<ns>","<line>",{..}]]}]}`) or the legacy
//! one (`{"streams":[{"labels":"{..}","entries":[{"ts":"<RFC 3339>","line":".."}]}]}`).
//!
//! Only the framing is judged here: a body that cannot be read fails as a whole. Label
//! sets, timestamps and lines (UTF-8 included) are judged per stream and per entry in
//! [`super::records`], so one bad entry never drops its neighbours. The prost types in
//! [`super::proto`] are the reference this decoder is tested against.

use std::borrow::Cow;
use std::fmt;

use axum::http::StatusCode;
use model::UnixNanos;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::body::BodyError;
use crate::normalize::LineError;
use crate::protowire::{Fields, WireError};

/// A decoded request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushRequest<'a> {
    pub streams: Vec<Stream<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream<'a> {
    pub labels: StreamLabels<'a>,
    pub entries: Vec<Entry<'a>>,
}

/// A stream's labels as the body carries them, not yet parsed or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamLabels<'a> {
    /// A label set string (protobuf and legacy JSON bodies).
    Text(Cow<'a, [u8]>),
    /// Name and value pairs in body order (JSON bodies' `stream` object).
    Pairs(Vec<(String, String)>),
}

impl StreamLabels<'_> {
    /// The labels as written, for messages.
    pub fn describe(&self) -> String {
        match self {
            StreamLabels::Text(text) => super::labels::shorten(&String::from_utf8_lossy(text)),
            StreamLabels::Pairs(pairs) => super::labels::shorten(&super::labels::render(pairs)),
        }
    }
}

/// A structured metadata pair, name then value, not yet checked for UTF-8.
pub type MetadataPair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub timestamp: Timestamp,
    /// The line's bytes, not yet checked for UTF-8.
    pub line: Cow<'a, [u8]>,
    pub metadata: Vec<MetadataPair<'a>>,
}

/// An entry's timestamp as the body wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timestamp {
    /// A `google.protobuf.Timestamp`; unset is the Unix epoch.
    Proto { seconds: i64, nanos: i32 },
    /// Unix nanoseconds as decimal text (JSON `values`).
    UnixNanos(String),
    /// RFC 3339 text (legacy JSON `entries`).
    Rfc3339(String),
}

impl Timestamp {
    pub fn resolve(&self) -> Result<UnixNanos, LineError> {
        let bad = |problem: String| LineError::new("bad_timestamp", problem);
        match self {
            Timestamp::Proto { seconds, nanos } => {
                if !(0..1_000_000_000).contains(nanos) {
                    return Err(bad(format!(
                        "the timestamp's nanos {nanos} are outside 0 to 999999999"
                    )));
                }
                seconds
                    .checked_mul(1_000_000_000)
                    .and_then(|n| n.checked_add(i64::from(*nanos)))
                    .map(UnixNanos)
                    .ok_or_else(|| {
                        bad(format!(
                            "the timestamp {seconds} s is outside the years 1678 to 2262"
                        ))
                    })
            }
            Timestamp::UnixNanos(text) => text.parse::<i64>().map(UnixNanos).map_err(|_| {
                bad(format!(
                    "the timestamp {:?} is not Unix nanoseconds as a decimal string",
                    super::labels::shorten(text)
                ))
            }),
            Timestamp::Rfc3339(text) => model::time::parse_rfc3339(text).ok_or_else(|| {
                bad(format!(
                    "the timestamp {:?} is not RFC 3339",
                    super::labels::shorten(text)
                ))
            }),
        }
    }
}

/// Undoes the snappy block compression of a protobuf body, refusing before allocating if
/// its header declares more than `max_bytes`.
pub fn decompress(body: &[u8], max_bytes: usize) -> Result<Vec<u8>, BodyError> {
    let bad_snappy = |err: snap::Error| BodyError {
        status: StatusCode::BAD_REQUEST,
        reason: "bad_snappy",
        message: format!("the body is not a valid snappy block: {err}"),
    };
    let declared = snap::raw::decompress_len(body).map_err(bad_snappy)?;
    if declared > max_bytes {
        return Err(BodyError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: "too_large",
            message: format!(
                "the body decompresses to {declared} bytes, over the limit of {max_bytes} bytes (logs.max_decompressed_size)"
            ),
        });
    }
    let mut out = vec![0; declared];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut out)
        .map_err(bad_snappy)?;
    out.truncate(n);
    Ok(out)
}

/// Reads a decompressed protobuf `PushRequest`.
pub fn decode_protobuf(body: &[u8]) -> Result<PushRequest<'_>, WireError> {
    let mut streams = Vec::new();
    for field in Fields::new(body) {
        // Field 2 (`format`) is Loki's own; other unknown fields are skipped too.
        if let (1, value) = field? {
            streams.push(stream(value.bytes()?)?);
        }
    }
    Ok(PushRequest { streams })
}

fn stream(bytes: &[u8]) -> Result<Stream<'_>, WireError> {
    let mut labels: &[u8] = &[];
    let mut entries = Vec::new();
    for field in Fields::new(bytes) {
        match field? {
            (1, value) => labels = value.bytes()?,
            (2, value) => entries.push(entry(value.bytes()?)?),
            // The sender's hash of the labels; Sightline does not need it.
            (3, value) => {
                value.varint()?;
            }
            _ => {}
        }
    }
    Ok(Stream {
        labels: StreamLabels::Text(Cow::Borrowed(labels)),
        entries,
    })
}

fn entry(bytes: &[u8]) -> Result<Entry<'_>, WireError> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    let mut line: &[u8] = &[];
    let mut metadata = Vec::new();
    for field in Fields::new(bytes) {
        match field? {
            // A message field seen twice merges, as protobuf says.
            (1, value) => {
                for field in Fields::new(value.bytes()?) {
                    match field? {
                        // int64 and int32 are two's complement varints; int32 truncates.
                        (1, value) => seconds = value.varint()? as i64,
                        (2, value) => nanos = value.varint()? as i32,
                        _ => {}
                    }
                }
            }
            (2, value) => line = value.bytes()?,
            (3, value) => {
                let (mut name, mut text): (&[u8], &[u8]) = (&[], &[]);
                for field in Fields::new(value.bytes()?) {
                    match field? {
                        (1, value) => name = value.bytes()?,
                        (2, value) => text = value.bytes()?,
                        _ => {}
                    }
                }
                metadata.push((Cow::Borrowed(name), Cow::Borrowed(text)));
            }
            // Field 4 (`parsed`) is for query responses only.
            _ => {}
        }
    }
    Ok(Entry {
        timestamp: Timestamp::Proto { seconds, nanos },
        line: Cow::Borrowed(line),
        metadata,
    })
}

/// Reads a JSON body (either shape; both may even mix in one body).
pub fn decode_json(body: &[u8]) -> Result<PushRequest<'static>, serde_json::Error> {
    let body: JsonBody = serde_json::from_slice(body)?;
    let streams = body
        .streams
        .into_iter()
        .map(|stream| {
            let labels = match stream.labels {
                Some(text) => StreamLabels::Text(Cow::Owned(text.into_bytes())),
                None => StreamLabels::Pairs(stream.stream.0),
            };
            let values = stream.values.into_iter().map(|value| Entry {
                timestamp: Timestamp::UnixNanos(value.timestamp.0),
                line: Cow::Owned(value.line.0),
                metadata: owned_pairs(value.metadata),
            });
            let legacy = stream.entries.into_iter().map(|entry| Entry {
                timestamp: Timestamp::Rfc3339(entry.ts),
                line: Cow::Owned(entry.line.0),
                metadata: owned_pairs(entry.structured_metadata),
            });
            Stream {
                labels,
                entries: values.chain(legacy).collect(),
            }
        })
        .collect();
    Ok(PushRequest { streams })
}

fn owned_pairs(pairs: JsonLabels) -> Vec<MetadataPair<'static>> {
    pairs
        .0
        .into_iter()
        .map(|(name, value)| {
            (
                Cow::Owned(name.into_bytes()),
                Cow::Owned(value.into_bytes()),
            )
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct JsonBody {
    #[serde(default)]
    streams: Vec<JsonStream>,
}

#[derive(Debug, Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: JsonLabels,
    #[serde(default)]
    values: Vec<JsonValue>,
    /// Legacy shape: a label set string.
    #[serde(default)]
    labels: Option<String>,
    /// Legacy shape: entries as objects.
    #[serde(default)]
    entries: Vec<LegacyEntry>,
}

#[derive(Debug, Deserialize)]
struct LegacyEntry {
    ts: String,
    line: LineBytes,
    #[serde(default, rename = "structuredMetadata")]
    structured_metadata: JsonLabels,
}

/// An object of string values, in body order, duplicates kept (so they can be refused).
#[derive(Debug, Default)]
struct JsonLabels(Vec<(String, String)>);

impl<'de> Deserialize<'de> for JsonLabels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LabelsVisitor;
        impl<'de> Visitor<'de> for LabelsVisitor {
            type Value = JsonLabels;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }

            fn visit_unit<E: de::Error>(self) -> Result<JsonLabels, E> {
                Ok(JsonLabels::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonLabels, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(JsonLabels(pairs))
            }
        }
        deserializer.deserialize_any(LabelsVisitor)
    }
}

/// A JSON string read as bytes, so a line that is not valid UTF-8 (or holds a lone
/// surrogate escape) is refused on its own rather than failing the whole body.
#[derive(Debug)]
struct LineBytes(Vec<u8>);

impl<'de> Deserialize<'de> for LineBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LineVisitor;
        impl Visitor<'_> for LineVisitor {
            type Value = LineBytes;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a log line as a string")
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<LineBytes, E> {
                Ok(LineBytes(bytes.to_vec()))
            }

            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<LineBytes, E> {
                Ok(LineBytes(bytes))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<LineBytes, E> {
                Ok(LineBytes(text.as_bytes().to_vec()))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<LineBytes, E> {
                Ok(LineBytes(text.into_bytes()))
            }
        }
        deserializer.deserialize_bytes(LineVisitor)
    }
}

/// Unix nanoseconds as Loki's JSON writes them (a string); an integer is taken too.
#[derive(Debug)]
struct NanosText(String);

impl<'de> Deserialize<'de> for NanosText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NanosVisitor;
        impl Visitor<'_> for NanosVisitor {
            type Value = NanosText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp in Unix nanoseconds as a string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<NanosText, E> {
                Ok(NanosText(text.to_owned()))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<NanosText, E> {
                Ok(NanosText(value.to_string()))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<NanosText, E> {
                Ok(NanosText(value.to_string()))
            }
        }
        deserializer.deserialize_any(NanosVisitor)
    }
}

/// `["<ns>", "<line>"]` or `["<ns>", "<line>", {"name": "value"}]`.
#[derive(Debug)]
struct JsonValue {
    timestamp: NanosText,
    line: LineBytes,
    metadata: JsonLabels,
}

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = JsonValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an entry [\"<unix ns>\", \"<line>\"] with optional structured metadata",
                )
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonValue, A::Error> {
                let timestamp = seq
                    .next_element::<NanosText>()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let line = seq
                    .next_element::<LineBytes>()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let metadata = seq.next_element::<JsonLabels>()?.unwrap_or_default();
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                Ok(JsonValue {
                    timestamp,
                    line,
                    metadata,
                })
            }
        }
        deserializer.deserialize_seq(ValueVisitor)
    }
}

#[cfg(test)]
mod tests;
