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
    firing_with(&rules(), "batch", batch, want).await
}

async fn firing_with(
    rules: &str,
    group: &str,
    batch: bool,
    want: usize,
) -> (BTreeMap<String, (String, f64)>, u64) {
    let dir = Daemon::prepare(
        rules,
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
        .find(|g| g.name == group)
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

/// Per-deployment rules over aggregations, each with its own limit, and one
/// vector match that a single deployment's series break.
fn deployment_rules() -> String {
    let mut out = String::from("groups:\n  - name: shapes\n    interval: 1s\n    rules:\n");
    for i in 0..DEPLOYMENTS {
        let limit = if i % 2 == 0 { 100 * i } else { 1000 * i };
        out.push_str(&format!(
            "      - alert: Conn{i}\n        query: sum by (deployment) (rate(t_shape_conn{{deployment=\"d{i}\"}}[1m]) * 0 + t_shape_conn{{deployment=\"d{i}\"}})\n        when: \"> {limit}\"\n        severity: warning\n"
        ));
    }
    for d in ["d0", "d1", "d2", "bad"] {
        out.push_str(&format!(
            "      - alert: Ratio_{d}\n        query: t_shape_a{{deployment=\"{d}\"}} / on (deployment, id) t_shape_b{{deployment=\"{d}\"}}\n        when: \"> 0\"\n        severity: warning\n"
        ));
    }
    out
}

const DEPLOYMENTS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_deployment_aggregations_share_one_query_and_a_refused_batch_falls_back_to_each_rule() {
    let mut lines = Vec::new();
    for i in 0..DEPLOYMENTS {
        for node in ["n1", "n2"] {
            lines.push(format!(
                "t_shape_conn{{deployment=\"d{i}\", node=\"{node}\"}} {}",
                100 * i
            ));
        }
    }
    for d in ["d0", "d1", "d2", "bad"] {
        lines.push(format!("t_shape_a{{deployment=\"{d}\", id=\"x\"}} 4"));
        lines.push(format!(
            "t_shape_b{{deployment=\"{d}\", id=\"x\", node=\"n1\"}} 2"
        ));
    }
    // "bad" has a second right-hand series: its own query is refused
    // (many-to-many), and so is any batch holding it.
    lines.push("t_shape_b{deployment=\"bad\", id=\"x\", node=\"n2\"} 2".into());
    push("t_shape", &lines.join("\n")).await;
    wait_prometheus_value(
        "count(t_shape_conn) + count(t_shape_b)",
        (2 * DEPLOYMENTS + 5) as f64,
    )
    .await;
    // Conn: sum 200·i over limits 100·i (even i > 0 fire) and 1000·i (odd: none).
    let conn = (0..DEPLOYMENTS).filter(|i| i % 2 == 0 && *i > 0).count();
    let want = conn + 3; // Ratio of d0, d1, d2; "bad" fails alone

    let rules = deployment_rules();
    let (batched, batched_queries) = firing_with(&rules, "shapes", true, want).await;
    let (per_rule, per_rule_queries) = firing_with(&rules, "shapes", false, want).await;
    assert_eq!(batched, per_rule);
    assert_eq!(batched["Conn4"].1, 800.0);
    assert_eq!(batched["Ratio_d1"].1, 2.0);
    assert!(!batched.contains_key("Conn3") && !batched.contains_key("Ratio_bad"));
    // One query for the ten Conn rules; the Ratio batch is refused, then
    // each of its four rules asks alone.
    assert_eq!(batched_queries, 1 + 1 + 4);
    assert_eq!(per_rule_queries, (DEPLOYMENTS + 4) as u64);
}
