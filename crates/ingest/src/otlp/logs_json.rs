//! `ExportLogsServiceRequest` in OTLP/JSON: protobuf's JSON mapping with OTLP's
//! changes. Trace and span ids are hex (not base64); keys are lowerCamelCase (the
//! original snake_case names are read too); 64-bit integers are strings or numbers;
//! enums are integers (their names, like `"SEVERITY_NUMBER_INFO"`, are read too);
//! `bytesValue` is base64. Unknown keys are ignored and `null` is the same as absent.
//!
//! A body that is not JSON, or whose lists of resources, scopes or records are not
//! arrays of objects, is refused whole. A value of the wrong type inside a record (or
//! its resource or scope) refuses that record (or the records under it) alone.

use std::borrow::Cow;

use model::UnixNanos;
use serde_json::{Map, Value as Json};

use super::any_value::{AnyValue, KeyValues};
use super::base64;
use super::log_record::{Decoded, RecordParts, Resource, Scope, to_log_record};
use crate::normalize::{LineError, LogConfig};

type Object = Map<String, Json>;

fn invalid_body(message: String) -> LineError {
    LineError::new("invalid_json", message)
}

fn invalid_value(message: String) -> LineError {
    LineError::new("invalid_value", message)
}

/// The value of a key in either spelling; `null` is absent.
fn get<'j>(object: &'j Object, camel: &str, snake: &str) -> Option<&'j Json> {
    object
        .get(camel)
        .or_else(|| object.get(snake))
        .filter(|value| !value.is_null())
}

fn array<'j>(object: &'j Object, camel: &str, snake: &str) -> Result<&'j [Json], String> {
    match get(object, camel, snake) {
        None => Ok(&[]),
        Some(Json::Array(items)) => Ok(items),
        Some(other) => Err(format!("{camel:?} is not an array: {other}")),
    }
}

fn objects<'j>(object: &'j Object, camel: &str, snake: &str) -> Result<Vec<&'j Object>, LineError> {
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

fn string<'j>(object: &'j Object, camel: &str, snake: &str) -> Result<&'j str, LineError> {
    match get(object, camel, snake) {
        None => Ok(""),
        Some(Json::String(text)) => Ok(text),
        Some(other) => Err(invalid_value(format!("{camel:?} is not a string: {other}"))),
    }
}

/// A 64-bit integer: a number, or a decimal string.
fn integer<T: TryFrom<i128> + std::str::FromStr>(value: &Json) -> Option<T> {
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

fn uint64(object: &Object, camel: &str, snake: &str) -> Result<u64, LineError> {
    get(object, camel, snake).map_or(Ok(0), |value| {
        integer(value).ok_or_else(|| {
            invalid_value(format!(
                "{camel:?} is not an unsigned 64-bit integer: {value}"
            ))
        })
    })
}

/// `SeverityNumber`: an integer, or a name such as `SEVERITY_NUMBER_WARN2`. An unknown
/// name counts as unspecified.
fn severity_number(value: Option<&Json>) -> Result<i32, LineError> {
    let Some(value) = value else {
        return Ok(0);
    };
    if let Some(number) = integer::<i32>(value) {
        return Ok(number);
    }
    let Some(name) = value.as_str() else {
        return Err(invalid_value(format!(
            "\"severityNumber\" is not an integer or a name: {value}"
        )));
    };
    let level = name.strip_prefix("SEVERITY_NUMBER_").unwrap_or(name);
    let (base, step) = match level.as_bytes().last() {
        Some(digit @ b'2'..=b'4') => (&level[..level.len() - 1], i32::from(digit - b'1')),
        _ => (level, 0),
    };
    let first = match base {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" => 9,
        "WARN" => 13,
        "ERROR" => 17,
        "FATAL" => 21,
        _ => return Ok(0),
    };
    Ok(first + step)
}

/// A hex trace or span id; empty is absent. Its length is checked later.
fn hex_id<'j>(
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

fn any_value(value: &Json) -> Result<AnyValue<'_>, LineError> {
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

fn key_values(entries: &[Json]) -> Result<KeyValues<'_>, LineError> {
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

fn attributes<'j>(object: &'j Object) -> Result<KeyValues<'j>, LineError> {
    key_values(array(object, "attributes", "attributes").map_err(invalid_value)?)
}

