//! The standard warning/critical pair: two rules with one alert name and
//! different thresholds (how node-mixin, kubernetes-mixin and most
//! third-party rule files write alerts). In Prometheus and Alertmanager they
//! are two alerts, because `severity` is part of the label set; clearing
//! only the critical one must resolve only the critical one, whether a real
//! Prometheus posts them or tocsin evaluates the file itself.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

fn pair(metric: &str) -> String {
    format!(
        "groups:
  - name: pair
    interval: 1s
    rules:
      - alert: PairHigh
        expr: {metric} > 5
        labels: {{severity: warning}}
        annotations: {{summary: \"{{{{ $value }}}} over 5\"}}
      - alert: PairHigh
        expr: {metric} > 10
        labels: {{severity: critical}}
        annotations: {{summary: \"{{{{ $value }}}} over 10\"}}
"
    )
}

fn hook(receiver: &Receiver) -> String {
    format!(
        "targets:\n  - {{name: hook, type: webhook, url: \"{}\", payload: alertmanager}}\n",
        receiver.url()
    )
}

/// `(status, severity)` of each alert the receiver accepted, in order.
fn heard(receiver: &Receiver) -> Vec<(String, String)> {
    receiver
        .accepted_alerts()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "PairHigh")
        .map(|a| {
            (
                a["status"].as_str().unwrap_or("").to_string(),
                a["labels"]["severity"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Both fired, then only the critical one resolved.
const ONLY_CRITICAL_RESOLVED: &[(&str, &str)] = &[
    ("firing", "critical"),
    ("firing", "warning"),
    ("resolved", "critical"),
];

async fn wait_heard(receiver: &Receiver, want: &[(&str, &str)]) {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    wait_for(&format!("the receiver to hear {want:?}"), WAIT, || async {
        let mut got = heard(receiver);
        got.sort();
        let mut w = want.clone();
        w.sort();
        (got == w).then_some(())
    })
    .await;
}

/// The severities of tocsin's firing `PairHigh` alerts.
async fn firing_severities(d: &Daemon) -> Vec<String> {
    let mut out: Vec<String> = d
        .engine()
        .alerts()
        .into_iter()
        .filter(|a| a.alert == "PairHigh" && a.state == tocsin::alert::AlertState::Firing)
        .map(|a| a.labels.get("severity").cloned().unwrap_or_default())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_posted_by_prometheus_resolves_only_the_critical() {
    push("t_pair_posted", "t_pair_posted_value 15").await;
    let receiver = Receiver::start(&[]).await;
    let dir = Daemon::prepare("groups: []\n", &hook(&receiver));
    let d = Daemon::start(&dir).await;
    let addr = d.running.as_ref().unwrap().addr;
    let _prometheus = OwnPrometheus::start(Some((addr, &pair("t_pair_posted_value"))));

    wait_heard(&receiver, &[("firing", "critical"), ("firing", "warning")]).await;
    assert_eq!(firing_severities(&d).await, ["critical", "warning"]);

    // Only the critical one clears: Prometheus posts it with its endsAt.
    push("t_pair_posted", "t_pair_posted_value 7").await;
    wait_heard(&receiver, ONLY_CRITICAL_RESOLVED).await;
    d.sentinel(&receiver, json!({}), 1).await;
    assert_eq!(
        heard(&receiver).len(),
        3,
        "no resolve of the warning that still fires: {:?}",
        heard(&receiver)
    );
    assert_eq!(firing_severities(&d).await, ["warning"]);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_in_a_rule_file_fires_and_resolves_independently() {
    push("t_pair_rules", "t_pair_rules_value 15").await;
    wait_prometheus_value("t_pair_rules_value", 15.0).await;
    let receiver = Receiver::start(&[]).await;
    let dir = Daemon::prepare(&pair("t_pair_rules_value"), &hook(&receiver));
    let d = Daemon::start(&dir).await;

    wait_heard(&receiver, &[("firing", "critical"), ("firing", "warning")]).await;
    let alerts: Vec<Value> = receiver.accepted_alerts();
    for a in &alerts {
        let sev = a["labels"]["severity"].as_str().unwrap();
        let limit = if sev == "critical" { "10" } else { "5" };
        assert_eq!(
            a["annotations"],
            json!({"summary": format!("15 over {limit}")})
        );
    }

    push("t_pair_rules", "t_pair_rules_value 7").await;
    wait_heard(&receiver, ONLY_CRITICAL_RESOLVED).await;
    d.settle(3).await;
    d.sentinel(&receiver, json!({}), 1).await;
    assert_eq!(heard(&receiver).len(), 3, "{:?}", heard(&receiver));
    assert_eq!(firing_severities(&d).await, ["warning"]);

    // And it escalates again as a new critical alert.
    push("t_pair_rules", "t_pair_rules_value 12").await;
    wait_heard(
        &receiver,
        &[
            ("firing", "critical"),
            ("firing", "warning"),
            ("resolved", "critical"),
            ("firing", "critical"),
        ],
    )
    .await;
    d.stop().await;
}
