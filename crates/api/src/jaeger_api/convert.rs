//! Spans in Jaeger's UI JSON: the shape `jaeger-query` answers (`model/json`), as the
//! OpenTelemetry-to-Jaeger translation fills it.
//!
//! - Times are integer microseconds (truncated), as Grafana's Jaeger client decodes them
//!   (`int64`).
//! - The parent is the first reference, `CHILD_OF`; links follow as `FOLLOWS_FROM` (or
//!   `CHILD_OF` when the link says `opentracing.ref_type=child_of`, as a Jaeger client's
//!   extra parent comes through OTLP).
//! - Tags: the span's attributes, then `span.kind` (lowercase, absent when unspecified),
//!   `otel.status_code` (`OK` / `ERROR`, absent when unset), `error: true` for an error,
//!   `otel.status_description`, `w3c.tracestate`, `otel.scope.name`,
//!   `otel.scope.version`, and the `otel.dropped_*_count`s that are not zero.
//! - Logs come from events: an `event` field with the event's name, then its attributes.
//! - A process is a service with its resource attributes (less `service.name`); spans
//!   with the same ones share it, numbered `p1`, `p2`, ... in order of appearance.

use std::collections::{BTreeMap, HashMap};

use model::{Span, SpanKind, SpanStatus, TraceId, Value};
use serde::Serialize;

/// Every span was sampled: unsampled spans are never exported.
const SAMPLED_FLAG: u32 = 1;

#[derive(Debug, Serialize)]
pub(crate) struct KeyValue {
    key: String,
    #[serde(rename = "type")]
    value_type: &'static str,
    value: serde_json::Value,
}

impl KeyValue {
    fn new(key: &str, value: &Value) -> Self {
        let (value_type, value) = match value {
            Value::Str(text) => ("string", serde_json::Value::String(text.clone())),
            Value::Int(int) => ("int64", serde_json::Value::from(*int)),
            Value::Float(float) => match serde_json::Number::from_f64(*float) {
                Some(number) => ("float64", serde_json::Value::Number(number)),
                // JSON has no NaN or infinity.
                None => (
                    "string",
                    serde_json::Value::String(crate::params::format_value(*float)),
                ),
            },
            Value::Bool(flag) => ("bool", serde_json::Value::Bool(*flag)),
        };
        KeyValue {
            key: key.to_owned(),
            value_type,
            value,
        }
    }

