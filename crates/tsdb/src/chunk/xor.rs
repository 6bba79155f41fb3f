//! The Gorilla XOR chunk (Pelkonen et al., VLDB 2015) as Prometheus uses it.
//!
//! Layout: the first sample's timestamp and value as 64 raw bits each; after that each
//! timestamp as a delta-of-delta in one of five buckets (`0`, `10`+14 bits, `110`+17,
//! `1110`+20, `1111`+64) and each value XORed with the previous one (`0` for equal,
//! `10`+bits reusing the previous leading/trailing-zero window, `11`+5 bits of leading
//! zeros+6 bits of length+bits). Arithmetic wraps, so any strictly increasing sequence
//! of `i64` timestamps round-trips, however large its jumps.

use super::bits::{BitReader, BitWriter};

const DOD_BUCKETS: [(u64, u8, u8); 3] = [
    // (prefix bits, prefix length, value bits)
    (0b10, 2, 14),
    (0b110, 3, 17),
    (0b1110, 4, 20),
];

/// An append-only compressed run of samples with increasing timestamps.
#[derive(Debug, Clone, Default)]
pub struct XorChunk {
    writer: BitWriter,
    n_samples: u16,
    first_ts: i64,
    last_ts: i64,
    last_delta: i64,
    last_value_bits: u64,
    /// Leading zeros of the current XOR window; `None` before the first windowed value.
    window: Option<(u8, u8)>,
}

impl XorChunk {
    pub fn new() -> Self {
        XorChunk::default()
    }

    pub fn len(&self) -> u16 {
        self.n_samples
    }

    pub fn is_empty(&self) -> bool {
        self.n_samples == 0
    }

    pub fn min_time(&self) -> i64 {
        self.first_ts
    }

    pub fn max_time(&self) -> i64 {
        self.last_ts
    }

    /// Encoded size, for memory accounting.
    pub fn byte_size(&self) -> usize {
        self.writer.len_bytes()
    }

    pub fn last_value_bits(&self) -> u64 {
        self.last_value_bits
    }

    /// Appends a sample. The caller guarantees `timestamp` is greater than
    /// [`XorChunk::max_time`] when the chunk is not empty.
    pub fn append(&mut self, timestamp: i64, value: f64) {
        let value_bits = value.to_bits();
        match self.n_samples {
            0 => {
                self.writer.write_bits(timestamp as u64, 64);
                self.writer.write_bits(value_bits, 64);
                self.first_ts = timestamp;
            }
            _ => {
                let delta = timestamp.wrapping_sub(self.last_ts);
                let dod = delta.wrapping_sub(self.last_delta);
                self.write_dod(dod);
                self.write_value(value_bits);
                self.last_delta = delta;
            }
        }
        self.last_ts = timestamp;
        self.last_value_bits = value_bits;
        self.n_samples += 1;
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.writer.write_bit(false);
            return;
        }
        for (prefix, prefix_len, value_bits) in DOD_BUCKETS {
            let limit = 1i64 << (value_bits - 1);
            if (-limit..limit).contains(&dod) {
                self.writer.write_bits(prefix, prefix_len);
                self.writer
                    .write_bits(dod as u64 & ((1u64 << value_bits) - 1), value_bits);
                return;
            }
        }
        self.writer.write_bits(0b1111, 4);
        self.writer.write_bits(dod as u64, 64);
    }

    fn write_value(&mut self, value_bits: u64) {
        let xor = value_bits ^ self.last_value_bits;
        if xor == 0 {
            self.writer.write_bit(false);
            return;
        }
        self.writer.write_bit(true);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        match self.window {
            Some((window_leading, window_trailing))
                if leading >= window_leading && trailing >= window_trailing =>
            {
                self.writer.write_bit(false);
                let n_bits = 64 - window_leading - window_trailing;
                self.writer.write_bits(xor >> window_trailing, n_bits);
            }
            _ => {
                self.writer.write_bit(true);
                let n_bits = 64 - leading - trailing;
                self.writer.write_bits(u64::from(leading), 5);
                // 64 significant bits do not fit in 6 bits; 0 stands for 64.
                self.writer.write_bits(u64::from(n_bits) & 0x3f, 6);
                self.writer.write_bits(xor >> trailing, n_bits);
                self.window = Some((leading, trailing));
            }
        }
    }

    pub fn iter(&self) -> XorIter<'_> {
        XorIter {
            reader: BitReader::new(self.writer.bytes()),
            remaining: self.n_samples,
            index: 0,
            timestamp: 0,
            delta: 0,
            value_bits: 0,
            window: (0, 0),
        }
    }
}

