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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::rule::{QueryOutcome, RuleEnv, evaluate_rule, render_texts};
use super::state::{Observation, step};
use super::template_query::{TemplateQueries, renders_queries};
use crate::alert::{AlertEvent, AlertInstance};
use crate::labels::{Fingerprint, Labels};
use crate::alert::StateChanges;
use crate::notify::Pipeline;
use crate::rules::model::Level;
use crate::rules::{
    ErrorPolicy, Group, NoDataPolicy, Rule, RuleFormat, RuleSet, RuleSource, Schedule, Severity,
};
use crate::source::heartbeat::HeartbeatSource;
use crate::source::prometheus::PrometheusSource;
use crate::source::{Sample, SourceError};
use crate::store::Store;
use crate::template::Template;

/// Name of the group that holds tocsin's own alerts.
pub const BUILTIN_GROUP: &str = "tocsin";
pub const DATASOURCE_UNAVAILABLE: &str = "DatasourceUnavailable";

/// Group, alert name and [`Rule::occurrence`]: rules of one group may share a name.
type RuleKey = (String, String, usize);
type Outcomes = HashMap<RuleSource, Result<Vec<Sample>, SourceError>>;
type QueryFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Sample>, SourceError>> + Send>>;

/// Whether a rule raises alerts or records series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    #[default]
    Alerting,
    Recording,
}

/// Health of one rule, as `/api/v1/rules` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleStatus {
    pub group: String,
    /// The alert name, or a recording rule's record name.
    pub alert: String,
    #[serde(rename = "type")]
    pub kind: RuleKind,
    pub query: String,
    /// ok | err | unknown (not evaluated yet)
    pub health: &'static str,
    pub last_evaluation: Option<DateTime<Utc>>,
    pub last_duration_seconds: f64,
    pub last_error: Option<String>,
    pub active_alerts: usize,
}

/// Counters of one group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupStatus {
    pub name: String,
    pub file: String,
    pub schedule: String,
    pub evaluations: u64,
    pub failures: u64,
    /// Ticks skipped because the previous evaluation was still running.
    pub missed_iterations: u64,
    /// Queries sent to a datasource in the last evaluation, and in all.
    pub last_queries: u64,
    pub queries_total: u64,
    pub last_evaluation: Option<DateTime<Utc>>,
    pub last_duration_seconds: f64,
    /// Evaluation durations, for the `/metrics` histogram.
    #[serde(skip)]
    pub durations: Histogram,
    #[serde(skip)]
    running: bool,
}

/// Upper bounds (seconds) of the evaluation-duration histogram.
pub const DURATION_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// A cumulative histogram over [`DURATION_BUCKETS`].
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// Observations at or below each bucket's bound (cumulative).
    pub buckets: [u64; DURATION_BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, v: f64) {
        for (b, bound) in self.buckets.iter_mut().zip(DURATION_BUCKETS) {
            if v <= bound {
                *b += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }
}

/// Outcomes of config reloads, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ReloadStats {
    pub successes: u64,
    pub failures: u64,
    /// Whether the last reload applied (true before any reload).
    pub last_ok: bool,
    pub last_success: Option<DateTime<Utc>>,
}

/// What a reload changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadSummary {
    pub groups: usize,
    pub rules: usize,
    /// Rules that are gone; their firing alerts were resolved.
    pub removed_rules: Vec<String>,
}

