use std::time::Duration;

use model::{Span, SpanId, TraceId, UnixNanos};

use super::*;
use crate::codec::tests::span;

fn options() -> TraceStoreOptions {
    TraceStoreOptions {
        // No background cut during a test: each test cuts with `flush`.
        block_max_age: Duration::from_secs(3600),
        retention: Duration::ZERO,
        ..TraceStoreOptions::default()
    }
}

fn open(dir: &Path) -> TraceStore {
    TraceStore::open(dir, options()).expect("open").0
}

fn now() -> i64 {
    UnixNanos::now().0
}

fn ids(spans: &[Span]) -> Vec<(u8, u8)> {
    spans
        .iter()
        .map(|s| (s.trace_id.as_bytes()[0], s.span_id.as_bytes()[0]))
        .collect()
}

#[test]
fn a_trace_that_arrives_in_pieces_comes_back_whole_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let t0 = now();
    store
        .append(&[span(1, 1, None, t0), span(2, 1, None, t0)])
        .expect("append");
    store.flush().expect("flush");
    store
        .append(&[span(1, 2, Some(1), t0 + 10)])
        .expect("append");
    store.flush().expect("flush");
    // The head holds the third piece, and a retried copy of the first.
    store
        .append(&[span(1, 3, Some(2), t0 + 20), span(1, 1, None, t0)])
        .expect("append");
    assert_eq!(store.stats().blocks, 2);
    let trace = store.trace(&span(1, 1, None, 0).trace_id).expect("trace");
    assert_eq!(ids(&trace), vec![(1, 1), (1, 2), (1, 3)]);
    assert_eq!(trace[0], span(1, 1, None, t0));
    // Zipkin's shared span: the server half has its client's id, another kind and
    // service. Both halves are kept.
    let mut server_half = span(1, 2, Some(1), t0 + 11);
    server_half.kind = model::SpanKind::Server;
    server_half.service = "backend".into();
    store.append(&[server_half]).expect("append");
    let trace = store.trace(&span(1, 1, None, 0).trace_id).expect("trace");
    assert_eq!(ids(&trace), vec![(1, 1), (1, 2), (1, 2), (1, 3)]);
    let unknown = TraceId::from_bytes(&[9; 16]).expect("id");
    assert!(store.trace(&unknown).expect("trace").is_empty());
}

#[test]
fn reopening_replays_the_head_and_keeps_the_blocks_without_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = now();
    {
        let store = open(dir.path());
        store.append(&[span(1, 1, None, t0)]).expect("append");
        store.flush().expect("flush");
        store
            .append(&[span(1, 2, Some(1), t0 + 1)])
            .expect("append");
        // Dropped without a cut: the second span is only in the WAL.
        store.close().expect("close");
    }
    let (store, stats) = TraceStore::open(dir.path(), options()).expect("open");
    // close() wrote the head as a second block, so nothing is left to replay.
    assert_eq!(stats.blocks, 2);
    assert_eq!(stats.replayed_spans, 0);
    let trace = store.trace(&span(1, 1, None, 0).trace_id).expect("trace");
    assert_eq!(ids(&trace), vec![(1, 1), (1, 2)]);
}

#[test]
fn spans_only_in_the_wal_survive_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = now();
    let store = open(dir.path());
    store.append(&[span(1, 1, None, t0)]).expect("append");
    store.flush().expect("flush");
    store
        .append(&[span(1, 2, Some(1), t0 + 1), span(3, 1, None, t0)])
        .expect("append");
    // A crash: nothing closes the store, no block is cut; the flusher never wakes in
    // time (block_max_age is an hour).
    std::mem::forget(store);
    let (store, stats) = TraceStore::open(dir.path(), options()).expect("open");
    assert_eq!(stats.replayed_spans, 2);
    assert_eq!(stats.blocks, 1);
    let trace = store.trace(&span(1, 1, None, 0).trace_id).expect("trace");
    assert_eq!(ids(&trace), vec![(1, 1), (1, 2)]);
    assert_eq!(
        store
            .trace(&span(3, 1, None, 0).trace_id)
            .expect("trace")
            .len(),
        1
    );
}

