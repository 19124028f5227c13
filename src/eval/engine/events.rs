//! Job state events (`POST /api/v1/events`): a job platform posts a job's
//! state, and the job's alert follows it until the next post — no timer
//! ends it. The states map (`events.states`) to a level, at which the
//! alert fires or to which it moves (an escalation or de-escalation is
//! notified, a new state at the same level only updates the alert's
//! message), or to `resolve`, which ends it through the state machine: its
//! resolved notice keeps the text the job failed with, says what it came to
//! ("… is finished": its recovery text and `state`), and goes where
//! resolved notices go, to the targets that heard it fire.
//! `finished` for a job that was not failing notifies nobody, unless
//! `events.notify_finished_without_failure`: then it is a firing-and-resolved
//! pair of the alert in one commit, so the notice is an ordinary pair of
//! outbox rows (no message kind of its own).
//!
//! The alerts live in the pseudo-group [`EVENTS_GROUP`], in the alerts table
//! like every alert (so they survive restarts), with no expiry row. A job is
//! named by its `source` and `key`: while its alert is active, posts for it
//! find it by those two, whatever labels they carry; the labels are those
//! of the post that raised it.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};

use super::Engine;
use super::external::end;
use crate::alert::{
    AlertEvent, AlertInstance, AlertState, Fingerprint, Labels, RuleFormat, Severity, StateChanges,
    Transition,
};
use crate::config::events::{EventsConfig, StateAction};
use crate::store::StoreError;

/// The group job-state alerts belong to.
pub const EVENTS_GROUP: &str = "events";

/// The labels a job's alert always has, besides `alertname`.
pub const SOURCE_LABEL: &str = "source";
pub const JOB_LABEL: &str = "job";

/// The state `events.notify_finished_without_failure` is about.
pub const FINISHED: &str = "finished";

/// One checked job state event.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    /// The platform that posts (e.g. `dinky`).
    pub source: String,
    /// The job within it.
    pub key: String,
    /// As posted; matched without regard to case.
    pub state: String,
    /// Extra labels (routing: `team`, `service`, ...).
    pub labels: Labels,
    /// What the platform says about it, if anything.
    pub message: String,
}

/// What one event did to its job's alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// The job started failing: the alert fired.
    Fired,
    /// Its level went up or down.
    Escalated,
    Deescalated,
    /// A new state at the same level: the alert's message changed (not notified).
    Updated,
    /// The same state again.
    Unchanged,
    /// The job stopped failing: the alert resolved.
    Resolved,
    /// A resolving state for a job that was not failing: nothing to do.
    NotFailing,
    /// `finished` for a job that was not failing, with
    /// `events.notify_finished_without_failure`: notified as a
    /// firing-and-resolved pair.
    Noticed,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Fired => "fired",
            EventOutcome::Escalated => "escalated",
            EventOutcome::Deescalated => "deescalated",
            EventOutcome::Updated => "updated",
            EventOutcome::Unchanged => "unchanged",
            EventOutcome::Resolved => "resolved",
            EventOutcome::NotFailing => "not_failing",
            EventOutcome::Noticed => "noticed",
        }
    }
}

