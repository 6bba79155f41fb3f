//! The rules every log protocol applies to turn a line into a [`LogRecord`]: which
//! fields are the timestamp, level, service, host, trace and span ids, correlation id
//! and message, how nested fields flatten, and the limits on a line.
//!
//! Recognized fields (the first present wins):
//! - timestamp: `@timestamp`, `timestamp`, `time`, `ts`: RFC 3339, or Unix epoch
//!   seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude), as a
//!   number or a numeric string. Missing means the arrival time.
//! - level: `level`, `levelname`, `severity`, `severity_text`, `log.level`, `loglevel`,
//!   or an OTLP `severity_number`.
//! - service: `service`, `service.name`, `resource.service.name`, `app`, `application`,
//!   `name`.
//! - host: `host`, `hostname`, `host.name`, `resource.host.name`, `source_host`.
//! - trace and span ids: `trace_id`, `traceId`, `trace.id` / `span_id`, `spanId`,
//!   `span.id`; hex (any case, UUID dashes allowed), kept as fields when invalid.
//! - correlation id: the configured fields (`uuid`, `request_id`, `correlation_id`, ...).
//! - message: `message`, `msg`, `body`, `log`.
//! - observed time: `observed_timestamp`, `observedTimestamp`, `observedTimeUnixNano`
//!   (as the timestamp is read); missing or unreadable means the arrival time.
//!
//! Every other field is kept, nested objects flattened to dotted paths, arrays as JSON
//! text. The raw line is kept exactly.

use model::{LogRecord, Severity, SpanId, TraceId, UnixNanos, Value};
use serde_json::{Map, Value as Json};

/// The fields read as a line's timestamp, first present wins.
pub const TIMESTAMP_KEYS: [&str; 4] = ["@timestamp", "timestamp", "time", "ts"];
/// The fields read as the time a collector first saw the line (the OpenTelemetry log
/// data model's `ObservedTimestamp`), first present wins. Missing means the arrival time.
const OBSERVED_KEYS: [&str; 3] = [
    "observed_timestamp",
    "observedTimestamp",
    "observedTimeUnixNano",
];
const LEVEL_KEYS: [&str; 6] = [
    "level",
    "levelname",
    "severity",
    "severity_text",
    "log.level",
    "loglevel",
];
const SERVICE_KEYS: [&str; 6] = [
    "service",
    "service.name",
    "resource.service.name",
    "app",
    "application",
    "name",
];
const HOST_KEYS: [&str; 5] = [
    "host",
    "hostname",
    "host.name",
    "resource.host.name",
    "source_host",
];
const TRACE_KEYS: [&str; 3] = ["trace_id", "traceId", "trace.id"];
const SPAN_KEYS: [&str; 3] = ["span_id", "spanId", "span.id"];
const MESSAGE_KEYS: [&str; 4] = ["message", "msg", "body", "log"];

/// How lines are normalized and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Fields whose value is a request's correlation id, first present wins.
    pub correlation_fields: Vec<String>,
    /// Longest line accepted, in bytes.
    pub max_line_bytes: usize,
    /// Most fields in one line, after flattening.
    pub max_fields: usize,
    /// Deepest nesting of objects and arrays in one line.
    pub max_depth: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            correlation_fields: [
                "uuid",
                "request_id",
                "requestId",
                "correlation_id",
                "correlationId",
                "x_request_id",
            ]
            .map(str::to_owned)
            .to_vec(),
            max_line_bytes: 256 << 10,
            max_fields: 1000,
            max_depth: 32,
        }
    }
}

/// Why one line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// Short identifier for reject counters.
    pub reason: &'static str,
    /// A sentence naming the problem.
    pub message: String,
}

impl LineError {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        LineError {
            reason,
            message: message.into(),
        }
    }
}

/// Checks the size of a raw line before it is parsed.
pub fn check_line_size(raw: &[u8], config: &LogConfig) -> Result<(), LineError> {
    if raw.len() > config.max_line_bytes {
        return Err(LineError::new(
            "line_too_long",
            format!(
                "the line is {} bytes, over the limit of {} bytes (logs.max_line_size)",
                raw.len(),
                config.max_line_bytes
            ),
        ));
    }
    Ok(())
}

