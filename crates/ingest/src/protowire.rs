//! A minimal reader of the protobuf wire format, for zero-copy decoders: fields are
//! visited in order, length-delimited fields come back as slices of the input.

/// The input is not valid protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf: {0}")]
pub struct WireError(pub &'static str);

/// One field's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    pub fn varint(self) -> Result<u64, WireError> {
        match self {
            Value::Varint(value) => Ok(value),
            _ => Err(WireError("expected a varint field")),
        }
    }

    pub fn fixed64(self) -> Result<u64, WireError> {
        match self {
            Value::Fixed64(value) => Ok(value),
            _ => Err(WireError("expected a fixed64 field")),
        }
    }

    pub fn bytes(self) -> Result<&'a [u8], WireError> {
        match self {
            Value::Bytes(bytes) => Ok(bytes),
            _ => Err(WireError("expected a length-delimited field")),
        }
    }

    /// A `string` field, checked for UTF-8.
    pub fn str(self) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| WireError("string is not valid UTF-8"))
    }
}

/// Iterates over `(field number, value)` pairs of one message.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Fields<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Fields { bytes, position: 0 }
    }

    /// Offset of the next field in the message.
    pub fn position(&self) -> usize {
        self.position
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.position)
                .ok_or(WireError("truncated varint"))?;
            self.position += 1;
            if shift == 63 && byte > 1 {
                return Err(WireError("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError("varint too long"))
    }

    fn take(&mut self, n_bytes: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .position
            .checked_add(n_bytes)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(WireError("field runs past the end of its message"))?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn field(&mut self) -> Result<(u32, Value<'a>), WireError> {
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| WireError("field number too large"))?;
        if number == 0 {
            return Err(WireError("field number 0"));
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let bytes = self.take(8)?;
                Value::Fixed64(u64::from_le_bytes(
                    bytes
                        .try_into()
                        .map_err(|_| WireError("truncated fixed64"))?,
                ))
            }
            2 => {
                let len =
                    usize::try_from(self.varint()?).map_err(|_| WireError("length too large"))?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let bytes = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes(
                    bytes
                        .try_into()
                        .map_err(|_| WireError("truncated fixed32"))?,
                ))
            }
            3 | 4 => return Err(WireError("groups are not supported")),
            _ => return Err(WireError("unknown wire type")),
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.bytes.len() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            // Stop after an error: the position is no longer meaningful.
            self.position = self.bytes.len();
        }
        Some(field)
    }
}

/// Reads a repeated `uint32`, packed (one length-delimited field) or not (one varint),
/// appending to `out`.
pub fn push_uint32s(value: Value<'_>, out: &mut Vec<u32>) -> Result<(), WireError> {
    let to_u32 = |v: u64| u32::try_from(v).map_err(|_| WireError("uint32 out of range"));
    match value {
        Value::Varint(v) => out.push(to_u32(v)?),
        Value::Bytes(packed) => {
            let mut reader = Fields::new(packed);
            while reader.position < packed.len() {
                out.push(to_u32(reader.varint()?)?);
            }
        }
        _ => return Err(WireError("expected uint32 values")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_wire_type_and_rejects_truncation() {
        // field 1 varint 150, field 2 bytes "hi", field 3 fixed64 1, field 4 fixed32 7
        let bytes = [
            0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i', 0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x25, 7, 0, 0,
            0,
        ];
        let fields: Vec<_> = Fields::new(&bytes)
            .collect::<Result<_, _>>()
            .expect("valid");
        assert_eq!(
            fields,
            [
                (1, Value::Varint(150)),
                (2, Value::Bytes(b"hi")),
                (3, Value::Fixed64(1)),
                (4, Value::Fixed32(7))
            ]
        );
        for cut in 1..bytes.len() {
            let result: Result<Vec<_>, _> = Fields::new(&bytes[..cut]).collect();
            if ![3, 7, 16].contains(&cut) {
                assert!(result.is_err(), "cut at {cut}");
            }
        }
        assert_eq!(
            Fields::new(&[0x12, 0x05, b'a']).next(),
            Some(Err(WireError("field runs past the end of its message")))
        );
        assert_eq!(
            Fields::new(&[0x0b]).next(),
            Some(Err(WireError("groups are not supported")))
        );
    }

    #[test]
    fn packed_and_unpacked_uint32s() {
        let mut out = Vec::new();
        push_uint32s(Value::Bytes(&[1, 0x96, 0x01, 3]), &mut out).expect("packed");
        push_uint32s(Value::Varint(9), &mut out).expect("unpacked");
        assert_eq!(out, [1, 150, 3, 9]);
        assert!(push_uint32s(Value::Varint(1 << 40), &mut out).is_err());
    }
}
