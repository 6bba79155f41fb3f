//! How one chunk of one series is encoded inside a block (before page compression).
//!
//! ```text
//! n (uvarint) | t0 (varint) | t1 - t0 (uvarint) | dod (varint)*          timestamps
//! mode (u8) | ...                                                       values
//!   mode 0 XOR:      Gorilla XOR bit stream, length-prefixed
//!   mode 1 DELTA:    exponent (u8) | int0 (varint) | (int_i - int_{i-1}) (varint)*
//!   mode 2 DOD:      exponent (u8) | int0 (varint) | delta1 (varint) | dod (varint)*
//!   mode 3 CONSTANT: exponent (u8) | int0 (varint)
//! ```
//! Decimal modes store `value = int / 10^exponent`, chosen only when that reproduces
//! every value bit for bit; so counters (integers) and gauges with few decimals become
//! small integers whose deltas zstd then compresses well. Anything else (NaN, infinities,
//! stale markers, -0.0, values with many digits) falls back to XOR.

use crate::chunk::bits::{BitReader, BitWriter};
use crate::encoding::{Corrupt, Decoder, put_bytes, put_uvarint, put_varint, uvarint_len, zigzag};

const MODE_XOR: u8 = 0;
const MODE_DELTA: u8 = 1;
const MODE_DOD: u8 = 2;
const MODE_CONSTANT: u8 = 3;

const MAX_EXPONENT: usize = 18;
const POW10: [f64; MAX_EXPONENT + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];
/// Above this the integer no longer converts to f64 exactly.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// Most samples a decoder will accept in one chunk.
pub const MAX_CHUNK_SAMPLES: usize = 1 << 20;

fn decode_decimal(int: i64, exponent: usize) -> f64 {
    int as f64 / POW10[exponent]
}

/// The smallest exponent at which `value` is an exact decimal, and that integer.
fn decimal_exponent(value: f64) -> Option<usize> {
    if !value.is_finite() {
        return None;
    }
    for (exponent, &pow) in POW10.iter().enumerate() {
        let scaled = (value * pow).round();
        if scaled.abs() >= MAX_EXACT_INT {
            return None;
        }
        if decode_decimal(scaled as i64, exponent).to_bits() == value.to_bits() {
            return Some(exponent);
        }
    }
    None
}

/// All values as integers at one exponent, if every value survives the round trip.
fn as_decimals(values: impl Iterator<Item = f64> + Clone) -> Option<(usize, Vec<i64>)> {
    let mut exponent = 0;
    for value in values.clone() {
        exponent = exponent.max(decimal_exponent(value)?);
    }
    let pow = POW10[exponent];
    let mut ints = Vec::new();
    for value in values {
        let scaled = (value * pow).round();
        if scaled.abs() >= MAX_EXACT_INT {
            return None;
        }
        let int = scaled as i64;
        if decode_decimal(int, exponent).to_bits() != value.to_bits() {
            return None;
        }
        ints.push(int);
    }
    Some((exponent, ints))
}

/// Appends the encoding of `samples` (sorted by time, unique timestamps, at least one).
pub fn encode(samples: &[(i64, f64)], out: &mut Vec<u8>) {
    put_uvarint(out, samples.len() as u64);
    let Some(&(t0, _)) = samples.first() else {
        return;
    };
    put_varint(out, t0);
    let mut previous_delta = 0i64;
    for (idx, pair) in samples.windows(2).enumerate() {
        let delta = pair[1].0.wrapping_sub(pair[0].0);
        if idx == 0 {
            put_uvarint(out, delta as u64);
        } else {
            put_varint(out, delta.wrapping_sub(previous_delta));
        }
        previous_delta = delta;
    }
    match as_decimals(samples.iter().map(|&(_, v)| v)) {
        Some((exponent, ints)) => encode_ints(exponent, &ints, out),
        None => encode_xor(samples, out),
    }
}

