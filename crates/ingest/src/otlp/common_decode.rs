//! Zero-copy readers of the messages every OTLP signal shares
//! (`opentelemetry.proto.common.v1` and `resource.v1`): attributes with their
//! `AnyValue`s, resources and instrumentation scopes. Strings and bytes borrow from the
//! body. Field numbers are those of `proto/opentelemetry/proto/` (tests check them
//! against prost); unknown fields are skipped.

use std::borrow::Cow;

use super::any_value::{AnyValue, KeyValues};
use crate::protowire::{Fields, Value, WireError};

/// Deepest `AnyValue` nesting a decoder descends into, whatever a configured depth
/// says: bounds the recursion (and the stack) on hostile input.
pub const MAX_NESTING: usize = 256;

/// A `ResourceLogs` or `ResourceSpans` message: the bytes of its `Resource` and of each
/// of its `ScopeLogs` or `ScopeSpans`.
pub fn resource_group(bytes: &[u8]) -> Result<(&[u8], Vec<&[u8]>), WireError> {
    let mut resource: &[u8] = &[];
    let mut scopes = Vec::new();
    for field in Fields::new(bytes) {
        match field? {
            (1, value) => resource = value.bytes()?,
            (2, value) => scopes.push(value.bytes()?),
            // 3 schema_url: not kept.
            _ => {}
        }
    }
    Ok((resource, scopes))
}

/// A `ScopeLogs` or `ScopeSpans` message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeGroup<'a> {
    /// The instrumentation scope's name and version.
    pub name: &'a str,
    pub version: &'a str,
    /// The bytes of each log record or span.
    pub items: Vec<&'a [u8]>,
}

/// Reads a `ScopeLogs` or `ScopeSpans` message.
pub fn scope_group(bytes: &[u8]) -> Result<ScopeGroup<'_>, WireError> {
    let mut group = ScopeGroup::default();
    for field in Fields::new(bytes) {
        match field? {
            (1, value) => (group.name, group.version) = instrumentation_scope(value.bytes()?)?,
            (2, value) => group.items.push(value.bytes()?),
            _ => {}
        }
    }
    Ok(group)
}

/// The attributes of a `Resource` message.
pub fn resource_attributes(bytes: &[u8], max_nesting: usize) -> Result<KeyValues<'_>, WireError> {
    let mut attributes = Vec::new();
    for field in Fields::new(bytes) {
        // 2 dropped_attributes_count, 3 entity_refs: not kept.
        if let (1, value) = field? {
            attributes.push(key_value(value.bytes()?, max_nesting)?);
        }
    }
    Ok(attributes)
}

/// The `(name, version)` of an `InstrumentationScope` message.
fn instrumentation_scope(bytes: &[u8]) -> Result<(&str, &str), WireError> {
    let (mut name, mut version) = ("", "");
    for field in Fields::new(bytes) {
        match field? {
            (1, value) => name = value.str()?,
            (2, value) => version = value.str()?,
            // 3 attributes, 4 dropped_attributes_count: not kept.
            _ => {}
        }
    }
    Ok((name, version))
}

/// One `KeyValue` message.
pub fn key_value(
    bytes: &[u8],
    max_nesting: usize,
) -> Result<(Cow<'_, str>, AnyValue<'_>), WireError> {
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
pub fn any_value(bytes: &[u8], max_nesting: usize) -> Result<AnyValue<'_>, WireError> {
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
