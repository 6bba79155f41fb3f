//! A Zipkin v2 JSON body (a JSON array of spans, as Brave's and py_zipkin's reporters
//! send it) into [`model::Span`]s, under the checks and limits of [`crate::spans`]:
//!
//! - `traceId`: 32 hex digits, or 16 (a 64-bit id, widened with zeros); `id`: 16 hex
//!   digits; `parentId`: absent, empty or all zero for a root, else 16 hex digits.
//! - `timestamp` and `duration`: microseconds; the span starts at `timestamp` (which it
//!   must have) and ends `duration` later (at once when absent).
//! - `kind`: `CLIENT`, `SERVER`, `PRODUCER`, `CONSUMER`, or absent (unspecified).
//! - `localEndpoint`: `serviceName` is the service (`unknown_service` when absent);
//!   `ipv4`, `ipv6` and `port` become the resource attributes `net.host.ip`,
//!   `net.host.ipv6` and `net.host.port`.
//! - `remoteEndpoint`: the span attributes `peer.service`, `net.peer.ip`,
//!   `net.peer.ipv6` and `net.peer.port`.
//! - `tags`: span attributes (strings; numbers and booleans are read as their text),
//!   except those that become the status or the scope: `error` (its presence makes the
//!   status an error, its value the message), `otel.status_code` and
//!   `otel.status_description` (as OpenTelemetry's Zipkin exporters write the status),
//!   `otel.scope.name` and `otel.scope.version` (or the older `otel.library.*`).
//! - `annotations`: events, named by their `value`, at their `timestamp`.
//! - `shared`: the attribute `zipkin.shared` (the server half of a span whose id it
//!   shares with its client half); `debug` is not kept.
//!
//! Refused whole: a body that is not a JSON array, and one with more than
//! `max_spans_per_request` spans. Refused alone, by position: a span that is not an
//! object, or has a value of the wrong type, an invalid id, no timestamp, an unknown
//! kind, or an end after the year 2262.

use model::span::SpanEvent;
use model::{Span, SpanId, SpanKind, SpanStatus, TraceId, Value};
use serde_json::Value as Json;

use crate::batch::RequestError;
use crate::normalize::LineError;
use crate::otlp::common_json::{
    Object, child_object, get, integer, invalid_body, invalid_value, string,
};
use crate::spans::{self, DecodedSpans, TraceLimits, Trimmed};

/// Tags that become the status or the scope rather than attributes.
const ERROR_TAG: &str = "error";
const STATUS_CODE_TAG: &str = "otel.status_code";
const STATUS_DESCRIPTION_TAG: &str = "otel.status_description";
const SCOPE_NAME_TAGS: [&str; 2] = ["otel.scope.name", "otel.library.name"];
const SCOPE_VERSION_TAGS: [&str; 2] = ["otel.scope.version", "otel.library.version"];

/// Decodes a body. `Err` when it is not a JSON array of spans, or has too many; spans
/// that cannot be stored are refused one by one.
pub fn decode(body: &[u8], limits: &TraceLimits) -> Result<DecodedSpans, RequestError> {
    let refuse = |message| RequestError::bad_data(invalid_body(message));
    let root: Json = serde_json::from_slice(body)
        .map_err(|err| refuse(format!("the body is not valid JSON: {err}")))?;
    let Json::Array(items) = root else {
        return Err(refuse(
            "the body is not a JSON array of Zipkin v2 spans".to_owned(),
        ));
    };
    spans::check_span_count(items.len(), limits)?;
    let mut decoded = DecodedSpans::default();
    for item in &items {
        let result = match item.as_object() {
            Some(object) => span(object, limits, &mut decoded.trimmed),
            None => Err(invalid_value(format!(
                "the span is not a JSON object: {item}"
            ))),
        };
        decoded.spans.push(result);
    }
    Ok(decoded)
}

