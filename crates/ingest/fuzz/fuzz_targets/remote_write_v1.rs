//! The zero-copy remote-write 1.0 decoder on arbitrary bytes: it never panics, and when
//! it and the prost reference both accept the bytes, they count the same samples and
//! exemplars.
#![no_main]

use ingest::remote_write::decode::{KnownLabelSets, decode_v1};
use ingest::validate::LabelLimits;
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

#[allow(clippy::all, dead_code)]
mod reference {
    include!("../../src/remote_write/proto/prometheus.rs");
}

fuzz_target!(|data: &[u8]| {
    let ours = decode_v1(data, &LabelLimits::default(), &KnownLabelSets::default());
    if let (Ok(ours), Ok(theirs)) = (ours, reference::WriteRequest::decode(data)) {
        let samples: usize = theirs.timeseries.iter().map(|ts| ts.samples.len()).sum();
        let exemplars: usize = theirs.timeseries.iter().map(|ts| ts.exemplars.len()).sum();
        assert_eq!(ours.samples_received as usize, samples);
        assert_eq!(ours.exemplars_received as usize, exemplars);
    }
});
