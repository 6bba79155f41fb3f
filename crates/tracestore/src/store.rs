//! The store: spans into the WAL, then the head, then blocks; and the read path over
//! all three.
//!
//! Write path: [`TraceStore::append`] encodes the batch, then under the append lock
//! writes it to the WAL and adds it to the head, so the WAL's order is the head's. A
//! span is durable (by the WAL's fsync policy) before `append` returns.
//!
//! Cutting a block: when the head is older than `block_max_age` or larger than
//! `block_max_bytes`, the background flusher, under the append lock, rotates the WAL
//! (every segment below the new one holds only spans of the old head) and swaps in an
//! empty head. The old head stays readable in `flushing` while it is written as a
//! block; once the block is installed it joins `blocks` and the WAL segments it came
//! from are dropped. A crash in between is harmless: the block records the last WAL
//! segment it holds, and opening drops those segments before replaying the rest.
//!
//! Compaction (its own thread) merges the oldest `compaction_fan_in` blocks of the
//! lowest level that has that many into one block of the next level, streaming them in
//! trace-id order and dropping repeated spans; the merged block names its inputs, so if
//! a crash comes between installing it and deleting them, opening deletes them. Blocks
//! taken out (compacted or expired) are deleted once no reader holds them.
//!
//! Reads see the head, the heads being flushed and the blocks, so a trace that arrived
//! in pieces over minutes (and so across blocks) comes back whole. Spans sent twice (a
//! client retry) come back once; two spans sharing an id with different kinds or
//! services (Zipkin's shared client/server spans) both come back.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use model::{Span, TraceId, UnixNanos};
use wal::{Wal, WalOptions};

use crate::block::{self, Block};
use crate::codec;
use crate::error::Error;
use crate::operations::Operations;
use crate::query::{SearchQuery, TraceSummary};

const WAL_DIR: &str = "wal";
const BLOCKS_DIR: &str = "blocks";
/// Search stops collecting candidate traces past this many.
const MAX_CANDIDATES: usize = 100_000;

#[derive(Debug, Clone)]
pub struct TraceStoreOptions {
    pub wal: WalOptions,
    /// Blocks whose newest span ended longer ago than this are deleted; zero keeps all.
    pub retention: Duration,
    /// The head is written as a block once its first span is this old ...
    pub block_max_age: Duration,
    /// ... or once it holds this many bytes of spans.
    pub block_max_bytes: usize,
    /// Past this many bytes in memory (head and heads being written), appends are
    /// refused with `Overloaded` until a block is written.
    pub max_head_bytes: usize,
    /// A trace with more spans is refused by [`TraceStore::trace`].
    pub max_spans_per_trace: usize,
    /// Compaction merges this many blocks of one level into one block of the next ...
    pub compaction_fan_in: usize,
    /// ... unless together they hold more spans than this ...
    pub compaction_max_spans: u64,
    /// ... and never past this level (4 blocks of 5 minutes per level: level 3 blocks
    /// span about 5 hours).
    pub compaction_max_level: u32,
}

impl Default for TraceStoreOptions {
    fn default() -> Self {
        TraceStoreOptions {
            wal: WalOptions::default(),
            retention: Duration::from_secs(7 * 24 * 3600),
            block_max_age: Duration::from_secs(300),
            block_max_bytes: 256 << 20,
            max_head_bytes: 1 << 30,
            max_spans_per_trace: 1_000_000,
            compaction_fan_in: 4,
            compaction_max_spans: 20_000_000,
            compaction_max_level: 3,
        }
    }
}

/// Spans in memory, grouped by trace.
#[derive(Debug, Default)]
struct Head {
    traces: HashMap<TraceId, Vec<Span>>,
    spans: usize,
    bytes: usize,
    /// When the first span now in the head arrived.
    since: Option<Instant>,
    operations: Operations,
}

impl Head {
    fn insert(&mut self, spans: &[Span], bytes: usize) {
        self.since.get_or_insert_with(Instant::now);
        self.bytes += bytes;
        self.spans += spans.len();
        for span in spans {
            self.operations.record(span);
            self.traces
                .entry(span.trace_id)
                .or_default()
                .push(span.clone());
        }
    }

