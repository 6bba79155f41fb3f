//! The store: appends go to the write-ahead log, then to one indexer thread that owns
//! every partition's Tantivy writer and commits on a timer.
//!
//! Exactly-once indexing across crashes rests on three rules:
//! 1. An append writes its WAL record and queues its documents under one lock, so the
//!    queue holds batches in WAL order, and each line gets the next sequence number.
//! 2. A commit round starts with a marker queued under the same lock right after a WAL
//!    rotation: every batch before the marker is in a segment below the new one. The
//!    indexer commits every writer with the highest sequence number it added stored in
//!    the commit's payload, and only when all commits succeeded removes the segments
//!    below the marker's.
//! 3. Replay re-adds a line only if the partition that would hold it has not committed
//!    its sequence number.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use model::{LogRecord, UnixNanos};
use tantivy::indexer::IndexWriterOptions;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Executor, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy};
use wal::{Wal, WalOptions};

use crate::Error;
use crate::field_policy::FieldPolicy;
use crate::metrics::LogMetrics;
use crate::record;
use crate::schema::{self, Fields, LogDoc};
use indexer::Indexer;

const HOUR_NANOS: i64 = 3_600_000_000_000;
/// Buffers above this are not kept for the next batch.
const MAX_KEPT_BUFFER: usize = 64 << 20;

thread_local! {
    /// The WAL encoding buffers of appends on this thread: lines, then the framed record.
    static ENCODE_BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

fn keep_buffers(body: Vec<u8>, frame: Vec<u8>) {
    if body.capacity() <= MAX_KEPT_BUFFER && frame.capacity() <= MAX_KEPT_BUFFER {
        ENCODE_BUFFERS.set((body, frame));
    }
}

const DAY_NANOS: i64 = 24 * HOUR_NANOS;
/// How long an append waits for room in a full indexing queue before it is refused.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// How lines are split into indexes by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    Hourly,
    Daily,
}

impl Partitioning {
    fn nanos(self) -> i64 {
        match self {
            Partitioning::Hourly => HOUR_NANOS,
            Partitioning::Daily => DAY_NANOS,
        }
    }
}

/// The store's settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub partitioning: Partitioning,
    /// New lines become searchable within about this long.
    pub commit_interval: Duration,
    /// Partitions wholly older than this are deleted; older lines are refused. Zero keeps
    /// everything.
    pub retention: Duration,
    /// The oldest partitions are deleted while all partitions take more bytes. Zero means
    /// no size limit.
    pub retention_bytes: u64,
    /// Lines stamped further in the future are refused.
    pub max_future: Duration,
    pub wal: WalOptions,
    /// Indexing memory per indexing thread of each open partition writer.
    pub indexing_memory_per_thread: usize,
    pub indexing_threads: usize,
    pub merge_threads: usize,
    /// Bytes of lines queued for indexing beyond which appends are refused (429).
    pub max_indexing_queue: usize,
    /// Partition writers kept open at once (late lines open older partitions).
    pub max_open_writers: usize,
    /// zstd level of the stored lines.
    pub compression_level: i32,
    /// The fields new partitions index (see `field_policy.rs`).
    pub indexed_fields: FieldPolicy,
    /// Most lines one search's clauses on unindexed fields may read.
    pub max_filtered_lines: u64,
    /// Tests only: how long the indexer pauses before each batch (a slow indexer).
    #[cfg(test)]
    pub index_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            partitioning: Partitioning::Daily,
            commit_interval: Duration::from_secs(1),
            retention: Duration::from_secs(7 * 86_400),
            retention_bytes: 0,
            max_future: Duration::from_secs(600),
            wal: WalOptions::default(),
            indexing_memory_per_thread: 64 << 20,
            indexing_threads: 2,
            merge_threads: 1,
            max_indexing_queue: 256 << 20,
            max_open_writers: 3,
            compression_level: 3,
            indexed_fields: FieldPolicy::default(),
            max_filtered_lines: 10_000_000,
            #[cfg(test)]
            index_delay: Duration::ZERO,
        }
    }
}

