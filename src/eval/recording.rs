//! Recording rules: evaluated on their group's schedule, their results
//! written back to Prometheus through remote write.
//!
//! **Order within a group.** Prometheus evaluates a group's rules one after
//! the other, so a rule sees what earlier recording rules of the group wrote
//! at the same timestamp. tocsin runs a group's recording rules first, in file
//! order, each waiting for its write before the next runs, and then the
//! group's alerting rules (concurrently and batched, see [`super::batch`]).
//! Every alerting rule thus sees this evaluation's recorded series — also one
//! written *above* a recording rule it reads, which in Prometheus would still
//! see the previous evaluation's value.
//!
//! **Never blocking alerts.** The wait for writes is bounded per evaluation
//! by `prometheus.remote_write_timeout` and half the group's period, and a
//! failing endpoint answers at once (the samples stay queued and are retried,
//! see [`super::remote_queue`]); the alerting rules run either way.
//!
//! **Semantics** are Prometheus's `rules/recording.go`: each series of the
//! result (an instant vector, or a scalar as one series without labels) gets
//! `__name__` = the record name and the rule's labels (an empty value removes
//! the label); two series with the same labels after that are an error, and
//! so is a result larger than the group's `limit`. Series that were recorded
//! by the previous evaluation and are gone get Prometheus's staleness marker.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use super::engine::{RuleKind, RuleStatus};
use super::remote_queue::{RecordingId, RemoteQueues, WriteStats};
use crate::alert::{Labels, Sample};
use crate::rules::{Group, RecordingRule, RuleSet};
use crate::source::SourceError;
use crate::source::prometheus::PrometheusSource;
use crate::source::prompb::{STALE_NAN, TimeSeries};
use crate::source::remote_write::RemoteWriter;

/// Why a recording rule's result cannot be written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    Query(#[from] SourceError),
    /// Prometheus's `ErrDuplicateRecordingLabelSet`, with the labels.
    #[error("vector contains metrics with the same labelset after applying rule labels: {0:?}")]
    DuplicateLabelset(Labels),
    #[error("exceeded limit of {limit} with {got} series")]
    Limit { limit: usize, got: usize },
}

/// The series a recording rule writes for `samples` (its query's result).
pub fn record(
    rule: &RecordingRule,
    samples: Vec<Sample>,
    limit: usize,
) -> Result<Vec<Sample>, RecordError> {
    let mut seen = HashSet::with_capacity(samples.len());
    let mut out = Vec::with_capacity(samples.len());
    for mut s in samples {
        let labels = std::sync::Arc::make_mut(&mut s.labels);
        labels.insert("__name__".into(), rule.name.clone());
        for (k, v) in &rule.labels {
            if v.is_empty() {
                labels.remove(k);
            } else {
                labels.insert(k.clone(), v.clone());
            }
        }
        if !seen.insert(labels.clone()) {
            return Err(RecordError::DuplicateLabelset(labels.clone()));
        }
        out.push(s);
    }
    if limit > 0 && out.len() > limit {
        return Err(RecordError::Limit {
            limit,
            got: out.len(),
        });
    }
    Ok(out)
}

/// The request of one evaluation: the recorded series at `ts_ms`, and a
/// staleness marker for each series of `previous` that is gone.
pub fn to_write(samples: &[Sample], previous: &HashSet<Labels>, ts_ms: i64) -> Vec<TimeSeries> {
    let current: HashSet<&Labels> = samples.iter().map(|s| &*s.labels).collect();
    let mut out: Vec<TimeSeries> = samples
        .iter()
        .map(|s| TimeSeries {
            labels: (*s.labels).clone(),
            samples: vec![(s.value, ts_ms)],
        })
        .collect();
    let mut gone: Vec<&Labels> = previous.iter().filter(|l| !current.contains(l)).collect();
    gone.sort();
    out.extend(gone.into_iter().map(|l| TimeSeries {
        labels: l.clone(),
        samples: vec![(f64::from_bits(STALE_NAN), ts_ms)],
    }));
    out
}