/// Decodes a chunk's samples in order.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    reader: BitReader<'a>,
    remaining: u16,
    index: u16,
    timestamp: i64,
    delta: i64,
    value_bits: u64,
    window: (u8, u8),
}

impl XorIter<'_> {
    fn read_dod(&mut self) -> Option<i64> {
        if !self.reader.read_bit()? {
            return Some(0);
        }
        for (_, _, value_bits) in DOD_BUCKETS {
            // Each further '1' moves to the next bucket; a '0' ends the prefix.
            if !self.reader.read_bit()? {
                let raw = self.reader.read_bits(value_bits)?;
                let shift = 64 - value_bits;
                return Some(((raw << shift) as i64) >> shift);
            }
        }
        self.reader.read_bits(64).map(|raw| raw as i64)
    }

    fn read_value(&mut self) -> Option<u64> {
        if !self.reader.read_bit()? {
            return Some(self.value_bits);
        }
        if self.reader.read_bit()? {
            let leading = self.reader.read_bits(5)? as u8;
            let mut n_bits = self.reader.read_bits(6)? as u8;
            if n_bits == 0 {
                n_bits = 64;
            }
            self.window = (leading, 64 - leading - n_bits);
        }
        let (leading, trailing) = self.window;
        let n_bits = 64 - leading - trailing;
        let xor = self.reader.read_bits(n_bits)? << trailing;
        Some(self.value_bits ^ xor)
    }
}

impl Iterator for XorIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        if self.index == 0 {
            self.timestamp = self.reader.read_bits(64)? as i64;
            self.value_bits = self.reader.read_bits(64)?;
        } else {
            let dod = self.read_dod()?;
            self.delta = self.delta.wrapping_add(dod);
            self.timestamp = self.timestamp.wrapping_add(self.delta);
            self.value_bits = self.read_value()?;
        }
        self.index += 1;
        self.remaining -= 1;
        Some((self.timestamp, f64::from_bits(self.value_bits)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (
            usize::from(self.remaining),
            Some(usize::from(self.remaining)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::sample::STALE_NAN_BITS;
    use proptest::prelude::*;

    fn round_trip(samples: &[(i64, u64)]) {
        let mut chunk = XorChunk::new();
        for &(timestamp, bits) in samples {
            chunk.append(timestamp, f64::from_bits(bits));
        }
        let decoded: Vec<(i64, u64)> = chunk.iter().map(|(t, v)| (t, v.to_bits())).collect();
        assert_eq!(decoded, samples);
    }

    #[test]
    fn special_values_and_jumps_round_trip_bit_exact() {
        round_trip(&[
            (i64::MIN, 0),
            (i64::MIN + 1, f64::NAN.to_bits()),
            (-5, STALE_NAN_BITS),
            (0, f64::INFINITY.to_bits()),
            (1, f64::NEG_INFINITY.to_bits()),
            (15_000, (-0.0f64).to_bits()),
            (30_000, 0.0f64.to_bits()),
            (30_001, 1.5f64.to_bits()),
            (1 << 40, u64::MAX),
            (i64::MAX - 1, 1),
            (i64::MAX, 0x8000_0000_0000_0000),
        ]);
    }

    #[test]
    fn regular_scrapes_compress_to_about_a_bit_per_timestamp() {
        let mut chunk = XorChunk::new();
        for idx in 0..120 {
            chunk.append(1_700_000_000_000 + idx * 15_000, 42.0);
        }
        // 16 bytes for the first sample, then 2 bits per sample (dod 0, xor 0) after the
        // second, whose delta needs 20 bits.
        assert!(
            chunk.byte_size() < 16 + 4 + 31,
            "{} bytes",
            chunk.byte_size()
        );
    }

    proptest! {
        #[test]
        fn any_increasing_series_round_trips(
            start in any::<i64>(),
            steps in proptest::collection::vec((1u64..u64::MAX / 256, any::<u64>(), 0u8..4), 0..300),
        ) {
            let mut samples = Vec::new();
            let mut timestamp = start;
            for (step, bits, kind) in steps {
                let Some(next) = timestamp.checked_add_unsigned(step) else { break };
                timestamp = next;
                // Mix raw bit patterns with values that repeat or change slightly.
                let bits = match (kind, samples.last()) {
                    (0, Some(&(_, previous))) => previous,
                    (1, Some(&(_, previous))) => previous ^ (bits & 0xff),
                    (2, _) => STALE_NAN_BITS,
                    _ => bits,
                };
                samples.push((timestamp, bits));
            }
            round_trip(&samples);
        }
    }
}
