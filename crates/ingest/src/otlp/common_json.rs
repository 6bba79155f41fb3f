//! OTLP/JSON readers every signal shares: protobuf's JSON mapping with OTLP's changes.
//! Trace and span ids are hex (not base64); keys are lowerCamelCase (the original
//! snake_case names are read too); 64-bit integers are strings or numbers; `bytesValue`
//! is base64. `null` is the same as absent.
//!
//! Errors name the key and the value. Their reason is `invalid_json` for a list that
//! is not an array of objects (what a decoder refuses whole when the list holds
//! resources, scopes or items) and `invalid_value` for a value of the wrong type.

use std::borrow::Cow;

use serde_json::{Map, Value as Json};

use super::any_value::{AnyValue, KeyValues};
use super::base64;
use crate::normalize::LineError;

/// A JSON object.
pub type Object = Map<String, Json>;

/// A request that cannot be read at all.
pub fn invalid_body(message: String) -> LineError {
    LineError::new("invalid_json", message)
}

/// A value of the wrong type or form.
pub fn invalid_value(message: String) -> LineError {
    LineError::new("invalid_value", message)
}

/// The value of a key in either spelling; `null` is absent.
pub fn get<'j>(object: &'j Object, camel: &str, snake: &str) -> Option<&'j Json> {
    object
        .get(camel)
        .or_else(|| object.get(snake))
        .filter(|value| !value.is_null())
}

/// The array under a key; empty when absent.
pub fn array<'j>(object: &'j Object, camel: &str, snake: &str) -> Result<&'j [Json], String> {
    match get(object, camel, snake) {
        None => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(other) => Err(format!("{camel:?} is not an array: {other}")),
    }
}

/// The objects of the array under a key; empty when absent.
pub fn objects<'j>(
    object: &'j Object,
    camel: &str,
    snake: &str,
) -> Result<Vec<&'j Object>, LineError> {
    array(object, camel, snake)
        .map_err(invalid_body)?
        .iter()
        .map(|item| {
            item.as_object().ok_or_else(|| {
                invalid_body(format!("an element of {camel:?} is not an object: {item}"))
            })
        })
        .collect()
}

/// The string under a key; empty when absent.
pub fn string<'j>(object: &'j Object, camel: &str, snake: &str) -> Result<&'j str, LineError> {
    match get(object, camel, snake) {
        None => Ok(""),
        Some(Json::String(text)) => Ok(text),
        Some(other) => Err(invalid_value(format!("{camel:?} is not a string: {other}"))),
    }
}

/// An integer: a number, or a decimal string; `None` when it does not fit `T`.
pub fn integer<T: TryFrom<i128> + std::str::FromStr>(value: &Json) -> Option<T> {
    match value {
        Json::Number(number) => {
            if let Some(int) = number.as_i64() {
                return T::try_from(i128::from(int)).ok();
            }
            if let Some(int) = number.as_u64() {
                return T::try_from(i128::from(int)).ok();
            }
            // Exponent forms such as 1.5e18 are integers too when they have no fraction.
            let float = number.as_f64()?;
            (float.fract() == 0.0 && float.abs() < 1.8e19)
                .then(|| T::try_from(float as i128).ok())
                .flatten()
        }
        Json::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// An unsigned integer of `T`'s width under a key (a number or a decimal string); 0
/// when absent.
pub fn unsigned<T>(object: &Object, camel: &str, snake: &str) -> Result<T, LineError>
where
    T: TryFrom<i128> + std::str::FromStr + Default,
{
    get(object, camel, snake).map_or(Ok(T::default()), |value| {
        integer(value).ok_or_else(|| {
            invalid_value(format!(
                "{camel:?} is not an unsigned {}-bit integer: {value}",
                8 * size_of::<T>()
            ))
        })
    })
}

/// A hex trace or span id; empty is absent. Its length is checked later.
pub fn hex_id<'j>(
    object: &'j Object,
    camel: &str,
    snake: &str,
    reason: &'static str,
) -> Result<Cow<'j, [u8]>, LineError> {
    let text = string(object, camel, snake)?;
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(LineError::new(
            reason,
            format!("{camel:?} {text:?} is not a hex string"),
        ));
    }
    let bytes = text
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let digit = |b: u8| char::from(b).to_digit(16).unwrap_or(0) as u8;
            (digit(pair[0]) << 4) | digit(pair[1])
        })
        .collect();
    Ok(Cow::Owned(bytes))
}

