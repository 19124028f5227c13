//! Route grouping: `group_by` splits a route's alerts into groups, a new
//! group collects alerts for `group_wait` before its first message, and a
//! group's next message waits `group_interval` after the previous one. The
//! webhook gets one message per group, with the group's labels.

mod common;

use std::time::Duration;

use common::{Daemon, Receiver, wait_for};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

/// Messages about `alertname`, as (when, sorted deployments, groupLabels).
fn messages(
    r: &Receiver,
    alertname: &str,
) -> Vec<(std::time::Instant, Vec<String>, serde_json::Value)> {
    r.received()
        .into_iter()
        .filter(|m| m.status_returned < 300)
        .filter(|m| m.body["commonLabels"]["alertname"] == alertname)
        .map(|m| {
            let mut deployments: Vec<String> = m.body["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|a| a["labels"]["deployment"].as_str().unwrap_or("").to_string())
                .collect();
            deployments.sort();
            (m.at, deployments, m.body["groupLabels"].clone())
        })
        .collect()
}

/// A daemon whose one route sends to a webhook receiver, grouped by
/// alertname with these timings.
async fn grouped_by_alertname(wait: &str, interval: &str) -> (Receiver, Daemon) {
    let hook = Receiver::start(&[]).await;
    let dir = Daemon::prepare_hook_route(
        &hook.url(),
        &format!("  group_by: [alertname]\n  group_wait: {wait}\n  group_interval: {interval}\n"),
    );
    (hook, Daemon::start(&dir).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_collects_for_group_wait_then_holds_for_group_interval() {
    let (hook, d) = grouped_by_alertname("2s", "4s").await;
    let started = std::time::Instant::now();
    let alert = |name: &str, dep: &str| json!({"labels": {"alertname": name, "deployment": dep}});
    d.post_alerts(&json!([alert("Conn", "d1")])).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    d.post_alerts(&json!([
        alert("Conn", "d2"),
        alert("Conn", "d3"),
        alert("Tps", "d1")
    ]))
    .await;

    // Conn: one message with all three, no earlier than group_wait after
    // the first of them; Tps is a group of its own.
    let first = wait_for("Conn's first message", WAIT, || async {
        messages(&hook, "Conn").first().cloned()
    })
    .await;
    assert_eq!(first.1, ["d1", "d2", "d3"]);
    assert_eq!(first.2, json!({"alertname": "Conn"}));
    let waited = first.0 - started;
    assert!(
        waited >= Duration::from_millis(1900),
        "sent after {waited:?}"
    );
    wait_for("Tps's message", WAIT, || async {
        (messages(&hook, "Tps").len() == 1).then_some(())
    })
    .await;
    assert_eq!(messages(&hook, "Tps")[0].1, ["d1"]);

    // A new alert of the group now waits for group_interval after the
    // group's last message; two such alerts share the next message.
    d.post_alerts(&json!([alert("Conn", "d4")])).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.post_alerts(&json!([alert("Conn", "d5")])).await;
    let second = wait_for("Conn's second message", WAIT, || async {
        messages(&hook, "Conn").get(1).cloned()
    })
    .await;
    assert_eq!(
        second.1,
        ["d4", "d5"],
        "only what changed since the last message"
    );
    let gap = second.0 - first.0;
    assert!(
        gap >= Duration::from_millis(3900),
        "group_interval not kept: {gap:?}"
    );
    assert_eq!(messages(&hook, "Conn").len(), 2);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_becomes_one_message_per_group() {
    // group_wait must cover the whole storm's posting: ~0.5 s alone, several
    // seconds on a loaded machine (a CI run once took more than 1 s, and
    // the rest then waited for group_interval).
    let (hook, d) = grouped_by_alertname("5s", "1m").await;
    let posting = std::time::Instant::now();
    // 300 alerts of three kinds, posted in many small batches.
    for chunk in 0..30 {
        let batch: Vec<serde_json::Value> = (0..10)
            .map(|i| {
                let n = chunk * 10 + i;
                let name = ["Conn", "Tps", "Acl"][n % 3];
                json!({"labels": {"alertname": name, "deployment": format!("d{n}")}})
            })
            .collect();
        d.post_alerts(&json!(batch)).await;
    }
    let posted = posting.elapsed();
    assert!(
        posted < Duration::from_secs(5),
        "posting the storm took {posted:?}, longer than group_wait: the test cannot tell"
    );
    wait_for("all 300 alerts", WAIT, || async {
        (hook.accepted_alerts().len() >= 300).then_some(())
    })
    .await;
    d.settle(0).await;
    assert_eq!(hook.accepted_alerts().len(), 300, "none twice");
    for name in ["Conn", "Tps", "Acl"] {
        let m = messages(&hook, name);
        assert_eq!(m.len(), 1, "{name}: {} messages", m.len());
        assert_eq!(m[0].1.len(), 100);
    }
    d.stop().await;
}
