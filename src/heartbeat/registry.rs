//! The checks in memory: their settings and their committed state, found by
//! ping key (UUID), slug or name. The ping writer is the only one that
//! changes states (after its transaction commits); ping handlers and rule
//! evaluation read, each under a short lock, never touching SQLite.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
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

/// The extra settings of a check that has none.
static NO_EXTRA: CheckExtra = CheckExtra {
    tags: String::new(),
    desc: String::new(),
    channels: String::new(),
};

impl CheckExtra {
    /// As a [`CheckDef`] holds it: nothing at all when every field is empty.
    pub fn into_field(self) -> Option<Box<CheckExtra>> {
        (self != NO_EXTRA).then(|| Box::new(self))
    }
}

/// A check's identity and settings (fixed while the daemon runs).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckDef {
    pub id: i64,
    /// Shared with `slug` when they are the same (every check created by
    /// its first ping): one copy of the text, not two.
    pub name: Arc<str>,
    pub uuid: Uuid,
    pub slug: Option<Arc<str>>,
    pub origin: Origin,
    pub schedule: Schedule,
    pub grace: Duration,
    pub labels: Labels,
    pub created_at: DateTime<Utc>,
    /// Set by Healthchecks clients only: most checks have none, and hold 8
    /// bytes here instead of three empty strings (see [`CheckDef::extra`]).
    pub extra: Option<Box<CheckExtra>>,
}

impl CheckDef {
    /// Tags, description and channels (empty when none were set).
    pub fn extra(&self) -> &CheckExtra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }
}

/// A check with its state.
#[derive(Debug, Clone)]
pub struct Check {
    pub def: Arc<CheckDef>,
    pub state: CheckState,
}

/// Every check, found by id, ping key, slug or name. The checks sit in one
/// vector of slots; the four indexes hold only a slot number (4 bytes) and
/// find a key by comparing it with the check in that slot, so a million
/// checks cost their own size plus about 40 MB of index, not four maps each
/// holding copies of the keys.
#[derive(Debug, Default)]
pub struct Checks {
    slots: Vec<Option<Check>>,
    /// Slots emptied by `remove`, used again first.
    free: Vec<u32>,
    by_id: HashTable<u32>,
    by_uuid: HashTable<u32>,
    by_slug: HashTable<u32>,
    by_name: HashTable<u32>,
    hasher: RandomState,
}

/// Which key of a check an index finds it by.
#[derive(Clone, Copy)]
enum Key {
    Id,
    Uuid,
    Slug,
    Name,
}

impl Key {
    const ALL: [Key; 4] = [Key::Id, Key::Uuid, Key::Slug, Key::Name];

    fn hash_of(self, def: &CheckDef, hasher: &RandomState) -> Option<u64> {
        Some(match self {
            Key::Id => hasher.hash_one(def.id),
            Key::Uuid => hasher.hash_one(def.uuid),
            Key::Slug => hasher.hash_one(def.slug.as_deref()?),
            Key::Name => hasher.hash_one(&*def.name),
        })
    }

    /// Whether `a` and `b` have the same key (two checks without a slug do
    /// not share one).
    fn same(self, a: &CheckDef, b: &CheckDef) -> bool {
        match self {
            Key::Id => a.id == b.id,
            Key::Uuid => a.uuid == b.uuid,
            Key::Slug => a.slug.is_some() && a.slug == b.slug,
            Key::Name => a.name == b.name,
        }
    }
}

impl Checks {
    /// Room for `n` checks without growing (start-up knows how many).
    pub fn with_capacity(n: usize) -> Checks {
        Checks {
            slots: Vec::with_capacity(n),
            by_id: HashTable::with_capacity(n),
            by_uuid: HashTable::with_capacity(n),
            by_slug: HashTable::with_capacity(n),
            by_name: HashTable::with_capacity(n),
            ..Checks::default()
        }
    }