/// Normalizes one JSON line (its exact bytes).
pub fn json_line(
    raw: &[u8],
    config: &LogConfig,
    arrival: UnixNanos,
) -> Result<LogRecord, LineError> {
    check_line_size(raw, config)?;
    let text = std::str::from_utf8(raw).map_err(|err| {
        LineError::new(
            "invalid_utf8",
            format!("the line is not valid UTF-8: {err}"),
        )
    })?;
    let fields = if text.trim_start().starts_with('{') {
        flat::parse(text, config)?
    } else {
        // Not an object: parse it whole for the right message (invalid or not an object).
        parse_error(serde_json::from_str::<Json>(text).map(|_| ()), config)?;
        return Err(LineError::new(
            "not_an_object",
            "the line is JSON but not an object",
        ));
    };
    normalize_fields(text.to_owned(), fields, config, arrival, &[])
}

fn too_deep(config: &LogConfig) -> LineError {
    LineError::new(
        "too_deep",
        format!(
            "the line nests deeper than {} levels (logs.max_depth)",
            config.max_depth
        ),
    )
}

fn too_many_fields(config: &LogConfig) -> LineError {
    LineError::new(
        "too_many_fields",
        format!(
            "the line has more than {} fields (logs.max_fields)",
            config.max_fields
        ),
    )
}

/// Names a JSON parse error as a line error.
fn parse_error(result: Result<(), serde_json::Error>, config: &LogConfig) -> Result<(), LineError> {
    result.map_err(|err| {
        // serde_json stops at 128 levels before our own depth check can run.
        if err.to_string().starts_with("recursion limit exceeded") {
            too_deep(config)
        } else {
            LineError::new("invalid_json", format!("the line is not valid JSON: {err}"))
        }
    })
}

/// Flattens an object to dotted paths, bounded in depth and count.
fn flatten(
    prefix: &str,
    object: Map<String, Json>,
    depth: usize,
    config: &LogConfig,
    out: &mut Vec<(String, Json)>,
) -> Result<(), LineError> {
    if depth > config.max_depth {
        return Err(too_deep(config));
    }
    for (key, value) in object {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Json::Object(inner) => flatten(&path, inner, depth + 1, config, out)?,
            Json::Array(_) if depth + nesting(&value) > config.max_depth => {
                return Err(too_deep(config));
            }
            other => out.push((path, other)),
        }
        if out.len() > config.max_fields {
            return Err(too_many_fields(config));
        }
    }
    Ok(())
}

