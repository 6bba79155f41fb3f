//! What a batch decoder returns and what happens to it next, the same for every protocol
//! that answers per item (OTLP logs and traces, Zipkin): the items that decoded, each
//! with its position in the request, and the ones refused; the write to the sink with
//! the ingest counters; and the one sentence that names the refused items in an answer.

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use model::{ErrorKind, LogRecord, Span};

use crate::metrics::{IngestMetrics, Protocol};
use crate::normalize::LineError;
use crate::sink::{LogSink, SinkError, SpanSink};

/// How many refused items a summary names before counting the rest.
const MAX_LISTED_REJECTIONS: usize = 10;

/// The items of one request, in order, and the ones refused.
#[derive(Debug)]
pub struct Decoded<T> {
    pub records: Vec<T>,
    /// The 1-based position in the request of each record.
    pub numbers: Vec<usize>,
    /// Refused items, by position.
    pub errors: Vec<(usize, LineError)>,
}

impl<T> Default for Decoded<T> {
    fn default() -> Self {
        Decoded {
            records: Vec::new(),
            numbers: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl<T> Decoded<T> {
    /// Adds the next item of the request.
    pub fn push(&mut self, result: Result<T, LineError>) {
        let number = self.n_records() + 1;
        match result {
            Ok(record) => {
                self.records.push(record);
                self.numbers.push(number);
            }
            Err(err) => self.errors.push((number, err)),
        }
    }

    /// Items in the request, kept or refused.
    pub fn n_records(&self) -> usize {
        self.records.len() + self.errors.len()
    }
}

/// A request refused whole: nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// `BadData` for a body that cannot be decoded, `PayloadTooLarge` for one over a
    /// request limit; otherwise the sink's kind (`TooManyRequests`, `Unavailable`,
    /// `Internal`: a retry may succeed). Gives the HTTP status and the gRPC code.
    pub kind: ErrorKind,
    /// Short identifier for reject counters.
    pub reason: &'static str,
    pub message: String,
}

impl RequestError {
    /// The HTTP answer: the status of the error's kind, with `Retry-After` when a retry
    /// can succeed soon (the store is behind or not ready yet).
    pub fn http_response(&self, content_type: &'static str, body: Vec<u8>) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, [(CONTENT_TYPE, content_type)], body).into_response();
        if matches!(
            self.kind,
            ErrorKind::TooManyRequests | ErrorKind::Unavailable
        ) {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }

    /// A body that cannot be decoded.
    pub fn bad_data(err: LineError) -> Self {
        RequestError {
            kind: ErrorKind::BadData,
            reason: err.reason,
            message: err.message,
        }
    }
}

/// One refused item, by its position in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub number: usize,
    pub reason: &'static str,
    pub message: String,
}

/// What became of a request's items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Items the sink made durable.
    pub accepted: usize,
    /// Items refused by the decoder or by the sink, in request order.
    pub rejections: Vec<Rejection>,
    /// Items in the request.
    pub n_items: usize,
}

/// What a request's items are called in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Noun {
    /// "log records", "spans".
    pub plural: &'static str,
    /// How one is named before its number: "record", "span".
    pub one: &'static str,
}

impl Written {
    /// "2 of 5 spans were rejected: span 2: ...; span 4: ...", naming the first refused
    /// items; empty when none were.
    pub fn summary(&self, noun: Noun) -> String {
        if self.rejections.is_empty() {
            return String::new();
        }
        let listed: Vec<String> = self
            .rejections
            .iter()
            .take(MAX_LISTED_REJECTIONS)
            .map(|rejection| format!("{} {}: {}", noun.one, rejection.number, rejection.message))
            .collect();
        let mut text = format!(
            "{} of {} {} were rejected: {}",
            self.rejections.len(),
            self.n_items,
            noun.plural,
            listed.join("; ")
        );
        if self.rejections.len() > MAX_LISTED_REJECTIONS {
            text.push_str(&format!(
                "; and {} more",
                self.rejections.len() - MAX_LISTED_REJECTIONS
            ));
        }
        text
    }
}

