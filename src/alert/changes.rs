//! [`StateChanges`]: what one step of the engine changes about alerts — an
//! evaluation, a reload, a post of external alerts, their expiry. The
//! notification stage routes its events and commits everything in one
//! transaction with the outbox rows they cause.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::instance::AlertInstance;
use super::labels::Fingerprint;
use super::transition::AlertEvent;

/// Alert rows to write and delete, and the transitions to record.
#[derive(Debug, Default)]
pub struct StateChanges {
    /// When the changes happened (stamps the events).
    pub at: DateTime<Utc>,
    /// Alerts whose stored row changed.
    pub save: Vec<Arc<AlertInstance>>,
    /// Alerts that are gone (pending ones that cleared).
    pub delete: Vec<Fingerprint>,
    pub events: Vec<AlertEvent>,
}

impl StateChanges {
    /// Nothing changed at `at`, yet.
    pub fn at(at: DateTime<Utc>) -> StateChanges {
        StateChanges {
            at,
            ..StateChanges::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.save.is_empty() && self.delete.is_empty() && self.events.is_empty()
    }
}
