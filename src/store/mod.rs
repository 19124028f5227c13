//! Storage: SQLite (one file under `data_dir`, the default) or PostgreSQL
//! (`database: postgres://…`, shared by several replicas). One connection
//! behind a mutex per [`Store`], used only from blocking threads
//! (`spawn_blocking`), never on the async workers. The schema comes from
//! `migrations/sqlite/` or `migrations/postgres/`, applied in order, once,
//! at open ([`migrate`]). [`db`] is the connection both speak through.
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
mod bulk;
pub mod db;
pub mod external;
pub mod heartbeats;
pub mod lease;
mod migrate;
pub mod outbox;
pub mod ping_inbox;
mod rekey;
pub mod silences;
#[cfg(test)]
pub(crate) mod testing;
pub mod verifications;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

pub use db::{Conn, DbError, PgTarget};

/// Bytes the write-ahead log is cut back to after a checkpoint.
pub const JOURNAL_SIZE_LIMIT: i64 = 64 << 20;

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
    /// PostgreSQL could not be reached or migrated at open.
    #[error("cannot open database {database}: {source}")]
    OpenPostgres { database: String, source: DbError },
    #[error("database error: {0}")]
    Sql(#[from] DbError),
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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Sql(DbError::Sqlite(e))
    }
}

impl StoreError {
    /// Whether the database could not be reached (PostgreSQL down or far
    /// away), as opposed to refusing a statement.
    pub fn is_unreachable(&self) -> bool {
        match self {
            StoreError::Sql(e) | StoreError::OpenPostgres { source: e, .. } => e.is_unreachable(),
            _ => false,
        }
    }
}

/// Which database the store lives in.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(PgTarget),
}

impl Database {
    /// What messages and the API call it (never a password).
    pub fn display(&self) -> String {
        match self {
            Database::Sqlite(p) => p.display().to_string(),
            Database::Postgres(t) => t.display().to_string(),
        }
    }
}

/// A cheap-to-clone handle on the database.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Conn>>,
    database: Arc<Database>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("database", &self.database.display())
            .finish()
    }
}

/// The settings of every read-write connection.
fn set_up(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // After a checkpoint the write-ahead log is cut back to this size.
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    // No checkpoint inside a commit: an alert storm's commit would copy
    // its thousands of pages into the database (and sync it) before the
    // first notification could go. The daemon's checkpointer does that
    // every second on a connection of its own (`heartbeat/writer.rs`); a
    // command's connection checkpoints when it closes, as the last one.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

impl Store {
    /// Opens the database and brings its schema up to date.
    pub fn open_database(database: &Database) -> Result<Store, StoreError> {
        match database {
            Database::Sqlite(path) => Store::open(path),
            Database::Postgres(target) => Store::open_postgres(target),
        }
    }

    /// Another connection to a database opened (checked and migrated) in
    /// this process.
    pub fn open_another_of(database: &Database) -> Result<Store, StoreError> {
        match database {
            Database::Sqlite(path) => Store::open_another(path),
            Database::Postgres(target) => Store::connect_postgres(target),
        }
    }

    /// Connects to PostgreSQL and brings its schema up to date (several
    /// replicas starting at once take turns: see [`migrate`]).
    pub fn open_postgres(target: &PgTarget) -> Result<Store, StoreError> {
        let mut store = Store::connect_postgres(target)?;
        let opened = store.run_blocking(|c| Ok(migrate::postgres(c)?));
        if let Err(e) = opened {
            return Err(match e {
                StoreError::Sql(source) => StoreError::OpenPostgres {
                    database: target.display().to_string(),
                    source,
                },
                e => e,
            });
        }
        store.database = Arc::new(Database::Postgres(target.clone()));
        Ok(store)
    }

    fn connect_postgres(target: &PgTarget) -> Result<Store, StoreError> {
        let conn = target
            .connect()
            .map_err(|source| StoreError::OpenPostgres {
                database: target.display().to_string(),
                source,
            })?;
        Ok(Store {
            conn: Arc::new(Mutex::new(Conn::Postgres(Box::new(conn)))),
            database: Arc::new(Database::Postgres(target.clone())),
        })
    }

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
            return Err(damaged(&e).unwrap_or(StoreError::from(e)));
        }
        if let Err(source) = migrate::sqlite().and_then(|m| m.to_latest(&mut conn)) {
            return Err(damaged(&source).unwrap_or(StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            }));
        }
        Ok(Store::of_sqlite(conn, path))
    }

    pub(crate) fn of_sqlite(conn: Connection, path: &Path) -> Store {
        Store {
            conn: Arc::new(Mutex::new(Conn::Sqlite(conn))),
            database: Arc::new(Database::Sqlite(path.to_path_buf())),
        }
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
        Ok(Store::of_sqlite(conn, path))
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    pub fn is_postgres(&self) -> bool {
        matches!(*self.database, Database::Postgres(_))
    }

    /// The SQLite file (`None` on PostgreSQL).
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &*self.database {
            Database::Sqlite(p) => Some(p),
            Database::Postgres(_) => None,
        }
    }

    /// Copies the write-ahead log into the database and truncates it (to
    /// give its space back after the disk was full). PostgreSQL: nothing
    /// to do.
    pub async fn checkpoint_truncate(&self) -> Result<(i64, i64), StoreError> {
        self.run(|c| {
            let Some(c) = c.sqlite() else {
                return Ok((0, 0));
            };
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
        F: FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
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

    /// Runs `f` on the calling thread (for the CLI and tests, outside async
    /// code; PostgreSQL's client must not run on an async worker, so there
    /// it runs on a thread of its own).
    pub fn run_blocking<T: Send>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        let run = || {
            let mut guard = self
                .conn
                .lock()
                .map_err(|_| StoreError::Task("database mutex poisoned".into()))?;
            f(&mut guard)
        };
        if self.is_postgres() && tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|s| {
                s.spawn(run)
                    .join()
                    .map_err(|_| StoreError::Task("database thread panicked".into()))?
            });
        }
        run()
    }
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

    #[tokio::test]
    async fn history_purge_keeps_pending_notifications() {
        let dir = tempfile::tempdir().unwrap();
        for store in testing::stores(dir.path()) {
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
    }

    #[test]
    fn opens_twice_without_reapplying() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/tocsin.db");
        drop(Store::open(&path).unwrap());
        let store = Store::open(&path).unwrap();
        let version: i64 = store
            .run_blocking(|c| {
                let c = c.sqlite().unwrap();
                Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(version as usize, migrate::SQLITE.dirs().count());
    }
}
