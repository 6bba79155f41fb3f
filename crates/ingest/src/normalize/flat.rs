//! Parses a JSON object line straight into its flattened fields: dotted paths in the
//! line's order, scalars as values, arrays kept whole. One pass, no intermediate map: a
//! line's keys are read borrowed from the line where they need no unescaping, and nested
//! objects never exist as values of their own.
//!
//! A key written twice keeps both values, in order (the first is the one normalization
//! reads).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use super::{LineError, LogConfig, nesting, parse_error, too_deep, too_many_fields};

/// The fields of an object line. The caller has checked that the line starts with `{`.
pub(super) fn parse(text: &str, config: &LogConfig) -> Result<Vec<(String, Json)>, LineError> {
    let mut flat = Flat {
        config,
        fields: Vec::with_capacity(24),
        refused: None,
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = Object {
        flat: &mut flat,
        prefix: "",
        depth: 1,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    if let Some(refused) = flat.refused {
        return Err(refused);
    }
    parse_error(parsed, config)?;
    Ok(flat.fields)
}

struct Flat<'c> {
    config: &'c LogConfig,
    fields: Vec<(String, Json)>,
    /// Why the line was refused, when a limit stopped the parse (the parser's own error
    /// then only says that it stopped).
    refused: Option<LineError>,
}

impl Flat<'_> {
    fn refuse<E: de::Error>(&mut self, error: LineError) -> E {
        let message = error.message.clone();
        self.refused = Some(error);
        E::custom(message)
    }

    fn push<E: de::Error>(&mut self, path: String, value: Json) -> Result<(), E> {
        self.fields.push((path, value));
        if self.fields.len() > self.config.max_fields {
            return Err(self.refuse(too_many_fields(self.config)));
        }
        Ok(())
    }
}

/// An object whose members are flattened under `prefix`.
struct Object<'f, 'c> {
    flat: &'f mut Flat<'c>,
    prefix: &'f str,
    /// 1 for the line itself.
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Object<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Object<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth > self.flat.config.max_depth {
            return Err(self.flat.refuse(too_deep(self.flat.config)));
        }
        while let Some(key) = map.next_key_seed(Key)? {
            let path = if self.prefix.is_empty() {
                key.into_owned()
            } else {
                format!("{}.{key}", self.prefix)
            };
            map.next_value_seed(Member {
                flat: &mut *self.flat,
                path,
                depth: self.depth,
            })?;
        }
        Ok(())
    }
}

/// A key, borrowed from the line unless it has escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key))
    }
}

/// The value of a member at `path`, in an object at `depth`.
struct Member<'f, 'c> {
    flat: &'f mut Flat<'c>,
    path: String,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Member<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Member<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        Object {
            flat: self.flat,
            prefix: &self.path,
            depth: self.depth + 1,
        }
        .visit_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        let array = Json::Array(items);
        if self.depth + nesting(&array) > self.flat.config.max_depth {
            return Err(self.flat.refuse(too_deep(self.flat.config)));
        }
        self.flat.push(self.path, array)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        self.flat.push(self.path, Json::String(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<(), E> {
        self.flat.push(self.path, Json::String(text))
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<(), E> {
        self.flat.push(self.path, Json::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, int: i64) -> Result<(), E> {
        self.flat.push(self.path, Json::from(int))
    }

    fn visit_u64<E: de::Error>(self, int: u64) -> Result<(), E> {
        self.flat.push(self.path, Json::from(int))
    }

    fn visit_f64<E: de::Error>(self, float: f64) -> Result<(), E> {
        self.flat.push(self.path, Json::from(float))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.flat.push(self.path, Json::Null)
    }
}
