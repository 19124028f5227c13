//! External events through `POST /api/v2/alerts`: stored, routed and
//! resolved like rule alerts (by `endsAt`, by expiry), a bad batch is a 400
//! that applies nothing, and a real Prometheus with this daemon as its
//! Alertmanager delivers its alerts through our routing.

mod common;

use std::time::Duration;

use common::{Daemon, Receiver, push, wait_for, wait_prometheus_value};
use tocsin::alert::AlertState;

const WAIT: Duration = Duration::from_secs(30);

/// `(status, alertname, severity)` of every alert a receiver accepted.
fn heard(r: &Receiver) -> Vec<(String, String, String)> {
    r.accepted_alerts()
        .iter()
        .map(|a| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
            (
                s(&a["status"]),
                s(&a["labels"]["alertname"]),
                s(&a["labels"]["severity"]),
            )
        })
        .collect()
}

fn h(status: &str, alert: &str, severity: &str) -> (String, String, String) {
    (status.into(), alert.into(), severity.into())
}

async fn post(d: &Daemon, body: serde_json::Value) -> (u16, serde_json::Value) {
    let resp = common::http()
        .post(d.api("/api/v2/alerts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

fn config(data: &Receiver, other: &Receiver) -> String {
    format!(
        "targets:
  - {{name: data-hook, type: webhook, url: \"{}\"}}
  - {{name: other-hook, type: webhook, url: \"{}\"}}
routing:
  default: [other-hook]
  scopes:
    - match: {{team: data}}
      notify: [data-hook]
",
        data.url(),
        other.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_events_fire_route_refresh_and_resolve() {
    let data = Receiver::start(&[]).await;
    let other = Receiver::start(&[]).await;
    let dir = Daemon::prepare("groups: []\n", &config(&data, &other));
    let d = Daemon::start(&dir).await;

    // A stream job stops (error) and another is in an unknown state (warning).
    let (status, body) = post(
        &d,
        serde_json::json!([
            {"labels": {"alertname": "StreamJobStop", "job_name": "etl", "team": "data", "severity": "error"},
             "annotations": {"summary": "etl stopped", "resolution": "restart the job"},
             "generatorURL": "http://scheduler/jobs/etl"},
            {"labels": {"alertname": "StreamJobUnknown", "job_name": "dedup", "severity": "warning"}}
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["fired"], 2);
    wait_for("both firing, each to its route", WAIT, || async {
        (heard(&data) == [h("firing", "StreamJobStop", "error")]
            && heard(&other) == [h("firing", "StreamJobUnknown", "warning")])
        .then_some(())
    })
    .await;
    let stop = d.alert("StreamJobStop").unwrap();
    assert_eq!(stop.group, "external");
    assert_eq!(stop.message, "etl stopped");
    assert_eq!(stop.resolution, "restart the job");

    // A re-post refreshes without notifying again.
    let (status, body) = post(
        &d,
        serde_json::json!([{"labels": {"alertname": "StreamJobStop", "job_name": "etl", "team": "data", "severity": "error"},
                            "annotations": {"summary": "etl stopped", "resolution": "restart the job"}}]),
    )
    .await;
    assert_eq!(
        (status, &body["summary"]["refreshed"]),
        (200, &serde_json::json!(1))
    );

    // A bad batch: 400 naming the alert, and its good alert is not applied.
    let (status, body) = post(
        &d,
        serde_json::json!([
            {"labels": {"alertname": "StreamJobCancel", "job_name": "x"}},
            {"labels": {"job_name": "y"}}
        ]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "alerts[1]: labels.alertname is missing");
    let (status, body) = post(&d, serde_json::json!({"labels": {}})).await;
    assert_eq!(status, 400, "{body}");
    assert!(d.alert("StreamJobCancel").is_none());

    // endsAt in the past resolves now; a short endsAt resolves by expiry.
    let past = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (status, body) = post(
        &d,
        serde_json::json!([
            {"labels": {"alertname": "StreamJobStop", "job_name": "etl", "team": "data", "severity": "error"}, "endsAt": past},
            {"labels": {"alertname": "StreamJobUnknown", "job_name": "dedup", "severity": "warning"}, "endsAt": soon}
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["resolved"], 1);
    wait_for("both resolved and notified", WAIT, || async {
        (heard(&data).contains(&h("resolved", "StreamJobStop", "error"))
            && heard(&other).contains(&h("resolved", "StreamJobUnknown", "warning")))
        .then_some(())
    })
    .await;
    assert_eq!(
        d.alert("StreamJobUnknown").unwrap().state,
        AlertState::Resolved
    );
    assert_eq!(data.accepted_alerts().len(), 2, "{:?}", heard(&data));
    assert_eq!(other.accepted_alerts().len(), 2, "{:?}", heard(&other));

    // A restart keeps the state; a reload keeps external alerts.
    let (status, _) = post(
        &d,
        serde_json::json!([{"labels": {"alertname": "StreamJobFinished", "job_name": "etl", "team": "data"}}]),
    )
    .await;
    assert_eq!(status, 200);
    d.running.as_ref().unwrap().reload().await.unwrap();
    assert_eq!(
        d.alert("StreamJobFinished").unwrap().state,
        AlertState::Firing
    );
    d.stop().await;
    let d = Daemon::start(&dir).await;
    assert_eq!(
        d.alert("StreamJobFinished").unwrap().state,
        AlertState::Firing
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sends_its_alerts_through_our_routing() {
    push("t_ext_prom", "t_ext_prom_value{deployment=\"d1\"} 10\n").await;
    wait_prometheus_value("t_ext_prom_value", 10.0).await;
    let data = Receiver::start(&[]).await;
    let other = Receiver::start(&[]).await;
    let dir = Daemon::prepare("groups: []\n", &config(&data, &other));
    let d = Daemon::start(&dir).await;
    let addr = d.running.as_ref().unwrap().addr;

    let _prometheus = common::OwnPrometheus::start(Some((
        addr,
        "groups:\n  - name: prom\n    rules:\n      - alert: PromSideHigh\n        expr: t_ext_prom_value > 5\n        labels: {severity: critical, team: data}\n        annotations: {summary: \"value {{ $value }}\"}\n",
    )));

    // Prometheus's `critical` is our `error`; `team: data` routes it.
    wait_for("Prometheus's alert delivered", WAIT, || async {
        heard(&data)
            .contains(&h("firing", "PromSideHigh", "critical"))
            .then_some(())
    })
    .await;
    let a = d.alert("PromSideHigh").unwrap();
    assert_eq!(a.severity.as_str(), "error");
    assert_eq!(a.message, "value 10");
    assert!(heard(&other).is_empty(), "{:?}", heard(&other));

    // Prometheus resolves it; its resolved post resolves ours.
    push("t_ext_prom", "t_ext_prom_value{deployment=\"d1\"} 0\n").await;
    wait_for("Prometheus's resolution delivered", WAIT, || async {
        heard(&data)
            .contains(&h("resolved", "PromSideHigh", "critical"))
            .then_some(())
    })
    .await;
    assert_eq!(d.alert("PromSideHigh").unwrap().state, AlertState::Resolved);

    d.stop().await;
}
