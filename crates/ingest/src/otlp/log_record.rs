//! One OTLP log record, with its resource and scope, into a [`LogRecord`]: the mapping
//! both decoders (protobuf and JSON) share.
//!
//! - timestamp: `time_unix_nano`, else `observed_time_unix_nano`, else arrival.
//! - severity: `severity_number`, else `severity_text`.
//! - service and host: the resource attributes `service.name` and `host.name`.
//! - trace and span ids: 16 and 8 bytes; empty or all zero means none; any other
//!   length refuses the record (`invalid_trace_id`, `invalid_span_id`).
//! - message: the body when it is a string. A key/value-list body is flattened into
//!   fields like a JSON log line, its `message` (else `msg`) key becoming the message;
//!   a body key that an attribute already has is kept as `body.<key>`. Any other body
//!   is the message as JSON text.
//! - fields: the attributes, flattened to dotted keys; the body's keys; `event.name`;
//!   `scope.name` and `scope.version`; every resource attribute but `service.name` and
//!   `host.name` under `resource.`. `logs.max_fields` and `logs.max_depth` apply to
//!   them together.
//! - correlation id: the first configured correlation field present among the fields.
//! - raw: the body when it is a string; otherwise compact JSON
//!   `{"body":..,"attributes":{..},"resource":{..}}` (protobuf's JSON mapping of the
//!   values, parts left out when empty). `logs.max_line_size` applies to it.

use std::borrow::Cow;

use model::{LogRecord, Severity, SpanId, TraceId, UnixNanos, Value};

use super::any_value::{self, AnyValue, KeyValues};
use crate::normalize::{self, LineError, LogConfig};

const SERVICE_KEY: &str = "service.name";
const HOST_KEY: &str = "host.name";
const MESSAGE_KEYS: [&str; 2] = ["message", "msg"];

/// What a resource contributes to each of its records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resource {
    pub service: Option<String>,
    pub host: Option<String>,
    /// The other attributes, flattened under `resource.`.
    pub fields: Vec<(String, Value)>,
    /// Every attribute as a JSON object, for `raw`.
    pub attributes_json: String,
}

impl Resource {
    /// Reads a resource's attributes. An `Err` (nesting too deep, too many fields) is
    /// the rejection of every record of the resource.
    pub fn new(
        attributes: &[(Cow<'_, str>, AnyValue<'_>)],
        config: &LogConfig,
    ) -> Result<Self, LineError> {
        let mut resource = Resource::default();
        let mut rest = Vec::with_capacity(attributes.len());
        for (key, value) in attributes {
            let scalar = match value {
                AnyValue::Array(_) | AnyValue::KvList(_) | AnyValue::Empty | AnyValue::TooDeep => {
                    None
                }
                scalar => Some(scalar.to_text()),
            };
            match (key.as_ref(), scalar) {
                (SERVICE_KEY, Some(text)) => resource.service = Some(text),
                (HOST_KEY, Some(text)) => resource.host = Some(text),
                _ => rest.push((Cow::Borrowed(key.as_ref()), value.clone())),
            }
        }
        any_value::flatten("resource", &rest, 1, config, &mut resource.fields)?;
        if !attributes.is_empty() {
            any_value::write_json_object(&mut resource.attributes_json, attributes);
        }
        Ok(resource)
    }
}

/// What an instrumentation scope contributes to each of its records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub fields: Vec<(String, Value)>,
}

impl Scope {
    pub fn new(name: &str, version: &str) -> Self {
        let fields = [("scope.name", name), ("scope.version", version)]
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| (key.to_owned(), Value::Str(value.to_owned())))
            .collect();
        Scope { fields }
    }
}

/// The fields of one OTLP `LogRecord` that Sightline reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordParts<'a> {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    pub severity_number: i32,
    pub severity_text: Cow<'a, str>,
    pub body: Option<AnyValue<'a>>,
    pub attributes: KeyValues<'a>,
    pub trace_id: Cow<'a, [u8]>,
    pub span_id: Cow<'a, [u8]>,
    pub event_name: Cow<'a, str>,
}

/// The records of one request, in order, and the ones refused.
pub type Decoded = crate::batch::Decoded<LogRecord>;

fn timestamp(parts: &RecordParts<'_>, arrival: UnixNanos) -> Result<UnixNanos, LineError> {
    let nanos = match parts.time_unix_nano {
        0 => parts.observed_time_unix_nano,
        nanos => nanos,
    };
    if nanos == 0 {
        return Ok(arrival);
    }
    i64::try_from(nanos).map(UnixNanos).map_err(|_| {
        LineError::new(
            "bad_timestamp",
            format!("the timestamp {nanos} ns is after the year 2262"),
        )
    })
}

