//! Delivery from the outbox: one worker per enabled target takes its due rows
//! (oldest first, as many as the channel takes at once), sends them, and
//! records the outcome: sent; retried later with exponential backoff (doubling
//! from `retry_initial` up to `retry_max`, or what the channel asked for); or
//! failed with the reason. Rows that keep failing past `give_up_after` are
//! given up. Because the outbox is in SQLite, all of this survives a restart.
//!
//! A message carries the due alerts of one route group (see
//! `route_table::Grouping`); channels with rate limits take several due groups
//! per message instead, so that a storm needs few sends.
//!
//! Each worker also keeps its channel's rate limits ([`Limiter`]): when the
//! next send would exceed one, it waits, and the rows stay queued in SQLite
//! (never dropped); what piles up meanwhile goes out together as one message
//! where the channel takes several alerts per message.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::channels::{Channel, Delivery, RateLimit};
use super::message::AlertMessage;
use crate::config::{Config, DeliveryConfig};
use crate::store::Store;
use crate::store::outbox::OutboxRow;

/// How long an idle worker sleeps before looking again without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(30);

/// The delivery workers of the targets in force (one per enabled target).
pub struct Dispatcher {
    workers: Vec<JoinHandle<()>>,
}

/// Delivery counters per target, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryStats(Arc<Mutex<HashMap<String, TargetStats>>>);

#[derive(Debug, Clone, Default)]
pub struct TargetStats {
    /// Alerts delivered.
    pub sent: u64,
    /// Alerts given up (permanent failure or too old).
    pub failed: u64,
    /// Alerts whose send failed and were scheduled again.
    pub retried: u64,
    /// Send requests made, and the time they took.
    pub requests: u64,
    pub request_seconds: f64,
}

