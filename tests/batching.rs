//! Selector batching against the real Prometheus of the test run: rules that
//! differ only in one label matcher are served by one query, and fire exactly
//! the alerts (labels and values) they fire with one query each.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Daemon, push, wait_for, wait_prometheus_value};
use tocsin::alert::AlertState;

const RULES: usize = 30;

fn rules() -> String {
    let mut out = String::from("groups:\n  - name: batch\n    interval: 1s\n    rules:\n");
    for i in 0..RULES {
        out.push_str(&format!(
            "      - alert: Batch{i:02}\n        query: 't_batch_value{{instance=\"i{i}\", job=\"t_batch\"}}'\n        when: \"> 150\"\n        severity: warning\n"
        ));
    }
    // Not a plain selector: keeps its own query.
    out.push_str("      - alert: BatchSum\n        query: sum(t_batch_value{job=\"t_batch\"})\n        when: \"> 0\"\n        severity: warning\n");
    out
}

/// Firing alerts as (name, labels, value) once `want` of them fire, and the
/// queries of the group's last evaluation.
async fn firing(batch: bool, want: usize) -> (BTreeMap<String, (String, f64)>, u64) {
    let dir = Daemon::prepare(
        &rules(),
        &format!("evaluation: {{batch_selectors: {batch}}}\n"),
    );
    let d = Daemon::start(&dir).await;
    let got = wait_for(
        &format!("{want} firing alerts (batch_selectors: {batch})"),
        Duration::from_secs(30),
        || async {
            let alerts: BTreeMap<String, (String, f64)> = d
                .engine()
                .alerts()
                .into_iter()
                .filter(|a| a.state == AlertState::Firing)
                .map(|a| (a.alert.clone(), (format!("{:?}", a.labels), a.value)))
                .collect();
            (alerts.len() == want).then_some(alerts)
        },
    )
    .await;
    let queries = d
        .engine()
        .group_statuses()
        .iter()
        .find(|g| g.name == "batch")
        .map(|g| g.last_queries)
        .unwrap_or_default();
    d.stop().await;
    (got, queries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_selectors_fire_exactly_what_one_query_per_rule_fires() {
    let lines: Vec<String> = (0..RULES)
        .map(|i| format!("t_batch_value{{instance=\"i{i}\"}} {}", i * 10))
        .collect();
    push("t_batch", &lines.join("\n")).await;
    wait_prometheus_value("count(t_batch_value)", RULES as f64).await;
    // i16..i29 are over 150, and the sum is.
    let want = (0..RULES).filter(|i| i * 10 > 150).count() + 1;

    let (batched, batched_queries) = firing(true, want).await;
    let (per_rule, per_rule_queries) = firing(false, want).await;
    assert_eq!(batched, per_rule);
    assert!(batched.contains_key("Batch16") && !batched.contains_key("Batch15"));
    assert_eq!(batched["Batch29"].1, 290.0);
    assert_eq!((batched_queries, per_rule_queries), (2, RULES as u64 + 1));
}
