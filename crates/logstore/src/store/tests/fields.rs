//! Fields with and without index terms answer alike, and what reading stored values may cost.

use super::*;
use crate::field_policy::FieldPolicy;

#[test]
fn fields_without_terms_answer_as_fields_with_terms() {
    // The same lines under three policies: every field indexed, none, some. Every query
    // must find the same lines whichever way its field clauses are answered.
    let t0 = now() - 60 * SECOND;
    // The shop's lines twice: with fields beside the raw line (as OTLP sends them), and
    // with the fields inside the raw JSON line (as JSON lines arrive), nested as senders
    // write them, so the raw line is what a filter reads.
    let mut lines = shop(t0);
    for (i, original) in shop(t0 + 10 * SECOND).into_iter().enumerate() {
        let mut object = serde_json::Map::new();
        object.insert("message".into(), original.message.clone().into());
        let mut http = serde_json::Map::new();
        for (key, value) in &original.fields {
            let json = match value {
                Value::Str(text) => serde_json::Value::from(text.clone()),
                Value::Int(int) => serde_json::Value::from(*int),
                Value::Float(float) => serde_json::Value::from(*float),
                Value::Bool(flag) => serde_json::Value::from(*flag),
            };
            match key.strip_prefix("http.") {
                Some(rest) => http.insert(rest.to_owned(), json),
                None => object.insert(key.clone(), json),
            };
        }
        if !http.is_empty() {
            object.insert("http".into(), http.into());
        }
        object.insert("n".into(), i.into());
        lines.push(LogRecord {
            raw: serde_json::Value::Object(object).to_string(),
            raw_holds_fields: true,
            ..original
        });
    }
    // A JSON raw line that is not where the fields are (as an OTLP body can be): its keys
    // are not fields, whatever the policy.
    lines.push(line(
        t0 + 20 * SECOND,
        "search",
        Severity::Info,
        None,
        "no fields of its own",
        vec![],
    ));
    let stores: Vec<(tempfile::TempDir, LogStore)> = [
        FieldPolicy::all(),
        FieldPolicy::default(),
        FieldPolicy::new(&["http.*"]),
    ]
    .into_iter()
    .map(|policy| {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = Options {
            indexed_fields: policy,
            ..options()
        };
        let (store, _) = LogStore::open(dir.path(), options, LogMetrics::new()).expect("open");
        store.append(lines.clone()).expect("append");
        store.flush().expect("flush");
        (dir, store)
    })
    .collect();
    let queries = [
        "http.status:200",
        "http.status:\"200\"",
        "http.status:402 OR user.name:\"Ann Lee\"",
        "duration_ms:[10 TO 400]",
        "duration_ms:>=12.5",
        "duration_ms:12.5",
        "duration_ms:340.0",
        "retry:true",
        "NOT http.status:200",
        "service:payments AND NOT retry:true",
        "service:checkout -http.status:200",
        "(order OR declined) AND http.status:[200 TO 300]",
        "received AND (http.status:200 OR duration_ms:<5)",
        "user.name:Ann",
        "missing.field:1",
        "ts:>0",
        "NOT ts:>0",
    ];
    for query in queries {
        let expected = search(&stores[0].1, query);
        for (_, store) in &stores[1..] {
            assert_eq!(search(store, query), expected, "{query}");
        }
    }
    assert_eq!(count(&stores[0].1, "http.status:200"), 4);
    assert_eq!(count(&stores[1].1, "duration_ms:[10 TO 400]"), 4);
    assert_eq!(count(&stores[2].1, "NOT http.status:200"), 7);
    assert_eq!(
        count(&stores[1].1, "n:3"),
        1,
        "a raw field the record does not list"
    );

    // A partition keeps the policy it was made with, across a restart with another.
    let (dir, store) = stores.into_iter().nth(1).expect("the store without terms");
    drop(store);
    let options = Options {
        indexed_fields: FieldPolicy::all(),
        ..options()
    };
    let (store, _) = LogStore::open(dir.path(), options, LogMetrics::new()).expect("reopen");
    assert_eq!(count(&store, "http.status:200"), 4);
}

#[test]
fn a_filter_reading_too_many_lines_is_refused_naming_the_way_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options {
        max_filtered_lines: 3,
        ..options()
    };
    let (store, _) = LogStore::open(dir.path(), options, LogMetrics::new()).expect("open");
    store.append(shop(now() - 60 * SECOND)).expect("append");
    store.flush().expect("flush");
    let request = |query| SearchRequest {
        query,
        start: 0,
        end: i64::MAX,
        direction: Direction::Forward,
        limit: 10,
        after: None,
    };
    // Five candidate lines, three allowed.
    let err = store
        .search(&request("http.status:200"))
        .expect_err("reads five lines");
    assert!(matches!(err, Error::FilterTooBroad(_)), "{err}");
    assert_eq!(err.kind(), model::ErrorKind::BadData);
    let message = err.to_string();
    assert!(
        message.contains("more than 3 lines to match \"http.status\"")
            && message.contains("logs.indexed_fields"),
        "{message}"
    );
    // A service narrows the candidates to two lines.
    let found = store
        .search(&request("service:checkout AND http.status:200"))
        .expect("two candidates");
    assert_eq!(found.total, 2);
    assert!(
        store
            .histogram("http.status:200", 0, i64::MAX / 4, 2)
            .is_err()
    );
}
