//! The trace store's records: a batch of spans in the write-ahead log, and the span
//! parts a block keeps as opaque columns (events, links).
//!
//! Layout of a batch record: tag `1`, the span count (uvarint), then per span: trace id
//! (16 bytes), span id (8), parent span id (presence byte + 8), service, name, kind
//! (u8), start and end (zigzag varints), status (u8 code + message), trace state, scope
//! name and version, resource attributes, attributes, events, links, and the three
//! dropped counts (uvarints). Strings are length-prefixed UTF-8; attribute lists use
//! [`wal::codec::put_attributes`].

use model::span::{SpanEvent, SpanLink};
use model::{Span, SpanId, SpanKind, SpanStatus, TraceId, UnixNanos};
use wal::codec::{Corrupt, Decoder, put_attributes, put_bytes, put_uvarint, put_varint};

const TAG_BATCH: u8 = 1;

/// Most spans one batch record may declare (a corrupt count must not look plausible).
const MAX_SPANS: usize = 1 << 24;

pub(crate) fn kind_code(kind: SpanKind) -> u8 {
    match kind {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

pub(crate) fn kind_from_code(code: u8) -> Result<SpanKind, Corrupt> {
    Ok(match code {
        0 => SpanKind::Unspecified,
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => return Err(Corrupt("unknown span kind")),
    })
}

/// The OTLP status code: 0 unset, 1 ok, 2 error.
pub(crate) fn status_code(status: &SpanStatus) -> u8 {
    match status {
        SpanStatus::Unset => 0,
        SpanStatus::Ok => 1,
        SpanStatus::Error { .. } => 2,
    }
}

pub(crate) fn status_from_code(code: u8, message: &str) -> Result<SpanStatus, Corrupt> {
    Ok(match code {
        0 => SpanStatus::Unset,
        1 => SpanStatus::Ok,
        2 => SpanStatus::Error {
            message: message.to_owned(),
        },
        _ => return Err(Corrupt("unknown status code")),
    })
}

pub(crate) fn trace_id(decoder: &mut Decoder<'_>) -> Result<TraceId, Corrupt> {
    TraceId::from_bytes(decoder.take(16)?).map_err(|_| Corrupt("bad trace id"))
}

pub(crate) fn span_id(decoder: &mut Decoder<'_>) -> Result<SpanId, Corrupt> {
    SpanId::from_bytes(decoder.take(8)?).map_err(|_| Corrupt("bad span id"))
}

/// Appends a batch record holding `spans`.
pub fn encode_batch(out: &mut Vec<u8>, spans: &[Span]) {
    out.push(TAG_BATCH);
    put_uvarint(out, spans.len() as u64);
    for span in spans {
        encode_span(out, span);
    }
}

fn encode_span(out: &mut Vec<u8>, span: &Span) {
    out.extend_from_slice(span.trace_id.as_bytes());
    out.extend_from_slice(span.span_id.as_bytes());
    match &span.parent_span_id {
        Some(id) => {
            out.push(1);
            out.extend_from_slice(id.as_bytes());
        }
        None => out.push(0),
    }
    put_bytes(out, span.service.as_bytes());
    put_bytes(out, span.name.as_bytes());
    out.push(kind_code(span.kind));
    put_varint(out, span.start.0);
    put_varint(out, span.end.0);
    out.push(status_code(&span.status));
    let message = match &span.status {
        SpanStatus::Error { message } => message.as_str(),
        SpanStatus::Unset | SpanStatus::Ok => "",
    };
    put_bytes(out, message.as_bytes());
    put_bytes(out, span.trace_state.as_bytes());
    put_bytes(out, span.scope_name.as_bytes());
    put_bytes(out, span.scope_version.as_bytes());
    put_attributes(out, &span.resource_attributes);
    put_attributes(out, &span.attributes);
    encode_events(out, &span.events);
    encode_links(out, &span.links);
    put_uvarint(out, u64::from(span.dropped_attributes));
    put_uvarint(out, u64::from(span.dropped_events));
    put_uvarint(out, u64::from(span.dropped_links));
}

/// A span's events: count, then time, name and attributes of each.
pub(crate) fn encode_events(out: &mut Vec<u8>, events: &[SpanEvent]) {
    put_uvarint(out, events.len() as u64);
    for event in events {
        put_varint(out, event.time.0);
        put_bytes(out, event.name.as_bytes());
        put_attributes(out, &event.attributes);
    }
}

pub(crate) fn decode_events(decoder: &mut Decoder<'_>) -> Result<Vec<SpanEvent>, Corrupt> {
    let count = decoder.len(MAX_SPANS)?;
    let mut events = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let time = UnixNanos(decoder.varint()?);
        let name = decoder.str()?.to_owned();
        let attributes = decoder.attributes()?;
        events.push(SpanEvent {
            time,
            name,
            attributes,
        });
    }
    Ok(events)
}

/// A span's links: count, then trace id, span id, trace state and attributes of each.
pub(crate) fn encode_links(out: &mut Vec<u8>, links: &[SpanLink]) {
    put_uvarint(out, links.len() as u64);
    for link in links {
        out.extend_from_slice(link.trace_id.as_bytes());
        out.extend_from_slice(link.span_id.as_bytes());
        put_bytes(out, link.trace_state.as_bytes());
        put_attributes(out, &link.attributes);
    }
}

pub(crate) fn decode_links(decoder: &mut Decoder<'_>) -> Result<Vec<SpanLink>, Corrupt> {
    let count = decoder.len(MAX_SPANS)?;
    let mut links = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let trace_id = trace_id(decoder)?;
        let span_id = span_id(decoder)?;
        let trace_state = decoder.str()?.to_owned();
        let attributes = decoder.attributes()?;
        links.push(SpanLink {
            trace_id,
            span_id,
            trace_state,
            attributes,
        });
    }
    Ok(links)
}