#[test]
fn segments_a_block_already_holds_are_not_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = now();
    let wal_dir = dir.path().join(WAL_DIR);
    {
        let store = open(dir.path());
        store.append(&[span(1, 1, None, t0)]).expect("append");
        std::mem::forget(store);
    }
    // Keep a copy of the WAL, cut the block, then put the old segments back: the state
    // of a crash after the block was installed, before its segments were dropped.
    let saved: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&wal_dir)
        .expect("wal dir")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| (e.path(), std::fs::read(e.path()).expect("read")))
        .collect();
    {
        let (store, stats) = TraceStore::open(dir.path(), options()).expect("open");
        assert_eq!(stats.replayed_spans, 1);
        store.flush().expect("flush");
        std::mem::forget(store);
    }
    for (path, bytes) in &saved {
        std::fs::write(path, bytes).expect("restore");
    }
    let (store, stats) = TraceStore::open(dir.path(), options()).expect("open");
    assert_eq!(stats.replayed_spans, 0);
    assert_eq!(
        store
            .trace(&span(1, 1, None, 0).trace_id)
            .expect("trace")
            .len(),
        1
    );
}

#[test]
fn search_finds_traces_in_the_head_and_in_blocks_most_recent_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let t0 = now();
    // Trace 1 (svc-1): root in a block, its error span (id 13) in the head.
    store.append(&[span(1, 1, None, t0)]).expect("append");
    store.append(&[span(4, 1, None, t0 + 100)]).expect("append");
    store.flush().expect("flush");
    store
        .append(&[span(1, 13, Some(1), t0 + 50)])
        .expect("append");
    store.append(&[span(7, 1, None, t0 + 200)]).expect("append");

    let everything = SearchQuery::in_range(UnixNanos(t0 - 1000), UnixNanos(t0 + 1000), 20);
    let all = store.search(&everything).expect("search");
    let order: Vec<u8> = all.iter().map(|s| s.trace_id.as_bytes()[0]).collect();
    assert_eq!(order, vec![7, 4, 1]);
    let one = &all[2];
    assert_eq!(one.root_name, "GET /1");
    assert_eq!(one.span_count, 2);
    assert_eq!(one.error_count, 1);
    assert_eq!(one.start, UnixNanos(t0));

    let errors = SearchQuery {
        errors_only: true,
        ..everything.clone()
    };
    let found = store.search(&errors).expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].trace_id, span(1, 1, None, 0).trace_id);

    let by_service_and_attribute = SearchQuery {
        service: Some("svc-1".into()),
        attributes: vec![("http.route".into(), "/1".into())],
        ..everything.clone()
    };
    let found = store.search(&by_service_and_attribute).expect("search");
    let order: Vec<u8> = found.iter().map(|s| s.trace_id.as_bytes()[0]).collect();
    assert_eq!(order, vec![7, 4, 1]);

    let limited = SearchQuery {
        limit: 1,
        ..everything
    };
    assert_eq!(store.search(&limited).expect("search").len(), 1);
    let outside = SearchQuery::in_range(UnixNanos(t0 + 5000), UnixNanos(t0 + 6000), 20);
    assert!(store.search(&outside).expect("search").is_empty());
    let backwards = SearchQuery::in_range(UnixNanos(10), UnixNanos(5), 20);
    assert!(matches!(store.search(&backwards), Err(Error::Query(_))));

    let operations = store.operations();
    assert!(operations.contains("svc-1", Some("GET /13")));
    assert!(operations.contains("svc-1", Some("GET /1")));
}