fn resource(resource_logs: &Object, config: &LogConfig) -> Result<Resource, LineError> {
    let Some(value) = get(resource_logs, "resource", "resource") else {
        return Ok(Resource::default());
    };
    let object = value
        .as_object()
        .ok_or_else(|| invalid_value(format!("\"resource\" is not an object: {value}")))?;
    Resource::new(&attributes(object)?, config)
}

fn scope(scope_logs: &Object) -> Result<Scope, LineError> {
    let Some(value) = get(scope_logs, "scope", "scope") else {
        return Ok(Scope::default());
    };
    let object = value
        .as_object()
        .ok_or_else(|| invalid_value(format!("\"scope\" is not an object: {value}")))?;
    Ok(Scope::new(
        string(object, "name", "name")?,
        string(object, "version", "version")?,
    ))
}

fn log_record(object: &Object) -> Result<RecordParts<'_>, LineError> {
    Ok(RecordParts {
        time_unix_nano: uint64(object, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: uint64(object, "observedTimeUnixNano", "observed_time_unix_nano")?,
        severity_number: severity_number(get(object, "severityNumber", "severity_number"))?,
        severity_text: Cow::Borrowed(string(object, "severityText", "severity_text")?),
        body: get(object, "body", "body").map(any_value).transpose()?,
        attributes: attributes(object)?,
        trace_id: hex_id(object, "traceId", "trace_id", "invalid_trace_id")?,
        span_id: hex_id(object, "spanId", "span_id", "invalid_span_id")?,
        event_name: Cow::Borrowed(string(object, "eventName", "event_name")?),
    })
}

/// Decodes a request. `Err` when the body as a whole cannot be read; records that
/// cannot be stored are refused one by one in [`Decoded::errors`].
pub fn decode(body: &[u8], config: &LogConfig, arrival: UnixNanos) -> Result<Decoded, LineError> {
    let root: Json = serde_json::from_slice(body)
        .map_err(|err| invalid_body(format!("the body is not valid JSON: {err}")))?;
    let root = root
        .as_object()
        .ok_or_else(|| invalid_body("the body is not a JSON object".to_owned()))?;
    let mut decoded = Decoded::default();
    for resource_logs in objects(root, "resourceLogs", "resource_logs")? {
        let resource = resource(resource_logs, config);
        for scope_logs in objects(resource_logs, "scopeLogs", "scope_logs")? {
            let scope = scope(scope_logs);
            for record in objects(scope_logs, "logRecords", "log_records")? {
                let result = match &scope {
                    Ok(scope) => log_record(record)
                        .and_then(|parts| to_log_record(&parts, &resource, scope, config, arrival)),
                    Err(err) => Err(err.clone()),
                };
                decoded.push(result);
            }
        }
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_names_map_to_numbers() {
        let cases = [
            ("SEVERITY_NUMBER_INFO", 9),
            ("SEVERITY_NUMBER_WARN2", 14),
            ("SEVERITY_NUMBER_FATAL4", 24),
            ("SEVERITY_NUMBER_TRACE", 1),
            ("SEVERITY_NUMBER_UNSPECIFIED", 0),
            ("LOUD", 0),
        ];
        for (name, number) in cases {
            assert_eq!(
                severity_number(Some(&Json::from(name))),
                Ok(number),
                "{name}"
            );
        }
        assert_eq!(severity_number(Some(&Json::from(17))), Ok(17));
        assert_eq!(severity_number(Some(&Json::from("13"))), Ok(13));
        assert!(severity_number(Some(&Json::Bool(true))).is_err());
    }

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
    }
}