/// One `AnyValue` object.
pub fn any_value(value: &Json) -> Result<AnyValue<'_>, LineError> {
    let Json::Object(object) = value else {
        return Err(invalid_value(format!(
            "an AnyValue is not an object: {value}"
        )));
    };
    let bad = |kind: &str, value: &Json| invalid_value(format!("{kind:?} is not valid: {value}"));
    if let Some(value) = get(object, "stringValue", "string_value") {
        let text = value.as_str().ok_or_else(|| bad("stringValue", value))?;
        return Ok(AnyValue::Str(Cow::Borrowed(text)));
    }
    if let Some(value) = get(object, "boolValue", "bool_value") {
        return value
            .as_bool()
            .map(AnyValue::Bool)
            .ok_or_else(|| bad("boolValue", value));
    }
    if let Some(value) = get(object, "intValue", "int_value") {
        return integer(value)
            .map(AnyValue::Int)
            .ok_or_else(|| bad("intValue", value));
    }
    if let Some(value) = get(object, "doubleValue", "double_value") {
        let double = match value {
            Json::Number(number) => number.as_f64(),
            Json::String(text) => match text.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                text => text.parse().ok(),
            },
            _ => None,
        };
        return double
            .map(AnyValue::Double)
            .ok_or_else(|| bad("doubleValue", value));
    }
    if let Some(value) = get(object, "arrayValue", "array_value") {
        let list = value.as_object().ok_or_else(|| bad("arrayValue", value))?;
        let items = array(list, "values", "values").map_err(invalid_value)?;
        return items
            .iter()
            .map(any_value)
            .collect::<Result<_, _>>()
            .map(AnyValue::Array);
    }
    if let Some(value) = get(object, "kvlistValue", "kvlist_value") {
        let list = value.as_object().ok_or_else(|| bad("kvlistValue", value))?;
        let entries = array(list, "values", "values").map_err(invalid_value)?;
        return key_values(entries).map(AnyValue::KvList);
    }
    if let Some(value) = get(object, "bytesValue", "bytes_value") {
        let bytes = value
            .as_str()
            .and_then(base64::decode)
            .ok_or_else(|| bad("bytesValue", value))?;
        return Ok(AnyValue::Bytes(Cow::Owned(bytes)));
    }
    Ok(AnyValue::Empty)
}

/// A list of `KeyValue` objects.
pub fn key_values(entries: &[Json]) -> Result<KeyValues<'_>, LineError> {
    entries
        .iter()
        .map(|entry| {
            let object = entry.as_object().ok_or_else(|| {
                invalid_value(format!("a key/value pair is not an object: {entry}"))
            })?;
            let key = string(object, "key", "key")?;
            let value = match get(object, "value", "value") {
                Some(value) => any_value(value).map_err(|err| {
                    LineError::new(err.reason, format!("attribute {key:?}: {}", err.message))
                })?,
                None => AnyValue::Empty,
            };
            Ok((Cow::Borrowed(key), value))
        })
        .collect()
}

/// The `attributes` of an object.
pub fn attributes<'j>(object: &'j Object) -> Result<KeyValues<'j>, LineError> {
    key_values(array(object, "attributes", "attributes").map_err(invalid_value)?)
}

/// The object under a key; `None` when absent.
pub fn child_object<'j>(parent: &'j Object, key: &str) -> Result<Option<&'j Object>, LineError> {
    get(parent, key, key)
        .map(|value| {
            value
                .as_object()
                .ok_or_else(|| invalid_value(format!("{key:?} is not an object: {value}")))
        })
        .transpose()
}

/// The `(name, version)` of the `scope` of a `ScopeLogs` or `ScopeSpans` object.
pub fn scope(group: &Object) -> Result<(&str, &str), LineError> {
    let Some(object) = child_object(group, "scope")? else {
        return Ok(("", ""));
    };
    Ok((
        string(object, "name", "name")?,
        string(object, "version", "version")?,
    ))
}

/// The attributes of the `resource` of a `ResourceLogs` or `ResourceSpans` object.
pub fn resource_attributes(group: &Object) -> Result<KeyValues<'_>, LineError> {
    match child_object(group, "resource")? {
        Some(object) => attributes(object),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_come_as_numbers_or_strings() {
        assert_eq!(
            integer::<u64>(&Json::from("1581452773000000789")),
            Some(1_581_452_773_000_000_789)
        );
        assert_eq!(
            integer::<u64>(&serde_json::json!(1_581_452_773_000_000_789u64)),
            Some(1_581_452_773_000_000_789)
        );
        assert_eq!(integer::<i64>(&serde_json::json!(-5)), Some(-5));
        assert_eq!(integer::<i64>(&serde_json::json!(1e3)), Some(1000));
        assert_eq!(integer::<u64>(&serde_json::json!(-5)), None);
        assert_eq!(integer::<i64>(&serde_json::json!(1.5)), None);
        assert_eq!(integer::<i64>(&Json::from("x")), None);
        let object = serde_json::json!({"n": 1u64 << 40, "m": "7"});
        let object = object.as_object().expect("object");
        assert_eq!(unsigned::<u32>(object, "m", "m"), Ok(7));
        assert_eq!(unsigned::<u32>(object, "absent", "absent"), Ok(0));
        assert_eq!(
            unsigned::<u32>(object, "n", "n")
                .expect_err("too wide")
                .message,
            "\"n\" is not an unsigned 32-bit integer: 1099511627776"
        );
    }
}
