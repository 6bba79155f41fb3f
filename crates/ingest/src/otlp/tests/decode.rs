//! The protobuf decoder alone: limits, hostile nesting, truncation, agreement with
//! prost.

use model::UnixNanos;
use prost::Message as _;

use super::{
    PYTHON_SDK_BODY, TRACE_ID, any, any_value, common, kv, kvlist, logs, record, request, string,
    test_config,
};
use crate::normalize::LogConfig;
use crate::otlp::logs_decode;
use crate::otlp::proto::logs_service::ExportLogsServiceRequest;

#[test]
fn limits_reject_single_records() {
    let many_fields = record(string("many fields"));
    let many_fields = logs::LogRecord {
        attributes: (0..30).map(|i| kv(&format!("k{i}"), string("v"))).collect(),
        ..many_fields
    };
    let mut deep = string("leaf");
    for _ in 0..5 {
        deep = kvlist(vec![kv("a", deep)]);
    }
    let deep = logs::LogRecord {
        attributes: vec![kv("deep", deep)],
        ..record(string("deep"))
    };
    let long = record(string(&"x".repeat(1025)));
    let long_json = record(kvlist(vec![kv("text", string(&"y".repeat(1000)))]));
    let body = request(vec![
        many_fields,
        deep,
        long,
        long_json,
        record(string("fine")),
    ]);
    let decoded = logs_decode::decode(&body, &test_config().log, UnixNanos(1)).expect("decodes");
    let reasons: Vec<(usize, &str)> = decoded
        .errors
        .iter()
        .map(|(number, err)| (*number, err.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            (1, "too_many_fields"),
            (2, "too_deep"),
            (3, "line_too_long"),
            (4, "line_too_long")
        ]
    );
    assert_eq!(decoded.records.len(), 1);
    assert_eq!(decoded.numbers, [5]);
}

/// A kvlist nested `depth` times around a string, encoded from the inside out (prost
/// would recurse as deeply to encode it).
fn deeply_nested_any_value(depth: usize) -> Vec<u8> {
    let mut value = string("leaf").encode_to_vec();
    for _ in 0..depth {
        let key = common::KeyValue {
            key: "a".into(),
            value: None,
        };
        let key_value = [key.encode_to_vec(), prost_field(2, &value)].concat();
        value = prost_field(6, &prost_field(1, &key_value));
    }
    value
}

/// A length-delimited protobuf field.
fn prost_field(number: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

#[test]
fn hostile_nesting_refuses_the_record_without_exhausting_the_stack() {
    let record_bytes = [
        prost_field(5, &deeply_nested_any_value(2_000)),
        prost_field(6, &kv("ok", string("1")).encode_to_vec()),
    ]
    .concat();
    let scope_logs = prost_field(2, &record_bytes);
    let body = prost_field(1, &prost_field(2, &scope_logs));
    let config = LogConfig {
        max_depth: 10_000,
        ..LogConfig::default()
    };
    let decoded = logs_decode::decode(&body, &config, UnixNanos(1)).expect("decodes");
    assert_eq!(decoded.records.len(), 0);
    assert_eq!(decoded.errors[0].1.reason, "too_deep");

    let json = "{\"a\":".repeat(5_000) + "1" + &"}".repeat(5_000);
    let err = crate::otlp::logs_json::decode(json.as_bytes(), &config, UnixNanos(1))
        .expect_err("serde_json's recursion limit");
    assert_eq!(err.reason, "invalid_json");
}

/// Every prefix of real bodies: the decoder never panics, and whenever prost reads the
/// prefix, the zero-copy decoder reads it too, finding the same records.
#[test]
fn truncated_bodies_never_panic_and_agree_with_prost() {
    let mut rich = record(kvlist(vec![kv("msg", string("m"))]));
    rich.attributes = vec![
        kv("d", any(any_value::Value::DoubleValue(1.5))),
        kv("b", any(any_value::Value::BytesValue(vec![0xff]))),
    ];
    rich.trace_id = TRACE_ID.to_vec();
    rich.severity_number = -1;
    let bodies = [
        PYTHON_SDK_BODY.to_vec(),
        request(vec![rich, record(string("x"))]),
    ];
    let config = LogConfig::default();
    for body in bodies {
        for cut in 0..=body.len() {
            let prefix = &body[..cut];
            let ours = logs_decode::decode(prefix, &config, UnixNanos(1));
            if let Ok(theirs) = ExportLogsServiceRequest::decode(prefix) {
                let n_records: usize = theirs
                    .resource_logs
                    .iter()
                    .flat_map(|r| &r.scope_logs)
                    .map(|s| s.log_records.len())
                    .sum();
                let ours = ours.unwrap_or_else(|err| panic!("cut {cut}: {err:?}"));
                assert_eq!(ours.n_records(), n_records, "cut {cut}");
            }
        }
    }
}
