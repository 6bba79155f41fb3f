use model::{Span, TraceId, UnixNanos};

use super::*;
use crate::codec::tests::span;
use crate::error::Error;
use crate::query::SearchQuery;

#[test]
fn a_block_returns_each_trace_whole_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spans = Vec::new();
    // 250 traces of 16 spans each, starting 10 ns apart.
    for trace in 1..=4000u16 {
        let t = (trace % 250) as u8 + 1;
        let id = (trace / 250) as u8 + 1;
        spans.push(span(t, id, (id > 1).then_some(1), i64::from(trace) * 10));
    }
    let expected_t7: Vec<Span> = spans
        .iter()
        .filter(|s| s.trace_id.as_bytes()[0] == 7)
        .cloned()
        .collect();
    let block_dir = dir.path().join("0000000001");
    let meta = write(&block_dir, spans.iter().collect(), 42).expect("write");
    assert_eq!(meta.spans, 4000);
    assert_eq!(meta.traces, 250);
    assert_eq!(meta.wal_upto, 42);
    assert_eq!(meta.min_start, UnixNanos(10));
    assert!(meta.operations.contains("svc-1", Some("GET /1")));
    let kinds = meta.operations.of("svc-1").expect("service")["GET /2"];
    assert_eq!(
        kinds.iter().collect::<Vec<_>>(),
        vec![model::SpanKind::Client]
    );
    assert!(!block_dir.with_extension("tmp").exists());

    let block = Block::open(1, &block_dir).expect("open");
    assert_eq!(block.meta, meta);
    let mut found = block.trace(&expected_t7[0].trace_id).expect("trace");
    found.sort_by_key(|s| s.start);
    let mut expected = expected_t7;
    expected.sort_by_key(|s| s.start);
    assert_eq!(found, expected);
    let absent = TraceId::from_bytes(&[0xfe; 16]).expect("id");
    assert!(block.trace(&absent).expect("trace").is_empty());

    let mut seen = 0;
    let query = SearchQuery::in_range(UnixNanos(1000), UnixNanos(1990), 10);
    block
        .search(&query, &mut |_, start| {
            assert!((1000..=1990).contains(&start.0));
            seen += 1;
            true
        })
        .expect("search");
    assert_eq!(seen, 100);
    let query = SearchQuery {
        service: Some("svc-1".into()),
        attributes: vec![("http.route".into(), "/3".into())],
        ..SearchQuery::in_range(UnixNanos(0), UnixNanos(i64::MAX), 10)
    };
    let mut found = Vec::new();
    block
        .search(&query, &mut |id, _| {
            found.push(id);
            true
        })
        .expect("search");
    // Span 3 of every trace whose first id byte is 1 mod 3.
    assert_eq!(found.len(), 250 / 3 + 1);
    assert!(found.iter().all(|id| id.as_bytes()[0] % 3 == 1));
}

#[test]
fn a_damaged_block_is_an_error_never_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let block_dir = dir.path().join("0000000001");
    write(&block_dir, vec![&span(1, 1, None, 5)], 1).expect("write");
    let path = block_dir.join(SPANS_FILE);
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    assert!(matches!(Block::open(1, &block_dir), Err(Error::Corrupt(_))));
    std::fs::write(&path, &bytes).expect("write");
    std::fs::write(block_dir.join(BLOOM_FILE), b"xx").expect("write");
    assert!(matches!(Block::open(1, &block_dir), Err(Error::Corrupt(_))));
}

#[test]
fn operations_survive_tabs_and_newlines() {
    for text in ["plain", "a\tb", "line\nbreak", "back\\slash\\t"] {
        assert_eq!(unescape(&escape(text)), text);
    }
}
