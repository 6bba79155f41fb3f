//! The remote-write 2.0 decoder on arbitrary bytes: never panics, and agrees with the
//! prost reference on the number of samples when both accept the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;

#[allow(clippy::all, dead_code)]
mod reference {
    include!("../../src/remote_write/proto/io.prometheus.write.v2.rs");
}

fuzz_target!(|data: &[u8]| {
    let ours = ingest::fuzzing::remote_write_v2(data);
    if let (Some(samples), Ok(theirs)) = (ours, reference::Request::decode(data)) {
        let expected: usize = theirs.timeseries.iter().map(|ts| ts.samples.len()).sum();
        assert_eq!(samples as usize, expected);
    }
});