    fn search(&self, query: &SearchQuery, visit: &mut dyn FnMut(TraceId, UnixNanos) -> bool) {
        for spans in self.traces.values() {
            for span in spans {
                if query.matches(span) && !visit(span.trace_id, span.start) {
                    return;
                }
            }
        }
    }
}

/// What readers see.
#[derive(Debug, Default)]
struct State {
    head: Head,
    /// Heads being written as blocks, oldest first.
    flushing: Vec<Arc<Head>>,
    /// Open blocks, oldest first.
    blocks: Vec<Arc<Block>>,
    /// Blocks taken out of `blocks` (expired or compacted away), deleted from disk once
    /// no reader holds them.
    retired: Vec<Arc<Block>>,
    next_block_id: u64,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    options: TraceStoreOptions,
    wal: Wal,
    /// Serializes WAL appends with head inserts and head swaps.
    append_lock: Mutex<()>,
    state: RwLock<State>,
    closed: AtomicBool,
    /// Wakes the flusher early (a cut is due, or the store closes).
    wake: (Mutex<bool>, Condvar),
    /// Set by `close`; the compactor waits on it between rounds.
    closing: (Mutex<bool>, Condvar),
    /// Held while a compaction runs, so two never pick the same blocks.
    compaction: Mutex<()>,
}

/// What opening found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenStats {
    pub blocks: usize,
    pub replayed_spans: u64,
    pub damaged_wal_segments: u64,
    /// Block directories that could not be opened (left in place, not served).
    pub damaged_blocks: usize,
}

/// Sizes, for `/metrics` and the Status page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub head_spans: usize,
    pub head_bytes: usize,
    pub blocks: usize,
    pub block_spans: u64,
    pub block_bytes: u64,
}

