//! `ExportLogsServiceRequest` in OTLP/JSON, read with the shared [`common_json`]
//! helpers (hex ids, either key spelling, 64-bit integers as strings or numbers).
//! Enums are integers (their names, like `"SEVERITY_NUMBER_INFO"`, are read too).
//! Unknown keys are ignored and `null` is the same as absent.
//!
//! A body that is not JSON, or whose lists of resources, scopes or records are not
//! arrays of objects, is refused whole. A value of the wrong type inside a record (or
//! its resource or scope) refuses that record (or the records under it) alone.

use std::borrow::Cow;

use model::UnixNanos;
use serde_json::Value as Json;

use super::common_json::{
    self, Object, any_value, attributes, get, hex_id, integer, invalid_body, invalid_value,
    objects, string, unsigned,
};
use super::log_record::{Decoded, RecordParts, Resource, Scope, to_log_record};
use crate::normalize::{LineError, LogConfig};

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

fn resource(resource_logs: &Object, config: &LogConfig) -> Result<Resource, LineError> {
    Resource::new(&common_json::resource_attributes(resource_logs)?, config)
}

fn scope(scope_logs: &Object) -> Result<Scope, LineError> {
    let (name, version) = common_json::scope(scope_logs)?;
    Ok(Scope::new(name, version))
}

fn log_record(object: &Object) -> Result<RecordParts<'_>, LineError> {
    Ok(RecordParts {
        time_unix_nano: unsigned(object, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: unsigned(
            object,
            "observedTimeUnixNano",
            "observed_time_unix_nano",
        )?,
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
}
