//! The one mapping from what went wrong to how each protocol says it.
//!
//! Every crate that answers a client (HTTP handlers, gRPC services, the StatsD listener's
//! counters) classifies its failures with an [`ErrorKind`]; the HTTP status, the gRPC code,
//! the Prometheus API `errorType` and the retry advice all come from here, so ingest
//! clients can rely on one rule: 4xx means "fix the request, do not retry", 429 and 5xx
//! mean "retry later".

/// Why a request failed, independent of the protocol it arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or names something invalid. Retrying cannot help.
    BadData,
    /// The request is well-formed but cannot be evaluated (e.g. a query that fails).
    Execution,
    /// The thing asked for does not exist.
    NotFound,
    /// The body, or its decompressed form, is over a configured limit.
    PayloadTooLarge,
    /// The `Content-Type` or `Content-Encoding` is not one this endpoint accepts.
    UnsupportedMediaType,
    /// The response cannot be given in a format the client accepts.
    NotAcceptable,
    /// A rate or concurrency limit was hit; the same request can succeed later.
    TooManyRequests,
    /// The request ran past its deadline.
    Timeout,
    /// The client went away before the answer was ready.
    Canceled,
    /// The server cannot take the request right now (starting, shutting down, overloaded).
    Unavailable,
    /// The server failed (e.g. an I/O error); a retry may succeed.
    Internal,
}

/// gRPC status codes used here, numbered as in `google.rpc.Code`.
pub mod grpc_code {
    pub const CANCELLED: i32 = 1;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
}

impl ErrorKind {
    /// The HTTP status code, as Prometheus's HTTP API uses them (499 for a client that
    /// closed the connection, 422 for an execution error).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadData => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::NotAcceptable => 406,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::Execution => 422,
            ErrorKind::TooManyRequests => 429,
            ErrorKind::Canceled => 499,
            ErrorKind::Internal => 500,
            ErrorKind::Timeout | ErrorKind::Unavailable => 503,
        }
    }

    /// The gRPC status code (`google.rpc.Code`).
    pub fn grpc_code(self) -> i32 {
        match self {
            ErrorKind::BadData | ErrorKind::UnsupportedMediaType => grpc_code::INVALID_ARGUMENT,
            ErrorKind::NotAcceptable | ErrorKind::Execution => grpc_code::FAILED_PRECONDITION,
            ErrorKind::NotFound => grpc_code::NOT_FOUND,
            ErrorKind::PayloadTooLarge | ErrorKind::TooManyRequests => {
                grpc_code::RESOURCE_EXHAUSTED
            }
            ErrorKind::Timeout => grpc_code::DEADLINE_EXCEEDED,
            ErrorKind::Canceled => grpc_code::CANCELLED,
            ErrorKind::Unavailable => grpc_code::UNAVAILABLE,
            ErrorKind::Internal => grpc_code::INTERNAL,
        }
    }

    /// The `errorType` field of a Prometheus HTTP API error envelope.
    pub fn prometheus_error_type(self) -> &'static str {
        match self {
            ErrorKind::BadData | ErrorKind::PayloadTooLarge | ErrorKind::UnsupportedMediaType => {
                "bad_data"
            }
            ErrorKind::Execution => "execution",
            ErrorKind::NotFound => "not_found",
            ErrorKind::NotAcceptable => "not_acceptable",
            ErrorKind::TooManyRequests | ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Internal => "internal",
        }
    }

    /// Whether the same request, sent again later, can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::TooManyRequests
                | ErrorKind::Timeout
                | ErrorKind::Unavailable
                | ErrorKind::Internal
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ErrorKind; 11] = [
        ErrorKind::BadData,
        ErrorKind::Execution,
        ErrorKind::NotFound,
        ErrorKind::PayloadTooLarge,
        ErrorKind::UnsupportedMediaType,
        ErrorKind::NotAcceptable,
        ErrorKind::TooManyRequests,
        ErrorKind::Timeout,
        ErrorKind::Canceled,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ];

    #[test]
    fn retry_advice_agrees_with_http_status() {
        // Clients decide on the status alone: 429 and 5xx retry, other 4xx do not.
        for kind in ALL {
            let status = kind.http_status();
            let retry_by_status = status == 429 || (500..600).contains(&status);
            assert_eq!(kind.is_retryable(), retry_by_status, "{kind:?} -> {status}");
        }
    }

    #[test]
    fn client_errors_never_map_to_retryable_grpc_codes() {
        for kind in ALL.into_iter().filter(|kind| !kind.is_retryable()) {
            assert_ne!(kind.grpc_code(), grpc_code::UNAVAILABLE, "{kind:?}");
        }
    }
}
