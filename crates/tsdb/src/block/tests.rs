use super::meta::Compaction;
use super::writer::{SeriesInput, write_block};
use super::*;
use crate::matcher::MatchOp;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).expect("labels")
}

fn level1() -> Compaction {
    Compaction {
        level: 1,
        sources: Vec::new(),
    }
}

fn sample_series() -> Vec<SeriesInput> {
    let mut series = vec![
        SeriesInput {
            labels: labels(&[("__name__", "up"), ("job", "api")]),
            samples: (0..3000).map(|i| (i * 15_000, (i % 2) as f64)).collect(),
            exemplars: vec![StoredExemplar {
                timestamp_ms: 15_000,
                value: 0.5,
                labels: labels(&[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]),
            }],
        },
        SeriesInput {
            labels: labels(&[("__name__", "up"), ("job", "web")]),
            samples: vec![(5, f64::NAN), (6, 1.25)],
            exemplars: Vec::new(),
        },
        SeriesInput {
            labels: labels(&[("__name__", "empty")]),
            samples: Vec::new(),
            exemplars: Vec::new(),
        },
    ];
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    series
}

#[test]
fn written_block_reads_back_every_sample_and_exemplar() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = write_block(dir.path(), (0, 7_200_000), level1(), &sample_series(), 3)
        .expect("write")
        .expect("non-empty");
    assert_eq!((meta.stats.num_series, meta.stats.num_samples), (2, 3002));
    assert_eq!(
        (meta.stats.data_min_time, meta.stats.data_max_time),
        (0, 2999 * 15_000)
    );
    let block = Block::open(
        &dir.path().join(&meta.id),
        Arc::new(PageCache::new(1 << 20)),
    )
    .expect("open");
    let api = block.select(&[Matcher::equal("job", "api")]);
    assert_eq!(api.len(), 1);
    let samples = block
        .series_samples(api[0], i64::MIN, i64::MAX)
        .expect("read");
    assert_eq!(samples.len(), 3000);
    assert_eq!(samples[2999], (2999 * 15_000, 1.0));
    let window = block.series_samples(api[0], 15_000, 45_000).expect("read");
    assert_eq!(window, [(15_000, 1.0), (30_000, 0.0), (45_000, 1.0)]);
    assert_eq!(block.series_exemplars(api[0], 0, 20_000).len(), 1);
    let web = block.select(&[Matcher::new(MatchOp::NotEqual, "job", "api").expect("matcher")]);
    let web_samples = block
        .series_samples(web[0], i64::MIN, i64::MAX)
        .expect("read");
    assert!(web_samples[0].1.is_nan() && web_samples[1] == (6, 1.25));
    assert_eq!(block.series_labels(web[0]).to_string(), r#"up{job="web"}"#);
    assert!(!dir.path().join(format!("{}.tmp", meta.id)).exists());
}

#[test]
fn a_block_without_samples_is_not_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = vec![SeriesInput {
        labels: labels(&[("__name__", "x")]),
        samples: Vec::new(),
        exemplars: Vec::new(),
    }];
    assert!(
        write_block(dir.path(), (0, 1), level1(), &empty, 3)
            .expect("write")
            .is_none()
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

#[test]
fn corrupt_index_and_pages_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = write_block(dir.path(), (0, 7_200_000), level1(), &sample_series(), 3)
        .expect("write")
        .expect("non-empty");
    let block_dir = dir.path().join(&meta.id);
    let chunks_path = block_dir.join(CHUNKS_FILE);
    let mut chunks = std::fs::read(&chunks_path).expect("read");
    let middle = chunks.len() / 2;
    chunks[middle] ^= 0xff;
    std::fs::write(&chunks_path, &chunks).expect("write");
    let block = Block::open(&block_dir, Arc::new(PageCache::new(1 << 20))).expect("index intact");
    let all = block.select(&[]);
    let results: Vec<_> = all
        .iter()
        .map(|&idx| block.series_samples(idx, i64::MIN, i64::MAX))
        .collect();
    assert!(
        results.iter().any(Result::is_err),
        "a flipped page byte must be detected"
    );

    let index_path = block_dir.join(INDEX_FILE);
    let index = std::fs::read(&index_path).expect("read");
    std::fs::write(&index_path, &index[..index.len() / 2]).expect("truncate");
    let err =
        Block::open(&block_dir, Arc::new(PageCache::new(1 << 20))).expect_err("truncated index");
    assert!(err.to_string().contains("is corrupt"), "{err}");
}

#[test]
fn pages_beyond_the_chunks_file_are_refused_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = write_block(dir.path(), (0, 7_200_000), level1(), &sample_series(), 3)
        .expect("write")
        .expect("non-empty");
    let block_dir = dir.path().join(&meta.id);
    let chunks_path = block_dir.join(CHUNKS_FILE);
    let chunks = std::fs::read(&chunks_path).expect("read");
    std::fs::write(&chunks_path, &chunks[..chunks.len() - 1]).expect("truncate");
    let err = Block::open(&block_dir, Arc::new(PageCache::new(1 << 20)))
        .expect_err("a page now ends past the file");
    assert!(err.to_string().contains("does not fit"), "{err}");
}

#[test]
fn series_are_found_by_their_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = write_block(dir.path(), (0, 7_200_000), level1(), &sample_series(), 3)
        .expect("write")
        .expect("non-empty");
    let block = Block::open(
        &dir.path().join(&meta.id),
        Arc::new(PageCache::new(1 << 20)),
    )
    .expect("open");
    let web = labels(&[("__name__", "up"), ("job", "web")]);
    let idx = block.find_series(&web).expect("present");
    assert_eq!(block.series_labels(idx), web);
    assert_eq!(block.find_series(&labels(&[("__name__", "down")])), None);
}
