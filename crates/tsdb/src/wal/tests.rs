//! The log under damage: whatever happens to its files, replay succeeds, returns every
//! record before the damage, and counts the loss.

use super::record::{RefSample, encode_samples};
use super::segment::frame_with;
use super::*;

fn options(segment_max_bytes: u64) -> WalOptions {
    WalOptions {
        fsync: FsyncPolicy::Always,
        segment_max_bytes,
    }
}

fn sample_frame(value: i64) -> Vec<u8> {
    let mut frames = Vec::new();
    frame_with(&mut frames, |out| {
        encode_samples(
            out,
            &[RefSample {
                series_ref: 1,
                timestamp_ms: value,
                value: value as f64,
            }],
        );
    });
    frames
}

/// Writes records 0..n, `per_segment` to a segment; returns the directory.
fn write_log(n: i64, per_segment: i64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::create(dir.path(), options(u64::MAX), 1).expect("create");
    for value in 0..n {
        if value > 0 && value % per_segment == 0 {
            wal.rotate().expect("rotate");
        }
        wal.append(&sample_frame(value)).expect("append");
    }
    wal.close().expect("close");
    dir
}

fn replayed(dir: &Path) -> (Vec<i64>, ReplayStats) {
    let mut values = Vec::new();
    let stats = replay(dir, &mut |record| {
        if let Record::Samples(samples) = record {
            values.extend(samples.iter().map(|sample| sample.timestamp_ms));
        }
    })
    .expect("replay never fails on damage");
    (values, stats)
}

fn segment_len(dir: &Path, seq: u64) -> u64 {
    std::fs::metadata(segment_path(dir, seq))
        .expect("segment")
        .len()
}

#[test]
fn intact_log_replays_everything_in_order() {
    let dir = write_log(10, 4);
    let (values, stats) = replayed(dir.path());
    assert_eq!(values, (0..10).collect::<Vec<_>>());
    assert_eq!(
        (stats.records, stats.damaged_segments, stats.last_seq),
        (10, 0, 3)
    );
}

#[test]
fn truncated_tail_keeps_every_whole_record() {
    let dir = write_log(10, 100);
    let len = segment_len(dir.path(), 1);
    let file = OpenOptions::new()
        .write(true)
        .open(segment_path(dir.path(), 1))
        .expect("open");
    file.set_len(len - 5).expect("truncate");
    let (values, stats) = replayed(dir.path());
    assert_eq!(values, (0..9).collect::<Vec<_>>());
    assert_eq!(stats.damaged_segments, 1);
    assert!(stats.bytes_lost > 0);
    // Repaired: a second replay finds no damage.
    assert_eq!(replayed(dir.path()).1.damaged_segments, 0);
}

#[test]
fn flipped_byte_loses_only_the_rest_of_that_segment() {
    let dir = write_log(12, 4);
    let path = segment_path(dir.path(), 2);
    let mut bytes = std::fs::read(&path).expect("read");
    let record_len = bytes.len() / 4;
    bytes[record_len + record_len / 2] ^= 0x10; // inside the second record of segment 2
    std::fs::write(&path, &bytes).expect("write");
    let (values, stats) = replayed(dir.path());
    assert_eq!(values, [0, 1, 2, 3, 4, 8, 9, 10, 11]);
    assert_eq!(stats.damaged_segments, 1);
    assert_eq!(stats.bytes_lost, (record_len * 3) as u64);
}

#[test]
fn zero_filled_tail_is_damage_but_not_data_loss() {
    let dir = write_log(5, 100);
    let path = segment_path(dir.path(), 1);
    let mut file = OpenOptions::new().append(true).open(&path).expect("open");
    file.write_all(&[0u8; 4096]).expect("zeros");
    let (values, stats) = replayed(dir.path());
    assert_eq!(values, (0..5).collect::<Vec<_>>());
    assert_eq!((stats.damaged_segments, stats.bytes_lost), (1, 4096));
}

#[test]
fn missing_segment_is_counted_and_later_ones_still_replay() {
    let dir = write_log(12, 4);
    std::fs::remove_file(segment_path(dir.path(), 2)).expect("remove");
    let (values, stats) = replayed(dir.path());
    assert_eq!(values, [0, 1, 2, 3, 8, 9, 10, 11]);
    assert_eq!(stats.missing_segments, 1);
}

#[test]
fn garbage_and_empty_segments_do_not_stop_replay() {
    let dir = write_log(4, 2);
    std::fs::write(segment_path(dir.path(), 5), b"\xff\xff\xff").expect("write");
    std::fs::write(segment_path(dir.path(), 3), b"").expect("write");
    let (values, stats) = replayed(dir.path());
    assert_eq!(values, [0, 1, 2, 3]);
    assert_eq!((stats.damaged_segments, stats.missing_segments), (1, 1));
    assert_eq!(stats.last_seq, 5);
}

#[test]
fn checkpoint_replaces_the_segments_it_covers() {
    let dir = write_log(8, 4);
    // Segments 1 and 2 are folded into a checkpoint that keeps only record 7.
    write_checkpoint(dir.path(), 2, &sample_frame(7)).expect("checkpoint");
    let wal = Wal::create(dir.path(), options(u64::MAX), 3).expect("reopen");
    wal.append(&sample_frame(8)).expect("append");
    wal.close().expect("close");
    assert!(!segment_path(dir.path(), 1).exists());
    let (values, stats) = replayed(dir.path());
    assert_eq!(values, [7, 8]);
    assert_eq!((stats.missing_segments, stats.last_seq), (0, 3));
    // A newer checkpoint removes the older one.
    write_checkpoint(dir.path(), 3, &sample_frame(9)).expect("checkpoint");
    assert!(!dir.path().join("checkpoint.00000002").exists());
    assert_eq!(replayed(dir.path()).0, [9]);
}

#[test]
fn segments_rotate_at_their_size_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frame = sample_frame(1);
    let wal = Wal::create(dir.path(), options(frame.len() as u64 * 3), 1).expect("create");
    for _ in 0..7 {
        wal.append(&frame).expect("append");
    }
    assert_eq!(wal.current_segment(), 3);
    wal.close().expect("close");
    assert!(matches!(wal.append(&frame), Err(Error::Closed)));
    assert_eq!(replayed(dir.path()).0.len(), 7);
}
