//! `/metrics` is valid Prometheus text (checked by `promtool check metrics`),
//! and every metric the shipped Grafana dashboards query is one it exports.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Daemon, Receiver, push, wait_for, wait_prometheus_value};

fn dashboard_metrics() -> BTreeSet<String> {
    let re = regex::Regex::new(r"tocsin_[a-zA-Z0-9_]+").unwrap();
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(common::repo().join("dashboards"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{:?}: {e}", entry.path()));
        let vars = json["templating"]["list"].as_array().unwrap();
        assert!(
            vars.iter()
                .any(|v| v["type"] == "datasource" && v["query"] == "prometheus"),
            "{:?} needs a Prometheus datasource variable",
            entry.path()
        );
        for panel in json["panels"].as_array().unwrap() {
            assert_eq!(
                panel["datasource"]["uid"],
                "${datasource}",
                "{:?}: panel {}",
                entry.path(),
                panel["title"]
            );
            for t in panel["targets"].as_array().unwrap() {
                for m in re.find_iter(t["expr"].as_str().unwrap()) {
                    names.insert(m.as_str().to_string());
                }
            }
        }
        for v in vars.iter().filter_map(|v| v["definition"].as_str()) {
            for m in re.find_iter(v) {
                names.insert(m.as_str().to_string());
            }
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_valid_and_cover_every_dashboard_query() {
    push("t_metrics", "t_metrics_v{deployment=\"d1\"} 10").await;
    wait_prometheus_value("t_metrics_v", 10.0).await;
    let receiver = Receiver::start(&[503]).await;
    let dir = Daemon::prepare(
        "heartbeats:\n  - {name: metrics-check, every: 1h, grace: 1m}\ngroups:\n  - name: metrics\n    interval: 1s\n    rules:\n      - alert: MetricsHigh\n        query: t_metrics_v\n        when: \"> 5\"\n        severity: error\n",
        &format!(
            "targets:\n  - {{name: hook, type: webhook, url: \"{}\"}}\n",
            receiver.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    let url = d.api("/metrics");
    let text = wait_for(
        "a delivery to show in /metrics",
        Duration::from_secs(30),
        || {
            let url = url.clone();
            async move {
                let text = common::http()
                    .get(&url)
                    .send()
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                text.contains("tocsin_notifications_sent_total{target=\"hook\"} 1")
                    .then_some(text)
            }
        },
    )
    .await;
    assert!(
        text.contains("tocsin_notifications_retried_total{target=\"hook\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tocsin_alerts{state=\"firing\",severity=\"error\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tocsin_rule_health{group=\"metrics\",alert=\"MetricsHigh\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tocsin_heartbeat_checks{state=\"new\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tocsin_heartbeat_pings_total{check=\"metrics-check\",kind=\"success\"} 0"),
        "{text}"
    );

    // promtool (from the prometheus package) lints the exposition format.
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool from the prometheus package");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let exported: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect();
    let wanted = dashboard_metrics();
    assert!(wanted.len() >= 10, "{wanted:?}");
    let missing: Vec<_> = wanted.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "dashboards query metrics that /metrics does not export: {missing:?}"
    );
    d.stop().await;
}
