//! `ExportLogsServiceRequest` in protobuf, read with the zero-copy [`protowire`] reader:
//! strings and bytes borrow from the body until a record is normalized. Field numbers
//! are those of `proto/opentelemetry/proto/` (tests check them against prost). Unknown
//! fields are skipped; a body that is not valid protobuf is refused whole.
//!
//! [`protowire`]: crate::protowire

use std::borrow::Cow;

use model::UnixNanos;

use super::any_value::{AnyValue, KeyValues};
use super::log_record::{Decoded, RecordParts, Resource, Scope, to_log_record};
use crate::normalize::{LineError, LogConfig};
use crate::protowire::{Fields, Value, WireError};

/// Deepest `AnyValue` nesting the decoder descends into, whatever `logs.max_depth`
/// says: bounds the recursion (and the stack) on hostile input.
const MAX_NESTING: usize = 256;

fn invalid(err: WireError) -> LineError {
    LineError::new(
        "invalid_protobuf",
        format!("the body is not a valid ExportLogsServiceRequest: {err}"),
    )
}

/// Decodes a request. `Err` only when the body is not valid protobuf (nothing of it is
/// kept); records that cannot be stored are refused one by one in [`Decoded::errors`].
pub fn decode(body: &[u8], config: &LogConfig, arrival: UnixNanos) -> Result<Decoded, LineError> {
    let mut decoded = Decoded::default();
    // Descend one level further than the limit, so that too-deep values are seen.
    let max_nesting = config.max_depth.saturating_add(1).min(MAX_NESTING);
    for field in Fields::new(body) {
        let (number, value) = field.map_err(invalid)?;
        if number == 1 {
            resource_logs(
                value.bytes().map_err(invalid)?,
                max_nesting,
                config,
                arrival,
                &mut decoded,
            )
            .map_err(invalid)?;
        }
    }
    Ok(decoded)
}

fn resource_logs(
    bytes: &[u8],
    max_nesting: usize,
    config: &LogConfig,
    arrival: UnixNanos,
    decoded: &mut Decoded,
) -> Result<(), WireError> {
    let mut resource: &[u8] = &[];
    let mut scope_logs = Vec::new();
    for field in Fields::new(bytes) {
        match field? {
            (1, value) => resource = value.bytes()?,
            (2, value) => scope_logs.push(value.bytes()?),
            _ => {}
        }
    }
    let mut attributes = Vec::new();
    for field in Fields::new(resource) {
        if let (1, value) = field? {
            attributes.push(key_value(value.bytes()?, max_nesting)?);
        }
    }
    let resource = Resource::new(&attributes, config);
    for bytes in scope_logs {
        let mut scope = Scope::default();
        let mut records = Vec::new();
        for field in Fields::new(bytes) {
            match field? {
                (1, value) => scope = instrumentation_scope(value.bytes()?)?,
                (2, value) => records.push(value.bytes()?),
                _ => {}
            }
        }
        for bytes in records {
            let parts = log_record(bytes, max_nesting)?;
            decoded.push(to_log_record(&parts, &resource, &scope, config, arrival));
        }
    }
    Ok(())
}

fn instrumentation_scope(bytes: &[u8]) -> Result<Scope, WireError> {
    let (mut name, mut version) = ("", "");
    for field in Fields::new(bytes) {
        match field? {
            (1, value) => name = value.str()?,
            (2, value) => version = value.str()?,
            // 3 attributes, 4 dropped_attributes_count: not kept.
            _ => {}
        }
    }
    Ok(Scope::new(name, version))
}

fn log_record(bytes: &[u8], max_nesting: usize) -> Result<RecordParts<'_>, WireError> {
    let mut parts = RecordParts::default();
    for field in Fields::new(bytes) {
        let (number, value) = field?;
        match number {
            1 => parts.time_unix_nano = value.fixed64()?,
            11 => parts.observed_time_unix_nano = value.fixed64()?,
            // An enum is an int32 on the wire: negative values come sign-extended.
            2 => parts.severity_number = value.varint()? as i32,
            3 => parts.severity_text = Cow::Borrowed(value.str()?),
            5 => parts.body = Some(any_value(value.bytes()?, max_nesting)?),
            6 => parts
                .attributes
                .push(key_value(value.bytes()?, max_nesting)?),
            9 => parts.trace_id = Cow::Borrowed(value.bytes()?),
            10 => parts.span_id = Cow::Borrowed(value.bytes()?),
            12 => parts.event_name = Cow::Borrowed(value.str()?),
            // 7 dropped_attributes_count, 8 flags: not kept.
            _ => {}
        }
    }
    Ok(parts)
}

fn key_value(bytes: &[u8], max_nesting: usize) -> Result<(Cow<'_, str>, AnyValue<'_>), WireError> {
    let mut key = "";
    let mut value = AnyValue::Empty;
    for field in Fields::new(bytes) {
        match field? {
            (1, field) => key = field.str()?,
            (2, field) => value = any_value(field.bytes()?, max_nesting)?,
            _ => {}
        }
    }
    Ok((Cow::Borrowed(key), value))
}

/// One `AnyValue`; arrays and lists more than `max_nesting` levels down become
/// [`AnyValue::TooDeep`] without being read.
fn any_value(bytes: &[u8], max_nesting: usize) -> Result<AnyValue<'_>, WireError> {
    let mut any = AnyValue::Empty;
    for field in Fields::new(bytes) {
        let (number, value) = field?;
        any = match number {
            1 => AnyValue::Str(Cow::Borrowed(value.str()?)),
            2 => AnyValue::Bool(value.varint()? != 0),
            3 => AnyValue::Int(value.varint()? as i64),
            4 => AnyValue::Double(f64::from_bits(value.fixed64()?)),
            5 | 6 if max_nesting == 0 => {
                value.bytes()?;
                AnyValue::TooDeep
            }
            5 => AnyValue::Array(array_values(value, max_nesting - 1)?),
            6 => AnyValue::KvList(kvlist_values(value, max_nesting - 1)?),
            7 => AnyValue::Bytes(Cow::Borrowed(value.bytes()?)),
            _ => continue,
        };
    }
    Ok(any)
}

fn array_values(value: Value<'_>, max_nesting: usize) -> Result<Vec<AnyValue<'_>>, WireError> {
    let mut values = Vec::new();
    for field in Fields::new(value.bytes()?) {
        if let (1, item) = field? {
            values.push(any_value(item.bytes()?, max_nesting)?);
        }
    }
    Ok(values)
}

fn kvlist_values(value: Value<'_>, max_nesting: usize) -> Result<KeyValues<'_>, WireError> {
    let mut entries = Vec::new();
    for field in Fields::new(value.bytes()?) {
        if let (1, entry) = field? {
            entries.push(key_value(entry.bytes()?, max_nesting)?);
        }
    }
    Ok(entries)
}
