//! Metric samples: one float value at one millisecond timestamp.

/// The bit pattern Prometheus writes to mark a series as stale (a NaN that arithmetic
/// never produces). It must be stored and returned bit-exact.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A float sample. Timestamps are Unix milliseconds, as in Prometheus.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub timestamp_ms: i64,
    pub value: f64,
}

impl Sample {
    pub fn new(timestamp_ms: i64, value: f64) -> Self {
        Sample {
            timestamp_ms,
            value,
        }
    }

    /// A staleness marker at `timestamp_ms`.
    pub fn stale(timestamp_ms: i64) -> Self {
        Sample::new(timestamp_ms, f64::from_bits(STALE_NAN_BITS))
    }

    pub fn is_stale_marker(&self) -> bool {
        is_stale_marker(self.value)
    }

    /// Same timestamp and the same bits: a retried write of this sample is a no-op.
    pub fn is_bit_identical(&self, other: &Sample) -> bool {
        self.timestamp_ms == other.timestamp_ms && self.value.to_bits() == other.value.to_bits()
    }
}

pub fn is_stale_marker(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_a_nan_distinct_from_ordinary_nan() {
        let stale = Sample::stale(10);
        assert!(stale.value.is_nan());
        assert!(stale.is_stale_marker());
        assert!(!Sample::new(10, f64::NAN).is_stale_marker());
    }

    #[test]
    fn bit_identity_treats_equal_nans_as_duplicates() {
        let a = Sample::new(5, f64::NAN);
        assert!(a.is_bit_identical(&Sample::new(5, f64::NAN)));
        assert!(!a.is_bit_identical(&Sample::stale(5)));
        assert!(!Sample::new(5, 0.0).is_bit_identical(&Sample::new(5, -0.0)));
    }
}
