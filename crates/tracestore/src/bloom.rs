//! A block's filter of the trace ids it holds, so a lookup opens only the blocks that
//! may hold the trace: a split-free Bloom filter of `bits` bits probed `K` times by
//! double hashing of the id's xxh3 hash. 10 bits per trace gives about 1% false
//! positives.
//!
//! On disk: `u32` number of 64-bit words (little endian), then the words.

use model::TraceId;
use wal::codec::Corrupt;
use xxhash_rust::xxh3::xxh3_128;

const K: u64 = 7;
const BITS_PER_TRACE: usize = 10;
/// A filter over this many words is corrupt (16 GiB of bits).
const MAX_WORDS: usize = 1 << 28;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceBloom {
    words: Vec<u64>,
}

impl TraceBloom {
    /// An empty filter sized for `n_traces` ids.
    pub fn with_capacity(n_traces: usize) -> Self {
        let bits = (n_traces.max(1) * BITS_PER_TRACE)
            .next_power_of_two()
            .max(64);
        TraceBloom {
            words: vec![0; bits / 64],
        }
    }

    fn probes(&self, id: &TraceId) -> impl Iterator<Item = usize> {
        let hash = xxh3_128(id.as_bytes());
        let first = hash as u64;
        let step = ((hash >> 64) as u64) | 1;
        let mask = (self.words.len() as u64 * 64) - 1;
        (0..K).map(move |i| (first.wrapping_add(i.wrapping_mul(step)) & mask) as usize)
    }

    pub fn insert(&mut self, id: &TraceId) {
        let probes: Vec<usize> = self.probes(id).collect();
        for bit in probes {
            self.words[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// False only when the id was never inserted.
    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.probes(id)
            .all(|bit| self.words[bit / 64] & (1 << (bit % 64)) != 0)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.words.len() * 8);
        out.extend_from_slice(&(self.words.len() as u32).to_le_bytes());
        for word in &self.words {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, Corrupt> {
        let (count, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or(Corrupt("bloom filter too short"))?;
        let count = u32::from_le_bytes(*count) as usize;
        if count == 0 || !count.is_power_of_two() || count > MAX_WORDS {
            return Err(Corrupt("bloom filter size is not a power of two"));
        }
        if rest.len() != count * 8 {
            return Err(Corrupt("bloom filter length does not match its size"));
        }
        let words = rest
            .chunks_exact(8)
            .map(|chunk| {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                u64::from_le_bytes(word)
            })
            .collect();
        Ok(TraceBloom { words })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> TraceId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        bytes[8] = 1;
        TraceId::from_bytes(&bytes).expect("id")
    }

    #[test]
    fn holds_what_was_inserted_and_rarely_more() {
        let mut bloom = TraceBloom::with_capacity(10_000);
        for n in 0..10_000 {
            bloom.insert(&id(n));
        }
        assert!((0..10_000).all(|n| bloom.may_contain(&id(n))));
        let false_positives = (10_000..110_000)
            .filter(|&n| bloom.may_contain(&id(n)))
            .count();
        // 10 bits per id, rounded up to a power of two: well under 2%.
        assert!(false_positives < 2_000, "{false_positives} false positives");
        let decoded = TraceBloom::decode(&bloom.encode()).expect("decodes");
        assert_eq!(decoded, bloom);
    }

    #[test]
    fn damage_is_an_error() {
        let bloom = TraceBloom::with_capacity(3);
        let bytes = bloom.encode();
        assert!(TraceBloom::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(TraceBloom::decode(&[3, 0, 0, 0]).is_err());
        assert!(TraceBloom::decode(&[]).is_err());
    }
}
