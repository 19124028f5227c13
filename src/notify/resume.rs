//! Notifying what was held back: when a silence ends, an inhibiting alert
//! stops firing or a route's time window opens, each alert that still fires,
//! is neither silenced nor inhibited now, and was not notified to a target of
//! its route since it fired, is notified to that target then — once; nothing
//! already sent is sent again.

use chrono::{DateTime, Utc};

use crate::labels::Labels;

/// Looks again at the alerts of silences that have ended: each that still
/// fires, is silenced no more, and was not notified to a target of its route
/// since it fired, is notified to that target now. Returns the rows written.
pub async fn resume_ended(
    engine: &crate::eval::Engine,
    now: DateTime<Utc>,
) -> Result<usize, crate::store::StoreError> {
    let router = engine.router();
    let cache = router.silences();
    cache.forget_before(now - chrono::Duration::days(1));
    let ended = cache.take_ended(now);
    if ended.is_empty() {
        return Ok(0);
    }
    let matched = |l: &Labels| ended.iter().any(|s| s.matches(l));
    match notify_unsent(engine, &router, &matched, now).await {
        Ok(rows) => Ok(rows),
        Err(e) => {
            // Looked at again on the next call.
            for s in ended {
                cache.put(s);
            }
            Err(e)
        }
    }
}

/// Once an inhibiting alert stops firing: notifies the alerts it held back.
pub async fn resume_uninhibited(
    engine: &crate::eval::Engine,
    now: DateTime<Utc>,
) -> Result<usize, crate::store::StoreError> {
    let router = engine.router();
    let firing = router.shared().firing;
    if !firing.take_recheck() {
        return Ok(0);
    }
    let targets = |l: &Labels| router.may_be_inhibited(l);
    let result = notify_unsent(engine, &router, &targets, now).await;
    if result.is_err() {
        // Looked at again on the next call.
        firing.request_recheck();
    }
    result
}

/// Once a minute: notifies firing alerts of routes with time windows that
/// are open now and were held back while they were closed.
pub async fn resume_in_windows(
    engine: &crate::eval::Engine,
    now: DateTime<Utc>,
) -> Result<usize, crate::store::StoreError> {
    use std::sync::atomic::Ordering;
    let router = engine.router();
    let minute = now.timestamp().div_euclid(60);
    let last = router.shared().window_minute;
    if last.swap(minute, Ordering::Relaxed) == minute || !router.has_windows() {
        return Ok(0);
    }
    let open = |l: &Labels| {
        let severity = l
            .get("severity")
            .map_or(crate::rules::Severity::Warning, |s| {
                crate::rules::Severity::from_prometheus_label(s)
            });
        let t = router.route_of(l, severity).timing;
        t.has_windows() && t.is_open(now)
    };
    notify_unsent(engine, &router, &open, now).await
}

/// Notifies each firing alert that `candidate` selects, that is neither
/// silenced nor inhibited now, to the targets of its route that have not
/// heard of it since it fired.
async fn notify_unsent(
    engine: &crate::eval::Engine,
    router: &super::Router,
    candidate: &(dyn Fn(&Labels) -> bool + Sync),
    now: DateTime<Utc>,
) -> Result<usize, crate::store::StoreError> {
    let mut batch = crate::store::alerts::EvaluationBatch {
        at: now,
        ..Default::default()
    };
    for a in engine.firing_alerts() {
        let labels = a.output_labels();
        if !candidate(&labels)
            || router.silenced_by(&labels).is_some()
            || router.inhibited_by(a.fingerprint, &labels).is_some()
        {
            continue;
        }
        let since = a.fired_at.unwrap_or(a.active_at);
        let heard = engine
            .store()
            .notified_targets_since(a.fingerprint, since)
            .await?;
        let event = crate::eval::AlertEvent {
            alert: a.clone(),
            before: Some(crate::eval::AlertState::Firing),
            transition: crate::eval::Transition::Fired,
        };
        if let Some(msg) = super::AlertMessage::for_event(&event) {
            batch.notifications.extend(router.rows_for(&msg, &heard));
        }
    }
    let rows = batch.notifications.len();
    if rows > 0 {
        tracing::info!(rows, "alerts held back by silences or inhibition notified");
    }
    engine.store().commit_evaluation(batch).await?;
    router.wake_targets();
    Ok(rows)
}
