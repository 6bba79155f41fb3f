//! Varints and a bounds-checked decoder for record payloads and the stores' file formats,
//! and the one encoding of attribute lists (`model::Value`s under string keys) that the
//! log and trace stores share.
//!
//! Every read returns [`Corrupt`] instead of panicking, so damaged files are reported,
//! never trusted.

use model::Value;

const VALUE_STR: u8 = 0;
const VALUE_INT: u8 = 1;
const VALUE_FLOAT: u8 = 2;
const VALUE_BOOL: u8 = 3;

/// Damaged or truncated encoded data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("encoded data is corrupt: {0}")]
pub struct Corrupt(pub &'static str);

pub fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Zigzag-encoded signed varint.
pub fn put_varint(out: &mut Vec<u8>, value: i64) {
    put_uvarint(out, ((value << 1) ^ (value >> 63)) as u64);
}

pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_uvarint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// An attribute list: the count, then each key and its tagged value.
pub fn put_attributes(out: &mut Vec<u8>, attributes: &[(String, Value)]) {
    put_uvarint(out, attributes.len() as u64);
    for (key, value) in attributes {
        put_bytes(out, key.as_bytes());
        match value {
            Value::Str(text) => {
                out.push(VALUE_STR);
                put_bytes(out, text.as_bytes());
            }
            Value::Int(int) => {
                out.push(VALUE_INT);
                put_varint(out, *int);
            }
            Value::Float(float) => {
                out.push(VALUE_FLOAT);
                out.extend_from_slice(&float.to_bits().to_le_bytes());
            }
            Value::Bool(flag) => {
                out.push(VALUE_BOOL);
                out.push(u8::from(*flag));
            }
        }
    }
}

pub fn uvarint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Reads what the `put_*` functions wrote.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder { bytes, position: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.position >= self.bytes.len()
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn u8(&mut self) -> Result<u8, Corrupt> {
        let byte = *self
            .bytes
            .get(self.position)
            .ok_or(Corrupt("unexpected end"))?;
        self.position += 1;
        Ok(byte)
    }

    pub fn u64_le(&mut self) -> Result<u64, Corrupt> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(
            bytes.try_into().map_err(|_| Corrupt("unexpected end"))?,
        ))
    }

    pub fn uvarint(&mut self) -> Result<u64, Corrupt> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            if shift == 63 && byte > 1 {
                return Err(Corrupt("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(Corrupt("varint longer than 10 bytes"))
    }

    pub fn varint(&mut self) -> Result<i64, Corrupt> {
        let raw = self.uvarint()?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// A `uvarint` that must fit in `usize` and not exceed `max`.
    pub fn len(&mut self, max: usize) -> Result<usize, Corrupt> {
        let value = self.uvarint()?;
        usize::try_from(value)
            .ok()
            .filter(|&len| len <= max)
            .ok_or(Corrupt("length out of range"))
    }

    pub fn take(&mut self, n_bytes: usize) -> Result<&'a [u8], Corrupt> {
        let end = self
            .position
            .checked_add(n_bytes)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(Corrupt("unexpected end"))?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], Corrupt> {
        let remaining = self.bytes.len() - self.position;
        let len = self.len(remaining)?;
        self.take(len)
    }

    pub fn str(&mut self) -> Result<&'a str, Corrupt> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Corrupt("invalid UTF-8"))
    }

    /// What [`put_attributes`] wrote.
    pub fn attributes(&mut self) -> Result<Vec<(String, Value)>, Corrupt> {
        // Every attribute takes at least 3 bytes: a count the rest cannot hold is corrupt.
        let remaining = self.bytes.len() - self.position;
        let count = self.len(remaining / 3)?;
        let mut attributes = Vec::with_capacity(count);
        for _ in 0..count {
            let key = self.str()?.to_owned();
            let value = match self.u8()? {
                VALUE_STR => Value::Str(self.str()?.to_owned()),
                VALUE_INT => Value::Int(self.varint()?),
                VALUE_FLOAT => Value::Float(f64::from_bits(self.u64_le()?)),
                VALUE_BOOL => Value::Bool(self.u8()? != 0),
                _ => return Err(Corrupt("unknown value type")),
            };
            attributes.push((key, value));
        }
        Ok(attributes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(unsigned in any::<u64>(), signed in any::<i64>(), text in ".*") {
            let mut out = Vec::new();
            put_uvarint(&mut out, unsigned);
            prop_assert_eq!(out.len(), uvarint_len(unsigned));
            put_varint(&mut out, signed);
            put_bytes(&mut out, text.as_bytes());
            let mut decoder = Decoder::new(&out);
            prop_assert_eq!(decoder.uvarint(), Ok(unsigned));
            prop_assert_eq!(decoder.varint(), Ok(signed));
            prop_assert_eq!(decoder.str(), Ok(text.as_str()));
            prop_assert!(decoder.is_empty());
        }

        #[test]
        fn attributes_round_trip(key in ".*", text in ".*", int in any::<i64>(), float in any::<f64>(), flag in any::<bool>()) {
            let attributes = vec![
                (key.clone(), Value::Str(text)),
                (key.clone(), Value::Int(int)),
                (key.clone(), Value::Float(float)),
                (key, Value::Bool(flag)),
            ];
            let mut out = Vec::new();
            put_attributes(&mut out, &attributes);
            let decoded = Decoder::new(&out).attributes().expect("decodes");
            // Floats compare by bits so NaN round-trips too.
            prop_assert_eq!(format!("{decoded:?}"), format!("{attributes:?}"));
            for cut in 0..out.len() {
                prop_assert!(Decoder::new(&out[..cut]).attributes().is_err());
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut decoder = Decoder::new(&bytes);
            while decoder.uvarint().is_ok() && decoder.str().is_ok() {}
        }
    }

    #[test]
    fn overlong_varint_is_corrupt() {
        let mut decoder = Decoder::new(&[0xff; 11]);
        assert!(decoder.uvarint().is_err());
        let mut decoder =
            Decoder::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
        assert_eq!(decoder.uvarint(), Err(Corrupt("varint overflows 64 bits")));
    }
}
