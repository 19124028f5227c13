//! The ping writer: one task takes every ping (and pause/resume, and the
//! Healthchecks API's creations, changes and deletions) from a channel, applies all that are waiting (up to a bound) to the checks'
//! states, records them in one SQLite transaction that is synced to disk
//! (group commit), and only then publishes the new states and answers each
//! request. A ping is durable before its 200, a busy second costs one
//! fsync per batch rather than per ping, and nothing else waits for it: rule
//! evaluation reads the published states.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::registry::{Check, CheckDef, Checks, Origin, Registry};
use super::state::{CheckState, Signal};
use crate::store::Store;
use crate::store::heartbeats::{Flip, NewPing, PingBatch};

/// Requests waiting beyond this make the HTTP handlers wait (backpressure).
const QUEUE: usize = 8192;
/// Most requests in one transaction.
const MAX_BATCH: usize = 1024;

/// Which check a ping is for.
#[derive(Debug, Clone)]
pub enum Target {
    Id(i64),
    /// Create the check (with these settings) unless it exists by then.
    Create(NewCheck),
}

/// A check to create on its first ping; id, key and time come from the writer.
#[derive(Debug, Clone)]
pub struct NewCheck {
    pub name: String,
    pub schedule: crate::rules::Schedule,
    pub grace: std::time::Duration,
    pub labels: crate::alert::Labels,
}

/// One ping, as received.
#[derive(Debug, Clone)]
pub struct PingRequest {
    pub target: Target,
    pub signal: Signal,
    pub rid: Option<Uuid>,
    pub at: DateTime<Utc>,
    pub method: &'static str,
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
    pub body: Vec<u8>,
    pub body_size: u64,
    /// Queued by a standby while no leader answered, replayed later: when
    /// a newer start, success or failure of its check is known already, it
    /// goes into the log without changing the check's state.
    pub queued: bool,
}

/// What happened, once it is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    Recorded,
    /// The ping created its check.
    Created,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("check limit of {0} reached (heartbeat.max_checks)")]
    TooManyChecks(usize),
    #[error("no such check")]
    NoSuchCheck,
    #[error("the check is not paused")]
    NotPaused,
    /// Another check already has this name or slug.
    #[error("{0}")]
    Taken(String),
    #[error("cannot record it: {0}")]
    Store(String),
    #[error("tocsin is shutting down")]
    Stopped,
}

enum Job {
    Ping(Box<PingRequest>),
    Pause(i64),
    Resume(i64),
    /// Creates (id 0: the writer gives it one) or replaces a check's
    /// settings, keeping its state.
    Put(Box<CheckDef>),
    Delete(i64),
}

type Reply = oneshot::Sender<Result<Ack, WriteError>>;

/// The sending side, held by the ping handlers and the API.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<(Job, Reply)>,
}

impl WriterHandle {
    async fn submit(&self, job: Job) -> Result<Ack, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((job, reply))
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }

    /// Records a ping; returns once it is committed.
    pub async fn ping(&self, req: PingRequest) -> Result<Ack, WriteError> {
        self.submit(Job::Ping(Box::new(req))).await
    }

    pub async fn pause(&self, id: i64) -> Result<(), WriteError> {
        self.submit(Job::Pause(id)).await.map(|_| ())
    }

    pub async fn resume(&self, id: i64) -> Result<(), WriteError> {
        self.submit(Job::Resume(id)).await.map(|_| ())
    }

    /// Creates `def` (when its id is 0) or replaces the settings of check
    /// `def.id`; `Created` or `Recorded` once committed.
    pub async fn put(&self, def: CheckDef) -> Result<Ack, WriteError> {
        self.submit(Job::Put(Box::new(def))).await
    }

    pub async fn delete(&self, id: i64) -> Result<(), WriteError> {
        self.submit(Job::Delete(id)).await.map(|_| ())
    }
}

/// Limits the writer applies.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Pings kept per check.
    pub keep_pings: u64,
    /// Most checks in total; auto-creation stops there.
    pub max_checks: usize,
}

