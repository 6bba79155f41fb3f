//! The time-series store's records in the shared write-ahead log (the `wal` crate):
//! every accepted sample is there before the write is acknowledged, and replay decodes
//! them at start. The checkpoint holds the head's series and the samples not yet in a
//! block.

pub mod record;

pub use ::wal::segment;
pub use ::wal::{FsyncPolicy, ReplayStats, Wal, WalOptions, dir_size, sync_dir, write_checkpoint};

use std::path::Path;

use crate::Error;

/// Most items in one WAL record written by this crate: keeps every frame far below
/// [`segment::MAX_FRAME_PAYLOAD`] whatever the batch size.
pub const RECORD_CHUNK: usize = 1 << 16;

/// Replays the log in `dir`, decoding each record for `visit`.
pub fn replay(dir: &Path, visit: &mut dyn FnMut(record::Record<'_>)) -> Result<ReplayStats, Error> {
    Ok(::wal::replay(dir, &mut |payload| {
        let decoded = record::decode(payload).map_err(|err| format!("{err:?}"))?;
        visit(decoded);
        Ok(())
    })?)
}
