//! SQLite storage. One connection behind a mutex, used only from blocking
//! threads (`spawn_blocking`), never on the async workers. The schema comes
//! from `migrations/`, applied in order, once, at open.
//!
//! - [`alerts`]: current alert state and the transition log, written in one
//!   transaction together with the outbox rows a transition causes.
//! - [`outbox`]: notifications waiting to be sent, retried, or given up.
//! - [`heartbeats`]: heartbeat checks and their bounded ping log.
//! - [`external`]: expiry of alerts posted to `/api/v2/alerts`.
//! - [`silences`]: silences, and which targets heard of an alert.
//! - [`acknowledgements`]: who took which alert, recent resolutions, the
//!   daemon's keys.

pub mod acknowledgements;
pub mod alerts;
pub mod external;
pub mod heartbeats;
pub mod outbox;
mod rekey;
pub mod silences;
pub mod verifications;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use include_dir::{Dir, include_dir};
use rusqlite::Connection;
use rusqlite_migration::Migrations;

/// Bytes the write-ahead log is cut back to after a checkpoint.
pub const JOURNAL_SIZE_LIMIT: i64 = 64 << 20;

static MIGRATIONS: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot migrate database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: rusqlite_migration::Error,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The file is not a sound SQLite database (found at open).
    #[error("database is damaged: {path}: {detail}; {remedy}", remedy = watch::damaged_remedy(path))]
    Damaged { path: PathBuf, detail: String },
    #[error("database task failed: {0}")]
    Task(String),
    /// A `sql:` rule's SELECT could not be answered.
    #[error("query failed: {0}")]
    Query(String),
}

/// A cheap-to-clone handle on the database.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// The settings of every read-write connection.
fn set_up(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // After a checkpoint the write-ahead log is cut back to this size.
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // A damaged file is refused before anything writes to it.
        let exists = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        if exists && let Err(detail) = watch::quick_check(path) {
            return Err(StoreError::Damaged {
                path: path.to_path_buf(),
                detail,
            });
        }
        let damaged = |e: &dyn std::fmt::Display| -> Option<StoreError> {
            watch::quick_check(path)
                .err()
                .map(|detail| StoreError::Damaged {
                    path: path.to_path_buf(),
                    detail: format!("{detail} ({e})"),
                })
        };
        let mut conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let setup = |conn: &Connection| -> rusqlite::Result<()> {
            set_up(conn)?;
            // A log grown large before a crash or a full disk gives its
            // space back now.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        };
        if let Err(e) = setup(&conn) {
            return Err(damaged(&e).unwrap_or(StoreError::Sql(e)));
        }
        if let Err(source) = migrations().and_then(|m| m.to_latest(&mut conn)) {
            return Err(damaged(&source).unwrap_or(StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            }));
        }
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    /// Another connection to a database [`Store::open`] has checked and
    /// migrated in this process: the same settings, without checking the
    /// whole file again (a second or more with a million checks).
    pub fn open_another(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        set_up(&conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies the write-ahead log into the database and truncates it (to
    /// give its space back after the disk was full).
    pub async fn checkpoint_truncate(&self) -> Result<(i64, i64), StoreError> {
        self.run(|c| {
            Ok(c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            })?)
        })
        .await
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Task("database mutex poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` on the calling thread (for the CLI and tests, outside async code).
    pub fn run_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StoreError::Task("database mutex poisoned".into()))?;
        f(&mut guard)
    }
}

/// The folders of `migrations/` in name order (`01-init`, `03-routing`, ...),
/// each applied once. The order is what counts, not consecutive numbers: a
/// number left free for a branch still to be merged is no error.
fn migrations() -> Result<Migrations<'static>, rusqlite_migration::Error> {
    let mut dirs: Vec<&'static Dir<'static>> = MIGRATIONS.dirs().collect();
    dirs.sort_by_key(|d| d.path());
    let mut steps = Vec::new();
    for d in dirs {
        let name = d.path().display().to_string();
        let up = d
            .get_file(d.path().join("up.sql"))
            .and_then(|f| f.contents_utf8())
            .ok_or_else(|| {
                rusqlite_migration::Error::FileLoad(format!("migration {name} has no up.sql"))
            })?;
        let mut m = match name.as_str() {
            "07-identity" => rusqlite_migration::M::up_with_hook(up, rekey::rekey_alerts),
            _ => rusqlite_migration::M::up(up),
        };
        if let Some(down) = d
            .get_file(d.path().join("down.sql"))
            .and_then(|f| f.contents_utf8())
        {
            m = m.down(down);
        }
        steps.push(m);
    }
    if steps.is_empty() {
        return Err(rusqlite_migration::Error::FileLoad(
            "migrations/ holds no migration".into(),
        ));
    }
    Ok(Migrations::new(steps))
}

pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().unwrap().validate().is_ok());
    }

    #[tokio::test]
    async fn history_purge_keeps_pending_notifications() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        store
            .run_blocking(|c| {
                c.execute_batch(
                    "INSERT INTO alert_events (at, fingerprint, rule_group, alert, labels, from_state, to_state)
                       VALUES (1000, 'f', 'g', 'a', '{}', 'inactive', 'firing'), (9000000000000, 'f', 'g', 'a', '{}', 'firing', 'resolved');
                     INSERT INTO notifications (target, fingerprint, kind, payload, status, next_attempt_at, created_at)
                       VALUES ('t', 'f', 'firing', '{}', 'sent', 0, 1000), ('t', 'f', 'firing', '{}', 'failed', 0, 1000),
                              ('t', 'f', 'firing', '{}', 'pending', 0, 1000), ('t', 'f', 'resolved', '{}', 'sent', 0, 9000000000000);",
                )?;
                Ok(())
            })
            .unwrap();
        let (events, notes) = store.purge_history(from_millis(5000)).await.unwrap();
        assert_eq!((events, notes), (1, 2));
        let left: i64 = store
            .run_blocking(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM notifications WHERE status = 'pending'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(left, 1, "an undelivered notification is never purged");
    }

    #[test]
    fn opens_twice_without_reapplying() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/tocsin.db");
        drop(Store::open(&path).unwrap());
        let store = Store::open(&path).unwrap();
        let version: i64 = store
            .run_blocking(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.dirs().count());
    }
}
