//! [`Db`]: the store as a whole. Appends go to the WAL, then the head; the head is cut
//! into blocks; blocks are compacted and expire; queries merge head and blocks.

mod append;
mod persist;
mod replay;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

pub use append::{AppendReport, RejectReason, SeriesRejection};
pub use persist::FlushReport;

use crate::Error;
use crate::block::Block;
use crate::block::cache::PageCache;
use crate::head::{Head, SeriesLimits};
use crate::metrics::TsdbMetrics;
use crate::wal::{FsyncPolicy, Wal, WalOptions};

/// How the store behaves. Durations are in milliseconds, as sample timestamps are.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub wal: WalOptions,
    /// Width of a block cut from the head, and of the time-aligned ranges blocks cover.
    pub block_duration_ms: i64,
    /// How far behind a series' newest sample an older sample is still accepted.
    pub out_of_order_window_ms: i64,
    /// Samples further ahead of the server's clock than this are refused (a sender with
    /// a wrong clock, or timestamps in microseconds, would otherwise push the head into
    /// the future and make every normal sample look too old). Zero: no limit.
    pub max_future_ms: i64,
    /// Blocks whose newest sample is older than this (relative to the newest sample in
    /// any block) are deleted. Zero keeps everything.
    pub retention_ms: i64,
    /// The oldest blocks are deleted while blocks and WAL together exceed this. Zero
    /// means no limit.
    pub retention_bytes: u64,
    pub limits: SeriesLimits,
    pub max_exemplars_per_series: usize,
    /// zstd level for block pages.
    pub compression_level: i32,
    pub page_cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wal: WalOptions::default(),
            block_duration_ms: 2 * 3_600_000,
            out_of_order_window_ms: 10 * 60_000,
            max_future_ms: 10 * 60_000,
            retention_ms: 15 * 24 * 3_600_000,
            retention_bytes: 0,
            limits: SeriesLimits::default(),
            max_exemplars_per_series: 16,
            compression_level: 3,
            page_cache_bytes: 64 << 20,
        }
    }
}

/// What opening the store found.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    pub blocks: usize,
    pub head_series: usize,
    pub wal: crate::wal::ReplayStats,
    pub replayed_samples: u64,
    /// Samples in the WAL whose series record was lost to damage.
    pub dropped_samples: u64,
    /// Blocks that could not be opened and were set aside (renamed `*.broken`).
    pub broken_blocks: Vec<String>,
}

/// The time-series store.
#[derive(Debug)]
pub struct Db {
    dir: PathBuf,
    options: Options,
    head: Head,
    wal: Wal,
    /// Held shared by every append (WAL write through head apply) and exclusively, briefly,
    /// to rotate the WAL and truncate the head, so neither ever sees half an append.
    gate: RwLock<()>,
    blocks: RwLock<Vec<Arc<Block>>>,
    cache: Arc<PageCache>,
    /// Samples older than this are in blocks; the head refuses them.
    min_valid_time: AtomicI64,
    /// Serializes head cuts, compaction and retention.
    maintenance: Mutex<()>,
    metrics: TsdbMetrics,
    closed: AtomicBool,
}

