//! Stream reads end to end: lines appended, committed, then selected by label matchers
//! and line filters, grouped, counted in windows, across hourly partitions.

use std::path::Path;
use std::time::Duration;

use model::{LogRecord, Severity, UnixNanos, Value};

use super::*;
use crate::select::{LabelMatcher, LineFilter, MatchOp, Pattern};
use crate::windows::WindowsRequest;
use crate::{LogMetrics, Options, Partitioning};

const SECOND: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * SECOND;

fn open(dir: &Path) -> LogStore {
    let options = Options {
        partitioning: Partitioning::Hourly,
        commit_interval: Duration::from_secs(3600),
        indexing_memory_per_thread: 15 << 20,
        indexing_threads: 1,
        indexed_fields: crate::field_policy::FieldPolicy::all(),
        ..Options::default()
    };
    LogStore::open(dir, options, LogMetrics::new())
        .expect("open")
        .0
}

fn line(ts: i64, service: &str, severity: Severity, host: Option<&str>, raw: &str) -> LogRecord {
    LogRecord {
        timestamp: UnixNanos(ts),
        observed: UnixNanos(ts),
        severity,
        service: Some(service.to_owned()),
        host: host.map(str::to_owned),
        trace_id: None,
        span_id: None,
        correlation_id: None,
        message: raw.to_owned(),
        fields: Vec::new(),
        raw: raw.to_owned(),
        raw_holds_fields: false,
    }
}

fn with_fields(mut record: LogRecord, fields: Vec<(&str, Value)>) -> LogRecord {
    record.fields = fields
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    record
}

/// The start of the hour two hours ago: lines at `t0 + 0..` land in one hourly
/// partition, lines at `t0 + HOUR + ..` in the next.
fn t0() -> i64 {
    (UnixNanos::now().0 - 2 * HOUR).div_euclid(HOUR) * HOUR
}

/// Six lines over two hourly partitions, with a configured-label-like field.
fn lines(t0: i64) -> Vec<LogRecord> {
    let ns = |name: &str| ("k8s.namespace.name", Value::Str(name.into()));
    vec![
        with_fields(
            line(
                t0 + SECOND,
                "checkout",
                Severity::Info,
                Some("c-0"),
                "order 17 received",
            ),
            vec![ns("shop"), ("status", Value::Int(200))],
        ),
        with_fields(
            line(
                t0 + 2 * SECOND,
                "payments",
                Severity::Error,
                Some("p-0"),
                "card declined",
            ),
            vec![ns("shop"), ("status", Value::Int(402))],
        ),
        with_fields(
            line(
                t0 + 3 * SECOND,
                "checkout",
                Severity::Info,
                Some("c-1"),
                "order 18 received",
            ),
            vec![ns("shop"), ("status", Value::Str("200".into()))],
        ),
        line(
            t0 + HOUR + SECOND,
            "search",
            Severity::Debug,
            None,
            "cache miss for key product:9",
        ),
        with_fields(
            line(
                t0 + HOUR + 2 * SECOND,
                "checkout",
                Severity::Warn,
                Some("c-0"),
                "order 19 slow: 3100ms",
            ),
            vec![ns("ops")],
        ),
        line(
            t0 + HOUR + 3 * SECOND,
            "payments",
            Severity::Error,
            Some("p-0"),
            "card declined again",
        ),
    ]
}

fn matcher(label: Label, op: MatchOp, value: &str) -> LabelMatcher {
    LabelMatcher::new(label, op, value).expect("valid matcher")
}

fn namespace() -> Label {
    Label::Field("k8s.namespace.name".into())
}

fn select(
    store: &LogStore,
    selection: &Selection,
    direction: Direction,
    limit: usize,
) -> Vec<String> {
    store
        .select_lines(&LinesRequest {
            selection,
            start: 0,
            end: i64::MAX,
            direction,
            limit,
            labels: &[],
            max_scanned: 1000,
        })
        .expect("select")
        .lines
        .into_iter()
        .map(|line| line.line)
        .collect()
}

