//! The running evaluation engine.
//!
//! It keeps every rule's alerts in memory (loaded from SQLite at start), runs a
//! group's queries concurrently under a global limit, applies
//! [`evaluate_rule`] to each, and hands the group's state changes to the
//! notification stage ([`Pipeline`]), which routes them and commits them with
//! their outbox rows in one transaction, before memory is updated. Nothing is
//! written while nothing changes. Repeated datasource failures raise the
//! built-in `DatasourceUnavailable` alert; a failing query never resolves anything.
//! A group's recording rules run before its alerting rules ([`super::recording`]).
//!
//! - `queries.rs`: asking the datasources, batched and bounded.
//! - `builtin.rs`: the `DatasourceUnavailable` alert.
//! - [`external`]: alerts posted to `/api/v2/alerts`, and their expiry.
//! - [`events`]: job states posted to `/api/v1/events`.
//! - `reload.rs`: new rules between evaluations.
//! - `status.rs`: rule and group health, reload counters.

mod builtin;
pub mod events;
pub mod external;
mod queries;
mod reload;
mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::Semaphore;

use builtin::builtin_rule;
pub use builtin::{BUILTIN_GROUP, DATASOURCE_UNAVAILABLE};
use queries::{Outcomes, query_time};
use status::describe_schedule;
pub use status::{
    DURATION_BUCKETS, GroupStatus, Histogram, ReloadStats, ReloadSummary, RuleKind, RuleStatus,
};

use super::rule::{QueryOutcome, RuleAlerts, RuleEnv, evaluate_rule};
use super::template_query::{TemplateQueries, renders_queries};
use crate::alert::{AlertInstance, StateChanges};
use crate::notify::Pipeline;
use crate::rules::{Group, Rule, RuleSet, RuleSource};
use crate::source::heartbeat::HeartbeatSource;
use crate::source::prometheus::PrometheusSource;
use crate::store::Store;

/// Group, alert name and [`Rule::occurrence`]: rules of one group may share a name.
type RuleKey = (String, String, usize);

#[derive(Default)]
pub(super) struct Memory {
    reloads: ReloadStats,
    /// Each rule's alerts; shared with an evaluation in progress without copying.
    pub(super) alerts: HashMap<RuleKey, Arc<RuleAlerts>>,
    /// Which [`Engine::texts_generation`] rendered each rule's alerts' texts.
    rendered: HashMap<RuleKey, u64>,
    rules: HashMap<RuleKey, RuleStatus>,
    groups: HashMap<String, GroupStatus>,
    datasource_failures: u32,
    datasource_last_error: Option<String>,
}

pub struct Engine {
    rules: RwLock<Arc<RuleSet>>,
    source: RwLock<PrometheusSource>,
    heartbeats: Option<HeartbeatSource>,
    store: Store,
    /// Where state changes go: routed, committed with their outbox rows.
    pipeline: Arc<Pipeline>,
    memory: Mutex<Memory>,
    query_slots: Arc<Semaphore>,
    unavailable_after: u32,
    /// Serve rules differing in one label matcher from one query.
    batch_selectors: bool,
    /// Which queries could join a batch, found once per query.
    query_shapes: crate::eval::batch::ShapeCache,
    builtin_rule: Rule,
    /// Serialises updates of the built-in alert, which every group touches.
    builtin_lock: tokio::sync::Mutex<()>,
    /// Serialises posts and expiry of external alerts.
    pub(super) external_lock: tokio::sync::Mutex<()>,
    /// `events:`: what each posted job state does.
    job_states: RwLock<Arc<crate::config::events::EventsConfig>>,
    /// The config's `timezone`: `{{ since }}` in rule texts is written in it.
    timezone: RwLock<chrono_tz::Tz>,
    /// Recording rules and their remote writes.
    recording: super::recording::Recorder,
    /// Counts rule sets and zones: texts rendered under an older one are
    /// rendered again before an alert may be left as it is.
    texts_generation: std::sync::atomic::AtomicU64,
}