pub(crate) fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Db {
    /// Opens (or creates) the store in `dir`: opens every block, replays the WAL into the
    /// head, and starts a new WAL segment.
    pub fn open(
        dir: &Path,
        options: Options,
        metrics: TsdbMetrics,
    ) -> Result<(Db, OpenReport), Error> {
        let blocks_dir = dir.join("blocks");
        std::fs::create_dir_all(&blocks_dir)
            .map_err(Error::io("cannot create blocks directory", &blocks_dir))?;
        let cache = Arc::new(PageCache::new(options.page_cache_bytes));
        let mut report = OpenReport::default();
        let blocks = persist::open_blocks(&blocks_dir, &cache, &mut report.broken_blocks)?;
        let min_valid_time = blocks
            .iter()
            .map(|block| block.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        let head = Head::new(options.limits);
        let wal_dir = dir.join("wal");
        let replayed = replay::replay_into(&head, &wal_dir, &options, min_valid_time)?;
        report.wal = replayed.stats.clone();
        report.replayed_samples = replayed.samples;
        report.dropped_samples = replayed.dropped_samples;
        metrics
            .wal_damaged_segments
            .inc_by(replayed.stats.damaged_segments);
        metrics.wal_bytes_lost.inc_by(replayed.stats.bytes_lost);
        metrics
            .wal_missing_segments
            .inc_by(replayed.stats.missing_segments);
        metrics.wal_dropped_samples.inc_by(replayed.dropped_samples);
        let wal = Wal::create(&wal_dir, options.wal, replayed.stats.last_seq + 1)?;
        report.blocks = blocks.len();
        report.head_series = head.n_series();
        metrics.head_series.set(head.n_series() as i64);
        let db = Db {
            dir: dir.to_owned(),
            options,
            head,
            wal,
            gate: RwLock::new(()),
            blocks: RwLock::new(blocks),
            cache,
            min_valid_time: AtomicI64::new(min_valid_time),
            maintenance: Mutex::new(()),
            metrics,
            closed: AtomicBool::new(false),
        };
        db.update_size_gauges();
        Ok((db, report))
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn metrics(&self) -> &TsdbMetrics {
        &self.metrics
    }

    pub(crate) fn head(&self) -> &Head {
        &self.head
    }

    pub(crate) fn blocks_snapshot(&self) -> Vec<Arc<Block>> {
        read_lock(&self.blocks).clone()
    }

    pub fn n_head_series(&self) -> usize {
        self.head.n_series()
    }

    pub fn n_blocks(&self) -> usize {
        read_lock(&self.blocks).len()
    }

    /// Syncs the WAL to disk (the background task calls this under
    /// [`FsyncPolicy::Interval`]).
    pub fn sync_wal(&self) -> Result<(), Error> {
        Ok(self.wal.sync()?)
    }

    /// Syncs the WAL and refuses further writes. The head is not written to blocks: the
    /// WAL is replayed at the next open.
    pub fn close(&self) -> Result<(), Error> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let _exclusive = write_lock(&self.gate);
        Ok(self.wal.close()?)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Bytes on disk: blocks and WAL.
    pub fn size_bytes(&self) -> u64 {
        let blocks: u64 = read_lock(&self.blocks)
            .iter()
            .map(|block| block.size_bytes())
            .sum();
        blocks + self.wal.size_bytes()
    }

    pub(crate) fn update_size_gauges(&self) {
        let blocks = read_lock(&self.blocks);
        self.metrics.blocks.set(blocks.len() as i64);
        self.metrics
            .blocks_bytes
            .set(blocks.iter().map(|block| block.size_bytes()).sum::<u64>() as i64);
        drop(blocks);
        self.metrics.wal_bytes.set(self.wal.size_bytes() as i64);
        self.metrics.head_series.set(self.head.n_series() as i64);
    }
}

/// Runs the store's periodic work: WAL syncs under [`FsyncPolicy::Interval`] on one
/// thread, maintenance (head cuts, compaction, retention) on another, so a long head cut
/// never delays the syncs that bound what a power loss can take. A panic in maintenance
/// is caught, logged and counted; the threads go on.
#[derive(Debug)]
pub struct Background {
    stop: Arc<(Mutex<bool>, std::sync::Condvar)>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Waits `period` or until stopped; `true` when stopped.
fn wait_or_stop(stop: &(Mutex<bool>, std::sync::Condvar), period: Duration) -> bool {
    let (lock, condvar) = stop;
    let stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let (stopped, _) = condvar
        .wait_timeout_while(stopped, period, |stopped| !*stopped)
        .unwrap_or_else(PoisonError::into_inner);
    *stopped
}

impl Background {
    pub fn start(db: Arc<Db>, maintenance_interval: Duration) -> Background {
        let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let mut threads = Vec::new();
        if let FsyncPolicy::Interval(interval) = db.options.wal.fsync {
            let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
            let spawned = std::thread::Builder::new()
                .name("tsdb-wal-sync".into())
                .spawn(move || {
                    while !wait_or_stop(&stop, interval) && !db.is_closed() {
                        if let Err(err) = db.sync_wal() {
                            tracing::error!("WAL sync failed: {err}");
                        }
                    }
                });
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(err) => tracing::error!("cannot start the WAL sync thread: {err}"),
            }
        }
        let thread_stop = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name("tsdb-maintenance".into())
            .spawn(move || {
                while !wait_or_stop(&thread_stop, maintenance_interval) && !db.is_closed() {
                    let outcome =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.maintain()));
                    match outcome {
                        Ok(Ok(())) => {}
                        Ok(Err(err)) => tracing::error!("tsdb maintenance failed: {err}"),
                        Err(_) => {
                            db.metrics.maintenance_panics.inc();
                            tracing::error!("tsdb maintenance panicked; it will run again");
                        }
                    }
                }
            });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(err) => tracing::error!("cannot start the tsdb maintenance thread: {err}"),
        }
        Background { stop, threads }
    }

    /// Stops the threads and waits for them (a maintenance pass in progress finishes).
    pub fn stop(mut self) {
        self.signal_stop();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }

    fn signal_stop(&self) {
        let (lock, condvar) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        condvar.notify_all();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

#[cfg(test)]
mod tests;
