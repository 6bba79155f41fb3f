//! `ExportTraceServiceRequest` in protobuf, read with the zero-copy [`protowire`] reader
//! and the shared [`common_decode`](super::common_decode): strings and bytes borrow
//! from the body until a span is converted. Field numbers are those of
//! `proto/opentelemetry/proto/trace/v1/trace.proto` (tests check them against prost).
//! Unknown fields are skipped; a body that is not valid protobuf is refused whole, and
//! so is one with more than `max_spans_per_request` spans (counted before they are
//! converted).
//!
//! [`protowire`]: crate::protowire

use std::borrow::Cow;

use super::common_decode::{key_value, resource_attributes, resource_group, scope_group};
use super::span::{
    EventParts, LinkParts, MAX_ATTRIBUTE_DEPTH, Resource, Scope, SpanParts, to_span,
};
use crate::batch::RequestError;
use crate::normalize::LineError;
use crate::protowire::{Fields, Value, WireError};
use crate::spans::{self, DecodedSpans, TraceLimits};

/// Descend one level further than the depth kept, so that too-deep values are seen.
const MAX_NESTING: usize = MAX_ATTRIBUTE_DEPTH + 1;

fn invalid(err: WireError) -> RequestError {
    RequestError::bad_data(LineError::new(
        "invalid_protobuf",
        format!("the body is not a valid ExportTraceServiceRequest: {err}"),
    ))
}

/// Decodes a request. `Err` when the body is not valid protobuf or has too many spans
/// (nothing of it is kept); spans that cannot be stored are refused one by one.
pub fn decode(body: &[u8], limits: &TraceLimits) -> Result<DecodedSpans, RequestError> {
    let mut decoded = DecodedSpans::default();
    for field in Fields::new(body) {
        let (number, value) = field.map_err(invalid)?;
        if number == 1 {
            resource_spans(value.bytes().map_err(invalid)?, limits, &mut decoded)?;
        }
    }
    Ok(decoded)
}

fn resource_spans(
    bytes: &[u8],
    limits: &TraceLimits,
    decoded: &mut DecodedSpans,
) -> Result<(), RequestError> {
    let (resource, scopes) = resource_group(bytes).map_err(invalid)?;
    let attributes = resource_attributes(resource, MAX_NESTING).map_err(invalid)?;
    let resource = Ok(Resource::new(&attributes, limits, &mut decoded.trimmed));
    for bytes in scopes {
        let group = scope_group(bytes).map_err(invalid)?;
        spans::check_span_count(decoded.spans.n_records() + group.items.len(), limits)?;
        let scope = Scope {
            name: group.name,
            version: group.version,
        };
        for bytes in group.items {
            let parts = span(bytes).map_err(invalid)?;
            let span = to_span(&parts, &resource, scope, limits, &mut decoded.trimmed);
            decoded.spans.push(span);
        }
    }
    Ok(())
}

fn span(bytes: &[u8]) -> Result<SpanParts<'_>, WireError> {
    let mut parts = SpanParts::default();
    for field in Fields::new(bytes) {
        let (number, value) = field?;
        match number {
            1 => parts.trace_id = Cow::Borrowed(value.bytes()?),
            2 => parts.span_id = Cow::Borrowed(value.bytes()?),
            3 => parts.trace_state = Cow::Borrowed(value.str()?),
            4 => parts.parent_span_id = Cow::Borrowed(value.bytes()?),
            5 => parts.name = Cow::Borrowed(value.str()?),
            // An enum is an int32 on the wire: negative values come sign-extended.
            6 => parts.kind = value.varint()? as i32,
            7 => parts.start_time_unix_nano = value.fixed64()?,
            8 => parts.end_time_unix_nano = value.fixed64()?,
            9 => parts
                .attributes
                .push(key_value(value.bytes()?, MAX_NESTING)?),
            10 => parts.dropped_attributes_count = uint32(value)?,
            11 => parts.events.push(event(value.bytes()?)?),
            12 => parts.dropped_events_count = uint32(value)?,
            13 => parts.links.push(link(value.bytes()?)?),
            14 => parts.dropped_links_count = uint32(value)?,
            15 => status(value.bytes()?, &mut parts)?,
            // 16 flags: not kept.
            _ => {}
        }
    }
    Ok(parts)
}

fn uint32(value: Value<'_>) -> Result<u32, WireError> {
    // protobuf keeps the low 32 bits of a uint32 sent as a wider varint.
    Ok(value.varint()? as u32)
}

fn status<'a>(bytes: &'a [u8], parts: &mut SpanParts<'a>) -> Result<(), WireError> {
    for field in Fields::new(bytes) {
        match field? {
            (2, value) => parts.status_message = Cow::Borrowed(value.str()?),
            (3, value) => parts.status_code = value.varint()? as i32,
            // 1 deprecated_code: not read.
            _ => {}
        }
    }
    Ok(())
}

fn event(bytes: &[u8]) -> Result<EventParts<'_>, WireError> {
    let mut parts = EventParts::default();
    for field in Fields::new(bytes) {
        match field? {
            (1, value) => parts.time_unix_nano = value.fixed64()?,
            (2, value) => parts.name = Cow::Borrowed(value.str()?),
            (3, value) => parts
                .attributes
                .push(key_value(value.bytes()?, MAX_NESTING)?),
            // 4 dropped_attributes_count: the model keeps none per event.
            _ => {}
        }
    }
    Ok(parts)
}

fn link(bytes: &[u8]) -> Result<LinkParts<'_>, WireError> {
    let mut parts = LinkParts::default();
    for field in Fields::new(bytes) {
        match field? {
            (1, value) => parts.trace_id = Cow::Borrowed(value.bytes()?),
            (2, value) => parts.span_id = Cow::Borrowed(value.bytes()?),
            (3, value) => parts.trace_state = Cow::Borrowed(value.str()?),
            (4, value) => parts
                .attributes
                .push(key_value(value.bytes()?, MAX_NESTING)?),
            // 5 dropped_attributes_count: the model keeps none per link; 6 flags.
            _ => {}
        }
    }
    Ok(parts)
}