#[test]
fn a_full_head_refuses_appends_until_a_block_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = TraceStoreOptions {
        max_head_bytes: 4096,
        ..options()
    };
    let (store, _) = TraceStore::open(dir.path(), small).expect("open");
    let t0 = now();
    let batch: Vec<Span> = (1..=5).map(|i| span(1, i, None, t0)).collect();
    store.append(&batch).expect("append");
    let err = store.append(&batch).expect_err("over the limit");
    assert!(matches!(err, Error::Overloaded { .. }), "{err}");
    assert_eq!(err.kind(), model::ErrorKind::TooManyRequests);
    store.flush().expect("flush");
    store.append(&batch).expect("room again");
}

#[test]
fn a_trace_over_the_span_limit_is_refused_not_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limited = TraceStoreOptions {
        max_spans_per_trace: 3,
        ..options()
    };
    let (store, _) = TraceStore::open(dir.path(), limited).expect("open");
    let t0 = now();
    let batch: Vec<Span> = (1..=4).map(|i| span(1, i, None, t0)).collect();
    store.append(&batch).expect("append");
    let err = store.trace(&batch[0].trace_id).expect_err("too large");
    assert!(
        matches!(err, Error::TraceTooLarge { limit: 3, .. }),
        "{err}"
    );
}

#[test]
fn blocks_past_retention_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keep_an_hour = TraceStoreOptions {
        retention: Duration::from_secs(3600),
        ..options()
    };
    let (store, _) = TraceStore::open(dir.path(), keep_an_hour).expect("open");
    let two_hours_ago = now() - 7_200_000_000_000;
    store
        .append(&[span(1, 1, None, two_hours_ago)])
        .expect("append");
    store.flush().expect("flush");
    store.append(&[span(2, 1, None, now())]).expect("append");
    store.flush().expect("flush");
    assert_eq!(store.stats().blocks, 2);
    apply_retention(&store.shared).expect("retention");
    assert_eq!(store.stats().blocks, 1);
    assert!(
        store
            .trace(&span(1, 1, None, 0).trace_id)
            .expect("trace")
            .is_empty()
    );
    assert_eq!(
        store
            .trace(&span(2, 1, None, 0).trace_id)
            .expect("trace")
            .len(),
        1
    );
    let span_id = SpanId::from_bytes(&[1; 8]).expect("id");
    assert_eq!(
        store.trace(&span(2, 1, None, 0).trace_id).expect("trace")[0].span_id,
        span_id
    );
}

#[test]
fn a_100k_span_trace_split_across_head_and_block_comes_back_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let t0 = now();
    let trace_id = TraceId::from_bytes(&[0x42; 16]).expect("id");
    let spans: Vec<Span> = (0..100_000u64)
        .map(|i| {
            let mut span = span(0x42, 1, None, t0 + i as i64);
            span.span_id = SpanId::from_bytes(&(i + 1).to_be_bytes()).expect("id");
            span.parent_span_id =
                (i > 0).then(|| SpanId::from_bytes(&1u64.to_be_bytes()).expect("id"));
            span.attributes.truncate(1);
            span.events.clear();
            span.links.clear();
            span
        })
        .collect();
    // Other traces around it in the same block, so its rows span many row groups
    // between others.
    store
        .append(&[span(0x41, 1, None, t0), span(0x43, 1, None, t0)])
        .expect("append");
    for chunk in spans[..90_000].chunks(10_000) {
        store.append(chunk).expect("append");
    }
    store.flush().expect("flush");
    store.append(&spans[90_000..]).expect("append");
    let found = store.trace(&trace_id).expect("trace");
    assert_eq!(found.len(), 100_000);
    assert!(found.windows(2).all(|pair| pair[0].start <= pair[1].start));
    assert_eq!(found.first().map(|s| s.span_id), Some(spans[0].span_id));
    assert_eq!(found.last().map(|s| s.span_id), Some(spans[99_999].span_id));
    assert_eq!(
        store
            .trace(&span(0x43, 1, None, 0).trace_id)
            .expect("trace")
            .len(),
        1
    );
}