fn encode_ints(exponent: usize, ints: &[i64], out: &mut Vec<u8>) {
    let deltas: Vec<i64> = ints
        .windows(2)
        .map(|pair| pair[1].wrapping_sub(pair[0]))
        .collect();
    if deltas.iter().all(|&delta| delta == 0) {
        out.push(MODE_CONSTANT);
        out.push(exponent as u8);
        put_varint(out, ints[0]);
        return;
    }
    let dods: Vec<i64> = deltas
        .windows(2)
        .map(|pair| pair[1].wrapping_sub(pair[0]))
        .collect();
    let cost = |values: &[i64]| -> usize { values.iter().map(|&v| uvarint_len(zigzag(v))).sum() };
    let use_dod = cost(&dods) + uvarint_len(zigzag(deltas[0])) < cost(&deltas);
    out.push(if use_dod { MODE_DOD } else { MODE_DELTA });
    out.push(exponent as u8);
    put_varint(out, ints[0]);
    if use_dod {
        put_varint(out, deltas[0]);
        dods.iter().for_each(|&dod| put_varint(out, dod));
    } else {
        deltas.iter().for_each(|&delta| put_varint(out, delta));
    }
}

fn encode_xor(samples: &[(i64, f64)], out: &mut Vec<u8>) {
    out.push(MODE_XOR);
    let mut writer = BitWriter::new();
    let mut previous = 0u64;
    let mut window: Option<(u8, u8)> = None;
    for (idx, &(_, value)) in samples.iter().enumerate() {
        let bits = value.to_bits();
        if idx == 0 {
            writer.write_bits(bits, 64);
            previous = bits;
            continue;
        }
        let xor = bits ^ previous;
        previous = bits;
        if xor == 0 {
            writer.write_bit(false);
            continue;
        }
        writer.write_bit(true);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        match window {
            Some((wl, wt)) if leading >= wl && trailing >= wt => {
                writer.write_bit(false);
                writer.write_bits(xor >> wt, 64 - wl - wt);
            }
            _ => {
                writer.write_bit(true);
                let n_bits = 64 - leading - trailing;
                writer.write_bits(u64::from(leading), 5);
                writer.write_bits(u64::from(n_bits) & 0x3f, 6);
                writer.write_bits(xor >> trailing, n_bits);
                window = Some((leading, trailing));
            }
        }
    }
    put_bytes(out, writer.bytes());
}

/// Decodes one chunk written by [`encode`].
pub fn decode(decoder: &mut Decoder<'_>) -> Result<Vec<(i64, f64)>, Corrupt> {
    let n = decoder.len(MAX_CHUNK_SAMPLES)?;
    let mut timestamps = Vec::with_capacity(n);
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut timestamp = decoder.varint()?;
    timestamps.push(timestamp);
    let mut delta = 0i64;
    for idx in 1..n {
        delta = if idx == 1 {
            decoder.uvarint()? as i64
        } else {
            delta.wrapping_add(decoder.varint()?)
        };
        timestamp = timestamp.wrapping_add(delta);
        timestamps.push(timestamp);
    }
    let values = match decoder.u8()? {
        MODE_XOR => decode_xor(decoder.bytes()?, n)?,
        mode @ (MODE_DELTA | MODE_DOD | MODE_CONSTANT) => {
            let exponent = usize::from(decoder.u8()?);
            if exponent > MAX_EXPONENT {
                return Err(Corrupt("decimal exponent out of range"));
            }
            let mut int = decoder.varint()?;
            let mut ints = Vec::with_capacity(n);
            ints.push(int);
            let mut delta = 0i64;
            for idx in 1..n {
                match mode {
                    MODE_CONSTANT => {}
                    MODE_DELTA => int = int.wrapping_add(decoder.varint()?),
                    _ => {
                        delta = if idx == 1 {
                            decoder.varint()?
                        } else {
                            delta.wrapping_add(decoder.varint()?)
                        };
                        int = int.wrapping_add(delta);
                    }
                }
                ints.push(int);
            }
            ints.into_iter()
                .map(|int| decode_decimal(int, exponent))
                .collect()
        }
        _ => return Err(Corrupt("unknown value encoding")),
    };
    Ok(timestamps.into_iter().zip(values).collect())
}

