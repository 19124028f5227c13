//! Heartbeat rules' series. A condition (`missing`, `failed`, `stuck`,
//! `slow`) over the checks a glob selects gives one sample per check in that
//! condition, read from the checks in memory (no SQLite, no waiting for the
//! ping writer); `sql:` rules run their SELECT on the read-only connection.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::SourceError;
use crate::alert::Sample;
use crate::heartbeat::pattern::glob_match;
use crate::heartbeat::registry::{Checks, Registry};
use crate::heartbeat::state::RunStatus;
use crate::rules::heartbeat::{CHECK_LABEL, HeartbeatCondition, HeartbeatQuery};
use crate::store::Store;

/// What the engine asks about heartbeats.
#[derive(Clone)]
pub struct HeartbeatSource {
    registry: Arc<Registry>,
    reader: Store,
}

impl HeartbeatSource {
    pub fn new(registry: Arc<Registry>, reader: Store) -> HeartbeatSource {
        HeartbeatSource { registry, reader }
    }

    /// Moves the checks' wall-clock stamps after a clock step.
    pub fn follow_clock(&self) {
        self.registry.follow_clock();
    }

    /// The checks in the query's condition at `now`.
    pub fn condition(&self, q: &HeartbeatQuery, now: DateTime<Utc>) -> Vec<Sample> {
        self.registry.follow_clock();
        samples(&self.registry.read(), q, now)
    }

    /// The output tail of each sample's failed run (see [`output_tail`]),
    /// by check name: what `{{ output }}` shows in a `failed` rule's texts.
    /// A read that fails leaves the variable empty (and says so in the log).
    pub async fn failure_outputs(&self, samples: &[Sample]) -> HashMap<String, String> {
        let ids: HashMap<i64, String> = {
            let checks = self.registry.read();
            samples
                .iter()
                .filter_map(|s| s.labels.get(CHECK_LABEL))
                .filter_map(|name| checks.by_name(name).map(|c| (c.def.id, name.clone())))
                .collect()
        };
        if ids.is_empty() {
            return HashMap::new();
        }
        match self
            .reader
            .failure_bodies(ids.keys().copied().collect())
            .await
        {
            Ok(bodies) => bodies
                .into_iter()
                .filter_map(|(id, body)| Some((ids.get(&id)?.clone(), output_tail(&body))))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the output of failed runs");
                HashMap::new()
            }
        }
    }

    /// A `sql:` rule's rows.
    pub async fn sql(&self, sql: &str) -> Result<Vec<Sample>, SourceError> {
        self.reader
            .select_samples(sql.to_string())
            .await
            .map_err(|e| SourceError::Rejected(e.to_string()))
    }
}

/// The most of a run's output `{{ output }}` carries, in bytes (see
/// [`crate::alert::OUTPUT_MAX_BYTES`]).
pub const OUTPUT_TAIL_BYTES: usize = crate::alert::OUTPUT_MAX_BYTES;

/// The end of `output` in at most [`OUTPUT_TAIL_BYTES`]: whole lines where a
/// line break is near, after `…` when something was left out; trailing
/// blank lines dropped.
pub fn output_tail(output: &str) -> String {
    crate::alert::keep_tail(output.trim_end(), OUTPUT_TAIL_BYTES, "…")
}

