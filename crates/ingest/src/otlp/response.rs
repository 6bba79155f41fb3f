//! What OTLP answers, in the request's encoding: the `Export*ServiceResponse` of a
//! success (with `partial_success` only when something was rejected) and the
//! `google.rpc.Status` of a failure. Every signal's response has the same shape
//! (`partial_success = 1 { rejected_<items> = 1, error_message = 2 }`), so traces
//! reuse these with their own JSON key.

use std::fmt::Write as _;

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_varint(out, (u64::from(number) << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_int(out: &mut Vec<u8>, number: u32, value: i64) {
    put_varint(out, u64::from(number) << 3);
    // int32 and int64 alike: negative values are sign-extended to ten bytes.
    put_varint(out, value as u64);
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// `Export*ServiceResponse` in protobuf: empty on full success.
pub fn export_protobuf(rejected: u64, error_message: &str) -> Vec<u8> {
    if rejected == 0 && error_message.is_empty() {
        return Vec::new();
    }
    let mut partial = Vec::with_capacity(error_message.len() + 16);
    if rejected > 0 {
        put_int(&mut partial, 1, i64::try_from(rejected).unwrap_or(i64::MAX));
    }
    if !error_message.is_empty() {
        put_bytes(&mut partial, 2, error_message.as_bytes());
    }
    let mut out = Vec::with_capacity(partial.len() + 4);
    put_bytes(&mut out, 1, &partial);
    out
}

/// `Export*ServiceResponse` in OTLP/JSON: `{}` on full success, else
/// `{"partialSuccess":{"<rejected_key>":"2","errorMessage":".."}}` (an int64 is a string
/// in protobuf's JSON mapping).
pub fn export_json(rejected_key: &str, rejected: u64, error_message: &str) -> String {
    let mut fields = Vec::with_capacity(2);
    if rejected > 0 {
        fields.push(format!("{}:\"{rejected}\"", json_string(rejected_key)));
    }
    if !error_message.is_empty() {
        fields.push(format!("\"errorMessage\":{}", json_string(error_message)));
    }
    if fields.is_empty() {
        return "{}".to_owned();
    }
    format!("{{\"partialSuccess\":{{{}}}}}", fields.join(","))
}

/// `google.rpc.Status { int32 code = 1; string message = 2; }` in protobuf.
pub fn status_protobuf(code: i32, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 8);
    if code != 0 {
        put_int(&mut out, 1, i64::from(code));
    }
    if !message.is_empty() {
        put_bytes(&mut out, 2, message.as_bytes());
    }
    out
}

/// `google.rpc.Status` in JSON: `{"code":3,"message":".."}`.
pub fn status_json(code: i32, message: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\"code\":{code},\"message\":{}}}",
        json_string(message)
    );
    out
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::otlp::proto::logs_service::{ExportLogsPartialSuccess, ExportLogsServiceResponse};

    #[derive(Clone, PartialEq, prost::Message)]
    struct Status {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }

    #[test]
    fn responses_decode_with_prost() {
        assert!(
            export_protobuf(0, "").is_empty(),
            "full success leaves partial_success unset"
        );
        let bytes = export_protobuf(300, "record 2: trace id \"0102\" is not valid");
        let response = ExportLogsServiceResponse::decode(&bytes[..]).expect("decodes");
        assert_eq!(
            response.partial_success,
            Some(ExportLogsPartialSuccess {
                rejected_log_records: 300,
                error_message: "record 2: trace id \"0102\" is not valid".into(),
            })
        );
        let status = Status::decode(&status_protobuf(3, "bad body")[..]).expect("decodes");
        assert_eq!((status.code, status.message.as_str()), (3, "bad body"));
    }

    #[test]
    fn json_responses_follow_the_json_mapping() {
        assert_eq!(export_json("rejectedLogRecords", 0, ""), "{}");
        assert_eq!(
            export_json("rejectedLogRecords", 2, "two \"bad\""),
            r#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"two \"bad\""}}"#
        );
        assert_eq!(
            status_json(8, "slow down"),
            r#"{"code":8,"message":"slow down"}"#
        );
    }
}
