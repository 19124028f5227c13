//! Inhibition through a running daemon: an error inhibits the warning of the
//! same deployment (not of another one); the API says so; once the error
//! resolves, the warning still firing is notified, once.

mod common;

use std::time::Duration;

use common::{Daemon, Receiver, wait_for};

const WAIT: Duration = Duration::from_secs(30);

fn heard(r: &Receiver) -> Vec<String> {
    let mut v: Vec<String> = r
        .accepted_alerts()
        .iter()
        .map(|a| {
            format!(
                "{} {} {}",
                a["status"].as_str().unwrap_or(""),
                a["labels"]["alertname"].as_str().unwrap_or(""),
                a["labels"]["deployment"].as_str().unwrap_or("")
            )
        })
        .collect();
    v.sort();
    v
}

fn alert(name: &str, severity: &str, deployment: &str) -> serde_json::Value {
    serde_json::json!({"labels": {"alertname": name, "severity": severity, "deployment": deployment}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_inhibits_the_warning_of_its_deployment() {
    let hook = Receiver::start(&[]).await;
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!(
            "targets:\n  - {{name: hook, type: webhook, url: \"{}\"}}\ninhibit:\n  - {{source: {{severity: error}}, target: {{severity: warning}}, equal: [deployment]}}\n",
            hook.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    d.post_alerts(&serde_json::json!([
        alert("Slow", "warning", "d1"),
        alert("Down", "error", "d1"),
        alert("Slow", "warning", "d2")
    ]))
    .await;
    let want = ["firing Down d1", "firing Slow d2"];
    wait_for(
        "the error and the other deployment's warning",
        WAIT,
        || async { (heard(&hook) == want).then_some(()) },
    )
    .await;
    d.sentinel(&hook, serde_json::json!({"severity": "error"}), 1)
        .await;
    assert_eq!(heard(&hook), want, "the inhibited warning was sent");
    let views = d.alert_views().await;
    let inhibited: Vec<String> = views
        .iter()
        .filter(|v| v["inhibited"] == true)
        .map(|v| format!("{} {}", v["alert"], v["labels"]["deployment"]))
        .collect();
    assert_eq!(inhibited, ["\"Slow\" \"d1\""]);
    let slow = views
        .iter()
        .find(|v| v["alert"] == "Slow" && v["labels"]["deployment"] == "d1")
        .unwrap();
    assert!(
        slow["inhibited_by"].as_str().unwrap().starts_with("Down ("),
        "{slow}"
    );

    // The error resolves: its resolution is sent, and the warning now.
    let mut down = alert("Down", "error", "d1");
    down["endsAt"] = serde_json::json!(chrono::Utc::now().to_rfc3339());
    d.post_alerts(&serde_json::json!([down])).await;
    let want = [
        "firing Down d1",
        "firing Slow d1",
        "firing Slow d2",
        "resolved Down d1",
    ];
    wait_for("the warning after the error resolved", WAIT, || async {
        (heard(&hook) == want).then_some(())
    })
    .await;
    d.sentinel(&hook, serde_json::json!({"severity": "error"}), 1)
        .await;
    assert_eq!(heard(&hook), want);
    d.stop().await;
}

/// Inhibit rules that a reload brings apply to alerts already firing: the
/// daemon keeps no index of firing alerts while it has no inhibit rules, so
/// the reload must fill it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inhibit_rules_brought_by_a_reload_see_the_alerts_already_firing() {
    let hook = Receiver::start(&[]).await;
    let target = format!(
        "targets:\n  - {{name: hook, type: webhook, url: \"{}\"}}\n",
        hook.url()
    );
    let dir = Daemon::prepare("groups: []\n", &target);
    let d = Daemon::start(&dir).await;
    d.post_alerts(&serde_json::json!([alert("Down", "error", "d1")]))
        .await;
    wait_for("the error", WAIT, || async {
        (heard(&hook) == ["firing Down d1"]).then_some(())
    })
    .await;

    let config = dir.join("tocsin.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}inhibit:\n  - {{source: {{severity: error}}, target: {{severity: warning}}, equal: [deployment]}}\n"),
    )
    .unwrap();
    let status = common::http()
        .post(d.api("/-/reload"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    d.post_alerts(&serde_json::json!([
        alert("Slow", "warning", "d1"),
        alert("Slow", "warning", "d2")
    ]))
    .await;
    let want = ["firing Down d1", "firing Slow d2"];
    wait_for("the other deployment's warning", WAIT, || async {
        (heard(&hook) == want).then_some(())
    })
    .await;
    d.sentinel(&hook, serde_json::json!({"severity": "error"}), 1)
        .await;
    assert_eq!(
        heard(&hook),
        want,
        "the warning of the deployment whose error fired before the reload was sent"
    );
    d.stop().await;
}
