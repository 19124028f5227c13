//! Hot reload: `POST /-/reload` and SIGHUP apply good files without losing
//! alert state, refuse bad ones with file:line:col and keep the last good ones.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Daemon, Receiver, push, wait_for, wait_prometheus_value};
use tocsin::alert::AlertState;

const WAIT: Duration = Duration::from_secs(30);

fn rule(name: &str, metric: &str, message: &str) -> String {
    format!(
        "      - alert: {name}\n        query: {metric}\n        when: \"> 5\"\n        severity: warning\n        message: \"{message}\"\n"
    )
}

async fn reload(d: &Daemon) -> (u16, serde_json::Value) {
    let resp = common::http()
        .post(d.api("/-/reload"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_state_refuses_bad_files_and_resolves_removed_rules() {
    push(
        "t_reload",
        "t_reload_a{deployment=\"d1\"} 10\nt_reload_b{deployment=\"d1\"} 10",
    )
    .await;
    wait_prometheus_value("t_reload_b", 10.0).await;
    let receiver = Receiver::start(&[]).await;
    let header = "groups:\n  - name: reload\n    interval: 1s\n    rules:\n";
    let dir = Daemon::prepare(
        &format!("{header}{}", rule("ReloadA", "t_reload_a", "first wording")),
        &format!(
            "targets:\n  - {{name: hook, type: webhook, url: \"{}\"}}\n",
            receiver.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    let a = wait_for("ReloadA firing", WAIT, || async {
        d.alert("ReloadA").filter(|a| a.state == AlertState::Firing)
    })
    .await;
    wait_for("one delivery", WAIT, || async {
        (receiver.accepted_alerts().len() == 1).then_some(())
    })
    .await;

    // 1. A good change: new wording for A, a new rule B.
    let rules = dir.join("rules/test.yaml");
    std::fs::write(
        &rules,
        format!(
            "{header}{}{}",
            rule("ReloadA", "t_reload_a", "second wording"),
            rule("ReloadB", "t_reload_b", "b")
        ),
    )
    .unwrap();
    let (status, body) = reload(&d).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["rules"], 2);
    wait_for("ReloadB firing", WAIT, || async {
        d.alert("ReloadB").filter(|a| a.state == AlertState::Firing)
    })
    .await;
    let a2 = wait_for("A re-rendered", WAIT, || async {
        d.alert("ReloadA").filter(|a| a.message == "second wording")
    })
    .await;
    assert_eq!(a2.state, AlertState::Firing);
    assert_eq!(
        a2.fired_at, a.fired_at,
        "alert state of an unchanged rule survives the reload"
    );

    // 2. A bad file: refused with its position, the last good rules keep running.
    std::fs::write(
        &rules,
        format!(
            "{header}      - alert: ReloadA\n        query: t_reload_a\n        when: \"=> 5\"\n"
        ),
    )
    .unwrap();
    let (status, body) = reload(&d).await;
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("rules/test.yaml:7:15: expected a condition"),
        "{error}"
    );
    let metrics = d.get_text("/metrics").await;
    assert!(
        metrics.contains("tocsin_config_last_reload_successful 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tocsin_config_reloads_total{result=\"failure\"} 1"),
        "{metrics}"
    );
    let before = d.engine().group_statuses()[0].evaluations;
    wait_for("evaluations to go on", WAIT, || async {
        (d.engine().group_statuses()[0].evaluations >= before + 2).then_some(())
    })
    .await;
    assert_eq!(
        d.engine().rules().rule_count(),
        2,
        "the last good rules still run"
    );

    // 3. Removing a rule resolves its firing alert, and says so.
    std::fs::write(
        &rules,
        format!("{header}{}", rule("ReloadB", "t_reload_b", "b")),
    )
    .unwrap();
    let (status, body) = reload(&d).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["removed_rules"][0], "reload/ReloadA");
    assert_eq!(d.alert("ReloadA").unwrap().state, AlertState::Resolved);
    let resolved = wait_for("A's resolved notification", WAIT, || async {
        receiver
            .accepted_alerts()
            .into_iter()
            .find(|x| x["labels"]["alertname"] == "ReloadA" && x["status"] == "resolved")
    })
    .await;
    assert_eq!(resolved["labels"]["deployment"], "d1");
    let metrics = d.get_text("/metrics").await;
    assert!(
        metrics.contains("tocsin_config_last_reload_successful 1"),
        "{metrics}"
    );
    d.stop().await;
}

#[test]
fn sighup_reloads_the_running_binary() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    let rules = dir.path().join("rules/r.yaml");
    let one = "groups:\n  - name: hup\n    interval: 1s\n    rules:\n      - alert: One\n        query: vector(0)\n        when: \"> 1\"\n        severity: warning\n";
    std::fs::write(&rules, one).unwrap();
    let cfg = dir.path().join("tocsin.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:0\nrules: [rules]\nprometheus: {{url: \"{}\"}}\n",
            common::env().prometheus_url
        ),
    )
    .unwrap();
    let daemon = common::Spawned::start(&cfg, "warn,tocsin::daemon=info");
    let rule_names = || -> Option<Vec<String>> {
        let out = Command::new("curl")
            .args(["-sf", &daemon.url("/api/v1/rules")])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(
            v[0]["rules"]
                .as_array()?
                .iter()
                .map(|r| r["alert"].as_str().unwrap_or("").to_string())
                .collect(),
        )
    };
    let deadline = std::time::Instant::now() + WAIT;
    while rule_names() != Some(vec!["One".to_string()]) {
        assert!(
            std::time::Instant::now() < deadline,
            "daemon did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(&rules, format!("{one}      - alert: Two\n        query: vector(0)\n        when: \"> 1\"\n        severity: warning\n")).unwrap();
    Command::new("kill")
        .args(["-HUP", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    while rule_names() != Some(vec!["One".to_string(), "Two".to_string()]) {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload: {:?}",
            rule_names()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    daemon.stop();
}
