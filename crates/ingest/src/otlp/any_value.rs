//! OTLP attribute values (`AnyValue`), however they were decoded, and what Sightline
//! makes of them: fields flattened to dotted keys under the same limits as a JSON log
//! line ([`LogConfig`]: `max_depth`, `max_fields`), arrays kept as JSON text, and a
//! compact JSON rendering for a record's `raw` text.

use std::borrow::Cow;
use std::fmt::Write as _;

use model::Value;

use super::base64;
use crate::normalize::{LineError, LogConfig};

/// Attributes: keys with their values, in the order they were sent.
pub type KeyValues<'a> = Vec<(Cow<'a, str>, AnyValue<'a>)>;

/// One OTLP `AnyValue`, borrowing from the request body where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue<'a> {
    /// No field of the oneof was set.
    Empty,
    Str(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Cow<'a, [u8]>),
    Array(Vec<AnyValue<'a>>),
    KvList(KeyValues<'a>),
    /// Nested deeper than the decoder descends (further than any configured
    /// `max_depth` allows); the record holding it is refused as too deep.
    TooDeep,
}

impl AnyValue<'_> {
    /// How deeply the value nests: 0 for a scalar, 1 for a flat array or list.
    pub fn nesting(&self) -> usize {
        match self {
            AnyValue::Array(items) => 1 + items.iter().map(AnyValue::nesting).max().unwrap_or(0),
            AnyValue::KvList(entries) => {
                1 + entries
                    .iter()
                    .map(|(_, value)| value.nesting())
                    .max()
                    .unwrap_or(0)
            }
            AnyValue::TooDeep => usize::MAX / 2,
            _ => 0,
        }
    }

    /// The value of a field: scalars as themselves, bytes as base64, arrays and lists
    /// as JSON text; `None` for an empty value.
    pub fn to_field_value(&self) -> Option<Value> {
        Some(match self {
            AnyValue::Empty | AnyValue::TooDeep => return None,
            AnyValue::Str(text) => Value::Str(text.to_string()),
            AnyValue::Bool(flag) => Value::Bool(*flag),
            AnyValue::Int(int) => Value::Int(*int),
            AnyValue::Double(float) => Value::Float(*float),
            AnyValue::Bytes(bytes) => Value::Str(base64::encode(bytes)),
            AnyValue::Array(_) | AnyValue::KvList(_) => Value::Str(self.to_json()),
        })
    }

    /// A string as itself, anything else as its JSON text.
    pub fn to_text(&self) -> String {
        match self {
            AnyValue::Str(text) => text.to_string(),
            other => other.to_json(),
        }
    }

    /// Compact JSON, as protobuf's JSON mapping writes values: bytes in base64, lists
    /// as objects, non-finite doubles as `"NaN"`, `"Infinity"`, `"-Infinity"`.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            AnyValue::Empty | AnyValue::TooDeep => out.push_str("null"),
            AnyValue::Str(text) => push_json_string(out, text),
            AnyValue::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
            AnyValue::Int(int) => {
                let _ = write!(out, "{int}");
            }
            AnyValue::Double(float) => match serde_json::Number::from_f64(*float) {
                Some(number) => {
                    let _ = write!(out, "{number}");
                }
                None if float.is_nan() => out.push_str("\"NaN\""),
                None if *float > 0.0 => out.push_str("\"Infinity\""),
                None => out.push_str("\"-Infinity\""),
            },
            AnyValue::Bytes(bytes) => {
                out.push('"');
                out.push_str(&base64::encode(bytes));
                out.push('"');
            }
            AnyValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            AnyValue::KvList(entries) => write_json_object(out, entries),
        }
    }
}

/// A JSON string literal of `text`.
fn push_json_string(out: &mut String, text: &str) {
    // Serializing a str cannot fail.
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

/// Key/value pairs as a compact JSON object, in their order.
pub fn write_json_object(out: &mut String, entries: &[(Cow<'_, str>, AnyValue<'_>)]) {
    out.push('{');
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, key);
        out.push(':');
        value.write_json(out);
    }
    out.push('}');
}

pub fn too_deep(config: &LogConfig) -> LineError {
    LineError::new(
        "too_deep",
        format!(
            "the record nests deeper than {} levels (logs.max_depth)",
            config.max_depth
        ),
    )
}

pub fn too_many_fields(config: &LogConfig) -> LineError {
    LineError::new(
        "too_many_fields",
        format!(
            "the record has more than {} fields (logs.max_fields)",
            config.max_fields
        ),
    )
}

