//! The log under damage: whatever happens to its files, replay succeeds, returns every
//! record before the damage, and counts the loss.

use std::io::Write as _;

use super::segment::{self, frame_into};
use super::*;

fn options(segment_max_bytes: u64) -> WalOptions {
    WalOptions {
        fsync: FsyncPolicy::Always,
        segment_max_bytes,
    }
}

/// A record holding one number: a tag byte (1) and the number.
fn sample_frame(value: i64) -> Vec<u8> {
    let mut payload = vec![1];
    payload.extend_from_slice(&value.to_le_bytes());
    let mut frames = Vec::new();
    frame_into(&mut frames, &payload);
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
    let stats = replay(dir, &mut |payload| match payload {
        [1, number @ ..] => {
            let bytes: [u8; 8] = number.try_into().map_err(|_| "short record".to_owned())?;
            values.push(i64::from_le_bytes(bytes));
            Ok(())
        }
        _ => Err(format!("unknown record tag {:?}", payload.first())),
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
    write_checkpoint(dir.path(), 2, |out| out.write_all(&sample_frame(7))).expect("checkpoint");
    let wal = Wal::create(dir.path(), options(u64::MAX), 3).expect("reopen");
    wal.append(&sample_frame(8)).expect("append");
    wal.close().expect("close");
    assert!(!segment_path(dir.path(), 1).exists());
    let (values, stats) = replayed(dir.path());
    assert_eq!(values, [7, 8]);
    assert_eq!((stats.missing_segments, stats.last_seq), (0, 3));
    // A newer checkpoint removes the older one.
    write_checkpoint(dir.path(), 3, |out| out.write_all(&sample_frame(9))).expect("checkpoint");
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

#[test]
fn a_record_this_version_cannot_decode_is_skipped_not_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::create(dir.path(), options(u64::MAX), 1).expect("create");
    wal.append(&sample_frame(1)).expect("append");
    let mut unknown = Vec::new();
    segment::frame_into(&mut unknown, &[0xee, 1, 2, 3]);
    wal.append(&unknown).expect("append");
    wal.append(&sample_frame(2)).expect("append");
    wal.close().expect("close");
    let (values, stats) = replayed(dir.path());
    assert_eq!(values, [1, 2]);
    assert_eq!((stats.skipped_records, stats.damaged_segments), (1, 0));
}

#[test]
fn after_a_torn_write_the_log_moves_to_a_new_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::create(dir.path(), options(u64::MAX), 1).expect("create");
    wal.append(&sample_frame(1)).expect("append");
    {
        // What a failed write(2) whose partial frame could not be cut off leaves.
        let mut writer = lock(&wal.writer);
        (&*writer.file)
            .write_all(&sample_frame(99)[..7])
            .expect("partial frame");
        writer.torn = true;
    }
    wal.append(&sample_frame(2)).expect("append");
    wal.append(&sample_frame(3)).expect("append");
    assert_eq!(wal.current_segment(), 2);
    wal.close().expect("close");
    let (values, stats) = replayed(dir.path());
    assert_eq!(
        values,
        [1, 2, 3],
        "acknowledged records after the torn frame survive"
    );
    assert_eq!(stats.damaged_segments, 1);
}

#[test]
fn concurrent_appends_syncs_and_rotations_do_not_deadlock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frame = sample_frame(1);
    let wal = std::sync::Arc::new(
        Wal::create(dir.path(), options(frame.len() as u64 * 2), 1).expect("create"),
    );
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let mut workers = Vec::new();
    for worker in 0..6 {
        let wal = std::sync::Arc::clone(&wal);
        let frame = frame.clone();
        let done = done_tx.clone();
        workers.push(std::thread::spawn(move || {
            for i in 0..300 {
                match worker % 3 {
                    0 => wal.append(&frame).expect("append"),
                    1 => wal.sync().expect("sync"),
                    _ if i % 10 == 0 => {
                        wal.rotate().expect("rotate");
                    }
                    _ => wal.append(&frame).expect("append"),
                }
            }
            let _ = done.send(());
        }));
    }
    for _ in 0..6 {
        done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a worker is stuck: the WAL deadlocked");
    }
    for worker in workers {
        worker.join().expect("worker");
    }
    wal.close().expect("close");
    assert_eq!(replayed(dir.path()).0.len(), 2 * 300 + 2 * 270);
}

#[test]
fn next_segment_is_above_every_segment_and_checkpoint() {
    let empty = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        next_segment(&empty.path().join("absent")).expect("absent"),
        1
    );
    assert_eq!(next_segment(empty.path()).expect("empty"), 1);
    let dir = write_log(6, 2);
    assert_eq!(next_segment(dir.path()).expect("segments"), 4);
    write_checkpoint(dir.path(), 3, |_| Ok(())).expect("checkpoint");
    assert_eq!(next_segment(dir.path()).expect("checkpoint"), 4);
}