#[test]
fn matchers_and_line_filters_select_lines_in_order_across_partitions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let t0 = t0();
    store.append(lines(t0)).expect("append");
    store.flush().expect("flush");

    let only = |matchers: Vec<LabelMatcher>| Selection {
        matchers,
        line_filters: Vec::new(),
    };
    let payments = only(vec![matcher(Label::Service, MatchOp::Equal, "payments")]);
    assert_eq!(
        select(&store, &payments, Direction::Backward, 10),
        ["card declined again", "card declined"]
    );
    assert_eq!(
        select(&store, &payments, Direction::Forward, 10),
        ["card declined", "card declined again"]
    );
    let all_services = only(vec![matcher(Label::Service, MatchOp::Regex, ".+")]);
    assert_eq!(
        select(&store, &all_services, Direction::Backward, 2),
        ["card declined again", "order 19 slow: 3100ms"],
        "the limit applies across streams and partitions, newest first"
    );
    assert_eq!(
        select(&store, &all_services, Direction::Forward, 2),
        ["order 17 received", "card declined"]
    );
    let cases: Vec<(Vec<LabelMatcher>, Vec<LineFilter>, Vec<&str>)> = vec![
        (
            vec![matcher(Label::Service, MatchOp::Regex, "check.*|search")],
            vec![LineFilter::Contains("order".into())],
            vec![
                "order 17 received",
                "order 18 received",
                "order 19 slow: 3100ms",
            ],
        ),
        (
            vec![matcher(Label::Service, MatchOp::Regex, "check")],
            vec![],
            vec![],
        ),
        (
            vec![
                matcher(Label::Level, MatchOp::NotEqual, "error"),
                matcher(Label::Host, MatchOp::Equal, ""),
            ],
            vec![],
            vec!["cache miss for key product:9"],
        ),
        (
            vec![matcher(Label::Host, MatchOp::NotRegex, "c-.*")],
            vec![LineFilter::NotContains("again".into())],
            vec!["card declined", "cache miss for key product:9"],
        ),
        (
            vec![matcher(namespace(), MatchOp::Equal, "shop")],
            vec![LineFilter::Matches(
                Pattern::anywhere(r"order \d+").expect("re"),
            )],
            vec!["order 17 received", "order 18 received"],
        ),
        (
            // A number and a text "200" are the same label value.
            vec![matcher(
                Label::Field("status".into()),
                MatchOp::Regex,
                "2..",
            )],
            vec![],
            vec!["order 17 received", "order 18 received"],
        ),
        (
            vec![
                matcher(Label::Service, MatchOp::Equal, "checkout"),
                matcher(namespace(), MatchOp::NotEqual, "shop"),
            ],
            vec![LineFilter::NotMatches(
                Pattern::anywhere("^order 1[78]").expect("re"),
            )],
            vec!["order 19 slow: 3100ms"],
        ),
        (
            vec![matcher(namespace(), MatchOp::Equal, "")],
            vec![],
            vec!["cache miss for key product:9", "card declined again"],
        ),
        (
            vec![matcher(Label::Service, MatchOp::Equal, "nonesuch")],
            vec![],
            vec![],
        ),
    ];
    for (matchers, line_filters, expected) in cases {
        let selection = Selection {
            matchers,
            line_filters,
        };
        assert_eq!(
            select(&store, &selection, Direction::Forward, 100),
            expected,
            "{selection:?}"
        );
    }
    store.close().expect("close");
}