/// One sample per matching, unpaused check in the condition: labels `check`
/// plus the check's labels; the value as [`HeartbeatCondition`] describes.
pub fn samples(checks: &Checks, q: &HeartbeatQuery, now: DateTime<Utc>) -> Vec<Sample> {
    let mut out = Vec::new();
    for c in checks.iter() {
        let (def, s) = (&c.def, &c.state);
        if s.paused || !glob_match(&q.checks, &def.name) {
            continue;
        }
        let value = match q.condition {
            HeartbeatCondition::Missing => {
                if !s.is_overdue(def.grace, now) {
                    continue;
                }
                s.age(now)
            }
            HeartbeatCondition::Failed => (s.last_status == Some(RunStatus::Fail))
                .then(|| f64::from(s.last_exit_code.unwrap_or(1))),
            HeartbeatCondition::Stuck(limit) => s
                .running_for(now)
                .filter(|secs| *secs > limit.as_secs_f64()),
            HeartbeatCondition::Slow(limit) => s
                .last_duration
                .filter(|d| *d > limit)
                .map(|d| d.as_secs_f64()),
        };
        let Some(value) = value else { continue };
        let mut labels = def.labels.clone();
        labels.insert(CHECK_LABEL.to_string(), def.name.to_string());
        out.push(Sample::new(labels, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::alert::Labels;
    use crate::heartbeat::registry::{Check, CheckDef, Origin};
    use crate::heartbeat::state::{CheckState, Signal};
    use crate::rules::Schedule;

    fn utc(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, s).unwrap()
    }

    fn checks(schedule: Schedule, grace: Duration, pings: &[(&str, DateTime<Utc>)]) -> Checks {
        let mut labels = Labels::new();
        labels.insert("vault".into(), "v1".into());
        let def = CheckDef {
            id: 1,
            name: "backup-v1-db".into(),
            uuid: uuid::Uuid::new_v4(),
            slug: None,
            origin: Origin::Config,
            schedule,
            grace,
            labels,
            created_at: utc(1, 0, 0, 0),
            extra: None,
        };
        let mut state = CheckState::default();
        for (action, at) in pings {
            state.apply(
                Signal::from_action(action).unwrap(),
                None,
                *at,
                &def.schedule,
            );
        }
        let mut c = Checks::default();
        c.insert(Check {
            def: Arc::new(def),
            state,
        });
        c
    }

    fn query(condition: HeartbeatCondition) -> HeartbeatQuery {
        HeartbeatQuery {
            checks: "backup-*".into(),
            condition,
        }
    }

    #[test]
    fn a_daily_berlin_backup_is_missing_on_time_across_the_spring_change() {
        // Daily at 04:00 Berlin, 15 minutes of grace. Saturday's run pinged
        // at 03:00:30 UTC (04:00:30 CET); Sunday 04:00 is CEST = 02:00 UTC.
        let berlin = Schedule::Cron {
            expr: "0 0 4 * * *".into(),
            cron: Box::new(crate::rules::load::parse_cron("0 0 4 * * *").unwrap()),
            timezone: chrono_tz::Tz::from_str("Europe/Berlin").unwrap(),
        };
        let c = checks(berlin, Duration::from_secs(900), &[("", utc(28, 3, 0, 30))]);
        let missing = query(HeartbeatCondition::Missing);
        assert!(
            samples(&c, &missing, utc(29, 2, 15, 0)).is_empty(),
            "still in grace"
        );
        let s = samples(&c, &missing, utc(29, 2, 15, 1));
        assert_eq!(s.len(), 1, "missing at 02:15 UTC, not an hour later");
        assert_eq!(s[0].labels["check"], "backup-v1-db");
        assert_eq!(s[0].labels["vault"], "v1");
        assert_eq!(
            s[0].value,
            (23 * 3600 + 14 * 60 + 31) as f64,
            "seconds since the ping"
        );
    }

    #[test]
    fn the_output_tail_keeps_the_last_lines() {
        assert_eq!(output_tail("copying\ndisk full\n\n"), "copying\ndisk full");
        let long: String = (0..4000).map(|i| format!("line {i} 写入失败\n")).collect();
        let tail = output_tail(&long);
        assert!(tail.len() <= OUTPUT_TAIL_BYTES, "{}", tail.len());
        assert!(tail.starts_with("…\nline "), "whole lines: {tail}");
        assert!(tail.ends_with("line 3999 写入失败"), "{tail}");
        // No line break at all: the last bytes, on a character boundary.
        let one = "错".repeat(20_000);
        let tail = output_tail(&one);
        assert!(tail.len() <= OUTPUT_TAIL_BYTES && tail.ends_with('错'));
    }

    #[test]
    fn failed_stuck_and_slow() {
        let hourly = Schedule::Every(Duration::from_secs(3600));
        let t0 = utc(10, 12, 0, 0);
        let later = |s| t0 + chrono::Duration::seconds(s);
        let c = checks(
            hourly.clone(),
            Duration::ZERO,
            &[("start", t0), ("3", later(600))],
        );
        let failed = samples(&c, &query(HeartbeatCondition::Failed), later(601));
        assert_eq!(failed[0].value, 3.0);
        let slow = query(HeartbeatCondition::Slow(Duration::from_secs(300)));
        assert_eq!(samples(&c, &slow, later(601))[0].value, 600.0);
        let slower = query(HeartbeatCondition::Slow(Duration::from_secs(900)));
        assert!(samples(&c, &slower, later(601)).is_empty());

        let c = checks(hourly, Duration::ZERO, &[("start", t0)]);
        let stuck = query(HeartbeatCondition::Stuck(Duration::from_secs(60)));
        assert!(samples(&c, &stuck, later(60)).is_empty());
        assert_eq!(samples(&c, &stuck, later(61))[0].value, 61.0);
        assert!(samples(&c, &query(HeartbeatCondition::Failed), later(61)).is_empty());
        let other = HeartbeatQuery {
            checks: "db-*".into(),
            condition: HeartbeatCondition::Stuck(Duration::from_secs(60)),
        };
        assert!(
            samples(&c, &other, later(61)).is_empty(),
            "the glob selects"
        );
    }
}
