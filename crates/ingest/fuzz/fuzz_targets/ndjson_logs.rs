//! `POST /api/v1/logs` bodies (NDJSON or a JSON array) on arbitrary bytes: decoding and
//! normalizing never panic, every line is a record or a reject, numbered once and in
//! order, and records respect the line limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ingest::fuzzing::ndjson_logs(data));