fn trace_id(bytes: &[u8]) -> Result<Option<TraceId>, LineError> {
    match TraceId::from_bytes(bytes) {
        Ok(id) => Ok(Some(id)),
        // Absent, or all zero: not tied to a trace.
        Err(_) if bytes.is_empty() || bytes.len() == 16 => Ok(None),
        Err(err) => Err(LineError::new("invalid_trace_id", err.to_string())),
    }
}

fn span_id(bytes: &[u8]) -> Result<Option<SpanId>, LineError> {
    match SpanId::from_bytes(bytes) {
        Ok(id) => Ok(Some(id)),
        Err(_) if bytes.is_empty() || bytes.len() == 8 => Ok(None),
        Err(err) => Err(LineError::new("invalid_span_id", err.to_string())),
    }
}

/// Adds a key/value-list body's fields after the attributes' (`n_attributes` of them),
/// returning its message.
fn body_fields(
    entries: &[(Cow<'_, str>, AnyValue<'_>)],
    n_attributes: usize,
    config: &LogConfig,
    fields: &mut Vec<(String, Value)>,
) -> Result<String, LineError> {
    let mut own = Vec::with_capacity(entries.len());
    any_value::flatten("", entries, 1, config, &mut own)?;
    let message = MESSAGE_KEYS
        .iter()
        .find_map(|key| own.iter().position(|(k, _)| k == key))
        .map(|position| own.remove(position).1.to_string())
        .unwrap_or_default();
    for (key, value) in own {
        let key = if fields[..n_attributes].iter().any(|(k, _)| *k == key) {
            format!("body.{key}")
        } else {
            key
        };
        fields.push((key, value));
    }
    Ok(message)
}

/// The `raw` text of a record whose body is not a string.
fn raw_json(parts: &RecordParts<'_>, resource: &Resource) -> String {
    let mut sections = Vec::with_capacity(3);
    if let Some(body) = parts.body.as_ref().filter(|b| **b != AnyValue::Empty) {
        sections.push(format!("\"body\":{}", body.to_json()));
    }
    if !parts.attributes.is_empty() {
        let mut object = String::new();
        any_value::write_json_object(&mut object, &parts.attributes);
        sections.push(format!("\"attributes\":{object}"));
    }
    if !resource.attributes_json.is_empty() {
        sections.push(format!("\"resource\":{}", resource.attributes_json));
    }
    format!("{{{}}}", sections.join(","))
}

