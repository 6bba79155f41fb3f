//! The data directory: its layout, the lock that keeps it to one server, and the format
//! version that keeps a server from reading a layout it does not understand.
//!
//! ```text
//! <data_dir>/
//!   LOCK        held (flock) while a server runs; holds that server's pid
//!   FORMAT      the layout version, e.g. "1"
//!   tsdb/       time-series store
//!   logs/       log store
//!   traces/     trace store
//!   alerting/   alert state
//! ```
//!
//! The lock is an advisory `flock`, released by the kernel when the process dies however
//! it dies, so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

/// The layout version this build writes and reads.
///
/// - 1: the first layout.
/// - 2: log partitions keep their term dictionaries as sorted string tables instead of
///   finite-state transducers (Tantivy's `quickwit` term dictionary: about a third of the
///   indexing CPU cheaper). A version-1 directory without log partitions is upgraded in
///   place; one with log partitions is refused, since this build cannot read them.
pub const FORMAT_VERSION: u32 = 2;

/// One subdirectory per store, in the order they are opened.
pub const STORE_DIRS: [&str; 4] = ["tsdb", "logs", "traces", "alerting"];

const LOCK_FILE: &str = "LOCK";
const FORMAT_FILE: &str = "FORMAT";

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data directory {}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error(
        "data directory {} is in use by another sightline process{}; stop it or set a different storage.data_dir",
        path.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked { path: PathBuf, holder: Option<u32> },
    #[error(
        "data directory {} has format version {found}, newer than this sightline understands ({FORMAT_VERSION}); run a newer sightline or set a different storage.data_dir",
        path.display()
    )]
    NewerFormat { path: PathBuf, found: u32 },
    #[error(
        "data directory {} has format version {found}: its log partitions ({partitions}) use a term dictionary this sightline cannot read (format {FORMAT_VERSION}); move {}/logs aside (the metrics, traces and alert state are kept) or set a different storage.data_dir",
        path.display(),
        path.display()
    )]
    UnreadableLogs {
        path: PathBuf,
        found: u32,
        partitions: String,
    },
    #[error("data directory {}: {} holds {content:?}, not a format version number", path.display(), FORMAT_FILE)]
    BadFormatFile { path: PathBuf, content: String },
    #[error(
        "data directory {} is not empty and is not a sightline data directory (no {FORMAT_FILE} file; found {found}); choose an empty or new directory",
        path.display()
    )]
    Foreign { path: PathBuf, found: String },
}

/// An open, locked data directory. Dropping it releases the lock.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the directory if needed, takes the lock, checks (or writes) the format
    /// version and creates the store subdirectories.
    pub fn open(root: &Path) -> Result<DataDir, DataDirError> {
        let io_err = |action| {
            move |source| DataDirError::Io {
                path: root.to_owned(),
                action,
                source,
            }
        };
        std::fs::create_dir_all(root).map_err(io_err("cannot create it"))?;
        let lock = take_lock(root)?;
        check_format(root)?;
        for store in STORE_DIRS {
            std::fs::create_dir_all(root.join(store))
                .map_err(io_err("cannot create a store directory"))?;
        }
        Ok(DataDir {
            root: root.to_owned(),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of one store, one of [`STORE_DIRS`].
    pub fn store_dir(&self, store: &str) -> PathBuf {
        self.root.join(store)
    }
}

fn take_lock(root: &Path) -> Result<File, DataDirError> {
    let path = root.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| DataDirError::Io {
            path: root.to_owned(),
            action: "cannot open the LOCK file",
            source,
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(DataDirError::Locked {
                path: root.to_owned(),
                holder: holder.trim().parse().ok(),
            });
        }
        Err(TryLockError::Error(source)) => {
            return Err(DataDirError::Io {
                path: root.to_owned(),
                action: "cannot lock the LOCK file",
                source,
            });
        }
    }
    // Record who holds it, for the message another server prints.
    let write_pid = |file: &mut File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_data()
    };
    write_pid(&mut file).map_err(|source| DataDirError::Io {
        path: root.to_owned(),
        action: "cannot write the LOCK file",
        source,
    })?;
    Ok(file)
}

fn check_format(root: &Path) -> Result<(), DataDirError> {
    let path = root.join(FORMAT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(content) => {
            let found: u32 = content
                .trim()
                .parse()
                .map_err(|_| DataDirError::BadFormatFile {
                    path: root.to_owned(),
                    content: content.clone(),
                })?;
            if found > FORMAT_VERSION {
                return Err(DataDirError::NewerFormat {
                    path: root.to_owned(),
                    found,
                });
            }
            if found < 2 {
                upgrade_from_1(root, found)?;
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            refuse_foreign_directory(root)?;
            write_format_file(root)
        }
        Err(source) => Err(DataDirError::Io {
            path: root.to_owned(),
            action: "cannot read the FORMAT file",
            source,
        }),
    }
}

/// Version 1 differs from 2 only in the log partitions' term dictionaries: a directory
/// with none is rewritten as version 2; one with some is refused, never silently hidden.
fn upgrade_from_1(root: &Path, found: u32) -> Result<(), DataDirError> {
    let partitions_dir = root.join("logs").join("partitions");
    let mut partitions: Vec<String> = match std::fs::read_dir(&partitions_dir) {
        Ok(entries) => entries
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with(".tmp"))
            .collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(DataDirError::Io {
                path: root.to_owned(),
                action: "cannot list the log partitions",
                source,
            });
        }
    };
    if partitions.is_empty() {
        return write_format_file(root);
    }
    partitions.sort();
    let more = partitions.len().saturating_sub(3);
    partitions.truncate(3);
    Err(DataDirError::UnreadableLogs {
        path: root.to_owned(),
        found,
        partitions: if more > 0 {
            format!("{} and {more} more", partitions.join(", "))
        } else {
            partitions.join(", ")
        },
    })
}

