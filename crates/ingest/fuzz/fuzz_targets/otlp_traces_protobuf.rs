//! The zero-copy OTLP traces decoder on arbitrary bytes: it never panics, its spans keep
//! the limits, and when it and the prost reference both accept the bytes they find the
//! same number of spans.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;

#[path = "../reference.rs"]
mod reference;

use reference::opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

fuzz_target!(|data: &[u8]| {
    let ours = ingest::fuzzing::otlp_traces_protobuf(data);
    if let (Some(n_spans), Ok(theirs)) = (ours, ExportTraceServiceRequest::decode(data)) {
        let expected: usize = theirs
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .map(|scope| scope.spans.len())
            .sum();
        assert_eq!(n_spans, expected);
    }
});