/// Microseconds under `key`, in nanoseconds; `None` when absent.
fn micros_as_nanos(object: &Object, key: &str) -> Result<Option<u64>, LineError> {
    let Some(value) = get(object, key, key) else {
        return Ok(None);
    };
    let micros: u64 = integer(value).ok_or_else(|| {
        invalid_value(format!(
            "{key:?} is not a whole number of microseconds: {value}"
        ))
    })?;
    micros.checked_mul(1000).map(Some).ok_or_else(|| {
        LineError::new(
            "bad_timestamp",
            format!("{key:?} {micros} µs is after the year 2262"),
        )
    })
}

/// The attributes of an endpoint, under `prefix` (`net.host`, `net.peer`); its service
/// name apart.
fn endpoint<'j>(
    endpoint: Option<&'j Object>,
    prefix: &str,
    attributes: &mut Vec<(String, Value)>,
) -> Result<&'j str, LineError> {
    let Some(endpoint) = endpoint else {
        return Ok("");
    };
    for (key, name) in [("ipv4", "ip"), ("ipv6", "ipv6")] {
        let address = string(endpoint, key, key)?;
        if !address.is_empty() {
            attributes.push((format!("{prefix}.{name}"), Value::Str(address.to_owned())));
        }
    }
    if let Some(value) = get(endpoint, "port", "port") {
        let port = integer::<u16>(value)
            .ok_or_else(|| invalid_value(format!("\"port\" is not a port number: {value}")))?;
        if port != 0 {
            attributes.push((format!("{prefix}.port"), Value::Int(i64::from(port))));
        }
    }
    string(endpoint, "serviceName", "serviceName")
}

/// The tags as `(key, text)`, in key order.
fn tags(object: &Object) -> Result<Vec<(&str, String)>, LineError> {
    let Some(tags) = child_object(object, "tags")? else {
        return Ok(Vec::new());
    };
    tags.iter()
        .map(|(key, value)| {
            let text = match value {
                Json::String(text) => text.clone(),
                Json::Number(_) | Json::Bool(_) => value.to_string(),
                _ => {
                    return Err(invalid_value(format!(
                        "tag {key:?} is not a string: {value}"
                    )));
                }
            };
            Ok((key.as_str(), text))
        })
        .collect()
}

fn annotations(object: &Object) -> Result<Vec<SpanEvent>, LineError> {
    let Some(value) = get(object, "annotations", "annotations") else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or_else(|| invalid_value(format!("\"annotations\" is not an array: {value}")))?;
    items
        .iter()
        .map(|item| {
            let annotation = item
                .as_object()
                .ok_or_else(|| invalid_value(format!("an annotation is not an object: {item}")))?;
            let nanos = micros_as_nanos(annotation, "timestamp")?.ok_or_else(|| {
                invalid_value(format!("an annotation has no \"timestamp\": {item}"))
            })?;
            Ok(SpanEvent {
                time: spans::timestamp(nanos, "annotation timestamp")?,
                name: string(annotation, "value", "value")?.to_owned(),
                attributes: Vec::new(),
            })
        })
        .collect()
}

fn kind(object: &Object) -> Result<SpanKind, LineError> {
    match string(object, "kind", "kind")? {
        "" => Ok(SpanKind::Unspecified),
        "CLIENT" => Ok(SpanKind::Client),
        "SERVER" => Ok(SpanKind::Server),
        "PRODUCER" => Ok(SpanKind::Producer),
        "CONSUMER" => Ok(SpanKind::Consumer),
        other => Err(invalid_value(format!(
            "\"kind\" {other:?} is not CLIENT, SERVER, PRODUCER or CONSUMER"
        ))),
    }
}

