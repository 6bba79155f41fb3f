//! The log store's records in the write-ahead log: one record per accepted batch, the
//! normalized lines with the sequence numbers the store gave them.
//!
//! Layout of a batch record: tag `1`, the first sequence number (uvarint), the line
//! count (uvarint), then per line: timestamp and observed time (zigzag varints),
//! severity (u8; its high bit says the raw line holds the fields), service, host and correlation id (optional strings), trace id
//! (presence byte + 16 bytes), span id (presence byte + 8 bytes), message, the fields
//! (count, then key and tagged value each), and the raw line.

use model::{LogRecord, Severity, SpanId, TraceId, UnixNanos};
use wal::codec::{Corrupt, Decoder, put_attributes, put_bytes, put_uvarint, put_varint};

const TAG_BATCH: u8 = 1;

/// Most lines one batch record may declare (a corrupt count must not look plausible).
const MAX_LINES: usize = 1 << 24;

fn severity_code(severity: Severity) -> u8 {
    match severity {
        Severity::Trace => 1,
        Severity::Debug => 2,
        Severity::Info => 3,
        Severity::Warn => 4,
        Severity::Error => 5,
        Severity::Fatal => 6,
        Severity::Unknown => 0,
    }
}

fn severity_from_code(code: u8) -> Result<Severity, Corrupt> {
    Ok(match code {
        0 => Severity::Unknown,
        1 => Severity::Trace,
        2 => Severity::Debug,
        3 => Severity::Info,
        4 => Severity::Warn,
        5 => Severity::Error,
        6 => Severity::Fatal,
        _ => return Err(Corrupt("unknown severity")),
    })
}

fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => {
            out.push(1);
            put_bytes(out, text.as_bytes());
        }
        None => out.push(0),
    }
}

fn opt_str(decoder: &mut Decoder<'_>) -> Result<Option<String>, Corrupt> {
    match decoder.u8()? {
        0 => Ok(None),
        1 => Ok(Some(decoder.str()?.to_owned())),
        _ => Err(Corrupt("bad presence byte")),
    }
}

/// Appends the payload of one batch record (lines numbered from `first_seq`).
pub fn encode_batch(out: &mut Vec<u8>, first_seq: u64, lines: &[LogRecord]) {
    encode_header(out, first_seq);
    encode_lines(out, lines);
}

/// The start of a batch record's payload; [`encode_lines`] writes the rest, so the lines
/// can be encoded before their sequence numbers are known.
pub fn encode_header(out: &mut Vec<u8>, first_seq: u64) {
    out.push(TAG_BATCH);
    put_uvarint(out, first_seq);
}

/// The lines of a batch record: their count, then each line.
pub fn encode_lines(out: &mut Vec<u8>, lines: &[LogRecord]) {
    put_uvarint(out, lines.len() as u64);
    for line in lines {
        encode_line(out, line);
    }
}

fn encode_line(out: &mut Vec<u8>, line: &LogRecord) {
    put_varint(out, line.timestamp.0);
    put_varint(out, line.observed.0);
    // The high bit: the raw line holds the fields (older records never set it).
    out.push(severity_code(line.severity) | if line.raw_holds_fields { 0x80 } else { 0 });
    put_opt_str(out, line.service.as_deref());
    put_opt_str(out, line.host.as_deref());
    put_opt_str(out, line.correlation_id.as_deref());
    match &line.trace_id {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(id.as_bytes());
        }
        None => out.push(0),
    }
    match &line.span_id {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(id.as_bytes());
        }
        None => out.push(0),
    }
    put_bytes(out, line.message.as_bytes());
    put_attributes(out, &line.fields);
    put_bytes(out, line.raw.as_bytes());
}

/// A decoded batch record.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub first_seq: u64,
    pub lines: Vec<LogRecord>,
}

