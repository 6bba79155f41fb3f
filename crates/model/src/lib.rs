//! Sightline's shared vocabulary: the types that cross crate boundaries.
//!
//! Owns: label sets and their validation ([`labels`]), metric samples ([`sample`]),
//! instants, durations and time ranges ([`time`]), trace and span ids ([`trace_id`]),
//! attribute values ([`value`]), log records ([`log_record`]), spans ([`span`]), and the
//! one mapping from an error kind to its HTTP status, gRPC code and retry advice
//! ([`error_kind`]).
//!
//! Must not know: any wire format, any store, HTTP, PromQL. Everything here is plain
//! data with validation; every other crate depends on this one and it depends on none
//! of them.
//!
//! Start reading at [`labels::Labels`] and [`time::TimeRange`].

pub mod error_kind;
pub mod labels;
pub mod log_record;
pub mod sample;
pub mod span;
pub mod time;
pub mod trace_id;
pub mod value;
pub mod write;

mod error;

pub use error::Error;
pub use error_kind::ErrorKind;
pub use labels::{Label, Labels};
pub use log_record::{LogRecord, Severity};
pub use sample::Sample;
pub use span::{Span, SpanKind, SpanStatus};
pub use time::{TimeRange, UnixNanos};
pub use trace_id::{SpanId, TraceId};
pub use value::Value;
