//! Heartbeats: checks that backup clients (or any job) ping, Healthchecks
//! style, and that alert when a ping is missing, failed, stuck or slow.
//!
//! - [`schedule`]: when the next ping is due (`every`, or `cron` in a time
//!   zone, right across DST).
//! - [`state`]: what a ping does to a check, and its status (pure).
//! - [`pattern`]: check-name globs and templates, key syntax.
//! - [`registry`]: the checks in memory, by key, slug and name.
//! - [`writer`]: the one task that records pings in SQLite (group commit).
//!
//! [`Heartbeats`] ties them together for the daemon: it brings the stored
//! checks in line with the rule files at start, finds the check a ping URL
//! names (creating it when allowed), and hands pings to the writer; the
//! Healthchecks API (`crate::http::healthchecks_api`) creates, changes and
//! deletes checks through it, and reads their pings and flips.

pub mod pattern;
pub mod registry;
pub mod schedule;
pub mod state;
pub mod writer;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::config::{HeartbeatConfig, Secret};
use crate::rules::Schedule;
use crate::rules::heartbeat::{CheckSettings, HeartbeatDecls};
use crate::store::heartbeats::{Flip, PingRecord, StoredSettings};
use crate::store::{Store, StoreError};
use registry::{Check, CheckDef, Checks, Origin, Registry};
use state::{CheckState, PingKind};
use writer::{Ack, NewCheck, PingRequest, Target, WriteError, WriterHandle, WriterSettings};

/// Why a ping URL names no check it can be recorded for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    /// The URL has no ping endpoint's shape.
    #[error("not found")]
    NoSuchEndpoint,
    #[error("not found: no check has this key")]
    UnknownKey,
    #[error("not found: wrong ping key")]
    UnknownPingKey,
    #[error("not found: slug URLs need heartbeat.ping_key in the config")]
    NoPingKey,
    #[error("not found: no check has this slug (add ?create=1 to create it)")]
    UnknownSlug,
    #[error(
        "not found: no check has this slug, and creating checks is off (heartbeat.auto_create)"
    )]
    CreateOff,
    #[error("invalid slug format: expected a-z, 0-9, - and _")]
    BadSlug,
}

/// The heartbeat service of a running daemon.
pub struct Heartbeats {
    registry: Arc<Registry>,
    writer: WriterHandle,
    /// Read-only connection: `sql:` rules and the ping log API.
    reader: Store,
    /// The name templates, for checks created by ping or through the API
    /// (the declared checks themselves are in the registry once started).
    templates: HeartbeatDecls,
    defaults: Defaults,
    ping_key: Option<Secret>,
    auto_create: bool,
    ping_body_limit: usize,
    keep_pings: u64,
    /// `heartbeat.read_only_api_key`: reads of the Healthchecks API.
    read_only_api_key: Option<Secret>,
    /// Where clients reach the daemon (`ping_url`s); set once it listens.
    /// None: from each request's `Host` (listening on every address).
    public_url: std::sync::RwLock<Option<String>>,
    /// Pings recorded since start, by check id and kind.
    received: std::sync::Mutex<HashMap<(i64, PingKind), u64>>,
    /// The ping connection's `PRAGMA synchronous` (2 = FULL: a ping is on
    /// disk before its answer), read back from SQLite.
    synchronous: i64,
}

