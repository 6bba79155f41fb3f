//! OTLP over gRPC: `opentelemetry.proto.collector.logs.v1.LogsService/Export` and
//! `opentelemetry.proto.collector.trace.v1.TraceService/Export`, one generic service
//! ([`OtlpService`]) over each signal's [`Export`], served by tonic with a codec that
//! passes the message bytes through, so a request is decoded by the same zero-copy
//! decoder as OTLP/HTTP.
//!
//! Status codes follow the OTLP specification: `INVALID_ARGUMENT` for a message that
//! cannot be decoded (not retried), `RESOURCE_EXHAUSTED` with a `RetryInfo` detail when
//! the store is behind (retried after the delay), `RESOURCE_EXHAUSTED` without one for a
//! request over a limit (not retried), `UNAVAILABLE` while the store opens (retried).
//! Items refused one by one are counted in the response's `partial_success`. gzip
//! request compression is accepted; a message over the size bound is refused by tonic
//! before it is buffered whole.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Bytes;
use axum::http;
use bytes::{Buf, BufMut};
use model::ErrorKind;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::NamedService;
use tonic::{Code, Status};

use super::export::{Export, ExportError, Format, Served};
use super::logs_export::LogsExport;
use super::traces_export::TracesExport;
use crate::metrics::IngestMetrics;
use crate::normalize::LogConfig;
use crate::sink::{LogSink, SpanSink};
use crate::spans::TraceLimits;

/// How long a client should wait before retrying an export refused for load.
const RETRY_DELAY_SECONDS: u64 = 1;

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// The gRPC service of one OTLP signal, ready for
/// `tonic::transport::Server::add_service`.
#[derive(Debug)]
pub struct OtlpService<E> {
    served: Arc<Served<E>>,
}

impl<E> Clone for OtlpService<E> {
    fn clone(&self) -> Self {
        OtlpService {
            served: Arc::clone(&self.served),
        }
    }
}

/// `opentelemetry.proto.collector.logs.v1.LogsService`.
pub type LogsService = OtlpService<LogsExport>;

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
pub type TraceService = OtlpService<TracesExport>;

impl<E> OtlpService<E> {
    fn serve(export: E, metrics: IngestMetrics, max_message_bytes: usize) -> Self {
        OtlpService {
            served: Arc::new(Served {
                export,
                metrics,
                max_message_bytes,
            }),
        }
    }
}

impl LogsService {
    /// `max_message_bytes` bounds one request message after decompression.
    pub fn new(
        sink: Arc<dyn LogSink>,
        config: LogConfig,
        metrics: IngestMetrics,
        max_message_bytes: usize,
    ) -> Self {
        OtlpService::serve(LogsExport { sink, config }, metrics, max_message_bytes)
    }
}

impl TraceService {
    /// `limits.max_request_bytes` bounds one request message after decompression.
    pub fn new(sink: Arc<dyn SpanSink>, limits: TraceLimits, metrics: IngestMetrics) -> Self {
        let max_message_bytes = limits.max_request_bytes;
        OtlpService::serve(TracesExport { sink, limits }, metrics, max_message_bytes)
    }
}

impl<E: Export> NamedService for OtlpService<E> {
    const NAME: &'static str = E::GRPC_SERVICE;
}

impl<E: Export> tower::Service<http::Request<tonic::body::Body>> for OtlpService<E> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let served = Arc::clone(&self.served);
        Box::pin(async move {
            let path = request.uri().path();
            let method = path
                .strip_prefix('/')
                .and_then(|path| path.strip_prefix(E::GRPC_SERVICE));
            if method != Some("/Export") {
                let status = Status::unimplemented(format!(
                    "{path} is not served here; {} serves only Export",
                    E::GRPC_SERVICE
                ));
                return Ok(status.into_http());
            }
            let mut grpc = tonic::server::Grpc::new(PassThrough)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(served.max_message_bytes);
            Ok(grpc.unary(Unary { served }, request).await)
        })
    }
}

/// The unary `Export` call over raw message bytes.
struct Unary<E> {
    served: Arc<Served<E>>,
}

