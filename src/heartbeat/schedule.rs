//! When a check's next ping is due: `every` a fixed period after the last
//! signal, or the next `cron` occurrence after it in the check's time zone.
//!
//! Cron occurrences are computed afresh for every ping with croner in the
//! zone's rules (chrono-tz), so they stay right across DST changes: a daily
//! 04:00 Europe/Berlin backup is due at 03:00 UTC in winter and 02:00 UTC in
//! summer. A local time that does not exist (spring forward) runs at the first
//! valid time after the gap; one that exists twice (fall back) runs once, at
//! the first of the two, as classic cron does.

use chrono::{DateTime, Utc};

use crate::rules::Schedule;

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Schedule::Every(a), Schedule::Every(b)) => a == b,
            (
                Schedule::Cron {
                    expr: a,
                    timezone: ta,
                    ..
                },
                Schedule::Cron {
                    expr: b,
                    timezone: tb,
                    ..
                },
            ) => a == b && ta == tb,
            _ => false,
        }
    }
}

/// A check's schedule is the rule files' [`Schedule`]: `every` (a period
/// after the previous signal) or `cron` in a time zone.
impl Schedule {
    /// When the next ping is expected after a signal at `last` (before the
    /// grace period). `None` when the cron expression never matches again.
    pub fn next_due(&self, last: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(period) => {
                last.checked_add_signed(chrono::Duration::from_std(*period).ok()?)
            }
            Schedule::Cron { cron, timezone, .. } => cron
                .find_next_occurrence(&last.with_timezone(timezone), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// The period in seconds (`every` checks only).
    pub fn period_seconds(&self) -> Option<f64> {
        match self {
            Schedule::Every(d) => Some(d.as_secs_f64()),
            Schedule::Cron { .. } => None,
        }
    }

    /// The cron expression and its zone (`cron` checks only).
    pub fn cron(&self) -> Option<(&str, chrono_tz::Tz)> {
        match self {
            Schedule::Every(_) => None,
            Schedule::Cron { expr, timezone, .. } => Some((expr, *timezone)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::rules::load::parse_cron;

    fn cron(expr: &str, tz: &str) -> Schedule {
        Schedule::Cron {
            expr: expr.into(),
            cron: Box::new(parse_cron(expr).unwrap()),
            timezone: chrono_tz::Tz::from_str(tz).unwrap(),
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn every_is_the_period_after_the_last_signal() {
        let s = Schedule::Every(Duration::from_secs(3600));
        assert_eq!(
            s.next_due(utc(2026, 1, 1, 10, 0, 30)),
            Some(utc(2026, 1, 1, 11, 0, 30))
        );
    }

    #[test]
    fn daily_cron_follows_berlin_into_summer_time() {
        // Europe/Berlin switches to CEST on Sunday 2026-03-29 at 02:00 local.
        let s = cron("0 0 4 * * *", "Europe/Berlin");
        // Saturday's 04:00 CET is 03:00 UTC; the run pinged at 03:00:30 UTC.
        let due = s.next_due(utc(2026, 3, 28, 3, 0, 30)).unwrap();
        // Sunday's 04:00 is CEST: 02:00 UTC, an hour earlier in UTC. A zone
        // frozen at its winter offset would say 03:00 UTC.
        assert_eq!(due, utc(2026, 3, 29, 2, 0, 0));
        // and the day after stays on summer time
        assert_eq!(
            s.next_due(utc(2026, 3, 29, 2, 5, 0)).unwrap(),
            utc(2026, 3, 30, 2, 0, 0)
        );
    }

    #[test]
    fn daily_cron_follows_berlin_back_to_winter_time() {
        // CEST ends on Sunday 2026-10-25 at 03:00 local (back to 02:00).
        let s = cron("0 0 4 * * *", "Europe/Berlin");
        let due = s.next_due(utc(2026, 10, 24, 2, 0, 30)).unwrap();
        assert_eq!(due, utc(2026, 10, 25, 3, 0, 0), "04:00 CET = 03:00 UTC");
    }

    #[test]
    fn a_time_in_the_spring_gap_runs_right_after_it() {
        // 02:30 does not exist in Berlin on 2026-03-29: due at 03:00 CEST (01:00 UTC).
        let s = cron("0 30 2 * * *", "Europe/Berlin");
        let due = s.next_due(utc(2026, 3, 28, 1, 31, 0)).unwrap();
        assert_eq!(due, utc(2026, 3, 29, 1, 0, 0));
    }

    #[test]
    fn a_time_in_the_autumn_overlap_is_due_once() {
        // 02:30 happens twice in Berlin on 2026-10-25 (00:30 UTC in CEST, 01:30
        // UTC in CET): due at the first; after it, the next is the day after.
        let s = cron("0 30 2 * * *", "Europe/Berlin");
        let first = s.next_due(utc(2026, 10, 24, 0, 31, 0)).unwrap();
        assert_eq!(first, utc(2026, 10, 25, 0, 30, 0));
        let next = s.next_due(utc(2026, 10, 25, 0, 30, 5)).unwrap();
        assert_eq!(next, utc(2026, 10, 26, 1, 30, 0), "02:30 CET on Monday");
    }
}
