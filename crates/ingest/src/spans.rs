//! The rules every trace protocol (OTLP, Zipkin) applies to a decoded span: the ids and
//! times it must have, and the limits ([`TraceLimits`]) on what it carries.
//!
//! A span with an invalid id or timestamp is refused alone; a request over
//! `max_spans_per_request` or `max_request_bytes` is refused whole with 413 (gRPC
//! `RESOURCE_EXHAUSTED` without a retry delay): resending it unchanged cannot succeed.
//! A span over a limit on what it carries is kept, trimmed the way OpenTelemetry SDKs
//! trim it ([`Trimmed`] counts what was changed):
//! - attributes past `max_attributes_per_span`, events past `max_events_per_span` and
//!   links past `max_links_per_span` are dropped, the first ones kept, and added to
//!   the span's dropped counts (which also carry what the sender dropped). Event and link
//!   attributes are bounded the same way, but the model keeps no per-event count.
//! - a string value longer than `max_attribute_value_bytes` keeps its first bytes (cut
//!   back to a character boundary) followed by the marker `…[truncated N bytes]`, N the
//!   bytes cut; a reader sees that the value is incomplete and by how much. This applies
//!   to resource, span, event and link attributes.

use model::{ErrorKind, SpanId, TraceId, UnixNanos, Value};

use crate::batch::{Decoded, RequestError};
use crate::metrics::{IngestMetrics, Protocol};
use crate::normalize::LineError;

/// The service of spans whose resource has no `service.name`, as OpenTelemetry names it.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Bounds on a trace request and on each of its spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLimits {
    /// Attributes kept per span (and per event, link and resource).
    pub max_attributes_per_span: usize,
    /// Events kept per span.
    pub max_events_per_span: usize,
    /// Links kept per span.
    pub max_links_per_span: usize,
    /// Longest string attribute value kept whole, in bytes.
    pub max_attribute_value_bytes: usize,
    /// Most spans in one request; a larger request is refused whole.
    pub max_spans_per_request: usize,
    /// Largest request body after `Content-Encoding` is undone (gRPC: message after
    /// decompression); a larger one is refused whole.
    pub max_request_bytes: usize,
}

impl Default for TraceLimits {
    fn default() -> Self {
        TraceLimits {
            max_attributes_per_span: 128,
            max_events_per_span: 128,
            max_links_per_span: 128,
            max_attribute_value_bytes: 4 << 10,
            max_spans_per_request: 50_000,
            max_request_bytes: 64 << 20,
        }
    }
}

/// What the limits changed in the spans of one request (the spans were kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    pub truncated_values: u64,
    /// Attributes dropped because they nest deeper than a protocol allows.
    pub too_deep_attributes: u64,
    pub dropped_attributes: u64,
    pub dropped_events: u64,
    pub dropped_links: u64,
}

impl Trimmed {
    /// Counts what was trimmed in `sightline_ingest_limited_total`.
    pub fn record(&self, metrics: &IngestMetrics, protocol: Protocol) {
        let counts = [
            ("max_attribute_value_bytes", self.truncated_values),
            ("max_attribute_depth", self.too_deep_attributes),
            ("max_attributes_per_span", self.dropped_attributes),
            ("max_events_per_span", self.dropped_events),
            ("max_links_per_span", self.dropped_links),
        ];
        for (limit, n) in counts {
            if n > 0 {
                metrics.record_limited(protocol, limit, n);
            }
        }
    }

    /// Adds another span's counts.
    pub fn add(&mut self, other: Trimmed) {
        self.truncated_values += other.truncated_values;
        self.too_deep_attributes += other.too_deep_attributes;
        self.dropped_attributes += other.dropped_attributes;
        self.dropped_events += other.dropped_events;
        self.dropped_links += other.dropped_links;
    }

    /// A sentence for the sender when values were truncated (dropped attributes, events
    /// and links are in the spans' own dropped counts); empty otherwise.
    pub fn warning(&self, limits: &TraceLimits) -> String {
        if self.truncated_values == 0 {
            return String::new();
        }
        format!(
            "{} attribute values were longer than {} bytes and were truncated",
            self.truncated_values, limits.max_attribute_value_bytes
        )
    }
}

/// The spans of one request, and what the limits trimmed in them.
#[derive(Debug, Default)]
pub struct DecodedSpans {
    pub spans: Decoded<model::Span>,
    pub trimmed: Trimmed,
}

/// The refusal of a request with more than `max_spans_per_request` spans.
pub fn too_many_spans(limits: &TraceLimits) -> RequestError {
    RequestError {
        kind: ErrorKind::PayloadTooLarge,
        reason: "too_many_spans",
        message: format!(
            "the request has more than {} spans (max_spans_per_request); send smaller batches",
            limits.max_spans_per_request
        ),
    }
}

/// Refuses a request whose spans, counted so far, pass `max_spans_per_request`.
pub fn check_span_count(n_spans: usize, limits: &TraceLimits) -> Result<(), RequestError> {
    if n_spans > limits.max_spans_per_request {
        return Err(too_many_spans(limits));
    }
    Ok(())
}