#[test]
fn lines_come_with_their_label_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let t0 = t0();
    store.append(lines(t0)).expect("append");
    store.flush().expect("flush");
    let selection = Selection {
        matchers: vec![matcher(Label::Service, MatchOp::Regex, "checkout|search")],
        line_filters: vec![],
    };
    let labels = [Label::Service, Label::Level, Label::Host, namespace()];
    let result = store
        .select_lines(&LinesRequest {
            selection: &selection,
            start: t0,
            end: t0 + 2 * HOUR,
            direction: Direction::Forward,
            limit: 10,
            labels: &labels,
            max_scanned: 10,
        })
        .expect("select");
    let got: Vec<(i64, Vec<Option<&str>>)> = result
        .lines
        .iter()
        .map(|line| {
            (
                line.timestamp - t0,
                line.labels.iter().map(Option::as_deref).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                SECOND,
                vec![Some("checkout"), Some("info"), Some("c-0"), Some("shop")]
            ),
            (
                3 * SECOND,
                vec![Some("checkout"), Some("info"), Some("c-1"), Some("shop")]
            ),
            (
                HOUR + SECOND,
                vec![Some("search"), Some("debug"), None, None]
            ),
            (
                HOUR + 2 * SECOND,
                vec![Some("checkout"), Some("warn"), Some("c-0"), Some("ops")]
            ),
        ]
    );
    // The end is exclusive, the start inclusive.
    let result = store
        .select_lines(&LinesRequest {
            selection: &selection,
            start: t0 + 3 * SECOND,
            end: t0 + HOUR + 2 * SECOND,
            direction: Direction::Forward,
            limit: 10,
            labels: &[],
            max_scanned: 10,
        })
        .expect("select");
    assert_eq!(
        result
            .lines
            .iter()
            .map(|l| l.timestamp - t0)
            .collect::<Vec<_>>(),
        [3 * SECOND, HOUR + SECOND]
    );
    store.close().expect("close");
}

#[test]
fn scans_past_their_budget_are_refused_as_too_broad() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let t0 = t0();
    store.append(lines(t0)).expect("append");
    store.flush().expect("flush");
    let filtered = Selection {
        matchers: vec![matcher(Label::Service, MatchOp::Regex, ".+")],
        line_filters: vec![LineFilter::Contains("order 17".into())],
    };
    let request = |max_scanned| LinesRequest {
        selection: &filtered,
        start: 0,
        end: i64::MAX,
        direction: Direction::Backward,
        limit: 10,
        labels: &[],
        max_scanned,
    };
    // Newest first, "order 17" is the sixth line read.
    assert!(matches!(
        store.select_lines(&request(5)),
        Err(Error::TooBroad { limit: 5 })
    ));
    assert_eq!(
        store.select_lines(&request(6)).expect("select").lines.len(),
        1
    );
    let groups = |max_scanned| GroupsRequest {
        selection: &filtered,
        start: 0,
        end: i64::MAX,
        labels: &[],
        max_scanned,
        max_groups: 10,
    };
    assert!(matches!(
        store.groups(&groups(5)),
        Err(Error::TooBroad { limit: 5 })
    ));
    assert_eq!(store.groups(&groups(6)).expect("groups")[0].lines, 1);
    store.close().expect("close");
}

#[test]
fn groups_count_lines_and_bytes_per_label_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let t0 = t0();
    store.append(lines(t0)).expect("append");
    store.flush().expect("flush");
    let everything = Selection {
        matchers: vec![matcher(Label::Service, MatchOp::Regex, ".+")],
        line_filters: vec![],
    };
    let labels = [Label::Level, namespace()];
    let mut groups = store
        .groups(&GroupsRequest {
            selection: &everything,
            start: 0,
            end: i64::MAX,
            labels: &labels,
            max_scanned: 0,
            max_groups: 10,
        })
        .expect("groups");
    groups.sort_by(|a, b| a.labels.cmp(&b.labels));
    let some = |text: &str| Some(text.to_owned());
    assert_eq!(
        groups,
        [
            Group {
                labels: vec![some("debug"), None],
                lines: 1,
                bytes: 28
            },
            Group {
                labels: vec![some("error"), None],
                lines: 1,
                bytes: 19
            },
            Group {
                labels: vec![some("error"), some("shop")],
                lines: 1,
                bytes: 13
            },
            Group {
                labels: vec![some("info"), some("shop")],
                lines: 2,
                bytes: 34
            },
            Group {
                labels: vec![some("warn"), some("ops")],
                lines: 1,
                bytes: 21
            },
        ]
    );
    assert!(matches!(
        store.groups(&GroupsRequest {
            selection: &everything,
            start: 0,
            end: i64::MAX,
            labels: &labels,
            max_scanned: 0,
            max_groups: 4,
        }),
        Err(Error::TooManySeries { limit: 4 })
    ));
    store.close().expect("close");
}