impl DeliveryStats {
    fn record(&self, target: &str, f: impl FnOnce(&mut TargetStats)) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(target.to_string()).or_default());
    }

    /// A copy of every target's counters, sorted by target.
    pub fn snapshot(&self) -> Vec<(String, TargetStats)> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = m.iter().map(|(k, s)| (k.clone(), s.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

impl Dispatcher {
    /// Starts a worker for every enabled target (the mail targets of routed
    /// contacts too). `wakers` come from the router.
    pub fn start(
        config: &Config,
        store: Store,
        wakers: &dyn Fn(&str) -> Option<Arc<Notify>>,
        shutdown: watch::Receiver<bool>,
        stats: DeliveryStats,
    ) -> Result<Dispatcher, super::channels::ChannelError> {
        let mut workers = Vec::new();
        for t in config.delivery_targets().filter(|t| t.enabled) {
            stats.record(t.name(), |_| {});
            let channel = Channel::from_config(t, config)?;
            let wake = wakers(t.name()).unwrap_or_else(|| Arc::new(Notify::new()));
            let worker = Worker {
                target: t.name().to_string(),
                limiter: Limiter::new(channel.rate_limits()),
                channel,
                store: store.clone(),
                policy: config.delivery.clone(),
                wake,
                stats: stats.clone(),
            };
            workers.push(tokio::spawn(worker.run(shutdown.clone())));
        }
        Ok(Dispatcher { workers })
    }

    /// Waits for the workers to finish after shutdown was signalled.
    pub async fn join(self) {
        for w in self.workers {
            let _ = w.await;
        }
    }
}

struct Worker {
    target: String,
    channel: Channel,
    limiter: Limiter,
    store: Store,
    policy: DeliveryConfig,
    wake: Arc<Notify>,
    stats: DeliveryStats,
}

impl Worker {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        tracing::debug!(target_name = %self.target, "delivery worker started");
        loop {
            if *shutdown.borrow() {
                return;
            }
            let hold = self.limiter.wait(Instant::now());
            if !hold.is_zero() {
                tracing::debug!(target_name = %self.target, wait_ms = hold.as_millis() as u64, "rate limit: holding queued notifications");
                tokio::select! {
                    _ = tokio::time::sleep(hold) => {}
                    _ = shutdown.changed() => return,
                }
                continue;
            }
            let wait = match self.deliver_due().await {
                Ok(true) => continue, // there may be more due right away
                Ok(false) => self.until_next_due().await,
                Err(e) => {
                    tracing::error!(target_name = %self.target, error = %e, "outbox unavailable");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn until_next_due(&self) -> Duration {
        match self.store.next_due_at(&self.target).await {
            Ok(Some(at)) => (at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(IDLE_POLL),
            _ => IDLE_POLL,
        }
    }

    /// Sends one batch of due rows. Ok(true) when it sent something.
    async fn deliver_due(&mut self) -> Result<bool, crate::store::StoreError> {
        let now = Utc::now();
        // A message is about one route group, as with Alertmanager, except
        // on rate-limited channels: there, due groups share messages so
        // that a storm needs as few sends as possible.
        let one_group = self.channel.rate_limits().is_empty();
        let rows = self
            .store
            .due_notifications(&self.target, now, self.channel.max_batch(), one_group)
            .await?;
        if rows.is_empty() {
            return Ok(false);
        }
        let (rows, messages, corrupt) = decode(rows);
        if !corrupt.is_empty() {
            self.store
                .mark_failed(corrupt, "stored payload cannot be decoded".into())
                .await?;
        }
        if rows.is_empty() {
            return Ok(true);
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let attempt = rows.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
        let started = std::time::Instant::now();
        let outcome = self.channel.send(messages).await;
        // Counted from when the send finished: the receiver got it before
        // then, so the next send can never land inside its window early
        // (counting from the start let a slow request arrive late and the
        // 21st message of a minute be refused).
        self.limiter.record(Instant::now());
        let took = started.elapsed();
        let took_ms = took.as_millis() as u64;
        self.stats.record(&self.target, |s| {
            s.requests += 1;
            s.request_seconds += took.as_secs_f64();
        });
        let n = ids.len() as u64;
        match outcome {
            Delivery::Sent { answer } => {
                tracing::info!(target_name = %self.target, alerts = ids.len(), attempt, took_ms, %answer, "notification sent");
                let mut groups: Vec<String> = rows.iter().map(|r| r.group_key.clone()).collect();
                groups.sort();
                groups.dedup();
                self.store
                    .mark_sent(&self.target, ids, groups, Utc::now(), &answer)
                    .await?;
                self.stats.record(&self.target, |s| s.sent += n);
            }
            Delivery::Failed { reason } => {
                tracing::warn!(target_name = %self.target, alerts = ids.len(), attempt, %reason, "notification failed permanently");
                self.store.mark_failed(ids, reason).await?;
                self.stats.record(&self.target, |s| s.failed += n);
            }
            Delivery::Retry { reason, after } => {
                let oldest = rows.iter().map(|r| r.created_at).min().unwrap_or(now);
                let age = (Utc::now() - oldest).to_std().unwrap_or_default();
                if age >= self.policy.give_up_after.0 {
                    let reason = format!(
                        "gave up after {} and {attempt} attempts: {reason}",
                        humantime::format_duration(Duration::from_secs(age.as_secs()))
                    );
                    tracing::warn!(target_name = %self.target, alerts = ids.len(), %reason, "notification given up");
                    self.store.mark_failed(ids, reason).await?;
                    self.stats.record(&self.target, |s| s.failed += n);
                } else {
                    let delay = after.unwrap_or_else(|| backoff(&self.policy, attempt));
                    tracing::warn!(target_name = %self.target, alerts = ids.len(), attempt, %reason,
                        retry_in_ms = delay.as_millis() as u64, "notification will be retried");
                    let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    self.store.mark_retry(ids, next, reason).await?;
                    self.stats.record(&self.target, |s| s.retried += n);
                }
            }
        }
        Ok(true)
    }
}

/// A channel's send limits over sliding windows: how long to hold the next
/// send so that every limit holds.
#[derive(Debug)]
pub struct Limiter {
    limits: &'static [RateLimit],
    sent: VecDeque<Instant>,
}

impl Limiter {
    pub fn new(limits: &'static [RateLimit]) -> Limiter {
        Limiter {
            limits,
            sent: VecDeque::new(),
        }
    }

    /// Zero when a send may go now, else how long until one may.
    pub fn wait(&self, now: Instant) -> Duration {
        let mut wait = Duration::ZERO;
        for l in self.limits {
            let n = l.count as usize;
            if n == 0 || self.sent.len() < n {
                continue;
            }
            // The n-th most recent send must have left the window.
            let nth = self.sent[self.sent.len() - n];
            let free_at = nth + l.per;
            wait = wait.max(free_at.saturating_duration_since(now));
        }
        wait
    }

    pub fn record(&mut self, now: Instant) {
        self.sent.push_back(now);
        let keep = self
            .limits
            .iter()
            .map(|l| l.count as usize)
            .max()
            .unwrap_or(0);
        while self.sent.len() > keep {
            self.sent.pop_front();
        }
    }
}

/// Splits rows into decodable ones (with their messages) and corrupt ids.
fn decode(rows: Vec<OutboxRow>) -> (Vec<OutboxRow>, Vec<AlertMessage>, Vec<i64>) {
    let mut good = Vec::with_capacity(rows.len());
    let mut messages = Vec::with_capacity(rows.len());
    let mut corrupt = Vec::new();
    for mut r in rows {
        // The stored text is not needed once decoded.
        let payload = std::mem::take(&mut r.payload);
        match serde_json::from_str::<AlertMessage>(&payload) {
            Ok(m) => {
                messages.push(m);
                good.push(r);
            }
            Err(_) => corrupt.push(r.id),
        }
    }
    (good, messages, corrupt)
}

/// `retry_initial · 2^(attempt-1)`, capped at `retry_max`, with up to 10%
/// jitter so that many alerts failing together do not retry in lockstep.
pub fn backoff(policy: &DeliveryConfig, attempt: u32) -> Duration {
    let base = policy.retry_initial.0;
    let exp = attempt.saturating_sub(1).min(20);
    let raw = base.saturating_mul(1u32 << exp).min(policy.retry_max.0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = raw.mul_f64(f64::from(nanos % 1000) / 10_000.0);
    raw + jitter
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::HumanDuration;

    #[test]
    fn limiter_holds_sends_to_every_window() {
        static LIMITS: [RateLimit; 2] = [
            RateLimit {
                count: 2,
                per: Duration::from_secs(1),
            },
            RateLimit {
                count: 3,
                per: Duration::from_secs(60),
            },
        ];
        let mut l = Limiter::new(&LIMITS);
        let t0 = Instant::now();
        assert_eq!(l.wait(t0), Duration::ZERO);
        l.record(t0);
        l.record(t0 + Duration::from_millis(100));
        // third within the same second: wait until the first leaves the window
        assert_eq!(
            l.wait(t0 + Duration::from_millis(200)),
            Duration::from_millis(800)
        );
        l.record(t0 + Duration::from_secs(1));
        // fourth within the minute: wait for the minute window
        assert_eq!(l.wait(t0 + Duration::from_secs(2)), Duration::from_secs(58));
        assert_eq!(l.wait(t0 + Duration::from_secs(61)), Duration::ZERO);
        let free = Limiter::new(&[]);
        assert_eq!(free.wait(t0), Duration::ZERO);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = DeliveryConfig {
            retry_initial: HumanDuration(Duration::from_secs(1)),
            retry_max: HumanDuration(Duration::from_secs(10)),
            give_up_after: HumanDuration(Duration::from_secs(3600)),
        };
        let secs = |a| backoff(&p, a).as_secs_f64();
        assert!((1.0..1.11).contains(&secs(1)));
        assert!((2.0..2.21).contains(&secs(2)));
        assert!((8.0..8.81).contains(&secs(4)));
        assert!((10.0..11.01).contains(&secs(30)));
    }
}
