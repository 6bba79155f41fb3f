//! `ExportTraceServiceRequest` in OTLP/JSON, read with the shared [`common_json`]
//! helpers (hex ids, either key spelling, 64-bit integers as strings or numbers). The
//! enums `kind` and `status.code` are integers or their names (`"SPAN_KIND_SERVER"`,
//! `"STATUS_CODE_ERROR"`). Unknown keys are ignored and `null` is the same as absent.
//!
//! Refused whole (400): a body that is not JSON, or whose lists of resources, scopes or
//! spans are not arrays of objects (a span that is not an object cannot be named), and
//! a request with more than `max_spans_per_request` spans (413). Refused alone, by
//! position: a span with a value of the wrong type or form, an id that is not hex or
//! has the wrong length, or an enum name that is not one of the enum's; a resource or
//! scope with such a value refuses every span under it.

use std::borrow::Cow;

use serde_json::Value as Json;

use super::common_json::{
    self, Object, attributes, child_object, get, hex_id, integer, invalid_body, invalid_value,
    objects, string, unsigned,
};
use super::span::{EventParts, LinkParts, Resource, Scope, SpanParts, to_span};
use crate::batch::RequestError;
use crate::normalize::LineError;
use crate::spans::{self, DecodedSpans, TraceLimits};

const SPAN_KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

const STATUS_CODES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// An enum: its number, or one of `names` (whose index is the number).
fn enum_number(
    object: &Object,
    camel: &str,
    enum_name: &str,
    names: &[&str],
) -> Result<i32, LineError> {
    let Some(value) = get(object, camel, camel) else {
        return Ok(0);
    };
    if let Some(number) = integer::<i32>(value) {
        return Ok(number);
    }
    value
        .as_str()
        .and_then(|name| names.iter().position(|known| *known == name))
        .and_then(|idx| i32::try_from(idx).ok())
        .ok_or_else(|| {
            invalid_value(format!(
                "{camel:?} is not a {enum_name} number or name: {value}"
            ))
        })
}

fn event(object: &Object) -> Result<EventParts<'_>, LineError> {
    Ok(EventParts {
        time_unix_nano: unsigned(object, "timeUnixNano", "time_unix_nano")?,
        name: Cow::Borrowed(string(object, "name", "name")?),
        attributes: attributes(object)?,
    })
}

fn link(object: &Object) -> Result<LinkParts<'_>, LineError> {
    Ok(LinkParts {
        trace_id: hex_id(object, "traceId", "trace_id", "invalid_link")?,
        span_id: hex_id(object, "spanId", "span_id", "invalid_link")?,
        trace_state: Cow::Borrowed(string(object, "traceState", "trace_state")?),
        attributes: attributes(object)?,
    })
}

fn span(object: &Object) -> Result<SpanParts<'_>, LineError> {
    let status = child_object(object, "status")?;
    let (status_code, status_message) = match status {
        Some(status) => (
            enum_number(status, "code", "StatusCode", &STATUS_CODES)?,
            string(status, "message", "message")?,
        ),
        None => (0, ""),
    };
    Ok(SpanParts {
        trace_id: hex_id(object, "traceId", "trace_id", "invalid_trace_id")?,
        span_id: hex_id(object, "spanId", "span_id", "invalid_span_id")?,
        trace_state: Cow::Borrowed(string(object, "traceState", "trace_state")?),
        parent_span_id: hex_id(
            object,
            "parentSpanId",
            "parent_span_id",
            "invalid_parent_span_id",
        )?,
        name: Cow::Borrowed(string(object, "name", "name")?),
        kind: enum_number(object, "kind", "SpanKind", &SPAN_KINDS)?,
        start_time_unix_nano: unsigned(object, "startTimeUnixNano", "start_time_unix_nano")?,
        end_time_unix_nano: unsigned(object, "endTimeUnixNano", "end_time_unix_nano")?,
        attributes: attributes(object)?,
        dropped_attributes_count: unsigned(
            object,
            "droppedAttributesCount",
            "dropped_attributes_count",
        )?,
        events: objects(object, "events", "events")?
            .into_iter()
            .map(event)
            .collect::<Result<_, _>>()?,
        dropped_events_count: unsigned(object, "droppedEventsCount", "dropped_events_count")?,
        links: objects(object, "links", "links")?
            .into_iter()
            .map(link)
            .collect::<Result<_, _>>()?,
        dropped_links_count: unsigned(object, "droppedLinksCount", "dropped_links_count")?,
        status_code,
        status_message: Cow::Borrowed(status_message),
    })
}

/// Decodes a request. `Err` when the body as a whole cannot be read or has too many
/// spans; spans that cannot be stored are refused one by one.
pub fn decode(body: &[u8], limits: &TraceLimits) -> Result<DecodedSpans, RequestError> {
    let refuse = |message| RequestError::bad_data(invalid_body(message));
    let root: Json = serde_json::from_slice(body)
        .map_err(|err| refuse(format!("the body is not valid JSON: {err}")))?;
    let root = root
        .as_object()
        .ok_or_else(|| refuse("the body is not a JSON object".to_owned()))?;
    let mut decoded = DecodedSpans::default();
    let groups =
        objects(root, "resourceSpans", "resource_spans").map_err(RequestError::bad_data)?;
    for resource_spans in groups {
        let resource = common_json::resource_attributes(resource_spans)
            .map(|attributes| Resource::new(&attributes, limits, &mut decoded.trimmed));
        let scopes =
            objects(resource_spans, "scopeSpans", "scope_spans").map_err(RequestError::bad_data)?;
        for scope_spans in scopes {
            let scope = common_json::scope(scope_spans);
            let spans = objects(scope_spans, "spans", "spans").map_err(RequestError::bad_data)?;
            spans::check_span_count(decoded.spans.n_records() + spans.len(), limits)?;
            for object in spans {
                let result = scope
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|&(name, version)| {
                        let parts = span(object)?;
                        let scope = Scope { name, version };
                        to_span(&parts, &resource, scope, limits, &mut decoded.trimmed)
                    });
                decoded.spans.push(result);
            }
        }
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(json: &Json) -> Result<i32, LineError> {
        let object = serde_json::json!({ "kind": json });
        enum_number(
            object.as_object().expect("object"),
            "kind",
            "SpanKind",
            &SPAN_KINDS,
        )
    }

    #[test]
    fn enums_are_numbers_or_their_exact_names() {
        assert_eq!(kind(&Json::from(2)), Ok(2));
        assert_eq!(kind(&Json::from("3")), Ok(3), "an integer in a string");
        assert_eq!(kind(&Json::from("SPAN_KIND_CONSUMER")), Ok(5));
        assert_eq!(kind(&Json::from(9)), Ok(9), "unknown numbers are read");
        assert_eq!(kind(&Json::Null), Ok(0));
        for bad in [
            Json::from("SERVER"),
            Json::from("span_kind_server"),
            Json::Bool(true),
        ] {
            let err = kind(&bad).expect_err("not a name");
            assert_eq!(err.reason, "invalid_value");
            assert_eq!(
                err.message,
                format!("\"kind\" is not a SpanKind number or name: {bad}")
            );
        }
    }
}