fn decode_xor(bytes: &[u8], n: usize) -> Result<Vec<f64>, Corrupt> {
    let end = Corrupt("value bits end early");
    let mut reader = BitReader::new(bytes);
    let mut values = Vec::with_capacity(n);
    let mut bits = reader.read_bits(64).ok_or(end)?;
    values.push(f64::from_bits(bits));
    let mut window = (0u8, 0u8);
    for _ in 1..n {
        if reader.read_bit().ok_or(end)? {
            if reader.read_bit().ok_or(end)? {
                let leading = reader.read_bits(5).ok_or(end)? as u8;
                let mut n_bits = reader.read_bits(6).ok_or(end)? as u8;
                if n_bits == 0 {
                    n_bits = 64;
                }
                if leading + n_bits > 64 {
                    return Err(Corrupt("XOR window out of range"));
                }
                window = (leading, 64 - leading - n_bits);
            }
            let (leading, trailing) = window;
            let xor = reader.read_bits(64 - leading - trailing).ok_or(end)? << trailing;
            bits ^= xor;
        }
        values.push(f64::from_bits(bits));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::sample::STALE_NAN_BITS;
    use proptest::prelude::*;

    fn round_trip(samples: &[(i64, f64)]) -> usize {
        let mut out = Vec::new();
        encode(samples, &mut out);
        let decoded = decode(&mut Decoder::new(&out)).expect("decodes");
        let bits = |samples: &[(i64, f64)]| -> Vec<(i64, u64)> {
            samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
        };
        assert_eq!(bits(&decoded), bits(samples));
        out.len()
    }

    fn series(values: &[f64]) -> Vec<(i64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (1_795_283_910_000 + i as i64 * 15_000, v))
            .collect()
    }

    #[test]
    fn picks_the_decimal_encoding_that_fits() {
        // Counter: integers -> delta; gauge with 3 decimals; constant; linear ramp -> dod.
        let counter: Vec<f64> = (0..100)
            .map(|i| 5_000_000.0 + (i * i % 7) as f64 * 3.0)
            .collect();
        let gauge: Vec<f64> = (0..100)
            .map(|i| ((i as f64 * 1.7).sin() * 1000.0 * 1000.0).round() / 1000.0)
            .collect();
        let constant = vec![42.5; 100];
        let ramp: Vec<f64> = (0..100).map(|i| 1000.0 + i as f64 * 15.0).collect();
        for values in [&counter, &gauge, &constant, &ramp] {
            round_trip(&series(values));
        }
        assert!(
            round_trip(&series(&constant)) < 120,
            "constant values cost ~nothing"
        );
        assert!(
            round_trip(&series(&ramp)) < 220,
            "a steady ramp is all zero dods"
        );
    }

    #[test]
    fn special_values_fall_back_to_xor_bit_exact() {
        let values = [
            1.0,
            f64::NAN,
            f64::from_bits(STALE_NAN_BITS),
            f64::INFINITY,
            -0.0,
            0.1 + 0.2,
        ];
        round_trip(&series(&values));
        round_trip(&[(i64::MIN, 1.0), (0, 2.0), (i64::MAX, 3.0)]);
        round_trip(&[(7, 1e300)]);
    }

    #[test]
    fn decimals_are_exact_for_rounded_values() {
        for value in [0.1, 162.158, 23_692.275, 2.5e-7, 1e15, -3.75, 0.0] {
            let (exponent, ints) = as_decimals(std::iter::once(value)).expect("decimal");
            assert_eq!(
                decode_decimal(ints[0], exponent).to_bits(),
                value.to_bits(),
                "{value}"
            );
        }
        // 0.30000000000000004 needs 17 digits: too many for an exact integer.
        assert!(as_decimals([0.1 + 0.2].into_iter()).is_none());
    }

    #[test]
    fn truncated_chunks_are_errors_not_panics() {
        let mut out = Vec::new();
        encode(&series(&[1.0, f64::NAN, 3.0]), &mut out);
        for cut in 0..out.len() {
            let _ = decode(&mut Decoder::new(&out[..cut]));
        }
    }

    proptest! {
        #[test]
        fn any_sorted_samples_round_trip(
            start in any::<i64>(),
            steps in proptest::collection::vec((1u64..1 << 40, any::<u64>(), 0u8..5), 1..200),
        ) {
            let mut samples = Vec::new();
            let mut timestamp = start;
            for (idx, (step, bits, kind)) in steps.into_iter().enumerate() {
                if idx > 0 {
                    let Some(next) = timestamp.checked_add_unsigned(step) else { break };
                    timestamp = next;
                }
                let value = match kind {
                    0 => f64::from_bits(bits),
                    1 => (bits % 100_000) as f64 / 100.0,
                    2 => (bits % 1000) as f64,
                    3 => f64::from_bits(STALE_NAN_BITS),
                    _ => -((bits % 7) as f64),
                };
                samples.push((timestamp, value));
            }
            round_trip(&samples);
        }
    }
}