/// How often the WAL is copied into the database (off the ping path).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// WAL pages (4 KiB) beyond which a checkpoint also restarts the WAL,
/// holding up the ping writer for a moment: only under sustained load, when
/// writes never pause long enough for the WAL to start over by itself.
const RESTART_WAL_FRAMES: i64 = 16_384;

/// Starts the writer (on `store`, which never checkpoints) and the
/// checkpointer (on `checkpoints`). They stop when `shutdown` turns true,
/// the writer after answering every request already queued.
pub fn spawn(
    store: Store,
    checkpoints: Store,
    registry: Arc<Registry>,
    next_id: i64,
    settings: WriterSettings,
    shutdown: watch::Receiver<bool>,
) -> (WriterHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let writer = Writer {
        store,
        registry,
        next_id,
        settings,
    };
    let task = tokio::spawn(async move {
        tokio::join!(
            writer.run(rx, shutdown.clone()),
            checkpointer(checkpoints, shutdown)
        );
    });
    (WriterHandle { tx }, task)
}

async fn checkpointer(store: Store, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*shutdown.borrow() {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        match store.checkpoint(RESTART_WAL_FRAMES).await {
            Ok((frames, restarted)) if frames > RESTART_WAL_FRAMES => {
                tracing::debug!(frames, restarted, "WAL checkpointed under load");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot checkpoint the database"),
        }
    }
    // What is left goes in at the next start (or the next checkpoint).
}

struct Writer {
    store: Store,
    registry: Arc<Registry>,
    next_id: i64,
    settings: WriterSettings,
}

/// Lets the requests being handled right now join the batch: yields to
/// the other tasks as long as that brings more in. Without it, the first
/// request of a wave is committed alone and the rest wait for that commit.
async fn gather(rx: &mut mpsc::Receiver<(Job, Reply)>, jobs: &mut Vec<(Job, Reply)>) {
    while jobs.len() < MAX_BATCH {
        tokio::task::yield_now().await;
        let before = jobs.len();
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if jobs.len() == before {
            break;
        }
    }
}

impl Writer {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<(Job, Reply)>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        let mut closing = *shutdown.borrow();
        if closing {
            rx.close();
        }
        loop {
            let got = if closing {
                rx.recv_many(&mut jobs, MAX_BATCH).await
            } else {
                tokio::select! {
                    n = rx.recv_many(&mut jobs, MAX_BATCH) => n,
                    _ = shutdown.changed() => {
                        // Refuse new requests, finish the queued ones.
                        closing = true;
                        rx.close();
                        continue;
                    }
                }
            };
            if got == 0 {
                break;
            }
            gather(&mut rx, &mut jobs).await;
            self.write(std::mem::take(&mut jobs)).await;
            jobs.reserve(MAX_BATCH);
        }
        tracing::debug!("ping writer stopped");
    }

    /// Applies, commits, publishes, answers.
    async fn write(&mut self, jobs: Vec<(Job, Reply)>) {
        let started = Instant::now();
        // Stamps in memory follow a clock step before new pings are applied.
        self.registry.follow_clock();
        let mut pending = Pending::default();
        let mut answers = Vec::with_capacity(jobs.len());
        {
            let registry = Arc::clone(&self.registry);
            let checks = registry.read();
            for (job, reply) in jobs {
                let answer = match self.check_for(&checks, &mut pending, &job) {
                    Ok((id, ack)) => pending.apply(&checks, id, job).map(|()| ack),
                    Err(e) => Err(e),
                };
                answers.push((reply, answer));
            }
        }
        if pending.touched.is_empty() && pending.deleted.is_empty() {
            for (reply, answer) in answers {
                let _ = reply.send(answer);
            }
            return;
        }
        let batch = PingBatch {
            checks: pending
                .touched
                .values()
                .map(|c| (Arc::clone(&c.def), c.state.clone()))
                .collect(),
            rewrite: pending.rewrite.clone(),
            delete: pending.deleted.clone(),
            pings: pending.pings,
            flips: pending.flips,
            keep: self.settings.keep_pings,
        };
        let size = batch.pings.len();
        match self.store.commit_pings(batch).await {
            Ok(()) => {
                {
                    let mut checks = self.registry.write();
                    for id in &pending.deleted {
                        if let Some(c) = checks.remove(*id) {
                            tracing::info!(check = %c.def.name, "check deleted through the API");
                        }
                    }
                    for (id, c) in pending.touched {
                        if pending.rewrite.contains(&id) {
                            let created = checks.remove(id).is_none();
                            tracing::info!(check = %c.def.name, labels = ?c.def.labels, created, "check saved through the API");
                            checks.insert(c);
                        } else if checks.get(id).is_some() {
                            checks.set_state(id, c.state);
                        } else {
                            tracing::info!(check = %c.def.name, labels = ?c.def.labels, "check created by its first ping");
                            checks.insert(c);
                        }
                    }
                }
                tracing::trace!(
                    pings = size,
                    took_us = started.elapsed().as_micros() as u64,
                    "pings committed"
                );
                for (reply, answer) in answers {
                    let _ = reply.send(answer);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, pings = size, "cannot record pings; they are answered with 503");
                let err = WriteError::Store(e.to_string());
                for (reply, answer) in answers {
                    let _ = reply.send(answer.and(Err(err.clone())));
                }
            }
        }
    }

    /// The check a job is for; a ping with `?create=1` creates its check
    /// unless it exists (or the limit is reached).
    fn check_for(
        &mut self,
        checks: &Checks,
        pending: &mut Pending,
        job: &Job,
    ) -> Result<(i64, Ack), WriteError> {
        let (new, at) = match job {
            Job::Pause(id) | Job::Resume(id) | Job::Delete(id) => return Ok((*id, Ack::Recorded)),
            Job::Put(def) => return self.put_target(checks, pending, def),
            Job::Ping(req) => match &req.target {
                Target::Id(id) => return Ok((*id, Ack::Recorded)),
                Target::Create(new) => (new, req.at),
            },
        };
        let existing = pending
            .created
            .iter()
            .find(|d| *d.name == *new.name)
            .map(|d| d.id)
            .or_else(|| checks.by_name(&new.name).map(|c| c.def.id));
        if let Some(id) = existing {
            return Ok((id, Ack::Recorded));
        }
        if checks.len() + pending.created.len() >= self.settings.max_checks {
            return Err(WriteError::TooManyChecks(self.settings.max_checks));
        }
        let name: Arc<str> = Arc::from(new.name.as_str());
        let def = Arc::new(CheckDef {
            id: self.next_id,
            name: Arc::clone(&name),
            uuid: Uuid::new_v4(),
            slug: Some(name),
            origin: Origin::Auto,
            schedule: new.schedule.clone(),
            grace: new.grace,
            labels: new.labels.clone(),
            created_at: at,
            extra: None,
        });
        self.next_id += 1;
        pending.created.push(Arc::clone(&def));
        let id = def.id;
        pending.touched.insert(
            id,
            Check {
                def,
                state: CheckState::default(),
            },
        );
        Ok((id, Ack::Created))
    }

    /// The id a `Put` is for (a new one for a creation), once its name and
    /// slug are free and the limit allows it.
    fn put_target(
        &mut self,
        checks: &Checks,
        pending: &Pending,
        def: &CheckDef,
    ) -> Result<(i64, Ack), WriteError> {
        let creating = def.id == 0;
        if !creating && (pending.deleted.contains(&def.id) || checks.get(def.id).is_none()) {
            return Err(WriteError::NoSuchCheck);
        }
        // Every other check's name and slug, as this batch leaves them so far.
        let others = checks
            .iter()
            .filter(|c| !pending.touched.contains_key(&c.def.id))
            .map(|c| &c.def)
            .chain(pending.touched.values().map(|c| &c.def))
            .filter(|d| d.id != def.id && !pending.deleted.contains(&d.id));
        for other in others {
            if other.name == def.name {
                return Err(WriteError::Taken(format!(
                    "another check is named {:?} (names are unique in tocsin)",
                    def.name
                )));
            }
            if def.slug.is_some() && other.slug == def.slug {
                return Err(WriteError::Taken(format!(
                    "another check has the slug {:?} (slugs are unique in tocsin)",
                    def.slug.as_deref().unwrap_or_default()
                )));
            }
            if other.uuid == def.uuid {
                return Err(WriteError::Taken("another check has this uuid".into()));
            }
        }
        if !creating {
            return Ok((def.id, Ack::Recorded));
        }
        let created = pending
            .touched
            .keys()
            .filter(|id| checks.get(**id).is_none())
            .count();
        if checks.len() + created >= self.settings.max_checks {
            return Err(WriteError::TooManyChecks(self.settings.max_checks));
        }
        self.next_id += 1;
        Ok((self.next_id - 1, Ack::Created))
    }
}