/// A directory without FORMAT must hold nothing but our LOCK (and a filesystem's
/// `lost+found`), so a mistyped path never turns someone's files into a data directory.
fn refuse_foreign_directory(root: &Path) -> Result<(), DataDirError> {
    let entries = std::fs::read_dir(root).map_err(|source| DataDirError::Io {
        path: root.to_owned(),
        action: "cannot list it",
        source,
    })?;
    let mut foreign: Vec<String> = entries
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != LOCK_FILE && name != "lost+found")
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let shown: Vec<&str> = foreign.iter().take(3).map(String::as_str).collect();
    let more = foreign.len().saturating_sub(shown.len());
    Err(DataDirError::Foreign {
        path: root.to_owned(),
        found: if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        },
    })
}

/// Writes FORMAT atomically: a temporary file, fsynced, renamed, then the directory
/// fsynced, so a crash leaves either no FORMAT or a whole one.
fn write_format_file(root: &Path) -> Result<(), DataDirError> {
    let io_err = |action| {
        move |source| DataDirError::Io {
            path: root.to_owned(),
            action,
            source,
        }
    };
    let temporary = root.join("FORMAT.tmp");
    let mut file = File::create(&temporary).map_err(io_err("cannot create FORMAT.tmp"))?;
    writeln!(file, "{FORMAT_VERSION}").map_err(io_err("cannot write FORMAT.tmp"))?;
    file.sync_all().map_err(io_err("cannot sync FORMAT.tmp"))?;
    std::fs::rename(&temporary, root.join(FORMAT_FILE))
        .map_err(io_err("cannot rename FORMAT.tmp"))?;
    File::open(root)
        .and_then(|dir| dir.sync_all())
        .map_err(io_err("cannot sync the directory"))
}

/// Bytes used by the files under `dir` (their apparent sizes), 0 if it does not exist.
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => disk_usage(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |meta| meta.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_directory_gets_layout_and_format() {
        let parent = tempfile::tempdir().expect("tempdir");
        let root = parent.path().join("data");
        let data_dir = DataDir::open(&root).expect("open");
        for store in STORE_DIRS {
            assert!(data_dir.store_dir(store).is_dir(), "{store}");
        }
        assert_eq!(
            std::fs::read_to_string(root.join("FORMAT")).expect("format"),
            format!("{FORMAT_VERSION}\n")
        );
        let pid = std::fs::read_to_string(root.join("LOCK")).expect("lock");
        assert_eq!(pid.trim(), std::process::id().to_string());
    }

    #[test]
    fn second_open_is_refused_until_the_first_is_dropped() {
        let parent = tempfile::tempdir().expect("tempdir");
        let first = DataDir::open(parent.path()).expect("first open");
        let err = DataDir::open(parent.path()).expect_err("second open must fail");
        assert!(matches!(err, DataDirError::Locked { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("in use by another sightline process"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        DataDir::open(parent.path()).expect("reopen after release");
    }

    #[test]
    fn newer_format_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("FORMAT"), "3\n").expect("write");
        let err = DataDir::open(dir.path()).expect_err("newer format");
        assert_eq!(
            err.to_string(),
            format!(
                "data directory {} has format version 3, newer than this sightline understands (2); run a newer sightline or set a different storage.data_dir",
                dir.path().display()
            )
        );
        std::fs::write(dir.path().join("FORMAT"), "one\n").expect("write");
        let err = DataDir::open(dir.path()).expect_err("garbled format");
        assert!(matches!(err, DataDirError::BadFormatFile { .. }), "{err}");
    }

    #[test]
    fn version_1_is_upgraded_only_without_log_partitions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::write(root.join("FORMAT"), "1\n").expect("write");
        std::fs::create_dir_all(root.join("logs/partitions/20261121.tmp")).expect("mkdir");
        drop(DataDir::open(root).expect("a version-1 directory without log partitions"));
        assert_eq!(
            std::fs::read_to_string(root.join("FORMAT")).expect("format"),
            "2\n"
        );

        std::fs::write(root.join("FORMAT"), "1\n").expect("write");
        for name in ["20261121", "20261122", "20261123", "20261124"] {
            std::fs::create_dir_all(root.join("logs/partitions").join(name)).expect("mkdir");
        }
        let err = DataDir::open(root).expect_err("log partitions of version 1");
        assert!(
            err.to_string().contains(
                "log partitions (20261121, 20261122, 20261123 and 1 more) use a term dictionary"
            ),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("FORMAT")).expect("format"),
            "1\n",
            "a refused directory is left as it was"
        );
    }

    #[test]
    fn foreign_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("thesis.tex"), "precious").expect("write");
        let err = DataDir::open(dir.path()).expect_err("foreign dir");
        assert!(err.to_string().contains("found thesis.tex"), "{err}");
        assert!(!dir.path().join("FORMAT").exists());
    }

    #[test]
    fn disk_usage_sums_nested_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("a")).expect("mkdir");
        std::fs::write(dir.path().join("a/x"), [0u8; 100]).expect("write");
        std::fs::write(dir.path().join("y"), [0u8; 23]).expect("write");
        assert_eq!(disk_usage(dir.path()), 123);
        assert_eq!(disk_usage(&dir.path().join("missing")), 0);
    }
}
