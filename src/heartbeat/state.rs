//! A check's state and what a ping does to it, as pure functions of the
//! previous state, the signal and the time (Healthchecks' semantics):
//!
//! - `start` marks a run in progress (with its `rid`); the last ping time stays.
//! - success (`/ping/{key}`, exit code 0) and failure (`/fail`, exit code
//!   1–255) end a run: the last ping time is set, and if a run was started
//!   with the same `rid` (or both without one) its duration is measured. A
//!   failure always ends the running state; a success without a `rid` too.
//! - `log` is recorded and changes nothing.
//! - a success or failure resumes a paused check.
//!
//! The next ping is due a period (or the next cron time) after the latest
//! start, success or failure: a client that reports a start is alive.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rules::Schedule;

/// What a ping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PingKind {
    Success,
    Start,
    Fail,
    Log,
}

impl PingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PingKind::Success => "success",
            PingKind::Start => "start",
            PingKind::Fail => "fail",
            PingKind::Log => "log",
        }
    }

    pub fn parse(s: &str) -> Option<PingKind> {
        match s {
            "success" => Some(PingKind::Success),
            "start" => Some(PingKind::Start),
            "fail" => Some(PingKind::Fail),
            "log" => Some(PingKind::Log),
            _ => None,
        }
    }
}

/// A ping's signal: its kind and, for `/{exit_code}` pings, the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub kind: PingKind,
    pub exit_code: Option<u8>,
}

/// Why the action part of a ping URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// Not an action at all (the URL names no endpoint): 404.
    Unknown,
    /// An exit code above 255: 400, as Healthchecks answers.
    ExitCodeOutOfRange,
}

impl Signal {
    /// The part after the key: `""`, `start`, `fail`, `log`, or an exit code
    /// 0–255 (0 is a success, 1–255 a failure).
    pub fn from_action(action: &str) -> Result<Signal, ActionError> {
        let kind = match action {
            "" => PingKind::Success,
            "start" => PingKind::Start,
            "fail" => PingKind::Fail,
            "log" => PingKind::Log,
            digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                let code: u8 = digits
                    .parse()
                    .map_err(|_| ActionError::ExitCodeOutOfRange)?;
                return Ok(Signal {
                    kind: if code == 0 {
                        PingKind::Success
                    } else {
                        PingKind::Fail
                    },
                    exit_code: Some(code),
                });
            }
            _ => return Err(ActionError::Unknown),
        };
        Ok(Signal {
            kind,
            exit_code: None,
        })
    }
}

/// How the last finished run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Success,
    Fail,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        match s {
            "success" => Some(RunStatus::Success),
            "fail" => Some(RunStatus::Fail),
            _ => None,
        }
    }
}

/// What `/api/v1/heartbeats` says about a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Never started nor pinged: never alerts.
    New,
    /// Pinged, next ping not yet due.
    Up,
    /// The next ping is due, within the grace period.
    Late,
    /// No ping within the period (or since the expected cron time) plus grace.
    Down,
    /// The last run failed.
    Failed,
    /// Started, not finished.
    Running,
    /// Paused: no alerts until resumed or pinged.
    Paused,
}

/// A check's state (what `heartbeat_checks` stores besides its settings).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckState {
    pub paused: bool,
    /// The last success or failure.
    pub last_ping: Option<DateTime<Utc>>,
    /// The run in progress, if any.
    pub last_start: Option<DateTime<Utc>>,
    pub last_start_rid: Option<Uuid>,
    pub last_status: Option<RunStatus>,
    pub last_exit_code: Option<u8>,
    /// Duration of the last run whose start was seen.
    pub last_duration: Option<Duration>,
    /// The next ping is expected by then (grace not included).
    pub due_at: Option<DateTime<Utc>>,
    /// Pings ever received.
    pub pings: u64,
}

impl CheckState {
    /// Applies one ping; returns the duration of the run it ended, if measured.
    pub fn apply(
        &mut self,
        signal: Signal,
        rid: Option<Uuid>,
        at: DateTime<Utc>,
        schedule: &Schedule,
    ) -> Option<Duration> {
        self.pings += 1;
        let mut duration = None;
        match signal.kind {
            PingKind::Log => return None,
            PingKind::Start => {
                self.last_start = Some(at);
                self.last_start_rid = rid;
            }
            PingKind::Success | PingKind::Fail => {
                if let Some(start) = self.last_start {
                    if rid == self.last_start_rid {
                        duration = (at - start).to_std().ok();
                        self.end_run();
                    } else if signal.kind == PingKind::Fail || rid.is_none() {
                        self.end_run();
                    }
                }
                self.last_ping = Some(at);
                self.last_status = Some(if signal.kind == PingKind::Fail {
                    RunStatus::Fail
                } else {
                    RunStatus::Success
                });
                self.last_exit_code = signal.exit_code;
                self.last_duration = duration;
                self.paused = false;
            }
        }
        self.reschedule(schedule);
        duration
    }

    fn end_run(&mut self) {
        self.last_start = None;
        self.last_start_rid = None;
    }

