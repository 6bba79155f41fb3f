//! `ExportLogsServiceRequest` in protobuf, read with the zero-copy [`protowire`] reader:
//! strings and bytes borrow from the body until a record is normalized. Field numbers
//! are those of `proto/opentelemetry/proto/` (tests check them against prost). Unknown
//! fields are skipped; a body that is not valid protobuf is refused whole.
//!
//! [`protowire`]: crate::protowire

use std::borrow::Cow;

use model::UnixNanos;

use super::common_decode::{
    MAX_NESTING, any_value, key_value, resource_attributes, resource_group, scope_group,
};
use super::log_record::{Decoded, RecordParts, Resource, Scope, to_log_record};
use crate::normalize::{LineError, LogConfig};
use crate::protowire::{Fields, WireError};

fn invalid(err: WireError) -> LineError {
    LineError::new(
        "invalid_protobuf",
        format!("the body is not a valid ExportLogsServiceRequest: {err}"),
    )
}

/// Decodes a request. `Err` only when the body is not valid protobuf (nothing of it is
/// kept); records that cannot be stored are refused one by one in [`Decoded::errors`].
pub fn decode(body: &[u8], config: &LogConfig, arrival: UnixNanos) -> Result<Decoded, LineError> {
    let mut decoded = Decoded::default();
    // Descend one level further than the limit, so that too-deep values are seen.
    let max_nesting = config.max_depth.saturating_add(1).min(MAX_NESTING);
    for field in Fields::new(body) {
        let (number, value) = field.map_err(invalid)?;
        if number == 1 {
            resource_logs(
                value.bytes().map_err(invalid)?,
                max_nesting,
                config,
                arrival,
                &mut decoded,
            )
            .map_err(invalid)?;
        }
    }
    Ok(decoded)
}

fn resource_logs(
    bytes: &[u8],
    max_nesting: usize,
    config: &LogConfig,
    arrival: UnixNanos,
    decoded: &mut Decoded,
) -> Result<(), WireError> {
    let (resource, scopes) = resource_group(bytes)?;
    let attributes = resource_attributes(resource, max_nesting)?;
    let resource = Resource::new(&attributes, config);
    for bytes in scopes {
        let group = scope_group(bytes)?;
        let scope = Scope::new(group.name, group.version);
        for bytes in group.items {
            let parts = log_record(bytes, max_nesting)?;
            decoded.push(to_log_record(&parts, &resource, &scope, config, arrival));
        }
    }
    Ok(())
}

fn log_record(bytes: &[u8], max_nesting: usize) -> Result<RecordParts<'_>, WireError> {
    let mut parts = RecordParts::default();
    for field in Fields::new(bytes) {
        let (number, value) = field?;
        match number {
            1 => parts.time_unix_nano = value.fixed64()?,
            11 => parts.observed_time_unix_nano = value.fixed64()?,
            // An enum is an int32 on the wire: negative values come sign-extended.
            2 => parts.severity_number = value.varint()? as i32,
            3 => parts.severity_text = Cow::Borrowed(value.str()?),
            5 => parts.body = Some(any_value(value.bytes()?, max_nesting)?),
            6 => parts
                .attributes
                .push(key_value(value.bytes()?, max_nesting)?),
            9 => parts.trace_id = Cow::Borrowed(value.bytes()?),
            10 => parts.span_id = Cow::Borrowed(value.bytes()?),
            12 => parts.event_name = Cow::Borrowed(value.str()?),
            // 7 dropped_attributes_count, 8 flags: not kept.
            _ => {}
        }
    }
    Ok(parts)
}
