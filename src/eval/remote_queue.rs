//! The remote-write queues: one per rule group, each drained in order by a
//! task of its own, so a slow or failing endpoint never holds an evaluation
//! longer than the evaluation chooses to wait.
//!
//! A batch is one recording rule's result of one evaluation. Transport
//! failures, 5xx and 429 keep the batch at the head of the queue and retry it
//! with exponential backoff (0.5 s doubling to 30 s, or the server's
//! `Retry-After`); other 4xx drop it at once (counted, logged once per rule).
//! A queue holds at most [`QUEUE_MAX_SAMPLES`]; beyond, the oldest batches are
//! dropped and counted.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::source::prompb::TimeSeries;
use crate::source::remote_write::{RemoteWriter, WriteError};

/// Samples a group's queue holds while the endpoint fails.
pub const QUEUE_MAX_SAMPLES: usize = 10_000;
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A recording rule: its group, its place in the group, its record name.
pub type RecordingId = (String, usize, String);

/// What became of a batch: written, or why not (it may still be retried).
pub type Ack = Result<(), String>;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// Samples the endpoint accepted.
    pub samples: AtomicU64,
    /// Failed requests by reason: connection, server_error, throttled, rejected.
    pub failures: [AtomicU64; 4],
    /// Samples given up: rejected by the endpoint, or pushed out of a full queue.
    pub dropped_rejected: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    /// Samples waiting in the queues.
    pub pending: AtomicU64,
}

/// The `reason` labels of [`WriteStats::failures`], in order.
pub const FAILURE_REASONS: [&str; 4] = ["connection", "server_error", "throttled", "rejected"];

impl WriteStats {
    fn failed(&self, e: &WriteError) {
        if let Some(i) = FAILURE_REASONS.iter().position(|r| *r == e.reason()) {
            self.failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Batch {
    rule: RecordingId,
    series: Vec<TimeSeries>,
    samples: usize,
    done: Option<oneshot::Sender<Ack>>,
}

impl Batch {
    fn ack(&mut self, result: Ack) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(result);
        }
    }
}

/// State shared by the queues and whoever reads their health.
#[derive(Default)]
struct Shared {
    writer: RwLock<Option<RemoteWriter>>,
    stats: WriteStats,
    /// The last write error of each recording rule (absent: the last write worked).
    errors: Mutex<HashMap<RecordingId, WriteError>>,
}

#[derive(Default)]
pub struct RemoteQueues {
    shared: Arc<Shared>,
    groups: Mutex<HashMap<String, mpsc::UnboundedSender<Batch>>>,
}

impl RemoteQueues {
    /// Where batches go from now on (`None`: nowhere; queued batches are dropped).
    pub fn set_writer(&self, writer: Option<RemoteWriter>) {
        *self
            .shared
            .writer
            .write()
            .unwrap_or_else(|p| p.into_inner()) = writer;
    }

    pub fn writer(&self) -> Option<RemoteWriter> {
        self.shared.writer()
    }

    pub fn stats(&self) -> &WriteStats {
        &self.shared.stats
    }

    /// The last write of `rule` failed with this (cleared by the next success).
    pub fn last_error(&self, rule: &RecordingId) -> Option<String> {
        self.shared.errors().get(rule).map(|e| e.to_string())
    }

    /// Queues `series` of `rule` behind the group's earlier batches; the
    /// answer says when it was written, or that it failed (a retryable
    /// failure answers at once while the batch waits for its retry).
    pub fn push(&self, rule: RecordingId, series: Vec<TimeSeries>) -> oneshot::Receiver<Ack> {
        let (tx, rx) = oneshot::channel();
        let samples = series.iter().map(|s| s.samples.len()).sum();
        let batch = Batch {
            rule,
            series,
            samples,
            done: Some(tx),
        };
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let group = batch.rule.0.clone();
        let sender = groups.entry(group.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(drain(group.clone(), rx, Arc::clone(&self.shared)));
            tx
        });
        self.shared
            .stats
            .pending
            .fetch_add(samples as u64, Ordering::Relaxed);
        if let Err(mpsc::error::SendError(mut b)) = sender.send(batch) {
            // The task is gone (it panicked): start afresh next time.
            groups.remove(&group);
            self.shared
                .stats
                .pending
                .fetch_sub(b.samples as u64, Ordering::Relaxed);
            b.ack(Err("the remote-write queue stopped".into()));
        }
        rx
    }

