//! Upgrading a data directory written by the previous release.
//!
//! `tests/fixtures/upgrade/tocsin-1410f7b.db` was written by tocsin at commit
//! 1410f7b (`scripts/make-upgrade-fixture.sh` rebuilds it): three alerts
//! firing and notified to the webhook `hook` (a native rule with levels, a
//! Prometheus-format rule with `severity: critical`, a posted alert with
//! `severity: critical`) and one native alert pending on a `for: 1000h`.
//! That release left `severity` out of the fingerprint; this one does not, so
//! two of the four keys change. Today's tocsin must carry every alert over:
//! no new notification, the same `for` timer, and the resolve goes to the
//! target that heard the firing, once.

mod common;

use std::time::Duration;

use common::*;
use tocsin::alert::AlertState;

const FIXTURE: &str = "tests/fixtures/upgrade/tocsin-1410f7b.db";
const RULES: &str = "tests/fixtures/upgrade/rules/upgrade.yaml";
/// When the previous release saw each alert start (Unix ms, from the fixture).
const STARTED_MS: i64 = 1796142948964;
const POSTED_MS: i64 = 1796142949129;

fn values(native: u32, pending: u32, prom: u32) -> String {
    format!(
        "upgrade_fixture_value{{kind=\"native\"}} {native}\n\
         upgrade_fixture_value{{kind=\"pending\"}} {pending}\n\
         upgrade_fixture_value{{kind=\"prom\"}} {prom}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_previous_release_keeps_every_alert() {
    // The series as they were when the old release wrote the fixture.
    push("t_upgrade", &values(25, 15, 15)).await;
    wait_prometheus_value("upgrade_fixture_value{kind=\"prom\"}", 15.0).await;

    let receiver = Receiver::start(&[]).await;
    let rules = std::fs::read_to_string(RULES).unwrap();
    let dir = Daemon::prepare(
        &rules,
        &format!(
            "targets:\n  - {{name: hook, type: webhook, url: \"{}\", payload: alertmanager}}\n",
            receiver.url()
        ),
    );
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::copy(FIXTURE, dir.join("data/tocsin.db")).unwrap();
    let d = Daemon::start(&dir).await;

    // Evaluations go on, and nothing is notified again.
    d.settle(3).await;
    d.sentinel(&receiver, serde_json::json!({}), 1).await;
    assert_eq!(
        receiver.accepted_alerts(),
        Vec::<serde_json::Value>::new(),
        "no alert carried over is notified again"
    );

    let alerts: Vec<_> = d
        .engine()
        .alerts()
        .into_iter()
        .filter(|a| !a.alert.starts_with("Sentinel-"))
        .collect();
    let get = |name: &str| {
        alerts
            .iter()
            .find(|a| a.alert == name)
            .unwrap_or_else(|| panic!("{name} carried over: {alerts:#?}"))
    };
    let native = get("UpgradeNativeHigh");
    assert_eq!(native.state, AlertState::Firing);
    assert_eq!(native.fingerprint.to_string(), "f2045ea1b8ee3f61");
    assert_eq!(
        native.fired_at.map(|t| t.timestamp_millis()),
        Some(STARTED_MS)
    );
    let pending = get("UpgradeNativePending");
    assert_eq!(pending.state, AlertState::Pending, "the for timer runs on");
    assert_eq!(pending.active_at.timestamp_millis(), STARTED_MS);
    let prom = get("UpgradePromCritical");
    assert_eq!(prom.state, AlertState::Firing);
    assert_ne!(
        prom.fingerprint.to_string(),
        "84b6562796b4c4e9",
        "its identity includes severity now"
    );
    assert_eq!(
        prom.fired_at.map(|t| t.timestamp_millis()),
        Some(STARTED_MS)
    );
    let posted = get("UpgradePosted");
    assert_eq!(posted.state, AlertState::Firing);
    assert_eq!(
        posted.fired_at.map(|t| t.timestamp_millis()),
        Some(POSTED_MS)
    );
    assert_eq!(posted.generator_url, "http://scheduler/jobs/etl");
    let names: Vec<&str> = alerts.iter().map(|a| a.alert.as_str()).collect();
    assert_eq!(
        alerts.len(),
        4,
        "one row per alert, none doubled: {names:?}"
    );

    // The history moved with the alert: its firing is under the new key.
    let history = d
        .engine()
        .store()
        .events_for(prom.fingerprint)
        .await
        .unwrap();
    assert!(
        history.iter().any(|e| e.to_state == "firing"),
        "the old firing event is under the new fingerprint: {history:?}"
    );

    // Clearing resolves each rule alert once, to the target that heard it;
    // the pending one clears silently; the posted one fires until its endsAt.
    push("t_upgrade", &values(0, 0, 0)).await;
    let resolved = wait_for("two resolves", Duration::from_secs(60), || async {
        let got: Vec<_> = receiver
            .accepted_alerts()
            .into_iter()
            .filter(|a| a["status"] == "resolved")
            .collect();
        (got.len() >= 2).then_some(got)
    })
    .await;
    d.settle(2).await;
    d.sentinel(&receiver, serde_json::json!({}), 1).await;
    let all = receiver.accepted_alerts();
    assert_eq!(all.len(), 2, "exactly the two resolves: {all:#?}");
    let mut names: Vec<&str> = resolved
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["UpgradeNativeHigh", "UpgradePromCritical"]);
    let prom_resolved = resolved
        .iter()
        .find(|a| a["labels"]["alertname"] == "UpgradePromCritical")
        .unwrap();
    assert_eq!(
        prom_resolved["labels"],
        serde_json::json!({
            "alertname": "UpgradePromCritical", "job": "t_upgrade", "kind": "prom",
            "severity": "critical", "team": "storage"
        })
    );
    assert_eq!(
        d.alert("UpgradePosted").map(|a| a.state),
        Some(AlertState::Firing)
    );
    d.stop().await;
}
