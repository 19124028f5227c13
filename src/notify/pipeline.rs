//! The notification stage: the one way from alert state changes to the
//! outbox. Whatever changed an alert — an evaluation, the built-in alerts, a
//! reload, a post of external alerts or their expiry — hands its
//! [`StateChanges`] here; the stage logs each transition, routes the events
//! through the [`Router`] in force into outbox rows, commits state, events
//! and rows in one SQLite transaction, and wakes the delivery workers.
//! Repeats ([`super::repeat`]) and alerts held back by silences, inhibition
//! or time windows ([`super::resume`]) write their rows through it too.
//!
//! Evaluation never routes; this stage never evaluates.

use std::sync::{Arc, RwLock};

use super::Router;
use crate::alert::{AlertEvent, AlertInstance, Fingerprint, StateChanges};
use crate::store::external::Expiry;
use crate::store::outbox::NewNotification;
use crate::store::{Store, StoreError};

/// The firing alerts, asked for only when there is something to look at.
pub type Firing<'a> = &'a (dyn Fn() -> Vec<AlertInstance> + Sync);

pub struct Pipeline {
    store: Store,
    router: RwLock<Arc<Router>>,
    /// When [`super::repeat::repeat_due`] next has to look.
    repeats: super::repeat::RepeatSchedule,
}

impl Pipeline {
    pub fn new(store: Store, router: Arc<Router>) -> Pipeline {
        Pipeline {
            store,
            router: RwLock::new(router),
            repeats: Default::default(),
        }
    }

    /// The router in force.
    pub fn router(&self) -> Arc<Router> {
        Arc::clone(&self.router.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Routes with `router` from now on (a reload), and wakes its workers.
    pub fn set_router(&self, router: Arc<Router>) {
        *self.router.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&router);
        self.repeats.look_now();
        router.wake_targets();
    }

    /// When repeats are next looked for.
    pub fn repeats(&self) -> &super::repeat::RepeatSchedule {
        &self.repeats
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Commits `changes` with the outbox rows their events cause.
    pub async fn commit(&self, changes: StateChanges) -> Result<(), StoreError> {
        let (router, rows) = self.route(&changes);
        self.store.commit_changes(changes, rows).await?;
        router.wake_targets();
        Ok(())
    }

    /// Commits changes of external alerts with their outbox rows, their new
    /// expiry times and the expiries that no longer apply.
    pub async fn commit_external(
        &self,
        changes: StateChanges,
        expiries: Vec<Expiry>,
        finished: Vec<Fingerprint>,
    ) -> Result<(), StoreError> {
        let (router, rows) = self.route(&changes);
        self.store
            .commit_external(changes, rows, expiries, finished)
            .await?;
        router.wake_targets();
        Ok(())
    }

    /// Writes rows that no state change causes (repeats, alerts no longer
    /// held back).
    pub async fn enqueue(&self, rows: Vec<NewNotification>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.store.enqueue(rows).await?;
        self.router().wake_targets();
        Ok(())
    }

    fn route(&self, changes: &StateChanges) -> (Arc<Router>, Vec<NewNotification>) {
        changes.events.iter().for_each(log_transition);
        let router = self.router();
        let rows = router.notifications_for(&changes.events);
        (router, rows)
    }
}

fn log_transition(e: &AlertEvent) {
    let (from, to) = e.transition.states(e.before);
    tracing::info!(
        rule = %e.alert.alert,
        group = %e.alert.group,
        fingerprint = %e.alert.fingerprint,
        severity = %e.alert.severity,
        value = e.alert.value,
        from, to,
        "alert transition"
    );
}
