//! The store end to end through its public API: append, query, restart, flush,
//! compaction, retention, limits.

use std::sync::Arc;

use model::Sample;
use model::write::{ExemplarWrite, MetricMetadata, MetricType, WriteBatch};

use super::*;
use crate::matcher::{MatchOp, Matcher};
use crate::querier::Series;

const HOUR: i64 = 3_600_000;
const T0: i64 = 1_795_283_910_000;

/// Test data sits at fixed times, some of them after today: no bound on the future.
fn options() -> Options {
    Options {
        wal: WalOptions {
            fsync: FsyncPolicy::Never,
            segment_max_bytes: 1 << 20,
        },
        max_future_ms: 0,
        ..Options::default()
    }
}

fn open(dir: &Path, options: Options) -> (Db, OpenReport) {
    Db::open(dir, options, TsdbMetrics::new()).expect("open")
}

/// Labels and `(timestamp, value)` samples of one series.
type SeriesSpec<'a, 'b> = (&'b [(&'a str, &'a str)], &'b [(i64, f64)]);

fn batch<'a>(series: &[SeriesSpec<'a, '_>]) -> WriteBatch<'a> {
    let mut batch = WriteBatch::new();
    for (labels, samples) in series {
        batch.push_series(
            labels.iter().copied(),
            samples.iter().map(|&(t, v)| Sample::new(t, v)),
        );
    }
    batch
}

fn query(db: &Db, matchers: &[Matcher]) -> Vec<Series> {
    db.querier(i64::MIN, i64::MAX)
        .select(matchers)
        .collect::<Result<Vec<_>, _>>()
        .expect("query")
}

fn values(series: &Series) -> Vec<(i64, u64)> {
    series
        .samples
        .iter()
        .map(|s| (s.timestamp_ms, s.value.to_bits()))
        .collect()
}

const UP_API: &[(&str, &str)] = &[("__name__", "up"), ("job", "api")];
const UP_WEB: &[(&str, &str)] = &[("__name__", "up"), ("job", "web")];

#[test]
fn appended_samples_are_queryable_by_matchers_and_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(dir.path(), options());
    let report = db
        .append(&batch(&[
            (UP_API, &[(T0, 1.0), (T0 + 15_000, 0.0)]),
            (UP_WEB, &[(T0, 1.0)]),
        ]))
        .expect("append");
    assert_eq!((report.samples_appended, report.rejected_samples), (3, 0));
    let all = query(&db, &[Matcher::equal("__name__", "up")]);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].labels.to_string(), r#"up{job="api"}"#);
    assert_eq!(all[0].samples.len(), 2);
    let web = query(
        &db,
        &[Matcher::new(MatchOp::NotEqual, "job", "api").expect("matcher")],
    );
    assert_eq!(web.len(), 1);
    let windowed: Vec<Series> = db
        .querier(T0 + 1, T0 + 15_000)
        .select(&[])
        .collect::<Result<_, _>>()
        .expect("q");
    assert_eq!(
        windowed.len(),
        1,
        "the web series has no sample in the window"
    );
    assert_eq!(
        db.querier(i64::MIN, i64::MAX).label_values("job", &[]),
        ["api", "web"]
    );
    assert_eq!(
        db.querier(i64::MIN, i64::MAX).label_names(&[]),
        ["__name__", "job"]
    );
}

#[test]
fn retries_are_idempotent_and_conflicts_and_old_samples_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(
        dir.path(),
        Options {
            out_of_order_window_ms: 60_000,
            ..options()
        },
    );
    let first = batch(&[(UP_API, &[(T0, 1.0), (T0 + 100_000, f64::NAN)])]);
    db.append(&first).expect("append");
    let retry = db.append(&first).expect("retry");
    assert_eq!(
        (
            retry.samples_appended,
            retry.samples_duplicate,
            retry.rejected_samples
        ),
        (0, 2, 0)
    );
    let report = db
        .append(&batch(&[(
            UP_API,
            &[(T0 + 100_000, 5.0), (T0 + 50_000, 2.0), (T0 + 39_999, 3.0)],
        )]))
        .expect("append");
    assert_eq!(
        report.samples_appended, 1,
        "only the sample inside the 60 s window"
    );
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(
        report.rejected[0].reason,
        RejectReason::Conflict {
            timestamp_ms: T0 + 100_000
        }
    );
    assert_eq!(report.rejected[0].samples, 2);
    let stored = query(&db, &[]);
    assert_eq!(stored[0].samples.len(), 3);
    assert_eq!(stored[0].samples[1], Sample::new(T0 + 50_000, 2.0));
    assert!(
        stored[0].samples[2].value.is_nan(),
        "NaN kept bit-exact, not replaced"
    );
}

