//! Trace search: which spans match, and the summary of a trace that search returns.
//!
//! A trace matches when one of its spans satisfies every condition at once (service,
//! span name, error status, duration range, attributes), as in Jaeger and Tempo's
//! search. Attribute conditions match a span attribute or a resource attribute of the
//! span by key, comparing the value's text (`http.status_code=500` matches the integer
//! 500).

use std::collections::BTreeSet;

use model::{Span, SpanKind, SpanStatus, TraceId, UnixNanos, Value};

/// What to look for. Empty fields do not constrain.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// Spans starting in `[start, end]` (nanoseconds).
    pub start: UnixNanos,
    pub end: UnixNanos,
    pub service: Option<String>,
    pub span_name: Option<String>,
    /// Only spans whose status is error.
    pub errors_only: bool,
    pub min_duration_nanos: Option<u64>,
    pub max_duration_nanos: Option<u64>,
    /// `key=value` conditions on span or resource attributes.
    pub attributes: Vec<(String, String)>,
    /// At most this many traces, most recent first.
    pub limit: usize,
}

impl SearchQuery {
    /// A query over `[start, end]` that every span in it matches.
    pub fn in_range(start: UnixNanos, end: UnixNanos, limit: usize) -> Self {
        SearchQuery {
            start,
            end,
            service: None,
            span_name: None,
            errors_only: false,
            min_duration_nanos: None,
            max_duration_nanos: None,
            attributes: Vec::new(),
            limit,
        }
    }

    /// Whether `span` satisfies every condition.
    pub fn matches(&self, span: &Span) -> bool {
        if span.start < self.start || span.start > self.end {
            return false;
        }
        if self.service.as_ref().is_some_and(|s| *s != span.service) {
            return false;
        }
        if self.span_name.as_ref().is_some_and(|n| *n != span.name) {
            return false;
        }
        if self.errors_only && !span.status.is_error() {
            return false;
        }
        let duration = span.duration_nanos();
        if self.min_duration_nanos.is_some_and(|min| duration < min)
            || self.max_duration_nanos.is_some_and(|max| duration > max)
        {
            return false;
        }
        self.attributes_match(
            &span.attributes,
            &span.resource_attributes,
            span.kind,
            &span.status,
        )
    }

    /// Whether every attribute condition holds for a span with these attributes,
    /// resource attributes, kind and status (the rest of the span is not needed).
    pub fn attributes_match(
        &self,
        attributes: &[(String, Value)],
        resource_attributes: &[(String, Value)],
        kind: SpanKind,
        status: &SpanStatus,
    ) -> bool {
        self.attributes.iter().all(|(key, value)| {
            let found = |list: &[(String, Value)]| {
                list.iter()
                    .any(|(k, v)| k == key && value_text_equals(v, value))
            };
            found(attributes) || found(resource_attributes) || special(kind, status, key, value)
        })
    }
}

/// Tags that name a span's own fields in Jaeger's search (`error=true`,
/// `span.kind=server`, `otel.status_code=ERROR`).
fn special(kind: SpanKind, status: &SpanStatus, key: &str, value: &str) -> bool {
    match key {
        "error" => status.is_error() == (value == "true"),
        "span.kind" => kind
            .as_otlp_str()
            .strip_prefix("SPAN_KIND_")
            .is_some_and(|k| k.eq_ignore_ascii_case(value)),
        "otel.status_code" | "status" => match status {
            SpanStatus::Unset => value.eq_ignore_ascii_case("unset"),
            SpanStatus::Ok => value.eq_ignore_ascii_case("ok"),
            SpanStatus::Error { .. } => value.eq_ignore_ascii_case("error"),
        },
        _ => false,
    }
}

fn value_text_equals(value: &Value, text: &str) -> bool {
    match value {
        Value::Str(s) => s == text,
        Value::Int(i) => text.parse::<i64>().is_ok_and(|t| t == *i),
        Value::Float(f) => text.parse::<f64>().is_ok_and(|t| t == *f),
        Value::Bool(b) => text.parse::<bool>().is_ok_and(|t| t == *b),
    }
}

/// One trace as search lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    /// The root span's service and name; when the root has not arrived, those of the
    /// earliest span.
    pub root_service: String,
    pub root_name: String,
    pub has_root: bool,
    pub start: UnixNanos,
    pub end: UnixNanos,
    pub span_count: usize,
    pub error_count: usize,
    pub services: BTreeSet<String>,
}

impl TraceSummary {
    /// The summary of a whole trace (`spans` non-empty, any order).
    pub fn of(spans: &[Span]) -> Option<Self> {
        let first = spans
            .iter()
            .min_by_key(|s| (s.parent_span_id.is_some(), s.start))?;
        Some(TraceSummary {
            trace_id: first.trace_id,
            root_service: first.service.clone(),
            root_name: first.name.clone(),
            has_root: first.parent_span_id.is_none(),
            start: spans.iter().map(|s| s.start).min().unwrap_or(first.start),
            end: spans.iter().map(|s| s.end).max().unwrap_or(first.end),
            span_count: spans.len(),
            error_count: spans.iter().filter(|s| s.status.is_error()).count(),
            services: spans.iter().map(|s| s.service.clone()).collect(),
        })
    }

    pub fn duration_nanos(&self) -> u64 {
        u64::try_from(self.end.0.saturating_sub(self.start.0)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::span;

    #[test]
    fn every_condition_must_hold_on_one_span() {
        let s = span(1, 13, Some(1), 1_000);
        let mut query = SearchQuery::in_range(UnixNanos(0), UnixNanos(2_000), 10);
        assert!(query.matches(&s));
        query.service = Some("svc-1".into());
        query.span_name = Some("GET /13".into());
        query.errors_only = true;
        query.min_duration_nanos = Some(13_000_000);
        query.max_duration_nanos = Some(13_000_000);
        query.attributes = vec![
            ("http.status_code".into(), "200".into()),
            ("host.name".into(), "h1".into()),
            ("cached".into(), "false".into()),
            ("span.kind".into(), "client".into()),
            ("error".into(), "true".into()),
        ];
        assert!(query.matches(&s));
        for broken in [
            SearchQuery {
                service: Some("svc-2".into()),
                ..query.clone()
            },
            SearchQuery {
                min_duration_nanos: Some(13_000_001),
                ..query.clone()
            },
            SearchQuery {
                attributes: vec![("http.status_code".into(), "500".into())],
                ..query.clone()
            },
            SearchQuery {
                start: UnixNanos(1_001),
                ..query.clone()
            },
        ] {
            assert!(!broken.matches(&s), "{broken:?}");
        }
        let ok = span(1, 2, Some(1), 1_000);
        assert!(!query.matches(&ok));
    }

    #[test]
    fn a_summary_names_the_root_or_else_the_earliest_span() {
        let root = span(1, 1, None, 100);
        let child = span(1, 13, Some(1), 50);
        let summary = TraceSummary::of(&[child.clone(), root]).expect("summary");
        assert_eq!(summary.root_name, "GET /1");
        assert!(summary.has_root);
        assert_eq!(summary.start, UnixNanos(50));
        assert_eq!(summary.span_count, 2);
        assert_eq!(summary.error_count, 1);
        let orphan = TraceSummary::of(&[child]).expect("summary");
        assert!(!orphan.has_root);
        assert_eq!(orphan.root_name, "GET /13");
        assert!(TraceSummary::of(&[]).is_none());
    }
}