    /// The latest start, success or failure.
    pub fn last_signal(&self) -> Option<DateTime<Utc>> {
        self.last_ping.max(self.last_start)
    }

    /// Recomputes when the next ping is due (after a ping, or when the
    /// schedule changed).
    pub fn reschedule(&mut self, schedule: &Schedule) {
        self.due_at = self.last_signal().and_then(|t| schedule.next_due(t));
    }

    /// Pauses (no alerts) and forgets the running state; a ping resumes.
    pub fn pause(&mut self) {
        self.paused = true;
        self.end_run();
    }

    /// Resumes as a new check: it alerts again only after its next ping.
    pub fn resume(&mut self) {
        *self = CheckState {
            pings: self.pings,
            ..CheckState::default()
        };
    }

    /// The flips (Healthchecks' status changes between up and down, with
    /// their times) that a ping of `kind` at `at` makes, this being the
    /// state before it: a success or failure that changes the status, and
    /// first the going down of a check that fell silent (at its due time
    /// plus grace). Starts and logs flip nothing.
    pub fn flips(
        &self,
        kind: PingKind,
        at: DateTime<Utc>,
        grace: Duration,
    ) -> Vec<(DateTime<Utc>, bool)> {
        let up = match kind {
            PingKind::Success => true,
            PingKind::Fail => false,
            PingKind::Start | PingKind::Log => return Vec::new(),
        };
        let mut out = Vec::new();
        // What Healthchecks would have as the status just before: paused,
        // new (None), down, or up.
        let was_up = if self.paused {
            None
        } else if self.last_status == Some(RunStatus::Fail) {
            Some(false)
        } else if let Some(down_at) = self.down_since(grace).filter(|t| *t < at) {
            out.push((down_at, false));
            Some(false)
        } else if self.last_status.is_none() {
            None
        } else {
            Some(true)
        };
        if was_up != Some(up) {
            out.push((at, up));
        }
        out
    }

    /// When a silent check goes (or went) down: its due time plus grace.
    pub fn down_since(&self, grace: Duration) -> Option<DateTime<Utc>> {
        if self.paused {
            return None;
        }
        self.due_at
            .and_then(|due| due.checked_add_signed(chrono_duration(grace)))
    }

    /// Whether the check is past its due time plus grace (and not paused).
    pub fn is_overdue(&self, grace: Duration, now: DateTime<Utc>) -> bool {
        !self.paused
            && self
                .due_at
                .and_then(|due| due.checked_add_signed(chrono_duration(grace)))
                .is_some_and(|limit| now > limit)
    }

    /// Seconds since the latest start, success or failure.
    pub fn age(&self, now: DateTime<Utc>) -> Option<f64> {
        self.last_signal().map(|t| seconds(now - t))
    }

    /// Seconds the running run has been going.
    pub fn running_for(&self, now: DateTime<Utc>) -> Option<f64> {
        self.last_start.map(|t| seconds(now - t))
    }

