//! The heartbeat tables: `heartbeat_checks` (settings and state) and the
//! bounded `heartbeat_pings` log; the one transaction that records a batch
//! of pings; and the read-only SELECTs of `sql:` rules, checked when rules
//! load (against the real schema, in memory) and run on a read-only
//! connection.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::bulk::BulkRows;
use super::db::{Conn, DbError, OptionalExtension, Row, params};
use uuid::Uuid;

use super::{Database, Store, StoreError, from_millis, migrate, to_millis};
use crate::alert::{Labels, Sample};
use crate::heartbeat::registry::{CheckDef, CheckExtra, Origin};
use crate::heartbeat::state::{CheckState, PingKind, RunStatus};
use crate::rules::Schedule;

/// A check as stored (its settings come from the rule files, not from
/// here, unless it was made through the Healthchecks API).
#[derive(Debug, Clone)]
pub struct StoredCheck {
    pub id: i64,
    /// Shared with `slug` when they are the same, as in [`CheckDef`].
    pub name: Arc<str>,
    pub uuid: Uuid,
    pub slug: Option<Arc<str>>,
    pub origin: Origin,
    pub created_at: DateTime<Utc>,
    pub state: CheckState,
    /// The settings as stored (to tell whether the row must be written again).
    pub settings: StoredSettings,
    pub extra: CheckExtra,
}

/// The `labels` of a check without labels.
const NO_LABELS: &str = "{}";

/// A check's settings as `heartbeat_checks` holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSettings {
    pub period_seconds: Option<f64>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub grace_seconds: f64,
    /// JSON object (the empty one, most checks', is not allocated).
    pub labels: Cow<'static, str>,
}

impl StoredSettings {
    pub fn of(def: &CheckDef) -> Result<StoredSettings, StoreError> {
        let (cron, timezone) = match def.schedule.cron() {
            Some((expr, tz)) => (Some(expr.to_string()), Some(tz.name().to_string())),
            None => (None, None),
        };
        Ok(StoredSettings {
            period_seconds: def.schedule.period_seconds(),
            cron,
            timezone,
            grace_seconds: def.grace.as_secs_f64(),
            labels: if def.labels.is_empty() {
                Cow::Borrowed(NO_LABELS)
            } else {
                Cow::Owned(
                    serde_json::to_string(&def.labels)
                        .map_err(|e| StoreError::Corrupt(format!("cannot encode labels: {e}")))?,
                )
            },
        })
    }
}

impl StoredSettings {
    /// Whether these columns say `schedule`, `grace` and `labels` (compared
    /// without encoding them: start-up asks this of every stored check).
    pub fn describes(&self, schedule: &Schedule, grace: Duration, labels: &Labels) -> bool {
        let (cron, timezone) = match schedule.cron() {
            Some((expr, tz)) => (Some(expr), Some(tz.name())),
            None => (None, None),
        };
        self.period_seconds == schedule.period_seconds()
            && self.cron.as_deref() == cron
            && self.timezone.as_deref() == timezone
            && self.grace_seconds == grace.as_secs_f64()
            && if labels.is_empty() {
                self.labels == NO_LABELS
            } else {
                serde_json::to_string(labels).is_ok_and(|l| l == self.labels)
            }
    }
}

impl StoredCheck {
    /// Whether the stored row already says what `def` and `state` would.
    pub fn is_row_of(&self, def: &CheckDef, state: &CheckState) -> bool {
        self.id == def.id
            && self.name == def.name
            && self.uuid == def.uuid
            && self.slug == def.slug
            && self.origin == def.origin
            && self.created_at == def.created_at
            && &self.extra == def.extra()
            && &self.state == state
            && self
                .settings
                .describes(&def.schedule, def.grace, &def.labels)
    }
}

/// One ping to record.
#[derive(Debug, Clone)]
pub struct NewPing {
    pub check_id: i64,
    /// The check's ping number (its `pings` count after this one).
    pub n: u64,
    pub at: DateTime<Utc>,
    pub kind: PingKind,
    pub exit_code: Option<u8>,
    pub rid: Option<Uuid>,
    pub duration: Option<Duration>,
    pub method: &'static str,
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
    /// The kept part of the body.
    pub body: Vec<u8>,
    /// Bytes received.
    pub body_size: u64,
}

/// A check's status flip between up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Flip {
    pub at: DateTime<Utc>,
    pub up: bool,
}

