//! The status page as a person sees it: rendered by headless Chromium.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, push, wait_for, wait_prometheus_value};
use tocsin::alert::AlertState;

/// Runs Chromium headless on `url` with `extra` flags; returns stdout.
fn chromium(url: &str, profile: &Path, extra: &[&str]) -> String {
    // Bounded: a page that opened a dialog would keep Chromium waiting.
    let out = Command::new("timeout")
        .args(["60", "chromium"])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium (Debian package `chromium`, installed by scripts/testenv.sh)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_shows_what_an_operator_looks_for() {
    push(
        "t_status",
        "t_status_v{deployment=\"prod\",owner=\"<img src=x onerror=alert(2)>\"} 10\nt_status_w{deployment=\"prod\"} 10",
    )
    .await;
    wait_prometheus_value("t_status_w", 10.0).await;
    // A port that refuses connections, held for the whole test.
    let refused = common::refusing_port();
    let dir = Daemon::prepare(
        r#"
heartbeats:
  - {name: nightly-backup, every: 1h, grace: 10m, labels: {vault: v-prod, note: "<b onmouseover=alert(3)>x</b>"}}
groups:
  - name: status
    interval: 1s
    rules:
      - alert: StatusFiring
        query: t_status_v
        when: "> 5"
        severity: error
        message: "Deployment {{ labels.deployment }} at {{ value }} <script>alert(1)</script>"
        resolution: "Scale it"
      - alert: StatusPending
        query: t_status_w
        when: "> 5"
        for: 1h
        severity: warning
      # Valid PromQL (it loads) that Prometheus refuses when it runs it.
      - alert: StatusBroken
        query: 'label_replace(vector(1), "x", "$1", "y", "(")'
"#,
        &format!(
            "targets:\n  - {{name: ops-hook, type: webhook, url: \"http://{}/x\"}}\n",
            refused.local_addr().unwrap()
        ),
    );
    let d = Daemon::start(&dir).await;
    wait_for(
        "alerts and the broken rule",
        Duration::from_secs(30),
        || async {
            let firing = d
                .alert("StatusFiring")
                .is_some_and(|a| a.state == AlertState::Firing);
            let pending = d
                .alert("StatusPending")
                .is_some_and(|a| a.state == AlertState::Pending);
            let broken = d
                .engine()
                .rule_statuses()
                .iter()
                .any(|r| r.alert == "StatusBroken" && r.health == "err");
            (firing && pending && broken).then_some(())
        },
    )
    .await;

    // One ping makes the check `up`.
    let checks = d.get_json("/api/v1/heartbeats").await;
    let key = checks[0]["key"].as_str().unwrap().to_string();
    let ping = common::http()
        .get(d.api(&format!("/ping/{key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);

    let url = d.api("/");
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&url, profile.path(), &["--dump-dom"]);
    for want in [
        "1 firing",
        "1 pending",
        "1 failing rules",
        "StatusFiring",
        "Deployment prod at 10.0",
        "Scale it",
        "ops-hook",
        "StatusPending",
        "StatusBroken",
        "query rejected",
        "Heartbeats",
        "nightly-backup",
        "vault=v-prod",
    ] {
        assert!(dom.contains(want), "the page lacks {want:?}:\n{dom}");
    }
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "markup in messages is escaped"
    );
    assert!(
        dom.contains("<span class=\"hb up\">up</span>"),
        "the pinged check is up:\n{dom}"
    );
    assert!(!dom.contains("<script>alert(1)"), "no script injected");
    // Labels are escaped too: an alert's (from Prometheus) and a check's.
    assert!(
        dom.contains("owner=&lt;img src=x onerror=alert(2)&gt;"),
        "alert labels are escaped:\n{dom}"
    );
    assert!(
        dom.contains("note=&lt;b onmouseover=alert(3)&gt;x&lt;/b&gt;"),
        "check labels are escaped:\n{dom}"
    );
    assert!(
        !dom.contains("<img src=x") && !dom.contains("<b onmouseover"),
        "no markup injected"
    );

    // A phone-sized screenshot, kept with the test's files for a human look.
    let shot = dir.join("status-phone.png");
    chromium(
        &url,
        profile.path(),
        &[
            "--window-size=390,844",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 1000)
            .unwrap_or(false),
        "screenshot written"
    );
    d.stop().await;
}
