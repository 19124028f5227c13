//! tocsin's own alert about its datasource: `DatasourceUnavailable` fires
//! after `evaluation.datasource_unavailable_after` failed evaluations in a
//! row and resolves at the first success. It goes through the state machine
//! and the notification stage like any rule's alert.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Engine;
use crate::alert::{
    AlertEvent, AlertInstance, Fingerprint, Labels, RuleFormat, Severity, StateChanges,
};
use crate::eval::rule::{RuleEnv, render_texts};
use crate::eval::state::{Observation, step};
use crate::rules::model::Level;
use crate::rules::text::RuleText;
use crate::rules::{ErrorPolicy, NoDataPolicy, Rule, RuleSource};
use crate::template::Template;

/// Name of the group that holds tocsin's own alerts.
pub const BUILTIN_GROUP: &str = "tocsin";

pub const DATASOURCE_UNAVAILABLE: &str = "DatasourceUnavailable";

/// The rule behind `DatasourceUnavailable`: fires at once, resolves at once.
pub(super) fn builtin_rule(url: &str) -> Rule {
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
        message: Some(RuleText::one(Template::Static(format!(
            "Prometheus at {url} failed several evaluations in a row; alert states are frozen until it answers again"
        )))),
        resolution: Some(RuleText::one(Template::Static(
            "Check that Prometheus is running and reachable from tocsin (prometheus.url, network, credentials); firing alerts stay firing meanwhile".into(),
        ))),
        resolved_message: None,
    }
}

impl Engine {
    /// Counts consecutive unavailable evaluations; past the threshold the
    /// built-in alert fires, and the first success resolves it.
    pub(super) async fn update_datasource_health(
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
            texts: Default::default(),
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
        let prev = current.get(&fp).map(|p| &**p);
        let result = step(prev, obs, fresh, &self.builtin_rule, now);
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
        let shared = Arc::new(next.clone());
        let events: Vec<AlertEvent> = result
            .transitions
            .into_iter()
            .map(|t| AlertEvent {
                alert: Arc::clone(&shared),
                before,
                transition: t,
            })
            .collect();
        let changes = StateChanges {
            at: now,
            save: vec![Arc::clone(&shared)],
            delete: Vec::new(),
            events,
        };
        match self.pipeline.commit(changes).await {
            Ok(()) => {
                let mut m = self.memory();
                Arc::make_mut(m.alerts.entry(key).or_default()).insert(fp, shared);
            }
            Err(e) => tracing::error!(error = %e, "cannot record datasource alert"),
        }
    }
}
