//! "Acknowledged by X": when someone takes a firing alert and its route
//! has `send_acknowledged: true`, the targets that heard of this firing
//! are told who took it (PagerDuty gets an `acknowledge` event for the
//! incident). Targets that never heard of it are not told.

use super::AlertMessage;
use super::pipeline::Pipeline;
use crate::alert::AlertInstance;
use crate::store::StoreError;

/// Writes the notices that `by` took `alert`; returns how many.
pub async fn notify_acknowledged(
    pipeline: &Pipeline,
    alert: &AlertInstance,
    by: &str,
) -> Result<usize, StoreError> {
    let router = pipeline.router();
    let route = router.route(alert);
    if !route.timing.send_acknowledged {
        return Ok(0);
    }
    let Some(msg) = AlertMessage::acknowledged(alert, by) else {
        return Ok(0);
    };
    let since = alert.fired_at.unwrap_or(alert.active_at);
    let heard = pipeline
        .store()
        .notified_targets_since(alert.fingerprint, since)
        .await?;
    let skip: Vec<String> = route
        .recipients
        .iter()
        .map(|r| r.target.clone())
        .filter(|t| !heard.contains(t))
        .collect();
    let rows = router.rows_for(&msg, &skip);
    for r in &rows {
        tracing::info!(fingerprint = %alert.fingerprint, alert = %alert.alert, target_name = %r.target, "acknowledgement notice");
    }
    let n = rows.len();
    pipeline.enqueue(rows).await?;
    Ok(n)
}