impl Engine {
    /// Builds the engine with the alerts stored in `store`.
    pub async fn new(
        rules: Arc<RuleSet>,
        source: PrometheusSource,
        pipeline: Arc<Pipeline>,
        max_concurrent_queries: usize,
        unavailable_after: u32,
    ) -> Result<Engine, crate::store::StoreError> {
        let store = pipeline.store().clone();
        let stored = store.load_alerts().await?;
        let mut memory = Memory {
            reloads: ReloadStats {
                last_ok: true,
                last_success: Some(Utc::now()),
                ..ReloadStats::default()
            },
            ..Memory::default()
        };
        for a in stored {
            let key = (a.group.clone(), a.alert.clone(), owner(&rules, &a));
            Arc::make_mut(memory.alerts.entry(key).or_default()).insert(a.fingerprint, Arc::new(a));
        }
        for g in &rules.groups {
            memory.groups.insert(
                g.name.clone(),
                GroupStatus {
                    name: g.name.clone(),
                    file: g.file.display().to_string(),
                    schedule: describe_schedule(&g.schedule),
                    ..GroupStatus::default()
                },
            );
            for r in &g.rules {
                memory.rules.insert(
                    (g.name.clone(), r.name.clone(), r.occurrence),
                    RuleStatus {
                        group: g.name.clone(),
                        alert: r.name.clone(),
                        query: r.source.to_string(),
                        health: "unknown",
                        ..RuleStatus::default()
                    },
                );
            }
        }
        let builtin_rule = builtin_rule(source.display_url());
        Ok(Engine {
            rules: RwLock::new(rules),
            source: RwLock::new(source),
            heartbeats: None,
            store,
            pipeline,
            memory: Mutex::new(memory),
            query_slots: Arc::new(Semaphore::new(max_concurrent_queries.max(1))),
            unavailable_after: unavailable_after.max(1),
            batch_selectors: true,
            query_shapes: Default::default(),
            builtin_rule,
            builtin_lock: tokio::sync::Mutex::new(()),
            external_lock: tokio::sync::Mutex::new(()),
            job_states: RwLock::default(),
            timezone: RwLock::default(),
            recording: super::recording::Recorder::default(),
            texts_generation: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Where recording rules' results are written (`prometheus.remote_write_url`).
    /// The zone rule texts write times in (the config's `timezone`; a
    /// reload replaces it).
    pub fn set_timezone(&self, tz: chrono_tz::Tz) {
        let mut zone = self.timezone.write().unwrap_or_else(|p| p.into_inner());
        if *zone != tz {
            *zone = tz;
            self.texts_changed();
        }
    }

    /// Rules or zone changed: every alert's texts are rendered again.
    fn texts_changed(&self) {
        self.texts_generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn timezone(&self) -> chrono_tz::Tz {
        *self.timezone.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_remote_write(&self, writer: Option<crate::source::remote_write::RemoteWriter>) {
        self.recording.set_writer(writer);
    }

    /// Recording rules' health and remote-write counters.
    pub fn recording(&self) -> &super::recording::Recorder {
        &self.recording
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<RuleSet> {
        Arc::clone(&self.rules.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The notification stage state changes go to.
    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    fn source(&self) -> PrometheusSource {
        self.source
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Answers heartbeat and `sql:` rules from `source`.
    pub fn with_heartbeats(mut self, source: HeartbeatSource) -> Engine {
        self.heartbeats = Some(source);
        self
    }

    /// Whether rules whose selectors differ in one label matcher share one
    /// query (on by default).
    pub fn with_selector_batching(mut self, on: bool) -> Engine {
        self.batch_selectors = on;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(super) fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        // A panic while holding this lock is a bug; keep serving with the data as is.
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notices a wall-clock step and moves the heartbeat stamps with it.
    pub fn follow_clock(&self) {
        match &self.heartbeats {
            Some(h) => h.follow_clock(),
            None => {
                crate::clock::observe();
            }
        }
    }

    /// Evaluates `group` at `now`. Returns false when skipped because the
    /// previous evaluation of the group is still running (counted as missed).
    pub async fn evaluate_group(&self, group: &Arc<Group>, now: DateTime<Utc>) -> bool {
        // Stored times have millisecond precision; keep memory identical to them.
        let now = now.trunc_subsecs(3);
        {
            let mut m = self.memory();
            let status = m.groups.entry(group.name.clone()).or_default();
            if status.running {
                status.missed_iterations += 1;
                tracing::warn!(group = %group.name, "previous evaluation still running; iteration skipped");
                return false;
            }
            status.running = true;
        }
        let started = Instant::now();
        // Recording rules first, so the alerting rules see what they record.
        let (recorded, recording_queries) = self
            .recording
            .evaluate(group, now, &self.source(), &self.query_slots)
            .await;
        let (outcomes, queries) = self.run_queries(group, now).await;
        let queries = queries + recording_queries;
        let queried = started.elapsed();
        let ok = self.apply_outcomes(group, outcomes, now, started).await && recorded;
        tracing::debug!(
            group = %group.name,
            queries,
            query_ms = queried.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "group evaluated"
        );
        let mut m = self.memory();
        let status = m.groups.entry(group.name.clone()).or_default();
        status.running = false;
        status.last_queries = queries as u64;
        status.queries_total += queries as u64;
        status.evaluations += 1;
        if !ok {
            status.failures += 1;
        }
        status.last_evaluation = Some(now);
        status.last_duration_seconds = started.elapsed().as_secs_f64();
        status.durations.observe(status.last_duration_seconds);
        true
    }

    async fn apply_outcomes(
        &self,
        group: &Arc<Group>,
        mut outcomes: Outcomes,
        now: DateTime<Utc>,
        started: Instant,
    ) -> bool {
        let mut changes = StateChanges::at(now);
        let mut updates = Vec::new();
        let source = self.source();
        let mut unavailable: Option<String> = None;
        let mut any_success = false;
        let mut all_ok = true;
        // How many rules still take each answer: the last one takes it without a copy.
        let generation = self
            .texts_generation
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut users: HashMap<&RuleSource, usize> = HashMap::new();
        for rule in &group.rules {
            *users.entry(&rule.source).or_default() += 1;
        }
        for (index, rule) in group.rules.iter().enumerate() {
            let key = (group.name.clone(), rule.name.clone(), rule.occurrence);
            let last_user = users.get_mut(&rule.source).is_some_and(|n| {
                *n -= 1;
                *n == 0
            });
            let outcome = match outcomes.get_mut(&rule.source) {
                Some(Ok(samples)) => {
                    // Only Prometheus's answers say Prometheus is back.
                    any_success |= rule.source.is_prometheus();
                    QueryOutcome::Samples(if last_user {
                        std::mem::take(samples)
                    } else {
                        samples.clone()
                    })
                }
                Some(Err(e)) => {
                    if e.is_unavailable() {
                        unavailable = Some(e.to_string());
                    }
                    QueryOutcome::Failed(e.to_string())
                }
                None => QueryOutcome::Failed("query task failed".to_string()),
            };
            let (current, last_error, texts_current) = {
                let m = self.memory();
                let current = m.alerts.get(&key).map(Arc::clone).unwrap_or_default();
                (
                    current,
                    m.rules.get(&key).and_then(|r| r.last_error.clone()),
                    m.rendered.get(&key) == Some(&generation),
                )
            };
            let generator_url = match &rule.source {
                RuleSource::Prometheus(expr) => source.generator_url(expr),
                _ => String::new(),
            };
            let outputs = self.failure_outputs(rule, &outcome).await;
            let update = if renders_queries(rule) {
                let links = (generator_url, outputs);
                self.evaluate_with_queries(group, index, current, outcome, links, now)
                    .await
            } else {
                let env = RuleEnv {
                    generator_url: &generator_url,
                    external_url: source.graph_url(),
                    queries: None,
                    outputs: outputs.as_ref(),
                    timezone: self.timezone(),
                    texts_current,
                };
                evaluate_rule(group, rule, &current, outcome, env, now)
            };
            // One WARN when a rule starts failing (or fails differently), one
            // INFO when it recovers; the same error again is DEBUG chatter.
            match (&update.error, &last_error) {
                (Some(err), Some(last)) if err == last => {
                    all_ok = false;
                    tracing::debug!(group = %group.name, rule = %rule.name, error = %err, "rule evaluation still failing");
                }
                (Some(err), _) => {
                    all_ok = false;
                    tracing::warn!(group = %group.name, rule = %rule.name, error = %err, "rule evaluation failed");
                }
                (None, Some(_)) => {
                    tracing::info!(group = %group.name, rule = %rule.name, "rule evaluation works again");
                }
                (None, None) => {}
            }
            let mut update = update;
            changes.save.append(&mut update.save);
            changes.delete.extend_from_slice(&update.delete);
            changes.events.append(&mut update.events);
            updates.push((key, update));
        }
        outcomes.clear();

        let elapsed = started.elapsed().as_secs_f64();
        let (saves, events) = (changes.save.len(), changes.events.len());
        let commit_started = Instant::now();
        let committed = match self.pipeline.commit(changes).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(group = %group.name, error = %e, "cannot record evaluation; state unchanged, retried next tick");
                false
            }
        };
        if saves + events > 0 {
            tracing::debug!(
                group = %group.name,
                saves,
                events,
                evaluate_ms = (elapsed * 1000.0) as u64,
                commit_ms = commit_started.elapsed().as_millis() as u64,
                "evaluation recorded"
            );
        }
        {
            let mut m = self.memory();
            for (key, mut update) in updates {
                let alerts = m.alerts.entry(key.clone()).or_default();
                if committed {
                    // Copies the map only while a reader holds it.
                    update.apply_to(Arc::make_mut(alerts));
                }
                let active = alerts.values().filter(|a| a.is_active()).count();
                if committed && update.texts_current {
                    m.rendered.insert(key.clone(), generation);
                } else if committed {
                    m.rendered.remove(&key);
                }
                let status = m.rules.entry(key).or_default();
                status.last_evaluation = Some(now);
                status.last_duration_seconds = elapsed;
                status.health = if update.error.is_some() { "err" } else { "ok" };
                status.last_error = update.error;
                status.active_alerts = active;
            }
        }
        self.update_datasource_health(unavailable, any_success, now)
            .await;
        all_ok && committed
    }

    /// For a heartbeat `failed` rule with checks in that condition: their
    /// failed runs' output tails (`{{ output }}`), read once per evaluation.
    async fn failure_outputs(
        &self,
        rule: &crate::rules::Rule,
        outcome: &QueryOutcome,
    ) -> Option<HashMap<String, String>> {
        let (RuleSource::Heartbeat(q), QueryOutcome::Samples(samples), Some(hb)) =
            (&rule.source, outcome, &self.heartbeats)
        else {
            return None;
        };
        if q.condition != crate::rules::heartbeat::HeartbeatCondition::Failed || samples.is_empty()
        {
            return None;
        }
        Some(hb.failure_outputs(samples).await)
    }

    /// Evaluates the rule `group.rules[index]`, whose templates call `query`,
    /// on the blocking pool: rendering waits for those queries there, never
    /// on an async worker (see [`super::template_query`]).
    async fn evaluate_with_queries(
        &self,
        group: &Arc<Group>,
        index: usize,
        current: Arc<RuleAlerts>,
        outcome: QueryOutcome,
        (generator_url, outputs): (String, Option<HashMap<String, String>>),
        now: DateTime<Utc>,
    ) -> super::rule::RuleUpdate {
        let queries = TemplateQueries::new(
            tokio::runtime::Handle::current(),
            self.source(),
            query_time(group, now),
            Arc::clone(&self.query_slots),
        );
        let shared = Arc::clone(group);
        let external_url = self.source().graph_url().to_string();
        let timezone = self.timezone();
        let joined = tokio::task::spawn_blocking(move || {
            let rule = shared.rules.get(index)?;
            let env = RuleEnv {
                generator_url: &generator_url,
                external_url: &external_url,
                queries: Some(&queries),
                outputs: outputs.as_ref(),
                timezone,
                texts_current: false,
            };
            Some(evaluate_rule(&shared, rule, &current, outcome, env, now))
        })
        .await;
        match joined {
            Ok(Some(update)) => update,
            Ok(None) => super::rule::RuleUpdate {
                error: Some("internal error: rule not in its group".into()),
                ..Default::default()
            },
            Err(e) => {
                tracing::error!(group = %group.name, error = %e, "rule evaluation task failed");
                super::rule::RuleUpdate {
                    error: Some(format!("rule evaluation task failed: {e}")),
                    ..Default::default()
                }
            }
        }
    }

    /// The firing alerts, in no particular order (cheaper than [`Engine::alerts`]).
    pub fn firing_alerts(&self) -> Vec<AlertInstance> {
        let m = self.memory();
        m.alerts
            .values()
            .flat_map(|a| a.values())
            .filter(|a| a.state == crate::alert::AlertState::Firing)
            .map(|a| AlertInstance::clone(a))
            .collect()
    }

    /// How many alerts there are of each state and severity (nothing copied).
    pub fn alert_counts(
        &self,
    ) -> HashMap<(crate::alert::AlertState, crate::alert::Severity), usize> {
        let maps: Vec<Arc<RuleAlerts>> = self.memory().alerts.values().cloned().collect();
        let mut counts = HashMap::new();
        for a in maps.iter().flat_map(|m| m.values()) {
            *counts.entry((a.state, a.severity)).or_default() += 1;
        }
        counts
    }

    /// All alerts, most severe and newest first.
    pub fn alerts(&self) -> Vec<AlertInstance> {
        self.select_alerts(|_| true, 0..usize::MAX).1
    }

    /// The alerts `keep` selects, in the order of [`Engine::alerts`], and
    /// how many it selects; only those in `range` are copied (a console
    /// page of 50 out of 10 000 copies 50). The lock is held only to copy
    /// the per-rule maps' handles.
    pub fn select_alerts(
        &self,
        keep: impl Fn(&AlertInstance) -> bool,
        range: std::ops::Range<usize>,
    ) -> (usize, Vec<AlertInstance>) {
        let maps: Vec<Arc<RuleAlerts>> = self.memory().alerts.values().cloned().collect();
        let mut selected: Vec<&AlertInstance> = maps
            .iter()
            .flat_map(|m| m.values())
            .map(|a| &**a)
            .filter(|a| keep(a))
            .collect();
        let rank = |a: &&AlertInstance| {
            let state = match a.state {
                crate::alert::AlertState::Firing => 0,
                crate::alert::AlertState::Pending => 1,
                crate::alert::AlertState::Resolved => 2,
            };
            (
                state,
                std::cmp::Reverse(a.severity),
                std::cmp::Reverse(a.active_at),
                a.fingerprint,
            )
        };
        selected.sort_by_key(rank);
        let total = selected.len();
        let (start, end) = (range.start.min(total), range.end.min(total));
        let page = selected[start..end.max(start)]
            .iter()
            .map(|a| (*a).clone())
            .collect();
        (total, page)
    }

    /// Forgets resolved alerts older than `retention`.
    pub async fn purge_resolved(&self, retention: Duration) {
        let cutoff = Utc::now() - chrono::Duration::from_std(retention).unwrap_or_default();
        match self.store.purge_resolved(cutoff).await {
            Ok(fps) if !fps.is_empty() => {
                let mut m = self.memory();
                for alerts in m.alerts.values_mut() {
                    if fps.iter().any(|fp| alerts.contains_key(fp)) {
                        let alerts = Arc::make_mut(alerts);
                        for fp in &fps {
                            alerts.remove(fp);
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot purge resolved alerts"),
        }
    }
}

/// Which of the rules named like a stored alert it belongs to
/// ([`Rule::occurrence`]): the first whose fixed labels it carries (the
/// `severity` of a warning/critical pair), else the first.
fn owner(rules: &RuleSet, a: &AlertInstance) -> usize {
    rules
        .groups
        .iter()
        .filter(|g| g.name == a.group)
        .flat_map(|g| g.rules.iter())
        .filter(|r| r.name == a.alert)
        .find(|r| r.static_labels_match(&a.labels))
        .map_or(0, |r| r.occurrence)
}