impl<E: Export> tower::Service<tonic::Request<Bytes>> for Unary<E> {
    type Response = tonic::Response<Bytes>;
    type Error = Status;
    type Future = BoxFuture<Self::Response, Status>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let served = Arc::clone(&self.served);
        Box::pin(async move {
            let body = request.into_inner();
            let exported = tokio::task::spawn_blocking(move || {
                served.run(Format::Protobuf, &body, body.len())
            })
            .await
            .map_err(|err| Status::internal(format!("the export failed: {err}")))?;
            match exported {
                Ok(outcome) => Ok(tonic::Response::new(Bytes::from(outcome.response))),
                Err(err) => Err(status_of(&err)),
            }
        })
    }
}

/// The gRPC status of an export refused whole; load and overload carry a `RetryInfo`.
fn status_of(err: &ExportError) -> Status {
    let code = Code::from_i32(err.kind.grpc_code());
    match err.kind {
        ErrorKind::TooManyRequests | ErrorKind::Unavailable => Status::with_details(
            code,
            err.message.clone(),
            Bytes::from(status_with_retry_info(
                err.kind.grpc_code(),
                &err.message,
                RETRY_DELAY_SECONDS,
            )),
        ),
        _ => Status::new(code, err.message.clone()),
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field << 3 | 2));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A `google.rpc.Status{code, message, details: [Any(google.rpc.RetryInfo{retry_delay})]}`,
/// the `grpc-status-details-bin` OTLP clients read the retry delay from.
fn status_with_retry_info(code: i32, message: &str, delay_seconds: u64) -> Vec<u8> {
    let mut duration = Vec::new();
    put_varint(&mut duration, 1 << 3);
    put_varint(&mut duration, delay_seconds);
    let mut retry_info = Vec::new();
    put_bytes(&mut retry_info, 1, &duration);
    let mut any = Vec::new();
    put_bytes(&mut any, 1, b"type.googleapis.com/google.rpc.RetryInfo");
    put_bytes(&mut any, 2, &retry_info);
    let mut status = Vec::new();
    put_varint(&mut status, 1 << 3);
    // int32 fields are varints of the sign-extended 64-bit value.
    put_varint(&mut status, i64::from(code) as u64);
    put_bytes(&mut status, 2, message.as_bytes());
    put_bytes(&mut status, 3, &any);
    status
}

/// A codec that hands message bytes through unchanged.
#[derive(Debug, Clone, Copy, Default)]
struct PassThrough;

impl Codec for PassThrough {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = PassThrough;
    type Decoder = PassThrough;

    fn encoder(&mut self) -> PassThrough {
        PassThrough
    }

    fn decoder(&mut self) -> PassThrough {
        PassThrough
    }
}

impl Encoder for PassThrough {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PassThrough {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_is_a_google_rpc_status_with_one_any() {
        let encoded = status_with_retry_info(8, "busy", 1);
        let mut expected = vec![0x08, 0x08, 0x12, 0x04];
        expected.extend_from_slice(b"busy");
        let type_url = b"type.googleapis.com/google.rpc.RetryInfo";
        // Any = type_url (2 + 40 bytes) + value (2 + RetryInfo: 0a 02 08 01).
        expected.extend_from_slice(&[0x1a, (2 + type_url.len() + 2 + 4) as u8]);
        expected.extend_from_slice(&[0x0a, type_url.len() as u8]);
        expected.extend_from_slice(type_url);
        expected.extend_from_slice(&[0x12, 0x04, 0x0a, 0x02, 0x08, 0x01]);
        assert_eq!(encoded, expected);
    }

    #[test]
    fn load_errors_carry_retry_info_and_bad_data_does_not() {
        let overloaded = status_of(&ExportError {
            kind: ErrorKind::TooManyRequests,
            reason: "overloaded",
            message: "the log store is behind".into(),
        });
        assert_eq!(overloaded.code(), Code::ResourceExhausted);
        assert!(!overloaded.details().is_empty());
        let bad = status_of(&ExportError {
            kind: ErrorKind::BadData,
            reason: "invalid_protobuf",
            message: "truncated".into(),
        });
        assert_eq!(bad.code(), Code::InvalidArgument);
        assert!(bad.details().is_empty());
    }
}