/// A sink of one kind of item, as [`write`] sees it: how many were accepted, and the
/// refused ones as `(index into items, reason, message)`.
pub trait BatchSink<T> {
    fn write_batch(&self, items: Vec<T>) -> Result<(usize, Vec<SinkRejection>), SinkError>;
}

/// An item the sink refused: its index in the batch, a reason and a message.
pub type SinkRejection = (usize, &'static str, String);

impl<S: LogSink + ?Sized> BatchSink<LogRecord> for S {
    fn write_batch(&self, items: Vec<LogRecord>) -> Result<(usize, Vec<SinkRejection>), SinkError> {
        let outcome = self.write(items)?;
        let rejected = outcome.rejected.into_iter();
        let rejected = rejected.map(|r| (r.line_idx, r.reason, r.message));
        Ok((outcome.accepted, rejected.collect()))
    }
}

impl<S: SpanSink + ?Sized> BatchSink<Span> for S {
    fn write_batch(&self, items: Vec<Span>) -> Result<(usize, Vec<SinkRejection>), SinkError> {
        let outcome = self.write(&items)?;
        let rejected = outcome.rejected.into_iter();
        let rejected = rejected.map(|r| (r.span_idx, r.reason, r.message));
        Ok((outcome.accepted, rejected.collect()))
    }
}

/// Writes what decoded (nothing when the request was refused whole) and counts it under
/// `protocol`: items accepted and `wire_bytes` (the body's size as received), each
/// refused item by reason, a refused request once by its reason. Blocks on the sink:
/// call it from a blocking thread.
pub fn write<T, S: BatchSink<T> + ?Sized>(
    sink: &S,
    decoded: Result<Decoded<T>, RequestError>,
    protocol: Protocol,
    metrics: &IngestMetrics,
    wire_bytes: usize,
) -> Result<Written, RequestError> {
    let mut decoded =
        decoded.inspect_err(|err| metrics.record_rejected(protocol, err.reason, 1))?;
    let n_items = decoded.n_records();
    let records = std::mem::take(&mut decoded.records);
    let count = records.len();
    let (accepted, sink_rejections) = if records.is_empty() {
        (0, Vec::new())
    } else {
        sink.write_batch(records).map_err(|err| {
            metrics.record_rejected(protocol, "store_unavailable", count as u64);
            RequestError {
                kind: err.kind,
                reason: "store_unavailable",
                message: format!("nothing was written: {err}"),
            }
        })?
    };
    metrics.record_accepted(protocol, accepted as u64, wire_bytes as u64);
    let mut rejections: Vec<Rejection> = decoded
        .errors
        .into_iter()
        .map(|(number, err)| Rejection {
            number,
            reason: err.reason,
            message: err.message,
        })
        .chain(
            sink_rejections
                .into_iter()
                .map(|(idx, reason, message)| Rejection {
                    number: decoded.numbers.get(idx).copied().unwrap_or(0),
                    reason,
                    message,
                }),
        )
        .collect();
    rejections.sort_by_key(|rejection| rejection.number);
    for rejection in &rejections {
        metrics.record_rejected(protocol, rejection.reason, 1);
    }
    Ok(Written {
        accepted,
        rejections,
        n_items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(n_rejections: usize) -> Written {
        Written {
            accepted: 20 - n_rejections,
            rejections: (1..=n_rejections)
                .map(|number| Rejection {
                    number,
                    reason: "invalid_span_id",
                    message: format!("bad id {number}"),
                })
                .collect(),
            n_items: 20,
        }
    }

    #[test]
    fn summaries_name_ten_rejections_and_count_the_rest() {
        let spans = Noun {
            plural: "spans",
            one: "span",
        };
        assert_eq!(written(0).summary(spans), "");
        assert_eq!(
            written(2).summary(spans),
            "2 of 20 spans were rejected: span 1: bad id 1; span 2: bad id 2"
        );
        let long = written(12).summary(spans);
        assert!(long.contains("span 10: bad id 10; and 2 more"), "{long}");
        assert!(!long.contains("span 11"), "{long}");
    }
}
