//! Bit-level writer and reader, most significant bit first.

/// Appends bits to a byte vector.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits still free in the last byte (0 means start a new byte).
    free_bits: u8,
}

impl BitWriter {
    pub fn new() -> Self {
        BitWriter::default()
    }

    pub fn write_bit(&mut self, bit: bool) {
        if self.free_bits == 0 {
            self.bytes.push(0);
            self.free_bits = 8;
        }
        self.free_bits -= 1;
        if bit {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 1 << self.free_bits;
        }
    }

    /// Writes the low `n_bits` of `value` (n_bits <= 64), high bit first.
    pub fn write_bits(&mut self, value: u64, n_bits: u8) {
        let mut remaining = n_bits;
        while remaining > 0 {
            if self.free_bits == 0 {
                self.bytes.push(0);
                self.free_bits = 8;
            }
            let take = remaining.min(self.free_bits);
            let shift = remaining - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (self.free_bits - take);
            self.free_bits -= take;
            remaining -= take;
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len_bytes(&self) -> usize {
        self.bytes.len()
    }
}

/// Reads bits written by [`BitWriter`].
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Index of the next bit to read.
    position: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, position: 0 }
    }

    pub fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.position / 8)?;
        let bit = (byte >> (7 - self.position % 8)) & 1 == 1;
        self.position += 1;
        Some(bit)
    }

    /// Reads `n_bits` (<= 64) as the low bits of a u64.
    pub fn read_bits(&mut self, n_bits: u8) -> Option<u64> {
        if self.position + usize::from(n_bits) > self.bytes.len() * 8 {
            return None;
        }
        let mut value = 0u64;
        let mut remaining = n_bits;
        while remaining > 0 {
            let byte = self.bytes[self.position / 8];
            let offset = (self.position % 8) as u8;
            let available = 8 - offset;
            let take = remaining.min(available);
            let chunk = (byte >> (available - take)) & (((1u16 << take) - 1) as u8);
            value = (value << take) | u64::from(chunk);
            self.position += usize::from(take);
            remaining -= take;
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_across_byte_boundaries() {
        let mut writer = BitWriter::new();
        writer.write_bit(true);
        writer.write_bits(0b101, 3);
        writer.write_bits(u64::MAX, 64);
        writer.write_bits(0x1234, 14);
        writer.write_bit(false);
        let mut reader = BitReader::new(writer.bytes());
        assert_eq!(reader.read_bit(), Some(true));
        assert_eq!(reader.read_bits(3), Some(0b101));
        assert_eq!(reader.read_bits(64), Some(u64::MAX));
        assert_eq!(reader.read_bits(14), Some(0x1234));
        assert_eq!(reader.read_bit(), Some(false));
        // 1 + 3 + 64 + 14 + 1 = 83 bits -> 11 bytes; 5 padding bits remain, no more.
        assert_eq!(writer.len_bytes(), 11);
        assert!(reader.read_bits(6).is_none());
    }
}