    fn string(key: &str, text: &str) -> Self {
        KeyValue {
            key: key.to_owned(),
            value_type: "string",
            value: serde_json::Value::String(text.to_owned()),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Reference {
    ref_type: &'static str,
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
}

#[derive(Debug, Serialize)]
struct Log {
    timestamp: u64,
    fields: Vec<KeyValue>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JaegerSpan {
    #[serde(rename = "traceID")]
    trace_id: String,
    #[serde(rename = "spanID")]
    span_id: String,
    flags: u32,
    operation_name: String,
    references: Vec<Reference>,
    start_time: u64,
    duration: u64,
    tags: Vec<KeyValue>,
    logs: Vec<Log>,
    #[serde(rename = "processID")]
    process_id: String,
    warnings: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    service_name: String,
    tags: Vec<KeyValue>,
}

/// One trace in Jaeger's shape.
#[derive(Debug, Serialize)]
pub(crate) struct JaegerTrace {
    #[serde(rename = "traceID")]
    trace_id: String,
    spans: Vec<JaegerSpan>,
    processes: BTreeMap<String, Process>,
    warnings: Option<Vec<String>>,
}

fn micros(nanos: i64) -> u64 {
    u64::try_from(nanos.div_euclid(1_000)).unwrap_or(0)
}

/// The `span.kind` tag's value, as OpenTracing names kinds; `""` for unspecified (which
/// is also how `/api/operations` reports an operation without a kind).
pub(crate) fn kind_tag(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

fn tags(span: &Span) -> Vec<KeyValue> {
    let mut tags: Vec<KeyValue> = span
        .attributes
        .iter()
        .map(|(key, value)| KeyValue::new(key, value))
        .collect();
    let kind = kind_tag(span.kind);
    if !kind.is_empty() {
        tags.push(KeyValue::string("span.kind", kind));
    }
    match &span.status {
        SpanStatus::Unset => {}
        SpanStatus::Ok => tags.push(KeyValue::string("otel.status_code", "OK")),
        SpanStatus::Error { message } => {
            tags.push(KeyValue::string("otel.status_code", "ERROR"));
            tags.push(KeyValue::new("error", &Value::Bool(true)));
            if !message.is_empty() {
                tags.push(KeyValue::string("otel.status_description", message));
            }
        }
    }
    for (key, text) in [
        ("w3c.tracestate", &span.trace_state),
        ("otel.scope.name", &span.scope_name),
        ("otel.scope.version", &span.scope_version),
    ] {
        if !text.is_empty() {
            tags.push(KeyValue::string(key, text));
        }
    }
    for (key, count) in [
        ("otel.dropped_attributes_count", span.dropped_attributes),
        ("otel.dropped_events_count", span.dropped_events),
        ("otel.dropped_links_count", span.dropped_links),
    ] {
        if count > 0 {
            tags.push(KeyValue::new(key, &Value::Int(i64::from(count))));
        }
    }
    tags
}

fn references(span: &Span) -> Vec<Reference> {
    let trace_id = span.trace_id.to_string();
    let parent = span.parent_span_id.map(|parent| Reference {
        ref_type: "CHILD_OF",
        trace_id: trace_id.clone(),
        span_id: parent.to_string(),
    });
    let links = span.links.iter().map(|link| {
        let child_of = link.attributes.iter().any(|(key, value)| {
            key == "opentracing.ref_type" && matches!(value, Value::Str(v) if v == "child_of")
        });
        Reference {
            ref_type: if child_of { "CHILD_OF" } else { "FOLLOWS_FROM" },
            trace_id: link.trace_id.to_string(),
            span_id: link.span_id.to_string(),
        }
    });
    parent.into_iter().chain(links).collect()
}

fn logs(span: &Span) -> Vec<Log> {
    span.events
        .iter()
        .map(|event| {
            let named =
                !event.name.is_empty() && !event.attributes.iter().any(|(key, _)| key == "event");
            let fields = named
                .then(|| KeyValue::string("event", &event.name))
                .into_iter()
                .chain(
                    event
                        .attributes
                        .iter()
                        .map(|(key, value)| KeyValue::new(key, value)),
                )
                .collect();
            Log {
                timestamp: micros(event.time.0),
                fields,
            }
        })
        .collect()
}

/// A span's resource attributes.
type Resource<'a> = &'a [(String, Value)];

/// Hands out process ids: one per distinct service and resource attributes.
#[derive(Default)]
struct Processes<'a> {
    /// Per service, its distinct resource attribute lists and their ids.
    seen: HashMap<&'a str, Vec<(Resource<'a>, String)>>,
    processes: BTreeMap<String, Process>,
}

impl<'a> Processes<'a> {
    fn id_of(&mut self, span: &'a Span) -> String {
        let known = self.seen.entry(&span.service).or_default();
        if let Some((_, id)) = known
            .iter()
            .find(|(resource, _)| *resource == span.resource_attributes.as_slice())
        {
            return id.clone();
        }
        let id = format!("p{}", self.processes.len() + 1);
        known.push((&span.resource_attributes, id.clone()));
        self.processes.insert(
            id.clone(),
            Process {
                service_name: span.service.clone(),
                tags: span
                    .resource_attributes
                    .iter()
                    .filter(|(key, _)| key != "service.name")
                    .map(|(key, value)| KeyValue::new(key, value))
                    .collect(),
            },
        );
        id
    }
}

/// `spans` (one trace, in the store's start order) as a Jaeger trace.
pub(crate) fn trace(trace_id: TraceId, spans: &[Span]) -> JaegerTrace {
    let mut processes = Processes::default();
    let spans = spans
        .iter()
        .map(|span| JaegerSpan {
            trace_id: span.trace_id.to_string(),
            span_id: span.span_id.to_string(),
            flags: SAMPLED_FLAG,
            operation_name: span.name.clone(),
            references: references(span),
            start_time: micros(span.start.0),
            duration: span.duration_nanos() / 1_000,
            tags: tags(span),
            logs: logs(span),
            process_id: processes.id_of(span),
            warnings: None,
        })
        .collect();
    JaegerTrace {
        trace_id: trace_id.to_string(),
        spans,
        processes: processes.processes,
        warnings: None,
    }
}
