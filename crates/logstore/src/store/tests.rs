//! The store end to end in one process: appends, searches, cursors, crashes simulated by
//! copying the data directory while lines are acknowledged but not committed.

use std::path::Path;

use model::{LogRecord, Severity, SpanId, TraceId, UnixNanos, Value};

use super::*;
use crate::search::{Direction, SearchRequest, TopField};

const SECOND: i64 = 1_000_000_000;
const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_B: &str = "0af7651916cd43dd8448eb211c80319c";

fn now() -> i64 {
    UnixNanos::now().0
}

fn options() -> Options {
    Options {
        // Tests commit with flush(); the timer must not commit behind their back.
        commit_interval: Duration::from_secs(3600),
        indexing_memory_per_thread: 15 << 20,
        indexing_threads: 1,
        ..Options::default()
    }
}

fn line(
    ts: i64,
    service: &str,
    severity: Severity,
    trace: Option<&str>,
    message: &str,
    fields: Vec<(&str, Value)>,
) -> LogRecord {
    LogRecord {
        timestamp: UnixNanos(ts),
        observed: UnixNanos(ts),
        severity,
        service: Some(service.to_owned()),
        host: Some(format!("{service}-0")),
        trace_id: trace.map(|hex| TraceId::from_hex(hex).expect("hex")),
        span_id: trace.map(|_| SpanId::from_hex("00f067aa0ba902b7").expect("hex")),
        correlation_id: None,
        message: message.to_owned(),
        fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        raw: format!("{{\"service\":\"{service}\",\"message\":\"{message}\",\"ts\":{ts}}}"),
        raw_holds_fields: false,
    }
}

fn open(dir: &Path) -> (LogStore, OpenStats) {
    LogStore::open(dir, options(), LogMetrics::new()).expect("open")
}

fn search(store: &LogStore, query: &str) -> Vec<String> {
    let result = store
        .search(&SearchRequest {
            query,
            start: 0,
            end: i64::MAX,
            direction: Direction::Forward,
            limit: 1000,
            after: None,
        })
        .expect("search");
    assert_eq!(result.total as usize, result.hits.len(), "{query}");
    result.hits.into_iter().map(|hit| hit.line).collect()
}

fn count(store: &LogStore, query: &str) -> usize {
    search(store, query).len()
}

/// A small shop: checkout and payments lines of two traces, with fields.
fn shop(t0: i64) -> Vec<LogRecord> {
    vec![
        line(
            t0,
            "checkout",
            Severity::Info,
            Some(TRACE_A),
            "order 17 received",
            vec![
                ("http.status", Value::Int(200)),
                ("duration_ms", Value::Float(12.5)),
            ],
        ),
        line(
            t0 + SECOND,
            "payments",
            Severity::Warn,
            Some(TRACE_A),
            "card declined, retrying",
            vec![
                ("http.status", Value::Int(402)),
                ("duration_ms", Value::Int(340)),
            ],
        ),
        line(
            t0 + 2 * SECOND,
            "payments",
            Severity::Error,
            Some(TRACE_A),
            "connection to db-3.internal:5432 timed out",
            vec![
                ("user.name", Value::Str("Ann Lee".into())),
                ("retry", Value::Bool(true)),
            ],
        ),
        line(
            t0 + 3 * SECOND,
            "checkout",
            Severity::Info,
            Some(TRACE_B),
            "order 18 received",
            vec![("http.status", Value::Str("200".into()))],
        ),
        line(
            t0 + 4 * SECOND,
            "search",
            Severity::Debug,
            None,
            "cache miss for key product:9",
            vec![("duration_ms", Value::Int(3))],
        ),
    ]
}