#[test]
fn restart_replays_the_wal_bit_exact_including_exemplars_and_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stale = f64::from_bits(model::sample::STALE_NAN_BITS);
    {
        let (db, _) = open(dir.path(), options());
        let mut with_exemplar = batch(&[(
            UP_API,
            &[(T0, 1.5), (T0 + 1, stale), (T0 + 2, f64::INFINITY)],
        )]);
        with_exemplar
            .exemplar_labels
            .push(("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"));
        with_exemplar.exemplars.push(ExemplarWrite {
            labels: 0..1,
            timestamp_ms: T0,
            value: 1.5,
        });
        with_exemplar.series[0].exemplars = 0..1;
        with_exemplar.metadata.push(MetricMetadata {
            metric_family: "up",
            metric_type: MetricType::Gauge,
            help: "Whether the target is up.",
            unit: "",
        });
        let report = db.append(&with_exemplar).expect("append");
        assert_eq!(report.exemplars_appended, 1);
        // No close: as if the process were killed after the acknowledgement.
    }
    let (db, report) = open(dir.path(), options());
    assert_eq!((report.replayed_samples, report.head_series), (3, 1));
    let stored = query(&db, &[]);
    let expected = [
        (T0, 1.5f64.to_bits()),
        (T0 + 1, model::sample::STALE_NAN_BITS),
        (T0 + 2, f64::INFINITY.to_bits()),
    ];
    assert_eq!(values(&stored[0]), expected);
    let exemplars = db.querier(i64::MIN, i64::MAX).exemplars(&[]);
    assert_eq!(
        exemplars[0].1[0].labels.get("trace_id"),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(db.metadata()["up"].metric_type, MetricType::Gauge);
}

#[test]
fn flush_moves_the_head_to_blocks_and_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let samples: Vec<(i64, f64)> = (0..1440)
        .map(|i| (T0 + i * 15_000, (i * 7 % 13) as f64))
        .collect();
    {
        let (db, _) = open(dir.path(), options());
        db.append(&batch(&[(UP_API, &samples), (UP_WEB, &samples[..10])]))
            .expect("append");
        let report = db.flush().expect("flush");
        assert_eq!(report.samples_written, 1450);
        assert!(report.blocks_written >= 3, "6 h of data in 2 h blocks");
        assert_eq!(db.n_head_series(), 0);
        assert_eq!(
            query(&db, &[Matcher::equal("job", "api")])[0].samples.len(),
            1440
        );
        let late = db
            .append(&batch(&[(UP_API, &[(T0, 9.0)])]))
            .expect("append");
        assert!(matches!(
            late.rejected[0].reason,
            RejectReason::OutOfBounds { .. }
        ));
        db.append(&batch(&[(UP_API, &[(T0 + 1440 * 15_000, 1.0)])]))
            .expect("append newer");
        db.close().expect("close");
    }
    let wal_bytes = crate::wal::dir_size(&dir.path().join("wal"));
    assert!(
        wal_bytes < 4096,
        "the WAL holds only the post-flush sample ({wal_bytes} bytes)"
    );
    let (db, report) = open(dir.path(), options());
    assert_eq!(report.replayed_samples, 1);
    let api = query(&db, &[Matcher::equal("job", "api")]);
    assert_eq!(api[0].samples.len(), 1441);
    let expected: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(values(&api[0])[..1440], expected[..]);
}

