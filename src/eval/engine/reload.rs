//! Reloads: new rules and datasource take effect between evaluations; the
//! alerts of rules that are gone end through the state machine.

use std::sync::Arc;

use chrono::{SubsecRound, Utc};

use super::status::describe_schedule;
use super::status::{ReloadSummary, RuleStatus};
use super::{BUILTIN_GROUP, DATASOURCE_UNAVAILABLE, Engine, RuleKey};
use crate::alert::{AlertEvent, StateChanges};
use crate::eval::rule::RuleAlerts;
use crate::rules::RuleSet;
use crate::source::prometheus::PrometheusSource;

impl Engine {
    /// Applies new rules and datasource. Alerts of rules that still exist
    /// keep their state; alerts of removed rules end ([`crate::eval::state::end`]:
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
        let mut leftovers: Vec<(RuleKey, RuleAlerts)> = Vec::new();
        {
            let m = self.memory();
            // External alerts and job states belong to no rule file:
            // reloads leave them be.
            let gone = |k: &RuleKey| {
                !keep.contains(k)
                    && k.0 != super::external::EXTERNAL_GROUP
                    && k.0 != super::events::EVENTS_GROUP
            };
            for (key, alerts) in m.alerts.iter().filter(|(k, _)| gone(k)) {
                removed.push(format!("{}/{}", key.0, key.1));
                let mut after = RuleAlerts::new();
                for a in alerts.values() {
                    let ended = crate::eval::state::end(a, now);
                    let alert = match &ended.next {
                        Some(r) => Arc::new(r.clone()),
                        None => Arc::clone(a),
                    };
                    changes
                        .events
                        .extend(ended.transitions.into_iter().map(|t| AlertEvent {
                            alert: Arc::clone(&alert),
                            before: Some(a.state),
                            transition: t,
                        }));
                    match ended.next {
                        Some(r) => {
                            // `alert` is `r`.
                            if ended.changed {
                                changes.save.push(Arc::clone(&alert));
                            }
                            after.insert(r.fingerprint, alert);
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
            m.rendered.retain(|k, _| keep.contains(k));
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
        self.texts_changed();
        self.recording.retain(&rules);
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
        *self.source.write().unwrap_or_else(|p| p.into_inner()) = source;
        Ok(summary)
    }
}