/// Everything one writer batch records, in one transaction.
#[derive(Debug, Default)]
pub struct PingBatch {
    /// Every check the batch touched (or created), with its state after it.
    pub checks: Vec<(Arc<CheckDef>, CheckState)>,
    /// Checks of `checks` whose settings changed (written in full).
    pub rewrite: std::collections::HashSet<i64>,
    /// Checks deleted (with their pings and flips).
    pub delete: Vec<i64>,
    pub pings: Vec<NewPing>,
    pub flips: Vec<(i64, Flip)>,
    /// Pings kept per check; older ones are deleted.
    pub keep: u64,
}

/// A kept ping, as `/api/v1/heartbeats/{name}/pings` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PingRecord {
    pub n: u64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub exit_code: Option<u8>,
    pub rid: Option<String>,
    pub duration_seconds: Option<f64>,
    pub method: String,
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
    /// The kept body, as UTF-8 (invalid bytes replaced).
    pub body: String,
    /// Bytes received (more than `body` holds when it was cut).
    pub body_size: u64,
}

impl Store {
    /// Keeps the ping bodies of all checks under `max` bytes in all: the
    /// oldest bodies are emptied first (the pings themselves stay). Returns
    /// the bytes freed.
    pub async fn cap_ping_bytes(&self, max: u64) -> Result<u64, StoreError> {
        self.run(move |c| {
            let total: i64 = c.query_row(
                "SELECT COALESCE(SUM(length(body)), 0) FROM heartbeat_pings",
                [],
                |r| r.get(0),
            )?;
            let mut excess = total.saturating_sub(i64::try_from(max).unwrap_or(i64::MAX));
            if excess <= 0 {
                return Ok(0);
            }
            let mut freed = 0i64;
            let tx = c.transaction()?;
            {
                let mut oldest = tx.prepare(
                    "SELECT check_id, n, length(body) FROM heartbeat_pings WHERE length(body) > 0 ORDER BY at, check_id, n",
                )?;
                let mut empty =
                    tx.prepare("UPDATE heartbeat_pings SET body = ?3 WHERE check_id = ?1 AND n = ?2")?;
                let mut rows = oldest.query([])?;
                while excess > 0 {
                    let Some(row) = rows.next()? else { break };
                    let (id, n, len): (i64, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
                    empty.execute(params![id, n, Vec::<u8>::new()])?;
                    excess -= len;
                    freed += len;
                }
            }
            tx.commit()?;
            Ok(freed.max(0) as u64)
        })
        .await
    }
}

impl Store {
    /// A second connection for the ping writer. SQLite: `synchronous =
    /// FULL`, so a commit is on disk (the WAL is synced) before any ping is
    /// answered; it never checkpoints (copies the WAL into the database,
    /// which syncs the database file too): [`Store::checkpoint`] does, off
    /// the ping path. PostgreSQL: a commit is durable once it returns
    /// (`synchronous_commit` as the server has it, `on` by default).
    pub fn open_ping_writer(database: &Database) -> Result<Store, StoreError> {
        let store = Store::open_another_of(database)?;
        store.run_blocking(|c| {
            if let Some(c) = c.sqlite() {
                c.pragma_update(None, "synchronous", "FULL")?;
                c.pragma_update(None, "wal_autocheckpoint", 0)?;
                // A WAL grown by a burst shrinks back to this when it restarts.
                c.pragma_update(None, "journal_size_limit", 64i64 << 20)?;
            }
            Ok(())
        })?;
        Ok(store)
    }

    /// How durable a commit of this connection is: SQLite's `PRAGMA
    /// synchronous` (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA); on PostgreSQL 2
    /// when `synchronous_commit` is not `off` (a commit waits for the WAL
    /// flush), else 0.
    pub async fn synchronous(&self) -> Result<i64, StoreError> {
        self.run(|c| {
            if c.is_postgres() {
                let s: String = c.query_row("SHOW synchronous_commit", params![], |r| r.get(0))?;
                return Ok(if s == "off" { 0 } else { 2 });
            }
            Ok(c.query_row("PRAGMA synchronous", params![], |r| r.get(0))?)
        })
        .await
    }

    /// A connection for [`Store::checkpoint`]. Its short busy timeout bounds
    /// how long a restart may hold up the ping writer while it waits for
    /// readers; one that cannot finish in time is tried again next time.
    pub fn open_checkpointer(database: &Database) -> Result<Store, StoreError> {
        let store = Store::open_another_of(database)?;
        store.run_blocking(|c| {
            if let Some(c) = c.sqlite() {
                c.busy_timeout(Duration::from_millis(100))?;
                // Checkpoints copy pages through the WAL, not the page cache:
                // 64 KiB instead of SQLite's default 2 MiB.
                c.pragma_update(None, "cache_size", -64i64)?;
            }
            Ok(())
        })?;
        Ok(store)
    }

