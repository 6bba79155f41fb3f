//! The zero-copy remote-write 1.0 decoder on arbitrary bytes: it never panics, and when
//! it and the prost reference both accept the bytes, they count the same samples and
//! exemplars.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;

#[allow(clippy::all, dead_code)]
mod reference {
    include!("../../src/remote_write/proto/prometheus.rs");
}

fuzz_target!(|data: &[u8]| {
    let ours = ingest::fuzzing::remote_write_v1(data);
    if let (Some((samples, exemplars)), Ok(theirs)) = (ours, reference::WriteRequest::decode(data)) {
        let expected_samples: usize = theirs.timeseries.iter().map(|ts| ts.samples.len()).sum();
        let expected_exemplars: usize = theirs.timeseries.iter().map(|ts| ts.exemplars.len()).sum();
        assert_eq!(samples as usize, expected_samples);
        assert_eq!(exemplars as usize, expected_exemplars);
    }
});