/// What a batch changes, until it is committed.
#[derive(Default)]
struct Pending {
    /// Every check the batch changes, with its state afterwards.
    touched: HashMap<i64, Check>,
    created: Vec<Arc<CheckDef>>,
    /// Checks of `touched` whose settings the API set.
    rewrite: HashSet<i64>,
    deleted: Vec<i64>,
    pings: Vec<NewPing>,
    flips: Vec<(i64, Flip)>,
}

impl Pending {
    /// Applies `job` to check `id` (as this batch left it so far).
    fn apply(&mut self, checks: &Checks, id: i64, job: Job) -> Result<(), WriteError> {
        if self.deleted.contains(&id) {
            return Err(WriteError::NoSuchCheck);
        }
        let job = match job {
            Job::Put(def) => {
                let state = match self.touched.get(&id).or_else(|| checks.get(id)) {
                    Some(c) => c.state.clone(),
                    None => CheckState::default(),
                };
                let mut state = state;
                state.reschedule(&def.schedule);
                let def = Arc::new(CheckDef { id, ..*def });
                self.touched.insert(id, Check { def, state });
                self.rewrite.insert(id);
                return Ok(());
            }
            Job::Delete(_) => {
                if self.touched.get(&id).or_else(|| checks.get(id)).is_none() {
                    return Err(WriteError::NoSuchCheck);
                }
                self.touched.remove(&id);
                self.rewrite.remove(&id);
                self.created.retain(|d| d.id != id);
                self.pings.retain(|p| p.check_id != id);
                self.flips.retain(|(c, _)| *c != id);
                self.deleted.push(id);
                return Ok(());
            }
            job => job,
        };
        let check = match self.touched.entry(id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => v.insert(checks.get(id).ok_or(WriteError::NoSuchCheck)?.clone()),
        };
        match job {
            Job::Ping(req) => {
                let overtaken =
                    req.queued && check.state.last_signal().is_some_and(|last| req.at < last);
                let duration = if overtaken {
                    check.state.pings += 1;
                    None
                } else {
                    for (at, up) in check.state.flips(req.signal.kind, req.at, check.def.grace) {
                        self.flips.push((id, Flip { at, up }));
                    }
                    check
                        .state
                        .apply(req.signal, req.rid, req.at, &check.def.schedule)
                };
                self.pings.push(NewPing {
                    check_id: id,
                    n: check.state.pings,
                    at: req.at,
                    kind: req.signal.kind,
                    exit_code: req.signal.exit_code,
                    rid: req.rid,
                    duration,
                    method: req.method,
                    remote_addr: req.remote_addr,
                    user_agent: req.user_agent,
                    body: req.body,
                    body_size: req.body_size,
                });
            }
            Job::Pause(_) => check.state.pause(),
            Job::Resume(_) if !check.state.paused => return Err(WriteError::NotPaused),
            Job::Resume(_) => check.state.resume(),
            Job::Put(_) | Job::Delete(_) => {} // handled above
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heartbeat::state::PingKind;
    use crate::rules::Schedule;
    use chrono::SubsecRound;

    fn ping(target: Target, kind: PingKind) -> PingRequest {
        PingRequest {
            target,
            signal: Signal {
                kind,
                exit_code: None,
            },
            rid: None,
            at: Utc::now(),
            method: "GET",
            remote_addr: None,
            user_agent: None,
            body: Vec::new(),
            body_size: 0,
            queued: false,
        }
    }

    /// A writer on `database` (keeping 10 pings per check, at
    /// most `max_checks` checks), its registry, and what keeps it running.
    fn writer_on(
        database: &crate::store::Database,
        max_checks: usize,
    ) -> (
        WriterHandle,
        Arc<Registry>,
        (watch::Sender<bool>, JoinHandle<()>),
    ) {
        let registry = Arc::new(Registry::default());
        let (tx, shutdown) = watch::channel(false);
        let (writer, task) = spawn(
            Store::open_ping_writer(database).unwrap(),
            Store::open_checkpointer(database).unwrap(),
            Arc::clone(&registry),
            1,
            WriterSettings {
                keep_pings: 10,
                max_checks,
            },
            shutdown,
        );
        (writer, registry, (tx, task))
    }

    fn new_check(name: &str) -> Target {
        Target::Create(NewCheck {
            name: name.into(),
            schedule: Schedule::Every(Duration::from_secs(60)),
            grace: Duration::from_secs(60),
            labels: Default::default(),
        })
    }

    #[tokio::test]
    async fn creates_once_respects_the_limit_and_publishes_only_what_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        for database in crate::store::testing::databases(dir.path()) {
            let other = Store::open_database(&database).unwrap();
            let (writer, registry, _running) = writer_on(&database, 1);
            // two creations of the same check in flight: one creates, one finds it
            let (a, b) = tokio::join!(
                writer.ping(ping(new_check("a"), PingKind::Success)),
                writer.ping(ping(new_check("a"), PingKind::Start)),
            );
            let mut acks = [a.unwrap(), b.unwrap()];
            acks.sort_by_key(|a| *a == Ack::Created);
            assert_eq!(acks, [Ack::Recorded, Ack::Created]);
            let id = registry.read().by_name("a").unwrap().def.id;
            assert_eq!(registry.read().get(id).unwrap().state.pings, 2);
            assert!(matches!(
                writer.ping(ping(new_check("b"), PingKind::Success)).await,
                Err(WriteError::TooManyChecks(1))
            ));
            assert!(matches!(
                writer.ping(ping(Target::Id(99), PingKind::Success)).await,
                Err(WriteError::NoSuchCheck)
            ));
            assert!(matches!(
                writer.resume(id).await,
                Err(WriteError::NotPaused)
            ));

            // a commit that fails is answered as such, and memory keeps the old state
            other
                .run_blocking(|c| {
                    // PostgreSQL drops the view on the table only when told.
                    let cascade = if c.is_postgres() { " CASCADE" } else { "" };
                    Ok(c.execute_batch(&format!("DROP TABLE heartbeat_pings{cascade}"))?)
                })
                .unwrap();
            let err = writer.ping(ping(Target::Id(id), PingKind::Fail)).await;
            assert!(matches!(err, Err(WriteError::Store(_))), "{err:?}");
            let state = registry.read().get(id).unwrap().state.clone();
            assert_eq!(state.pings, 2);
            assert_eq!(
                state.last_status,
                Some(crate::heartbeat::state::RunStatus::Success)
            );
        }
    }

    #[tokio::test]
    async fn a_queued_ping_older_than_the_last_signal_is_logged_without_turning_the_state_back() {
        let dir = tempfile::tempdir().unwrap();
        let database = crate::store::Database::Sqlite(dir.path().join("t.db"));
        drop(Store::open_database(&database).unwrap());
        let (writer, registry, _running) = writer_on(&database, 10);
        let now = Utc::now().trunc_subsecs(3);
        let mut first = ping(new_check("a"), PingKind::Success);
        first.at = now;
        writer.ping(first).await.unwrap();
        let id = registry.read().by_name("a").unwrap().def.id;
        let state = |r: &Registry| r.read().get(id).unwrap().state.clone();
        let before = state(&registry);

        // received by a standby a minute earlier, replayed now: logged only
        let mut late = ping(Target::Id(id), PingKind::Fail);
        late.at = now - chrono::Duration::minutes(1);
        late.queued = true;
        writer.ping(late).await.unwrap();
        let after = state(&registry);
        assert_eq!(after.pings, 2);
        assert_eq!(
            CheckState {
                pings: 1,
                ..after.clone()
            },
            before
        );

        // a queued ping newer than what is known applies as any ping
        let mut newer = ping(Target::Id(id), PingKind::Fail);
        newer.at = now + chrono::Duration::seconds(1);
        newer.queued = true;
        writer.ping(newer).await.unwrap();
        let last = state(&registry);
        assert_eq!(
            last.last_status,
            Some(crate::heartbeat::state::RunStatus::Fail)
        );
        assert_eq!(last.last_ping, Some(now + chrono::Duration::seconds(1)));
        let logged = Store::open_database(&database)
            .unwrap()
            .pings(id, 10)
            .await
            .unwrap();
        assert_eq!(logged.len(), 3, "every ping is in the log");
    }

    fn api_check(id: i64, name: &str, slug: Option<&str>) -> CheckDef {
        CheckDef {
            id,
            name: name.into(),
            uuid: Uuid::new_v4(),
            slug: slug.map(Arc::from),
            origin: Origin::Api,
            schedule: Schedule::Every(Duration::from_secs(60)),
            grace: Duration::from_secs(60),
            labels: Default::default(),
            created_at: Utc::now(),
            extra: None,
        }
    }

    #[tokio::test]
    async fn api_checks_are_created_changed_and_deleted_durably() {
        let dir = tempfile::tempdir().unwrap();
        for database in crate::store::testing::databases(dir.path()) {
            drop(Store::open_database(&database).unwrap());
            let (writer, registry, _running) = writer_on(&database, 2);
            let a = api_check(0, "a", Some("a"));
            assert_eq!(writer.put(a.clone()).await.unwrap(), Ack::Created);
            let id = registry.read().by_uuid(&a.uuid).unwrap().def.id;
            assert!(matches!(
                writer.put(api_check(0, "a", None)).await,
                Err(WriteError::Taken(_))
            ));
            assert!(matches!(
                writer.put(api_check(0, "b", Some("a"))).await,
                Err(WriteError::Taken(_))
            ));
            assert_eq!(
                writer.put(api_check(0, "b", Some("b"))).await.unwrap(),
                Ack::Created
            );
            assert!(matches!(
                writer.put(api_check(0, "c", None)).await,
                Err(WriteError::TooManyChecks(2))
            ));
            // a rename keeps the key and the pings
            writer
                .ping(ping(Target::Id(id), PingKind::Success))
                .await
                .unwrap();
            let renamed = CheckDef {
                id,
                name: "a2".into(),
                slug: Some("a2".into()),
                ..a.clone()
            };
            assert_eq!(writer.put(renamed).await.unwrap(), Ack::Recorded);
            {
                let checks = registry.read();
                assert!(checks.by_name("a").is_none() && checks.by_slug("a").is_none());
                let c = checks.by_slug("a2").unwrap();
                assert_eq!((c.def.id, c.def.uuid, c.state.pings), (id, a.uuid, 1));
            }
            let stored = Store::open_database(&database)
                .unwrap()
                .load_checks()
                .await
                .unwrap();
            let row = stored.iter().find(|c| c.id == id).unwrap();
            assert_eq!((&*row.name, row.origin), ("a2", Origin::Api));
            // deleted: gone from memory and disk, and pings find nothing
            writer.delete(id).await.unwrap();
            assert!(registry.read().get(id).is_none());
            assert!(matches!(
                writer.ping(ping(Target::Id(id), PingKind::Success)).await,
                Err(WriteError::NoSuchCheck)
            ));
            assert!(matches!(
                writer.delete(id).await,
                Err(WriteError::NoSuchCheck)
            ));
            let stored = Store::open_database(&database)
                .unwrap()
                .load_checks()
                .await
                .unwrap();
            assert_eq!(stored.len(), 1);
        }
    }
}
