//! The zero-copy decoders against the prost reference types, and against requests
//! captured from a real Prometheus 2.42.

use prost::Message as _;

use super::*;
use crate::remote_write::proto::{prometheus as v1, v2};

fn label(name: &str, value: &str) -> v1::Label {
    v1::Label {
        name: name.into(),
        value: value.into(),
    }
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> v1::TimeSeries {
    v1::TimeSeries {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| v1::Sample { value, timestamp })
            .collect(),
        exemplars: Vec::new(),
        histograms: Vec::new(),
    }
}

fn limits() -> LabelLimits {
    LabelLimits::default()
}

/// `(labels, samples as (t, bits))` per series.
type Contents = Vec<(Vec<(String, String)>, Vec<(i64, u64)>)>;

/// The contents of every series in the batch.
fn contents(decoded: &Decoded<'_>) -> Contents {
    (0..decoded.batch.series.len())
        .map(|idx| {
            let labels = decoded
                .batch
                .series_labels(idx)
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            let samples = decoded
                .batch
                .series_samples(idx)
                .iter()
                .map(|s| (s.timestamp_ms, s.value.to_bits()))
                .collect();
            (labels, samples)
        })
        .collect()
}

#[test]
fn v1_series_samples_exemplars_and_metadata_match_the_reference() {
    let mut with_exemplar = series(
        &[("__name__", "http_requests_total"), ("code", "200")],
        &[(1000, 5.0), (2000, f64::NAN)],
    );
    with_exemplar.exemplars.push(v1::Exemplar {
        labels: vec![label("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")],
        value: 0.25,
        timestamp: 1500,
    });
    let request = v1::WriteRequest {
        timeseries: vec![
            with_exemplar,
            series(
                &[("__name__", "up"), ("job", "api"), ("zone", "")],
                &[(-7, 1.0)],
            ),
        ],
        metadata: vec![v1::MetricMetadata {
            r#type: 1,
            metric_family_name: "http_requests_total".into(),
            help: "Requests.".into(),
            unit: String::new(),
        }],
    };
    let bytes = request.encode_to_vec();
    let decoded = decode_v1(&bytes, &limits(), &KnownLabelSets::default()).expect("decodes");
    assert!(decoded.invalid.is_empty());
    assert_eq!(
        contents(&decoded),
        [
            (
                vec![
                    ("__name__".into(), "http_requests_total".into()),
                    ("code".into(), "200".into())
                ],
                vec![(1000, 5.0f64.to_bits()), (2000, f64::NAN.to_bits())]
            ),
            // The empty-valued label is dropped: in Prometheus it means "no such label".
            (
                vec![
                    ("__name__".into(), "up".into()),
                    ("job".into(), "api".into())
                ],
                vec![(-7, 1.0f64.to_bits())]
            ),
        ]
    );
    let exemplar = &decoded.batch.exemplars[0];
    assert_eq!((exemplar.timestamp_ms, exemplar.value), (1500, 0.25));
    assert_eq!(
        decoded.batch.exemplar_labels[exemplar.labels.clone()],
        [("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]
    );
    assert_eq!(decoded.batch.metadata[0].metric_type, MetricType::Counter);
    assert_eq!(
        (decoded.samples_received, decoded.exemplars_received),
        (3, 1)
    );
}

#[test]
fn invalid_series_are_named_and_left_out_while_neighbours_stay() {
    let request = v1::WriteRequest {
        timeseries: vec![
            series(&[("job", "api")], &[(1, 1.0)]),
            series(&[("__name__", "ok")], &[(1, 1.0)]),
            series(
                &[("__name__", "up"), ("b", "1"), ("a", "2")],
                &[(1, 1.0), (2, 2.0)],
            ),
            series(&[("__name__", "2xx")], &[(1, 1.0)]),
            series(&[("__name__", "up"), ("a", "1"), ("a", "1")], &[(1, 1.0)]),
        ],
        metadata: Vec::new(),
    };
    let bytes = request.encode_to_vec();
    let decoded = decode_v1(&bytes, &limits(), &KnownLabelSets::default()).expect("decodes");
    assert_eq!(contents(&decoded).len(), 1);
    let problems: Vec<(String, &str, u64)> = decoded
        .invalid
        .iter()
        .map(|invalid| {
            (
                format!("{}: {}", invalid.series, invalid.problem),
                invalid.reason,
                invalid.samples,
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            (
                r#"{job="api"}: it has no __name__ label"#.to_owned(),
                "missing_metric_name",
                1
            ),
            (
                r#"up{b="1", a="2"}: label names are not sorted: "b" comes before "a""#.to_owned(),
                "unsorted_labels",
                2
            ),
            (
                r#"2xx{}: metric name "2xx" is not valid: it must start with a letter, '_' or ':'"#
                    .to_owned(),
                "invalid_label_name",
                1
            ),
            (
                r#"up{a="1", a="1"}: label "a" appears more than once"#.to_owned(),
                "duplicate_label",
                1
            ),
        ]
    );
}

#[test]
fn invalid_utf8_and_truncation_fail_the_request() {
    let mut bytes = v1::WriteRequest {
        timeseries: vec![series(&[("__name__", "up")], &[(1, 1.0)])],
        metadata: Vec::new(),
    }
    .encode_to_vec();
    for cut in 1..bytes.len() {
        assert!(
            decode_v1(&bytes[..cut], &limits(), &KnownLabelSets::default()).is_err(),
            "cut at {cut}"
        );
    }
    let at = bytes
        .windows(2)
        .position(|w| w == b"up")
        .expect("name bytes");
    bytes[at] = 0xff;
    assert_eq!(
        decode_v1(&bytes, &limits(), &KnownLabelSets::default()).map(|_| ()),
        Err(WireError("string is not valid UTF-8"))
    );
}

#[test]
fn histograms_are_counted_not_stored() {
    let mut only_histogram = series(&[("__name__", "latency")], &[]);
    only_histogram.histograms.push(v1::Histogram {
        timestamp: 5,
        ..Default::default()
    });
    let bytes = v1::WriteRequest {
        timeseries: vec![only_histogram, series(&[("__name__", "up")], &[(1, 1.0)])],
        metadata: Vec::new(),
    }
    .encode_to_vec();
    let decoded = decode_v1(&bytes, &limits(), &KnownLabelSets::default()).expect("decodes");
    assert_eq!(
        (decoded.histograms, decoded.histogram_series.as_deref()),
        (1, Some("latency{}"))
    );
    assert_eq!(contents(&decoded).len(), 1);
}

#[test]
fn captured_prometheus_requests_decode_with_every_sample() {
    for file in [
        "prometheus-2.42-scrape.snappy",
        "prometheus-2.42-scrape-2.snappy",
        "prometheus-2.42-partial.snappy",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/remote_write/testdata")
            .join(file);
        let compressed = std::fs::read(&path).expect("fixture");
        let raw = crate::remote_write::handler::decompress(&compressed, 32 << 20).expect("snappy");
        let reference = v1::WriteRequest::decode(raw.as_slice()).expect("prost decodes");
        let decoded = decode_v1(&raw, &limits(), &KnownLabelSets::default()).expect("decodes");
        assert!(decoded.invalid.is_empty(), "{file}: {:?}", decoded.invalid);
        let expected: Contents = reference
            .timeseries
            .iter()
            .map(|ts| {
                (
                    ts.labels
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect(),
                    ts.samples
                        .iter()
                        .map(|s| (s.timestamp, s.value.to_bits()))
                        .collect(),
                )
            })
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(contents(&decoded), expected, "{file}");
    }
}

fn v2_request(symbols: &[&str], timeseries: Vec<v2::TimeSeries>) -> Vec<u8> {
    v2::Request {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        timeseries,
    }
    .encode_to_vec()
}

#[test]
fn v2_resolves_symbols_metadata_and_exemplars() {
    let symbols = [
        "",
        "__name__",
        "requests_total",
        "job",
        "api",
        "Requests served.",
        "trace_id",
        "abc",
    ];
    let bytes = v2_request(
        &symbols,
        vec![v2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4],
            samples: vec![v2::Sample {
                value: 3.0,
                timestamp: 2000,
                start_timestamp: 0,
            }],
            histograms: Vec::new(),
            exemplars: vec![v2::Exemplar {
                labels_refs: vec![6, 7],
                value: 1.0,
                timestamp: 1999,
            }],
            metadata: Some(v2::Metadata {
                r#type: 1,
                help_ref: 5,
                unit_ref: 0,
            }),
            created_timestamp: 0,
        }],
    );
    let decoded = decode_v2(&bytes, &limits()).expect("decodes");
    assert_eq!(
        contents(&decoded),
        [(
            vec![
                ("__name__".into(), "requests_total".into()),
                ("job".into(), "api".into())
            ],
            vec![(2000, 3.0f64.to_bits())]
        )]
    );
    assert_eq!(decoded.batch.metadata[0].help, "Requests served.");
    assert_eq!(decoded.batch.metadata[0].metric_family, "requests_total");
    assert_eq!(decoded.batch.exemplar_labels, [("trace_id", "abc")]);
}

#[test]
fn v2_start_timestamps_add_a_best_effort_zero_before_the_samples() {
    let symbols = ["", "__name__", "c_total"];
    let bytes = v2_request(
        &symbols,
        vec![v2::TimeSeries {
            labels_refs: vec![1, 2],
            samples: vec![
                v2::Sample {
                    value: 3.0,
                    timestamp: 2000,
                    start_timestamp: 500,
                },
                v2::Sample {
                    value: 4.0,
                    timestamp: 3000,
                    start_timestamp: 500,
                },
            ],
            ..Default::default()
        }],
    );
    let decoded = decode_v2(&bytes, &limits()).expect("decodes");
    assert_eq!(decoded.batch.series.len(), 2);
    assert!(decoded.batch.series[0].best_effort);
    assert_eq!(decoded.batch.series_samples(0), [Sample::new(500, 0.0)]);
    assert!(!decoded.batch.series[1].best_effort);
    assert_eq!(decoded.batch.series_samples(1).len(), 2);
    assert_eq!(
        (decoded.synthetic_samples, decoded.samples_received),
        (1, 2)
    );
}

#[test]
fn v2_bad_symbol_references_name_the_problem() {
    let bytes = v2_request(
        &["", "__name__", "up"],
        vec![
            v2::TimeSeries {
                labels_refs: vec![1, 9],
                samples: vec![v2::Sample {
                    value: 1.0,
                    timestamp: 1,
                    start_timestamp: 0,
                }],
                ..Default::default()
            },
            v2::TimeSeries {
                labels_refs: vec![1],
                samples: vec![v2::Sample {
                    value: 1.0,
                    timestamp: 1,
                    start_timestamp: 0,
                }],
                ..Default::default()
            },
            v2::TimeSeries {
                labels_refs: vec![1, 2],
                samples: vec![v2::Sample {
                    value: 1.0,
                    timestamp: 1,
                    start_timestamp: 0,
                }],
                ..Default::default()
            },
        ],
    );
    let decoded = decode_v2(&bytes, &limits()).expect("decodes");
    assert_eq!(contents(&decoded).len(), 1);
    assert_eq!(
        decoded.invalid[0].problem,
        "label reference 9 is out of range (the symbol table has 3 entries)"
    );
    assert_eq!(
        decoded.invalid[1].problem,
        "it has an odd number of label references (1)"
    );
    let bad_first = v2_request(&["x"], Vec::new());
    assert_eq!(
        decode_v2(&bad_first, &limits()).map(|_| ()),
        Err(WireError("symbols[0] must be the empty string"))
    );
}

#[test]
fn a_v2_body_read_as_v1_is_empty_not_an_error() {
    // The reserved field numbers make each version's message look empty to the other.
    let bytes = v2_request(
        &["", "__name__", "up"],
        vec![v2::TimeSeries {
            labels_refs: vec![1, 2],
            ..Default::default()
        }],
    );
    let decoded = decode_v1(&bytes, &limits(), &KnownLabelSets::default()).expect("decodes");
    assert!(decoded.batch.series.is_empty() && decoded.invalid.is_empty());
}

mod differential {
    use proptest::prelude::*;

    use super::*;

    /// Hand-encodes a TimeSeries whose sample may sit before, between or after the labels.
    fn encode_series(labels: &[(String, String)], sample_at: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let sample = v1::Sample {
            value: 1.0,
            timestamp: 7,
        }
        .encode_to_vec();
        for (idx, (name, value)) in labels.iter().enumerate() {
            if idx == sample_at {
                out.push(0x12);
                prost::encoding::encode_varint(sample.len() as u64, &mut out);
                out.extend_from_slice(&sample);
            }
            let label = v1::Label {
                name: name.clone(),
                value: value.clone(),
            }
            .encode_to_vec();
            out.push(0x0a);
            prost::encoding::encode_varint(label.len() as u64, &mut out);
            out.extend_from_slice(&label);
        }
        if sample_at >= labels.len() {
            out.push(0x12);
            prost::encoding::encode_varint(sample.len() as u64, &mut out);
            out.extend_from_slice(&sample);
        }
        let mut request = vec![0x0a];
        prost::encoding::encode_varint(out.len() as u64, &mut request);
        request.extend_from_slice(&out);
        request
    }

    proptest! {
        #[test]
        fn labels_decode_exactly_as_prost_reads_them(
            values in proptest::collection::vec("(|[a-z]{1,8}|\\PC{0,6}|[\u{80}-\u{10ffff}]{1,3})", 1..6),
            sample_at in 0usize..8,
        ) {
            let mut labels: Vec<(String, String)> = vec![("__name__".to_owned(), "m".to_owned())];
            labels.extend(values.into_iter().enumerate().map(|(idx, value)| (format!("l{idx}"), value)));
            let bytes = encode_series(&labels, sample_at);
            let reference = v1::WriteRequest::decode(bytes.as_slice()).expect("prost decodes");
            let decoded = decode_v1(&bytes, &limits(), &KnownLabelSets::default()).expect("decodes");
            let expected: Vec<(String, String)> = reference.timeseries[0]
                .labels
                .iter()
                .filter(|label| !label.value.is_empty())
                .map(|label| (label.name.clone(), label.value.clone()))
                .collect();
            let got: Vec<(String, String)> = decoded.batch.series_labels(0).iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
            prop_assert_eq!(got, expected);
        }
    }
}

#[test]
fn known_label_sets_skip_checks_and_new_valid_ones_are_reported() {
    let bytes = v1::WriteRequest {
        timeseries: vec![
            series(&[("__name__", "up")], &[(1, 1.0)]),
            series(&[("job", "x")], &[(1, 1.0)]),
        ],
        metadata: Vec::new(),
    }
    .encode_to_vec();
    let first = decode_v1(&bytes, &limits(), &KnownLabelSets::default()).expect("decodes");
    assert_eq!(
        (first.newly_valid.len(), first.invalid.len()),
        (1, 1),
        "only the valid set is remembered"
    );
    let known: KnownLabelSets = first.newly_valid.iter().copied().collect();
    let second = decode_v1(&bytes, &limits(), &known).expect("decodes");
    assert!(second.newly_valid.is_empty());
    assert_eq!(
        (second.batch.series.len(), second.invalid.len()),
        (1, 1),
        "the invalid set is checked again"
    );
}
