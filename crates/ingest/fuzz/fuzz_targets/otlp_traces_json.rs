//! The OTLP/JSON traces decoder on arbitrary bytes: it never panics, numbers every span
//! once, and its spans keep the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| drop(ingest::fuzzing::otlp_traces_json(data)));
