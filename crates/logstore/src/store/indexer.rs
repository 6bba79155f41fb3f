//! The indexer thread: owns every open partition's Tantivy writer, adds queued
//! documents, runs commit rounds when a marker arrives (see the exactly-once rules at
//! the top of `store.rs`), closes idle writers and enforces retention.

use super::*;

struct OpenWriter {
    partition: Arc<Partition>,
    writer: IndexWriter<LogDoc>,
    last_seq: u64,
    dirty: bool,
    last_used: Instant,
}

/// Commits every second make many small segments under load; merging 16 of a size at
/// a time (instead of Tantivy's 8) rewrites each line about a third fewer times on its
/// way to a partition's large segments.
fn merge_policy() -> tantivy::indexer::LogMergePolicy {
    let mut policy = tantivy::indexer::LogMergePolicy::default();
    policy.set_min_num_segments(16);
    policy.set_min_layer_size(50_000);
    policy
}

/// The indexer thread's state.
pub(super) struct Indexer {
    shared: Arc<Shared>,
    writers: HashMap<i64, OpenWriter>,
    /// Lines added since the last commit round.
    uncommitted: u64,
    checkpointed: u64,
    last_retention: Instant,
}

impl Indexer {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Indexer {
            shared,
            writers: HashMap::new(),
            uncommitted: 0,
            checkpointed: 0,
            last_retention: Instant::now(),
        }
    }

    pub(super) fn run(mut self, receiver: &Receiver<Msg>) {
        let interval = self.shared.options.commit_interval;
        let mut next_tick = Instant::now() + interval;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(wait) {
                Ok(Msg::Batch { docs, bytes }) => {
                    #[cfg(test)]
                    std::thread::sleep(self.shared.options.index_delay);
                    if let Err(err) = self.add(docs) {
                        self.fail(&err);
                        return;
                    }
                    let left = self
                        .shared
                        .queued_bytes
                        .fetch_sub(bytes, Ordering::AcqRel)
                        .saturating_sub(bytes);
                    self.shared.metrics.indexing_queue_bytes.set(left as i64);
                }
                Ok(Msg::Marker { segment, seq, done }) => {
                    let result = self.commit_round(segment, seq);
                    if let Err(err) = &result {
                        tracing::warn!(
                            "log commit failed; the lines stay in the WAL and are retried: {err}"
                        );
                    }
                    if let Some(done) = done {
                        let _ = done.send(result.map_err(|err| err.to_string()));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Checked after every message, not only when the queue runs dry: under
            // sustained ingest it never does, and lines would wait for a lull to become
            // searchable.
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + interval;
                self.tick();
            }
        }
    }

    /// Once per commit interval: start a commit round when anything was appended, close
    /// idle writers, and now and then enforce retention.
    fn tick(&mut self) {
        if self.shared.appended_since_marker.load(Ordering::Acquire)
            && let Err(err) = self.shared.send_marker(None)
        {
            tracing::warn!("cannot start a log commit: {err}");
        }
        self.close_idle_writers();
        if self.last_retention.elapsed() >= Duration::from_secs(30) {
            self.last_retention = Instant::now();
            if let Err(err) = self.enforce_retention() {
                tracing::warn!("log retention: {err}");
            }
        }
    }

    fn fail(&self, err: &Error) {
        tracing::error!("the log indexer stopped: {err}");
        *lock(&self.shared.failure) = Some(err.to_string());
    }

    fn writer(&mut self, start: i64) -> Result<&mut OpenWriter, Error> {
        if !self.writers.contains_key(&start) {
            if self.writers.len() >= self.shared.options.max_open_writers.max(1) {
                self.evict_one();
            }
            let existing = self
                .shared
                .partitions
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&start)
                .cloned();
            let partition = match existing {
                Some(partition) => partition,
                None => self.shared.create_partition(start)?,
            };
            let options = IndexWriterOptions::builder()
                .memory_budget_per_thread(self.shared.options.indexing_memory_per_thread)
                .num_worker_threads(self.shared.options.indexing_threads.max(1))
                .num_merge_threads(self.shared.options.merge_threads.max(1))
                .build();
            let writer: IndexWriter<LogDoc> = partition
                .index
                .writer_with_options(options)
                .map_err(Error::index("cannot write log partition", &partition.dir))?;
            writer.set_merge_policy(Box::new(merge_policy()));
            let last_seq = partition.committed_seq.load(Ordering::Relaxed);
            self.writers.insert(
                start,
                OpenWriter {
                    partition,
                    writer,
                    last_seq,
                    dirty: false,
                    last_used: Instant::now(),
                },
            );
        }
        self.writers
            .get_mut(&start)
            .ok_or_else(|| Error::Failed("a partition writer vanished".into()))
    }

    fn add(&mut self, docs: Vec<QueuedDoc>) -> Result<(), Error> {
        self.uncommitted += docs.len() as u64;
        for queued in docs {
            let writer = self.writer(queued.partition)?;
            let seq = queued.doc.seq;
            let mut doc = queued.doc;
            doc.policy = Arc::clone(&writer.partition.policy);
            writer.writer.add_document(doc).map_err(Error::index(
                "cannot index into log partition",
                &writer.partition.dir,
            ))?;
            writer.last_seq = writer.last_seq.max(seq);
            writer.dirty = true;
            writer.last_used = Instant::now();
        }
        Ok(())
    }

    fn commit_writer(writer: &mut OpenWriter) -> Result<(), Error> {
        let dir = writer.partition.dir.clone();
        let mut prepared = writer
            .writer
            .prepare_commit()
            .map_err(Error::index("cannot commit log partition", &dir))?;
        prepared.set_payload(&format!("seq={}", writer.last_seq));
        prepared
            .commit()
            .map_err(Error::index("cannot commit log partition", &dir))?;
        writer
            .partition
            .committed_seq
            .store(writer.last_seq, Ordering::Release);
        writer.dirty = false;
        writer
            .partition
            .reader
            .reload()
            .map_err(Error::index("cannot reload log partition", &dir))?;
        Ok(())
    }

    fn commit_round(&mut self, segment: u64, seq: u64) -> Result<(), Error> {
        let mut first_error = None;
        let mut committed_any = false;
        for writer in self.writers.values_mut().filter(|w| w.dirty) {
            match Self::commit_writer(writer) {
                Ok(()) => committed_any = true,
                Err(err) => {
                    self.shared.metrics.commit_failures.inc();
                    first_error.get_or_insert(err);
                }
            }
        }
        if committed_any {
            self.shared.metrics.commits.inc();
        }
        if let Some(err) = first_error {
            return Err(err);
        }
        self.shared
            .searchable_below
            .fetch_max(seq, Ordering::AcqRel);
        self.shared.metrics.lines_indexed.inc_by(self.uncommitted);
        self.uncommitted = 0;
        // Everything in segments below `segment` is committed.
        let upto = segment.saturating_sub(1);
        if upto > self.checkpointed {
            wal::write_checkpoint(self.shared.wal.dir(), upto, |_| Ok(()))?;
            self.checkpointed = upto;
        }
        Ok(())
    }

    /// Closes the least recently used writer (committing it first).
    fn evict_one(&mut self) {
        let Some(&oldest) = self
            .writers
            .iter()
            .min_by_key(|(_, w)| w.last_used)
            .map(|(start, _)| start)
        else {
            return;
        };
        if let Some(mut writer) = self.writers.remove(&oldest)
            && writer.dirty
            && let Err(err) = Self::commit_writer(&mut writer)
        {
            // Keep it open: its lines must not be dropped uncommitted.
            tracing::warn!("cannot commit an idle log partition writer: {err}");
            self.writers.insert(oldest, writer);
        }
    }

    fn close_idle_writers(&mut self) {
        let idle: Vec<i64> = self
            .writers
            .iter()
            .filter(|(_, w)| !w.dirty && w.last_used.elapsed() > Duration::from_secs(300))
            .map(|(&start, _)| start)
            .collect();
        for start in idle {
            self.writers.remove(&start);
        }
    }

    pub(super) fn enforce_retention(&mut self) -> Result<(), Error> {
        let now = UnixNanos::now().0;
        let options = &self.shared.options;
        let mut doomed: Vec<(Arc<Partition>, &'static str)> = Vec::new();
        let partitions: Vec<Arc<Partition>> = self
            .shared
            .partitions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        if !options.retention.is_zero() {
            let horizon =
                now.saturating_sub(options.retention.as_nanos().min(i64::MAX as u128) as i64);
            doomed.extend(
                partitions
                    .iter()
                    .filter(|p| p.end <= horizon)
                    .map(|p| (Arc::clone(p), "age")),
            );
        }
        if options.retention_bytes > 0 {
            let sizes: Vec<u64> = partitions.iter().map(|p| wal::dir_size(&p.dir)).collect();
            let mut total: u64 = sizes.iter().sum();
            // Oldest first; the newest partition is never deleted for size.
            for (partition, size) in partitions
                .iter()
                .zip(&sizes)
                .take(partitions.len().saturating_sub(1))
            {
                if total <= options.retention_bytes {
                    break;
                }
                if !doomed.iter().any(|(p, _)| p.start == partition.start) {
                    doomed.push((Arc::clone(partition), "size"));
                }
                total -= size;
            }
        }
        for (partition, reason) in doomed {
            self.writers.remove(&partition.start);
            let removed = {
                let mut map = self
                    .shared
                    .partitions
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                let removed = map.remove(&partition.start);
                self.shared.metrics.partitions.set(map.len() as i64);
                removed
            };
            if removed.is_some() {
                tracing::info!(partition = %partition.name, reason, "deleting log partition");
                // Searches holding the partition keep their open files until they end.
                std::fs::remove_dir_all(&partition.dir)
                    .map_err(Error::io("cannot delete log partition", &partition.dir))?;
                self.shared
                    .metrics
                    .partitions_deleted
                    .with_label_values(&[reason])
                    .inc();
            }
        }
        Ok(())
    }
}