#[test]
fn appended_lines_are_found_by_every_kind_of_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    let t0 = now() - 60 * SECOND;
    let outcome = store.append(shop(t0)).expect("append");
    assert_eq!(
        outcome,
        AppendOutcome {
            accepted: 5,
            rejected: vec![]
        }
    );
    assert_eq!(
        count(&store, "*"),
        0,
        "nothing is searchable before a commit"
    );
    store.flush().expect("flush");

    let cases: &[(&str, usize)] = &[
        ("*", 5),
        ("", 5),
        ("order", 2),
        ("ORDER", 2),
        ("\"order 17\"", 1),
        ("\"17 order\"", 0),
        ("db-3.internal", 1),
        ("timed AND out", 1),
        ("declined OR miss", 2),
        ("order -17", 1),
        ("NOT order", 3),
        ("retr*", 1),
        ("service:payments", 2),
        ("service:pay*", 2),
        ("service:(search OR checkout)", 3),
        ("level:warning", 1),
        ("level:ERROR", 1),
        ("host:payments-0", 2),
        (&format!("trace_id:{}", TRACE_A.to_uppercase()), 3),
        ("span_id:00f067aa0ba902b7", 4),
        ("http.status:200", 2),
        ("http.status:402", 1),
        ("http.status:[400 TO 499]", 1),
        ("http.status:>=200", 2),
        ("duration_ms:>10", 2),
        ("duration_ms:[3 TO 12.5]", 2),
        ("duration_ms:{3 TO 12.5}", 0),
        ("duration_ms:<3.5", 1),
        ("user.name:\"Ann Lee\"", 1),
        ("user.name:Ann", 0),
        ("retry:true", 1),
        ("nosuchfield:1", 0),
        ("service:payments AND NOT level:error", 1),
    ];
    for (query, expected) in cases {
        assert_eq!(count(&store, query), *expected, "{query}");
    }
    for bad in ["\"open", "service:[1 TO 2]", "user.name:an*", "!!!"] {
        assert!(
            matches!(
                store.search(&SearchRequest {
                    query: bad,
                    start: 0,
                    end: i64::MAX,
                    direction: Direction::Forward,
                    limit: 10,
                    after: None
                }),
                Err(Error::Query(_))
            ),
            "{bad}"
        );
    }
    store.close().expect("close");
}

#[test]
fn pages_follow_a_cursor_in_either_direction_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    let t0 = now() - 3600 * SECOND;
    // 25 lines, several on the same nanosecond, appended out of order.
    let mut lines: Vec<LogRecord> = (0..25)
        .map(|i| {
            line(
                t0 + (i / 3) * SECOND,
                "svc",
                Severity::Info,
                None,
                &format!("line {i}"),
                vec![("n", Value::Int(i))],
            )
        })
        .collect();
    lines.reverse();
    store.append(lines[..10].to_vec()).expect("append");
    store.append(lines[10..].to_vec()).expect("append");
    store.flush().expect("flush");
    for direction in [Direction::Forward, Direction::Backward] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .search(&SearchRequest {
                    query: "line",
                    start: t0,
                    end: t0 + 3600 * SECOND,
                    direction,
                    limit: 7,
                    after,
                })
                .expect("search");
            assert_eq!(page.total, 25);
            seen.extend(page.hits.iter().map(|h| (h.timestamp, h.seq)));
            match page.next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        let mut expected = seen.clone();
        expected.sort();
        if direction == Direction::Backward {
            expected.reverse();
        }
        expected.dedup();
        assert_eq!(seen.len(), 25, "{direction:?}");
        assert_eq!(seen, expected, "{direction:?}: ordered, no repeats");
    }
    // The time range bounds the search: [t0, t0 + 2 s) holds the first 6 lines.
    let result = store
        .search(&SearchRequest {
            query: "*",
            start: t0,
            end: t0 + 2 * SECOND,
            direction: Direction::Forward,
            limit: 100,
            after: None,
        })
        .expect("search");
    assert_eq!(result.total, 6);
}

#[test]
fn a_trace_is_every_line_of_it_in_time_order_across_services() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    let t0 = now() - 60 * SECOND;
    let mut lines = shop(t0);
    lines.reverse();
    store.append(lines.clone()).expect("append");
    let mut by_request = line(
        t0 + 5 * SECOND,
        "legacy",
        Severity::Info,
        None,
        "old service line",
        vec![],
    );
    by_request.correlation_id = Some("req-77".into());
    store.append(vec![by_request]).expect("append");
    store.flush().expect("flush");
    let trace = store.lines_of(TRACE_A, 0, i64::MAX, 100).expect("trace");
    let services: Vec<_> = trace
        .hits
        .iter()
        .map(|h| h.service.clone().unwrap_or_default())
        .collect();
    assert_eq!(services, ["checkout", "payments", "payments"]);
    assert!(
        trace
            .hits
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp)
    );
    assert_eq!(trace.hits[0].trace_id.as_deref(), Some(TRACE_A));
    assert_eq!(trace.hits[1].level, "warn");
    assert_eq!(
        store
            .lines_of("req-77", 0, i64::MAX, 100)
            .expect("id")
            .hits
            .len(),
        1
    );
    assert_eq!(
        store
            .lines_of("ffffffffffffffffffffffffffffffff", 0, i64::MAX, 100)
            .expect("none")
            .hits
            .len(),
        0
    );
}

