//! Splits a body into lines (NDJSON, or the elements of a JSON array) and normalizes
//! each; a bad line is reported with its number and does not affect its neighbours.

use model::{LogRecord, UnixNanos};
use serde_json::value::RawValue;

use crate::normalize::{self, LineError, LogConfig};

/// The lines of one body.
#[derive(Debug, Default)]
pub struct Decoded {
    pub records: Vec<LogRecord>,
    /// The 1-based line (or array element) number of each record.
    pub numbers: Vec<usize>,
    /// Refused lines, by number.
    pub errors: Vec<(usize, LineError)>,
}

impl Decoded {
    fn push(&mut self, number: usize, result: Result<LogRecord, LineError>) {
        match result {
            Ok(record) => {
                self.records.push(record);
                self.numbers.push(number);
            }
            Err(err) => self.errors.push((number, err)),
        }
    }
}

/// Decodes a body. `Err` only when a JSON array body is not valid JSON as a whole (its
/// elements cannot be told apart); NDJSON bodies never fail as a whole.
pub fn decode(body: &[u8], config: &LogConfig, arrival: UnixNanos) -> Result<Decoded, LineError> {
    let mut decoded = Decoded::default();
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|i| body[i] == b'[') {
        let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|err| {
            LineError::new(
                "invalid_json",
                format!("the body is not a valid JSON array: {err}"),
            )
        })?;
        decoded.records.reserve(items.len().min(1 << 16));
        decoded.numbers.reserve(items.len().min(1 << 16));
        for (i, item) in items.into_iter().enumerate() {
            decoded.push(
                i + 1,
                normalize::json_line(item.get().as_bytes(), config, arrival),
            );
        }
        return Ok(decoded);
    }
    // Sized once: growing a vector of ten thousand records copies them several times.
    // Capped, so a body of blank lines cannot reserve memory for millions of records.
    let lines = (body.iter().filter(|&&b| b == b'\n').count() + 1).min(1 << 16);
    decoded.records.reserve(lines);
    decoded.numbers.reserve(lines);
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        decoded.push(i + 1, normalize::json_line(line, config, arrival));
    }
    Ok(decoded)
}