    /// Forgets the queues and write errors of rules no longer `loaded`.
    pub fn retain(&self, loaded: &HashSet<RecordingId>) {
        self.shared.errors().retain(|k, _| loaded.contains(k));
        let groups: HashSet<&str> = loaded.iter().map(|r| r.0.as_str()).collect();
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|g, _| groups.contains(g.as_str()));
    }
}

impl Shared {
    fn writer(&self) -> Option<RemoteWriter> {
        self.writer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn errors(&self) -> std::sync::MutexGuard<'_, HashMap<RecordingId, WriteError>> {
        self.errors.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One group's queue, in order, until its sender is dropped.
async fn drain(group: String, mut rx: mpsc::UnboundedReceiver<Batch>, shared: Arc<Shared>) {
    let mut queue = Queue {
        batches: VecDeque::new(),
        samples: 0,
        failing: None,
        shared: &shared,
    };
    let mut backoff = BACKOFF_MIN;
    loop {
        if queue.batches.is_empty() {
            match rx.recv().await {
                Some(b) => queue.add(b),
                None => return,
            }
        }
        while let Ok(b) = rx.try_recv() {
            queue.add(b);
        }
        let Some(writer) = shared.writer() else {
            queue.clear("remote write is not configured");
            continue;
        };
        let Some(front) = queue.batches.front() else {
            continue;
        };
        let result = writer.send(&front.series).await;
        let Some(mut batch) = queue.batches.pop_front() else {
            continue;
        };
        match result {
            Ok(()) => {
                queue.taken(&batch);
                shared
                    .stats
                    .samples
                    .fetch_add(batch.samples as u64, Ordering::Relaxed);
                shared.errors().remove(&batch.rule);
                if queue.failing.take().is_some() {
                    tracing::info!(group = %group, url = %writer.display_url(), "remote write works again");
                }
                backoff = BACKOFF_MIN;
                batch.ack(Ok(()));
            }
            Err(e) if !e.is_retryable() => {
                queue.taken(&batch);
                shared.stats.failed(&e);
                shared
                    .stats
                    .dropped_rejected
                    .fetch_add(batch.samples as u64, Ordering::Relaxed);
                let previous = shared.errors().insert(batch.rule.clone(), e.clone());
                // Once per rule (and again when the reason changes), not every evaluation.
                if previous.as_ref() != Some(&e) {
                    tracing::warn!(group = %group, record = %batch.rule.2, samples = batch.samples, error = %e, "recording rule's samples rejected by the remote-write endpoint; dropped, not retried");
                } else {
                    tracing::debug!(group = %group, record = %batch.rule.2, error = %e, "recording rule's samples rejected again");
                }
                batch.ack(Err(e.to_string()));
            }
            Err(e) => {
                shared.stats.failed(&e);
                shared.errors().insert(batch.rule.clone(), e.clone());
                let wait = e.retry_after().unwrap_or(backoff).min(BACKOFF_MAX);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                if queue.failing.is_none() {
                    tracing::warn!(group = %group, error = %e, retry_in_ms = wait.as_millis() as u64, "remote write failing; samples queued and retried");
                } else {
                    tracing::debug!(group = %group, error = %e, retry_in_ms = wait.as_millis() as u64, "remote write still failing");
                }
                queue.failing = Some(e.to_string());
                batch.ack(Err(format!("{e} (queued, retried)")));
                queue.batches.push_front(batch);
                // Wait, taking new batches meanwhile (they answer at once: failing).
                let until = tokio::time::Instant::now() + wait;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => break,
                        b = rx.recv() => match b {
                            Some(b) => queue.add(b),
                            None => {
                                queue.clear("the rule group is gone");
                                return;
                            }
                        },
                    }
                }
            }
        }
    }
}

/// A group's pending batches, oldest first.
struct Queue<'a> {
    batches: VecDeque<Batch>,
    samples: usize,
    /// The error of the last attempt while the endpoint fails.
    failing: Option<String>,
    shared: &'a Shared,
}