/// Why one line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Older than the retention period: it would be deleted at once.
    TooOld,
    /// Further in the future than `max_future`.
    TooNew,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::TooOld => "too_old",
            Rejection::TooNew => "too_far_in_future",
        }
    }
}

/// What an append did: how many lines are durable, and which were refused (by their
/// position in the batch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    pub accepted: usize,
    pub rejected: Vec<(usize, Rejection)>,
}

/// What opening found.
#[derive(Debug, Clone, Default)]
pub struct OpenStats {
    pub partitions: usize,
    pub damaged_partitions: usize,
    pub replayed_lines: u64,
    pub wal: wal::ReplayStats,
}

/// One time partition: a Tantivy index and its reader.
pub struct Partition {
    pub start: i64,
    pub end: i64,
    pub name: String,
    pub(crate) dir: PathBuf,
    pub(crate) index: Index,
    pub(crate) reader: IndexReader,
    /// The fields this partition indexes (fixed when it was created).
    pub(crate) policy: Arc<FieldPolicy>,
    /// The highest sequence number this partition has committed.
    committed_seq: AtomicU64,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("name", &self.name)
            .field("committed_seq", &self.committed_seq)
            .finish_non_exhaustive()
    }
}

/// The name of the partition starting at `start`: `20261121` or `20261121T17`.
fn partition_name(partitioning: Partitioning, start: i64) -> String {
    let seconds = start.div_euclid(1_000_000_000);
    let (year, month, day) = model::time::civil_from_days(seconds.div_euclid(86_400));
    match partitioning {
        Partitioning::Daily => format!("{year:04}{month:02}{day:02}"),
        Partitioning::Hourly => format!(
            "{year:04}{month:02}{day:02}T{:02}",
            seconds.rem_euclid(86_400) / 3600
        ),
    }
}

