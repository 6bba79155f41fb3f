//! A write-ahead log of opaque records, shared by the stores: every record is framed
//! and checksummed, written before the store acknowledges the write, and replayed at
//! start. What a record holds is the store's business; this crate only frames, writes,
//! syncs, rotates, replays and repairs.
//!
//! Layout of a log directory: numbered segment files (`00000001`, ...) rotated at a
//! size limit, and at most one `checkpoint.NNNNNNNN/` holding the state that segments up
//! to `NNNNNNNN` contributed and that the store still needs. Replay reads the
//! checkpoint, then every later segment in order.
//!
//! Must not know: any store's record format, what a checkpoint means to its store.
//!
//! What an acknowledgement means depends on [`FsyncPolicy`]: every policy has completed
//! a `write(2)` of the records before `append` returns, so an acknowledged write survives
//! the process being killed (`kill -9`); [`FsyncPolicy::Always`] also `fdatasync`s before
//! returning (concurrent appends share one sync), so it survives power loss or a kernel
//! crash; [`FsyncPolicy::Interval`] syncs in the background, so at most that interval of
//! acknowledged writes can be lost to a power failure.

pub mod codec;
pub mod segment;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use segment::{FrameReader, parse_segment_name, segment_path};

/// What can go wrong with the log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the write-ahead log is closed")]
    Closed,
}

impl Error {
    /// Wraps an I/O error with what was being done to which path.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// When the log is flushed from the OS to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `fdatasync` before every acknowledgement.
    Always,
    /// `fdatasync` in the background at this interval (if anything was written).
    Interval(Duration),
    /// Only when a segment is closed.
    Never,
}

#[derive(Debug, Clone, Copy)]
pub struct WalOptions {
    pub fsync: FsyncPolicy,
    /// A segment is closed and a new one started past this size.
    pub segment_max_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            segment_max_bytes: 64 << 20,
        }
    }
}

#[derive(Debug)]
struct Writer {
    file: Arc<File>,
    seq: u64,
    /// Length of the segment up to its last whole frame.
    segment_bytes: u64,
    /// Bytes written since open, across segments; compared with [`Wal::synced`].
    total_written: u64,
    /// A failed write left a partial frame that could not be cut off: nothing more may
    /// be written to this segment (replay stops at the partial frame).
    torn: bool,
    closed: bool,
}

/// The log, open for appending.
///
/// Lock order: `sync_lock` before `writer`; nothing that holds `writer` waits for
/// `sync_lock`, so appends, syncs and rotations cannot deadlock.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    writer: Mutex<Writer>,
    /// `total_written` as of the last completed sync (only ever grows).
    synced: AtomicU64,
    /// Serializes `fdatasync` calls so concurrent callers share one.
    sync_lock: Mutex<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn create_segment(dir: &Path, seq: u64) -> Result<File, Error> {
    let path = segment_path(dir, seq);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(Error::io("cannot create WAL segment", &path))?;
    sync_dir(dir)?;
    Ok(file)
}

/// `fsync`s a directory, making the files created, renamed or removed in it durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(Error::io("cannot sync directory", dir))
}