impl Queue<'_> {
    fn add(&mut self, mut b: Batch) {
        if let Some(e) = &self.failing {
            b.ack(Err(format!("{e} (queued, retried)")));
        }
        self.samples += b.samples;
        self.batches.push_back(b);
        while self.samples > QUEUE_MAX_SAMPLES && self.batches.len() > 1 {
            let Some(mut old) = self.batches.pop_front() else {
                break;
            };
            self.taken(&old);
            self.shared
                .stats
                .dropped_queue_full
                .fetch_add(old.samples as u64, Ordering::Relaxed);
            tracing::warn!(record = %old.rule.2, group = %old.rule.0, samples = old.samples, "remote-write queue full; oldest samples dropped");
            old.ack(Err("dropped: the remote-write queue is full".into()));
        }
    }

    /// `b` left the queue.
    fn taken(&mut self, b: &Batch) {
        self.samples -= b.samples;
        self.shared
            .stats
            .pending
            .fetch_sub(b.samples as u64, Ordering::Relaxed);
    }

    fn clear(&mut self, why: &str) {
        while let Some(mut b) = self.batches.pop_front() {
            self.taken(&b);
            b.ack(Err(why.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Labels;

    fn batch(n: usize, name: &str) -> (Batch, oneshot::Receiver<Ack>) {
        let (tx, rx) = oneshot::channel();
        let series = (0..n)
            .map(|i| TimeSeries {
                labels: [("i".to_string(), i.to_string())].into_iter().collect(),
                samples: vec![(1.0, 0)],
            })
            .collect();
        let b = Batch {
            rule: ("g".into(), 0, name.into()),
            series,
            samples: n,
            done: Some(tx),
        };
        (b, rx)
    }

    fn queue(shared: &Shared) -> Queue<'_> {
        Queue {
            batches: VecDeque::new(),
            samples: 0,
            failing: None,
            shared,
        }
    }

    #[test]
    fn a_full_queue_drops_its_oldest_batches_and_counts_them() {
        let shared = Shared::default();
        let mut q = queue(&shared);
        let (a, mut a_rx) = batch(6_000, "a");
        let (b, mut b_rx) = batch(3_000, "b");
        let (c, mut c_rx) = batch(2_000, "c");
        q.add(a);
        q.add(b);
        shared.stats.pending.store(9_000, Ordering::Relaxed);
        assert_eq!(q.batches.len(), 2, "9000 samples fit");
        shared.stats.pending.fetch_add(2_000, Ordering::Relaxed);
        q.add(c);
        // 11 000 > 10 000: the oldest (a) goes, b and c stay.
        let names: Vec<&str> = q.batches.iter().map(|b| b.rule.2.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(q.samples, 5_000);
        assert_eq!(
            shared.stats.dropped_queue_full.load(Ordering::Relaxed),
            6_000
        );
        assert_eq!(shared.stats.pending.load(Ordering::Relaxed), 5_000);
        assert!(
            a_rx.try_recv()
                .unwrap()
                .unwrap_err()
                .contains("queue is full")
        );
        assert!(
            b_rx.try_recv().is_err() && c_rx.try_recv().is_err(),
            "still waiting"
        );
    }

    #[test]
    fn one_batch_larger_than_the_queue_is_still_sent() {
        let shared = Shared::default();
        let mut q = queue(&shared);
        let (big, _rx) = batch(QUEUE_MAX_SAMPLES + 1, "big");
        q.add(big);
        assert_eq!(q.batches.len(), 1);
    }

    #[test]
    fn while_the_endpoint_fails_new_batches_answer_at_once_and_stay_queued() {
        let shared = Shared::default();
        let mut q = queue(&shared);
        q.failing = Some("connection refused".into());
        let (b, mut rx) = batch(1, "b");
        q.add(b);
        assert_eq!(q.batches.len(), 1);
        let ack = rx.try_recv().unwrap().unwrap_err();
        assert!(
            ack.contains("connection refused") && ack.contains("retried"),
            "{ack}"
        );
    }

    #[tokio::test]
    async fn without_a_writer_pushed_batches_fail_and_nothing_stays_pending() {
        let queues = RemoteQueues::default();
        let rx = queues.push(
            ("g".into(), 0, "r".into()),
            vec![TimeSeries {
                labels: Labels::new(),
                samples: vec![(1.0, 1)],
            }],
        );
        let ack = tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .unwrap()
            .unwrap();
        assert!(ack.unwrap_err().contains("not configured"));
        assert_eq!(queues.stats().pending.load(Ordering::Relaxed), 0);
    }
}