#[test]
fn histogram_and_top_values_count_matching_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    let t0 = (now() - 600 * SECOND) / SECOND * SECOND;
    store.append(shop(t0)).expect("append");
    store.flush().expect("flush");
    let buckets = store.histogram("*", t0, 2 * SECOND, 3).expect("histogram");
    assert_eq!(buckets, [2, 2, 1]);
    assert_eq!(
        store
            .histogram("service:payments", t0, 2 * SECOND, 3)
            .expect("histogram"),
        [1, 1, 0]
    );
    let top = store
        .top_values("*", 0, i64::MAX, TopField::Service, 2)
        .expect("top");
    assert_eq!(
        top,
        [("checkout".to_owned(), 2), ("payments".to_owned(), 2)]
    );
    let levels = store
        .top_values("order OR declined", 0, i64::MAX, TopField::Level, 10)
        .expect("top");
    assert_eq!(levels, [("info".to_owned(), 2), ("warn".to_owned(), 1)]);
    assert!(store.histogram("*", t0, 0, 3).is_err());
}

#[test]
fn tail_streams_lines_by_append_number_whatever_their_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    let t0 = (now() - 600 * SECOND) / SECOND * SECOND;
    store.append(shop(t0)).expect("append");
    store.flush().expect("flush");
    let first = store.searchable_below();
    assert_eq!(first, 6, "lines are numbered from 1");
    assert!(
        store
            .lines_numbered("*", first, first, 10)
            .expect("tail")
            .is_empty()
    );
    // A late line (older timestamp) and a new one: tail sees both, in append order.
    store
        .append(vec![
            line(
                t0 + 9 * SECOND,
                "checkout",
                Severity::Info,
                None,
                "later",
                vec![],
            ),
            line(
                t0 - 300 * SECOND,
                "payments",
                Severity::Error,
                None,
                "late",
                vec![],
            ),
        ])
        .expect("append");
    store.flush().expect("flush");
    let below = store.searchable_below();
    let all = store.lines_numbered("*", first, below, 10).expect("tail");
    let seqs: Vec<u64> = all.iter().map(|h| h.seq).collect();
    assert_eq!(seqs, [6, 7]);
    let errors = store
        .lines_numbered("level:error", first, below, 10)
        .expect("tail");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].line.contains("late"));
    assert_eq!(
        store.lines_numbered("*", 0, below, 2).expect("tail").len(),
        2
    );
}

#[test]
fn lines_outside_the_accepted_window_are_refused_one_by_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    let t = now();
    let lines = vec![
        line(
            t - 8 * 86_400 * SECOND,
            "a",
            Severity::Info,
            None,
            "too old",
            vec![],
        ),
        line(t, "a", Severity::Info, None, "fine", vec![]),
        line(
            t + 3600 * SECOND,
            "a",
            Severity::Info,
            None,
            "too new",
            vec![],
        ),
    ];
    let outcome = store.append(lines).expect("append");
    assert_eq!(outcome.accepted, 1);
    assert_eq!(
        outcome.rejected,
        [(0, Rejection::TooOld), (2, Rejection::TooNew)]
    );
    store.flush().expect("flush");
    assert_eq!(search(&store, "*").len(), 1);
}

/// Copies a live store's directory as a crash would leave it. Tantivy deletes files the
/// last commit no longer uses in the background; one that goes while the copy runs is
/// not needed by the copy either, so it is skipped.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
        Err(err) => panic!("read_dir {}: {err}", from.display()),
    };
    for entry in entries.flatten() {
        let target = to.join(entry.file_name());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != ".tantivy-writer.lock" {
            match std::fs::copy(entry.path(), &target) {
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => panic!("copy {}: {err}", entry.path().display()),
            }
        }
    }
}

#[test]
fn acknowledged_lines_survive_a_crash_before_their_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crashed = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    let t0 = now() - 60 * SECOND;
    store.append(shop(t0)[..2].to_vec()).expect("append");
    store.flush().expect("flush");
    store.append(shop(t0)[2..].to_vec()).expect("append");
    // What the disk holds now: two lines committed, three only in the WAL.
    copy_dir(dir.path(), crashed.path());
    store.close().expect("close");

    let (recovered, stats) = open(crashed.path());
    assert_eq!(stats.replayed_lines, 3);
    assert_eq!(
        search(&recovered, "*").len(),
        5,
        "every acknowledged line, once"
    );
    let more = recovered
        .append(vec![line(
            t0 + 9 * SECOND,
            "x",
            Severity::Info,
            None,
            "after",
            vec![],
        )])
        .expect("append");
    assert_eq!(more.accepted, 1);
    recovered.flush().expect("flush");
    let seqs: Vec<u64> = recovered
        .search(&SearchRequest {
            query: "*",
            start: 0,
            end: i64::MAX,
            direction: Direction::Forward,
            limit: 100,
            after: None,
        })
        .expect("search")
        .hits
        .iter()
        .map(|h| h.seq)
        .collect();
    let mut unique = seqs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        6,
        "sequence numbers stay unique after a replay: {seqs:?}"
    );
    recovered.close().expect("close");
    // A clean restart replays nothing: the last commit emptied the WAL.
    let (again, stats) = open(crashed.path());
    assert_eq!(stats.replayed_lines, 0);
    assert_eq!(search(&again, "*").len(), 6);
}