fn small_count(decoder: &mut Decoder<'_>) -> Result<u32, Corrupt> {
    u32::try_from(decoder.uvarint()?).map_err(|_| Corrupt("count out of range"))
}

/// Decodes one batch record's payload.
pub fn decode_batch(payload: &[u8]) -> Result<Vec<Span>, Corrupt> {
    let mut decoder = Decoder::new(payload);
    if decoder.u8()? != TAG_BATCH {
        return Err(Corrupt("unknown record type"));
    }
    let count = decoder.len(MAX_SPANS)?;
    // Every span takes at least 40 bytes: do not trust a count the payload cannot hold.
    if count > payload.len() / 40 {
        return Err(Corrupt("span count exceeds the record"));
    }
    let mut spans = Vec::with_capacity(count);
    for _ in 0..count {
        spans.push(decode_span(&mut decoder)?);
    }
    if !decoder.is_empty() {
        return Err(Corrupt("trailing bytes after the spans"));
    }
    Ok(spans)
}

fn decode_span(decoder: &mut Decoder<'_>) -> Result<Span, Corrupt> {
    let trace_id = trace_id(decoder)?;
    let span_id = span_id(decoder)?;
    let parent_span_id = match decoder.u8()? {
        0 => None,
        1 => Some(self::span_id(decoder)?),
        _ => return Err(Corrupt("bad presence byte")),
    };
    let service = decoder.str()?.to_owned();
    let name = decoder.str()?.to_owned();
    let kind = kind_from_code(decoder.u8()?)?;
    let start = UnixNanos(decoder.varint()?);
    let end = UnixNanos(decoder.varint()?);
    let code = decoder.u8()?;
    let status = status_from_code(code, decoder.str()?)?;
    let trace_state = decoder.str()?.to_owned();
    let scope_name = decoder.str()?.to_owned();
    let scope_version = decoder.str()?.to_owned();
    let resource_attributes = decoder.attributes()?;
    let attributes = decoder.attributes()?;
    let events = decode_events(decoder)?;
    let links = decode_links(decoder)?;
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        service,
        name,
        kind,
        start,
        end,
        status,
        trace_state,
        scope_name,
        scope_version,
        resource_attributes,
        attributes,
        events,
        links,
        dropped_attributes: small_count(decoder)?,
        dropped_events: small_count(decoder)?,
        dropped_links: small_count(decoder)?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use model::Value;

    use super::*;

    /// A span with every part set, for the store's tests.
    pub(crate) fn span(trace: u8, id: u8, parent: Option<u8>, start: i64) -> Span {
        Span {
            trace_id: TraceId::from_bytes(&[trace; 16]).expect("id"),
            span_id: SpanId::from_bytes(&[id; 8]).expect("id"),
            parent_span_id: parent.map(|p| SpanId::from_bytes(&[p; 8]).expect("id")),
            service: format!("svc-{}", trace % 3),
            name: format!("GET /{id}"),
            kind: if parent.is_some() {
                SpanKind::Client
            } else {
                SpanKind::Server
            },
            start: UnixNanos(start),
            end: UnixNanos(start + 1_000_000 * i64::from(id)),
            status: if id == 13 {
                SpanStatus::Error {
                    message: "unlucky".into(),
                }
            } else {
                SpanStatus::Unset
            },
            trace_state: "vendor=1".into(),
            scope_name: "io.opentelemetry.http".into(),
            scope_version: "1.2".into(),
            resource_attributes: vec![("host.name".into(), Value::Str("h1".into()))],
            attributes: vec![
                ("http.status_code".into(), Value::Int(200)),
                ("http.route".into(), Value::Str(format!("/{id}"))),
                ("ratio".into(), Value::Float(0.5)),
                ("cached".into(), Value::Bool(false)),
            ],
            events: vec![SpanEvent {
                time: UnixNanos(start + 5),
                name: "retry".into(),
                attributes: vec![("attempt".into(), Value::Int(2))],
            }],
            links: vec![SpanLink {
                trace_id: TraceId::from_bytes(&[0xee; 16]).expect("id"),
                span_id: SpanId::from_bytes(&[0xef; 8]).expect("id"),
                trace_state: String::new(),
                attributes: vec![],
            }],
            dropped_attributes: 1,
            dropped_events: 2,
            dropped_links: 3,
        }
    }

    #[test]
    fn batches_round_trip() {
        let spans = vec![span(1, 1, None, 100), span(1, 13, Some(1), 200)];
        let mut out = Vec::new();
        encode_batch(&mut out, &spans);
        assert_eq!(decode_batch(&out).expect("decodes"), spans);
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let mut out = Vec::new();
        encode_batch(&mut out, &[span(2, 3, Some(1), 5)]);
        for cut in 0..out.len() {
            assert!(decode_batch(&out[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = out.clone();
        flipped[0] = 9;
        assert_eq!(decode_batch(&flipped), Err(Corrupt("unknown record type")));
        out.push(0);
        assert_eq!(
            decode_batch(&out),
            Err(Corrupt("trailing bytes after the spans"))
        );
    }
}
