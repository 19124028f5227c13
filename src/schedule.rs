//! Runs each rule group on its schedule: one tokio task per group.
//!
//! - `interval` groups wait on the monotonic clock (`tokio::time::sleep_until`
//!   on an `Instant`), so a step of the wall clock, either way, changes nothing
//!   about their pace. The first evaluation runs right at start, so nothing
//!   waits a whole interval. Ticks the process could not keep (it was stopped,
//!   or the machine was too busy) are counted as missed, never bunched up.
//! - `cron` groups compute each due time with croner in the group's time zone
//!   (chrono-tz; right across DST), and sleep towards it on the monotonic
//!   clock at most a second at a time, comparing with the wall clock on every
//!   wake-up: they run once per due time, never early, and after a step
//!   continue from the new time. Due times a forward step jumps over are
//!   counted as missed (one evaluation runs for them); after a backward step
//!   longer than the group's period the group continues from the new time,
//!   and a shorter one does not run a due time again.
//!
//! tokio-cron-scheduler is not used: it compares wall-clock ticks (a job runs
//! only while `last_tick <= next_tick`), so a forward step stopped every
//! interval job for good and a backward step stalled all of them; its
//! one-shot delays are rounded so cron groups ran early and several times per
//! due time.
//!
//! Evaluations run as their own tasks, so a slow group never delays another;
//! an evaluation still running at its next tick makes that tick count as
//! missed. A watcher reads the clocks every second so steps are noticed and
//! logged even when no cron group runs ([`crate::clock`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::eval::Engine;
use crate::rules::{Group, Schedule};

#[derive(Debug, thiserror::Error)]
#[error("scheduler: {0}")]
pub struct ScheduleError(String);

/// How often the clocks are compared at least.
const CLOCK_CHECK: Duration = Duration::from_secs(1);

/// Skipped cron times are counted one by one up to this many, then estimated.
const MAX_COUNTED: u64 = 100_000;

pub struct Scheduler {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Scheduler {
    /// Schedules every group of the engine's rules and starts ticking.
    pub async fn start(engine: Arc<Engine>) -> Result<Scheduler, ScheduleError> {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for group in engine.rules().groups.clone() {
            let task = match &group.schedule {
                Schedule::Every(every) => {
                    if every.is_zero() {
                        return Err(ScheduleError(format!(
                            "group {}: interval must be more than 0",
                            group.name
                        )));
                    }
                    tokio::spawn(run_interval(
                        Arc::clone(&engine),
                        Arc::clone(&group),
                        *every,
                        stop_rx.clone(),
                    ))
                }
                Schedule::Cron { .. } => {
                    // Fails now, not later, when the expression has no next time.
                    next_after(&group, crate::clock::observe())?;
                    tokio::spawn(run_cron(
                        Arc::clone(&engine),
                        Arc::clone(&group),
                        stop_rx.clone(),
                    ))
                }
            };
            tasks.push(task);
        }
        tasks.push(tokio::spawn(watch_clock(Arc::clone(&engine), stop_rx)));
        Ok(Scheduler { stop, tasks })
    }

    /// Stops every group's timer (evaluations already running finish).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::warn!(error = %e, "a scheduler task did not stop cleanly");
            }
        }
    }
}

fn spawn_evaluation(engine: &Arc<Engine>, group: &Arc<Group>, now: DateTime<Utc>) {
    let (engine, group) = (Arc::clone(engine), Arc::clone(group));
    tokio::spawn(async move {
        engine.evaluate_group(&group, now).await;
    });
}

/// Sleeps until `until` (monotonic); false when told to stop.
async fn sleep_until(until: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep_until(until) => true,
        _ = stop.changed() => false,
    }
}

async fn run_interval(
    engine: Arc<Engine>,
    group: Arc<Group>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut next = Instant::now();
    loop {
        if !sleep_until(next, &mut stop).await {
            return;
        }
        let (due, missed) = interval_step(next, Instant::now(), every);
        if missed > 0 {
            engine.record_missed(&group.name, missed);
            tracing::warn!(group = %group.name, missed, "evaluations missed: the process fell behind");
        }
        next = due;
        spawn_evaluation(&engine, &group, crate::clock::observe());
    }
}

