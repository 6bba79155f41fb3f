//! Bounded snappy decompression of request bodies: never panics, never returns more
//! than the limit.
#![no_main]

use ingest::remote_write::handler::decompress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = decompress(data, 1 << 16) {
        assert!(raw.len() <= 1 << 16);
    }
});
