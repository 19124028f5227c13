//! The wall clock against the boot clock: notices when the wall clock steps
//! (an NTP step, `date -s`, a VM restored from a snapshot).
//!
//! Timers never wait on the wall clock (see [`crate::schedule`]); this module
//! only tells the parts that keep wall-clock stamps (heartbeat due times) by
//! how much the clock stepped, so they can shift them. The boot clock
//! (`CLOCK_BOOTTIME`) also runs while the machine is suspended, so a resume
//! from suspend is *not* a step: time really passed, and a check that missed
//! its ping meanwhile is reported.
//!
//! One process has one wall clock, so the watch is process-wide: every
//! observer sees the same total of steps ([`total_step_ms`]) and applies the part
//! it has not applied yet.

use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A difference between the two clocks larger than this between two
/// readings is a step (slewing, at most 0.5 ms/s, never gets near it).
pub const STEP_THRESHOLD: Duration = Duration::from_secs(1);

/// Two readings (boot clock, wall clock) apart in time; what the wall clock
/// did between them beyond what the boot clock did is a step.
#[derive(Debug, Default)]
pub struct StepDetector {
    last: Option<(Duration, DateTime<Utc>)>,
    /// Sum of all steps seen, in milliseconds (forward positive).
    total_ms: i64,
    steps: u64,
}

impl StepDetector {
    /// Takes a reading; returns the step since the last reading, if any.
    pub fn observe(&mut self, boot: Duration, wall: DateTime<Utc>) -> Option<chrono::Duration> {
        let last = self.last.replace((boot, wall));
        let (last_boot, last_wall) = last?;
        let boot_ms = i64::try_from(boot.saturating_sub(last_boot).as_millis()).ok()?;
        let wall_ms = (wall - last_wall).num_milliseconds();
        let step_ms = wall_ms.saturating_sub(boot_ms);
        if step_ms.unsigned_abs() <= STEP_THRESHOLD.as_millis() as u64 {
            return None;
        }
        self.total_ms = self.total_ms.saturating_add(step_ms);
        self.steps += 1;
        Some(chrono::Duration::milliseconds(step_ms))
    }

    pub fn total_ms(&self) -> i64 {
        self.total_ms
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }
}

static WATCH: LazyLock<Mutex<StepDetector>> = LazyLock::new(Mutex::default);

/// The boot clock: monotonic, and counting time suspended.
pub fn boot_time() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } == 0 {
            return Duration::new(
                ts.tv_sec.max(0) as u64,
                ts.tv_nsec.clamp(0, 999_999_999) as u32,
            );
        }
    }
    static START: LazyLock<std::time::Instant> = LazyLock::new(std::time::Instant::now);
    START.elapsed()
}

/// Reads both clocks; logs and counts a step. Cheap; call it at least every
/// second (the scheduler does) and before using wall-clock stamps.
pub fn observe() -> DateTime<Utc> {
    let mut w = WATCH.lock().unwrap_or_else(|p| p.into_inner());
    let wall = Utc::now();
    if let Some(step) = w.observe(boot_time(), wall) {
        tracing::warn!(
            step_seconds = step.num_milliseconds() as f64 / 1000.0,
            now = %wall,
            "the wall clock stepped; interval groups keep their pace, cron groups continue from the new time, heartbeat due times move with the clock"
        );
    }
    wall
}

/// Sum of the steps seen so far (forward positive), in milliseconds.
pub fn total_step_ms() -> i64 {
    WATCH.lock().unwrap_or_else(|p| p.into_inner()).total_ms()
}

/// Steps seen since start (`tocsin_clock_steps_total`).
pub fn steps() -> u64 {
    WATCH.lock().unwrap_or_else(|p| p.into_inner()).steps()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn steps_are_told_apart_from_time_passing() {
        let mut d = StepDetector::default();
        assert_eq!(d.observe(Duration::from_secs(10), at(0)), None);
        assert_eq!(d.observe(Duration::from_secs(11), at(1)), None);
        // An hour asleep: both clocks moved.
        assert_eq!(d.observe(Duration::from_secs(3611), at(3601)), None);
        // Forward step of one hour during one second.
        assert_eq!(
            d.observe(Duration::from_secs(3612), at(7202)),
            Some(chrono::Duration::seconds(3600))
        );
        // Backward step of 30 minutes.
        assert_eq!(
            d.observe(Duration::from_secs(3613), at(5403)),
            Some(chrono::Duration::seconds(-1800))
        );
        assert_eq!(d.total_ms(), 1_800_000);
        assert_eq!(d.steps(), 2);
        // Slewing a few milliseconds is no step.
        assert_eq!(
            d.observe(
                Duration::from_millis(3_614_000),
                at(5404) + chrono::Duration::milliseconds(3)
            ),
            None
        );
    }
}
