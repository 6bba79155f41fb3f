//! Spans: one timed operation of one service within a trace.

use crate::{SpanId, TraceId, UnixNanos, Value};

/// The role of a span in a call, as in OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// The name used in span-derived metrics (`SPAN_KIND_SERVER`, as Tempo writes it).
    pub fn as_otlp_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
            SpanKind::Internal => "SPAN_KIND_INTERNAL",
            SpanKind::Server => "SPAN_KIND_SERVER",
            SpanKind::Client => "SPAN_KIND_CLIENT",
            SpanKind::Producer => "SPAN_KIND_PRODUCER",
            SpanKind::Consumer => "SPAN_KIND_CONSUMER",
        }
    }
}

/// The outcome of a span, as in OTLP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SpanStatus {
    #[default]
    Unset,
    Ok,
    Error {
        message: String,
    },
}

impl SpanStatus {
    pub fn is_error(&self) -> bool {
        matches!(self, SpanStatus::Error { .. })
    }
}

/// A timestamped annotation inside a span (an exception, a retry).
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub time: UnixNanos,
    pub name: String,
    pub attributes: Vec<(String, Value)>,
}

/// A pointer from a span to a span of another (or the same) trace.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanLink {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub attributes: Vec<(String, Value)>,
}

/// One span, with its service's resource attributes folded in.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    /// The `service.name` resource attribute (`unknown_service` when absent, as OTel does).
    pub service: String,
    pub name: String,
    pub kind: SpanKind,
    pub start: UnixNanos,
    pub end: UnixNanos,
    pub status: SpanStatus,
    /// The W3C `tracestate` the span was recorded with (empty when none).
    pub trace_state: String,
    /// The instrumentation scope (library) that recorded the span; empty when unnamed.
    pub scope_name: String,
    pub scope_version: String,
    pub resource_attributes: Vec<(String, Value)>,
    pub attributes: Vec<(String, Value)>,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
    /// Attributes, events and links the sender or a limit dropped, as OTLP counts them.
    pub dropped_attributes: u32,
    pub dropped_events: u32,
    pub dropped_links: u32,
}

impl Span {
    /// Wall-clock length in nanoseconds; zero when `end` is before `start`.
    pub fn duration_nanos(&self) -> u64 {
        u64::try_from(self.end.0.saturating_sub(self.start.0)).unwrap_or(0)
    }

    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_none()
    }
}