/// The status, the scope's name and version, and the other tags as attributes.
fn status_scope_and_attributes(
    tags: Vec<(&str, String)>,
    attributes: &mut Vec<(String, Value)>,
) -> (SpanStatus, String, String) {
    let (mut error, mut code, mut description) = (None, None, None);
    let (mut scope_name, mut scope_version) = (String::new(), String::new());
    for (key, text) in tags {
        match key {
            ERROR_TAG => error = Some(text),
            STATUS_CODE_TAG => code = Some(text),
            STATUS_DESCRIPTION_TAG => description = Some(text),
            _ if SCOPE_NAME_TAGS.contains(&key) => scope_name = text,
            _ if SCOPE_VERSION_TAGS.contains(&key) => scope_version = text,
            _ => attributes.push((key.to_owned(), Value::Str(text))),
        }
    }
    let status = match code.as_deref() {
        Some("OK") => SpanStatus::Ok,
        Some("ERROR") => SpanStatus::Error {
            message: description.or(error).unwrap_or_default(),
        },
        _ => match error {
            Some(message) => SpanStatus::Error { message },
            None => SpanStatus::Unset,
        },
    };
    (status, scope_name, scope_version)
}

fn span(object: &Object, limits: &TraceLimits, trimmed: &mut Trimmed) -> Result<Span, LineError> {
    let trace_id = spans::trace_id(TraceId::from_hex(string(object, "traceId", "traceId")?))?;
    let span_id = spans::span_id(SpanId::from_hex(string(object, "id", "id")?))?;
    let named = |err| spans::with_span_id(err, span_id);
    let parent = string(object, "parentId", "parentId").map_err(named)?;
    let is_root = parent.is_empty() || (parent.len() == 16 && parent.bytes().all(|b| b == b'0'));
    let parent_span_id = spans::parent_span_id(SpanId::from_hex(parent), is_root).map_err(named)?;
    let start = micros_as_nanos(object, "timestamp")
        .map_err(named)?
        .ok_or_else(|| {
            named(LineError::new(
                "missing_timestamp",
                "the span has no \"timestamp\"",
            ))
        })?;
    let duration = micros_as_nanos(object, "duration")
        .map_err(named)?
        .unwrap_or(0);
    let end = start.saturating_add(duration);
    let start = spans::timestamp(start, "start time").map_err(named)?;
    let end = spans::timestamp(end, "end time").map_err(named)?;
    let kind = kind(object).map_err(named)?;
    let name = string(object, "name", "name").map_err(named)?.to_owned();
    let mut events = annotations(object).map_err(named)?;
    let mut resource_attributes = Vec::new();
    let local = child_object(object, "localEndpoint").map_err(named)?;
    let service = endpoint(local, "net.host", &mut resource_attributes).map_err(named)?;
    let mut attributes = Vec::new();
    let remote = child_object(object, "remoteEndpoint").map_err(named)?;
    let peer_service = endpoint(remote, "net.peer", &mut attributes).map_err(named)?;
    if !peer_service.is_empty() {
        attributes.push((
            "peer.service".to_owned(),
            Value::Str(peer_service.to_owned()),
        ));
    }
    let tags = tags(object).map_err(named)?;
    let (status, scope_name, scope_version) = status_scope_and_attributes(tags, &mut attributes);
    if get(object, "shared", "shared").and_then(Json::as_bool) == Some(true) {
        attributes.push(("zipkin.shared".to_owned(), Value::Bool(true)));
    }

    // What this span's limits trim counts only if the span is kept.
    let mut own = Trimmed::default();
    spans::bound_attributes(&mut resource_attributes, limits, &mut own);
    let dropped_attributes = spans::bound_attributes(&mut attributes, limits, &mut own);
    let dropped_events = spans::keep_first(&mut events, limits.max_events_per_span);
    own.dropped_events += u64::from(dropped_events);
    trimmed.add(own);
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        service: if service.is_empty() {
            spans::UNKNOWN_SERVICE.to_owned()
        } else {
            service.to_owned()
        },
        name,
        kind,
        start,
        end,
        status,
        trace_state: String::new(),
        scope_name,
        scope_version,
        resource_attributes,
        attributes,
        events,
        links: Vec::new(),
        dropped_attributes,
        dropped_events,
        dropped_links: 0,
    })
}
