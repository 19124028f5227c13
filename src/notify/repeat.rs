//! Repeats: a route with `repeat_interval` notifies a still-firing alert
//! again, to each target that already heard of this firing, once the last
//! message to it is that old — at most `repeat_limit` times per firing.
//! Silenced, inhibited and acknowledged alerts are not repeated (an
//! acknowledgement holds until the alert resolves or escalates).

use chrono::{DateTime, Utc};

use super::AlertMessage;
use super::pipeline::Firing;
use super::pipeline::Pipeline;
use crate::alert::{AlertEvent, AlertState, Transition};
use crate::store::StoreError;

/// Writes the repeats of `firing` alerts due at `now`; returns how many.
pub async fn repeat_due(
    pipeline: &Pipeline,
    firing: Firing<'_>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let router = pipeline.router();
    if !router.has_repeats() {
        return Ok(0);
    }
    let firing = firing();
    if firing.is_empty() {
        return Ok(0);
    }
    let taken = pipeline.store().acknowledgements().await?;
    let mut repeats = Vec::new();
    for a in &firing {
        if taken
            .get(&a.fingerprint)
            .is_some_and(|ack| ack.holds(a.severity))
        {
            continue;
        }
        let route = router.route(a);
        let Some(interval) = route.timing.repeat_interval else {
            continue;
        };
        let labels = a.output_labels();
        if router.silenced_by(&labels).is_some()
            || router.inhibited_by(a.fingerprint, &labels).is_some()
        {
            continue;
        }
        let interval = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
        let since = a.fired_at.unwrap_or(a.active_at);
        let sent = pipeline
            .store()
            .notifications_per_target_since(a.fingerprint, since)
            .await?;
        let due: Vec<String> = sent
            .into_iter()
            .filter(|(target, count, last)| {
                route.recipients.iter().any(|r| &r.target == target)
                    && route
                        .timing
                        .repeat_limit
                        .is_none_or(|cap| count.saturating_sub(1) < cap)
                    && *last + interval <= now
            })
            .map(|(t, _, _)| t)
            .collect();
        if due.is_empty() {
            continue;
        }
        let event = AlertEvent {
            alert: a.clone(),
            before: Some(AlertState::Firing),
            transition: Transition::Fired,
        };
        let Some(msg) = AlertMessage::for_event(&event) else {
            continue;
        };
        let skip: Vec<String> = route
            .recipients
            .iter()
            .map(|r| r.target.clone())
            .filter(|t| !due.contains(t))
            .collect();
        let rows = router.rows_for(&msg, &skip);
        for r in &rows {
            tracing::info!(fingerprint = %a.fingerprint, alert = %a.alert, target_name = %r.target, "repeat notification");
        }
        repeats.extend(rows);
    }
    let n = repeats.len();
    pipeline.enqueue(repeats).await?;
    Ok(n)
}