/// The next due instant after running the tick due at `due` at `now`, and
/// how many ticks were passed over (never run twice to catch up).
fn interval_step(due: Instant, now: Instant, every: Duration) -> (Instant, u64) {
    let late = now.saturating_duration_since(due);
    let missed = (late.as_nanos() / every.as_nanos().max(1)) as u64;
    let skip = every.saturating_mul(u32::try_from(missed.saturating_add(1)).unwrap_or(u32::MAX));
    (due + skip, missed)
}

async fn run_cron(engine: Arc<Engine>, group: Arc<Group>, mut stop: watch::Receiver<bool>) {
    let mut cron = match CronTimes::start(&group, crate::clock::observe()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(group = %group.name, error = %e, "cron group stopped");
            return;
        }
    };
    loop {
        let now = crate::clock::observe();
        match cron.poll(&group, now) {
            Ok(Poll::Run { missed }) => {
                if missed > 0 {
                    engine.record_missed(&group.name, missed);
                    tracing::warn!(group = %group.name, missed, "cron times passed over (the wall clock stepped forward, or the process fell behind)");
                }
                spawn_evaluation(&engine, &group, now);
                continue;
            }
            Ok(Poll::Wait(wait)) => {
                let wait = wait.min(CLOCK_CHECK);
                if !sleep_until(Instant::now() + wait, &mut stop).await {
                    return;
                }
            }
            Err(e) => {
                tracing::error!(group = %group.name, error = %e, "cron group stopped");
                return;
            }
        }
    }
}

/// What a cron group does now.
#[derive(Debug, PartialEq)]
enum Poll {
    /// Evaluate once; `missed` due times before this one were passed over.
    Run { missed: u64 },
    /// Nothing due yet: look again after at most this long.
    Wait(Duration),
}

/// A cron group's due times against the wall clock (pure, for tests).
#[derive(Debug)]
struct CronTimes {
    /// The latest due time run (or the start time).
    last: DateTime<Utc>,
    next: DateTime<Utc>,
    period: chrono::Duration,
}

impl CronTimes {
    fn start(group: &Group, now: DateTime<Utc>) -> Result<CronTimes, ScheduleError> {
        let next = next_after(group, now)?;
        let period = chrono::Duration::from_std(group.schedule.nominal_period())
            .unwrap_or(chrono::Duration::seconds(60));
        Ok(CronTimes {
            last: now,
            next,
            period,
        })
    }

    fn poll(&mut self, group: &Group, now: DateTime<Utc>) -> Result<Poll, ScheduleError> {
        if now >= self.next {
            // Every due time up to now: run once, count the others.
            let mut latest = self.next;
            let mut missed = 0u64;
            loop {
                let after = next_after(group, latest)?;
                if after > now {
                    break;
                }
                missed += 1;
                latest = after;
                if missed >= MAX_COUNTED {
                    let rest =
                        (now - latest).num_milliseconds() / self.period.num_milliseconds().max(1);
                    missed = missed.saturating_add(u64::try_from(rest).unwrap_or(0));
                    latest = now;
                    break;
                }
            }
            self.last = latest;
            self.next = next_after(group, latest)?;
            return Ok(Poll::Run { missed });
        }
        if now < self.last && self.last - now > self.period {
            // Stepped back further than a period: go on from the new time
            // rather than wait for the old one.
            self.last = now;
            self.next = next_after(group, now)?;
        }
        Ok(Poll::Wait(
            (self.next - now).to_std().unwrap_or(Duration::ZERO),
        ))
    }
}

/// The group's first due time strictly after `t`.
fn next_after(group: &Group, t: DateTime<Utc>) -> Result<DateTime<Utc>, ScheduleError> {
    let Schedule::Cron {
        cron,
        timezone,
        expr,
    } = &group.schedule
    else {
        return Err(ScheduleError(format!(
            "group {} has no cron schedule",
            group.name
        )));
    };
    // croner keeps the sub-second part of its start; due times are whole seconds.
    let t = t.trunc_subsecs(0);
    cron.find_next_occurrence(&t.with_timezone(timezone), false)
        .map(|n| n.with_timezone(&Utc))
        .map_err(|e| {
            ScheduleError(format!(
                "group {}: no next time for cron {expr:?} after {t}: {e}",
                group.name
            ))
        })
}