/// Health of one recording rule.
#[derive(Debug, Clone, Default)]
struct Status {
    query: String,
    last_evaluation: Option<DateTime<Utc>>,
    last_duration_seconds: f64,
    /// The query or the semantics failed (write errors are the queue's).
    last_error: Option<String>,
    evaluations: u64,
    failures: u64,
    /// The series the last successful evaluation wrote (for staleness markers).
    written: HashSet<Labels>,
}

/// What one evaluation of a recording rule came to.
struct Outcome {
    took: Duration,
    /// The query or the semantics failed.
    error: Option<String>,
    /// The series handed to the queue (`None` after an error).
    written: Option<HashSet<Labels>>,
}

/// Counters of one recording rule, for `/metrics`.
#[derive(Debug, Clone)]
pub struct RecordingCounters {
    pub group: String,
    pub record: String,
    pub evaluations: u64,
    pub failures: u64,
}

/// Evaluates recording rules and hands their results to the remote-write queues.
#[derive(Default)]
pub struct Recorder {
    queues: RemoteQueues,
    status: Mutex<HashMap<RecordingId, Status>>,
}

fn id(rule: &RecordingRule, index: usize) -> RecordingId {
    (rule.group.clone(), index, rule.name.clone())
}

impl Recorder {
    /// Where results go from now on (`None`: recording rules fail).
    pub fn set_writer(&self, writer: Option<RemoteWriter>) {
        self.queues.set_writer(writer);
    }

    pub fn write_stats(&self) -> &WriteStats {
        self.queues.stats()
    }

    fn status(&self) -> std::sync::MutexGuard<'_, HashMap<RecordingId, Status>> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `group`'s recording rules in order at `now`, each query under a
    /// permit of `slots`. Returns whether all of them evaluated (a failed
    /// write does not count: it is retried) and how many queries were sent.
    pub async fn evaluate(
        &self,
        group: &Group,
        now: DateTime<Utc>,
        source: &PrometheusSource,
        slots: &Arc<Semaphore>,
    ) -> (bool, usize) {
        if group.recording_rules.is_empty() {
            return (true, 0);
        }
        let writer = self.queues.writer();
        let wait = writer
            .as_ref()
            .map(|w| w.timeout())
            .unwrap_or_default()
            .min(group.schedule.nominal_period() / 2);
        let deadline = tokio::time::Instant::now() + wait;
        let offset = chrono::Duration::from_std(group.query_offset).unwrap_or_default();
        let at = (!group.query_offset.is_zero()).then(|| now - offset);
        let ts_ms = (now - offset).timestamp_millis();
        let mut all_ok = true;
        for (index, rule) in group.recording_rules.iter().enumerate() {
            let key = id(rule, index);
            let started = Instant::now();
            let answer = {
                let _permit = Arc::clone(slots).acquire_owned().await;
                source.query(&rule.query, at).await
            };
            let result = answer
                .map_err(RecordError::from)
                .and_then(|samples| record(rule, samples, group.limit))
                .and_then(|samples| match &writer {
                    Some(_) => Ok(samples),
                    None => Err(RecordError::Query(SourceError::Rejected(
                        "prometheus.remote_write_url is not set".into(),
                    ))),
                });
            let (error, written) = match result {
                Ok(samples) => {
                    let previous = self
                        .status()
                        .get(&key)
                        .map(|s| s.written.clone())
                        .unwrap_or_default();
                    let series = to_write(&samples, &previous, ts_ms);
                    if !series.is_empty() {
                        let ack = self.queues.push(key.clone(), series);
                        match tokio::time::timeout_at(deadline, ack).await {
                            Ok(Ok(Ok(()))) => {}
                            Ok(Ok(Err(e))) => {
                                tracing::debug!(group = %group.name, record = %rule.name, error = %e, "recorded samples not written (yet)");
                            }
                            Ok(Err(_)) => {}
                            Err(_) => {
                                tracing::debug!(group = %group.name, record = %rule.name, wait_ms = wait.as_millis() as u64, "remote write slower than the wait; alerting rules go on, the write continues");
                            }
                        }
                    }
                    (
                        None,
                        Some(
                            samples
                                .into_iter()
                                .map(|s| std::sync::Arc::unwrap_or_clone(s.labels))
                                .collect(),
                        ),
                    )
                }
                Err(e) => (Some(e.to_string()), None),
            };
            all_ok &= error.is_none();
            let outcome = Outcome {
                took: started.elapsed(),
                error,
                written,
            };
            self.note(group, rule, key, now, outcome);
        }
        (all_ok, group.recording_rules.len())
    }

