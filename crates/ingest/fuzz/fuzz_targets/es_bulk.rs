//! Elasticsearch `_bulk` bodies on arbitrary bytes: decoding never panics, the items
//! consume every non-blank line (two per action, one per `delete`), and each record
//! belongs to exactly one `index` or `create` item and carries its index.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ingest::fuzzing::es_bulk(data));
