//! External events: alerts posted to `POST /api/v2/alerts` (Alertmanager's
//! format) by Prometheus, vmalert or any job system. They live in the
//! pseudo-group `external`, fire on the first post, are kept firing by
//! re-posts, and resolve at their `endsAt` (or [`RESOLVE_TIMEOUT`] after the
//! last post that gave none), exactly like rule alerts: the same state, the
//! same transitions, the same routing and outbox, one transaction per post.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use super::Engine;
use crate::alert::{
    AlertEvent, AlertInstance, AlertState, Fingerprint, Labels, RuleFormat, Severity, StateChanges,
    Transition,
};
use crate::store::StoreError;
use crate::store::external::Expiry;

/// The group external alerts belong to.
pub const EXTERNAL_GROUP: &str = "external";

/// How long an alert posted without `endsAt` stays firing without a re-post
/// (Alertmanager's `resolve_timeout`).
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(300);

/// One checked external alert.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalAlert {
    /// Every label, `alertname` included (`severity` too, if given).
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
}

impl ExternalAlert {
    fn alertname(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// `severity` label: anything that pages is an error, the rest a warning.
    fn severity(&self) -> Severity {
        self.labels
            .get("severity")
            .map_or(Severity::Warning, |s| Severity::from_prometheus_label(s))
    }

    /// The labels that identify the alert: all of them, as posted (as in
    /// Alertmanager, whose fingerprint is that of the whole label set).
    fn identity(&self) -> Labels {
        self.labels.clone()
    }
}

/// What one post changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestSummary {
    pub received: usize,
    pub fired: usize,
    pub refreshed: usize,
    pub resolved: usize,
}

/// The engine's rule key; external alerts have no rule, so no second of a name.
type Key = (String, String, usize);