    /// Copies what the WAL holds into the database without blocking anyone
    /// (PASSIVE). The next write then starts the WAL over, unless writes
    /// never paused meanwhile; so once the WAL holds more than
    /// `restart_frames` pages, it also blocks writers for what came in
    /// during the copy and makes the WAL start over (RESTART). Returns the
    /// pages the WAL held and whether it restarted. PostgreSQL checkpoints
    /// by itself: nothing to do.
    pub async fn checkpoint(&self, restart_frames: i64) -> Result<(i64, bool), StoreError> {
        self.run(move |c| {
            let Some(c) = c.sqlite() else {
                return Ok((0, false));
            };
            let frames: i64 = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
            if frames <= restart_frames {
                return Ok((frames, false));
            }
            let busy: i64 = c.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get(0))?;
            Ok((frames, busy == 0))
        })
        .await
    }

    /// A read-only connection for `sql:` rules: it refuses any write
    /// whatever the SQL says. SQLite: with WAL it reads while pings are
    /// written. PostgreSQL: every transaction of the session is READ ONLY.
    pub fn open_reader(database: &Database) -> Result<Store, StoreError> {
        let path = match database {
            Database::Sqlite(path) => path,
            Database::Postgres(_) => {
                let store = Store::open_another_of(database)?;
                store.run_blocking(|c| {
                    c.execute_batch("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")?;
                    Ok(())
                })?;
                return Ok(store);
            }
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.pragma_update(None, "query_only", true)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // `sql:` rules read a few tables once per evaluation: 512 KiB of
        // cache (SQLite's default is 2 MiB per connection).
        conn.pragma_update(None, "cache_size", -512i64)?;
        Ok(Store::of_sqlite(conn, path))
    }

    pub async fn load_checks(&self) -> Result<Vec<StoredCheck>, StoreError> {
        self.run(load_checks).await
    }

    /// Makes the table match the rule files at start: `upsert` every check
    /// that stays (settings and state), delete the ones no longer declared.
    pub async fn sync_checks(
        &self,
        upsert: Vec<(Arc<CheckDef>, CheckState)>,
        delete: Vec<i64>,
    ) -> Result<(), StoreError> {
        self.run(move |c| {
            let tx = c.transaction()?;
            // Slugs may move between the checks written here (a check
            // losing its slug is written too): clear theirs, then set them.
            for (def, _) in &upsert {
                tx.prepare_cached("UPDATE heartbeat_checks SET slug = NULL WHERE id = ?1")?
                    .execute([def.id])?;
            }
            for id in &delete {
                tx.execute("DELETE FROM heartbeat_checks WHERE id = ?1", [id])?;
            }
            for (def, state) in &upsert {
                upsert_check(&tx, def, state)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Records a batch of pings: new checks, ping rows, check states, and the
    /// trimming of each touched check's log to the last `keep` pings.
    pub async fn commit_pings(&self, batch: PingBatch) -> Result<(), StoreError> {
        self.run(move |c| commit_pings(c, &batch)).await
    }

    /// The kept pings of a check, newest first.
    pub async fn pings(&self, check_id: i64, limit: usize) -> Result<Vec<PingRecord>, StoreError> {
        self.run(move |c| pings(c, check_id, limit)).await
    }

    /// One kept ping of a check, by number.
    pub async fn ping_number(
        &self,
        check_id: i64,
        n: u64,
    ) -> Result<Option<PingRecord>, StoreError> {
        self.run(move |c| ping_number(c, check_id, n)).await
    }

    /// The kept flips of a check, newest first.
    pub async fn flips(&self, check_id: i64) -> Result<Vec<Flip>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT at, up FROM heartbeat_flips WHERE check_id = ?1 ORDER BY at DESC, rowid DESC",
            )?;
            let rows = stmt.query_map([check_id], |r| {
                Ok(Flip {
                    at: from_millis(r.get(0)?),
                    up: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The body of each check's latest `fail` ping (the failed run's output
    /// tail, as `tocsin ping` sends it), for the checks that have one.
    pub async fn failure_bodies(
        &self,
        check_ids: Vec<i64>,
    ) -> Result<HashMap<i64, String>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT body FROM heartbeat_pings WHERE check_id = ?1 AND kind = ?2 ORDER BY n DESC LIMIT 1",
            )?;
            let mut out = HashMap::new();
            for id in check_ids {
                let body: Option<Vec<u8>> = stmt
                    .query_row(params![id, PingKind::Fail.as_str()], |r| r.get(0))
                    .optional()?;
                if let Some(body) = body.filter(|b| !b.is_empty()) {
                    out.insert(id, String::from_utf8_lossy(&body).into_owned());
                }
            }
            Ok(out)
        })
        .await
    }

    /// Runs a `sql:` rule: every row is a series, column `value` its value,
    /// the other columns its labels (NULL: no such label).
    pub async fn select_samples(&self, sql: String) -> Result<Vec<Sample>, StoreError> {
        self.run(move |c| select_samples(c, &sql)).await
    }
}

fn load_checks(c: &mut Conn) -> Result<Vec<StoredCheck>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT id, name, uuid, slug, origin, created_at, paused, last_ping_at, last_start_at,
                last_start_rid, last_status, last_exit_code, last_duration_ms, due_at, pings,
                period_seconds, cron, timezone, grace_seconds, labels, api, tags, description, channels
         FROM heartbeat_checks ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        // Text only looked at is borrowed from the row, not copied.
        let name: Arc<str> = Arc::from(r.text(1)?.unwrap_or_default());
        let corrupt = |what: &str| StoreError::Corrupt(format!("check {name:?}: {what}"));
        let uuid = r.text(2)?.unwrap_or_default();
        let origin = r.text(4)?.unwrap_or_default();
        let rid = r.text(9)?;
        let status = r.text(10)?;
        let exit: Option<i64> = r.get(11)?;
        let duration: Option<i64> = r.get(12)?;
        let pings: i64 = r.get(14)?;
        let state = CheckState {
            paused: r.get(6)?,
            last_ping: r.get::<_, Option<i64>>(7)?.map(from_millis),
            last_start: r.get::<_, Option<i64>>(8)?.map(from_millis),
            last_start_rid: match rid {
                None => None,
                Some(s) => Some(Uuid::parse_str(s).map_err(|_| corrupt("bad run id"))?),
            },
            last_status: match status {
                None => None,
                Some(s) => Some(RunStatus::parse(s).ok_or_else(|| corrupt("bad status"))?),
            },
            last_exit_code: exit
                .map(|e| u8::try_from(e).map_err(|_| corrupt("bad exit code")))
                .transpose()?,
            last_duration: duration.map(|ms| Duration::from_millis(ms.max(0) as u64)),
            due_at: r.get::<_, Option<i64>>(13)?.map(from_millis),
            pings: pings.max(0) as u64,
        };
        out.push(StoredCheck {
            id: r.get(0)?,
            uuid: Uuid::parse_str(uuid).map_err(|_| corrupt("bad uuid"))?,
            slug: r.text(3)?.map(|slug| {
                if *slug == *name {
                    Arc::clone(&name)
                } else {
                    Arc::from(slug)
                }
            }),
            origin: Origin::from_columns(origin, r.get(20)?)
                .ok_or_else(|| corrupt("bad origin"))?,
            created_at: from_millis(r.get(5)?),
            state,
            settings: StoredSettings {
                period_seconds: r.get(15)?,
                cron: r.get(16)?,
                timezone: r.get(17)?,
                grace_seconds: r.get(18)?,
                labels: match r.text(19)?.unwrap_or(NO_LABELS) {
                    NO_LABELS => Cow::Borrowed(NO_LABELS),
                    other => Cow::Owned(other.to_string()),
                },
            },
            extra: CheckExtra {
                tags: r.get(21)?,
                desc: r.get(22)?,
                channels: r.get(23)?,
            },
            name,
        });
    }
    Ok(out)
}

fn upsert_check(c: &Conn, def: &CheckDef, s: &CheckState) -> Result<(), StoreError> {
    let StoredSettings {
        period_seconds,
        cron,
        timezone,
        grace_seconds,
        labels,
    } = StoredSettings::of(def)?;
    // Identity and settings here; the state as for every ping.
    let mut stmt = c.prepare_cached(
        "INSERT INTO heartbeat_checks (id, name, uuid, slug, origin, period_seconds, cron, timezone,
             grace_seconds, labels, created_at, api, tags, description, channels)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (id) DO UPDATE SET
             name = excluded.name, slug = excluded.slug, origin = excluded.origin,
             period_seconds = excluded.period_seconds, cron = excluded.cron,
             timezone = excluded.timezone, grace_seconds = excluded.grace_seconds,
             labels = excluded.labels, api = excluded.api, tags = excluded.tags,
             description = excluded.description, channels = excluded.channels",
    )?;
    let (origin, api) = def.origin.to_columns();
    stmt.execute(params![
        def.id,
        &*def.name,
        def.uuid.to_string(),
        def.slug.as_deref(),
        origin,
        period_seconds,
        cron,
        timezone,
        grace_seconds,
        labels.as_ref(),
        to_millis(def.created_at),
        api,
        def.extra().tags,
        def.extra().desc,
        def.extra().channels,
    ])?;
    update_check_state(c, def.id, s)?;
    Ok(())
}

/// Writes a stored check's state; 0 when there is no such row yet.
fn update_check_state(c: &Conn, id: i64, s: &CheckState) -> Result<usize, StoreError> {
    let mut stmt = c.prepare_cached(
        "UPDATE heartbeat_checks SET paused = ?2, last_ping_at = ?3, last_start_at = ?4,
             last_start_rid = ?5, last_status = ?6, last_exit_code = ?7, last_duration_ms = ?8,
             due_at = ?9, pings = ?10
         WHERE id = ?1",
    )?;
    Ok(stmt.execute(params![
        id,
        s.paused,
        s.last_ping.map(to_millis),
        s.last_start.map(to_millis),
        s.last_start_rid.map(|r| r.to_string()),
        s.last_status.map(RunStatus::as_str),
        s.last_exit_code,
        s.last_duration.map(|d| d.as_millis() as i64),
        s.due_at.map(to_millis),
        s.pings as i64,
    ])?)
}

fn commit_pings(c: &mut Conn, batch: &PingBatch) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    for id in &batch.delete {
        tx.prepare_cached("DELETE FROM heartbeat_checks WHERE id = ?1")?
            .execute([id])?;
    }
    // Slugs and names may move between rewritten checks: clear theirs first.
    for (def, _) in batch
        .checks
        .iter()
        .filter(|(d, _)| batch.rewrite.contains(&d.id))
    {
        tx.prepare_cached(
            "UPDATE heartbeat_checks SET slug = NULL, name = name || ' ' || uuid WHERE id = ?1",
        )?
        .execute([def.id])?;
    }
    // Checks next: a check created by these pings must exist for them.
    // A known check only changes its state columns; a new one is inserted,
    // a changed one written in full.
    if tx.is_postgres() {
        let updated = update_check_states_bulk(&tx, batch)?;
        for (def, state) in &batch.checks {
            if batch.rewrite.contains(&def.id) || !updated.contains(&def.id) {
                upsert_check(&tx, def, state)?;
            }
        }
    } else {
        for (def, state) in &batch.checks {
            if batch.rewrite.contains(&def.id) || update_check_state(&tx, def.id, state)? == 0 {
                upsert_check(&tx, def, state)?;
            }
        }
    }
    if !batch.flips.is_empty() {
        let mut insert = tx
            .prepare_cached("INSERT INTO heartbeat_flips (check_id, at, up) VALUES (?1, ?2, ?3)")?;
        let mut trim = tx.prepare_cached(
            "DELETE FROM heartbeat_flips WHERE check_id = ?1 AND rowid NOT IN
                 (SELECT rowid FROM heartbeat_flips WHERE check_id = ?1 ORDER BY at DESC, rowid DESC LIMIT ?2)",
        )?;
        let mut trimmed = std::collections::HashSet::new();
        for (id, f) in &batch.flips {
            insert.execute(params![id, to_millis(f.at), f.up])?;
        }
        for (id, _) in &batch.flips {
            if trimmed.insert(*id) {
                trim.execute(params![id, batch.keep as i64])?;
            }
        }
    }
    if tx.is_postgres() {
        insert_pings_bulk(&tx, batch)?;
    } else {
        let mut insert = tx.prepare_cached(
            "INSERT INTO heartbeat_pings (check_id, n, at, kind, exit_code, rid, duration_ms,
                 method, remote_addr, user_agent, body, body_size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for p in &batch.pings {
            insert.execute(params![
                p.check_id,
                p.n as i64,
                to_millis(p.at),
                p.kind.as_str(),
                p.exit_code,
                p.rid.map(|r| r.to_string()),
                p.duration.map(|d| d.as_millis() as i64),
                p.method,
                p.remote_addr,
                p.user_agent,
                p.body,
                p.body_size as i64,
            ])?;
        }
        let mut trim =
            tx.prepare_cached("DELETE FROM heartbeat_pings WHERE check_id = ?1 AND n <= ?2")?;
        for (def, state) in &batch.checks {
            if state.pings > batch.keep {
                trim.execute(params![def.id, (state.pings - batch.keep) as i64])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// PostgreSQL: the states of the batch's checks that are not rewritten, in
/// one statement; the ids it found (the others are new).
fn update_check_states_bulk(
    tx: &Conn,
    batch: &PingBatch,
) -> Result<std::collections::HashSet<i64>, StoreError> {
    let mut rows = BulkRows::new("int8 int8 int8 int8 text text int8 int8 int8 int8");
    for (def, s) in batch
        .checks
        .iter()
        .filter(|(d, _)| !batch.rewrite.contains(&d.id))
    {
        rows.push(vec![
            Box::new(def.id),
            Box::new(s.paused),
            Box::new(s.last_ping.map(to_millis)),
            Box::new(s.last_start.map(to_millis)),
            Box::new(s.last_start_rid.map(|r| r.to_string())),
            Box::new(s.last_status.map(RunStatus::as_str)),
            Box::new(s.last_exit_code),
            Box::new(s.last_duration.map(|d| d.as_millis() as i64)),
            Box::new(s.due_at.map(to_millis)),
            Box::new(s.pings as i64),
        ]);
    }
    if rows.is_empty() {
        return Ok(Default::default());
    }
    Ok(rows
        .run(
            tx,
            "UPDATE heartbeat_checks AS c SET paused = v.paused, last_ping_at = v.last_ping_at,
                 last_start_at = v.last_start_at, last_start_rid = v.last_start_rid,
                 last_status = v.last_status, last_exit_code = v.last_exit_code,
                 last_duration_ms = v.last_duration_ms, due_at = v.due_at, pings = v.pings
             FROM (VALUES {rows}) AS v (id, paused, last_ping_at, last_start_at, last_start_rid,
                 last_status, last_exit_code, last_duration_ms, due_at, pings)
             WHERE c.id = v.id RETURNING c.id",
        )?
        .into_iter()
        .collect())
}

/// PostgreSQL: the batch's pings, and the trimming of each touched check's
/// log to its last `keep` pings, in one statement each.
fn insert_pings_bulk(tx: &Conn, batch: &PingBatch) -> Result<(), StoreError> {
    let mut rows = BulkRows::new("int8 int8 int8 text int8 text int8 text text text bytea int8");
    for p in &batch.pings {
        rows.push(vec![
            Box::new(p.check_id),
            Box::new(p.n as i64),
            Box::new(to_millis(p.at)),
            Box::new(p.kind.as_str()),
            Box::new(p.exit_code),
            Box::new(p.rid.map(|r| r.to_string())),
            Box::new(p.duration.map(|d| d.as_millis() as i64)),
            Box::new(p.method),
            Box::new(p.remote_addr.as_deref()),
            Box::new(p.user_agent.as_deref()),
            Box::new(p.body.as_slice()),
            Box::new(p.body_size as i64),
        ]);
    }
    if !rows.is_empty() {
        rows.run(
            tx,
            "INSERT INTO heartbeat_pings (check_id, n, at, kind, exit_code, rid, duration_ms,
                 method, remote_addr, user_agent, body, body_size) VALUES {rows}",
        )?;
    }
    let mut trims = BulkRows::new("int8 int8");
    for (def, state) in batch.checks.iter().filter(|(_, s)| s.pings > batch.keep) {
        trims.push(vec![
            Box::new(def.id),
            Box::new((state.pings - batch.keep) as i64),
        ]);
    }
    if !trims.is_empty() {
        trims.run(
            tx,
            "DELETE FROM heartbeat_pings AS p USING (VALUES {rows}) AS v (id, upto)
             WHERE p.check_id = v.id AND p.n <= v.upto",
        )?;
    }
    Ok(())
}

const PING_COLUMNS: &str =
    "n, at, kind, exit_code, rid, duration_ms, method, remote_addr, user_agent, body, body_size";

fn pings(c: &mut Conn, check_id: i64, limit: usize) -> Result<Vec<PingRecord>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {PING_COLUMNS} FROM heartbeat_pings WHERE check_id = ?1 ORDER BY n DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![check_id, limit as i64], ping_record)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn ping_number(c: &mut Conn, check_id: i64, n: u64) -> Result<Option<PingRecord>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {PING_COLUMNS} FROM heartbeat_pings WHERE check_id = ?1 AND n = ?2"
    ))?;
    let mut rows = stmt.query_map(params![check_id, n as i64], ping_record)?;
    Ok(rows.next().transpose()?)
}