impl Heartbeats {
    /// Opens the heartbeat connections on `db` (already migrated), makes the
    /// stored checks match `decls`, and starts the writer.
    pub async fn start(
        config: &HeartbeatConfig,
        decls: HeartbeatDecls,
        db: &crate::store::Database,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(Arc<Heartbeats>, JoinHandle<()>), StoreError> {
        let store = Store::open_ping_writer(db)?;
        let synchronous = store.synchronous().await?;
        let reader = Store::open_reader(db)?;
        let defaults = Defaults {
            schedule: Schedule::Every(config.default_every.0),
            grace: config.default_grace.0,
        };
        let started = std::time::Instant::now();
        let stored = store.load_checks().await?;
        tracing::debug!(
            checks = stored.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "stored heartbeat checks read"
        );
        let Reconciled {
            checks,
            rewrite,
            delete,
        } = reconcile(&decls, &defaults, stored);
        // Only rows that change are written: a restart with 10 000 unchanged
        // checks writes nothing.
        let upsert: Vec<_> = rewrite
            .iter()
            .map(|&i| (Arc::clone(&checks[i].def), checks[i].state.clone()))
            .collect();
        tracing::debug!(
            written = upsert.len(),
            kept = checks.len() - upsert.len(),
            "heartbeat checks synced"
        );
        store.sync_checks(upsert, delete.clone()).await?;
        if !delete.is_empty() {
            tracing::info!(
                count = delete.len(),
                "checks no longer in the rule files removed"
            );
        }
        // Ids of removed checks may be used again: their pings went with them.
        let next_id = checks.iter().map(|c| c.def.id).max().unwrap_or(0) + 1;
        let mut index = Checks::with_capacity(checks.len());
        for c in checks {
            index.insert(c);
        }
        tracing::info!(
            checks = index.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "heartbeat checks ready"
        );
        let registry = Arc::new(Registry::new(index));
        let (writer, task) = writer::spawn(
            store,
            Store::open_checkpointer(db)?,
            Arc::clone(&registry),
            next_id,
            WriterSettings {
                keep_pings: config.keep_pings.value,
                max_checks: config.max_checks.value,
            },
            shutdown,
        );
        let templates = HeartbeatDecls {
            checks: Vec::new(),
            templates: decls.templates,
        };
        let hb = Heartbeats {
            registry,
            writer,
            reader,
            templates,
            defaults,
            ping_key: config.ping_key.as_ref().map(|k| k.value.clone()),
            auto_create: config.auto_create,
            ping_body_limit: config.ping_body_limit.value,
            keep_pings: config.keep_pings.value,
            read_only_api_key: config.read_only_api_key.as_ref().map(|k| k.value.clone()),
            public_url: std::sync::RwLock::new(None),
            received: Default::default(),
            synchronous,
        };
        Ok((Arc::new(hb), task))
    }

    /// The ping connection's `PRAGMA synchronous` as SQLite reports it.
    pub fn ping_synchronous(&self) -> i64 {
        self.synchronous
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The read-only connection (for `sql:` rules).
    pub fn reader(&self) -> &Store {
        &self.reader
    }

    pub fn ping_body_limit(&self) -> usize {
        self.ping_body_limit
    }

    /// Pings (and flips) kept per check.
    pub fn keep_pings(&self) -> u64 {
        self.keep_pings
    }

    pub fn read_only_api_key(&self) -> Option<&Secret> {
        self.read_only_api_key.as_ref()
    }

    /// Where clients reach the daemon, without a trailing slash; None when
    /// it listens on every address and `external_url` is not set.
    pub fn public_url(&self) -> Option<String> {
        self.public_url
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_public_url(&self, url: Option<String>) {
        *self.public_url.write().unwrap_or_else(|p| p.into_inner()) = url;
    }

    /// The schedule, grace and labels the rule files (or the config's
    /// defaults) give a check named `name`.
    pub fn settings_for(
        &self,
        name: &str,
    ) -> (Schedule, std::time::Duration, crate::alert::Labels) {
        resolve(self.templates.settings_for(name), &self.defaults)
    }

    /// The check with this key.
    pub fn by_uuid(&self, uuid: &Uuid) -> Option<Check> {
        self.registry.read().by_uuid(uuid).cloned()
    }

    /// Creates `def` (id 0) or replaces the settings of check `def.id`.
    pub async fn put(&self, def: CheckDef) -> Result<Ack, WriteError> {
        self.writer.put(def).await
    }

    /// Deletes a check with its pings and flips.
    pub async fn delete(&self, id: i64) -> Result<(), WriteError> {
        self.writer.delete(id).await
    }

    pub async fn pause_id(&self, id: i64) -> Result<(), WriteError> {
        self.writer.pause(id).await
    }

    pub async fn resume_id(&self, id: i64) -> Result<(), WriteError> {
        self.writer.resume(id).await
    }

    /// The kept pings of check `id`, newest first.
    pub async fn pings_of(&self, id: i64, limit: usize) -> Result<Vec<PingRecord>, StoreError> {
        self.reader.pings(id, limit).await
    }

    /// Ping number `n` of check `id`, if kept.
    pub async fn ping_of(&self, id: i64, n: u64) -> Result<Option<PingRecord>, StoreError> {
        self.reader.ping_number(id, n).await
    }

    /// The flips of a check, newest first, with the going down of a check
    /// silent right now (written only when its next ping comes).
    pub async fn flips(
        &self,
        check: &Check,
        now: chrono::DateTime<Utc>,
    ) -> Result<Vec<Flip>, StoreError> {
        let mut flips = self.reader.flips(check.def.id).await?;
        let s = &check.state;
        if s.last_status != Some(state::RunStatus::Fail)
            && let Some(at) = s.down_since(check.def.grace).filter(|t| *t < now)
            && flips.first().is_none_or(|f| f.up && f.at <= at)
        {
            flips.insert(0, Flip { at, up: false });
        }
        Ok(flips)
    }

    /// The check of `/ping/{uuid}`.
    pub fn by_key(&self, key: &Uuid) -> Result<Target, LocateError> {
        self.registry
            .read()
            .by_uuid(key)
            .map(|c| Target::Id(c.def.id))
            .ok_or(LocateError::UnknownKey)
    }

    /// The check of `/ping/{ping_key}/{slug}`; with `create`, a check to
    /// create when none has the slug (and creating is allowed).
    pub fn by_slug(&self, ping_key: &str, slug: &str, create: bool) -> Result<Target, LocateError> {
        let Some(expected) = &self.ping_key else {
            return Err(LocateError::NoPingKey);
        };
        if !crate::signing::constant_time_eq(expected.expose().as_bytes(), ping_key.as_bytes()) {
            return Err(LocateError::UnknownPingKey);
        }
        if !pattern::valid_slug(slug) {
            return Err(LocateError::BadSlug);
        }
        if let Some(c) = self.registry.read().by_slug(slug) {
            return Ok(Target::Id(c.def.id));
        }
        match (create, self.auto_create) {
            (false, _) => Err(LocateError::UnknownSlug),
            (true, false) => Err(LocateError::CreateOff),
            (true, true) => {
                let (schedule, grace, labels) =
                    resolve(self.templates.settings_for(slug), &self.defaults);
                Ok(Target::Create(NewCheck {
                    name: slug.to_string(),
                    schedule,
                    grace,
                    labels,
                }))
            }
        }
    }

    /// Records a ping; returns once it is on disk.
    pub async fn ping(&self, req: PingRequest) -> Result<Ack, WriteError> {
        let known = match &req.target {
            Target::Id(id) => Ok(*id),
            Target::Create(new) => Err(new.name.clone()),
        };
        let kind = req.signal.kind;
        let ack = self.writer.ping(req).await?;
        // A check created by this ping has its id now (ids are not used
        // again while the daemon runs).
        let id = known.or_else(|name| {
            self.registry
                .read()
                .by_name(&name)
                .map(|c| c.def.id)
                .ok_or(())
        });
        if let Ok(id) = id {
            let mut counts = self.received.lock().unwrap_or_else(|p| p.into_inner());
            *counts.entry((id, kind)).or_default() += 1;
        }
        Ok(ack)
    }

    /// Pings recorded since start, by check id and kind (for `/metrics`).
    pub fn received(&self) -> HashMap<(i64, PingKind), u64> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every check with its state, by name.
    pub fn checks(&self) -> Vec<Check> {
        self.registry.follow_clock();
        let mut out: Vec<Check> = self.registry.read().iter().cloned().collect();
        out.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        out
    }

    pub fn check(&self, name: &str) -> Option<Check> {
        self.registry.read().by_name(name).cloned()
    }

    pub async fn pause(&self, name: &str) -> Result<(), WriteError> {
        let id = self.check(name).ok_or(WriteError::NoSuchCheck)?.def.id;
        self.writer.pause(id).await
    }

    pub async fn resume(&self, name: &str) -> Result<(), WriteError> {
        let id = self.check(name).ok_or(WriteError::NoSuchCheck)?.def.id;
        self.writer.resume(id).await
    }

    /// The kept pings of a check, newest first.
    pub async fn pings(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Option<Vec<PingRecord>>, StoreError> {
        let Some(c) = self.check(name) else {
            return Ok(None);
        };
        self.reader.pings(c.def.id, limit).await.map(Some)
    }
}

/// What checks get when the rule files leave their schedule or grace open.
struct Defaults {
    schedule: Schedule,
    grace: std::time::Duration,
}

/// Settings with the config's defaults for what the rule files leave open.
fn resolve(
    s: CheckSettings,
    defaults: &Defaults,
) -> (Schedule, std::time::Duration, crate::alert::Labels) {
    (
        s.schedule.unwrap_or_else(|| defaults.schedule.clone()),
        s.grace.unwrap_or(defaults.grace),
        s.labels,
    )
}

/// What start-up makes of the stored checks and the rule files.
struct Reconciled {
    /// The checks to keep.
    checks: Vec<Check>,
    /// Indexes into `checks` of those whose row must be written: new, or
    /// stored with other settings or state than they now have.
    rewrite: Vec<usize>,
    /// Ids of stored checks to delete.
    delete: Vec<i64>,
}

/// Matches stored checks with the rule files: a declared check keeps its
/// stored key and state (found by name, or by slug when it takes over a
/// check created by ping); created checks stay, with their template's
/// current settings; declared checks no longer in the files go.
fn reconcile(
    decls: &HeartbeatDecls,
    defaults: &Defaults,
    stored: Vec<crate::store::heartbeats::StoredCheck>,
) -> Reconciled {
    let mut next_id = stored.iter().map(|c| c.id).max().unwrap_or(0) + 1;
    // Only declared names and slugs are ever looked up: index just those
    // (a million checks created by ping need no second copy of their keys).
    let declared_names: HashSet<&str> = decls.checks.iter().map(|c| c.name.as_str()).collect();
    let declared_slugs: HashSet<&str> = decls
        .checks
        .iter()
        .filter_map(|c| c.slug.as_deref())
        .collect();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    let mut by_slug: HashMap<&str, usize> = HashMap::new();
    for (i, s) in stored.iter().enumerate() {
        if declared_names.contains(&*s.name) {
            by_name.insert(&s.name, i);
        }
        if let (Origin::Auto, Some(slug)) = (s.origin, &s.slug)
            && declared_slugs.contains(&**slug)
        {
            by_slug.insert(slug, i);
        }
    }
    let mut taken = vec![false; stored.len()];
    // Stored times have millisecond precision; keep memory identical to them.
    let now = Utc::now().trunc_subsecs(3);
    let mut out = Reconciled {
        checks: Vec::with_capacity(stored.len() + decls.checks.len()),
        rewrite: Vec::new(),
        delete: Vec::new(),
    };
    for spec in &decls.checks {
        let found = by_name
            .get(spec.name.as_str())
            .or_else(|| spec.slug.as_deref().and_then(|s| by_slug.get(s)))
            .copied()
            .filter(|i| !taken[*i]);
        let (schedule, grace, labels) = resolve(spec.settings.clone(), defaults);
        let (id, uuid, created_at, mut state) = match found {
            Some(i) => {
                taken[i] = true;
                let s = &stored[i];
                (s.id, s.uuid, s.created_at, s.state.clone())
            }
            None => {
                next_id += 1;
                (next_id - 1, Uuid::new_v4(), now, CheckState::default())
            }
        };
        state.reschedule(&schedule);
        let check = Check {
            def: Arc::new(CheckDef {
                id,
                name: spec.name.as_str().into(),
                uuid,
                slug: spec.slug.as_deref().map(Arc::from),
                origin: Origin::Config,
                schedule,
                grace,
                labels,
                created_at,
                extra: None,
            }),
            state,
        };
        if found.is_none_or(|i| !stored[i].is_row_of(&check.def, &check.state)) {
            out.rewrite.push(out.checks.len());
        }
        out.checks.push(check);
    }
    drop((by_name, by_slug));
    for (i, s) in stored.into_iter().enumerate() {
        if taken[i] {
            continue;
        }
        if s.origin == Origin::Config {
            out.delete.push(s.id);
            continue;
        }
        // A check of the API keeps its own settings; one created by a ping
        // takes its template's current ones.
        let own = match s.origin {
            Origin::Api => match own_settings(&s.settings) {
                Ok(own) => Some(own),
                Err(e) => {
                    tracing::warn!(check = %s.name, error = %e, "stored settings unreadable; the check takes its template's");
                    None
                }
            },
            _ => None,
        };
        let (schedule, grace, labels) =
            own.unwrap_or_else(|| resolve(decls.settings_for(&s.name), defaults));
        let mut state = s.state.clone();
        state.reschedule(&schedule);
        let mut slug = s.slug;
        let slug_taken = slug
            .as_deref()
            .is_some_and(|slug| declared_slugs.contains(slug));
        if slug_taken {
            tracing::warn!(check = %s.name, "a declared check now has this check's slug; it keeps only its own key");
            slug = None;
        }
        // Identity, origin and extra settings stay as stored.
        if slug_taken || state != s.state || !s.settings.describes(&schedule, grace, &labels) {
            out.rewrite.push(out.checks.len());
        }
        out.checks.push(Check {
            def: Arc::new(CheckDef {
                id: s.id,
                name: s.name,
                uuid: s.uuid,
                slug,
                origin: s.origin,
                schedule,
                grace,
                labels,
                created_at: s.created_at,
                extra: s.extra.into_field(),
            }),
            state,
        });
    }
    out
}

/// The settings an API check was stored with.
fn own_settings(
    s: &StoredSettings,
) -> Result<(Schedule, std::time::Duration, crate::alert::Labels), String> {
    let schedule = match (&s.cron, &s.timezone, s.period_seconds) {
        (Some(expr), Some(tz), _) => Schedule::Cron {
            cron: Box::new(crate::rules::load::parse_cron(expr)?),
            timezone: tz
                .parse()
                .map_err(|_| format!("unknown time zone {tz:?}"))?,
            expr: expr.as_str().into(),
        },
        (None, _, Some(p)) if p.is_finite() && p > 0.0 => {
            Schedule::Every(std::time::Duration::from_secs_f64(p))
        }
        _ => return Err("neither a period nor a cron expression".into()),
    };
    if !s.grace_seconds.is_finite() || s.grace_seconds < 0.0 {
        return Err("bad grace".into());
    }
    let labels = serde_json::from_str(&s.labels).map_err(|e| format!("bad labels: {e}"))?;
    Ok((
        schedule,
        std::time::Duration::from_secs_f64(s.grace_seconds),
        labels,
    ))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::rules::{LoadOptions, load_sources};
    use crate::store::heartbeats::StoredCheck;

    fn decls(yaml: &str) -> HeartbeatDecls {
        load_sources(
            &[(PathBuf::from("r.yaml"), yaml.to_string())],
            &LoadOptions::default(),
        )
        .unwrap()
        .heartbeats
    }

    fn stored(id: i64, name: &str, slug: Option<&str>, origin: Origin) -> StoredCheck {
        StoredCheck {
            id,
            name: name.into(),
            uuid: Uuid::new_v4(),
            slug: slug.map(Arc::from),
            origin,
            created_at: Utc::now(),
            state: CheckState {
                pings: id as u64,
                ..CheckState::default()
            },
            settings: crate::store::heartbeats::StoredSettings {
                period_seconds: Some(3600.0),
                cron: None,
                timezone: None,
                grace_seconds: 60.0,
                labels: "{}".into(),
            },
            extra: Default::default(),
        }
    }

    #[test]
    fn stored_checks_follow_the_rule_files() {
        let d = decls(
            "heartbeats:\n  - {name: kept, every: 1h}\n  - {name: Renamed Backup, slug: backup-x-y, every: 2h}\n  - {name: fresh}\n  - {name: \"backup-{vault}-{client}\", grace: 5m}\n",
        );
        let defaults = Defaults {
            schedule: Schedule::Every(Duration::from_secs(86_400)),
            grace: Duration::from_secs(3_600),
        };
        let old = vec![
            stored(1, "kept", Some("kept"), Origin::Config),
            stored(2, "gone", Some("gone"), Origin::Config),
            stored(3, "backup-x-y", Some("backup-x-y"), Origin::Auto),
            stored(4, "backup-v-c", Some("backup-v-c"), Origin::Auto),
            StoredCheck {
                settings: crate::store::heartbeats::StoredSettings {
                    period_seconds: Some(86_400.0),
                    grace_seconds: 3_600.0,
                    ..stored(5, "", None, Origin::Auto).settings
                },
                ..stored(5, "plain", Some("plain"), Origin::Auto)
            },
        ];
        let keys: Vec<Uuid> = old.iter().map(|c| c.uuid).collect();
        let Reconciled {
            checks,
            rewrite,
            delete,
        } = reconcile(&d, &defaults, old);
        assert_eq!(delete, [2], "a declared check no longer declared goes");
        let by = |name: &str| checks.iter().find(|c| *c.def.name == *name).unwrap();

        let kept = by("kept");
        assert_eq!(
            (kept.def.id, kept.def.uuid, kept.state.pings),
            (1, keys[0], 1)
        );
        // a declared check takes over the check its slug was created as
        let renamed = by("Renamed Backup");
        assert_eq!((renamed.def.id, renamed.def.uuid), (3, keys[2]));
        assert_eq!(renamed.def.origin, Origin::Config);
        assert_eq!(
            renamed.def.schedule,
            Schedule::Every(Duration::from_secs(7200))
        );
        assert!(
            renamed.def.labels.is_empty(),
            "templates match names, not slugs"
        );
        // created checks stay, with their template's current settings
        let auto = by("backup-v-c");
        assert_eq!((auto.def.id, auto.def.origin), (4, Origin::Auto));
        assert_eq!(auto.def.grace, Duration::from_secs(300));
        assert_eq!(
            auto.def.schedule, defaults.schedule,
            "the template sets no schedule"
        );
        // a new declared check gets a new key and an unused id
        let fresh = by("fresh");
        assert_eq!(fresh.def.id, 6);
        assert!(!keys.contains(&fresh.def.uuid));
        assert_eq!(fresh.state, CheckState::default());
        assert_eq!(checks.len(), 5);
        // only rows that change are written again
        let mut written: Vec<&str> = rewrite.iter().map(|&i| &*checks[i].def.name).collect();
        written.sort();
        assert_eq!(
            written,
            ["Renamed Backup", "backup-v-c", "fresh", "kept"],
            "a check stored as it stays is not written"
        );
    }
}