    /// Updates a rule's status after an evaluation, logging a change of health.
    fn note(
        &self,
        group: &Group,
        rule: &RecordingRule,
        key: RecordingId,
        now: DateTime<Utc>,
        outcome: Outcome,
    ) {
        let Outcome {
            took,
            error,
            written,
        } = outcome;
        let mut statuses = self.status();
        let status = statuses.entry(key).or_default();
        match (&error, &status.last_error) {
            (Some(err), Some(last)) if err == last => {
                tracing::debug!(group = %group.name, record = %rule.name, error = %err, "recording rule still failing");
            }
            (Some(err), _) => {
                tracing::warn!(group = %group.name, record = %rule.name, error = %err, "recording rule evaluation failed");
            }
            (None, Some(_)) => {
                tracing::info!(group = %group.name, record = %rule.name, "recording rule evaluation works again");
            }
            (None, None) => {}
        }
        status.query = rule.query.clone();
        status.last_evaluation = Some(now);
        status.last_duration_seconds = took.as_secs_f64();
        status.evaluations += 1;
        if error.is_some() {
            status.failures += 1;
        }
        status.last_error = error;
        if let Some(w) = written {
            status.written = w;
        }
    }

    /// The health of every recording rule of `rules`, for the rules API.
    pub fn statuses(&self, rules: &RuleSet) -> Vec<RuleStatus> {
        let statuses = self.status();
        let mut out = Vec::new();
        for g in &rules.groups {
            for (index, r) in g.recording_rules.iter().enumerate() {
                let key = id(r, index);
                let s = statuses.get(&key).filter(|s| s.query == r.query);
                let write_error = self.queues.last_error(&key);
                let error = s
                    .and_then(|s| s.last_error.clone())
                    .or_else(|| s.and(write_error));
                out.push(RuleStatus {
                    group: g.name.clone(),
                    alert: r.name.clone(),
                    kind: RuleKind::Recording,
                    query: r.query.clone(),
                    health: match (s, &error) {
                        (None, _) => "unknown",
                        (Some(_), Some(_)) => "err",
                        (Some(_), None) => "ok",
                    },
                    last_evaluation: s.and_then(|s| s.last_evaluation),
                    last_duration_seconds: s.map(|s| s.last_duration_seconds).unwrap_or(0.0),
                    last_error: error,
                    active_alerts: 0,
                });
            }
        }
        out
    }

    /// Evaluations and failures of each recording rule of `rules` (rules
    /// sharing a record name in a group are summed).
    pub fn counters(&self, rules: &RuleSet) -> Vec<RecordingCounters> {
        let statuses = self.status();
        let mut out: Vec<RecordingCounters> = Vec::new();
        for g in &rules.groups {
            for (index, r) in g.recording_rules.iter().enumerate() {
                let (evaluations, failures) = statuses
                    .get(&id(r, index))
                    .map(|s| (s.evaluations, s.failures))
                    .unwrap_or_default();
                match out
                    .iter_mut()
                    .find(|c| c.group == g.name && c.record == r.name)
                {
                    Some(c) => {
                        c.evaluations += evaluations;
                        c.failures += failures;
                    }
                    None => out.push(RecordingCounters {
                        group: g.name.clone(),
                        record: r.name.clone(),
                        evaluations,
                        failures,
                    }),
                }
            }
        }
        out
    }

