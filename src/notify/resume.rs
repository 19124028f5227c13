//! Notifying what was held back: when a silence ends, an inhibiting alert
//! stops firing or a route's time window opens, each alert that still fires,
//! is neither silenced nor inhibited now, and was not notified to a target of
//! its route since it fired, is notified to that target then — once; nothing
//! already sent is sent again.

use chrono::{DateTime, Utc};

use super::pipeline::Firing;
use super::pipeline::Pipeline;
use crate::alert::{AlertEvent, AlertState, Labels, Severity, Transition};
use crate::store::StoreError;

/// Looks again at the alerts of silences that have ended: each that still
/// fires, is silenced no more, and was not notified to a target of its route
/// since it fired, is notified to that target now. Returns the rows written.
pub async fn resume_ended(
    pipeline: &Pipeline,
    firing: Firing<'_>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let router = pipeline.router();
    let cache = router.silences();
    cache.forget_before(now - chrono::Duration::days(1));
    let ended = cache.take_ended(now);
    if ended.is_empty() {
        return Ok(0);
    }
    // What the silences held back may be due for a repeat.
    pipeline.repeats().look_now();
    let matched = |l: &Labels| ended.iter().any(|s| s.matches(l));
    match notify_unsent(pipeline, firing, &matched).await {
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
    pipeline: &Pipeline,
    firing: Firing<'_>,
) -> Result<usize, StoreError> {
    let router = pipeline.router();
    let index = router.shared().firing;
    if !index.take_recheck() {
        return Ok(0);
    }
    pipeline.repeats().look_now();
    let targets = |l: &Labels| router.may_be_inhibited(l);
    let result = notify_unsent(pipeline, firing, &targets).await;
    if result.is_err() {
        // Looked at again on the next call.
        index.request_recheck();
    }
    result
}

/// Once a minute: notifies firing alerts of routes with time windows that
/// are open now and were held back while they were closed.
pub async fn resume_in_windows(
    pipeline: &Pipeline,
    firing: Firing<'_>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    use std::sync::atomic::Ordering;
    let router = pipeline.router();
    let minute = now.timestamp().div_euclid(60);
    let last = router.shared().window_minute;
    if last.swap(minute, Ordering::Relaxed) == minute || !router.has_windows() {
        return Ok(0);
    }
    let open = |l: &Labels| {
        let severity = l
            .get("severity")
            .map_or(Severity::Warning, |s| Severity::from_prometheus_label(s));
        let t = router.route_of(l, severity).timing;
        t.has_windows() && t.is_open(now)
    };
    notify_unsent(pipeline, firing, &open).await
}

/// Notifies each firing alert that `candidate` selects, that is neither
/// silenced nor inhibited now, to the targets of its route that have not
/// heard of it since it fired.
async fn notify_unsent(
    pipeline: &Pipeline,
    firing: Firing<'_>,
    candidate: &(dyn Fn(&Labels) -> bool + Sync),
) -> Result<usize, StoreError> {
    let router = pipeline.router();
    let mut rows = Vec::new();
    for a in &firing() {
        let labels = a.output_labels();
        if !candidate(&labels)
            || router.silenced_by(&labels).is_some()
            || router.inhibited_by(a.fingerprint, &labels).is_some()
        {
            continue;
        }
        let since = a.fired_at.unwrap_or(a.active_at);
        let heard = pipeline
            .store()
            .notified_targets_since(a.fingerprint, since)
            .await?;
        let event = AlertEvent {
            alert: std::sync::Arc::new(a.clone()),
            before: Some(AlertState::Firing),
            transition: Transition::Fired,
        };
        if let Some(msg) = super::AlertMessage::for_event(&event) {
            rows.extend(router.rows_for(&msg, &heard));
        }
    }
    let n = rows.len();
    if n > 0 {
        tracing::info!(
            rows = n,
            "alerts held back by silences or inhibition notified"
        );
    }
    pipeline.enqueue(rows).await?;
    Ok(n)
}
