//! When a group (or a heartbeat check) runs: every fixed period, or at the
//! times of a 6-field cron expression in a time zone.

use std::time::Duration;

/// A group's or check's schedule, checked.
#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron {
        expr: Box<str>,
        cron: Box<croner::Cron>,
        timezone: chrono_tz::Tz,
    },
}

impl Schedule {
    /// A nominal period, used for timeouts and to tell "overrun" apart.
    pub fn nominal_period(&self) -> Duration {
        match self {
            Schedule::Every(d) => *d,
            Schedule::Cron { cron, timezone, .. } => {
                let now = chrono::Utc::now().with_timezone(timezone);
                let next = cron.find_next_occurrence(&now, false).ok();
                let after = next
                    .as_ref()
                    .and_then(|n| cron.find_next_occurrence(n, false).ok());
                match (next, after) {
                    (Some(a), Some(b)) => (b - a).to_std().unwrap_or(Duration::from_secs(60)),
                    _ => Duration::from_secs(60),
                }
            }
        }
    }
}
