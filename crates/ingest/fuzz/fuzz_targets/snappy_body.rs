//! Bounded snappy decompression of request bodies: never panics, never returns more
//! than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ingest::fuzzing::snappy_body(data));