/// Why an event was not applied.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(
        "state {state:?} is not in events.states ({known}); add it there or set events.default"
    )]
    UnknownState { state: String, known: String },
    #[error("{active} job alerts are active; at most {max} (limits.external_alerts)")]
    TooMany { active: usize, max: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The engine's key of job alerts of one name.
type Key = (String, String, usize);

impl Engine {
    /// The state table in force (`events:`; a reload replaces it).
    pub fn set_job_states(&self, config: EventsConfig) {
        *self.job_states.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
    }

    pub fn job_states(&self) -> Arc<EventsConfig> {
        Arc::clone(&self.job_states.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Active job alerts now.
    pub fn active_job_alerts(&self) -> usize {
        self.active_in(EVENTS_GROUP)
    }

    /// Applies one job state at `now` in one transaction (state, history,
    /// outbox rows). A job that starts failing is refused when `max_active`
    /// job alerts are active already.
    pub async fn record_job_state(
        &self,
        event: JobEvent,
        now: DateTime<Utc>,
        max_active: usize,
    ) -> Result<(EventOutcome, AlertInstance), EventError> {
        let now = now.trunc_subsecs(3);
        let config = self.job_states();
        let state = event.state.trim().to_ascii_lowercase();
        let Some(action) = config.action(&state) else {
            return Err(EventError::UnknownState {
                state: event.state,
                known: config.known(),
            });
        };
        let _guard = self.external_lock.lock().await;
        let mut identity = event.labels.clone();
        identity.insert("alertname".into(), config.alert.value.clone());
        identity.insert(SOURCE_LABEL.into(), event.source.clone());
        identity.insert(JOB_LABEL.into(), event.key.clone());
        let key: Key = (EVENTS_GROUP.into(), config.alert.value.clone(), 0);
        let fp = Fingerprint::of_alert(EVENTS_GROUP, &identity);
        let (active, previous) = self.job_alert(&key, &event, fp);
        let message = job_message(&event, &state);
        let mut changes = StateChanges::at(now);
        let (outcome, next) = match (action, active) {
            (StateAction::Fire(severity), Some(p)) => {
                let mut next = with_state(&p, &message, &state);
                next.severity = severity;
                let outcome = if severity != p.severity {
                    changes.events.push(AlertEvent {
                        alert: Arc::new(next.clone()),
                        before: Some(p.state),
                        transition: Transition::SeverityChanged { from: p.severity },
                    });
                    if severity > p.severity {
                        EventOutcome::Escalated
                    } else {
                        EventOutcome::Deescalated
                    }
                } else if next.message != p.message || next.annotations != p.annotations {
                    EventOutcome::Updated
                } else {
                    EventOutcome::Unchanged
                };
                if outcome != EventOutcome::Unchanged {
                    changes.save.push(Arc::new(next.clone()));
                }
                (outcome, next)
            }
            (StateAction::Fire(severity), None) => {
                if max_active != usize::MAX {
                    let active = self.active_job_alerts();
                    if active >= max_active {
                        return Err(EventError::TooMany {
                            active,
                            max: max_active,
                        });
                    }
                }
                let next = firing(fp, identity, &message, &state, severity, now);
                changes.events.push(AlertEvent {
                    alert: Arc::new(next.clone()),
                    before: previous.map(|p| p.state),
                    transition: Transition::Fired,
                });
                changes.save.push(Arc::new(next.clone()));
                (EventOutcome::Fired, next)
            }
            (StateAction::Resolve, Some(p)) => {
                // The notice keeps the text the job failed with and says
                // what it came to: the final state is the alert's `state`
                // and its recovery text (`resolved_message`).
                let mut last = p.clone();
                last.annotations.insert("state".into(), state.to_string());
                last.texts.resolved_message = message.clone();
                let next = end(&last, now, &mut changes).unwrap_or(last);
                (EventOutcome::Resolved, next)
            }
            (StateAction::Resolve, None)
                if state == FINISHED && config.notify_finished_without_failure =>
            {
                // The notice: the alert fires and resolves at once, so its
                // route hears both, through the outbox like any alert.
                let fired = firing(fp, identity, &message, &state, Severity::Warning, now);
                changes.events.push(AlertEvent {
                    alert: Arc::new(fired.clone()),
                    before: previous.map(|p| p.state),
                    transition: Transition::Fired,
                });
                let next = end(&fired, now, &mut changes).unwrap_or(fired);
                (EventOutcome::Noticed, next)
            }
            (StateAction::Resolve, None) => {
                let shown = previous.unwrap_or_else(|| {
                    let mut a = firing(fp, identity, &message, &state, Severity::Warning, now);
                    a.state = AlertState::Resolved;
                    a.resolved_at = Some(now);
                    a
                });
                return Ok((EventOutcome::NotFailing, shown));
            }
        };
        if changes.save.is_empty() && changes.events.is_empty() {
            return Ok((outcome, next));
        }
        self.pipeline().commit(changes).await?;
        tracing::info!(
            source = %event.source,
            job = %event.key,
            state = %state,
            outcome = outcome.as_str(),
            "job state recorded"
        );
        let mut m = self.memory();
        Arc::make_mut(m.alerts.entry(key).or_default())
            .insert(next.fingerprint, Arc::new(next.clone()));
        Ok((outcome, next))
    }

    /// The job's active alert (found by source and key), and else the
    /// alert it last had under this identity (resolved, kept a while).
    fn job_alert(
        &self,
        key: &Key,
        event: &JobEvent,
        fp: Fingerprint,
    ) -> (Option<AlertInstance>, Option<AlertInstance>) {
        let m = self.memory();
        let Some(alerts) = m.alerts.get(key) else {
            return (None, None);
        };
        let is_job = |a: &AlertInstance| {
            a.labels.get(SOURCE_LABEL) == Some(&event.source)
                && a.labels.get(JOB_LABEL) == Some(&event.key)
        };
        let active = alerts
            .values()
            .find(|a| a.is_active() && is_job(a))
            .map(|a| AlertInstance::clone(a));
        (active, alerts.get(&fp).map(|a| AlertInstance::clone(a)))
    }
}

/// What people read: the job, its state and what the platform said.
fn job_message(e: &JobEvent, state: &str) -> String {
    let mut m = format!("{} job {} is {state}", e.source, e.key);
    if !e.message.is_empty() {
        m.push_str(": ");
        m.push_str(&e.message);
    }
    m
}

fn with_state(a: &AlertInstance, message: &str, state: &str) -> AlertInstance {
    let mut next = a.clone();
    next.message = message.to_string();
    next.annotations.insert("state".into(), state.to_string());
    next
}

fn firing(
    fp: Fingerprint,
    labels: Labels,
    message: &str,
    state: &str,
    severity: Severity,
    now: DateTime<Utc>,
) -> AlertInstance {
    AlertInstance {
        fingerprint: fp,
        group: EVENTS_GROUP.into(),
        alert: labels.get("alertname").cloned().unwrap_or_default(),
        labels,
        annotations: [("state".to_string(), state.to_string())].into(),
        message: message.to_string(),
        resolution: String::new(),
        state: AlertState::Firing,
        severity,
        value: f64::NAN,
        active_at: now,
        fired_at: Some(now),
        keep_firing_since: None,
        resolved_at: None,
        format: RuleFormat::Native,
        generator_url: String::new(),
        texts: Default::default(),
    }
}