/// Flattens key/value pairs at nesting `depth` (1 for a record's attributes) into
/// `out` as dotted paths under `prefix`, as `normalize` flattens a JSON line: lists
/// become paths, arrays JSON text, empty values are dropped. Refuses nesting deeper than
/// `max_depth` and more than `max_fields` entries in `out`.
pub fn flatten(
    prefix: &str,
    entries: &[(Cow<'_, str>, AnyValue<'_>)],
    depth: usize,
    config: &LogConfig,
    out: &mut Vec<(String, Value)>,
) -> Result<(), LineError> {
    if depth > config.max_depth {
        return Err(too_deep(config));
    }
    for (key, value) in entries {
        let path = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            AnyValue::KvList(inner) => flatten(&path, inner, depth + 1, config, out)?,
            AnyValue::Array(_) | AnyValue::TooDeep
                if depth + value.nesting() > config.max_depth =>
            {
                return Err(too_deep(config));
            }
            other => {
                if let Some(field) = other.to_field_value() {
                    out.push((path, field));
                }
            }
        }
        if out.len() > config.max_fields {
            return Err(too_many_fields(config));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv<'a>(key: &'a str, value: AnyValue<'a>) -> (Cow<'a, str>, AnyValue<'a>) {
        (Cow::Borrowed(key), value)
    }

    fn str(text: &str) -> AnyValue<'_> {
        AnyValue::Str(Cow::Borrowed(text))
    }

    #[test]
    fn every_kind_renders_as_protobuf_json_does() {
        let value = AnyValue::KvList(vec![
            kv("s", str("a\"b")),
            kv("b", AnyValue::Bool(true)),
            kv("i", AnyValue::Int(-5)),
            kv("d", AnyValue::Double(1.5)),
            kv("nan", AnyValue::Double(f64::NAN)),
            kv("inf", AnyValue::Double(f64::NEG_INFINITY)),
            kv("bytes", AnyValue::Bytes(Cow::Borrowed(b"hi"))),
            kv(
                "arr",
                AnyValue::Array(vec![AnyValue::Int(1), AnyValue::Empty]),
            ),
            kv("empty", AnyValue::KvList(Vec::new())),
        ]);
        assert_eq!(
            value.to_json(),
            r#"{"s":"a\"b","b":true,"i":-5,"d":1.5,"nan":"NaN","inf":"-Infinity","bytes":"aGk=","arr":[1,null],"empty":{}}"#
        );
        assert_eq!(value.nesting(), 2);
    }

    #[test]
    fn flattening_follows_the_json_line_rules() {
        let entries = vec![
            kv(
                "http",
                AnyValue::KvList(vec![kv("status", AnyValue::Int(503))]),
            ),
            kv("tags", AnyValue::Array(vec![str("a"), str("b")])),
            kv("nothing", AnyValue::Empty),
            kv("raw", AnyValue::Bytes(Cow::Borrowed(&[0xff]))),
        ];
        let mut out = Vec::new();
        flatten("resource", &entries, 1, &LogConfig::default(), &mut out).expect("flattens");
        assert_eq!(
            out,
            [
                ("resource.http.status".to_owned(), Value::Int(503)),
                (
                    "resource.tags".to_owned(),
                    Value::Str(r#"["a","b"]"#.into())
                ),
                ("resource.raw".to_owned(), Value::Str("/w==".into())),
            ]
        );
    }

    #[test]
    fn limits_refuse_the_record() {
        let config = LogConfig {
            max_fields: 2,
            max_depth: 2,
            ..LogConfig::default()
        };
        let deep = vec![kv(
            "a",
            AnyValue::KvList(vec![kv("b", AnyValue::KvList(vec![kv("c", str("x"))]))]),
        )];
        let reason = |entries: &[(Cow<'_, str>, AnyValue<'_>)]| {
            flatten("", entries, 1, &config, &mut Vec::new())
                .expect_err("refused")
                .reason
        };
        assert_eq!(reason(&deep), "too_deep");
        let deep_array = vec![kv(
            "a",
            AnyValue::Array(vec![AnyValue::Array(vec![AnyValue::Int(1)])]),
        )];
        assert_eq!(reason(&deep_array), "too_deep");
        assert_eq!(reason(&[kv("a", AnyValue::TooDeep)]), "too_deep");
        let many = vec![
            kv("a", AnyValue::Int(1)),
            kv("b", AnyValue::Int(2)),
            kv("c", AnyValue::Int(3)),
        ];
        assert_eq!(reason(&many), "too_many_fields");
    }
}
