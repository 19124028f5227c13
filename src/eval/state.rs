//! The alert state machine, as a pure function of (previous state, what the
//! query said, rule, now). No I/O and no clock: tests drive it with any `now`.
//!
//! ```text
//!  inactive ──breach──▶ pending ──held `for`──▶ firing ──clear (after keep_firing_for)──▶ resolved
//!                 │        └─clear──▶ inactive     │  ▲
//!                 └── for: 0 ──────────────────────┘  └─ escalate / de-escalate (warning ⇄ error)
//! ```
//! `resolve_when` adds hysteresis: an active alert only clears once its value
//! satisfies it. A missing series clears like a value that does not breach.

use chrono::{DateTime, Utc};

use crate::alert::{AlertInstance, AlertState, Severity, Transition};
use crate::rules::Rule;

/// What one evaluation says about one alert's series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    /// The series came back with this value.
    Value(f64),
    /// The series was not in the result.
    Missing,
    /// Breaching regardless of thresholds (no-data / error alerts).
    Forced(Severity),
}

/// The result of one step for one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The alert afterwards; `None` once it is inactive (pending that cleared).
    pub next: Option<AlertInstance>,
    /// What changed, in order (inactive → pending → firing can happen at once).
    pub transitions: Vec<Transition>,
    /// Whether stored fields changed (state, severity, timers), so it must be saved.
    pub changed: bool,
}

/// Ends an alert whatever its query says: its rule is gone (a reload), or a
/// posted alert's time is up. A firing alert resolves at `at` (never before
/// it became active), a pending one clears, a resolved one stays as it is.
pub fn end(prev: &AlertInstance, at: DateTime<Utc>) -> Step {
    match prev.state {
        AlertState::Firing => {
            let mut next = prev.clone();
            next.state = AlertState::Resolved;
            next.resolved_at = Some(at.max(prev.active_at));
            next.keep_firing_since = None;
            Step {
                next: Some(next),
                transitions: vec![Transition::Resolved],
                changed: true,
            }
        }
        AlertState::Pending => Step {
            next: None,
            transitions: vec![Transition::Cleared],
            changed: true,
        },
        AlertState::Resolved => Step {
            next: Some(prev.clone()),
            transitions: Vec::new(),
            changed: false,
        },
    }
}

/// Advances one alert. `fresh` is the instance built from this evaluation's
/// labels and value (used when there is no active alert yet, and to refresh
/// the value of an active one).
pub fn step(
    prev: Option<&AlertInstance>,
    obs: Observation,
    fresh: AlertInstance,
    rule: &Rule,
    now: DateTime<Utc>,
) -> Step {
    let breach = match obs {
        Observation::Value(v) => rule.breached_level(v),
        Observation::Missing => None,
        Observation::Forced(sev) => Some(sev),
    };
    let active = prev.filter(|p| p.is_active());
    let Some(prev) = active else {
        return start(breach, fresh, rule, now);
    };

    // Hysteresis: an active alert stays until `resolve_when` holds.
    let held = match (breach, obs, rule.resolve_when) {
        (None, Observation::Value(v), Some(resolve)) if !resolve.matches(v) => {
            Some(rule.lowest_severity())
        }
        _ => None,
    };
    let effective = breach.or(held);

    let mut next = refreshed(prev, &fresh, obs);
    let mut transitions = Vec::new();
    let mut changed = false;

    match (prev.state, effective) {
        (AlertState::Pending, Some(sev)) => {
            if sev != prev.severity {
                next.severity = sev;
                changed = true;
            }
            if now.signed_duration_since(prev.active_at) >= chrono_duration(rule.pending_for) {
                next.state = AlertState::Firing;
                next.fired_at = Some(now);
                transitions.push(Transition::Fired);
                changed = true;
            }
        }
        (AlertState::Pending, None) => {
            return Step {
                next: None,
                transitions: vec![Transition::Cleared],
                changed: true,
            };
        }
        (AlertState::Firing, Some(sev)) => {
            if next.keep_firing_since.take().is_some() {
                changed = true;
            }
            if sev != prev.severity {
                next.severity = sev;
                transitions.push(Transition::SeverityChanged {
                    from: prev.severity,
                });
                changed = true;
            }
        }
        (AlertState::Firing, None) => {
            let since = prev.keep_firing_since.unwrap_or(now);
            let keep = chrono_duration(rule.keep_firing_for);
            if !rule.keep_firing_for.is_zero() && now.signed_duration_since(since) < keep {
                if prev.keep_firing_since.is_none() {
                    next.keep_firing_since = Some(now);
                    changed = true;
                }
            } else {
                next.state = AlertState::Resolved;
                next.resolved_at = Some(now);
                next.keep_firing_since = None;
                transitions.push(Transition::Resolved);
                changed = true;
            }
        }
        (AlertState::Resolved, _) => unreachable!("filtered by is_active"),
    }
    Step {
        next: Some(next),
        transitions,
        changed,
    }
}

/// No active alert yet: a breach starts one.
fn start(breach: Option<Severity>, fresh: AlertInstance, rule: &Rule, now: DateTime<Utc>) -> Step {
    let Some(sev) = breach else {
        return Step {
            next: None,
            transitions: Vec::new(),
            changed: false,
        };
    };
    let mut next = fresh;
    next.severity = sev;
    next.active_at = now;
    next.fired_at = None;
    next.keep_firing_since = None;
    next.resolved_at = None;
    if rule.pending_for.is_zero() {
        next.state = AlertState::Firing;
        next.fired_at = Some(now);
        Step {
            next: Some(next),
            transitions: vec![Transition::Fired],
            changed: true,
        }
    } else {
        next.state = AlertState::Pending;
        Step {
            next: Some(next),
            transitions: vec![Transition::Pending],
            changed: true,
        }
    }
}

/// The previous alert with this evaluation's value. A missing series keeps its
/// last value. (Texts are rendered by the caller once the severity is known.)
fn refreshed(prev: &AlertInstance, fresh: &AlertInstance, obs: Observation) -> AlertInstance {
    let mut next = prev.clone();
    if matches!(obs, Observation::Value(_) | Observation::Forced(_)) {
        next.value = fresh.value;
    }
    // The rule decides these (a row from an older release may lack them).
    next.format = fresh.format;
    if !fresh.generator_url.is_empty() {
        next.generator_url.clone_from(&fresh.generator_url);
    }
    next
}

fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
