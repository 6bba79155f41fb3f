//! One OTLP span, with its resource and scope, into a [`model::Span`]: the mapping both
//! decoders (protobuf and JSON) share. The checks and limits are [`crate::spans`]'.
//!
//! - service: the resource attribute `service.name`, `unknown_service` when absent or
//!   empty; the other resource attributes become `resource_attributes`.
//! - attributes (resource, span, event, link): flattened as log fields are (a key/value
//!   list becomes dotted keys, an array JSON text, bytes base64); a value nested deeper
//!   than [`MAX_ATTRIBUTE_DEPTH`] levels is dropped and counted as dropped.
//! - ids: the trace id must be 16 bytes and the span id 8, neither all zero. A parent
//!   span id that is empty (or 8 zero bytes) makes a root span; any other must be
//!   valid. A link with an invalid id refuses the span (`invalid_link`).
//! - times: start and end in nanoseconds (before 2262), the end not before the start;
//!   event times likewise before 2262.
//! - kind and status code: the enum numbers; an unknown number is unspecified (unset),
//!   as protobuf reads an open enum. The status message is kept for errors only.
//! - `trace_state`, the scope's name and version, and the sender's dropped counts (to
//!   which the limits add theirs).

use std::borrow::Cow;

use model::span::{SpanEvent, SpanLink};
use model::{Span, SpanId, SpanKind, SpanStatus, TraceId, Value};

use super::any_value::{self, AnyValue, KeyValues};
use crate::normalize::{LineError, LogConfig};
use crate::spans::{self, TraceLimits, Trimmed};

/// Deepest nesting of an attribute value kept; deeper ones are dropped.
pub const MAX_ATTRIBUTE_DEPTH: usize = 32;

const SERVICE_KEY: &str = "service.name";

/// What a resource contributes to each of its spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub service: String,
    /// Every attribute but `service.name`, flattened and bounded.
    pub attributes: Vec<(String, Value)>,
}

impl Resource {
    pub fn new(
        attributes: &[(Cow<'_, str>, AnyValue<'_>)],
        limits: &TraceLimits,
        trimmed: &mut Trimmed,
    ) -> Self {
        let mut service = None;
        let mut rest = Vec::with_capacity(attributes.len());
        for (key, value) in attributes {
            match (key.as_ref(), value) {
                (SERVICE_KEY, AnyValue::Str(_) | AnyValue::Int(_) | AnyValue::Bool(_)) => {
                    service = Some(value.to_text());
                }
                _ => rest.push((key.clone(), value.clone())),
            }
        }
        let (attributes, _) = bounded_attributes(&rest, limits, trimmed);
        Resource {
            service: service
                .filter(|service| !service.is_empty())
                .unwrap_or_else(|| spans::UNKNOWN_SERVICE.to_owned()),
            attributes,
        }
    }
}

impl Default for Resource {
    fn default() -> Self {
        Resource {
            service: spans::UNKNOWN_SERVICE.to_owned(),
            attributes: Vec::new(),
        }
    }
}

/// The instrumentation scope of a group of spans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope<'a> {
    pub name: &'a str,
    pub version: &'a str,
}

/// The fields of one OTLP `Span` that Sightline reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanParts<'a> {
    pub trace_id: Cow<'a, [u8]>,
    pub span_id: Cow<'a, [u8]>,
    pub trace_state: Cow<'a, str>,
    pub parent_span_id: Cow<'a, [u8]>,
    pub name: Cow<'a, str>,
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: KeyValues<'a>,
    pub dropped_attributes_count: u32,
    pub events: Vec<EventParts<'a>>,
    pub dropped_events_count: u32,
    pub links: Vec<LinkParts<'a>>,
    pub dropped_links_count: u32,
    pub status_code: i32,
    pub status_message: Cow<'a, str>,
}

/// The fields of one `Span.Event`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventParts<'a> {
    pub time_unix_nano: u64,
    pub name: Cow<'a, str>,
    pub attributes: KeyValues<'a>,
}

/// The fields of one `Span.Link`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkParts<'a> {
    pub trace_id: Cow<'a, [u8]>,
    pub span_id: Cow<'a, [u8]>,
    pub trace_state: Cow<'a, str>,
    pub attributes: KeyValues<'a>,
}

