//! Loki push bodies on arbitrary bytes (as a snappy block and as bare protobuf):
//! decoding and normalizing never panic, every entry is a record or a reject, and when
//! the zero-copy decoder and the prost reference both accept the protobuf, they find
//! the same streams and entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message as _;

#[allow(clippy::all, dead_code)]
mod reference {
    pub mod logproto {
        include!("../../src/loki_push/proto/logproto.rs");
    }
    pub mod google {
        pub mod protobuf {
            include!("../../src/loki_push/proto/google.protobuf.rs");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let ours = ingest::fuzzing::loki_push(data);
    if let (Some((streams, entries)), Ok(theirs)) =
        (ours, reference::logproto::PushRequest::decode(data))
    {
        let expected_entries: usize = theirs.streams.iter().map(|s| s.entries.len()).sum();
        assert_eq!(streams, theirs.streams.len());
        assert_eq!(entries, expected_entries);
    }
});