#[test]
fn label_values_come_from_whole_partitions_and_scanned_edges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let t0 = t0();
    store.append(lines(t0)).expect("append");
    store.flush().expect("flush");
    let labels = [
        Label::Service,
        Label::Host,
        namespace(),
        Label::Field("status".into()),
    ];
    let values = |start, end| -> Vec<Vec<String>> {
        store
            .label_values(&labels, start, end)
            .expect("values")
            .into_iter()
            .map(|set| set.into_iter().collect())
            .collect()
    };
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // Both partitions whole.
    assert_eq!(
        values(t0, t0 + 2 * HOUR),
        [
            strings(&["checkout", "payments", "search"]),
            strings(&["c-0", "c-1", "p-0"]),
            strings(&["ops", "shop"]),
            strings(&["200", "402"]),
        ]
    );
    // Only the second partition's first two seconds: scanned.
    assert_eq!(
        values(t0 + HOUR, t0 + HOUR + 2 * SECOND + 1),
        [
            strings(&["checkout", "search"]),
            strings(&["c-0"]),
            strings(&["ops"]),
            strings(&[]),
        ]
    );
    store.close().expect("close");
}

#[test]
fn windows_count_lines_and_bytes_per_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let t0 = t0();
    store.append(lines(t0)).expect("append");
    store.flush().expect("flush");
    let everything = Selection {
        matchers: vec![matcher(Label::Service, MatchOp::Regex, ".+")],
        line_filters: vec![],
    };
    let by_service = [Label::Service];
    // Points every second from t0+1s to t0+3s, windows of two seconds: (t-2s, t].
    let counts = store
        .count_windows(&WindowsRequest {
            selection: &everything,
            first: t0 + SECOND,
            step: SECOND,
            points: 3,
            range: 2 * SECOND,
            group_by: &by_service,
            bytes: true,
            max_scanned: 0,
            max_groups: 10,
        })
        .expect("windows");
    let mut groups = counts.groups;
    groups.sort_by(|a, b| a.labels.cmp(&b.labels));
    assert_eq!(
        groups,
        [
            crate::WindowGroup {
                labels: vec![Some("checkout".into())],
                lines: vec![1, 1, 1],
                bytes: vec![17, 17, 17],
            },
            crate::WindowGroup {
                labels: vec![Some("payments".into())],
                lines: vec![0, 1, 1],
                bytes: vec![0, 13, 13],
            },
        ]
    );
    assert_eq!(counts.scanned_lines, 3);
    // One point over both hours, filtered by a line filter, no grouping.
    let declined = Selection {
        matchers: vec![matcher(Label::Service, MatchOp::Regex, ".+")],
        line_filters: vec![LineFilter::Contains("declined".into())],
    };
    let counts = store
        .count_windows(&WindowsRequest {
            selection: &declined,
            first: t0 + 2 * HOUR,
            step: SECOND,
            points: 1,
            range: 2 * HOUR,
            group_by: &[],
            bytes: false,
            max_scanned: 100,
            max_groups: 10,
        })
        .expect("windows");
    assert_eq!(
        counts.groups,
        [crate::WindowGroup {
            labels: vec![],
            lines: vec![2],
            bytes: vec![],
        }]
    );
    store.close().expect("close");
}
