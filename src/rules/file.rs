//! Rule files exactly as written: the serde model of `rules/*.yaml`.
//!
//! Native keys (`query`, `when`, `severity`, `message`, ...) and Prometheus
//! alerting-rule keys (`expr`, `annotations`, `labels.severity`) live side by
//! side so a Prometheus file loads unchanged. [`super::load`] turns these into
//! the validated model of [`super::model`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::condition::Condition;
use super::heartbeat::{CheckDoc, HeartbeatRuleDoc};
use super::model::{ErrorPolicy, NoDataPolicy};
use super::severity::SeveritySpec;
use super::text::TextDoc;
use crate::yaml::{HumanDuration, Spanned};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFileDoc {
    #[serde(default, deserialize_with = "crate::yaml::null_as_default")]
    pub groups: Vec<GroupDoc>,
    /// Heartbeat checks (and name templates for checks created on first ping).
    #[serde(default)]
    pub heartbeats: Vec<CheckDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDoc {
    pub name: Spanned<String>,
    pub interval: Option<Spanned<HumanDuration>>,
    pub cron: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "crate::yaml::null_as_default")]
    pub labels: BTreeMap<String, Spanned<String>>,
    /// Prometheus: maximum number of alerts one rule may produce (0 = no limit).
    #[serde(default)]
    pub limit: usize,
    /// Prometheus: evaluate this far in the past.
    pub query_offset: Option<HumanDuration>,
    /// Empty or null is a group with no rules, as in Prometheus.
    #[serde(default, deserialize_with = "crate::yaml::null_as_default")]
    pub rules: Vec<RuleDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDoc {
    /// `alert:` written with no value is `Some` with `None` inside, so the
    /// error can point at it.
    #[serde(default, deserialize_with = "crate::yaml::spanned_nullable")]
    pub alert: Option<Spanned<Option<String>>>,
    /// Prometheus recording rules are accepted and skipped with a warning.
    pub record: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    pub expr: Option<Spanned<String>>,
    /// A condition over heartbeat checks instead of a query.
    pub heartbeat: Option<Spanned<HeartbeatRuleDoc>>,
    /// A read-only SELECT over the heartbeat tables instead of a query.
    pub sql: Option<Spanned<String>>,
    pub when: Option<Spanned<Condition>>,
    pub severity: Option<Spanned<SeveritySpec>>,
    /// Durations as written: a Prometheus-format rule takes only
    /// Prometheus's syntax here (see `Checker::rule_duration`).
    #[serde(rename = "for")]
    pub for_: Option<Spanned<String>>,
    pub keep_firing_for: Option<Spanned<String>>,
    pub resolve_when: Option<Spanned<Condition>>,
    pub on_no_data: Option<NoDataPolicy>,
    pub on_error: Option<ErrorPolicy>,
    #[serde(default, deserialize_with = "crate::yaml::null_as_default")]
    pub labels: BTreeMap<String, Spanned<String>>,
    #[serde(default, deserialize_with = "crate::yaml::null_as_default")]
    pub annotations: BTreeMap<String, Spanned<String>>,
    /// One text or `{en, zh}` (each of these three).
    pub message: Option<Spanned<TextDoc>>,
    pub resolution: Option<Spanned<TextDoc>>,
    /// What a resolved notice says, rendered when the alert resolves.
    pub resolved_message: Option<Spanned<TextDoc>>,
}
