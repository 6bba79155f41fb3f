//! The OTLP/JSON logs decoder on arbitrary bytes: it never panics, numbers every record
//! once, and its records keep the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| drop(ingest::fuzzing::otlp_logs_json(data)));