impl Wal {
    /// Opens the log for writing, starting a new segment `next_seq` (after [`replay`],
    /// so old segments are never appended to).
    pub fn create(dir: &Path, options: WalOptions, next_seq: u64) -> Result<Wal, Error> {
        std::fs::create_dir_all(dir).map_err(Error::io("cannot create WAL directory", dir))?;
        let file = create_segment(dir, next_seq)?;
        Ok(Wal {
            dir: dir.to_owned(),
            options,
            writer: Mutex::new(Writer {
                file: Arc::new(file),
                seq: next_seq,
                segment_bytes: 0,
                total_written: 0,
                torn: false,
                closed: false,
            }),
            synced: AtomicU64::new(0),
            sync_lock: Mutex::new(()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> WalOptions {
        self.options
    }

    /// Writes already framed records with one `write(2)`; returns once they are in the
    /// OS (and on disk under [`FsyncPolicy::Always`]). On `Err` nothing of `frames` is in
    /// the log: a partial write is cut off again (or, if that fails, the segment is
    /// abandoned) so no later frame ever follows a torn one.
    pub fn append(&self, frames: &[u8]) -> Result<(), Error> {
        if frames.is_empty() {
            return Ok(());
        }
        let written_total = {
            let mut writer = lock(&self.writer);
            if writer.closed {
                return Err(Error::Closed);
            }
            if writer.torn {
                // Must not write after the partial frame: a fresh segment or nothing.
                self.rotate_locked(&mut writer)?;
            } else if writer.segment_bytes >= self.options.segment_max_bytes
                && let Err(err) = self.rotate_locked(&mut writer)
            {
                // The segment limit is soft: keep writing to the current segment.
                tracing::warn!("cannot start a new WAL segment, continuing the current one: {err}");
            }
            let path = segment_path(&self.dir, writer.seq);
            if let Err(err) = (&*writer.file).write_all(frames) {
                let cut = writer.file.set_len(writer.segment_bytes);
                if cut.is_err() {
                    writer.torn = true;
                }
                return Err(Error::io("cannot write WAL segment", &path)(err));
            }
            writer.segment_bytes += frames.len() as u64;
            writer.total_written += frames.len() as u64;
            let total = writer.total_written;
            if writer.segment_bytes >= self.options.segment_max_bytes
                && let Err(err) = self.rotate_locked(&mut writer)
            {
                // The frames are written; the next append retries the rotation.
                tracing::warn!("cannot start a new WAL segment: {err}");
            }
            total
        };
        if self.options.fsync == FsyncPolicy::Always {
            self.sync_through(written_total)?;
        }
        Ok(())
    }

    /// Syncs until at least `target` bytes are on disk; concurrent callers share a sync.
    fn sync_through(&self, target: u64) -> Result<(), Error> {
        if self.synced.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let _one_sync_at_a_time = lock(&self.sync_lock);
        if self.synced.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let (file, total, seq) = {
            let writer = lock(&self.writer);
            (Arc::clone(&writer.file), writer.total_written, writer.seq)
        };
        // Bytes of earlier segments were synced when those segments were closed.
        file.sync_data().map_err(Error::io(
            "cannot sync WAL segment",
            segment_path(&self.dir, seq),
        ))?;
        self.synced.fetch_max(total, Ordering::AcqRel);
        Ok(())
    }

    /// Syncs everything written so far.
    pub fn sync(&self) -> Result<(), Error> {
        let total = lock(&self.writer).total_written;
        self.sync_through(total)
    }

    /// Closes the current segment (synced) and starts the next; returns the new one's
    /// number. Everything before it is in segments numbered lower.
    pub fn rotate(&self) -> Result<u64, Error> {
        let mut writer = lock(&self.writer);
        if writer.closed {
            return Err(Error::Closed);
        }
        self.rotate_locked(&mut writer)?;
        Ok(writer.seq)
    }

    fn rotate_locked(&self, writer: &mut Writer) -> Result<(), Error> {
        writer.file.sync_data().map_err(Error::io(
            "cannot sync WAL segment",
            segment_path(&self.dir, writer.seq),
        ))?;
        let next = writer.seq + 1;
        writer.file = Arc::new(create_segment(&self.dir, next)?);
        writer.seq = next;
        writer.segment_bytes = 0;
        writer.torn = false;
        // Everything written so far went to the synced segment.
        self.synced
            .fetch_max(writer.total_written, Ordering::AcqRel);
        Ok(())
    }

    pub fn current_segment(&self) -> u64 {
        lock(&self.writer).seq
    }

    /// Syncs and refuses further appends.
    pub fn close(&self) -> Result<(), Error> {
        self.sync()?;
        lock(&self.writer).closed = true;
        Ok(())
    }

    /// Bytes used by the log directory.
    pub fn size_bytes(&self) -> u64 {
        dir_size(&self.dir)
    }
}

/// Bytes of every file under `dir` (0 if it cannot be read).
pub fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| match entry.file_type() {
                    Ok(kind) if kind.is_dir() => dir_size(&entry.path()),
                    Ok(_) => entry.metadata().map_or(0, |meta| meta.len()),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub records: u64,
    /// Whole, checksummed records the store could not decode (a newer record type);
    /// skipped, never truncated.
    pub skipped_records: u64,
    /// Segments (or the checkpoint) that ended in damage; each was truncated to its
    /// last good record.
    pub damaged_segments: u64,
    /// Bytes after the damage that could not be read.
    pub bytes_lost: u64,
    /// Gaps in the segment numbering.
    pub missing_segments: u64,
    /// The highest segment number seen; the next one written must be higher.
    pub last_seq: u64,
}

const CHECKPOINT_PREFIX: &str = "checkpoint.";

fn parse_checkpoint_name(name: &str) -> Option<u64> {
    name.strip_prefix(CHECKPOINT_PREFIX)
        .and_then(parse_segment_name)
}

/// The WAL directory's segments and latest checkpoint.
fn list(dir: &Path) -> Result<(Option<u64>, Vec<u64>), Error> {
    let mut checkpoint = None;
    let mut segments = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(Error::io("cannot list WAL directory", dir))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(seq) = parse_segment_name(&name) {
            segments.push(seq);
        } else if let Some(seq) = parse_checkpoint_name(&name) {
            checkpoint = checkpoint.max(Some(seq));
        } else if name.ends_with(".tmp") {
            // An interrupted checkpoint: never renamed into place, so never used.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    segments.sort_unstable();
    Ok((checkpoint, segments))
}

/// Reads one file's records into `visit`, frame by frame; truncates the file at the
/// first damaged frame. A whole frame whose payload `visit` cannot decode is skipped.
fn replay_file(
    path: &Path,
    stats: &mut ReplayStats,
    visit: &mut dyn FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), Error> {
    let file = File::open(path).map_err(Error::io("cannot read WAL segment", path))?;
    let file_len = file
        .metadata()
        .map_err(Error::io("cannot read WAL segment", path))?
        .len();
    let mut frames = FrameReader::new(std::io::BufReader::with_capacity(1 << 20, file));
    loop {
        match frames.next_frame() {
            Ok(Some(payload)) => match visit(payload) {
                Ok(()) => stats.records += 1,
                Err(err) => {
                    stats.skipped_records += 1;
                    tracing::warn!(path = %path.display(), "skipping a WAL record that cannot be decoded: {err}");
                }
            },
            Ok(None) => break,
            Err(err) => return Err(Error::io("cannot read WAL segment", path)(err)),
        }
    }
    if let Some(damage) = frames.damage() {
        let good_len = frames.good_len();
        stats.damaged_segments += 1;
        stats.bytes_lost += file_len.saturating_sub(good_len);
        tracing::warn!(
            path = %path.display(),
            kept_bytes = good_len,
            lost_bytes = file_len.saturating_sub(good_len),
            damage = ?damage,
            "WAL segment is damaged; keeping the records before the damage"
        );
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|file| file.set_len(good_len).and_then(|()| file.sync_all()))
            .map_err(Error::io("cannot truncate damaged WAL segment", path))?;
    }
    Ok(())
}

/// Replays the latest checkpoint and every segment after it, in order, handing each
/// record's payload to `visit`, which answers `Err` (with why) for one it cannot decode.
/// Damage never stops replay: it is counted, repaired by truncation, and replay goes on
/// with the next segment.
pub fn replay(
    dir: &Path,
    visit: &mut dyn FnMut(&[u8]) -> Result<(), String>,
) -> Result<ReplayStats, Error> {
    std::fs::create_dir_all(dir).map_err(Error::io("cannot create WAL directory", dir))?;
    let (checkpoint, segments) = list(dir)?;
    let mut stats = ReplayStats::default();
    if let Some(checkpoint_seq) = checkpoint {
        let path = checkpoint_path(dir, checkpoint_seq).join(format!("{:08}", 0));
        replay_file(&path, &mut stats, visit)?;
        stats.last_seq = checkpoint_seq;
    }
    let mut expected = checkpoint.map(|seq| seq + 1);
    for seq in segments {
        if checkpoint.is_some_and(|checkpoint_seq| seq <= checkpoint_seq) {
            // Already folded into the checkpoint; left over by a crash mid-truncation.
            let _ = std::fs::remove_file(segment_path(dir, seq));
            continue;
        }
        if let Some(expected_seq) = expected
            && seq > expected_seq
        {
            stats.missing_segments += seq - expected_seq;
            tracing::warn!(
                from = expected_seq,
                to = seq - 1,
                "WAL segments are missing"
            );
        }
        replay_file(&segment_path(dir, seq), &mut stats, visit)?;
        expected = Some(seq + 1);
        stats.last_seq = seq;
    }
    Ok(stats)
}

/// The number the next segment written to `dir` must have: above every segment and
/// checkpoint there (1 for an empty or missing directory).
pub fn next_segment(dir: &Path) -> Result<u64, Error> {
    if !dir.exists() {
        return Ok(1);
    }
    let (checkpoint, segments) = list(dir)?;
    Ok(checkpoint
        .into_iter()
        .chain(segments)
        .max()
        .map_or(1, |seq| seq + 1))
}

fn checkpoint_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{seq:08}"))
}

/// Atomically installs `checkpoint.<upto>` with the frames `write` streams into it,
/// then removes segments up to `upto` and older checkpoints. A crash at any point leaves
/// either the old state or the new one.
pub fn write_checkpoint(
    dir: &Path,
    upto: u64,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let final_path = checkpoint_path(dir, upto);
    let tmp_path = dir.join(format!("{CHECKPOINT_PREFIX}{upto:08}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp_path);
    std::fs::create_dir(&tmp_path).map_err(Error::io("cannot create checkpoint", &tmp_path))?;
    let file_path = tmp_path.join(format!("{:08}", 0));
    let file =
        File::create(&file_path).map_err(Error::io("cannot create checkpoint", &file_path))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write(&mut out)
        .and_then(|()| out.into_inner().map_err(|err| err.into_error()))
        .and_then(|file| file.sync_all())
        .map_err(Error::io("cannot write checkpoint", &file_path))?;
    sync_dir(&tmp_path)?;
    let _ = std::fs::remove_dir_all(&final_path);
    std::fs::rename(&tmp_path, &final_path)
        .map_err(Error::io("cannot install checkpoint", &final_path))?;
    sync_dir(dir)?;
    let (_, segments) = list(dir)?;
    for seq in segments.into_iter().filter(|&seq| seq <= upto) {
        let path = segment_path(dir, seq);
        std::fs::remove_file(&path).map_err(Error::io("cannot remove WAL segment", &path))?;
    }
    let entries = std::fs::read_dir(dir).map_err(Error::io("cannot list WAL directory", dir))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if parse_checkpoint_name(&name).is_some_and(|seq| seq < upto) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests;