/// How deeply a value nests: 0 for a scalar, 1 for a flat array or object.
fn nesting(value: &Json) -> usize {
    match value {
        Json::Array(items) => 1 + items.iter().map(nesting).max().unwrap_or(0),
        Json::Object(map) => 1 + map.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}

fn take_first(fields: &mut Vec<(String, Json)>, keys: &[&str]) -> Option<(String, Json)> {
    for key in keys {
        if let Some(position) = fields.iter().position(|(k, v)| k == key && !v.is_null()) {
            return Some(fields.remove(position));
        }
    }
    None
}

fn scalar_text(value: &Json) -> Option<String> {
    match value {
        Json::String(text) => Some(text.clone()),
        Json::Number(number) => Some(number.to_string()),
        Json::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// An epoch number in seconds, milliseconds, microseconds or nanoseconds, told apart by
/// magnitude (as Elasticsearch and Vector do for numeric timestamps).
fn epoch_nanos(value: f64) -> Option<i64> {
    if !value.is_finite() {
        return None;
    }
    let magnitude = value.abs();
    let nanos = if magnitude < 1e11 {
        value * 1e9
    } else if magnitude < 1e14 {
        value * 1e6
    } else if magnitude < 1e17 {
        value * 1e3
    } else {
        value
    };
    (nanos.abs() < 9.2e18).then(|| nanos.round() as i64)
}

/// A timestamp value as senders write them.
pub fn parse_timestamp(value: &Json) -> Option<UnixNanos> {
    match value {
        Json::Number(number) => {
            if let Some(int) = number.as_i64() {
                // Integers keep full precision (nanoseconds do not fit an f64).
                let magnitude = int.unsigned_abs();
                return Some(UnixNanos(if magnitude < 100_000_000_000 {
                    int.checked_mul(1_000_000_000)?
                } else if magnitude < 100_000_000_000_000 {
                    int.checked_mul(1_000_000)?
                } else if magnitude < 100_000_000_000_000_000 {
                    int.checked_mul(1_000)?
                } else {
                    int
                }));
            }
            number.as_f64().and_then(epoch_nanos).map(UnixNanos)
        }
        Json::String(text) => {
            let text = text.trim();
            model::time::parse_rfc3339(text).or_else(|| {
                if let Ok(int) = text.parse::<i64>() {
                    return parse_timestamp(&Json::from(int));
                }
                text.parse::<f64>()
                    .ok()
                    .and_then(epoch_nanos)
                    .map(UnixNanos)
            })
        }
        _ => None,
    }
}

/// A trace or span id in hex (any case; UUID dashes removed) of `bytes` bytes.
fn hex_id(text: &str, bytes: usize) -> Option<String> {
    let cleaned: String = text.trim().chars().filter(|&c| c != '-').collect();
    (cleaned.len() == bytes * 2 && cleaned.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| cleaned.to_ascii_lowercase())
}

fn to_value(value: Json) -> Value {
    match value {
        Json::String(text) => Value::Str(text),
        Json::Bool(flag) => Value::Bool(flag),
        Json::Number(number) => match number.as_i64() {
            Some(int) => Value::Int(int),
            None => Value::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        other => Value::Str(other.to_string()),
    }
}

/// Normalizes a parsed JSON object whose exact text is `raw`. `defaults` are fields
/// from outside the line (Loki stream labels, an Elasticsearch index name) consulted
/// for the service, host and level after the line's own.
pub fn json_object(
    raw: String,
    object: Map<String, Json>,
    config: &LogConfig,
    arrival: UnixNanos,
    defaults: &[(String, String)],
) -> Result<LogRecord, LineError> {
    let mut fields = Vec::with_capacity(object.len());
    flatten("", object, 1, config, &mut fields)?;
    normalize_fields(raw, fields, config, arrival, defaults)
}

/// Normalizes a line's flattened fields (dotted paths, in the line's order).
fn normalize_fields(
    raw: String,
    mut fields: Vec<(String, Json)>,
    config: &LogConfig,
    arrival: UnixNanos,
    defaults: &[(String, String)],
) -> Result<LogRecord, LineError> {
    let timestamp = match take_first(&mut fields, &TIMESTAMP_KEYS) {
        Some((key, value)) => parse_timestamp(&value).ok_or_else(|| {
            LineError::new(
                "bad_timestamp",
                format!("field {key:?} is not a timestamp (RFC 3339 or Unix epoch): {value}"),
            )
        })?,
        None => arrival,
    };
    // An observed time that does not parse stays a field: it is not the line's time.
    let observed = match fields
        .iter()
        .position(|(k, v)| OBSERVED_KEYS.contains(&k.as_str()) && !v.is_null())
    {
        Some(position) => match parse_timestamp(&fields[position].1) {
            Some(observed) => {
                fields.remove(position);
                observed
            }
            None => arrival,
        },
        None => arrival,
    };
    let default = |keys: &[&str]| {
        keys.iter().find_map(|key| {
            defaults
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        })
    };
    let severity = match take_first(&mut fields, &LEVEL_KEYS) {
        Some((_, Json::Number(number))) => {
            Severity::from_otlp_number(number.as_i64().unwrap_or(0) as i32)
        }
        Some((_, value)) => {
            scalar_text(&value).map_or(Severity::Unknown, |text| Severity::from_text(&text))
        }
        None => match take_first(&mut fields, &["severity_number"]) {
            Some((_, value)) => Severity::from_otlp_number(value.as_i64().unwrap_or(0) as i32),
            None => {
                default(&LEVEL_KEYS).map_or(Severity::Unknown, |text| Severity::from_text(&text))
            }
        },
    };
    let service = take_first(&mut fields, &SERVICE_KEYS)
        .and_then(|(_, value)| scalar_text(&value))
        .or_else(|| default(&SERVICE_KEYS));
    let host = take_first(&mut fields, &HOST_KEYS)
        .and_then(|(_, value)| scalar_text(&value))
        .or_else(|| default(&HOST_KEYS));
    let mut trace_id = None;
    for key in TRACE_KEYS {
        if let Some(position) = fields.iter().position(|(k, _)| k == key) {
            if let Some(hex) = fields[position]
                .1
                .as_str()
                .and_then(|text| hex_id(text, 16))
            {
                trace_id = TraceId::from_hex(&hex).ok();
                fields.remove(position);
            }
            break;
        }
    }
    let mut span_id = None;
    for key in SPAN_KEYS {
        if let Some(position) = fields.iter().position(|(k, _)| k == key) {
            if let Some(hex) = fields[position].1.as_str().and_then(|text| hex_id(text, 8)) {
                span_id = SpanId::from_hex(&hex).ok();
                fields.remove(position);
            }
            break;
        }
    }
    let correlation_keys: Vec<&str> = config
        .correlation_fields
        .iter()
        .map(String::as_str)
        .collect();
    let correlation_id = fields
        .iter()
        .find(|(k, v)| correlation_keys.contains(&k.as_str()) && !v.is_null())
        .and_then(|(_, v)| scalar_text(v));
    let message = match take_first(&mut fields, &MESSAGE_KEYS) {
        Some((_, Json::String(text))) => text,
        Some((_, other)) => other.to_string(),
        None => String::new(),
    };
    let fields = fields
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| (key, to_value(value)))
        .collect();
    Ok(LogRecord {
        timestamp,
        observed,
        severity,
        service,
        host,
        trace_id,
        span_id,
        correlation_id,
        message,
        fields,
        raw,
        raw_holds_fields: true,
    })
}

/// A line that is not JSON: all of it is the message.
pub fn text_line(
    raw: String,
    timestamp: UnixNanos,
    arrival: UnixNanos,
    defaults: &[(String, String)],
) -> LogRecord {
    let default = |keys: &[&str]| {
        keys.iter().find_map(|key| {
            defaults
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        })
    };
    let severity =
        default(&LEVEL_KEYS).map_or(Severity::Unknown, |text| Severity::from_text(&text));
    LogRecord {
        timestamp,
        observed: arrival,
        severity,
        service: default(&SERVICE_KEYS),
        host: default(&HOST_KEYS),
        trace_id: None,
        span_id: None,
        correlation_id: None,
        message: raw.clone(),
        fields: Vec::new(),
        raw,
        raw_holds_fields: false,
    }
}

mod flat;

#[cfg(test)]
mod tests {
    use super::*;

    const ARRIVAL: UnixNanos = UnixNanos(1_795_283_999_000_000_000);

    fn normalize(line: &str) -> Result<LogRecord, LineError> {
        json_line(line.as_bytes(), &LogConfig::default(), ARRIVAL)
    }

    #[test]
    fn logstash_v1_lines_as_simplebank_writes_them() {
        let raw = r#"{"@timestamp": "2026-11-21T17:58:30.123Z", "@version": "1", "message": "Placing order", "levelname": "INFO", "source_host": "orders-1", "name": "simplebank.orders", "funcName": "place", "lineno": 42, "uuid": "6f1c3a2e-1b7e-4c55-9f2d-8a7e0d1c2b3a"}"#;
        let record = normalize(raw).expect("normalizes");
        assert_eq!(record.timestamp, UnixNanos(1_795_283_910_123_000_000));
        assert_eq!(record.severity, Severity::Info);
        assert_eq!(record.service.as_deref(), Some("simplebank.orders"));
        assert_eq!(record.host.as_deref(), Some("orders-1"));
        assert_eq!(
            record.correlation_id.as_deref(),
            Some("6f1c3a2e-1b7e-4c55-9f2d-8a7e0d1c2b3a")
        );
        assert_eq!(record.message, "Placing order");
        assert_eq!(record.raw, raw, "the raw line is kept exactly");
        assert!(record.raw_holds_fields, "the fields came from the raw line");
        let keys: Vec<&str> = record.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["@version", "funcName", "lineno", "uuid"]);
        assert_eq!(record.fields[2].1, Value::Int(42));
    }

    #[test]
    fn otel_shaped_lines_flatten_and_find_their_ids() {
        let raw = r#"{"timestamp":"2026-11-21T17:58:30.123456789Z","observed_timestamp":"2026-11-21T17:58:30.2Z","severity_number":17,"body":"db down","resource":{"service.name":"payments","host.name":"ip-10"},"attributes":{"http.response.status_code":503,"duration_ms":12.5,"tags":["a","b"],"empty":null},"trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736","span_id":"00f067aa0ba902b7"}"#;
        let record = normalize(raw).expect("normalizes");
        assert_eq!(record.timestamp, UnixNanos(1_795_283_910_123_456_789));
        assert_eq!(record.observed, UnixNanos(1_795_283_910_200_000_000));
        assert_eq!(record.severity, Severity::Error);
        assert_eq!(record.service.as_deref(), Some("payments"));
        assert_eq!(record.host.as_deref(), Some("ip-10"));
        assert_eq!(
            record.trace_id.map(|id| id.to_string()).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            record.span_id.map(|id| id.to_string()).as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert_eq!(record.message, "db down");
        assert_eq!(
            record.fields,
            vec![
                (
                    "attributes.http.response.status_code".to_owned(),
                    Value::Int(503)
                ),
                ("attributes.duration_ms".to_owned(), Value::Float(12.5)),
                (
                    "attributes.tags".to_owned(),
                    Value::Str("[\"a\",\"b\"]".into())
                ),
            ]
        );
    }

    #[test]
    fn fields_keep_the_line_order_escaped_keys_and_repeats() {
        let raw = r#"{"z":1,"a\"b":{"c\u0041":"x","n":null},"z":2,"msg":"m","level":"warn","level":"error"}"#;
        let record = normalize(raw).expect("normalizes");
        assert_eq!(
            record.fields,
            vec![
                ("z".to_owned(), Value::Int(1)),
                ("a\"b.cA".to_owned(), Value::Str("x".into())),
                ("z".to_owned(), Value::Int(2)),
                ("level".to_owned(), Value::Str("error".into())),
            ]
        );
        assert_eq!(
            record.severity,
            Severity::Warn,
            "the first of a repeated key"
        );
        assert_eq!(record.message, "m");
        assert_eq!(
            normalize(r#"{"a":1} trailing"#)
                .expect_err("trailing")
                .reason,
            "invalid_json"
        );
        assert_eq!(
            normalize(r#"  "text""#).expect_err("a string").reason,
            "not_an_object"
        );
    }

    #[test]
    fn timestamps_in_every_unit_and_form() {
        let cases = [
            (Json::from(1_795_283_910), 1_795_283_910_000_000_000),
            (Json::from(1_795_283_910.5), 1_795_283_910_500_000_000),
            (Json::from(1_795_283_910_123i64), 1_795_283_910_123_000_000),
            (
                Json::from(1_795_283_910_123_456i64),
                1_795_283_910_123_456_000,
            ),
            (
                Json::from(1_795_283_910_123_456_789i64),
                1_795_283_910_123_456_789,
            ),
            (Json::from("1795283910"), 1_795_283_910_000_000_000),
            (
                Json::from("2026-11-21T19:58:30+02:00"),
                1_795_283_910_000_000_000,
            ),
        ];
        for (value, nanos) in cases {
            assert_eq!(parse_timestamp(&value), Some(UnixNanos(nanos)), "{value}");
        }
        for bad in [
            Json::from("yesterday"),
            Json::Bool(true),
            Json::from(f64::MAX),
        ] {
            assert_eq!(parse_timestamp(&bad), None, "{bad}");
        }
        let missing = normalize(r#"{"msg":"no time"}"#).expect("normalizes");
        assert_eq!(missing.timestamp, ARRIVAL);
        assert_eq!(missing.observed, ARRIVAL);
        let unreadable =
            normalize(r#"{"observedTimeUnixNano":"later","msg":"x"}"#).expect("normalizes");
        assert_eq!(unreadable.observed, ARRIVAL);
        assert_eq!(unreadable.fields.len(), 1, "kept as a field");
        let err = normalize(r#"{"time":"soon","msg":"x"}"#).expect_err("bad time");
        assert_eq!(err.reason, "bad_timestamp");
        assert!(err.message.contains("\"time\""), "{}", err.message);
    }

    #[test]
    fn invalid_ids_stay_fields() {
        let record =
            normalize(r#"{"trace_id":"not-hex","span_id":"123","msg":"x"}"#).expect("normalizes");
        assert_eq!(record.trace_id, None);
        assert_eq!(record.span_id, None);
        assert_eq!(record.fields.len(), 2);
        let uuid =
            normalize(r#"{"traceId":"4bf92f35-77b3-4da6-a3ce-929d0e0e4736"}"#).expect("normalizes");
        assert!(uuid.trace_id.is_some());
    }

    #[test]
    fn bad_lines_are_refused_with_their_reason() {
        let config = LogConfig {
            max_line_bytes: 64,
            max_fields: 3,
            max_depth: 3,
            ..LogConfig::default()
        };
        let cases: [(&[u8], &str); 7] = [
            (b"{not json", "invalid_json"),
            (b"\xff\xfe{}", "invalid_utf8"),
            (b"[1,2]", "not_an_object"),
            (&[b'a'; 65], "line_too_long"),
            (br#"{"a":1,"b":2,"c":3,"d":4}"#, "too_many_fields"),
            (br#"{"a":{"b":{"c":{"d":1}}}}"#, "too_deep"),
            (br#"{"a":[[[[1]]]]}"#, "too_deep"),
        ];
        for (line, reason) in cases {
            let err = json_line(line, &config, ARRIVAL).expect_err(reason);
            assert_eq!(err.reason, reason, "{}", String::from_utf8_lossy(line));
        }
        // serde_json's own recursion limit stops absurd nesting before ours is reached;
        // it is still reported as nesting too deep.
        let deep = r#"{"a":"#.repeat(10_000) + "1" + &"}".repeat(10_000);
        assert_eq!(
            json_line(deep.as_bytes(), &LogConfig::default(), ARRIVAL)
                .expect_err("deep")
                .reason,
            "too_deep"
        );
    }
}