/// Why a batch was not applied.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{active} posted alerts are active; at most {max} (limits.external_alerts)")]
    TooMany { active: usize, max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Engine {
    /// Active external alerts now.
    pub fn active_external(&self) -> usize {
        self.active_in(EXTERNAL_GROUP)
    }

    /// Active alerts of the pseudo-group `group` now.
    pub(super) fn active_in(&self, group: &str) -> usize {
        self.memory()
            .alerts
            .iter()
            .filter(|(k, _)| k.0 == group)
            .map(|(_, m)| m.values().filter(|a| a.is_active()).count())
            .sum()
    }

    /// Applies a checked batch of external alerts at `now` in one transaction:
    /// either all of it is recorded (and notified), or nothing. The whole
    /// batch is refused when it would leave more than `max_active` external
    /// alerts active.
    pub async fn ingest_external_limited(
        &self,
        alerts: Vec<ExternalAlert>,
        now: DateTime<Utc>,
        max_active: usize,
    ) -> Result<IngestSummary, IngestError> {
        let now = now.trunc_subsecs(3);
        let _guard = self.external_lock.lock().await;
        let mut summary = IngestSummary {
            received: alerts.len(),
            ..IngestSummary::default()
        };
        // The alerts this post touches, as they will be afterwards.
        let mut touched: HashMap<Fingerprint, (Key, AlertInstance)> = HashMap::new();
        let mut batch = StateChanges::at(now);
        let mut expiries: HashMap<Fingerprint, Expiry> = HashMap::new();
        let mut finished = Vec::new();
        let timeout = chrono::Duration::from_std(RESOLVE_TIMEOUT).unwrap_or_default();
        for a in alerts {
            let identity = a.identity();
            let fp = Fingerprint::of_alert(EXTERNAL_GROUP, &identity);
            let key = (EXTERNAL_GROUP.to_string(), a.alertname().to_string(), 0);
            let prev = touched.get(&fp).map(|(_, p)| p.clone()).or_else(|| {
                self.memory()
                    .alerts
                    .get(&key)
                    .and_then(|m| m.get(&fp))
                    .map(|a| AlertInstance::clone(a))
            });
            let active = prev.as_ref().filter(|p| p.is_active());
            let expires_at = a.ends_at.unwrap_or(now + timeout);
            let severity = a.severity();
            if expires_at <= now {
                // An end in the past: the event is over.
                if let Some(r) = active.and_then(|p| end(p, expires_at, &mut batch)) {
                    expiries.remove(&fp);
                    finished.push(fp);
                    touched.insert(fp, (key, r));
                    summary.resolved += 1;
                }
                continue;
            }
            let mut next = instance(&a, fp, identity, severity, now);
            match active {
                Some(p) => {
                    next.active_at = p.active_at;
                    next.fired_at = p.fired_at;
                    let shared = Arc::new(next.clone());
                    if p.severity != severity {
                        batch.events.push(AlertEvent {
                            alert: Arc::clone(&shared),
                            before: Some(p.state),
                            transition: Transition::SeverityChanged { from: p.severity },
                        });
                    }
                    if !same(p, &next) {
                        batch.save.push(shared);
                    }
                    summary.refreshed += 1;
                }
                None => {
                    let shared = Arc::new(next.clone());
                    batch.events.push(AlertEvent {
                        alert: Arc::clone(&shared),
                        before: prev.as_ref().map(|p| p.state),
                        transition: Transition::Fired,
                    });
                    batch.save.push(shared);
                    summary.fired += 1;
                }
            }
            expiries.insert(
                fp,
                Expiry {
                    fingerprint: fp,
                    expires_at,
                    generator_url: a.generator_url.clone(),
                },
            );
            touched.insert(fp, (key, next));
        }
        if summary.fired > 0 && max_active != usize::MAX {
            let active = self.active_external();
            let after = (active + summary.fired).saturating_sub(summary.resolved);
            if after > max_active {
                return Err(IngestError::TooMany {
                    active,
                    max: max_active,
                });
            }
        }
        self.commit_external(batch, expiries.into_values().collect(), finished, touched)
            .await?;
        Ok(summary)
    }

    /// Resolves external alerts whose time is up at `now`.
    pub async fn expire_external(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let now = now.trunc_subsecs(3);
        let _guard = self.external_lock.lock().await;
        let due = self.store().expired_external(now).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut batch = StateChanges::at(now);
        let mut touched = HashMap::new();
        let mut finished = Vec::new();
        {
            let m = self.memory();
            for (fp, at) in &due {
                finished.push(*fp);
                let found = m
                    .alerts
                    .iter()
                    .filter(|(k, _)| k.0 == EXTERNAL_GROUP)
                    .find_map(|(k, alerts)| alerts.get(fp).map(|a| (k.clone(), a.clone())));
                let Some((key, a)) = found.filter(|(_, a)| a.is_active()) else {
                    continue;
                };
                if let Some(r) = end(&a, *at, &mut batch) {
                    touched.insert(*fp, (key, r));
                }
            }
        }
        let resolved = touched.len();
        self.commit_external(batch, Vec::new(), finished, touched)
            .await?;
        Ok(resolved)
    }

    /// Hands the changes to the notification stage; once they are
    /// committed, memory follows.
    async fn commit_external(
        &self,
        changes: StateChanges,
        expiries: Vec<Expiry>,
        finished: Vec<Fingerprint>,
        touched: HashMap<Fingerprint, (Key, AlertInstance)>,
    ) -> Result<(), StoreError> {
        self.pipeline()
            .commit_external(changes, expiries, finished)
            .await?;
        let mut m = self.memory();
        for (fp, (key, a)) in touched {
            Arc::make_mut(m.alerts.entry(key).or_default()).insert(fp, Arc::new(a));
        }
        Ok(())
    }
}

/// Ends an active external alert (or job alert) at `at` through the state
/// machine, recording the change in `changes`; returns the alert afterwards.
pub(super) fn end(
    active: &AlertInstance,
    at: DateTime<Utc>,
    changes: &mut StateChanges,
) -> Option<AlertInstance> {
    let ended = crate::eval::state::end(active, at);
    let next = ended.next?;
    let shared = Arc::new(next.clone());
    changes
        .events
        .extend(ended.transitions.into_iter().map(|transition| AlertEvent {
            alert: Arc::clone(&shared),
            before: Some(active.state),
            transition,
        }));
    if ended.changed {
        changes.save.push(shared);
    }
    Some(next)
}

fn instance(
    a: &ExternalAlert,
    fp: Fingerprint,
    identity: Labels,
    severity: Severity,
    now: DateTime<Utc>,
) -> AlertInstance {
    let started = a.starts_at.filter(|s| *s <= now).unwrap_or(now);
    let text = |k: &str| a.annotations.get(k).cloned().unwrap_or_default();
    let message = ["message", "summary", "description"]
        .iter()
        .map(|k| text(k))
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    AlertInstance {
        fingerprint: fp,
        group: EXTERNAL_GROUP.into(),
        alert: a.alertname().to_string(),
        labels: identity,
        annotations: a.annotations.clone(),
        message,
        resolution: text("resolution"),
        texts: Default::default(),
        state: AlertState::Firing,
        severity,
        value: f64::NAN,
        active_at: started,
        fired_at: Some(started),
        keep_firing_since: None,
        resolved_at: None,
        format: RuleFormat::Prometheus,
        generator_url: a.generator_url.clone(),
    }
}

/// Whether a re-post changes nothing that is stored.
fn same(a: &AlertInstance, b: &AlertInstance) -> bool {
    a.state == b.state
        && a.severity == b.severity
        && a.labels == b.labels
        && a.annotations == b.annotations
        && a.message == b.message
        && a.resolution == b.resolution
        && a.generator_url == b.generator_url
}
