//! Asking the datasources: each distinct query of a group once,
//! concurrently under the global limit, Prometheus queries that differ in one
//! label matcher batched into one ([`crate::eval::batch`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::Engine;
use crate::alert::Sample;
use crate::rules::{Group, RuleSource};
use crate::source::SourceError;

pub(super) type Outcomes = HashMap<RuleSource, Result<Vec<Sample>, SourceError>>;

type QueryFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Sample>, SourceError>> + Send>>;

/// When a group's queries are evaluated: now, or `query_offset` before it
/// (`None` is the datasource's now).
pub(super) fn query_time(group: &Group, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (!group.query_offset.is_zero())
        .then(|| now - chrono::Duration::from_std(group.query_offset).unwrap_or_default())
}

impl Engine {
    /// Runs each distinct query of the group once, concurrently; Prometheus
    /// queries that differ only in one label matcher are batched into one
    /// (see [`super::batch`]). Heartbeat conditions are answered from memory
    /// at once. Also returns how many queries went to a datasource.
    pub(super) async fn run_queries(&self, group: &Group, now: DateTime<Utc>) -> (Outcomes, usize) {
        enum Done {
            Source(RuleSource, Result<Vec<Sample>, SourceError>),
            Prometheus(usize, Result<Vec<Sample>, SourceError>),
        }
        let at = query_time(group, now);
        let mut out = HashMap::new();
        let mut promql: Vec<&str> = Vec::new();
        let mut others: HashSet<&RuleSource> = HashSet::new();
        for r in &group.rules {
            match &r.source {
                RuleSource::Prometheus(q) => promql.push(q),
                other => {
                    others.insert(other);
                }
            }
        }
        let plan = crate::eval::batch::plan(promql, self.batch_selectors, &self.query_shapes);
        let mut tasks = JoinSet::new();
        let mut sent = 0;
        for q in others {
            let query: QueryFuture = match (q, &self.heartbeats) {
                (RuleSource::Heartbeat(h), Some(hb)) => {
                    out.insert(q.clone(), Ok(hb.condition(h, now)));
                    continue;
                }
                (RuleSource::Heartbeat(_) | RuleSource::Sql(_), None) => {
                    let e = SourceError::Rejected("heartbeats are not available".into());
                    out.insert(q.clone(), Err(e));
                    continue;
                }
                (RuleSource::Sql(sql), Some(hb)) => {
                    let (hb, sql) = (hb.clone(), sql.clone());
                    Box::pin(async move { hb.sql(&sql).await })
                }
                (RuleSource::Prometheus(_), _) => continue, // planned above
            };
            sent += 1;
            let permit = Arc::clone(&self.query_slots).acquire_owned().await;
            let key = q.clone();
            tasks.spawn(async move {
                let _permit = permit;
                Done::Source(key, query.await)
            });
        }
        let source = self.source();
        for (n, promql) in plan.queries.iter().enumerate() {
            sent += 1;
            // Permits bound queries in flight across all groups.
            let permit = Arc::clone(&self.query_slots).acquire_owned().await;
            let (source, promql) = (source.clone(), promql.clone());
            tasks.spawn(async move {
                let _permit = permit;
                Done::Prometheus(n, source.query(&promql, at).await)
            });
        }
        let mut answers: Vec<Result<Vec<Sample>, SourceError>> = (0..plan.queries.len())
            .map(|_| Err(SourceError::Unavailable("query task failed".into())))
            .collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Done::Source(q, r)) => {
                    out.insert(q, r);
                }
                Ok(Done::Prometheus(n, r)) => answers[n] = r,
                Err(e) => tracing::error!(group = %group.name, error = %e, "query task failed"),
            }
        }
        let refused = plan.refused_batches(&answers);
        for (q, r) in crate::eval::batch::distribute(&plan, answers) {
            out.insert(RuleSource::Prometheus(q), r);
        }
        if !refused.is_empty() {
            tracing::debug!(group = %group.name, queries = refused.len(), "a batched query was refused; asking its rules' own queries");
            sent += refused.len();
            for (q, r) in self.ask_each(&source, refused, at).await {
                out.insert(RuleSource::Prometheus(q), r);
            }
        }
        (out, sent)
    }

    /// Runs each query on its own, concurrently under the global limit.
    async fn ask_each(
        &self,
        source: &crate::source::prometheus::PrometheusSource,
        queries: Vec<String>,
        at: Option<DateTime<Utc>>,
    ) -> Vec<(String, Result<Vec<Sample>, SourceError>)> {
        let mut tasks = JoinSet::new();
        for q in queries {
            let permit = Arc::clone(&self.query_slots).acquire_owned().await;
            let source = source.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let r = source.query(&q, at).await;
                (q, r)
            });
        }
        let mut out = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(done) => out.push(done),
                Err(e) => tracing::error!(error = %e, "query task failed"),
            }
        }
        out
    }
}
