//! Runs the PromQL queries of Go templates (`query`) while a rule's labels
//! and annotations render.
//!
//! Rendering is synchronous and the datasource client is async, so rules
//! whose templates call `query` are evaluated on tokio's blocking pool
//! (`spawn_blocking`), where [`TemplateQueries`] waits for each query with
//! `Handle::block_on`; no async worker thread ever blocks. Other rules never
//! pay for this.
//!
//! All template queries of one rule evaluation share one time budget (the
//! datasource timeout) and a cache, so a template that queries inside a loop
//! or in every alert cannot stall the group: past the budget a query fails
//! at once, and the failure renders as Prometheus renders a query error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use crate::rules::Rule;
use crate::source::SourceError;
use crate::source::prometheus::{PrometheusSource, RANGE_VECTOR_ERROR};
use crate::template::{QueryRunner, QuerySample};

/// Whether rendering `rule`'s labels or annotations runs queries.
pub fn renders_queries(rule: &Rule) -> bool {
    rule.labels
        .iter()
        .chain(&rule.annotations)
        .any(|(_, t)| t.uses_query())
}

/// A [`QueryRunner`] for one rule evaluation. Only for use on a thread that
/// may block (tokio's blocking pool): [`QueryRunner::query`] blocks on the
/// runtime.
pub struct TemplateQueries {
    handle: Handle,
    source: PrometheusSource,
    at: Option<DateTime<Utc>>,
    slots: Arc<Semaphore>,
    budget: Duration,
    deadline: Instant,
    cache: Mutex<HashMap<String, Result<Vec<QuerySample>, String>>>,
}

impl TemplateQueries {
    /// Queries go to `source` at `at` (the rule's own query time; `None` is
    /// Prometheus's now), each holding one of the engine's query `slots`.
    pub fn new(
        handle: Handle,
        source: PrometheusSource,
        at: Option<DateTime<Utc>>,
        slots: Arc<Semaphore>,
    ) -> TemplateQueries {
        let budget = source.timeout();
        TemplateQueries {
            handle,
            source,
            at,
            slots,
            budget,
            deadline: Instant::now() + budget,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn run(&self, expr: &str) -> Result<Vec<QuerySample>, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "not run: the template queries of this evaluation already took {:?}",
                self.budget
            ));
        }
        let answer = self.handle.block_on(async {
            tokio::time::timeout(left, async {
                let _permit = self.slots.acquire().await;
                self.source.query(expr, self.at).await
            })
            .await
        });
        match answer {
            Err(_) => Err(format!(
                "not answered within the {:?} left for template queries",
                left
            )),
            Ok(Err(e)) => Err(prometheus_error_text(&e)),
            Ok(Ok(samples)) => Ok(samples
                .into_iter()
                .map(|s| QuerySample {
                    labels: std::sync::Arc::unwrap_or_clone(s.labels),
                    value: s.value,
                })
                .collect()),
        }
    }
}

impl QueryRunner for TemplateQueries {
    fn query(&self, expr: &str) -> Result<Vec<QuerySample>, String> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(expr)
            .cloned();
        if let Some(hit) = cached {
            return hit;
        }
        let result = self.run(expr);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(expr.to_string(), result.clone());
        result
    }
}

/// The error as Prometheus's rule engine words it (what follows `error
/// calling query: `): the query API's own message without its
/// `bad_data: invalid parameter "query": ` wrapping.
fn prometheus_error_text(e: &SourceError) -> String {
    match e {
        SourceError::Rejected(msg) if msg == RANGE_VECTOR_ERROR => {
            "rule result is not a vector or scalar".to_string()
        }
        SourceError::Rejected(msg) => {
            let msg = ["bad_data: ", "execution: ", "not_found: "]
                .iter()
                .find_map(|p| msg.strip_prefix(p))
                .unwrap_or(msg);
            msg.strip_prefix("invalid parameter \"query\": ")
                .unwrap_or(msg)
                .to_string()
        }
        SourceError::Unavailable(_) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PrometheusConfig;
    use crate::yaml::HumanDuration;

    /// A Prometheus that accepts connections and never answers.
    fn silent_source(timeout: Duration) -> (std::net::TcpListener, PrometheusSource) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let cfg = PrometheusConfig {
            url: crate::yaml::unspanned(format!("http://{addr}")),
            timeout: HumanDuration(timeout),
            ..PrometheusConfig::default()
        };
        let source = PrometheusSource::new(&cfg).expect("source");
        (listener, source)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn queries_share_one_budget_and_a_cache_on_the_blocking_pool() {
        let (_listener, source) = silent_source(Duration::from_millis(300));
        let queries =
            TemplateQueries::new(Handle::current(), source, None, Arc::new(Semaphore::new(1)));
        let started = Instant::now();
        let (first, again, other) = tokio::task::spawn_blocking(move || {
            (
                queries.query("up"),
                queries.query("up"),
                queries.query("down"),
            )
        })
        .await
        .expect("blocking task");
        let first = first.expect_err("nobody answers");
        assert!(
            first.contains("datasource unavailable") || first.contains("not answered"),
            "{first}"
        );
        assert_eq!(again, Err(first), "the same query is not sent twice");
        let other = other.expect_err("budget spent");
        assert!(
            other.starts_with("not run: the template queries of this evaluation already took"),
            "{other}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn errors_read_like_prometheus_rule_errors() {
        let parse = SourceError::Rejected(
            "bad_data: invalid parameter \"query\": 1:4: parse error: unclosed left parenthesis"
                .into(),
        );
        assert_eq!(
            prometheus_error_text(&parse),
            "1:4: parse error: unclosed left parenthesis"
        );
        let exec = SourceError::Rejected(
            "execution: vector cannot contain metrics with the same labelset".into(),
        );
        assert_eq!(
            prometheus_error_text(&exec),
            "vector cannot contain metrics with the same labelset"
        );
        assert_eq!(
            prometheus_error_text(&SourceError::Rejected(RANGE_VECTOR_ERROR.into())),
            "rule result is not a vector or scalar"
        );
        assert_eq!(
            prometheus_error_text(&SourceError::Unavailable("connection refused".into())),
            "datasource unavailable: connection refused"
        );
    }
}
