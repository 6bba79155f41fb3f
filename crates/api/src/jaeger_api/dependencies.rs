//! Service dependencies for `/api/dependencies`, computed from stored traces.
//!
//! An edge `parent -> child` is counted once per span whose parent span is in the same
//! trace and belongs to another service: one call across a service boundary. Only the
//! newest [`MAX_TRACES`] traces with a span starting in the window are read (traces of
//! one service are skipped unread), so in a busy window the counts cover a sample of
//! it. The service graph from span metrics will replace this.

use std::collections::{BTreeMap, HashMap};

use model::{SpanId, UnixNanos};
use serde::Serialize;
use tracestore::{SearchQuery, TraceStore};

/// Most traces one dependencies request reads.
pub(crate) const MAX_TRACES: usize = 1_000;

/// One edge, as Jaeger's `DependencyLink`.
#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DependencyLink {
    pub(crate) parent: String,
    pub(crate) child: String,
    pub(crate) call_count: u64,
}

/// Calls between services in traces with a span starting in `[start, end]`, sorted by
/// parent, then child.
pub(crate) fn service_edges(
    store: &TraceStore,
    start: UnixNanos,
    end: UnixNanos,
) -> Result<Vec<DependencyLink>, tracestore::Error> {
    let summaries = store.search(&SearchQuery::in_range(start, end, MAX_TRACES))?;
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for summary in summaries.iter().filter(|s| s.services.len() > 1) {
        let spans = match store.trace(&summary.trace_id) {
            Ok(spans) => spans,
            // Search lists a trace too large to read; its edges are left out.
            Err(tracestore::Error::TraceTooLarge { .. }) => continue,
            Err(err) => return Err(err),
        };
        let service_of: HashMap<SpanId, &str> = spans
            .iter()
            .map(|span| (span.span_id, span.service.as_str()))
            .collect();
        for span in &spans {
            let Some(parent_service) = span
                .parent_span_id
                .and_then(|parent| service_of.get(&parent))
            else {
                continue;
            };
            if *parent_service != span.service {
                *counts
                    .entry(((*parent_service).to_owned(), span.service.clone()))
                    .or_default() += 1;
            }
        }
    }
    Ok(counts
        .into_iter()
        .map(|((parent, child), call_count)| DependencyLink {
            parent,
            child,
            call_count,
        })
        .collect())
}