/// `Span.SpanKind` by number.
pub fn span_kind(number: i32) -> SpanKind {
    match number {
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

fn status(code: i32, message: &str) -> SpanStatus {
    match code {
        1 => SpanStatus::Ok,
        2 => SpanStatus::Error {
            message: message.to_owned(),
        },
        _ => SpanStatus::Unset,
    }
}

/// Attributes flattened, then bounded; returns them and how many were dropped.
fn bounded_attributes(
    entries: &[(Cow<'_, str>, AnyValue<'_>)],
    limits: &TraceLimits,
    trimmed: &mut Trimmed,
) -> (Vec<(String, Value)>, u32) {
    // The log field rules, with no count of their own (the attribute limit applies
    // after flattening) and the span attributes' depth.
    let config = LogConfig {
        correlation_fields: Vec::new(),
        max_line_bytes: usize::MAX,
        max_fields: usize::MAX,
        max_depth: MAX_ATTRIBUTE_DEPTH,
    };
    let mut attributes = Vec::with_capacity(entries.len());
    let mut n_too_deep = 0u32;
    for entry in entries {
        let n_before = attributes.len();
        let flattened =
            any_value::flatten("", std::slice::from_ref(entry), 1, &config, &mut attributes);
        if flattened.is_err() {
            attributes.truncate(n_before);
            n_too_deep += 1;
        }
    }
    trimmed.too_deep_attributes += u64::from(n_too_deep);
    let n_dropped = spans::bound_attributes(&mut attributes, limits, trimmed);
    (attributes, n_too_deep.saturating_add(n_dropped))
}

fn to_link(
    link_idx: usize,
    parts: &LinkParts<'_>,
    limits: &TraceLimits,
    trimmed: &mut Trimmed,
) -> Result<SpanLink, LineError> {
    let invalid =
        |err: model::Error| LineError::new("invalid_link", format!("link {}: {err}", link_idx + 1));
    let trace_id = TraceId::from_bytes(&parts.trace_id).map_err(invalid)?;
    let span_id = SpanId::from_bytes(&parts.span_id).map_err(invalid)?;
    let (attributes, _) = bounded_attributes(&parts.attributes, limits, trimmed);
    Ok(SpanLink {
        trace_id,
        span_id,
        trace_state: parts.trace_state.to_string(),
        attributes,
    })
}

fn to_event(
    parts: &EventParts<'_>,
    limits: &TraceLimits,
    trimmed: &mut Trimmed,
) -> Result<SpanEvent, LineError> {
    let time = spans::timestamp(parts.time_unix_nano, "event time")?;
    let (attributes, _) = bounded_attributes(&parts.attributes, limits, trimmed);
    Ok(SpanEvent {
        time,
        name: parts.name.to_string(),
        attributes,
    })
}

/// Converts one span. `resource` is `Err` when the resource itself was refused.
pub fn to_span(
    parts: &SpanParts<'_>,
    resource: &Result<Resource, LineError>,
    scope: Scope<'_>,
    limits: &TraceLimits,
    trimmed: &mut Trimmed,
) -> Result<Span, LineError> {
    let resource = resource.as_ref().map_err(Clone::clone)?;
    let trace_id = spans::trace_id(TraceId::from_bytes(&parts.trace_id))?;
    let span_id = spans::span_id(SpanId::from_bytes(&parts.span_id))?;
    let named = |err| spans::with_span_id(err, span_id);
    let parent = &parts.parent_span_id;
    let is_root = parent.is_empty() || (parent.len() == 8 && parent.iter().all(|&b| b == 0));
    let parent_span_id =
        spans::parent_span_id(SpanId::from_bytes(parent), is_root).map_err(named)?;
    let start = spans::timestamp(parts.start_time_unix_nano, "start time").map_err(named)?;
    let end = spans::timestamp(parts.end_time_unix_nano, "end time").map_err(named)?;
    spans::check_times(start, end).map_err(named)?;

    // What this span's limits trim counts only if the span is kept.
    let mut own = Trimmed::default();
    let n_links = parts.links.len().min(limits.max_links_per_span);
    let links = parts.links[..n_links]
        .iter()
        .enumerate()
        .map(|(link_idx, link)| to_link(link_idx, link, limits, &mut own))
        .collect::<Result<Vec<_>, _>>()
        .map_err(named)?;
    let n_events = parts.events.len().min(limits.max_events_per_span);
    let events = parts.events[..n_events]
        .iter()
        .map(|event| to_event(event, limits, &mut own))
        .collect::<Result<Vec<_>, _>>()
        .map_err(named)?;
    let n_dropped_links = parts.links.len() - n_links;
    let n_dropped_events = parts.events.len() - n_events;
    own.dropped_links += n_dropped_links as u64;
    own.dropped_events += n_dropped_events as u64;
    let (attributes, n_dropped_attributes) =
        bounded_attributes(&parts.attributes, limits, &mut own);
    trimmed.add(own);
    let add =
        |sent: u32, dropped: usize| sent.saturating_add(u32::try_from(dropped).unwrap_or(u32::MAX));
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        service: resource.service.clone(),
        name: parts.name.to_string(),
        kind: span_kind(parts.kind),
        start,
        end,
        status: status(parts.status_code, &parts.status_message),
        trace_state: parts.trace_state.to_string(),
        scope_name: scope.name.to_owned(),
        scope_version: scope.version.to_owned(),
        resource_attributes: resource.attributes.clone(),
        attributes,
        events,
        links,
        dropped_attributes: add(
            parts.dropped_attributes_count,
            n_dropped_attributes as usize,
        ),
        dropped_events: add(parts.dropped_events_count, n_dropped_events),
        dropped_links: add(parts.dropped_links_count, n_dropped_links),
    })
}