/// Cuts a string longer than `max_bytes` and marks it; true when it did.
pub fn truncate_value(value: &mut Value, max_bytes: usize) -> bool {
    let Value::Str(text) = value else {
        return false;
    };
    if text.len() <= max_bytes {
        return false;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let n_cut = text.len() - end;
    text.truncate(end);
    text.push_str(&format!("…[truncated {n_cut} bytes]"));
    true
}

/// Attributes under the limits: the first `max_attributes_per_span` kept, long strings
/// truncated. Returns how many were dropped.
pub fn bound_attributes(
    attributes: &mut Vec<(String, Value)>,
    limits: &TraceLimits,
    trimmed: &mut Trimmed,
) -> u32 {
    let n_dropped = attributes
        .len()
        .saturating_sub(limits.max_attributes_per_span);
    attributes.truncate(limits.max_attributes_per_span);
    for (_, value) in attributes.iter_mut() {
        if truncate_value(value, limits.max_attribute_value_bytes) {
            trimmed.truncated_values += 1;
        }
    }
    trimmed.dropped_attributes += n_dropped as u64;
    u32::try_from(n_dropped).unwrap_or(u32::MAX)
}

/// The first `max` items; returns how many were dropped.
pub fn keep_first<T>(items: &mut Vec<T>, max: usize) -> u32 {
    let n_dropped = items.len().saturating_sub(max);
    items.truncate(max);
    u32::try_from(n_dropped).unwrap_or(u32::MAX)
}

/// A timestamp in nanoseconds since the epoch; `what` names it in the error.
pub fn timestamp(nanos: u64, what: &str) -> Result<UnixNanos, LineError> {
    i64::try_from(nanos).map(UnixNanos).map_err(|_| {
        LineError::new(
            "bad_timestamp",
            format!("the {what} {nanos} ns is after the year 2262"),
        )
    })
}

/// Refuses a span that ends before it starts.
pub fn check_times(start: UnixNanos, end: UnixNanos) -> Result<(), LineError> {
    if end < start {
        return Err(LineError::new(
            "end_before_start",
            format!(
                "the end time {} ns is before the start time {} ns",
                end.0, start.0
            ),
        ));
    }
    Ok(())
}

/// A span's trace id.
pub fn trace_id(id: Result<TraceId, model::Error>) -> Result<TraceId, LineError> {
    id.map_err(|err| LineError::new("invalid_trace_id", err.to_string()))
}

/// A span's own id.
pub fn span_id(id: Result<SpanId, model::Error>) -> Result<SpanId, LineError> {
    id.map_err(|err| LineError::new("invalid_span_id", err.to_string()))
}

/// A parent span id: `None` when `is_absent` (empty, or all zero as some senders write a
/// root's parent), else it must be valid.
pub fn parent_span_id(
    id: Result<SpanId, model::Error>,
    is_absent: bool,
) -> Result<Option<SpanId>, LineError> {
    if is_absent {
        return Ok(None);
    }
    id.map(Some)
        .map_err(|err| LineError::new("invalid_parent_span_id", format!("parent {err}")))
}

/// Names the span in an error found after its id was read.
pub fn with_span_id(mut err: LineError, span_id: SpanId) -> LineError {
    err.message.push_str(&format!(" (span id {span_id})"));
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &Value) -> &str {
        match value {
            Value::Str(text) => text,
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn long_strings_are_cut_at_a_char_boundary_and_marked() {
        let mut value = Value::Str("abcdéf".into());
        assert!(truncate_value(&mut value, 4));
        assert_eq!(text(&value), "abcd…[truncated 3 bytes]");
        let mut value = Value::Str("abcdéf".into());
        assert!(
            truncate_value(&mut value, 5),
            "é is two bytes: cut before it"
        );
        assert_eq!(text(&value), "abcd…[truncated 3 bytes]");
        let mut value = Value::Str("abcd".into());
        assert!(!truncate_value(&mut value, 4));
        let mut value = Value::Int(123_456);
        assert!(!truncate_value(&mut value, 1));
    }

    #[test]
    fn attributes_past_the_limit_are_dropped_and_counted() {
        let limits = TraceLimits {
            max_attributes_per_span: 2,
            max_attribute_value_bytes: 3,
            ..TraceLimits::default()
        };
        let mut attributes = vec![
            ("a".to_owned(), Value::Str("long".into())),
            ("b".to_owned(), Value::Int(1)),
            ("c".to_owned(), Value::Str("dropped".into())),
        ];
        let mut trimmed = Trimmed::default();
        assert_eq!(bound_attributes(&mut attributes, &limits, &mut trimmed), 1);
        assert_eq!(
            attributes,
            [
                ("a".to_owned(), Value::Str("lon…[truncated 1 bytes]".into())),
                ("b".to_owned(), Value::Int(1)),
            ]
        );
        assert_eq!(
            trimmed,
            Trimmed {
                truncated_values: 1,
                dropped_attributes: 1,
                ..Trimmed::default()
            }
        );
        assert_eq!(
            trimmed.warning(&limits),
            "1 attribute values were longer than 3 bytes and were truncated"
        );
    }

    #[test]
    fn ids_and_times_are_checked() {
        assert_eq!(
            check_times(UnixNanos(2), UnixNanos(1))
                .expect_err("backwards")
                .reason,
            "end_before_start"
        );
        assert!(check_times(UnixNanos(1), UnixNanos(1)).is_ok());
        assert_eq!(
            timestamp(u64::MAX, "start time").expect_err("2262").message,
            "the start time 18446744073709551615 ns is after the year 2262"
        );
        assert_eq!(parent_span_id(SpanId::from_bytes(&[0; 8]), true), Ok(None));
        let err = parent_span_id(SpanId::from_bytes(&[1; 3]), false).expect_err("short");
        assert_eq!(
            (err.reason, err.message.as_str()),
            (
                "invalid_parent_span_id",
                "parent span id \"010101\" is not valid: it must be 8 bytes long"
            )
        );
        assert_eq!(
            check_span_count(
                3,
                &TraceLimits {
                    max_spans_per_request: 2,
                    ..TraceLimits::default()
                }
            )
            .expect_err("over")
            .kind,
            ErrorKind::PayloadTooLarge
        );
    }
}
