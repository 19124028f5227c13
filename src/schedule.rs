//! Runs each rule group on its schedule with tokio-cron-scheduler.
//!
//! - `interval` groups: a repeated job; the first evaluation also runs right
//!   at start, so nothing waits a whole interval.
//! - `cron` groups: a chain of one-shot jobs, each computing its successor with
//!   croner in the group's time zone (chrono-tz). tokio-cron-scheduler's own
//!   time-zone jobs freeze the UTC offset when created and drift after a DST
//!   change; computing each occurrence afresh stays right across DST.
//!
//! Evaluations run as their own tasks, so a slow group never delays another;
//! an evaluation still running at its next tick makes that tick count as missed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

use crate::eval::Engine;
use crate::rules::{Group, Schedule};

#[derive(Debug, thiserror::Error)]
#[error("scheduler: {0}")]
pub struct ScheduleError(String);

impl From<JobSchedulerError> for ScheduleError {
    fn from(e: JobSchedulerError) -> Self {
        ScheduleError(e.to_string())
    }
}

pub struct Scheduler {
    inner: JobScheduler,
}

impl Scheduler {
    /// Schedules every group of the engine's rules and starts ticking.
    pub async fn start(engine: Arc<Engine>) -> Result<Scheduler, ScheduleError> {
        let inner = JobScheduler::new().await?;
        for group in engine.rules().groups.clone() {
            match &group.schedule {
                Schedule::Every(every) => {
                    let job = interval_job(*every, Arc::clone(&engine), Arc::clone(&group))?;
                    inner.add(job).await?;
                    spawn_evaluation(Arc::clone(&engine), Arc::clone(&group));
                }
                Schedule::Cron { .. } => {
                    schedule_next_cron(inner.clone(), Arc::clone(&engine), Arc::clone(&group))
                        .await?;
                }
            }
        }
        inner.start().await?;
        Ok(Scheduler { inner })
    }

    pub async fn shutdown(mut self) {
        if let Err(e) = self.inner.shutdown().await {
            tracing::warn!(error = %e, "scheduler did not shut down cleanly");
        }
    }
}

fn spawn_evaluation(engine: Arc<Engine>, group: Arc<Group>) {
    tokio::spawn(async move {
        engine.evaluate_group(&group, Utc::now()).await;
    });
}

fn interval_job(
    every: Duration,
    engine: Arc<Engine>,
    group: Arc<Group>,
) -> Result<Job, ScheduleError> {
    Ok(Job::new_repeated_async(every, move |_id, _sched| {
        spawn_evaluation(Arc::clone(&engine), Arc::clone(&group));
        Box::pin(async {})
    })?)
}

/// Adds a one-shot job for the group's next cron occurrence; when it fires it
/// evaluates and schedules the one after.
/// (Boxed: the job's callback schedules the next one, a recursion.)
fn schedule_next_cron(
    sched: JobScheduler,
    engine: Arc<Engine>,
    group: Arc<Group>,
) -> Pin<Box<dyn Future<Output = Result<(), ScheduleError>> + Send>> {
    Box::pin(async move {
        let delay = next_cron_delay(&group)?;
        let job = Job::new_one_shot_async(delay, move |_id, sched| {
            let engine = Arc::clone(&engine);
            let group = Arc::clone(&group);
            Box::pin(async move {
                spawn_evaluation(Arc::clone(&engine), Arc::clone(&group));
                let name = group.name.clone();
                if let Err(e) = schedule_next_cron(sched, engine, group).await {
                    tracing::error!(group = %name, error = %e, "cannot schedule next cron evaluation");
                }
            })
        })?;
        sched.add(job).await?;
        Ok(())
    })
}

/// Time until the group's next cron occurrence, computed in its time zone.
fn next_cron_delay(group: &Group) -> Result<Duration, ScheduleError> {
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
    let now = Utc::now().with_timezone(timezone);
    let next = cron.find_next_occurrence(&now, false).map_err(|e| {
        ScheduleError(format!(
            "group {}: no next time for cron {expr:?}: {e}",
            group.name
        ))
    })?;
    tracing::debug!(group = %group.name, next = %next, "next cron evaluation");
    Ok((next.with_timezone(&Utc) - Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO))
}
