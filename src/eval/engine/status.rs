//! What the engine reports about itself: each rule's and group's health,
//! evaluation durations, reloads (for `/api/v1/rules`, `/api/v1/status` and
//! `/metrics`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Engine;
use crate::rules::Schedule;

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
    pub(super) running: bool,
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

pub(super) fn describe_schedule(s: &Schedule) -> String {
    match s {
        Schedule::Every(d) => format!("every {}", humantime::format_duration(*d)),
        Schedule::Cron { expr, timezone, .. } => format!("cron {expr} ({timezone})"),
    }
}

impl Engine {
    /// Counts scheduled evaluations of `group` that did not run (the process
    /// fell behind, or the wall clock stepped over cron times).
    pub fn record_missed(&self, group: &str, n: u64) {
        let mut m = self.memory();
        let status = m.groups.entry(group.to_string()).or_default();
        status.missed_iterations = status.missed_iterations.saturating_add(n);
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
}