fn ping_record(r: &Row<'_>) -> Result<PingRecord, DbError> {
    let body: Vec<u8> = r.get(9)?;
    Ok(PingRecord {
        n: r.get::<_, i64>(0)?.max(0) as u64,
        at: from_millis(r.get(1)?),
        kind: r.get(2)?,
        exit_code: r.get(3)?,
        rid: r.get(4)?,
        duration_seconds: r.get::<_, Option<i64>>(5)?.map(|ms| ms as f64 / 1000.0),
        method: r.get(6)?,
        remote_addr: r.get(7)?,
        user_agent: r.get(8)?,
        body: String::from_utf8_lossy(&body).into_owned(),
        body_size: r.get::<_, i64>(10)?.max(0) as u64,
    })
}

/// The schema in memory, to check `sql:` rules while loading them (built
/// once; its migration is not worth a log line).
fn with_schema<T>(f: impl FnOnce(&Connection) -> Result<T, String>) -> Result<T, String> {
    static SCHEMA: OnceLock<Result<Mutex<Connection>, String>> = OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            let mut c = Connection::open_in_memory().map_err(|e| e.to_string())?;
            migrate::sqlite()
                .and_then(|m| m.to_latest(&mut c))
                .map_err(|e| e.to_string())?;
            Ok(Mutex::new(c))
        })
    });
    let conn = schema
        .as_ref()
        .map_err(|e| format!("cannot build the schema: {e}"))?;
    f(&conn.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Checks a `sql:` rule: one read-only SELECT (or WITH ... SELECT) that
/// prepares against the heartbeat schema, with a `value` column and label
/// names for its other columns.
pub fn check_select(sql: &str) -> Result<(), String> {
    let sql = sql.trim();
    let first = sql
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if first != "select" && first != "with" {
        return Err(format!(
            "expected a read-only SELECT, got a statement starting with {:?}",
            sql.split_whitespace().next().unwrap_or("")
        ));
    }
    with_schema(|c| {
        let stmt = c.prepare(sql).map_err(|e| match e {
            rusqlite::Error::MultipleStatement => {
                "expected a single SELECT, got several statements".to_string()
            }
            e => format!("cannot prepare the SELECT: {e}"),
        })?;
        if !stmt.readonly() {
            return Err("expected a read-only SELECT; this statement writes".into());
        }
        let names = stmt.column_names();
        if !names.contains(&"value") {
            return Err(format!(
                "expected a column named value (the series' value), got columns {names:?}"
            ));
        }
        for n in names {
            if n != "value" && !crate::alert::valid_label_name(n) {
                return Err(format!(
                    "column {n:?} becomes a label: name it [a-zA-Z_][a-zA-Z0-9_]* with AS"
                ));
            }
        }
        Ok(())
    })?;
    Ok(())
}

fn select_samples(c: &mut Conn, sql: &str) -> Result<Vec<Sample>, StoreError> {
    if let Some(c) = c.sqlite() {
        return select_samples_sqlite(c, sql);
    }
    // PostgreSQL: the reader's session is READ ONLY, so a write fails there.
    let mut stmt = c.prepare_cached(sql)?;
    let mut rows = stmt.query(params![])?;
    let mut out = Vec::new();
    let mut names: Option<Vec<String>> = None;
    while let Some(r) = rows.next()? {
        let names = names.get_or_insert_with(|| r.column_names());
        let mut labels = Labels::new();
        let mut value = None;
        for (i, name) in names.iter().enumerate() {
            if name == "value" {
                value = Some(
                    r.number(i)
                        .map_err(|e| StoreError::Query(format!("column value: {e}")))?
                        .unwrap_or(f64::NAN),
                );
            } else if let Some(text) = r
                .label(i)
                .map_err(|e| StoreError::Query(format!("column {name}: {e}")))?
            {
                labels.insert(name.clone(), text);
            }
        }
        out.push(Sample {
            labels: labels.into(),
            value: value.unwrap_or(f64::NAN),
        });
    }
    Ok(out)
}

fn select_samples_sqlite(c: &Connection, sql: &str) -> Result<Vec<Sample>, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    if !stmt.readonly() {
        return Err(StoreError::Query("refusing a statement that writes".into()));
    }
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut labels = Labels::new();
        let mut value = None;
        for (i, name) in names.iter().enumerate() {
            let v = r.get_ref(i)?;
            if name == "value" {
                value = Some(match v {
                    ValueRef::Integer(n) => n as f64,
                    ValueRef::Real(x) => x,
                    ValueRef::Null => f64::NAN,
                    _ => {
                        return Err(StoreError::Query(
                            "column value must be a number".to_string(),
                        ));
                    }
                });
                continue;
            }
            let text = match v {
                ValueRef::Null => continue,
                ValueRef::Integer(n) => n.to_string(),
                ValueRef::Real(x) => x.to_string(),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                ValueRef::Blob(_) => {
                    return Err(StoreError::Query(format!(
                        "column {name} is a blob; labels must be text or numbers"
                    )));
                }
            };
            labels.insert(name.clone(), text);
        }
        out.push(Sample {
            labels: labels.into(),
            value: value.unwrap_or(f64::NAN),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kept_ping_bodies_are_bounded_in_all_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        for store in crate::store::testing::stores(dir.path()) {
            store
            .run_blocking(|c| {
                c.execute_batch(
                    "INSERT INTO heartbeat_checks (id, name, uuid, origin, grace_seconds, created_at)
                       VALUES (1, 'a', 'u1', 'config', 0, 0), (2, 'b', 'u2', 'config', 0, 0);",
                )?;
                for (id, n, at) in [(1, 1, 10), (2, 1, 20), (1, 2, 30), (2, 2, 40)] {
                    c.execute(
                        "INSERT INTO heartbeat_pings (check_id, n, at, kind, method, body, body_size)
                           VALUES (?1, ?2, ?3, 'success', 'POST', ?4, 1000)",
                        params![id, n, at, vec![0u8; 1000]],
                    )?;
                }
                Ok(())
            })
            .unwrap();
            assert_eq!(store.cap_ping_bytes(4000).await.unwrap(), 0);
            assert_eq!(store.cap_ping_bytes(2500).await.unwrap(), 2000);
            let kept: Vec<(i64, i64)> = store
                .run_blocking(|c| {
                    let mut st =
                        c.prepare("SELECT at, length(body) FROM heartbeat_pings ORDER BY at")?;
                    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .unwrap();
            assert_eq!(kept, vec![(10, 0), (20, 0), (30, 1000), (40, 1000)]);
        }
    }

    #[test]
    fn sql_rules_must_be_one_read_only_select_with_a_value() {
        check_select(
            "SELECT name AS \"check\", json_extract(labels, '$.vault') AS vault, age_seconds AS value FROM heartbeat_status",
        )
        .unwrap();
        check_select("WITH f AS (SELECT name, count(*) AS n FROM heartbeat_log WHERE kind = 'fail' GROUP BY name) SELECT name, n AS value FROM f").unwrap();
        for (sql, want) in [
            ("DELETE FROM heartbeat_pings", "expected a read-only SELECT"),
            (
                "UPDATE heartbeat_checks SET paused = 1",
                "expected a read-only SELECT",
            ),
            ("PRAGMA writable_schema = 1", "expected a read-only SELECT"),
            (
                "SELECT 1 AS value; DELETE FROM heartbeat_pings",
                "expected a single SELECT",
            ),
            (
                "SELECT name FROM heartbeat_status",
                "expected a column named value",
            ),
            ("SELECT * FROM nowhere", "cannot prepare the SELECT"),
            (
                "SELECT pings AS value, name || '!' FROM heartbeat_status",
                "becomes a label",
            ),
            (
                "WITH x AS (SELECT 1) DELETE FROM heartbeat_pings",
                "this statement writes",
            ),
        ] {
            let err = check_select(sql).unwrap_err();
            assert!(err.contains(want), "{sql}: {err}");
        }
    }

    #[tokio::test]
    async fn a_sql_rule_reads_the_same_series_from_either_database() {
        let sql = "SELECT name AS \"check\", json_extract(labels, '$.vault') AS vault, pings AS value, paused AS p FROM heartbeat_status ORDER BY name";
        check_select(sql).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for database in crate::store::testing::databases(dir.path()) {
            let store = Store::open_database(&database).unwrap();
            store
                .run_blocking(|c| {
                    c.execute_batch(
                        r#"INSERT INTO heartbeat_checks (id, name, uuid, origin, grace_seconds, created_at, labels, pings)
                           VALUES (1, 'a', 'u1', 'config', 0, 0, '{"vault":"v1"}', 3),
                                  (2, 'b', 'u2', 'config', 0, 0, '{}', 0);"#,
                    )?;
                    Ok(())
                })
                .unwrap();
            let reader = Store::open_reader(&database).unwrap();
            let got = reader.select_samples(sql.to_string()).await.unwrap();
            let got: Vec<(Vec<(String, String)>, f64)> = got
                .iter()
                .map(|s| {
                    let labels = s.labels.iter().map(|(k, v)| (k.to_string(), v.to_string()));
                    (labels.collect(), s.value)
                })
                .collect();
            let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            };
            assert_eq!(
                got,
                vec![
                    (l(&[("check", "a"), ("p", "0"), ("vault", "v1")]), 3.0),
                    (l(&[("check", "b"), ("p", "0")]), 0.0),
                ],
                "{database:?}"
            );
        }
    }

    #[test]
    fn the_reader_refuses_writes_even_if_asked() {
        let dir = tempfile::tempdir().unwrap();
        for database in crate::store::testing::databases(dir.path()) {
            drop(Store::open_database(&database).unwrap());
            let reader = Store::open_reader(&database).unwrap();
            let err = reader
                .run_blocking(|c| Ok(c.execute("DELETE FROM heartbeat_pings", [])?))
                .unwrap_err();
            assert!(
                err.to_string().contains("readonly")
                    || err.to_string().contains("read-only")
                    || err.to_string().contains("query_only"),
                "{err}"
            );
        }
    }
}