#[test]
fn lines_committed_but_still_in_the_wal_are_not_indexed_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crashed = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    let t0 = now() - 60 * SECOND;
    store.append(shop(t0)).expect("append");
    // The WAL as it was before the commit, with the partitions as they are after it: a
    // crash between a commit and the removal of the segments it covered.
    copy_dir(&dir.path().join("wal"), &crashed.path().join("wal"));
    store.flush().expect("flush");
    copy_dir(
        &dir.path().join("partitions"),
        &crashed.path().join("partitions"),
    );
    store.close().expect("close");
    let (recovered, stats) = open(crashed.path());
    assert_eq!(stats.replayed_lines, 0);
    assert_eq!(search(&recovered, "*").len(), 5);
}

#[test]
fn a_partition_that_cannot_open_is_set_aside_and_the_store_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, _) = open(dir.path());
        store.append(shop(now() - 60 * SECOND)).expect("append");
        store.close().expect("close");
    }
    let partitions = dir.path().join("partitions");
    let name = std::fs::read_dir(&partitions)
        .expect("list")
        .flatten()
        .next()
        .expect("a partition")
        .file_name();
    std::fs::write(partitions.join(&name).join("meta.json"), b"{ not json").expect("damage");
    let (store, stats) = open(dir.path());
    assert_eq!(stats.damaged_partitions, 1);
    assert!(
        partitions
            .join(format!("{}.damaged", name.to_string_lossy()))
            .exists()
    );
    assert_eq!(search(&store, "*").len(), 0);
    store
        .append(shop(now() - 60 * SECOND))
        .expect("append after");
    store.flush().expect("flush");
    assert_eq!(search(&store, "*").len(), 5);
}

#[test]
fn retention_deletes_whole_partitions_older_than_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = now() - 3 * 86_400 * SECOND;
    {
        let keep_all = Options {
            retention: Duration::ZERO,
            ..options()
        };
        let (store, _) = LogStore::open(dir.path(), keep_all, LogMetrics::new()).expect("open");
        store
            .append(vec![line(
                old,
                "a",
                Severity::Info,
                None,
                "old line",
                vec![],
            )])
            .expect("append");
        store
            .append(vec![line(
                now(),
                "a",
                Severity::Info,
                None,
                "new line",
                vec![],
            )])
            .expect("append");
        store.close().expect("close");
    }
    let two_days = Options {
        retention: Duration::from_secs(2 * 86_400),
        ..options()
    };
    let (store, stats) = LogStore::open(dir.path(), two_days, LogMetrics::new()).expect("open");
    assert_eq!(stats.partitions, 2);
    assert_eq!(search(&store, "*").len(), 1, "the old partition is gone");
    assert_eq!(
        std::fs::read_dir(dir.path().join("partitions"))
            .expect("list")
            .count(),
        1
    );
}

#[test]
fn closed_store_refuses_appends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = open(dir.path());
    store.close().expect("close");
    assert!(matches!(store.append(shop(now())), Err(Error::Closed)));
}

#[test]
fn lines_become_searchable_while_ingest_never_pauses() {
    // A slow indexer and an appender faster than it: the queue never runs dry, and the
    // commit timer must still fire (it used to wait for an empty queue).
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options {
        commit_interval: Duration::from_millis(50),
        index_delay: Duration::from_millis(15),
        ..options()
    };
    let (store, _) = LogStore::open(dir.path(), options, LogMetrics::new()).expect("open");
    let started = Instant::now();
    let mut first_searchable = None;
    let mut batches = 0;
    while started.elapsed() < Duration::from_millis(800) {
        store.append(shop(now())).expect("append");
        batches += 1;
        if first_searchable.is_none() && store.searchable_below() > 1 {
            first_searchable = Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        store.queued_bytes() > 0,
        "the appender must outrun the indexer for this test to mean anything"
    );
    let first = first_searchable.expect("lines became searchable while appends went on");
    assert!(
        first < Duration::from_millis(600),
        "first commit after {first:?}"
    );
    assert!(batches > 50, "{batches} batches");
}

mod fields;
