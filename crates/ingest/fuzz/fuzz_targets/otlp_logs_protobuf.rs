//! The zero-copy OTLP logs decoder on arbitrary bytes: it never panics, its records
//! keep the limits, and when it and the prost reference both accept the bytes they find
//! the same number of log records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;

#[path = "../reference.rs"]
mod reference;

use reference::opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest;

fuzz_target!(|data: &[u8]| {
    let ours = ingest::fuzzing::otlp_logs_protobuf(data);
    if let (Some(n_records), Ok(theirs)) = (ours, ExportLogsServiceRequest::decode(data)) {
        let expected: usize = theirs
            .resource_logs
            .iter()
            .flat_map(|resource| &resource.scope_logs)
            .map(|scope| scope.log_records.len())
            .sum();
        assert_eq!(n_records, expected);
    }
});