#[derive(Debug)]
pub struct TraceStore {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    compactor: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn approximate_size(span: &Span) -> usize {
    let attributes = |list: &[(String, model::Value)]| -> usize {
        list.iter()
            .map(|(key, value)| {
                key.len()
                    + 32
                    + match value {
                        model::Value::Str(text) => text.len(),
                        _ => 8,
                    }
            })
            .sum()
    };
    std::mem::size_of::<Span>()
        + span.service.len()
        + span.name.len()
        + span.trace_state.len()
        + span.scope_name.len()
        + span.scope_version.len()
        + attributes(&span.attributes)
        + attributes(&span.resource_attributes)
        + span
            .events
            .iter()
            .map(|e| 64 + e.name.len() + attributes(&e.attributes))
            .sum::<usize>()
        + span
            .links
            .iter()
            .map(|l| 64 + attributes(&l.attributes))
            .sum::<usize>()
}

impl TraceStore {
    /// Opens (or creates) the store in `dir`: opens the blocks, drops WAL segments they
    /// already hold, replays the rest into the head, and starts the flusher.
    pub fn open(dir: &Path, options: TraceStoreOptions) -> Result<(TraceStore, OpenStats), Error> {
        let blocks_dir = dir.join(BLOCKS_DIR);
        let wal_dir = dir.join(WAL_DIR);
        std::fs::create_dir_all(&blocks_dir).map_err(Error::io(
            "cannot create trace blocks directory",
            &blocks_dir,
        ))?;
        let mut stats = OpenStats::default();
        let mut blocks = Vec::new();
        let mut next_block_id = 1;
        let entries = std::fs::read_dir(&blocks_dir)
            .map_err(Error::io("cannot list trace blocks", &blocks_dir))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // A block whose writing was interrupted: its spans are still in the WAL.
                let _ = std::fs::remove_dir_all(entry.path());
                continue;
            }
            let Ok(id) = name.parse::<u64>() else {
                continue;
            };
            next_block_id = next_block_id.max(id + 1);
            match Block::open(id, &entry.path()) {
                Ok(block) => blocks.push(Arc::new(block)),
                Err(err) => {
                    tracing::error!(block = %entry.path().display(), %err, "cannot open trace block; it is not served");
                    stats.damaged_blocks += 1;
                }
            }
        }
        // A crash after a compaction installed its block, before its inputs were deleted:
        // the inputs are replaced, so they go now.
        let replaced: HashSet<u64> = blocks
            .iter()
            .flat_map(|block: &Arc<Block>| block.meta.sources.iter().copied())
            .collect();
        blocks.retain(|block| {
            if replaced.contains(&block.id) {
                let _ = std::fs::remove_dir_all(&block.dir);
                return false;
            }
            true
        });
        // Oldest first by time (a compacted block has a newer id than blocks after it).
        blocks.sort_by_key(|block| (block.meta.min_start, block.id));
        stats.blocks = blocks.len();
        let wal_upto = blocks.iter().map(|b| b.meta.wal_upto).max().unwrap_or(0);
        if has_segments_through(&wal_dir, wal_upto) {
            // A crash after a block was installed, before its WAL segments were dropped.
            wal::write_checkpoint(&wal_dir, wal_upto, |_| Ok(()))?;
        }
        let mut head = Head::default();
        let replay = wal::replay(&wal_dir, &mut |payload| {
            let spans = codec::decode_batch(payload).map_err(|err| err.to_string())?;
            let bytes = spans.iter().map(approximate_size).sum();
            stats.replayed_spans += spans.len() as u64;
            head.insert(&spans, bytes);
            Ok(())
        })?;
        stats.damaged_wal_segments = replay.damaged_segments;
        let next_segment = wal::next_segment(&wal_dir)?.max(wal_upto + 1);
        let wal = Wal::create(&wal_dir, options.wal, next_segment)?;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            options,
            wal,
            append_lock: Mutex::new(()),
            state: RwLock::new(State {
                head,
                flushing: Vec::new(),
                blocks,
                retired: Vec::new(),
                next_block_id,
            }),
            closed: AtomicBool::new(false),
            wake: (Mutex::new(false), Condvar::new()),
            closing: (Mutex::new(false), Condvar::new()),
            compaction: Mutex::new(()),
        });
        let flusher = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("trace-flusher".into())
                .spawn(move || run_flusher(&shared))
                .map_err(Error::io("cannot start the trace flusher", dir))?
        };
        let compactor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("trace-compactor".into())
                .spawn(move || run_compactor(&shared))
                .map_err(Error::io("cannot start the trace compactor", dir))?
        };
        Ok((
            TraceStore {
                shared,
                flusher: Mutex::new(Some(flusher)),
                compactor: Mutex::new(Some(compactor)),
            },
            stats,
        ))
    }

    /// Makes `spans` durable and readable. Refused whole with `Overloaded` when the
    /// head is over `max_head_bytes` (blocks are being written slower than spans come).
    pub fn append(&self, spans: &[Span]) -> Result<(), Error> {
        let shared = &self.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if spans.is_empty() {
            return Ok(());
        }
        let bytes: usize = spans.iter().map(approximate_size).sum();
        {
            let state = shared.state.read().unwrap_or_else(PoisonError::into_inner);
            let in_memory =
                state.head.bytes + state.flushing.iter().map(|h| h.bytes).sum::<usize>();
            if in_memory + bytes > shared.options.max_head_bytes {
                return Err(Error::Overloaded {
                    head_bytes: in_memory,
                    limit: shared.options.max_head_bytes,
                });
            }
        }
        let mut frame = Vec::with_capacity(bytes / 2 + 64);
        wal::segment::frame_with(&mut frame, |out| codec::encode_batch(out, spans));
        let cut_due = {
            let _guard = lock(&shared.append_lock);
            shared.wal.append(&frame)?;
            let mut state = shared.state.write().unwrap_or_else(PoisonError::into_inner);
            state.head.insert(spans, bytes);
            state.head.bytes >= shared.options.block_max_bytes
        };
        if cut_due {
            shared.wake_flusher();
        }
        Ok(())
    }

    /// Every span of trace `id`, in start order; empty when the trace is unknown.
    pub fn trace(&self, id: &TraceId) -> Result<Vec<Span>, Error> {
        let (head_spans, flushing, blocks) = {
            let state = self
                .shared
                .state
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            (
                state.head.traces.get(id).cloned().unwrap_or_default(),
                state.flushing.clone(),
                state.blocks.clone(),
            )
        };
        let limit = self.shared.options.max_spans_per_trace;
        let too_large = || Error::TraceTooLarge {
            trace_id: id.to_string(),
            limit,
        };
        let mut spans = head_spans;
        for head in &flushing {
            if let Some(more) = head.traces.get(id) {
                spans.extend(more.iter().cloned());
            }
        }
        for block in &blocks {
            if spans.len() > limit {
                return Err(too_large());
            }
            spans.extend(block.trace(id)?);
        }
        if spans.len() > limit {
            return Err(too_large());
        }
        // A retried export repeats spans whole; a Zipkin shared span's server half
        // keeps its client's span id, so the kind and service are part of the key.
        let mut seen = HashSet::with_capacity(spans.len());
        spans.retain(|span| {
            seen.insert((
                span.span_id,
                codec::kind_code(span.kind),
                xxhash_rust::xxh3::xxh3_64(span.service.as_bytes()),
            ))
        });
        spans.sort_by_key(|span| (span.start, span.span_id));
        Ok(spans)
    }

    /// Traces with a span matching `query`, most recent first, at most `query.limit`.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<TraceSummary>, Error> {
        if query.start > query.end {
            return Err(Error::Query(
                "the end of the time range is before its start".into(),
            ));
        }
        let (flushing, blocks) = {
            let state = self
                .shared
                .state
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            (state.flushing.clone(), state.blocks.clone())
        };
        let mut candidates: HashMap<TraceId, UnixNanos> = HashMap::new();
        let mut collect = |id: TraceId, start: UnixNanos| {
            let latest = candidates.entry(id).or_insert(start);
            *latest = (*latest).max(start);
            candidates.len() < MAX_CANDIDATES
        };
        {
            let state = self
                .shared
                .state
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            state.head.search(query, &mut collect);
        }
        for head in &flushing {
            head.search(query, &mut collect);
        }
        for block in blocks.iter().rev() {
            block.search(query, &mut collect)?;
        }
        let mut ranked: Vec<(TraceId, UnixNanos)> = candidates.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut summaries = Vec::with_capacity(query.limit.min(ranked.len()));
        for (id, _) in ranked.into_iter().take(query.limit) {
            match self.trace(&id) {
                Ok(spans) => summaries.extend(TraceSummary::of(&spans)),
                // A huge trace is still listed, by the span that matched.
                Err(Error::TraceTooLarge { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(summaries)
    }

    /// Services with spans, and the span names of each with the kinds they were seen
    /// with.
    pub fn operations(&self) -> Operations {
        let state = self
            .shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut all = state.head.operations.clone();
        let sources = state
            .flushing
            .iter()
            .map(|head| &head.operations)
            .chain(state.blocks.iter().map(|block| &block.meta.operations));
        for operations in sources {
            all.merge(operations);
        }
        all
    }

    pub fn stats(&self) -> StoreStats {
        let state = self
            .shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        StoreStats {
            head_spans: state.head.spans + state.flushing.iter().map(|h| h.spans).sum::<usize>(),
            head_bytes: state.head.bytes + state.flushing.iter().map(|h| h.bytes).sum::<usize>(),
            blocks: state.blocks.len(),
            block_spans: state.blocks.iter().map(|b| b.meta.spans).sum(),
            block_bytes: state.blocks.iter().map(|b| b.bytes).sum(),
        }
    }

    /// Runs one compaction step now, if one is due; answers whether blocks were merged.
    pub fn compact(&self) -> Result<bool, Error> {
        compact_once(&self.shared)
    }

    /// Writes the head as a block now (for tests and the flush endpoint).
    pub fn flush(&self) -> Result<(), Error> {
        cut_block(&self.shared)
    }

    /// Writes the head as a block, stops the flusher and closes the WAL.
    pub fn close(&self) -> Result<(), Error> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.shared.wake_flusher();
        *lock(&self.shared.closing.0) = true;
        self.shared.closing.1.notify_all();
        if let Some(handle) = lock(&self.flusher).take() {
            let _ = handle.join();
        }
        if let Some(handle) = lock(&self.compactor).take() {
            let _ = handle.join();
        }
        self.shared.wal.close()?;
        Ok(())
    }
}

impl Drop for TraceStore {
    fn drop(&mut self) {
        if let Err(err) = self.close() {
            tracing::error!(%err, "closing the trace store failed; the WAL is replayed at the next start");
        }
    }
}

impl Shared {
    fn wake_flusher(&self) {
        *lock(&self.wake.0) = true;
        self.wake.1.notify_all();
    }

    fn cut_due(&self) -> bool {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.head.spans > 0
            && (state.head.bytes >= self.options.block_max_bytes
                || state
                    .head
                    .since
                    .is_some_and(|since| since.elapsed() >= self.options.block_max_age))
    }
}

fn run_flusher(shared: &Arc<Shared>) {
    loop {
        {
            let mut woken = lock(&shared.wake.0);
            if !*woken {
                woken = shared
                    .wake
                    .1
                    .wait_timeout(woken, Duration::from_secs(1))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            *woken = false;
        }
        let closing = shared.closed.load(Ordering::Acquire);
        if (closing || shared.cut_due())
            && let Err(err) = cut_block(shared)
        {
            tracing::error!(%err, "cannot write a trace block; the spans stay in the WAL and memory");
        }
        if let Err(err) = apply_retention(shared) {
            tracing::error!(%err, "cannot delete expired trace blocks");
        }
        if closing {
            return;
        }
    }
}

/// Swaps out the head and writes it as a block (nothing when the head is empty).
fn cut_block(shared: &Shared) -> Result<(), Error> {
    let (frozen, wal_upto, id) = {
        let _guard = lock(&shared.append_lock);
        let mut state = shared.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.head.spans == 0 {
            return Ok(());
        }
        let new_segment = shared.wal.rotate()?;
        let frozen = Arc::new(std::mem::take(&mut state.head));
        state.flushing.push(Arc::clone(&frozen));
        let id = state.next_block_id;
        state.next_block_id += 1;
        (frozen, new_segment - 1, id)
    };
    let result = write_frozen(shared, &frozen, wal_upto, id);
    if result.is_err() {
        // Give the spans back to the head (they are still in the WAL) so the next cut
        // retries them.
        let mut state = shared.state.write().unwrap_or_else(PoisonError::into_inner);
        state.flushing.retain(|head| !Arc::ptr_eq(head, &frozen));
        for spans in frozen.traces.values() {
            let bytes = spans.iter().map(approximate_size).sum();
            state.head.insert(spans, bytes);
        }
    }
    result
}

fn write_frozen(shared: &Shared, frozen: &Arc<Head>, wal_upto: u64, id: u64) -> Result<(), Error> {
    let dir = shared.dir.join(BLOCKS_DIR).join(format!("{id:010}"));
    let spans: Vec<&Span> = frozen.traces.values().flatten().collect();
    let started = Instant::now();
    block::write(&dir, spans, wal_upto)?;
    let block = Arc::new(Block::open(id, &dir)?);
    tracing::info!(
        block = id,
        spans = block.meta.spans,
        traces = block.meta.traces,
        bytes = block.bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "trace block written"
    );
    {
        let mut state = shared.state.write().unwrap_or_else(PoisonError::into_inner);
        state.blocks.push(block);
        state.flushing.retain(|head| !Arc::ptr_eq(head, frozen));
    }
    wal::write_checkpoint(&shared.dir.join(WAL_DIR), wal_upto, |_| Ok(()))?;
    Ok(())
}

/// Whether `dir` holds a WAL segment numbered `1..=upto`.
fn has_segments_through(dir: &Path, upto: u64) -> bool {
    upto > 0
        && std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                wal::segment::parse_segment_name(&entry.file_name().to_string_lossy())
                    .is_some_and(|seq| seq <= upto)
            })
        })
}