    /// Forgets rules that are no longer loaded.
    pub fn retain(&self, rules: &RuleSet) {
        let loaded: HashSet<RecordingId> = rules
            .groups
            .iter()
            .flat_map(|g| g.recording_rules.iter().enumerate().map(|(i, r)| id(r, i)))
            .collect();
        self.status().retain(|k, _| loaded.contains(k));
        self.queues.retain(&loaded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::alert::labels::from_pairs as labels;

    fn rule(name: &str, rule_labels: &[(&str, &str)]) -> RecordingRule {
        RecordingRule {
            group: "g".into(),
            name: name.into(),
            query: "sum by (job) (x)".into(),
            labels: labels(rule_labels),
            line: 1,
            col: 1,
        }
    }

    fn sample(pairs: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            labels: labels(pairs).into(),
            value,
        }
    }

    #[test]
    fn series_get_the_record_name_and_the_rule_labels() {
        let r = rule("job:x:sum", &[("team", "db"), ("job", "overridden")]);
        let out = record(
            &r,
            vec![
                sample(&[("__name__", "x"), ("job", "a"), ("instance", "i1")], 1.0),
                sample(&[("instance", "i2")], 2.0),
            ],
            0,
        )
        .unwrap();
        assert_eq!(
            *out[0].labels,
            labels(&[
                ("__name__", "job:x:sum"),
                ("job", "overridden"),
                ("instance", "i1"),
                ("team", "db")
            ])
        );
        assert_eq!(out[1].value, 2.0);
        assert_eq!(out[1].labels["__name__"], "job:x:sum");
    }

    #[test]
    fn a_scalar_becomes_one_series_with_only_the_name_and_labels() {
        let r = rule("answer", &[("kind", "scalar")]);
        let out = record(&r, vec![sample(&[], 42.0)], 0).unwrap();
        assert_eq!(
            out,
            vec![sample(&[("__name__", "answer"), ("kind", "scalar")], 42.0)]
        );
    }

    #[test]
    fn an_empty_rule_label_removes_the_label() {
        let r = rule("r", &[("instance", "")]);
        let out = record(
            &r,
            vec![sample(&[("instance", "i1"), ("job", "a")], 1.0)],
            0,
        )
        .unwrap();
        assert_eq!(*out[0].labels, labels(&[("__name__", "r"), ("job", "a")]));
    }

    #[test]
    fn the_same_labelset_twice_after_the_rule_labels_is_an_error() {
        // Different before (instance), the same once the rule drops instance.
        let r = rule("r", &[("instance", "")]);
        let err = record(
            &r,
            vec![
                sample(&[("instance", "i1"), ("job", "a")], 1.0),
                sample(&[("instance", "i2"), ("job", "a")], 2.0),
            ],
            0,
        )
        .unwrap_err();
        assert!(matches!(err, RecordError::DuplicateLabelset(_)));
        assert!(
            err.to_string().starts_with(
                "vector contains metrics with the same labelset after applying rule labels"
            ),
            "{err}"
        );
        // Only __name__ differed: the same after it is set.
        let err = record(
            &rule("r", &[]),
            vec![
                sample(&[("__name__", "a")], 1.0),
                sample(&[("__name__", "b")], 1.0),
            ],
            0,
        )
        .unwrap_err();
        assert!(matches!(err, RecordError::DuplicateLabelset(_)));
    }

    #[test]
    fn the_group_limit_applies() {
        let r = rule("r", &[]);
        let two = || vec![sample(&[("i", "1")], 1.0), sample(&[("i", "2")], 1.0)];
        assert_eq!(
            record(&r, two(), 1).unwrap_err().to_string(),
            "exceeded limit of 1 with 2 series"
        );
        assert_eq!(record(&r, two(), 2).unwrap().len(), 2);
        assert_eq!(record(&r, two(), 0).unwrap().len(), 2);
    }

    #[test]
    fn series_gone_since_the_last_evaluation_get_a_staleness_marker() {
        let a = labels(&[("__name__", "r"), ("job", "a")]);
        let b = labels(&[("__name__", "r"), ("job", "b")]);
        let previous: HashSet<Labels> = [a.clone(), b.clone()].into_iter().collect();
        let now = vec![Sample {
            labels: a.clone().into(),
            value: 3.0,
        }];
        let out = to_write(&now, &previous, 1000);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels, a);
        assert_eq!(out[0].samples, vec![(3.0, 1000)]);
        assert_eq!(out[1].labels, b);
        assert_eq!(out[1].samples[0].0.to_bits(), STALE_NAN);
        assert!(to_write(&[], &HashSet::new(), 1).is_empty());
    }
}
