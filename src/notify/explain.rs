//! "Who would receive this?": the route an alert with given labels and
//! severity takes, its recipients, and whether a silence, an inhibiting
//! alert or the route's time windows hold it back now. The console's
//! explain form and `tocsin route explain` print this same answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Router;
use crate::alert::matcher::Op;
use crate::alert::{Fingerprint, Labels, Matcher, Severity};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Explanation {
    /// The scope that decided (`{vault="v-prod"}`), `default` or `all`.
    pub scope: String,
    /// Who hears it (targets, contacts, `NAME via TARGET` for mentions).
    pub recipients: Vec<String>,
    /// The silence that holds it back now, if any.
    pub silenced_by: Option<String>,
    /// The firing alert that would inhibit it now, if any.
    pub inhibited_by: Option<String>,
    /// Whether the route's time windows let it through now.
    pub window_open: bool,
    pub repeat_interval_seconds: Option<u64>,
    pub send_resolved: bool,
}

impl Explanation {
    /// Whether someone is told now.
    pub fn notified(&self) -> bool {
        !self.recipients.is_empty()
            && self.silenced_by.is_none()
            && self.inhibited_by.is_none()
            && self.window_open
    }
}

/// The answer for an alert with `labels` (its `alertname` among them) at
/// `severity`, at `now`.
pub fn explain(
    router: &Router,
    labels: &Labels,
    severity: Severity,
    now: DateTime<Utc>,
) -> Explanation {
    let mut labels = labels.clone();
    labels
        .entry("severity".into())
        .or_insert_with(|| severity.as_str().into());
    let route = router.route_of(&labels, severity);
    Explanation {
        recipients: route.recipient_names(),
        silenced_by: router.silenced_by(&labels),
        // No alert has fingerprint 0: every firing alert may inhibit it.
        inhibited_by: router.inhibited_by(Fingerprint(0), &labels),
        window_open: route.timing.is_open(now),
        repeat_interval_seconds: route.timing.repeat_interval.map(|d| d.as_secs()),
        send_resolved: route.timing.send_resolved,
        scope: route.scope,
    }
}

/// Labels written `name=value`, one per line or comma-separated (values may
/// be quoted), as the explain form and `--label` take them.
pub fn labels_from_text(text: &str) -> Result<Labels, String> {
    let mut labels = Labels::new();
    for m in Matcher::parse_list(text)? {
        if m.op != Op::Eq {
            return Err(format!("{m}: labels are name=value"));
        }
        labels.insert(m.name.clone(), m.value.clone());
    }
    Ok(labels)
}
