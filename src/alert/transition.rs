//! What changed about an alert: the transition recorded in `alert_events`
//! and, when notifiable, sent.

use std::sync::Arc;

use super::instance::{AlertInstance, AlertState};
use super::severity::Severity;

/// A change worth recording: it goes to `alert_events`, and the notifiable
/// ones to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// inactive → pending
    Pending,
    /// pending → inactive (never notified)
    Cleared,
    /// → firing (from pending, or straight from inactive with `for: 0`)
    Fired,
    /// firing, severity changed
    SeverityChanged { from: Severity },
    /// firing → resolved
    Resolved,
}

impl Transition {
    /// (from_state, to_state) for the event log.
    pub fn states(&self, before: Option<AlertState>) -> (&'static str, &'static str) {
        let from = before.map(AlertState::as_str).unwrap_or("inactive");
        match self {
            Transition::Pending => ("inactive", "pending"),
            Transition::Cleared => ("pending", "inactive"),
            Transition::Fired => (
                if before == Some(AlertState::Pending) {
                    "pending"
                } else {
                    "inactive"
                },
                "firing",
            ),
            Transition::SeverityChanged { .. } => ("firing", "firing"),
            Transition::Resolved => (from, "resolved"),
        }
    }
}

/// A transition of one alert, with the alert as it is afterwards (shared
/// with the row saved for it: a storm of 10 000 new alerts holds each once
/// on its way to the database, not once per list).
#[derive(Debug, Clone)]
pub struct AlertEvent {
    pub alert: Arc<AlertInstance>,
    pub before: Option<AlertState>,
    pub transition: Transition,
}
