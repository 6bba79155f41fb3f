//! Trace and span ids: the keys that tie spans, logs and exemplars together.
//!
//! Both are fixed-size byte strings, printed as lowercase hex. An all-zero id is invalid
//! (W3C Trace Context and OTLP both say so).

use std::fmt;

use crate::Error;

/// A 16-byte trace id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId([u8; 16]);

/// An 8-byte span id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId([u8; 8]);

impl TraceId {
    /// From raw bytes, as OTLP carries them: exactly 16, not all zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let array = fixed_bytes::<16>("trace id", bytes)?;
        Ok(TraceId(array))
    }

    /// From hex. 32 digits is the W3C form; 16 digits (a 64-bit id from older Zipkin
    /// or Jaeger clients) is widened with leading zeros. Case is ignored.
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        let array = parse_hex::<16>("trace id", hex, &[32, 16])?;
        Ok(TraceId(array))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Lowercase hex without allocating (the same text as `to_string`).
    pub fn hex(&self) -> HexId<32> {
        HexId::of(&self.0)
    }
}

impl SpanId {
    /// From raw bytes: exactly 8, not all zero.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let array = fixed_bytes::<8>("span id", bytes)?;
        Ok(SpanId(array))
    }

    /// From 16 hex digits, case ignored.
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        let array = parse_hex::<8>("span id", hex, &[16])?;
        Ok(SpanId(array))
    }

    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// Lowercase hex without allocating (the same text as `to_string`).
    pub fn hex(&self) -> HexId<16> {
        HexId::of(&self.0)
    }
}

/// An id's lowercase hex digits, kept on the stack for paths that run once per line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexId<const DIGITS: usize>([u8; DIGITS]);

impl<const DIGITS: usize> HexId<DIGITS> {
    fn of(bytes: &[u8]) -> Self {
        let mut digits = [0u8; DIGITS];
        for (pair, byte) in digits.chunks_exact_mut(2).zip(bytes) {
            pair[0] = b"0123456789abcdef"[usize::from(byte >> 4)];
            pair[1] = b"0123456789abcdef"[usize::from(byte & 0xf)];
        }
        HexId(digits)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const DIGITS: usize> fmt::Debug for HexId<DIGITS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn fixed_bytes<const N: usize>(what: &'static str, bytes: &[u8]) -> Result<[u8; N], Error> {
    let array: [u8; N] = bytes.try_into().map_err(|_| Error::InvalidId {
        what,
        input: to_hex(bytes),
        reason: if N == 16 {
            "it must be 16 bytes long"
        } else {
            "it must be 8 bytes long"
        },
    })?;
    reject_all_zero(what, &array)?;
    Ok(array)
}

fn parse_hex<const N: usize>(
    what: &'static str,
    hex: &str,
    accepted_digit_counts: &[usize],
) -> Result<[u8; N], Error> {
    let invalid = |reason| Error::InvalidId {
        what,
        input: hex.to_owned(),
        reason,
    };
    if !accepted_digit_counts.contains(&hex.len()) {
        return Err(invalid(if N == 16 {
            "it must be 32 hex digits (or 16 for a 64-bit id)"
        } else {
            "it must be 16 hex digits"
        }));
    }
    let mut array = [0u8; N];
    let offset = N - hex.len() / 2;
    for (idx, pair) in hex.as_bytes().chunks_exact(2).enumerate() {
        let high = hex_digit(pair[0]).ok_or_else(|| invalid("it has a non-hex character"))?;
        let low = hex_digit(pair[1]).ok_or_else(|| invalid("it has a non-hex character"))?;
        array[offset + idx] = (high << 4) | low;
    }
    reject_all_zero(what, &array)?;
    Ok(array)
}

fn reject_all_zero(what: &'static str, bytes: &[u8]) -> Result<(), Error> {
    if bytes.iter().all(|&b| b == 0) {
        return Err(Error::InvalidId {
            what,
            input: to_hex(bytes),
            reason: "an all-zero id is invalid",
        });
    }
    Ok(())
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    out
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_is_lowercase() {
        let id = TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736").expect("valid");
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let span = SpanId::from_hex("00f067aa0ba902b7").expect("valid");
        assert_eq!(span.to_string(), "00f067aa0ba902b7");
        assert_eq!(id.hex().as_str(), id.to_string());
        assert_eq!(span.hex().as_str(), span.to_string());
    }

    #[test]
    fn sixty_four_bit_trace_ids_are_widened() {
        let id = TraceId::from_hex("a3ce929d0e0e4736").expect("valid");
        assert_eq!(id.to_string(), "0000000000000000a3ce929d0e0e4736");
    }

    #[test]
    fn rejects_bad_ids_naming_them() {
        let cases = [
            (
                "00000000000000000000000000000000",
                "an all-zero id is invalid",
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e473",
                "it must be 32 hex digits",
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e473g",
                "it has a non-hex character",
            ),
        ];
        for (input, reason) in cases {
            let err = TraceId::from_hex(input).expect_err(input).to_string();
            assert!(err.contains(input) && err.contains(reason), "{err}");
        }
        let err = TraceId::from_bytes(&[1, 2, 3])
            .expect_err("short")
            .to_string();
        assert_eq!(
            err,
            r#"trace id "010203" is not valid: it must be 16 bytes long"#
        );
        assert!(SpanId::from_bytes(&[0; 8]).is_err());
        assert!(SpanId::from_bytes(&[0, 0, 0, 0, 0, 0, 0, 1]).is_ok());
    }
}