#[test]
fn maintenance_cuts_old_head_data_and_compaction_merges_complete_windows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(dir.path(), options());
    let start = 1_000 * 6 * HOUR; // aligned to every level
    let samples: Vec<(i64, f64)> = (0..(8 * 60))
        .map(|i| (start + i * 60_000, i as f64))
        .collect();
    db.append(&batch(&[(UP_API, &samples)])).expect("append");
    db.maintain().expect("maintain");
    // 8 h of data: everything before the last 2 h boundary at least an hour old went to
    // blocks [0,2h) [2h,4h) [4h,6h), which then merged into the complete 6 h window.
    let head_min = db.head().time_range().expect("head keeps recent data").0;
    assert_eq!(head_min, start + 6 * HOUR);
    let blocks = db.blocks_snapshot();
    assert_eq!(blocks.len(), 1);
    assert_eq!(
        (
            blocks[0].meta().compaction.level,
            blocks[0].meta().compaction.sources.len()
        ),
        (2, 3)
    );
    assert_eq!(query(&db, &[])[0].samples.len(), 480);
    db.flush().expect("flush");
    db.maintain().expect("maintain");
    // With the head empty, the 6 h block and the [6h,8h) block share a complete 18 h window.
    assert_eq!(db.n_blocks(), 1);
    let merged = query(&db, &[]);
    assert_eq!(
        merged[0].samples,
        samples
            .iter()
            .map(|&(t, v)| Sample::new(t, v))
            .collect::<Vec<_>>()
    );
}

#[test]
fn retention_by_age_and_by_size_deletes_the_oldest_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(
        dir.path(),
        Options {
            retention_ms: 5 * HOUR,
            ..options()
        },
    );
    let samples: Vec<(i64, f64)> = (0..(10 * 6)).map(|i| (i * 10 * 60_000, i as f64)).collect();
    db.append(&batch(&[(UP_API, &samples)])).expect("append");
    db.flush().expect("flush");
    db.maintain().expect("maintain");
    let kept = query(&db, &[]);
    // Newest sample at 9h50m: blocks ending before 4h50m ([0,2h) and [2h,4h)) are gone.
    assert_eq!(kept[0].samples[0].timestamp_ms, 4 * HOUR);
    drop(db);

    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(
        dir.path(),
        Options {
            retention_ms: 0,
            retention_bytes: 1,
            ..options()
        },
    );
    db.append(&batch(&[(UP_API, &samples)])).expect("append");
    db.flush().expect("flush");
    db.maintain().expect("maintain");
    assert_eq!(db.n_blocks(), 0, "a 1-byte budget keeps no block");
}

#[test]
fn series_limits_name_the_metric_and_spare_existing_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = SeriesLimits {
        max_series: 0,
        max_series_per_metric: 1,
    };
    let (db, _) = open(
        dir.path(),
        Options {
            limits,
            ..options()
        },
    );
    let report = db
        .append(&batch(&[(UP_API, &[(T0, 1.0)]), (UP_WEB, &[(T0, 1.0)])]))
        .expect("append");
    assert_eq!(report.samples_appended, 1);
    assert_eq!(report.rejected[0].series_idx, 1);
    assert_eq!(
        report.rejected[0].reason.describe(),
        r#"the limit of 1 active series for metric "up" is reached"#
    );
    assert!(report.rejected[0].reason.is_limit());
    let stats = db.cardinality(10);
    assert_eq!(stats.series_count_by_metric_name[0].name, "up");
    assert_eq!(stats.head.num_series, 1);
}

#[test]
fn concurrent_appends_and_queries_keep_every_acknowledged_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(dir.path(), options());
    let db = Arc::new(db);
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let job = format!("job{writer}");
                for step in 0..200 {
                    let labels = [("__name__", "x"), ("job", job.as_str())];
                    db.append(&batch(&[(&labels, &[(T0 + step * 1000, step as f64)])]))
                        .expect("append");
                }
            })
        })
        .collect();
    let reader = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || {
            for _ in 0..50 {
                let _ = query(&db, &[Matcher::equal("__name__", "x")]);
            }
        })
    };
    for writer in writers {
        writer.join().expect("writer");
    }
    reader.join().expect("reader");
    db.flush().expect("flush");
    let series = query(&db, &[Matcher::equal("__name__", "x")]);
    assert_eq!(series.len(), 4);
    assert!(series.iter().all(|s| s.samples.len() == 200));
}

