//! StatsD datagrams: parsing, aggregation and flushing never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ingest::fuzzing::statsd_lines(data));
