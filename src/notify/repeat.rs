//! Repeats: a route with `repeat_interval` notifies a still-firing alert
//! again, to each target that already heard of this firing, once the last
//! message to it is that old — at most `repeat_limit` times per firing.
//! Silenced, inhibited and acknowledged alerts are not repeated (an
//! acknowledgement holds until the alert resolves or escalates).
//!
//! Looking costs a read of each firing alert's notifications, so it is not
//! done every second: [`RepeatSchedule`] keeps when the next repeat can be
//! due at the earliest (the earliest of what the last look found, the
//! shortest interval from now, as any message sent meanwhile is at least
//! that far from due, and [`LOOK_AT_LEAST_EVERY`]). An ended silence or
//! inhibition, an acknowledgement given back and a reload make it look at
//! once; anything else that holds a repeat back is looked at again within
//! [`LOOK_AT_LEAST_EVERY`].

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::AlertMessage;
use super::pipeline::Firing;
use super::pipeline::Pipeline;
use crate::alert::{AlertEvent, AlertState, Transition};
use crate::store::StoreError;

/// The longest repeats go without a look.
pub const LOOK_AT_LEAST_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// When [`repeat_due`] next has to look (`None`: now).
#[derive(Default)]
pub struct RepeatSchedule {
    next: Mutex<Option<DateTime<Utc>>>,
}

impl RepeatSchedule {
    /// Something may have made repeats due sooner: look at the next call.
    pub fn look_now(&self) {
        *self.lock() = None;
    }

    fn due(&self, now: DateTime<Utc>) -> bool {
        self.lock().is_none_or(|next| next <= now)
    }

    fn set(&self, next: DateTime<Utc>) {
        *self.lock() = Some(next);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<DateTime<Utc>>> {
        self.next.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes the repeats of `firing` alerts due at `now`; returns how many.
pub async fn repeat_due(
    pipeline: &Pipeline,
    firing: Firing<'_>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let router = pipeline.router();
    let Some(shortest) = router.shortest_repeat() else {
        return Ok(0);
    };
    let schedule = pipeline.repeats();
    if !schedule.due(now) {
        return Ok(0);
    }
    let span =
        |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    // Anything sent from now on is at least `shortest` from due.
    let mut next = now
        .checked_add_signed(span(shortest.min(LOOK_AT_LEAST_EVERY)))
        .unwrap_or(now);
    let firing = firing();
    if firing.is_empty() {
        schedule.set(next);
        return Ok(0);
    }
    let taken = pipeline.store().acknowledgements().await?;
    // The alerts that may repeat, and then what each target heard of
    // their firings, read in one go.
    let mut candidates = Vec::new();
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
        candidates.push((a, route, span(interval)));
    }
    let firings: Vec<_> = candidates
        .iter()
        .map(|(a, _, _)| (a.fingerprint, a.fired_at.unwrap_or(a.active_at)))
        .collect();
    let heard = pipeline
        .store()
        .notifications_per_target_since_each(firings)
        .await?;
    let mut repeats = Vec::new();
    for ((a, route, interval), sent) in candidates.into_iter().zip(heard) {
        let mut due: Vec<String> = Vec::new();
        for (target, count, last) in sent {
            let repeats = route.recipients.iter().any(|r| r.target == target)
                && route
                    .timing
                    .repeat_limit
                    .is_none_or(|cap| count.saturating_sub(1) < cap);
            let at = last
                .checked_add_signed(interval)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if !repeats {
                continue;
            }
            if at <= now {
                due.push(target);
            } else {
                next = next.min(at);
            }
        }
        if due.is_empty() {
            continue;
        }
        let event = AlertEvent {
            alert: std::sync::Arc::new(a.clone()),
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
    schedule.set(next);
    Ok(n)
}
