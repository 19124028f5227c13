//! The checks in memory: their settings and their committed state, found by
//! ping key (UUID), slug or name. The ping writer is the only one that
//! changes states (after its transaction commits); ping handlers and rule
//! evaluation read, each under a short lock, never touching SQLite.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::state::CheckState;
use crate::alert::Labels;
use crate::rules::Schedule;

/// Where a check comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Declared in a rule file.
    Config,
    /// Created by its first ping (`?create=1`).
    Auto,
    /// Created (or changed) through the Healthchecks API: its settings are
    /// its own, not its template's.
    Api,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Config => "config",
            Origin::Auto => "auto",
            Origin::Api => "api",
        }
    }

    /// `origin` and `api` as `heartbeat_checks` holds them (its CHECK knows
    /// only config and auto).
    pub fn to_columns(self) -> (&'static str, bool) {
        match self {
            Origin::Config => ("config", false),
            Origin::Auto => ("auto", false),
            Origin::Api => ("auto", true),
        }
    }

    pub fn from_columns(origin: &str, api: bool) -> Option<Origin> {
        match (origin, api) {
            ("config", _) => Some(Origin::Config),
            ("auto", false) => Some(Origin::Auto),
            ("auto", true) => Some(Origin::Api),
            _ => None,
        }
    }
}

/// What Healthchecks clients set besides the schedule (empty for checks of
/// the rule files and of `?create=1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckExtra {
    /// Space-separated tags; `key=value` ones are also labels.
    pub tags: String,
    pub desc: String,
    /// Integration ids the client assigned (sorted, comma-separated); routing
    /// still goes by labels.
    pub channels: String,
}

/// A check's identity and settings (fixed while the daemon runs).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckDef {
    pub id: i64,
    pub name: String,
    pub uuid: Uuid,
    pub slug: Option<String>,
    pub origin: Origin,
    pub schedule: Schedule,
    pub grace: Duration,
    pub labels: Labels,
    pub created_at: DateTime<Utc>,
    pub extra: CheckExtra,
}

/// A check with its state.
#[derive(Debug, Clone)]
pub struct Check {
    pub def: Arc<CheckDef>,
    pub state: CheckState,
}

#[derive(Debug, Default)]
pub struct Checks {
    by_id: HashMap<i64, Check>,
    by_uuid: HashMap<Uuid, i64>,
    by_slug: HashMap<String, i64>,
    by_name: HashMap<String, i64>,
}

impl Checks {
    pub fn insert(&mut self, check: Check) {
        let d = &check.def;
        self.by_uuid.insert(d.uuid, d.id);
        if let Some(slug) = &d.slug {
            self.by_slug.insert(slug.clone(), d.id);
        }
        self.by_name.insert(d.name.clone(), d.id);
        self.by_id.insert(d.id, check);
    }

    /// Takes a check out of every index (before re-inserting it changed, or
    /// when it is deleted).
    pub fn remove(&mut self, id: i64) -> Option<Check> {
        let c = self.by_id.remove(&id)?;
        let d = &c.def;
        if self.by_uuid.get(&d.uuid) == Some(&id) {
            self.by_uuid.remove(&d.uuid);
        }
        if let Some(slug) = &d.slug
            && self.by_slug.get(slug) == Some(&id)
        {
            self.by_slug.remove(slug);
        }
        if self.by_name.get(&d.name) == Some(&id) {
            self.by_name.remove(&d.name);
        }
        Some(c)
    }

    pub fn get(&self, id: i64) -> Option<&Check> {
        self.by_id.get(&id)
    }

    pub fn by_uuid(&self, uuid: &Uuid) -> Option<&Check> {
        self.by_uuid.get(uuid).and_then(|id| self.by_id.get(id))
    }

    pub fn by_slug(&self, slug: &str) -> Option<&Check> {
        self.by_slug.get(slug).and_then(|id| self.by_id.get(id))
    }

    pub fn by_name(&self, name: &str) -> Option<&Check> {
        self.by_name.get(name).and_then(|id| self.by_id.get(id))
    }

    /// Replaces the state of a known check.
    pub fn set_state(&mut self, id: i64, state: CheckState) {
        if let Some(c) = self.by_id.get_mut(&id) {
            c.state = state;
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Check> {
        self.by_id.values()
    }
}

/// The shared registry.
#[derive(Debug)]
pub struct Registry {
    checks: RwLock<Checks>,
    /// The part of [`crate::clock::total_step_ms`] already applied to the
    /// stamps in memory.
    applied_step_ms: AtomicI64,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new(Checks::default())
    }
}

impl Registry {
    pub fn new(checks: Checks) -> Registry {
        Registry {
            checks: RwLock::new(checks),
            applied_step_ms: AtomicI64::new(crate::clock::total_step_ms()),
        }
    }

    /// Moves every check's wall-clock stamps (due time, last ping, start) by
    /// the wall-clock steps not applied yet: stamps taken before a step were
    /// off by it. So a step neither makes every check missing at once nor
    /// hides a real miss: a check is missing after the same real time as
    /// without the step. Only the copy in memory moves; the database keeps
    /// what the clock said.
    pub fn follow_clock(&self) {
        crate::clock::observe();
        let total = crate::clock::total_step_ms();
        if self.applied_step_ms.load(Ordering::Acquire) == total {
            return;
        }
        let mut checks = self.write();
        let applied = self.applied_step_ms.swap(total, Ordering::AcqRel);
        let shift = chrono::Duration::milliseconds(total.saturating_sub(applied));
        if shift.is_zero() {
            return;
        }
        let move_by = |t: &mut Option<DateTime<Utc>>| {
            if let Some(v) = t {
                *v = v.checked_add_signed(shift).unwrap_or(*v);
            }
        };
        for c in checks.by_id.values_mut() {
            move_by(&mut c.state.due_at);
            move_by(&mut c.state.last_ping);
            move_by(&mut c.state.last_start);
        }
        tracing::info!(
            checks = checks.len(),
            shift_seconds = shift.num_milliseconds() as f64 / 1000.0,
            "heartbeat due times moved with the wall clock"
        );
    }

    // A panic while holding the lock is a bug; keep serving the data as is.
    pub fn read(&self) -> RwLockReadGuard<'_, Checks> {
        self.checks.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Checks> {
        self.checks.write().unwrap_or_else(|p| p.into_inner())
    }
}
