//! The zero-copy decoder against the prost reference types (whole requests, every
//! truncation, the fuzz seeds, arbitrary requests), and label sets as Prometheus prints
//! them.

use std::borrow::Cow;

use model::UnixNanos;
use prost::Message as _;

use super::{Entry, PushRequest, Stream, StreamLabels, Timestamp};
use crate::loki_push::proto::google::protobuf::Timestamp as ProtoTimestamp;
use crate::loki_push::proto::logproto;
use crate::loki_push::tests::{INSTANT, entry, stream};
use crate::loki_push::{decode, labels, records};
use crate::normalize::LogConfig;

/// What the prost reference reads, in the decoder's terms.
fn expected_view(request: &logproto::PushRequest) -> PushRequest<'static> {
    PushRequest {
        streams: request
            .streams
            .iter()
            .map(|stream| Stream {
                labels: StreamLabels::Text(Cow::Owned(stream.labels.clone().into_bytes())),
                entries: stream
                    .entries
                    .iter()
                    .map(|entry| Entry {
                        timestamp: Timestamp::Proto {
                            seconds: entry.timestamp.map_or(0, |t| t.seconds),
                            nanos: entry.timestamp.map_or(0, |t| t.nanos),
                        },
                        line: Cow::Owned(entry.line.clone().into_bytes()),
                        metadata: entry
                            .structured_metadata
                            .iter()
                            .map(|pair| {
                                (
                                    Cow::Owned(pair.name.clone().into_bytes()),
                                    Cow::Owned(pair.value.clone().into_bytes()),
                                )
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn sample_request() -> logproto::PushRequest {
    let mut unset = entry("no timestamp", &[]);
    unset.timestamp = None;
    logproto::PushRequest {
        streams: vec![
            stream(
                r#"{app="api", msg="a \"quoted\" \\ value"}"#,
                vec![entry("one", &[("k", "v"), ("trace_id", "abc")]), unset],
            ),
            stream("", Vec::new()),
            stream(r#"{job="x"}"#, vec![entry("{\"msg\":\"json\"}", &[])]),
        ],
    }
}

#[test]
fn the_decoder_reads_what_prost_writes() {
    let request = sample_request();
    let raw = request.encode_to_vec();
    let decoded = decode::decode_protobuf(&raw).expect("decodes");
    assert_eq!(decoded, expected_view(&request));
    let StreamLabels::Text(Cow::Borrowed(labels)) = &decoded.streams[0].labels else {
        panic!("labels are borrowed from the body");
    };
    assert!(raw.as_ptr_range().contains(&labels.as_ptr()));
    assert!(matches!(
        decoded.streams[0].entries[0].line,
        Cow::Borrowed(_)
    ));
    // An unset timestamp is the epoch, as protobuf's defaults say.
    assert_eq!(
        decoded.streams[0].entries[1].timestamp.resolve(),
        Ok(UnixNanos(0))
    );
    // Fields the schema does not name are skipped (upstream's `format`, `parsed`).
    let mut extended = raw.clone();
    extended.extend_from_slice(&[0x12, 0x04, b'l', b'o', b'k', b'i']);
    assert_eq!(
        decode::decode_protobuf(&extended).expect("decodes"),
        decoded
    );
}

#[test]
fn truncated_protobuf_never_panics_and_agrees_with_prost() {
    let raw = sample_request().encode_to_vec();
    let mut n_accepted = 0;
    for cut in 0..raw.len() {
        let prefix = &raw[..cut];
        let ours = decode::decode_protobuf(prefix);
        let theirs = logproto::PushRequest::decode(prefix);
        match (&ours, &theirs) {
            (Ok(ours), Ok(theirs)) => {
                assert_eq!(*ours, expected_view(theirs), "cut at {cut}");
                n_accepted += 1;
                let _ = records::to_records(ours, &LogConfig::default(), INSTANT);
            }
            (Err(_), Err(_)) => {}
            _ => panic!("cut at {cut}: ours {ours:?}, prost {theirs:?}"),
        }
    }
    assert!(n_accepted >= 3, "whole streams are valid prefixes");
    assert!(n_accepted < raw.len() / 2, "most cuts fall inside a field");
}

#[test]
fn the_fuzz_seeds_are_pushes_that_prost_reads_alike() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/loki_push");
    for (name, n_streams) in [("promtail", 2), ("bad-streams", 5)] {
        let body = std::fs::read(seeds.join(name)).expect("seed");
        let raw = decode::decompress(&body, 1 << 16).expect("a snappy block");
        let ours = decode::decode_protobuf(&raw).expect("decodes");
        let theirs = logproto::PushRequest::decode(&raw[..]).expect("prost decodes");
        assert_eq!(ours, expected_view(&theirs), "{name}");
        assert_eq!(ours.streams.len(), n_streams, "{name}");
        let decoded = records::to_records(&ours, &LogConfig::default(), INSTANT);
        let n_refused: usize = decoded.rejected.iter().map(|r| r.n_entries).sum();
        assert_eq!(
            decoded.records.len() + n_refused,
            decoded.n_entries,
            "{name}"
        );
    }
    let bare = std::fs::read(seeds.join("promtail-protobuf")).expect("seed");
    assert_eq!(
        crate::fuzzing::loki_push(&bare),
        Some((2, 4)),
        "the bare protobuf seed"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Quotes a value as Prometheus's `Labels.String()` does (Go's `%q`), more or less.
    fn go_quote(value: &str) -> String {
        let mut out = String::from("\"");
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if (c as u32) > 0xffff => out.push_str(&format!("\\U{:08x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    fn entries() -> impl Strategy<Value = Vec<logproto::EntryAdapter>> {
        let entry = (
            proptest::option::of((-1i64 << 40..1i64 << 40, 0..1_000_000_000i32)),
            "\\PC{0,40}",
            proptest::collection::vec(("[a-z_]{1,6}", "\\PC{0,8}"), 0..3),
        )
            .prop_map(|(timestamp, line, metadata)| logproto::EntryAdapter {
                timestamp: timestamp.map(|(seconds, nanos)| ProtoTimestamp { seconds, nanos }),
                line,
                structured_metadata: metadata
                    .into_iter()
                    .map(|(name, value)| logproto::LabelPairAdapter { name, value })
                    .collect(),
            });
        proptest::collection::vec(entry, 0..4)
    }

    proptest! {
        #[test]
        fn label_sets_round_trip(
            labels in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,10}", "(|[ -~]{1,10}|\\PC{1,6}|[\\x00-\\x1f\\x{10000}-\\x{10ffff}]{1,3})", 0..8)
        ) {
            let text = format!(
                "{{{}}}",
                labels.iter().map(|(name, value)| format!("{name}={}", go_quote(value))).collect::<Vec<_>>().join(", ")
            );
            let parsed = labels::parse(text.as_bytes()).expect("a printed label set parses");
            let expected: Vec<(&str, &str)> = labels.iter().filter(|(_, v)| !v.is_empty()).map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let actual: Vec<(&str, &str)> = parsed.iter().map(|(n, v)| (n.as_ref(), v.as_ref())).collect();
            prop_assert_eq!(actual, expected);
        }

        #[test]
        fn label_parsing_never_panics(text in "\\{?[a-z_=\"'`\\\\ ,{}xuU0-9\u{e9}]{0,30}") {
            let _ = labels::parse(text.as_bytes());
        }

        #[test]
        fn requests_decode_as_prost_encodes_them(
            streams in proptest::collection::vec(("\\PC{0,20}", entries(), any::<u64>()), 0..4)
        ) {
            let request = logproto::PushRequest {
                streams: streams.into_iter().map(|(labels, entries, hash)| logproto::StreamAdapter { labels, entries, hash }).collect(),
            };
            let raw = request.encode_to_vec();
            prop_assert_eq!(decode::decode_protobuf(&raw).expect("decodes"), expected_view(&request));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(request) = decode::decode_protobuf(&bytes) {
                let _ = records::to_records(&request, &LogConfig::default(), INSTANT);
            }
            let _ = decode::decompress(&bytes, 1 << 16);
            if let Ok(request) = decode::decode_json(&bytes) {
                let _ = records::to_records(&request, &LogConfig::default(), INSTANT);
            }
        }
    }
}