    fn index(&mut self, key: Key) -> (&mut HashTable<u32>, &[Option<Check>], &RandomState) {
        let table = match key {
            Key::Id => &mut self.by_id,
            Key::Uuid => &mut self.by_uuid,
            Key::Slug => &mut self.by_slug,
            Key::Name => &mut self.by_name,
        };
        (table, &self.slots, &self.hasher)
    }

    fn def_at(slots: &[Option<Check>], slot: u32) -> Option<&CheckDef> {
        slots.get(slot as usize)?.as_ref().map(|c| &*c.def)
    }

    /// Adds a check; one with the same id is replaced. Its ping key, slug
    /// and name find it from now on, even where another check had them.
    pub fn insert(&mut self, check: Check) {
        self.remove(check.def.id);
        let def = Arc::clone(&check.def);
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(check);
                s
            }
            None => {
                self.slots.push(Some(check));
                (self.slots.len() - 1) as u32
            }
        };
        for key in Key::ALL {
            let (table, slots, hasher) = self.index(key);
            let Some(hash) = key.hash_of(&def, hasher) else {
                continue;
            };
            let entry = table.entry(
                hash,
                |&s| Checks::def_at(slots, s).is_some_and(|d| key.same(d, &def)),
                |&s| {
                    Checks::def_at(slots, s)
                        .and_then(|d| key.hash_of(d, hasher))
                        .unwrap_or(0)
                },
            );
            match entry {
                Entry::Occupied(mut taken) => *taken.get_mut() = slot,
                Entry::Vacant(free) => {
                    free.insert(slot);
                }
            }
        }
    }

    /// Takes a check out of every index (when it is deleted, or before it
    /// is inserted changed).
    pub fn remove(&mut self, id: i64) -> Option<Check> {
        let slot = self.slot_of(Key::Id, self.hasher.hash_one(id), |d| d.id == id)?;
        let def = Arc::clone(&self.slots[slot as usize].as_ref()?.def);
        for key in Key::ALL {
            let (table, _, hasher) = self.index(key);
            if let Some(hash) = key.hash_of(&def, hasher)
                && let Ok(entry) = table.find_entry(hash, |&s| s == slot)
            {
                entry.remove();
            }
        }
        self.free.push(slot);
        self.slots[slot as usize].take()
    }

    fn slot_of(&self, key: Key, hash: u64, is: impl Fn(&CheckDef) -> bool) -> Option<u32> {
        let table = match key {
            Key::Id => &self.by_id,
            Key::Uuid => &self.by_uuid,
            Key::Slug => &self.by_slug,
            Key::Name => &self.by_name,
        };
        table
            .find(hash, |&s| Checks::def_at(&self.slots, s).is_some_and(&is))
            .copied()
    }

    fn at(&self, slot: Option<u32>) -> Option<&Check> {
        self.slots.get(slot? as usize)?.as_ref()
    }

    pub fn get(&self, id: i64) -> Option<&Check> {
        self.at(self.slot_of(Key::Id, self.hasher.hash_one(id), |d| d.id == id))
    }

    pub fn by_uuid(&self, uuid: &Uuid) -> Option<&Check> {
        let hash = self.hasher.hash_one(uuid);
        self.at(self.slot_of(Key::Uuid, hash, |d| d.uuid == *uuid))
    }

    pub fn by_slug(&self, slug: &str) -> Option<&Check> {
        let hash = self.hasher.hash_one(slug);
        self.at(self.slot_of(Key::Slug, hash, |d| d.slug.as_deref() == Some(slug)))
    }

    pub fn by_name(&self, name: &str) -> Option<&Check> {
        let hash = self.hasher.hash_one(name);
        self.at(self.slot_of(Key::Name, hash, |d| *d.name == *name))
    }

    /// Replaces the state of a known check.
    pub fn set_state(&mut self, id: i64, state: CheckState) {
        let slot = self.slot_of(Key::Id, self.hasher.hash_one(id), |d| d.id == id);
        if let Some(Some(c)) = slot.and_then(|s| self.slots.get_mut(s as usize)) {
            c.state = state;
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every check, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Check> {
        self.slots.iter().flatten()
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Check> {
        self.slots.iter_mut().flatten()
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
        for c in checks.iter_mut() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: i64, name: &str, slug: Option<&str>) -> Check {
        Check {
            def: Arc::new(CheckDef {
                id,
                name: name.into(),
                uuid: Uuid::new_v4(),
                slug: slug.map(Arc::from),
                origin: Origin::Auto,
                schedule: Schedule::Every(Duration::from_secs(60)),
                grace: Duration::from_secs(60),
                labels: Labels::new(),
                created_at: Utc::now(),
                extra: None,
            }),
            state: CheckState::default(),
        }
    }

    #[test]
    fn every_key_finds_its_check_until_it_is_removed() {
        let mut checks = Checks::with_capacity(2);
        let a = check(1, "a", Some("a-slug"));
        let key = a.def.uuid;
        checks.insert(a);
        checks.insert(check(2, "b", None));
        assert_eq!(checks.len(), 2);
        assert_eq!(checks.get(1).map(|c| &*c.def.name), Some("a"));
        assert_eq!(checks.by_uuid(&key).map(|c| c.def.id), Some(1));
        assert_eq!(checks.by_slug("a-slug").map(|c| c.def.id), Some(1));
        assert_eq!(checks.by_name("b").map(|c| c.def.id), Some(2));
        assert!(checks.by_slug("b").is_none(), "no slug, no slug key");

        let gone = checks.remove(1).map(|c| c.def.id);
        assert_eq!(gone, Some(1));
        assert!(checks.get(1).is_none() && checks.by_uuid(&key).is_none());
        assert!(checks.by_slug("a-slug").is_none() && checks.by_name("a").is_none());
        assert_eq!(checks.len(), 1);
        assert!(checks.remove(1).is_none());

        // the emptied slot is used again, with nothing of the old check left
        checks.insert(check(3, "c", Some("c")));
        assert_eq!(checks.slots.len(), 2);
        assert!(checks.by_name("a").is_none());
        assert_eq!(checks.by_slug("c").map(|c| c.def.id), Some(3));
        let mut names: Vec<&str> = checks.iter().map(|c| &*c.def.name).collect();
        names.sort();
        assert_eq!(names, ["b", "c"]);
    }

    #[test]
    fn a_changed_check_replaces_the_old_one_and_can_take_a_slug() {
        let mut checks = Checks::default();
        checks.insert(check(1, "a", Some("x")));
        checks.insert(check(2, "b", None));
        // b takes slug x (the API moves it), then a is written without it
        checks.insert(check(2, "b", Some("x")));
        assert_eq!(checks.by_slug("x").map(|c| c.def.id), Some(2));
        checks.insert(check(1, "a renamed", None));
        assert_eq!(
            checks.by_slug("x").map(|c| c.def.id),
            Some(2),
            "a's old slug was b's by then"
        );
        assert!(checks.by_name("a").is_none());
        assert_eq!(checks.by_name("a renamed").map(|c| c.def.id), Some(1));
        assert_eq!(checks.len(), 2);

        let state = CheckState {
            pings: 7,
            ..CheckState::default()
        };
        checks.set_state(2, state);
        assert_eq!(checks.get(2).map(|c| c.state.pings), Some(7));
    }

    #[test]
    fn many_checks_grow_the_indexes_and_stay_found() {
        let mut checks = Checks::default();
        for id in 0..5_000 {
            checks.insert(check(id, &format!("n{id}"), Some(&format!("s{id}"))));
        }
        for id in (0..5_000).step_by(2) {
            checks.remove(id);
        }
        for id in 0..5_000 {
            let found = checks.by_name(&format!("n{id}")).map(|c| c.def.id);
            assert_eq!(found, (id % 2 == 1).then_some(id));
            assert_eq!(checks.by_slug(&format!("s{id}")).is_some(), id % 2 == 1);
        }
        assert_eq!(checks.len(), 2_500);
    }

    /// The indexes against a plain model of what they promise: a key finds
    /// the check that was inserted last with it, until that check is
    /// removed or inserted again without it (names and slugs from small
    /// pools, so they clash often; ids, too, so checks are replaced).
    #[test]
    fn the_indexes_agree_with_a_model_through_random_changes() {
        use proptest::prelude::*;
        use std::collections::HashMap;

        #[derive(Debug, Clone)]
        enum Op {
            Insert { id: i64, name: u8, slug: Option<u8> },
            Remove(i64),
        }
        let op = prop_oneof![
            3 => (0..40i64, 0..12u8, proptest::option::of(0..12u8))
                .prop_map(|(id, name, slug)| Op::Insert { id, name, slug }),
            1 => (0..40i64).prop_map(Op::Remove),
        ];
        let config = ProptestConfig {
            cases: 200,
            ..ProptestConfig::default()
        };
        proptest!(config, |(ops in proptest::collection::vec(op, 1..300))| {
            let mut checks = Checks::default();
            // id -> (name, slug, uuid); key -> owning id
            let mut live: HashMap<i64, (String, Option<String>, Uuid)> = HashMap::new();
            let mut names: HashMap<String, i64> = HashMap::new();
            let mut slugs: HashMap<String, i64> = HashMap::new();
            let mut uuids: HashMap<Uuid, i64> = HashMap::new();
            let forget = |id: i64, live: &mut HashMap<i64, (String, Option<String>, Uuid)>,
                          names: &mut HashMap<String, i64>, slugs: &mut HashMap<String, i64>,
                          uuids: &mut HashMap<Uuid, i64>| {
                if let Some((n, s, u)) = live.remove(&id) {
                    if names.get(&n) == Some(&id) { names.remove(&n); }
                    if let Some(s) = s && slugs.get(&s) == Some(&id) { slugs.remove(&s); }
                    if uuids.get(&u) == Some(&id) { uuids.remove(&u); }
                }
            };
            for op in ops {
                match op {
                    Op::Insert { id, name, slug } => {
                        let (name, slug) = (format!("n{name}"), slug.map(|s| format!("s{s}")));
                        let c = check(id, &name, slug.as_deref());
                        let uuid = c.def.uuid;
                        checks.insert(c);
                        forget(id, &mut live, &mut names, &mut slugs, &mut uuids);
                        names.insert(name.clone(), id);
                        if let Some(s) = &slug { slugs.insert(s.clone(), id); }
                        uuids.insert(uuid, id);
                        live.insert(id, (name, slug, uuid));
                    }
                    Op::Remove(id) => {
                        let removed = checks.remove(id).map(|c| c.def.id);
                        prop_assert_eq!(removed, live.contains_key(&id).then_some(id));
                        forget(id, &mut live, &mut names, &mut slugs, &mut uuids);
                    }
                }
                prop_assert_eq!(checks.len(), live.len());
                prop_assert_eq!(checks.iter().count(), live.len());
                for k in 0..12u8 {
                    let (n, s) = (format!("n{k}"), format!("s{k}"));
                    prop_assert_eq!(checks.by_name(&n).map(|c| c.def.id), names.get(&n).copied());
                    prop_assert_eq!(checks.by_slug(&s).map(|c| c.def.id), slugs.get(&s).copied());
                }
                for (id, (name, _, uuid)) in &live {
                    let found = checks.get(*id).map(|c| (&*c.def.name, c.def.uuid));
                    prop_assert_eq!(found, Some((name.as_str(), *uuid)));
                    prop_assert_eq!(checks.by_uuid(uuid).map(|c| c.def.id), uuids.get(uuid).copied());
                }
                prop_assert!(checks.slots.len() <= 40, "emptied slots are used again");
            }
        });
    }
}