/// Compares the clocks every second (steps are logged and heartbeat due
/// times follow them even when no group looks at the wall clock).
async fn watch_clock(engine: Arc<Engine>, mut stop: watch::Receiver<bool>) {
    loop {
        engine.follow_clock();
        if !sleep_until(Instant::now() + CLOCK_CHECK, &mut stop).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn group(expr: &str) -> Group {
        Group {
            name: "g".into(),
            file: Default::default(),
            schedule: Schedule::Cron {
                expr: expr.into(),
                cron: Box::new(crate::rules::load::parse_cron(expr).unwrap()),
                timezone: chrono_tz::UTC,
            },
            labels: Default::default(),
            recording_rules: Vec::new(),
            limit: 0,
            query_offset: Duration::ZERO,
            rules: vec![],
        }
    }

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
    }

    /// Drives a cron group with a wall clock that reads `clock(i)` on the
    /// i-th look; returns the wall times it ran at and the missed count.
    fn drive(expr: &str, looks: &[i64]) -> (Vec<i64>, u64) {
        let g = group(expr);
        let mut c = CronTimes::start(&g, at(looks[0])).unwrap();
        let (mut runs, mut missed) = (vec![], 0);
        for &ms in &looks[1..] {
            if let Poll::Run { missed: m } = c.poll(&g, at(ms)).unwrap() {
                runs.push(ms);
                missed += m;
            }
        }
        (runs, missed)
    }

    #[test]
    fn once_per_due_time_never_early() {
        // Looks every 100 ms for 10 s, starting 0.35 s into a second.
        let looks: Vec<i64> = (0..100).map(|i| 350 + i * 100).collect();
        let (runs, missed) = drive("* * * * * *", &looks);
        assert_eq!(runs.len(), 10, "{runs:?}");
        assert!(
            runs.iter().all(|ms| ms % 1000 < 100),
            "never early: {runs:?}"
        );
        assert_eq!(missed, 0);
        let (runs, _) = drive("*/2 * * * * *", &looks);
        assert_eq!(runs.len(), 5, "{runs:?}");
        let (runs, _) = drive("*/5 * * * * *", &looks);
        assert_eq!(runs.len(), 2, "{runs:?}");
    }

    #[test]
    fn a_forward_step_runs_once_and_counts_the_skipped_times() {
        // Every 5 s; at 12.3 s the clock jumps one hour forward.
        let mut looks: Vec<i64> = (0..124).map(|i| i * 100).collect();
        looks.extend((0..100).map(|i| 3_612_400 + i * 100));
        let (runs, missed) = drive("*/5 * * * * *", &looks);
        // 5 s, 10 s; then once at the step (3 612.4 s) for the 720 due
        // times from 15 s to 3 610 s (719 of them counted as missed);
        // then 3 615 s and 3 620 s.
        assert_eq!(runs, vec![5000, 10000, 3_612_400, 3_615_000, 3_620_000]);
        assert_eq!(missed, 719);
    }

    #[test]
    fn a_backward_step_continues_from_the_new_time() {
        // Every 5 s; at 12.3 s the clock steps back one hour.
        let mut looks: Vec<i64> = (0..124).map(|i| i * 100).collect();
        looks.extend((0..100).map(|i| -3_587_600 + i * 100));
        let (runs, missed) = drive("*/5 * * * * *", &looks);
        assert_eq!(runs, vec![5000, 10000, -3_585_000, -3_580_000]);
        assert_eq!(missed, 0);
    }

    #[test]
    fn a_short_backward_step_does_not_repeat_a_due_time() {
        // Every 5 s; just after the 10 s run the clock steps back 2 s.
        let mut looks: Vec<i64> = (0..101).map(|i| i * 100).collect();
        looks.extend((0..80).map(|i| 8_100 + i * 100));
        let (runs, _) = drive("*/5 * * * * *", &looks);
        assert_eq!(runs, vec![5000, 10000, 15000], "10 s is not run twice");
    }

    #[test]
    fn intervals_skip_what_they_cannot_keep() {
        let t0 = Instant::now();
        let every = Duration::from_secs(1);
        assert_eq!(interval_step(t0, t0, every), (t0 + every, 0));
        let (next, missed) = interval_step(t0, t0 + Duration::from_millis(3500), every);
        assert_eq!(missed, 3);
        assert_eq!(next, t0 + Duration::from_secs(4));
    }
}
