//! In-memory head chunks: Gorilla-compressed runs of up to [`SAMPLES_PER_CHUNK`] samples
//! of one series, timestamps as delta-of-delta and values as XOR with the previous value.
//!
//! A chunk only ever holds samples in strictly increasing timestamp order; samples that
//! arrive out of order live in the series' out-of-order buffer instead.

pub mod bits;
pub mod xor;

pub use xor::{XorChunk, XorIter};

/// Samples per head chunk before a new one is started (as in Prometheus).
pub const SAMPLES_PER_CHUNK: u16 = 120;