    pub fn status(&self, grace: Duration, now: DateTime<Utc>) -> Status {
        if self.paused {
            Status::Paused
        } else if self.last_signal().is_none() {
            Status::New
        } else if self.is_overdue(grace, now) {
            Status::Down
        } else if self.last_start.is_some() {
            Status::Running
        } else if self.last_status == Some(RunStatus::Fail) {
            Status::Failed
        } else if self.due_at.is_some_and(|due| now > due) {
            Status::Late
        } else {
            Status::Up
        }
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn seconds(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    const HOUR: Schedule = Schedule::Every(Duration::from_secs(3600));
    const GRACE: Duration = Duration::from_secs(600);

    fn sig(action: &str) -> Signal {
        Signal::from_action(action).unwrap()
    }

    #[test]
    fn actions_parse_like_healthchecks() {
        assert_eq!(sig("").kind, PingKind::Success);
        assert_eq!(sig("start").kind, PingKind::Start);
        assert_eq!(sig("fail").kind, PingKind::Fail);
        assert_eq!(sig("log").kind, PingKind::Log);
        assert_eq!(
            sig("0"),
            Signal {
                kind: PingKind::Success,
                exit_code: Some(0)
            }
        );
        assert_eq!(
            sig("255"),
            Signal {
                kind: PingKind::Fail,
                exit_code: Some(255)
            }
        );
        assert_eq!(
            Signal::from_action("256"),
            Err(ActionError::ExitCodeOutOfRange)
        );
        assert_eq!(
            Signal::from_action("99999999999999999999"),
            Err(ActionError::ExitCodeOutOfRange)
        );
        for bad in ["stop", "-1", "1.5", "Start"] {
            assert_eq!(Signal::from_action(bad), Err(ActionError::Unknown), "{bad}");
        }
    }

    #[test]
    fn start_then_success_with_the_same_rid_measures_the_run() {
        let rid = Some(Uuid::new_v4());
        let mut s = CheckState::default();
        assert_eq!(s.status(GRACE, t(0)), Status::New);
        assert_eq!(s.apply(sig("start"), rid, t(0), &HOUR), None);
        assert_eq!(s.status(GRACE, t(1)), Status::Running);
        assert_eq!(s.last_ping, None, "a start is not a ping");
        let d = s.apply(sig("0"), rid, t(90), &HOUR);
        assert_eq!(d, Some(Duration::from_secs(90)));
        assert_eq!(s.last_duration, Some(Duration::from_secs(90)));
        assert_eq!(s.last_start, None);
        assert_eq!(s.last_exit_code, Some(0));
        assert_eq!(s.status(GRACE, t(91)), Status::Up);
        assert_eq!(s.pings, 2);
    }

    #[test]
    fn concurrent_runs_pair_by_rid() {
        let (a, b) = (Some(Uuid::new_v4()), Some(Uuid::new_v4()));
        let mut s = CheckState::default();
        s.apply(sig("start"), a, t(0), &HOUR);
        s.apply(sig("start"), b, t(10), &HOUR);
        // run a ends: not the watched run (b is), so no duration and b keeps running
        assert_eq!(s.apply(sig(""), a, t(20), &HOUR), None);
        assert_eq!(s.last_start, Some(t(10)));
        assert_eq!(
            s.apply(sig(""), b, t(40), &HOUR),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn a_failure_always_ends_the_run_and_a_log_changes_nothing() {
        let mut s = CheckState::default();
        s.apply(sig("start"), Some(Uuid::new_v4()), t(0), &HOUR);
        let before = s.clone();
        s.apply(sig("log"), None, t(5), &HOUR);
        assert_eq!(s, CheckState { pings: 2, ..before });
        s.apply(sig("7"), Some(Uuid::new_v4()), t(9), &HOUR);
        assert_eq!(s.last_start, None);
        assert_eq!(s.last_status, Some(RunStatus::Fail));
        assert_eq!(s.last_exit_code, Some(7));
        assert_eq!(s.status(GRACE, t(10)), Status::Failed);
    }

    #[test]
    fn due_late_down_after_period_and_grace() {
        let mut s = CheckState::default();
        s.apply(sig(""), None, t(0), &HOUR);
        assert_eq!(s.due_at, Some(t(3600)));
        assert_eq!(s.status(GRACE, t(3600)), Status::Up);
        assert_eq!(s.status(GRACE, t(3601)), Status::Late);
        assert!(!s.is_overdue(GRACE, t(4200)));
        assert!(s.is_overdue(GRACE, t(4201)));
        assert_eq!(s.status(GRACE, t(4201)), Status::Down);
        assert_eq!(s.age(t(4201)), Some(4201.0));
        // a start proves the client is alive: due again a period later
        s.apply(sig("start"), None, t(5000), &HOUR);
        assert_eq!(s.due_at, Some(t(8600)));
        assert_eq!(s.status(GRACE, t(5001)), Status::Running);
    }

    #[test]
    fn flips_are_healthchecks_status_changes() {
        let mut s = CheckState::default();
        // new -> up at the first success; a start flips nothing
        assert_eq!(s.flips(PingKind::Start, t(0), GRACE), []);
        assert_eq!(s.flips(PingKind::Success, t(0), GRACE), [(t(0), true)]);
        s.apply(sig(""), None, t(0), &HOUR);
        assert_eq!(s.flips(PingKind::Success, t(60), GRACE), []);
        // up -> down at a failure, down -> up at the next success
        assert_eq!(s.flips(PingKind::Fail, t(60), GRACE), [(t(60), false)]);
        s.apply(sig("fail"), None, t(60), &HOUR);
        assert_eq!(s.flips(PingKind::Fail, t(70), GRACE), []);
        assert_eq!(s.flips(PingKind::Success, t(70), GRACE), [(t(70), true)]);
        s.apply(sig(""), None, t(70), &HOUR);
        // silent past period + grace: down then, up at the late ping
        let late = t(70 + 3600 + 600 + 100);
        assert_eq!(
            s.flips(PingKind::Success, late, GRACE),
            [(t(70 + 3600 + 600), false), (late, true)]
        );
        assert_eq!(
            s.flips(PingKind::Fail, late, GRACE),
            [(t(70 + 3600 + 600), false)]
        );
        // a paused check flips to what its ping says
        s.pause();
        assert_eq!(s.flips(PingKind::Success, late, GRACE), [(late, true)]);
    }

    #[test]
    fn pause_silences_until_a_ping_and_resume_starts_over() {
        let mut s = CheckState::default();
        s.apply(sig(""), None, t(0), &HOUR);
        s.pause();
        assert!(!s.is_overdue(GRACE, t(99_999)));
        assert_eq!(s.status(GRACE, t(99_999)), Status::Paused);
        s.apply(sig("start"), None, t(100_000), &HOUR);
        assert_eq!(
            s.status(GRACE, t(100_001)),
            Status::Paused,
            "a start does not resume"
        );
        s.apply(sig(""), None, t(100_010), &HOUR);
        assert_eq!(s.status(GRACE, t(100_011)), Status::Up);
        s.resume();
        assert_eq!(s.status(GRACE, t(999_999)), Status::New);
        assert_eq!(s.pings, 3);
    }
}