fn apply_retention(shared: &Shared) -> Result<(), Error> {
    if !shared.options.retention.is_zero() {
        let retention = i64::try_from(shared.options.retention.as_nanos()).unwrap_or(i64::MAX);
        let oldest = UnixNanos::now().0.saturating_sub(retention);
        let mut state = shared.state.write().unwrap_or_else(PoisonError::into_inner);
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.blocks)
            .into_iter()
            .partition(|block| block.meta.max_end.0 < oldest);
        state.blocks = kept;
        for block in &expired {
            tracing::info!(block = block.id, "trace block past retention deleted");
        }
        state.retired.extend(expired);
    }
    delete_retired(shared)
}

/// Deletes the retired blocks no reader holds any more.
fn delete_retired(shared: &Shared) -> Result<(), Error> {
    let unused: Vec<Arc<Block>> = {
        let mut state = shared.state.write().unwrap_or_else(PoisonError::into_inner);
        let (unused, held): (Vec<_>, Vec<_>) = std::mem::take(&mut state.retired)
            .into_iter()
            .partition(|block| Arc::strong_count(block) == 1);
        state.retired = held;
        unused
    };
    for block in unused {
        std::fs::remove_dir_all(&block.dir)
            .map_err(Error::io("cannot delete trace block", &block.dir))?;
    }
    Ok(())
}