#[test]
fn samples_far_in_the_future_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(
        dir.path(),
        Options {
            max_future_ms: 10 * 60_000,
            ..options()
        },
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    // Microseconds sent as milliseconds: 1000 times "now".
    let report = db
        .append(&batch(&[(UP_API, &[(now * 1000, 1.0), (now, 2.0)])]))
        .expect("append");
    assert_eq!((report.samples_appended, report.rejected_samples), (1, 1));
    assert!(matches!(
        report.rejected[0].reason,
        RejectReason::TooFarInFuture { .. }
    ));
    db.maintain().expect("maintain");
    let later = db
        .append(&batch(&[(UP_API, &[(now + 1000, 3.0)])]))
        .expect("append");
    assert_eq!(later.samples_appended, 1, "normal samples still go in");
}

#[test]
fn an_ancient_sample_does_not_make_the_head_cut_walk_every_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(dir.path(), options());
    db.append(&batch(&[(UP_API, &[(0, 1.0), (T0, 2.0)])]))
        .expect("append");
    let started = std::time::Instant::now();
    let report = db.flush().expect("flush");
    assert_eq!(report.blocks_written, 2, "one block per range with data");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(query(&db, &[])[0].samples.len(), 2);
}

#[test]
fn one_timestamp_twice_in_a_batch_is_a_duplicate_or_a_conflict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(dir.path(), options());
    let report = db
        .append(&batch(&[(
            UP_API,
            &[
                (T0, 1.0),
                (T0, 2.0),
                (T0 + 1, 5.0),
                (T0, 1.0),
                (T0 + 1, 5.0),
            ],
        )]))
        .expect("append");
    assert_eq!(report.samples_appended, 2);
    assert_eq!(report.samples_duplicate, 2);
    assert_eq!(report.rejected_samples, 1);
    assert!(matches!(
        report.rejected[0].reason,
        RejectReason::Conflict { timestamp_ms: T0 }
    ));
    assert_eq!(
        values(&query(&db, &[])[0]),
        [(T0, 1.0f64.to_bits()), (T0 + 1, 5.0f64.to_bits())]
    );
}

#[test]
fn unsorted_or_duplicate_label_names_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(dir.path(), options());
    let report = db
        .append(&batch(&[
            (&[("le", "1"), ("__name__", "x")], &[(T0, 1.0)]),
            (&[("__name__", "x"), ("le", "1"), ("le", "2")], &[(T0, 1.0)]),
        ]))
        .expect("append");
    assert_eq!(report.rejected_samples, 2);
    assert!(
        report
            .rejected
            .iter()
            .all(|r| r.reason == RejectReason::InvalidLabels)
    );
    assert!(query(&db, &[]).is_empty());
}

#[test]
fn a_query_that_spans_a_head_cut_misses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(dir.path(), options());
    let samples: Vec<(i64, f64)> = (0..10).map(|i| (T0 + i * HOUR, i as f64)).collect();
    db.append(&batch(&[(UP_API, &samples)])).expect("append");
    let querier = db.querier(i64::MIN, i64::MAX);
    let mut pending = querier.select(&[]);
    // The head is cut after the query resolved its series but before it read them.
    db.flush().expect("flush");
    let series = pending.next().expect("one series").expect("read");
    assert_eq!(series.samples.len(), 10);
}

#[test]
fn racing_writers_of_one_timestamp_agree_with_what_was_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _) = open(dir.path(), options());
    let db = std::sync::Arc::new(db);
    let mut acknowledged = Vec::new();
    for round in 0..50 {
        let t = T0 + round;
        let handles: Vec<_> = [1.0, 2.0]
            .into_iter()
            .map(|value| {
                let db = std::sync::Arc::clone(&db);
                std::thread::spawn(move || {
                    let report = db
                        .append(&batch(&[(UP_API, &[(t, value)])]))
                        .expect("append");
                    (value, report.samples_appended)
                })
            })
            .collect();
        let outcomes: Vec<(f64, u64)> = handles
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect();
        let winners: Vec<f64> = outcomes
            .iter()
            .filter(|(_, appended)| *appended == 1)
            .map(|(value, _)| *value)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "exactly one of two conflicting writes is acknowledged"
        );
        acknowledged.push((t, winners[0].to_bits()));
    }
    assert_eq!(values(&query(&db, &[])[0]), acknowledged);
    db.close().expect("close");
    drop(db);
    let (reopened, _) = open(dir.path(), options());
    assert_eq!(
        values(&query(&reopened, &[])[0]),
        acknowledged,
        "the WAL agrees"
    );
}