/// Decodes one record's payload.
pub fn decode(payload: &[u8]) -> Result<Batch, Corrupt> {
    let mut decoder = Decoder::new(payload);
    if decoder.u8()? != TAG_BATCH {
        return Err(Corrupt("unknown record type"));
    }
    let first_seq = decoder.uvarint()?;
    let count = decoder.len(MAX_LINES)?;
    // Every line takes at least 12 bytes: do not trust a count the payload cannot hold.
    if count > payload.len() / 12 {
        return Err(Corrupt("line count exceeds the record"));
    }
    let mut lines = Vec::with_capacity(count);
    for _ in 0..count {
        let timestamp = UnixNanos(decoder.varint()?);
        let observed = UnixNanos(decoder.varint()?);
        let code = decoder.u8()?;
        let severity = severity_from_code(code & 0x7f)?;
        let service = opt_str(&mut decoder)?;
        let host = opt_str(&mut decoder)?;
        let correlation_id = opt_str(&mut decoder)?;
        let trace_id = match decoder.u8()? {
            0 => None,
            1 => Some(TraceId::from_bytes(decoder.take(16)?).map_err(|_| Corrupt("bad trace id"))?),
            _ => return Err(Corrupt("bad presence byte")),
        };
        let span_id = match decoder.u8()? {
            0 => None,
            1 => Some(SpanId::from_bytes(decoder.take(8)?).map_err(|_| Corrupt("bad span id"))?),
            _ => return Err(Corrupt("bad presence byte")),
        };
        let message = decoder.str()?.to_owned();
        let fields = decoder.attributes()?;
        let raw = decoder.str()?.to_owned();
        lines.push(LogRecord {
            timestamp,
            observed,
            severity,
            service,
            host,
            trace_id,
            span_id,
            correlation_id,
            message,
            fields,
            raw,
            raw_holds_fields: code & 0x80 != 0,
        });
    }
    if !decoder.is_empty() {
        return Err(Corrupt("trailing bytes after the batch"));
    }
    Ok(Batch { first_seq, lines })
}

#[cfg(test)]
mod tests {
    use model::Value;

    use super::*;

    pub(crate) fn line(n: i64) -> LogRecord {
        LogRecord {
            timestamp: UnixNanos(1_795_283_910_000_000_000 + n),
            observed: UnixNanos(1_795_283_911_000_000_000),
            severity: Severity::Warn,
            service: Some("checkout".into()),
            host: None,
            trace_id: Some(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex")),
            span_id: Some(SpanId::from_hex("00f067aa0ba902b7").expect("hex")),
            correlation_id: Some("req-1".into()),
            message: format!("payment {n} declined"),
            fields: vec![
                ("http.status".into(), Value::Int(402)),
                ("latency".into(), Value::Float(-0.0)),
                ("retry".into(), Value::Bool(true)),
                ("user.name".into(), Value::Str("ann é".into())),
            ],
            raw: format!("{{\"msg\":\"payment {n} declined\"}}"),
            raw_holds_fields: false,
        }
    }

    #[test]
    fn batches_round_trip() {
        let mut lines: Vec<LogRecord> = (0..3).map(line).collect();
        lines[1].raw_holds_fields = true;
        let mut payload = Vec::new();
        encode_batch(&mut payload, 41, &lines);
        let batch = decode(&payload).expect("decodes");
        assert_eq!(batch.first_seq, 41);
        assert_eq!(batch.lines, lines);
        let Value::Float(latency) = batch.lines[0].fields[1].1 else {
            panic!("float field")
        };
        assert!(latency.is_sign_negative(), "-0.0 keeps its sign");
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let mut payload = Vec::new();
        encode_batch(&mut payload, 1, &[line(1), line(2)]);
        for cut in 0..payload.len() {
            assert!(decode(&payload[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = payload.clone();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        let mut huge_count = vec![TAG_BATCH, 1];
        put_uvarint(&mut huge_count, 1 << 23);
        assert!(decode(&huge_count).is_err());
        for i in 0..payload.len() {
            let mut flipped = payload.clone();
            flipped[i] ^= 0xff;
            let _ = decode(&flipped);
        }
    }
}
