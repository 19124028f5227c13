//! What must survive: restarts (mid-`for`, mid-firing, with undelivered
//! notifications), failing receivers, and a Prometheus that dies, hangs or
//! answers garbage. Every test has its own job and metric names.

mod common;

use std::time::Duration;

use axum::routing::post;
use common::{Daemon, Receiver, push, wait_for, wait_prometheus_value};
use tocsin::alert::AlertState;

const WAIT: Duration = Duration::from_secs(30);

fn hook(url: &str) -> String {
    format!("targets:\n  - {{name: hook, type: webhook, url: \"{url}\"}}\n")
}

fn simple_rule(group: &str, metric: &str, pending_for: &str) -> String {
    format!(
        r#"
groups:
  - name: {group}
    interval: 1s
    rules:
      - alert: {group}High
        query: {metric}
        when: "> 5"
        for: {pending_for}
        severity: warning
"#
    )
}

async fn wait_state(d: &Daemon, alert: &str, state: AlertState) -> tocsin::alert::AlertInstance {
    wait_for(&format!("{alert} to be {state:?}"), WAIT, || async {
        d.alert(alert).filter(|a| a.state == state)
    })
    .await
}

async fn outbox(
    d: &Daemon,
    fp: tocsin::alert::Fingerprint,
) -> Vec<tocsin::store::outbox::NotificationRecord> {
    d.engine().store().notifications_for(fp).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_for_keeps_the_timer() {
    push("t_rfor", "t_rfor_v{deployment=\"d1\"} 10").await;
    wait_prometheus_value("t_rfor_v", 10.0).await;
    let receiver = Receiver::start(&[]).await;
    let dir = Daemon::prepare(
        &simple_rule("rfor", "t_rfor_v", "5s"),
        &hook(&receiver.url()),
    );
    let d = Daemon::start(&dir).await;
    let pending = wait_state(&d, "rforHigh", AlertState::Pending).await;
    // Half the `for` goes by before the restart, so a continued timer
    // fires well before a restarted one could.
    while chrono::Utc::now() - pending.active_at < chrono::Duration::milliseconds(2500) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.stop().await;

    let restarted_at = chrono::Utc::now();
    let d = Daemon::start(&dir).await;
    let restored = d
        .alert("rforHigh")
        .expect("pending alert restored from SQLite");
    assert_eq!(restored.state, AlertState::Pending);
    assert_eq!(
        restored.active_at, pending.active_at,
        "the `for` timer continues"
    );
    let firing = wait_state(&d, "rforHigh", AlertState::Firing).await;
    assert_eq!(firing.active_at, pending.active_at);
    let fired_after = firing.fired_at.unwrap() - pending.active_at;
    assert!(
        fired_after >= chrono::Duration::seconds(5),
        "fired after {fired_after}"
    );
    // A timer started over at the restart could not fire before
    // restart + for; one that continued fires at pending + for, earlier.
    assert!(
        firing.fired_at.unwrap() < restarted_at + chrono::Duration::seconds(5),
        "timer restarted instead of continuing: fired {} after the restart",
        firing.fired_at.unwrap() - restarted_at
    );
    wait_for("one delivery", WAIT, || async {
        (receiver.accepted_alerts().len() == 1).then_some(())
    })
    .await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_firing_does_not_notify_again() {
    push("t_rfire", "t_rfire_v{deployment=\"d1\"} 10").await;
    wait_prometheus_value("t_rfire_v", 10.0).await;
    let receiver = Receiver::start(&[]).await;
    let dir = Daemon::prepare(
        &simple_rule("rfire", "t_rfire_v", "0s"),
        &hook(&receiver.url()),
    );
    let d = Daemon::start(&dir).await;
    let firing = wait_state(&d, "rfireHigh", AlertState::Firing).await;
    wait_for("first delivery", WAIT, || async {
        (receiver.accepted_alerts().len() == 1).then_some(())
    })
    .await;
    d.stop().await;

    let d = Daemon::start(&dir).await;
    // let it evaluate several times with the alert still true
    wait_for("3 evaluations after restart", WAIT, || async {
        let g = d
            .engine()
            .group_statuses()
            .into_iter()
            .find(|g| g.name == "rfire")?;
        (g.evaluations >= 3).then_some(())
    })
    .await;
    let still = d.alert("rfireHigh").unwrap();
    assert_eq!(still.state, AlertState::Firing);
    assert_eq!(
        still.fired_at, firing.fired_at,
        "same firing, not a new one"
    );
    d.settle(3).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "no duplicate notification after restart"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_500_then_200_is_delivered_exactly_once() {
    push("t_retry", "t_retry_v{deployment=\"d1\"} 10").await;
    wait_prometheus_value("t_retry_v", 10.0).await;
    let receiver = Receiver::start(&[500]).await;
    let dir = Daemon::prepare(
        &simple_rule("retry", "t_retry_v", "0s"),
        &hook(&receiver.url()),
    );
    let d = Daemon::start(&dir).await;
    let firing = wait_state(&d, "retryHigh", AlertState::Firing).await;
    let rows = wait_for("the outbox row to be sent", WAIT, || async {
        let rows = outbox(&d, firing.fingerprint).await;
        rows.iter().all(|r| r.status == "sent").then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 2, "one 500, then one 200");
    d.settle(3).await;
    let got = receiver.received();
    assert_eq!(
        got.iter().map(|r| r.status_returned).collect::<Vec<_>>(),
        [500, 200]
    );
    assert_eq!(receiver.accepted_alerts().len(), 1, "exactly one delivery");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_4xx_is_given_up_with_the_reason() {
    push("t_gone", "t_gone_v{deployment=\"d1\"} 10").await;
    wait_prometheus_value("t_gone_v", 10.0).await;
    let receiver = Receiver::start(&[404]).await;
    let dir = Daemon::prepare(
        &simple_rule("gone", "t_gone_v", "0s"),
        &hook(&receiver.url()),
    );
    let d = Daemon::start(&dir).await;
    let firing = wait_state(&d, "goneHigh", AlertState::Firing).await;
    let rows = wait_for("the outbox row to fail", WAIT, || async {
        let rows = outbox(&d, firing.fingerprint).await;
        rows.iter().all(|r| r.status == "failed").then_some(rows)
    })
    .await;
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("HTTP 404"),
        "{rows:?}"
    );
    d.settle(3).await;
    assert_eq!(receiver.received().len(), 1, "a 4xx is not retried");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_notifications_are_sent_after_restart() {
    push("t_resume", "t_resume_v{deployment=\"d1\"} 10").await;
    wait_prometheus_value("t_resume_v", 10.0).await;
    // The receiver is down: its port is held but nothing listens on it.
    let socket = common::refusing_port();
    let port = socket.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let dir = Daemon::prepare(&simple_rule("resume", "t_resume_v", "0s"), &hook(&url));
    let d = Daemon::start(&dir).await;
    let firing = wait_state(&d, "resumeHigh", AlertState::Firing).await;
    wait_for("a failed attempt", WAIT, || async {
        let rows = outbox(&d, firing.fingerprint).await;
        rows.iter()
            .any(|r| r.attempts >= 1 && r.status == "pending")
            .then_some(())
    })
    .await;
    d.stop().await;

    // The receiver comes up where the config points, and the daemon restarts.
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
    let sink = std::sync::Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::Json<serde_json::Value>| {
            let sink = std::sync::Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push(body.0);
                "ok"
            }
        }),
    );
    // The same socket starts listening: the port was never let go.
    let listener = socket.listen(64).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let d = Daemon::start(&dir).await;
    wait_for("the stored notification to arrive", WAIT, || async {
        (got.lock().unwrap().len() == 1).then_some(())
    })
    .await;
    // The receiver has the message before the daemon has its answer and
    // records the row as sent: wait for that too.
    let rows = wait_for("the row recorded as sent", WAIT, || async {
        let rows = outbox(&d, firing.fingerprint).await;
        rows.iter().all(|r| r.status == "sent").then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "sent");
    assert_eq!(
        got.lock().unwrap()[0]["alerts"][0]["labels"]["alertname"],
        "resumeHigh"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_prometheus_resolves_nothing_and_raises_datasource_unavailable() {
    push("t_kill", "t_kill_v{deployment=\"d1\"} 10").await;
    // A Prometheus of this test's own, so that killing it leaves the others alone.
    let prometheus = common::OwnPrometheus::start(None);
    let (prom_url, pid) = (prometheus.url.clone(), prometheus.pid.clone());

    let receiver = Receiver::start(&[]).await;
    let daemon_dir = Daemon::prepare(
        &simple_rule("kill", "t_kill_v", "0s"),
        &hook(&receiver.url()),
    );
    let config = std::fs::read_to_string(daemon_dir.join("tocsin.yaml"))
        .unwrap()
        .replace(&common::env().prometheus_url, &prom_url);
    std::fs::write(daemon_dir.join("tocsin.yaml"), config).unwrap();
    let d = Daemon::start(&daemon_dir).await;
    let firing = wait_state(&d, "killHigh", AlertState::Firing).await;

    std::process::Command::new("kill")
        .arg("-9")
        .arg(&pid)
        .status()
        .unwrap();
    let ds = wait_state(&d, "DatasourceUnavailable", AlertState::Firing).await;
    assert_eq!(ds.severity.as_str(), "error");
    let still = d.alert("killHigh").unwrap();
    assert_eq!(
        still.state,
        AlertState::Firing,
        "a dead Prometheus resolves nothing"
    );
    assert_eq!(still.fired_at, firing.fired_at);
    let health = d
        .engine()
        .rule_statuses()
        .into_iter()
        .find(|r| r.alert == "killHigh")
        .unwrap();
    assert_eq!(health.health, "err");
    assert!(health.last_error.unwrap().contains("unavailable"));

    // A long outage: 20 more failed evaluations (well past the failures
    // that raise DatasourceUnavailable) still resolve nothing.
    let failures = || {
        d.engine()
            .group_statuses()
            .into_iter()
            .find(|g| g.name == "kill")
            .map_or(0, |g| g.failures)
    };
    let before = failures();
    wait_for(
        "20 more failed evaluations",
        Duration::from_secs(60),
        || async { (failures() >= before + 20).then_some(()) },
    )
    .await;
    let still = d.alert("killHigh").unwrap();
    assert_eq!(
        still.state,
        AlertState::Firing,
        "a long outage resolves nothing"
    );
    assert_eq!(still.fired_at, firing.fired_at);

    let names: Vec<(String, String)> = wait_for("2 deliveries", WAIT, || async {
        let got: Vec<_> = receiver
            .accepted_alerts()
            .iter()
            .map(|a| {
                (
                    a["status"].as_str().unwrap().to_string(),
                    a["labels"]["alertname"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert!(
        names.contains(&("firing".into(), "DatasourceUnavailable".into())),
        "{names:?}"
    );
    assert!(!names.iter().any(|(s, _)| s == "resolved"), "{names:?}");
    d.stop().await;
}

/// A fake Prometheus on loopback: one path answers garbage, the other hangs.
async fn bad_prometheus() -> String {
    let app = axum::Router::new().route(
        "/api/v1/query",
        post(|body: String| async move {
            if body.contains("hang") {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            (
                [("content-type", "application/json")],
                "{\"status\": \"succ",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_hanging_prometheus_show_in_health_and_delay_no_other_group() {
    let url = bad_prometheus().await;
    let dir = Daemon::prepare(
        r#"
groups:
  - name: garbage
    interval: 1s
    rules:
      - alert: FromGarbage
        query: garbage_metric > 1
  - name: hanging
    interval: 1s
    rules:
      - alert: FromHang
        query: hang_metric > 1
"#,
        "",
    );
    let config = std::fs::read_to_string(dir.join("tocsin.yaml"))
        .unwrap()
        .replace(&common::env().prometheus_url, &url)
        .replace("timeout: 2s", "timeout: 1500ms");
    std::fs::write(dir.join("tocsin.yaml"), config).unwrap();
    let d = Daemon::start(&dir).await;
    let health = |name: &str| {
        d.engine()
            .rule_statuses()
            .into_iter()
            .find(|r| r.alert == name)
            .unwrap()
    };
    wait_for("garbage to be reported", WAIT, || async {
        let h = health("FromGarbage");
        (h.health == "err").then_some(())
    })
    .await;
    wait_for("the hang to time out", WAIT, || async {
        let h = health("FromHang");
        (h.health == "err").then_some(())
    })
    .await;
    assert!(
        health("FromHang").last_error.unwrap().contains("timed out")
            || health("FromHang").last_error.unwrap().contains("no answer")
    );
    // The hanging group never delayed the other one: it kept its 1s pace.
    wait_for("5 garbage evaluations", WAIT, || async {
        let g = d
            .engine()
            .group_statuses()
            .into_iter()
            .find(|g| g.name == "garbage")?;
        (g.evaluations >= 5).then_some(())
    })
    .await;
    let hanging = d
        .engine()
        .group_statuses()
        .into_iter()
        .find(|g| g.name == "hanging")
        .unwrap();
    // The proof that the hanging group never held up the other: the garbage
    // group made 5 evaluations while the hanging one could not finish 5
    // (each of its queries waits for the 2 s timeout), or it missed ticks.
    assert!(
        hanging.evaluations < 5 || hanging.missed_iterations > 0,
        "{hanging:?}"
    );
    assert!(
        d.engine()
            .alerts()
            .iter()
            .all(|a| a.alert == "DatasourceUnavailable"),
        "garbage created no rule alerts"
    );
    d.stop().await;
}