/// Normalizes one record. `resource` is `Err` when the resource itself was refused.
pub fn to_log_record(
    parts: &RecordParts<'_>,
    resource: &Result<Resource, LineError>,
    scope: &Scope,
    config: &LogConfig,
    arrival: UnixNanos,
) -> Result<LogRecord, LineError> {
    let resource = resource.as_ref().map_err(Clone::clone)?;
    let raw = match &parts.body {
        Some(AnyValue::Str(text)) => text.to_string(),
        _ => raw_json(parts, resource),
    };
    normalize::check_line_size(raw.as_bytes(), config)?;
    let timestamp = timestamp(parts, arrival)?;
    let severity = match Severity::from_otlp_number(parts.severity_number) {
        Severity::Unknown => Severity::from_text(&parts.severity_text),
        known => known,
    };
    let trace_id = trace_id(&parts.trace_id)?;
    let span_id = span_id(&parts.span_id)?;

    let mut fields = Vec::with_capacity(parts.attributes.len() + resource.fields.len() + 2);
    any_value::flatten("", &parts.attributes, 1, config, &mut fields)?;
    let message = match &parts.body {
        None | Some(AnyValue::Empty) => String::new(),
        Some(AnyValue::Str(text)) => text.to_string(),
        Some(AnyValue::KvList(entries)) => {
            let n_attributes = fields.len();
            body_fields(entries, n_attributes, config, &mut fields)?
        }
        Some(other) => {
            if 1 + other.nesting() > config.max_depth {
                return Err(any_value::too_deep(config));
            }
            other.to_text()
        }
    };
    if !parts.event_name.is_empty() {
        fields.push((
            "event.name".to_owned(),
            Value::Str(parts.event_name.to_string()),
        ));
    }
    fields.extend(scope.fields.iter().cloned());
    fields.extend(resource.fields.iter().cloned());
    if fields.len() > config.max_fields {
        return Err(any_value::too_many_fields(config));
    }
    let correlation_id = config.correlation_fields.iter().find_map(|name| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.to_string())
    });
    Ok(LogRecord {
        timestamp,
        observed: arrival,
        severity,
        service: resource.service.clone(),
        host: resource.host.clone(),
        trace_id,
        span_id,
        correlation_id,
        message,
        fields,
        raw,
        raw_holds_fields: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARRIVAL: UnixNanos = UnixNanos(1_795_283_999_000_000_000);

    fn kv<'a>(key: &'a str, value: AnyValue<'a>) -> (Cow<'a, str>, AnyValue<'a>) {
        (Cow::Borrowed(key), value)
    }

    fn text(value: &str) -> AnyValue<'_> {
        AnyValue::Str(Cow::Borrowed(value))
    }

    fn normalize(
        parts: &RecordParts<'_>,
        resource: &[(Cow<'_, str>, AnyValue<'_>)],
    ) -> Result<LogRecord, LineError> {
        let config = LogConfig::default();
        let resource = Resource::new(resource, &config);
        to_log_record(
            parts,
            &resource,
            &Scope::new("app.db", ""),
            &config,
            ARRIVAL,
        )
    }

    #[test]
    fn a_structured_body_becomes_fields_and_json_raw() {
        let parts = RecordParts {
            severity_text: Cow::Borrowed("WARNING"),
            body: Some(AnyValue::KvList(vec![
                kv("msg", text("slow query")),
                kv("user", text("body's")),
                kv(
                    "db",
                    AnyValue::KvList(vec![kv("ms", AnyValue::Double(12.5))]),
                ),
            ])),
            attributes: vec![kv("user", text("ann")), kv("request_id", AnyValue::Int(42))],
            ..RecordParts::default()
        };
        let resource = [
            kv("service.name", text("orders")),
            kv("k8s.pod", text("p-1")),
        ];
        let record = normalize(&parts, &resource).expect("normalizes");
        assert_eq!(record.timestamp, ARRIVAL, "no timestamps: arrival");
        assert_eq!(record.severity, Severity::Warn, "from the text");
        assert_eq!(record.service.as_deref(), Some("orders"));
        assert_eq!(record.message, "slow query");
        assert_eq!(record.correlation_id.as_deref(), Some("42"));
        let keys: Vec<&str> = record.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "user",
                "request_id",
                "body.user",
                "db.ms",
                "scope.name",
                "resource.k8s.pod"
            ]
        );
        assert_eq!(
            record.raw,
            r#"{"body":{"msg":"slow query","user":"body's","db":{"ms":12.5}},"attributes":{"user":"ann","request_id":42},"resource":{"service.name":"orders","k8s.pod":"p-1"}}"#
        );
    }

    #[test]
    fn timestamps_fall_back_and_ids_are_checked() {
        let mut parts = RecordParts {
            observed_time_unix_nano: 7,
            severity_number: 17,
            severity_text: Cow::Borrowed("info"),
            body: Some(AnyValue::Array(vec![AnyValue::Int(1)])),
            trace_id: Cow::Borrowed(&[0; 16]),
            span_id: Cow::Borrowed(&[0, 0, 0, 0, 0, 0, 0, 1]),
            ..RecordParts::default()
        };
        let record = normalize(&parts, &[]).expect("normalizes");
        assert_eq!(record.timestamp, UnixNanos(7));
        assert_eq!(record.severity, Severity::Error, "the number wins");
        assert_eq!(record.message, "[1]");
        assert_eq!(record.raw, r#"{"body":[1]}"#);
        assert_eq!(record.trace_id, None, "all zero is no trace");
        assert_eq!(
            record.span_id.map(|id| id.to_string()).as_deref(),
            Some("0000000000000001")
        );
        parts.time_unix_nano = u64::MAX;
        assert_eq!(
            normalize(&parts, &[]).expect_err("2262").reason,
            "bad_timestamp"
        );
        parts.time_unix_nano = 1;
        parts.trace_id = Cow::Borrowed(&[1, 2, 3]);
        let err = normalize(&parts, &[]).expect_err("short id");
        assert_eq!(err.reason, "invalid_trace_id");
        assert!(err.message.contains("\"010203\""), "{}", err.message);
        parts.trace_id = Cow::Borrowed(&[]);
        parts.span_id = Cow::Borrowed(&[0; 4]);
        assert_eq!(
            normalize(&parts, &[]).expect_err("short span").reason,
            "invalid_span_id"
        );
    }
}
