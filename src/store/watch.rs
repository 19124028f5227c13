//! Watches the database file under a running daemon: deleted, replaced,
//! read-only, damaged, or its disk full. SQLite keeps writing into a deleted
//! file's inode, and a page cache can hide damage, so nothing of this shows
//! in the daemon's own writes: the watch compares the file's identity every
//! [`FILE_CHECK`] and runs `PRAGMA quick_check` on a fresh read-only
//! connection every `database.check_interval`.
//!
//! What it finds is the [`DbHealth`] problem: `/healthz` answers 503 with it,
//! writes are refused with 503, it is logged at ERROR with what to do, and
//! the daemon sends the built-in alert `DatabaseUnavailable` straight to
//! every enabled target (not through the outbox, which lives in the broken
//! database).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How often the file's identity, permissions and free space are looked at.
pub const FILE_CHECK: Duration = Duration::from_secs(1);

/// Free bytes below which the data disk counts as full.
pub const MIN_FREE_BYTES: u64 = 1 << 20;

/// What is wrong with the database, if anything (shared, cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct DbHealth(Arc<RwLock<Option<String>>>);

impl DbHealth {
    /// The problem, if any.
    pub fn problem(&self) -> Option<String> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets or clears the problem; returns whether it changed.
    pub fn set(&self, problem: Option<String>) -> bool {
        let mut g = self.0.write().unwrap_or_else(|p| p.into_inner());
        if *g == problem {
            return false;
        }
        *g = problem;
        true
    }
}

/// Device and inode of a file: what stays the same while it is the same file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
}

impl Identity {
    pub fn of(path: &Path) -> std::io::Result<Identity> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(Identity {
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

/// The file-level problem of the database at `path` opened as `identity`.
pub fn file_problem(path: &Path, identity: Identity) -> Option<String> {
    let p = path.display();
    match Identity::of(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!(
                "the database file {p} was deleted: nothing is recorded any more; restore it from a backup (stop tocsin first) or restart tocsin to start with an empty database"
            ));
        }
        Err(e) => {
            return Some(format!(
                "the database file {p} cannot be looked at ({e}): check the data directory's permissions"
            ));
        }
        Ok(now) if now != identity => {
            return Some(format!(
                "the database file {p} was replaced by another file: tocsin still writes to the old one; restart tocsin to use the new one"
            ));
        }
        Ok(_) => {}
    }
    if !writable(path) {
        return Some(format!(
            "the database file {p} is read-only: make it and its folder writable for the user tocsin runs as (chmod u+w, chown)"
        ));
    }
    None
}

fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Free bytes on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid path and `s` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some((s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
}

/// `PRAGMA quick_check` on a fresh read-only connection (so a page cache
/// cannot hide damage); `Err` with what it found.
pub fn quick_check(path: &Path) -> Result<(), String> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| e.to_string())?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        Err(rows.join("; "))
    }
}

/// The remedy for a damaged database, for messages.
pub fn damaged_remedy(path: &Path) -> String {
    format!(
        "stop tocsin and restore {p} from a backup, or try `sqlite3 {p} .recover | sqlite3 recovered.db`, or move {p}* away to start with an empty database",
        p = path.display()
    )
}

/// What the watch task needs to know about the database: the SQLite file
/// and its identity, or a connection of its own to PostgreSQL.
#[derive(Debug, Clone)]
pub struct Watched {
    /// The file, or the PostgreSQL URL without its password.
    pub path: PathBuf,
    identity: Option<Identity>,
    postgres: Option<super::Store>,
    /// The first failure of an outage: kept while it lasts, so that a
    /// different error on the way (the server stopping, then refusing
    /// connections) is not told as a new problem.
    outage: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Watched {
    pub fn new(path: &Path) -> std::io::Result<Watched> {
        Ok(Watched {
            path: path.to_path_buf(),
            identity: Some(Identity::of(path)?),
            postgres: None,
            outage: Default::default(),
        })
    }

    /// Watches a PostgreSQL database through `probe`, a connection used
    /// for nothing else (so a busy store does not look unreachable).
    pub fn postgres(probe: super::Store) -> Watched {
        Watched {
            path: PathBuf::from(probe.database().display()),
            identity: None,
            postgres: Some(probe),
            outage: Default::default(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// Whether the database can be reached. SQLite: file-level problems
    /// and a full disk. PostgreSQL: a `SELECT 1` on the probe connection
    /// (which connects again by itself once the server is back).
    pub fn file_problem(&self) -> Option<String> {
        if let Some(probe) = &self.postgres {
            let failed = probe
                .run_blocking(|c| Ok(c.execute_batch("SELECT 1")?))
                .err();
            let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
            return match failed {
                None => outage.take().and(None),
                Some(e) => {
                    tracing::debug!(error = %e, "database probe failed");
                    Some(
                        outage
                            .get_or_insert_with(|| {
                                format!(
                                    "cannot reach the database {}: {e}; tocsin tries again every second",
                                    self.path.display()
                                )
                            })
                            .clone(),
                    )
                }
            };
        }
        let identity = self.identity?;
        if let Some(p) = file_problem(&self.path, identity) {
            return Some(p);
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        match free_bytes(dir) {
            Some(free) if free < MIN_FREE_BYTES => Some(format!(
                "the disk holding {} is full ({free} bytes free): free some space; tocsin checkpoints and truncates its write-ahead log once there is room again",
                dir.display()
            )),
            _ => None,
        }
    }

    /// `quick_check`, as a problem (SQLite only: PostgreSQL checks its
    /// own pages).
    pub fn check_problem(&self) -> Option<String> {
        if self.postgres.is_some() {
            return None;
        }
        quick_check(&self.path).err().map(|found| {
            format!(
                "database is damaged: {} ({found}): {}",
                self.path.display(),
                damaged_remedy(&self.path)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_replaced_read_only_and_damaged_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = super::super::Store::open(&path).unwrap();
        let w = Watched::new(&path).unwrap();
        assert_eq!(w.file_problem(), None);
        assert_eq!(w.check_problem(), None);

        // Damage every page but the header (of the file, not the log).
        store
            .run_blocking(|c| {
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
                Ok(())
            })
            .unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.seek(SeekFrom::Start(100)).unwrap();
            f.write_all(&vec![0xA5; (len - 100) as usize]).unwrap();
        }
        let damaged = w.check_problem().expect("damage found");
        assert!(damaged.starts_with("database is damaged"), "{damaged}");

        std::fs::rename(&path, dir.path().join("old.db")).unwrap();
        assert!(w.file_problem().unwrap().contains("was deleted"));
        std::fs::write(&path, b"").unwrap();
        assert!(w.file_problem().unwrap().contains("was replaced"));
        drop(store);
    }
}
