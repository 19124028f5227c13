//! End to end against the real Prometheus + Pushgateway of the test run: rules
//! evaluated every second, state in SQLite, webhook deliveries checked on the wire.
//! Every test has its own job and metric names.

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, Receiver, push, wait_for, wait_prometheus_value};
use tocsin::alert::AlertState;

const WAIT: Duration = Duration::from_secs(30);

fn webhook_config(receiver: &Receiver) -> String {
    format!(
        "targets:\n  - {{name: hook, type: webhook, url: \"{}\", headers: {{X-Token: abc}}}}\n",
        receiver.url()
    )
}

async fn wait_state(d: &Daemon, alert: &str, state: AlertState) -> tocsin::alert::AlertInstance {
    wait_for(&format!("{alert} to be {state:?}"), WAIT, || async {
        d.alert(alert).filter(|a| a.state == state)
    })
    .await
}

async fn wait_accepted(r: &Receiver, n: usize) -> Vec<serde_json::Value> {
    wait_for(&format!("{n} accepted webhook alerts"), WAIT, || async {
        let got = r.accepted_alerts();
        (got.len() >= n).then_some(got)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_goes_pending_firing_resolved_and_is_delivered() {
    push(
        "t_lifecycle",
        "t_lifecycle_connections{deployment=\"d1\"} 100",
    )
    .await;
    wait_prometheus_value("t_lifecycle_connections", 100.0).await;
    let receiver = Receiver::start(&[]).await;
    let dir = Daemon::prepare(
        r#"
groups:
  - name: lifecycle
    interval: 1s
    labels: {service: emqx}
    rules:
      - alert: ConnectionCountHigh
        query: sum by (deployment) (t_lifecycle_connections)
        when: "> 500"
        for: 2s
        severity: warning
        message: "Connection count too high on {{ labels.deployment }}: {{ value }}"
        resolution: "Upgrade the deployment's plan"
"#,
        &webhook_config(&receiver),
    );
    let d = Daemon::start(&dir).await;

    let crossed = Instant::now();
    push(
        "t_lifecycle",
        "t_lifecycle_connections{deployment=\"d1\"} 900",
    )
    .await;
    let pending = wait_state(&d, "ConnectionCountHigh", AlertState::Pending).await;
    let firing = wait_state(&d, "ConnectionCountHigh", AlertState::Firing).await;
    assert!(
        firing.fired_at.unwrap() - pending.active_at >= chrono::Duration::seconds(2),
        "fired before `for`"
    );

    let alerts = wait_accepted(&receiver, 1).await;
    let latency = receiver.received()[0].at - crossed;
    eprintln!(
        "MEASURED threshold crossing -> webhook delivery: {latency:?} (scrape 1s, eval 1s, for 2s)"
    );
    let a = &alerts[0];
    assert_eq!(a["status"], "firing");
    assert_eq!(a["labels"]["alertname"], "ConnectionCountHigh");
    assert_eq!(a["labels"]["severity"], "warning");
    assert_eq!(a["labels"]["service"], "emqx");
    assert_eq!(a["labels"]["deployment"], "d1");
    assert_eq!(
        a["annotations"]["summary"],
        "Connection count too high on d1: 900.0"
    );
    assert_eq!(
        a["annotations"]["resolution"],
        "Upgrade the deployment's plan"
    );
    assert_eq!(receiver.received()[0].headers["x-token"], "abc");

    push(
        "t_lifecycle",
        "t_lifecycle_connections{deployment=\"d1\"} 100",
    )
    .await;
    wait_state(&d, "ConnectionCountHigh", AlertState::Resolved).await;
    let alerts = wait_accepted(&receiver, 2).await;
    assert_eq!(alerts[1]["status"], "resolved");
    assert_ne!(alerts[1]["endsAt"], "0001-01-01T00:00:00Z");

    let events = d
        .engine()
        .store()
        .events_for(firing.fingerprint)
        .await
        .unwrap();
    let path: Vec<_> = events
        .iter()
        .map(|e| format!("{}->{}", e.from_state, e.to_state))
        .collect();
    assert_eq!(
        path,
        ["inactive->pending", "pending->firing", "firing->resolved"]
    );
    // nothing else went out: one firing, one resolved
    d.settle(3).await;
    assert_eq!(receiver.accepted_alerts().len(), 2);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_escalates_deescalates_and_waits_for_hysteresis() {
    push("t_levels", "t_levels_conn{deployment=\"d1\"} 100").await;
    wait_prometheus_value("t_levels_conn", 100.0).await;
    let receiver = Receiver::start(&[]).await;
    let dir = Daemon::prepare(
        r#"
groups:
  - name: levels
    interval: 1s
    rules:
      - alert: ConnectionsLevels
        query: t_levels_conn
        severity: {warning: "> 500", error: "> 900"}
        resolve_when: "< 300"
"#,
        &webhook_config(&receiver),
    );
    let d = Daemon::start(&dir).await;
    let sev = |d: &Daemon| {
        d.alert("ConnectionsLevels")
            .map(|a| (a.state, a.severity.as_str().to_string()))
    };

    push("t_levels", "t_levels_conn{deployment=\"d1\"} 600").await;
    wait_for("warning", WAIT, || async {
        (sev(&d)? == (AlertState::Firing, "warning".into())).then_some(())
    })
    .await;
    push("t_levels", "t_levels_conn{deployment=\"d1\"} 1000").await;
    wait_for("error", WAIT, || async {
        (sev(&d)? == (AlertState::Firing, "error".into())).then_some(())
    })
    .await;
    push("t_levels", "t_levels_conn{deployment=\"d1\"} 400").await;
    wait_for("back to warning", WAIT, || async {
        (sev(&d)? == (AlertState::Firing, "warning".into())).then_some(())
    })
    .await;
    // 400 is below the warning threshold but above resolve_when: held firing
    wait_prometheus_value("t_levels_conn", 400.0).await;
    d.more_evaluations(3).await;
    assert_eq!(sev(&d).unwrap().0, AlertState::Firing);
    push("t_levels", "t_levels_conn{deployment=\"d1\"} 200").await;
    wait_state(&d, "ConnectionsLevels", AlertState::Resolved).await;

    let alerts = wait_accepted(&receiver, 4).await;
    let seen: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["status"].as_str().unwrap().to_string(),
                a["labels"]["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("firing", "warning"),
            ("firing", "error"),
            ("firing", "warning"),
            ("resolved", "warning")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // one alert identity throughout
    let fps: std::collections::HashSet<_> = alerts
        .iter()
        .map(|a| a["labels"]["deployment"].to_string())
        .collect();
    assert_eq!(fps.len(), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_firing_for_and_no_data_policies() {
    push(
        "t_keep",
        "t_keep_a{deployment=\"d1\"} 10\nt_keep_b{deployment=\"d1\"} 10",
    )
    .await;
    wait_prometheus_value("t_keep_b", 10.0).await;
    let dir = Daemon::prepare(
        r#"
groups:
  - name: keep
    interval: 1s
    rules:
      - alert: HeldAfterClear
        query: t_keep_a
        when: "> 5"
        keep_firing_for: 4s
        severity: warning
      - alert: KeptOnNoData
        query: t_keep_b
        when: "> 5"
        on_no_data: keep
        severity: warning
"#,
        "",
    );
    let d = Daemon::start(&dir).await;
    wait_state(&d, "HeldAfterClear", AlertState::Firing).await;
    wait_state(&d, "KeptOnNoData", AlertState::Firing).await;

    // Both series disappear from Prometheus.
    let url = format!("{}/metrics/job/t_keep", common::env().pushgateway_url);
    common::http().delete(&url).send().await.unwrap();
    let cleared = Instant::now();
    let held = wait_for("keep_firing_since to be set", WAIT, || async {
        d.alert("HeldAfterClear").and_then(|a| a.keep_firing_since)
    })
    .await;
    let resolved = wait_state(&d, "HeldAfterClear", AlertState::Resolved).await;
    assert!(
        resolved.resolved_at.unwrap() - held >= chrono::Duration::seconds(4),
        "held at least keep_firing_for"
    );
    assert!(cleared.elapsed() >= Duration::from_secs(4));
    // no data with on_no_data: keep leaves the alert firing
    assert_eq!(d.alert("KeptOnNoData").unwrap().state, AlertState::Firing);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_rule_file_loads_unchanged_and_renders_go_templates() {
    push("t_promfmt", "t_promfmt_up{instance=\"db-1:9100\"} 0").await;
    wait_prometheus_value("t_promfmt_up", 0.0).await;
    let receiver = Receiver::start(&[]).await;
    let dir = Daemon::prepare(
        r#"
groups:
  - name: promfmt
    interval: 1s
    rules:
      - record: job:t_promfmt_up:sum
        expr: sum by (job) (t_promfmt_up)
      - alert: InstanceDown
        expr: t_promfmt_up == 0
        for: 0s
        labels:
          severity: critical
        annotations:
          summary: "Instance {{ $labels.instance }} down"
          description: "{{ $labels.instance }} of job {{ $labels.job }} is down (value {{ $value }})."
"#,
        &webhook_config(&receiver),
    );
    let d = Daemon::start(&dir).await;
    let alerts = wait_accepted(&receiver, 1).await;
    let a = &alerts[0];
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["annotations"]["summary"], "Instance db-1:9100 down");
    assert_eq!(
        a["annotations"]["description"],
        "db-1:9100 of job t_promfmt is down (value 0)."
    );
    assert_eq!(d.alert("InstanceDown").unwrap().severity.as_str(), "error");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scalar_results_and_cron_groups() {
    push(
        "t_scalar",
        "t_scalar_v{deployment=\"d1\"} 7\nt_scalar_v{deployment=\"d2\"} 8",
    )
    .await;
    wait_prometheus_value("sum(t_scalar_v)", 15.0).await;
    let dir = Daemon::prepare(
        r#"
groups:
  - name: scalar
    cron: "* * * * * *"
    timezone: Asia/Shanghai
    rules:
      - alert: TotalHigh
        query: scalar(sum(t_scalar_v))
        when: ">= 15"
        severity: error
        message: "total is {{ value }}"
"#,
        "",
    );
    let d = Daemon::start(&dir).await;
    let a = wait_state(&d, "TotalHigh", AlertState::Firing).await;
    assert_eq!(a.message, "total is 15.0");
    assert_eq!(
        a.labels.len(),
        1,
        "a scalar has no labels but alertname: {:?}",
        a.labels
    );
    // the cron group keeps ticking every second
    let first = d
        .engine()
        .group_statuses()
        .into_iter()
        .find(|g| g.name == "scalar")
        .unwrap()
        .evaluations;
    wait_for("3 more cron evaluations", WAIT, || async {
        let g = d
            .engine()
            .group_statuses()
            .into_iter()
            .find(|g| g.name == "scalar")?;
        (g.evaluations >= first + 3).then_some(())
    })
    .await;
    d.stop().await;
}