/// The start and end of a partition from its name.
fn parse_partition_name(name: &str) -> Option<(i64, i64)> {
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = name.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let day_start = model::time::days_from_civil(year, month, day).checked_mul(DAY_NANOS)?;
    match name.len() {
        8 => Some((day_start, day_start + DAY_NANOS)),
        11 if name.as_bytes()[8] == b'T' => {
            let hour = digits(9..11)?;
            (hour < 24).then(|| {
                let start = day_start + hour * HOUR_NANOS;
                (start, start + HOUR_NANOS)
            })
        }
        _ => None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct QueuedDoc {
    partition: i64,
    doc: LogDoc,
}

enum Msg {
    Batch {
        docs: Vec<QueuedDoc>,
        bytes: usize,
    },
    /// Commit everything queued before this; then segments below `segment` can go.
    Marker {
        segment: u64,
        seq: u64,
        done: Option<SyncSender<Result<(), String>>>,
    },
}

struct Appender {
    next_seq: u64,
    sender: Option<Sender<Msg>>,
}

pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    pub(crate) fields: Fields,
    schema: tantivy::schema::Schema,
    /// Searches run a partition's segments on this pool, shared by every partition.
    search_executor: Executor,
    wal: Wal,
    appender: Mutex<Appender>,
    queued_bytes: AtomicUsize,
    appended_since_marker: AtomicBool,
    pub(crate) partitions: RwLock<BTreeMap<i64, Arc<Partition>>>,
    /// Every line numbered below this is searchable.
    searchable_below: AtomicU64,
    pub(crate) metrics: LogMetrics,
    closed: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The log store. Cheap to share behind an `Arc`; every method blocks (call it from a
/// blocking thread).
#[derive(Debug)]
pub struct LogStore {
    pub(crate) shared: Arc<Shared>,
    indexer: Mutex<Option<JoinHandle<()>>>,
}

fn partitions_dir(dir: &Path) -> PathBuf {
    dir.join("partitions")
}

impl Shared {
    /// Waits until `bytes` more fit in the indexing queue (an empty queue takes any
    /// batch), at most `patience` when given. `Err` carries the bytes still queued.
    fn wait_for_room(&self, bytes: usize, patience: Option<Duration>) -> Result<(), usize> {
        let since = Instant::now();
        loop {
            let queued = self.queued_bytes.load(Ordering::Acquire);
            if queued == 0 || queued + bytes <= self.options.max_indexing_queue {
                return Ok(());
            }
            if patience.is_some_and(|limit| since.elapsed() >= limit) {
                return Err(queued);
            }
            // The indexer frees room batch by batch, within milliseconds under a burst.
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn index_settings(&self) -> IndexSettings {
        IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor {
                compression_level: Some(self.options.compression_level),
            }),
            docstore_blocksize: 128 << 10,
            ..IndexSettings::default()
        }
    }

    fn open_partition_dir(&self, name: &str, start: i64, end: i64) -> Result<Partition, Error> {
        let dir = partitions_dir(&self.dir).join(name);
        let mut index =
            Index::open_in_dir(&dir).map_err(Error::index("cannot open log partition", &dir))?;
        index.set_executor(self.search_executor.clone());
        schema::register_tokenizers(&index);
        let committed = index
            .load_metas()
            .map_err(Error::index("cannot read log partition", &dir))?
            .payload
            .and_then(|payload| payload.strip_prefix("seq=").and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(Error::index("cannot read log partition", &dir))?;
        let policy = Arc::new(FieldPolicy::read(&dir)?);
        Ok(Partition {
            start,
            end,
            name: name.to_owned(),
            dir,
            index,
            reader,
            policy,
            committed_seq: AtomicU64::new(committed),
        })
    }

    fn create_partition(&self, start: i64) -> Result<Arc<Partition>, Error> {
        let end = start + self.options.partitioning.nanos();
        let name = partition_name(self.options.partitioning, start);
        let dir = partitions_dir(&self.dir).join(&name);
        let tmp = partitions_dir(&self.dir).join(format!("{name}.tmp"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(Error::io("cannot create log partition", &tmp))?;
        Index::builder()
            .schema(self.schema.clone())
            .settings(self.index_settings())
            .create_in_dir(&tmp)
            .map_err(Error::index("cannot create log partition", &tmp))?;
        self.options.indexed_fields.write(&tmp)?;
        // Renamed into place only once whole, so a partition directory always opens.
        std::fs::rename(&tmp, &dir).map_err(Error::io("cannot create log partition", &dir))?;
        wal::sync_dir(&partitions_dir(&self.dir))?;
        let partition = Arc::new(self.open_partition_dir(&name, start, end)?);
        let mut partitions = self
            .partitions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        partitions.insert(start, Arc::clone(&partition));
        self.metrics.partitions.set(partitions.len() as i64);
        Ok(partition)
    }

    fn partition_start(&self, timestamp: i64) -> i64 {
        let span = self.options.partitioning.nanos();
        timestamp.div_euclid(span) * span
    }

    /// Queues a commit of everything appended so far. Returns the WAL segment the marker
    /// stands for.
    fn send_marker(&self, done: Option<SyncSender<Result<(), String>>>) -> Result<(), Error> {
        let appender = lock(&self.appender);
        let Some(sender) = &appender.sender else {
            return Err(Error::Closed);
        };
        let segment = self.wal.rotate()?;
        self.appended_since_marker.store(false, Ordering::Release);
        sender
            .send(Msg::Marker {
                segment,
                seq: appender.next_seq,
                done,
            })
            .map_err(|_| self.failed())
    }

    fn failed(&self) -> Error {
        Error::Failed(
            lock(&self.failure)
                .clone()
                .unwrap_or_else(|| "the indexer thread is gone".to_owned()),
        )
    }
}

impl LogStore {
    /// Opens (or creates) the store in `dir`, re-indexes what the WAL holds that no
    /// partition committed, and starts the indexer. Returns once replayed lines are
    /// searchable.
    pub fn open(
        dir: &Path,
        options: Options,
        metrics: LogMetrics,
    ) -> Result<(LogStore, OpenStats), Error> {
        let partitions_path = partitions_dir(dir);
        std::fs::create_dir_all(&partitions_path).map_err(Error::io(
            "cannot create log store directory",
            &partitions_path,
        ))?;
        let wal_dir = dir.join("wal");
        let next_segment = wal::next_segment(&wal_dir)?;
        let wal = Wal::create(&wal_dir, options.wal, next_segment)?;
        let (schema, fields) = schema::build();
        let (sender, receiver) = mpsc::channel();
        let search_threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
        let search_executor = Executor::multi_thread(search_threads, "log-search-")
            .map_err(Error::index("cannot start the log search threads", dir))?;
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            options,
            fields,
            schema,
            search_executor,
            wal,
            appender: Mutex::new(Appender {
                next_seq: 1,
                sender: Some(sender),
            }),
            queued_bytes: AtomicUsize::new(0),
            appended_since_marker: AtomicBool::new(false),
            partitions: RwLock::new(BTreeMap::new()),
            searchable_below: AtomicU64::new(1),
            metrics,
            closed: AtomicBool::new(false),
            failure: Mutex::new(None),
        });
        let mut stats = OpenStats::default();
        let mut max_seq = 0u64;
        {
            let entries = std::fs::read_dir(&partitions_path)
                .map_err(Error::io("cannot list log partitions", &partitions_path))?;
            let mut partitions = shared
                .partitions
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".tmp") {
                    let _ = std::fs::remove_dir_all(entry.path());
                    continue;
                }
                let Some((start, end)) = parse_partition_name(&name) else {
                    continue;
                };
                match shared.open_partition_dir(&name, start, end) {
                    Ok(partition) => {
                        max_seq = max_seq.max(partition.committed_seq.load(Ordering::Relaxed));
                        partitions.insert(start, Arc::new(partition));
                    }
                    Err(err) => {
                        // Set aside, never deleted: its lines may be recoverable by hand.
                        let aside = partitions_path.join(format!("{name}.damaged"));
                        tracing::error!(partition = %name, moved_to = %aside.display(), "cannot open a log partition; setting it aside: {err}");
                        std::fs::rename(entry.path(), &aside)
                            .map_err(Error::io("cannot set aside damaged partition", &aside))?;
                        stats.damaged_partitions += 1;
                        shared.metrics.partitions_damaged.inc();
                    }
                }
            }
            stats.partitions = partitions.len();
            shared.metrics.partitions.set(partitions.len() as i64);
        }
        let mut indexer = Indexer::new(Arc::clone(&shared));
        if let Err(err) = indexer.enforce_retention() {
            tracing::warn!("log retention: {err}");
        }
        let handle = std::thread::Builder::new()
            .name("log-indexer".into())
            .spawn(move || indexer.run(&receiver))
            .map_err(Error::io("cannot start the log indexer thread", dir))?;
        let store = LogStore {
            shared,
            indexer: Mutex::new(Some(handle)),
        };
        let replayed = store.replay(&wal_dir, &mut max_seq)?;
        stats.replayed_lines = replayed.0;
        stats.wal = replayed.1;
        lock(&store.shared.appender).next_seq = max_seq + 1;
        store
            .shared
            .metrics
            .lines_replayed
            .inc_by(stats.replayed_lines);
        store
            .shared
            .metrics
            .wal_damaged_segments
            .inc_by(stats.wal.damaged_segments);
        store
            .shared
            .metrics
            .wal_bytes_lost
            .inc_by(stats.wal.bytes_lost);
        // Commit the replayed lines and drop the segments they came from.
        store.flush()?;
        Ok((store, stats))
    }

    fn replay(&self, wal_dir: &Path, max_seq: &mut u64) -> Result<(u64, wal::ReplayStats), Error> {
        let shared = &self.shared;
        let committed: Vec<(i64, i64, u64)> = shared
            .partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|p| (p.start, p.end, p.committed_seq.load(Ordering::Relaxed)))
            .collect();
        let mut replayed = 0u64;
        let mut send_error = None;
        let stats = wal::replay(wal_dir, &mut |payload| {
            let batch = record::decode(payload).map_err(|err| err.to_string())?;
            let mut docs = Vec::new();
            let mut bytes = 0;
            for (i, line) in batch.lines.into_iter().enumerate() {
                let seq = batch.first_seq + i as u64;
                *max_seq = (*max_seq).max(seq);
                let ts = line.timestamp.0;
                let already = committed
                    .iter()
                    .any(|&(start, end, done)| start <= ts && ts < end && done >= seq);
                if already {
                    continue;
                }
                bytes += schema::approximate_size(&line);
                docs.push(QueuedDoc {
                    partition: shared.partition_start(ts),
                    doc: LogDoc::new(&shared.fields, seq, line),
                });
            }
            if docs.is_empty() {
                return Ok(());
            }
            replayed += docs.len() as u64;
            // Back-pressure: do not hold more than the queue's limit in memory.
            let _ = shared.wait_for_room(bytes, None);
            shared.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
            let appender = lock(&shared.appender);
            if let Some(sender) = &appender.sender
                && sender.send(Msg::Batch { docs, bytes }).is_err()
            {
                send_error = Some(shared.failed());
            }
            Ok(())
        })?;
        if let Some(err) = send_error {
            return Err(err);
        }
        Ok((replayed, stats))
    }

    /// Writes `lines` to the WAL and queues them for indexing. On `Ok` the accepted lines
    /// are durable (see ARCHITECTURE.md for what each fsync policy guarantees) and
    /// searchable within about `commit_interval`.
    ///
    /// The store takes the lines: an accepted line's record becomes its document as it is.
    pub fn append(&self, lines: Vec<LogRecord>) -> Result<AppendOutcome, Error> {
        let shared = &self.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let now = UnixNanos::now().0;
        let oldest = if shared.options.retention.is_zero() {
            i64::MIN
        } else {
            now.saturating_sub(shared.options.retention.as_nanos().min(i64::MAX as u128) as i64)
        };
        let newest =
            now.saturating_add(shared.options.max_future.as_nanos().min(i64::MAX as u128) as i64);
        let mut outcome = AppendOutcome::default();
        let mut accepted = Vec::with_capacity(lines.len());
        for (i, line) in lines.into_iter().enumerate() {
            let ts = line.timestamp.0;
            if ts < oldest {
                outcome.rejected.push((i, Rejection::TooOld));
            } else if ts > newest {
                outcome.rejected.push((i, Rejection::TooNew));
            } else {
                accepted.push(line);
            }
        }
        for (_, reason) in &outcome.rejected {
            shared
                .metrics
                .lines_rejected
                .with_label_values(&[reason.as_str()])
                .inc();
        }
        if accepted.is_empty() {
            return Ok(outcome);
        }
        let bytes: usize = accepted.iter().map(schema::approximate_size).sum();
        // Back-pressure: a full queue first slows the sender down (the indexer frees
        // space within milliseconds under a burst); only a queue still full after
        // QUEUE_WAIT refuses the batch.
        if let Err(queued) = shared.wait_for_room(bytes, Some(QUEUE_WAIT)) {
            shared.metrics.overloaded.inc();
            return Err(Error::Overloaded {
                queued_bytes: queued,
                limit: shared.options.max_indexing_queue,
            });
        }
        // Everything that does not need the sequence numbers happens outside the lock.
        // The encoding buffers are the thread's own and keep their capacity: a fresh
        // multi-megabyte buffer per batch cost more in page faults than the encoding.
        let (mut body, mut frame) = ENCODE_BUFFERS.with_borrow_mut(std::mem::take);
        body.clear();
        frame.clear();
        record::encode_lines(&mut body, &accepted);
        let count = accepted.len();
        let mut docs: Vec<QueuedDoc> = accepted
            .into_iter()
            .map(|line| QueuedDoc {
                partition: shared.partition_start(line.timestamp.0),
                doc: LogDoc::new(&shared.fields, 0, line),
            })
            .collect();
        let appended = {
            let mut appender = lock(&shared.appender);
            let Some(sender) = appender.sender.clone() else {
                return Err(Error::Closed);
            };
            let first_seq = appender.next_seq;
            wal::segment::frame_with(&mut frame, |out| {
                record::encode_header(out, first_seq);
                out.extend_from_slice(&body);
            });
            if let Err(err) = shared.wal.append(&frame) {
                drop(appender);
                keep_buffers(body, frame);
                return Err(err.into());
            }
            appender.next_seq += docs.len() as u64;
            for (i, queued) in docs.iter_mut().enumerate() {
                queued.doc.seq = first_seq + i as u64;
            }
            shared.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
            shared.appended_since_marker.store(true, Ordering::Release);
            sender.send(Msg::Batch { docs, bytes }).is_ok()
        };
        keep_buffers(body, frame);
        if !appended {
            // The lines are in the WAL: the next start indexes them.
            return Err(shared.failed());
        }
        shared
            .metrics
            .indexing_queue_bytes
            .set(shared.queued_bytes.load(Ordering::Relaxed) as i64);
        shared.metrics.lines_appended.inc_by(count as u64);
        outcome.accepted = count;
        Ok(outcome)
    }

    /// Commits everything appended so far and waits until it is searchable.
    pub fn flush(&self) -> Result<(), Error> {
        let (done, wait) = mpsc::sync_channel(1);
        self.shared.send_marker(Some(done))?;
        match wait.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(Error::Failed(message)),
            Err(_) => Err(self.shared.failed()),
        }
    }

    /// Every line numbered below this is searchable (for live tail).
    pub fn searchable_below(&self) -> u64 {
        self.shared.searchable_below.load(Ordering::Acquire)
    }

    /// Bytes of lines waiting to be indexed.
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued_bytes.load(Ordering::Acquire)
    }

    /// Bytes on disk: partitions and WAL.
    pub fn size_bytes(&self) -> u64 {
        wal::dir_size(&self.shared.dir)
    }

    /// Commits, stops the indexer and closes the WAL. Later appends fail with `Closed`.
    pub fn close(&self) -> Result<(), Error> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let flushed = self.flush();
        lock(&self.shared.appender).sender = None;
        if let Some(handle) = lock(&self.indexer).take() {
            let _ = handle.join();
        }
        self.shared.wal.close()?;
        flushed
    }
}

impl Drop for LogStore {
    fn drop(&mut self) {
        if let Err(err) = self.close() {
            tracing::warn!("closing the log store: {err}");
        }
    }
}

mod indexer;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        let t: i64 = 1_795_283_910_123_000_000; // 2026-11-21T17:58:30.123Z
        let day = t.div_euclid(DAY_NANOS) * DAY_NANOS;
        let hour = t.div_euclid(HOUR_NANOS) * HOUR_NANOS;
        assert_eq!(partition_name(Partitioning::Daily, day), "20261121");
        assert_eq!(partition_name(Partitioning::Hourly, hour), "20261121T17");
        assert_eq!(
            parse_partition_name("20261121"),
            Some((day, day + DAY_NANOS))
        );
        assert_eq!(
            parse_partition_name("20261121T17"),
            Some((hour, hour + HOUR_NANOS))
        );
        for bad in [
            "2026112",
            "20261321",
            "20261121T24",
            "20261121X17",
            "abcdefgh",
            "20261121.tmp",
        ] {
            assert_eq!(parse_partition_name(bad), None, "{bad}");
        }
    }
}