/// How long the compactor waits between rounds that found nothing to merge.
const COMPACTION_INTERVAL: Duration = Duration::from_secs(10);

fn run_compactor(shared: &Arc<Shared>) {
    loop {
        if *lock(&shared.closing.0) {
            return;
        }
        match compact_once(shared) {
            // Merged: there may be more to do at once.
            Ok(true) => continue,
            Ok(false) => {}
            Err(err) => {
                tracing::error!(%err, "trace block compaction failed; the blocks stay as they are")
            }
        }
        let closing = lock(&shared.closing.0);
        let (closing, _) = shared
            .closing
            .1
            .wait_timeout_while(closing, COMPACTION_INTERVAL, |closing| !*closing)
            .unwrap_or_else(PoisonError::into_inner);
        if *closing {
            return;
        }
    }
}

/// Merges the oldest `compaction_fan_in` blocks of the lowest level that has that many
/// (and not too many spans together) into one block of the next level.
fn compact_once(shared: &Shared) -> Result<bool, Error> {
    let options = &shared.options;
    if options.compaction_fan_in < 2 {
        return Ok(false);
    }
    let _only_one = lock(&shared.compaction);
    let (inputs, id) = {
        let mut state = shared.state.write().unwrap_or_else(PoisonError::into_inner);
        let chosen = (0..options.compaction_max_level).find_map(|level| {
            let candidates: Vec<Arc<Block>> = state
                .blocks
                .iter()
                .filter(|block| block.meta.level == level)
                .take(options.compaction_fan_in)
                .cloned()
                .collect();
            let spans: u64 = candidates.iter().map(|b| b.meta.spans).sum();
            (candidates.len() == options.compaction_fan_in && spans <= options.compaction_max_spans)
                .then_some(candidates)
        });
        let Some(inputs) = chosen else {
            return Ok(false);
        };
        let id = state.next_block_id;
        state.next_block_id += 1;
        (inputs, id)
    };
    let dir = shared.dir.join(BLOCKS_DIR).join(format!("{id:010}"));
    let started = Instant::now();
    let refs: Vec<&Block> = inputs.iter().map(|block| block.as_ref()).collect();
    block::merge(&dir, &refs)?;
    let merged = Arc::new(Block::open(id, &dir)?);
    tracing::info!(
        block = id,
        level = merged.meta.level,
        inputs = ?merged.meta.sources,
        spans = merged.meta.spans,
        bytes = merged.bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "trace blocks compacted"
    );
    {
        let mut state = shared.state.write().unwrap_or_else(PoisonError::into_inner);
        let replaced: HashSet<u64> = inputs.iter().map(|block| block.id).collect();
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.blocks)
            .into_iter()
            .partition(|block| replaced.contains(&block.id));
        state.blocks = kept;
        state.blocks.push(merged);
        state
            .blocks
            .sort_by_key(|block| (block.meta.min_start, block.id));
        state.retired.extend(gone);
    }
    drop(inputs);
    delete_retired(shared)?;
    Ok(true)
}

#[cfg(test)]
mod tests;
