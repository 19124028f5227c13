//! Validated rules, ready to evaluate. Built by [`super::load`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::condition::Condition;
use super::heartbeat::{HeartbeatDecls, HeartbeatQuery};
use super::schedule::Schedule;
use super::text::RuleText;
use crate::alert::{Labels, RuleFormat, Severity};
use crate::template::Template;
use crate::yaml::SourceError;

/// Everything loaded from the rule paths.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub files: Vec<PathBuf>,
    pub groups: Vec<Arc<Group>>,
    /// The `heartbeats:` checks and name templates of all files.
    pub heartbeats: HeartbeatDecls,
    /// Things that load but deserve a note (recording rules skipped, ...).
    pub warnings: Vec<SourceError>,
}

impl RuleSet {
    /// Alerting and recording rules.
    pub fn rule_count(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.rules.len() + g.recording_rules.len())
            .sum()
    }
}

#[derive(Debug)]
pub struct Group {
    pub name: String,
    pub file: PathBuf,
    pub schedule: Schedule,
    pub labels: Labels,
    /// Maximum alerts per rule; more is an evaluation error (Prometheus `limit`).
    pub limit: usize,
    pub query_offset: Duration,
    /// Alerting rules, in file order.
    pub rules: Vec<Arc<Rule>>,
    /// Recording rules (`record:`), in file order. Each evaluation of the
    /// group runs them first, one after the other, then the alerting rules
    /// (see [`crate::eval::recording`]).
    pub recording_rules: Vec<Arc<RecordingRule>>,
}

/// A Prometheus recording rule: `expr`'s result is written back through
/// remote write as series named `name`, with `labels` set on each.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingRule {
    pub group: String,
    /// The `record:` name: the `__name__` of every series written.
    pub name: String,
    pub query: String,
    /// The group's labels overridden by the rule's (static, as in
    /// Prometheus); an empty value removes the label from the result.
    pub labels: Labels,
    /// Where `record:` is written, for messages about the rule.
    pub line: u32,
    pub col: u32,
}

/// Where a rule's series come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuleSource {
    /// A PromQL instant query (`query:` or `expr:`).
    Prometheus(String),
    /// A condition over heartbeat checks (`heartbeat:`).
    Heartbeat(HeartbeatQuery),
    /// A read-only SELECT over the heartbeat tables and views (`sql:`).
    Sql(String),
}

impl RuleSource {
    /// Whether a failure counts toward `DatasourceUnavailable` (Prometheus's health).
    pub fn is_prometheus(&self) -> bool {
        matches!(self, RuleSource::Prometheus(_))
    }
}

impl std::fmt::Display for RuleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleSource::Prometheus(q) => f.write_str(q),
            RuleSource::Heartbeat(h) => write!(f, "{h}"),
            RuleSource::Sql(sql) => f.write_str(sql),
        }
    }
}

/// What to do when the query returns no series at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoDataPolicy {
    /// Nothing is breaching: pending alerts drop, firing ones resolve.
    #[default]
    Ok,
    /// Raise an alert for the rule itself (label `tocsin_reason: no_data`).
    Alerting,
    /// Leave every alert of the rule as it is.
    Keep,
}

/// What to do when the query fails. Either way nothing resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorPolicy {
    /// Leave every alert of the rule as it is; the rule's health shows the error.
    #[default]
    Keep,
    /// Also raise an alert for the rule itself (label `tocsin_reason: error`).
    Alerting,
}

/// One severity level: its threshold (`None`: every returned series breaches).
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub severity: Severity,
    pub condition: Option<Condition>,
}

#[derive(Debug)]
pub struct Rule {
    pub group: String,
    /// Position in its group (0-based).
    pub index: usize,
    /// How many earlier rules of its group have the same name (0 for most):
    /// with the group and name, what tells a warning/critical pair apart.
    pub occurrence: usize,
    pub name: String,
    pub source: RuleSource,
    pub format: RuleFormat,
    /// Highest severity first.
    pub levels: Vec<Level>,
    pub resolve_when: Option<Condition>,
    pub pending_for: Duration,
    pub keep_firing_for: Duration,
    pub on_no_data: NoDataPolicy,
    pub on_error: ErrorPolicy,
    pub labels: Vec<(String, Template)>,
    pub annotations: Vec<(String, Template)>,
    pub message: Option<RuleText>,
    pub resolution: Option<RuleText>,
    /// Rendered when an alert resolves, with the value then.
    pub resolved_message: Option<RuleText>,
}

impl Rule {
    /// Whether `labels` carry every label of this rule that has a fixed value.
    pub fn static_labels_match(&self, labels: &Labels) -> bool {
        self.labels.iter().all(|(k, t)| match t {
            Template::Static(v) => labels.get(k) == Some(v),
            _ => true,
        })
    }

    /// The most severe level whose threshold `value` crosses.
    pub fn breached_level(&self, value: f64) -> Option<Severity> {
        self.levels
            .iter()
            .find(|l| l.condition.is_none_or(|c| c.matches(value)))
            .map(|l| l.severity)
    }

    /// The mildest level: what an alert held open by hysteresis falls back to.
    pub fn lowest_severity(&self) -> Severity {
        self.levels
            .last()
            .map(|l| l.severity)
            .unwrap_or(Severity::Warning)
    }
}