fn block_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(BLOCKS_DIR))
        .expect("blocks dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn compaction_merges_levels_drops_repeats_and_keeps_every_trace_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pairs = TraceStoreOptions {
        compaction_fan_in: 2,
        ..options()
    };
    let (store, _) = TraceStore::open(dir.path(), pairs.clone()).expect("open");
    let t0 = now();
    // Trace 1 arrives in four pieces, one per block; the second piece is sent twice
    // (a retried export), landing in two blocks.
    for (piece, id) in [1u8, 2, 3, 4].into_iter().enumerate() {
        let parent = (id > 1).then_some(id - 1);
        let mut batch = vec![span(1, id, parent, t0 + piece as i64)];
        if id == 3 {
            batch.push(span(1, 2, Some(1), t0 + 1));
        }
        batch.push(span(10 + id, 1, None, t0));
        store.append(&batch).expect("append");
        store.flush().expect("flush");
    }
    assert_eq!(store.stats().blocks, 4);
    assert_eq!(store.stats().block_spans, 9);
    // 4 level-0 blocks -> 2 level-1 blocks -> 1 level-2 block.
    assert!(store.compact().expect("compact"));
    assert!(store.compact().expect("compact"));
    assert!(store.compact().expect("compact"));
    assert!(!store.compact().expect("nothing left to merge"));
    let stats = store.stats();
    assert_eq!(stats.blocks, 1);
    assert_eq!(stats.block_spans, 8, "the repeated span is stored once");
    assert_eq!(block_dirs(dir.path()).len(), 1, "the inputs are deleted");
    let trace = store.trace(&span(1, 1, None, 0).trace_id).expect("trace");
    assert_eq!(ids(&trace), vec![(1, 1), (1, 2), (1, 3), (1, 4)]);
    for other in 11..=14u8 {
        assert_eq!(
            store
                .trace(&span(other, 1, None, 0).trace_id)
                .expect("trace")
                .len(),
            1
        );
    }
    let everything = SearchQuery::in_range(UnixNanos(t0 - 10), UnixNanos(t0 + 10), 20);
    assert_eq!(store.search(&everything).expect("search").len(), 5);
    assert!(store.operations().contains("svc-1", Some("GET /4")));
    store.close().expect("close");
    let (store, stats) = TraceStore::open(dir.path(), pairs).expect("reopen");
    assert_eq!(stats.blocks, 1);
    assert_eq!(
        store
            .trace(&span(1, 1, None, 0).trace_id)
            .expect("trace")
            .len(),
        4
    );
}

#[test]
fn inputs_left_behind_by_a_crash_during_compaction_are_deleted_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pairs = TraceStoreOptions {
        compaction_fan_in: 2,
        ..options()
    };
    let t0 = now();
    let saved = dir.path().join("saved");
    {
        let (store, _) = TraceStore::open(dir.path(), pairs.clone()).expect("open");
        store.append(&[span(1, 1, None, t0)]).expect("append");
        store.flush().expect("flush");
        store
            .append(&[span(1, 2, Some(1), t0 + 1)])
            .expect("append");
        store.flush().expect("flush");
        // Keep a copy of the first input, as if its deletion had not happened.
        let first = dir.path().join(BLOCKS_DIR).join(&block_dirs(dir.path())[0]);
        std::fs::create_dir_all(&saved).expect("mkdir");
        for entry in std::fs::read_dir(&first).expect("block").flatten() {
            std::fs::copy(entry.path(), saved.join(entry.file_name())).expect("copy");
        }
        assert!(store.compact().expect("compact"));
        std::fs::rename(&saved, &first).expect("put the input back");
        assert_eq!(block_dirs(dir.path()).len(), 2);
        store.close().expect("close");
    }
    let (store, stats) = TraceStore::open(dir.path(), pairs).expect("reopen");
    assert_eq!(stats.blocks, 1);
    assert_eq!(block_dirs(dir.path()).len(), 1);
    assert_eq!(
        store
            .trace(&span(1, 1, None, 0).trace_id)
            .expect("trace")
            .len(),
        2
    );
}