#[derive(Default)]
pub(super) struct Memory {
    reloads: ReloadStats,
    /// Each rule's alerts; shared with an evaluation in progress without copying.
    pub(super) alerts: HashMap<RuleKey, Arc<HashMap<Fingerprint, AlertInstance>>>,
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
    builtin_rule: Rule,
    /// Serialises updates of the built-in alert, which every group touches.
    builtin_lock: tokio::sync::Mutex<()>,
    /// Serialises posts and expiry of external alerts.
    pub(super) external_lock: tokio::sync::Mutex<()>,
    /// Recording rules and their remote writes.
    recording: super::recording::Recorder,
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
            Arc::make_mut(memory.alerts.entry(key).or_default()).insert(a.fingerprint, a);
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
            builtin_rule,
            builtin_lock: tokio::sync::Mutex::new(()),
            external_lock: tokio::sync::Mutex::new(()),
            recording: super::recording::Recorder::default(),
        })
    }

    /// Where recording rules' results are written (`prometheus.remote_write_url`).
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

    /// Counts scheduled evaluations of `group` that did not run (the process
    /// fell behind, or the wall clock stepped over cron times).
    pub fn record_missed(&self, group: &str, n: u64) {
        let mut m = self.memory();
        let status = m.groups.entry(group.to_string()).or_default();
        status.missed_iterations = status.missed_iterations.saturating_add(n);
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

    /// Runs each distinct query of the group once, concurrently; Prometheus
    /// queries that differ only in one label matcher are batched into one
    /// (see [`super::batch`]). Heartbeat conditions are answered from memory
    /// at once. Also returns how many queries went to a datasource.
    async fn run_queries(&self, group: &Group, now: DateTime<Utc>) -> (Outcomes, usize) {
        enum Done {
            Source(RuleSource, Result<Vec<Sample>, SourceError>),
            Prometheus(usize, Result<Vec<Sample>, SourceError>),
        }
        let at = query_time(group, now);
        let mut out = HashMap::new();
        let mut promql: Vec<&str> = Vec::new();
        let mut others: HashSet<&RuleSource> = HashSet::new();
        for r in &group.rules {
            match &r.source {
                RuleSource::Prometheus(q) => promql.push(q),
                other => {
                    others.insert(other);
                }
            }
        }
        let plan = super::batch::plan(promql, self.batch_selectors);
        let mut tasks = JoinSet::new();
        let mut sent = 0;
        for q in others {
            let query: QueryFuture = match (q, &self.heartbeats) {
                (RuleSource::Heartbeat(h), Some(hb)) => {
                    out.insert(q.clone(), Ok(hb.condition(h, now)));
                    continue;
                }
                (RuleSource::Heartbeat(_) | RuleSource::Sql(_), None) => {
                    let e = SourceError::Rejected("heartbeats are not available".into());
                    out.insert(q.clone(), Err(e));
                    continue;
                }
                (RuleSource::Sql(sql), Some(hb)) => {
                    let (hb, sql) = (hb.clone(), sql.clone());
                    Box::pin(async move { hb.sql(&sql).await })
                }
                (RuleSource::Prometheus(_), _) => continue, // planned above
            };
            sent += 1;
            let permit = Arc::clone(&self.query_slots).acquire_owned().await;
            let key = q.clone();
            tasks.spawn(async move {
                let _permit = permit;
                Done::Source(key, query.await)
            });
        }
        let source = self.source();
        for (n, promql) in plan.queries.iter().enumerate() {
            sent += 1;
            // Permits bound queries in flight across all groups.
            let permit = Arc::clone(&self.query_slots).acquire_owned().await;
            let (source, promql) = (source.clone(), promql.clone());
            tasks.spawn(async move {
                let _permit = permit;
                Done::Prometheus(n, source.query(&promql, at).await)
            });
        }
        let mut answers: Vec<Result<Vec<Sample>, SourceError>> = (0..plan.queries.len())
            .map(|_| Err(SourceError::Unavailable("query task failed".into())))
            .collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Done::Source(q, r)) => {
                    out.insert(q, r);
                }
                Ok(Done::Prometheus(n, r)) => answers[n] = r,
                Err(e) => tracing::error!(group = %group.name, error = %e, "query task failed"),
            }
        }
        for (q, r) in super::batch::distribute(&plan, answers) {
            out.insert(RuleSource::Prometheus(q), r);
        }
        (out, sent)
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
            let (current, last_error) = {
                let m = self.memory();
                let current = m.alerts.get(&key).map(Arc::clone).unwrap_or_default();
                (
                    current,
                    m.rules.get(&key).and_then(|r| r.last_error.clone()),
                )
            };
            let generator_url = match &rule.source {
                RuleSource::Prometheus(expr) => source.generator_url(expr),
                _ => String::new(),
            };
            let update = if renders_queries(rule) {
                self.evaluate_with_queries(group, index, current, outcome, generator_url, now)
                    .await
            } else {
                let env = RuleEnv {
                    generator_url: &generator_url,
                    external_url: source.graph_url(),
                    queries: None,
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
            changes.delete.append(&mut update.delete);
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
            for (key, update) in updates {
                let status = m.rules.entry(key.clone()).or_default();
                status.last_evaluation = Some(now);
                status.last_duration_seconds = elapsed;
                status.health = if update.error.is_some() { "err" } else { "ok" };
                status.last_error = update.error.clone();
                status.active_alerts = update.alerts.values().filter(|a| a.is_active()).count();
                if committed {
                    m.alerts.insert(key, Arc::new(update.alerts));
                }
            }
        }
        self.update_datasource_health(unavailable, any_success, now)
            .await;
        all_ok && committed
    }

    /// Evaluates the rule `group.rules[index]`, whose templates call `query`,
    /// on the blocking pool: rendering waits for those queries there, never
    /// on an async worker (see [`super::template_query`]).
    async fn evaluate_with_queries(
        &self,
        group: &Arc<Group>,
        index: usize,
        current: Arc<HashMap<Fingerprint, AlertInstance>>,
        outcome: QueryOutcome,
        generator_url: String,
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
        let joined = tokio::task::spawn_blocking(move || {
            let rule = shared.rules.get(index)?;
            let env = RuleEnv {
                generator_url: &generator_url,
                external_url: &external_url,
                queries: Some(&queries),
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

    /// Counts consecutive unavailable evaluations; past the threshold the
    /// built-in alert fires, and the first success resolves it.
    async fn update_datasource_health(
        &self,
        unavailable: Option<String>,
        any_success: bool,
        now: DateTime<Utc>,
    ) {
        let _guard = self.builtin_lock.lock().await;
        let failures = {
            let mut m = self.memory();
            match (&unavailable, any_success) {
                (Some(err), false) => {
                    m.datasource_failures = m.datasource_failures.saturating_add(1);
                    m.datasource_last_error = Some(err.clone());
                }
                (_, true) => {
                    m.datasource_failures = 0;
                }
                (None, false) => {}
            }
            m.datasource_failures
        };
        let key = (
            BUILTIN_GROUP.to_string(),
            DATASOURCE_UNAVAILABLE.to_string(),
            0,
        );
        let current = self
            .memory()
            .alerts
            .get(&key)
            .map(Arc::clone)
            .unwrap_or_default();
        let mut labels = Labels::new();
        labels.insert("alertname".into(), DATASOURCE_UNAVAILABLE.into());
        labels.insert("datasource".into(), "prometheus".into());
        let fp = Fingerprint::of_alert(BUILTIN_GROUP, &labels);
        let fresh = AlertInstance {
            fingerprint: fp,
            group: BUILTIN_GROUP.into(),
            alert: DATASOURCE_UNAVAILABLE.into(),
            labels,
            annotations: BTreeMap::new(),
            message: String::new(),
            resolution: String::new(),
            state: crate::alert::AlertState::Pending,
            severity: Severity::Error,
            value: f64::from(failures),
            active_at: now,
            fired_at: None,
            keep_firing_since: None,
            resolved_at: None,
            format: RuleFormat::Native,
            generator_url: String::new(),
        };
        let obs = if failures >= self.unavailable_after {
            Observation::Forced(Severity::Error)
        } else if failures == 0 {
            Observation::Missing
        } else {
            return; // failing, but not long enough to say so; nothing changes
        };
        let prev = current.get(&fp);
        let result = step(prev, obs, &fresh, &self.builtin_rule, now);
        if !result.changed {
            return;
        }
        let Some(mut next) = result.next else { return };
        let before = prev.filter(|p| p.is_active()).map(|p| p.state);
        if matches!(obs, Observation::Forced(_)) {
            render_texts(&self.builtin_rule, &mut next, None, RuleEnv::default());
            if let Some(err) = self.memory().datasource_last_error.clone() {
                next.annotations.insert("last_error".into(), err);
            }
        }
        let events: Vec<AlertEvent> = result
            .transitions
            .into_iter()
            .map(|t| AlertEvent {
                alert: next.clone(),
                before,
                transition: t,
            })
            .collect();
        let changes = StateChanges {
            at: now,
            save: vec![next.clone()],
            delete: Vec::new(),
            events,
        };
        match self.pipeline.commit(changes).await {
            Ok(()) => {
                let mut m = self.memory();
                Arc::make_mut(m.alerts.entry(key).or_default()).insert(fp, next);
            }
            Err(e) => tracing::error!(error = %e, "cannot record datasource alert"),
        }
    }

    /// Applies new rules and datasource. Alerts of rules that still exist
    /// keep their state; alerts of removed rules end ([`super::state::end`]:
    /// firing ones resolve and are notified, pending ones clear). The caller
    /// stops the scheduler first and has given the pipeline the new router.
    pub async fn reload(
        &self,
        rules: Arc<RuleSet>,
        source: PrometheusSource,
    ) -> Result<ReloadSummary, crate::store::StoreError> {
        let now = Utc::now().trunc_subsecs(3);
        let keep: std::collections::HashSet<RuleKey> = rules
            .groups
            .iter()
            .flat_map(|g| {
                g.rules
                    .iter()
                    .map(|r| (g.name.clone(), r.name.clone(), r.occurrence))
            })
            .chain(std::iter::once((
                BUILTIN_GROUP.to_string(),
                DATASOURCE_UNAVAILABLE.to_string(),
                0,
            )))
            .collect();
        let mut changes = StateChanges::at(now);
        let mut removed = Vec::new();
        let mut leftovers: Vec<(RuleKey, HashMap<Fingerprint, AlertInstance>)> = Vec::new();
        {
            let m = self.memory();
            // External alerts belong to no rule file: reloads leave them be.
            let gone = |k: &RuleKey| !keep.contains(k) && k.0 != super::external::EXTERNAL_GROUP;
            for (key, alerts) in m.alerts.iter().filter(|(k, _)| gone(k)) {
                removed.push(format!("{}/{}", key.0, key.1));
                let mut after = HashMap::new();
                for a in alerts.values() {
                    let ended = super::state::end(a, now);
                    let alert = ended.next.clone().unwrap_or_else(|| a.clone());
                    changes.events.extend(ended.transitions.into_iter().map(|t| AlertEvent {
                        alert: alert.clone(),
                        before: Some(a.state),
                        transition: t,
                    }));
                    match ended.next {
                        Some(r) => {
                            if ended.changed {
                                changes.save.push(r.clone());
                            }
                            after.insert(r.fingerprint, r);
                        }
                        None => changes.delete.push(a.fingerprint),
                    }
                }
                leftovers.push((key.clone(), after));
            }
        }
        self.pipeline.commit(changes).await?;

        let summary = ReloadSummary {
            groups: rules.groups.len(),
            rules: rules.rule_count(),
            removed_rules: removed,
        };
        {
            let mut m = self.memory();
            for (key, after) in leftovers {
                m.alerts.insert(key, Arc::new(after));
            }
            m.rules.retain(|k, _| keep.contains(k));
            let names: std::collections::HashSet<&str> =
                rules.groups.iter().map(|g| g.name.as_str()).collect();
            m.groups.retain(|name, _| names.contains(name.as_str()));
            for g in &rules.groups {
                let status = m.groups.entry(g.name.clone()).or_default();
                status.name = g.name.clone();
                status.file = g.file.display().to_string();
                status.schedule = describe_schedule(&g.schedule);
                for r in &g.rules {
                    let rs = m
                        .rules
                        .entry((g.name.clone(), r.name.clone(), r.occurrence))
                        .or_insert_with(|| RuleStatus {
                            health: "unknown",
                            ..RuleStatus::default()
                        });
                    rs.group = g.name.clone();
                    rs.alert = r.name.clone();
                    let query = r.source.to_string();
                    if rs.query != query {
                        rs.query = query;
                        rs.health = "unknown";
                        rs.last_error = None;
                    }
                }
            }
        }
        self.recording.retain(&rules);
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
        *self.source.write().unwrap_or_else(|p| p.into_inner()) = source;
        Ok(summary)
    }

    /// Counts a reload attempt.
    pub fn record_reload(&self, ok: bool) {
        let mut m = self.memory();
        m.reloads.last_ok = ok;
        if ok {
            m.reloads.successes += 1;
            m.reloads.last_success = Some(Utc::now());
        } else {
            m.reloads.failures += 1;
        }
    }

    pub fn reload_stats(&self) -> ReloadStats {
        self.memory().reloads.clone()
    }

    /// All alerts, most severe and newest first.
    /// The firing alerts, in no particular order (cheaper than [`Engine::alerts`]).
    pub fn firing_alerts(&self) -> Vec<AlertInstance> {
        let m = self.memory();
        m.alerts
            .values()
            .flat_map(|a| a.values())
            .filter(|a| a.state == crate::alert::AlertState::Firing)
            .cloned()
            .collect()
    }

    pub fn alerts(&self) -> Vec<AlertInstance> {
        let m = self.memory();
        let mut out: Vec<AlertInstance> = m
            .alerts
            .values()
            .flat_map(|a| a.values().cloned())
            .collect();
        let rank = |a: &AlertInstance| {
            let state = match a.state {
                crate::alert::AlertState::Firing => 0,
                crate::alert::AlertState::Pending => 1,
                crate::alert::AlertState::Resolved => 2,
            };
            (
                state,
                std::cmp::Reverse(a.severity),
                std::cmp::Reverse(a.active_at),
            )
        };
        out.sort_by_key(rank);
        out
    }

    pub fn rule_statuses(&self) -> Vec<RuleStatus> {
        let mut out = self.recording.statuses(&self.rules());
        let m = self.memory();
        out.extend(m.rules.values().cloned());
        out.sort_by(|a, b| (&a.group, &a.alert).cmp(&(&b.group, &b.alert)));
        out
    }

    /// Consecutive failed evaluations against the datasource (0: healthy).
    pub fn datasource_failures(&self) -> u32 {
        self.memory().datasource_failures
    }

    pub fn group_statuses(&self) -> Vec<GroupStatus> {
        let m = self.memory();
        let mut out: Vec<GroupStatus> = m.groups.values().cloned().collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
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

fn describe_schedule(s: &Schedule) -> String {
    match s {
        Schedule::Every(d) => format!("every {}", humantime::format_duration(*d)),
        Schedule::Cron { expr, timezone, .. } => format!("cron {expr} ({timezone})"),
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

/// The rule behind `DatasourceUnavailable`: fires at once, resolves at once.
/// When a group's queries are evaluated: now, or `query_offset` before it
/// (`None` is the datasource's now).
fn query_time(group: &Group, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (!group.query_offset.is_zero())
        .then(|| now - chrono::Duration::from_std(group.query_offset).unwrap_or_default())
}

fn builtin_rule(url: &str) -> Rule {
    Rule {
        group: BUILTIN_GROUP.into(),
        index: 0,
        occurrence: 0,
        name: DATASOURCE_UNAVAILABLE.into(),
        source: RuleSource::Prometheus(String::new()),
        format: RuleFormat::Native,
        levels: vec![Level {
            severity: Severity::Error,
            condition: None,
        }],
        resolve_when: None,
        pending_for: Duration::ZERO,
        keep_firing_for: Duration::ZERO,
        on_no_data: NoDataPolicy::Ok,
        on_error: ErrorPolicy::Keep,
        labels: Vec::new(),
        annotations: Vec::new(),
        message: Some(Template::Static(format!(
            "Prometheus at {url} failed several evaluations in a row; alert states are frozen until it answers again"
        ))),
        resolution: Some(Template::Static(
            "Check that Prometheus is running and reachable from tocsin (prometheus.url, network, credentials); firing alerts stay firing meanwhile".into(),
        )),
    }
}
