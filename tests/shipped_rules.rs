//! The shipped rules/emqx.yaml against the real Prometheus: every query is
//! valid PromQL, and EMQX-shaped metrics fire the events with their messages.

mod common;

use std::time::Duration;

use common::{Daemon, push, wait_for, wait_prometheus_value};
use tocsin::alert::AlertState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emqx_rules_are_valid_promql_and_fire_on_emqx_metrics() {
    let now = chrono::Utc::now().timestamp();
    // Two deployments' worth of EMQX 5 metrics (names as EMQX exports them).
    push(
        "t_emqx",
        &format!(
            r#"
emqx_connections_count{{deployment="prod",node="emqx@a"}} 5000
emqx_connections_count{{deployment="prod",node="emqx@b"}} 4000
emqx_connections_count{{deployment="dev",node="emqx@c"}} 10
emqx_cert_expiry_at{{deployment="prod",listener_type="ssl",listener_name="default"}} {soon}
emqx_cert_expiry_at{{deployment="dev",listener_type="ssl",listener_name="default"}} {later}
emqx_connector_status{{deployment="prod",id="kafka:events"}} 0
emqx_connector_enable{{deployment="prod",id="kafka:events"}} 1
emqx_connector_status{{deployment="prod",id="http:off"}} 0
emqx_connector_enable{{deployment="prod",id="http:off"}} 0
emqx_messages_received{{deployment="prod"}} 1
"#,
            soon = now + 5 * 86400,
            later = now + 90 * 86400
        ),
    )
    .await;
    // The Pushgateway sets `job` from the push URL: the probe goes under its own job.
    push(
        "vpc-peering",
        r#"probe_success{deployment="prod",peering="pcx-1"} 0"#,
    )
    .await;
    wait_prometheus_value("sum(emqx_connections_count)", 9010.0).await;
    wait_prometheus_value("probe_success{job=\"vpc-peering\"}", 0.0).await;

    // The shipped file, evaluated every second and without `for` delays.
    let shipped = std::fs::read_to_string(common::repo().join("rules/emqx.yaml")).unwrap();
    let fast = shipped
        .replace("interval: 30s", "interval: 1s")
        .lines()
        .filter(|l| !l.trim_start().starts_with("for:"))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = Daemon::prepare(&fast, "");
    let d = Daemon::start(&dir).await;

    // Every rule evaluated fine against the real Prometheus.
    wait_for(
        "all ten rules evaluated",
        Duration::from_secs(20),
        || async {
            let st = d.engine().rule_statuses();
            (st.len() == 10 && st.iter().all(|r| r.health != "unknown")).then_some(())
        },
    )
    .await;
    for r in d.engine().rule_statuses() {
        assert_eq!(r.health, "ok", "{} failed: {:?}", r.alert, r.last_error);
    }

    let firing = |name: &'static str| {
        let d = &d;
        async move {
            wait_for(name, Duration::from_secs(20), || async {
                d.engine()
                    .alerts()
                    .into_iter()
                    .find(|a| a.alert == name && a.state == AlertState::Firing)
            })
            .await
        }
    };
    let conn = firing("ConnectionCountHigh").await;
    assert_eq!(conn.labels["deployment"], "prod");
    assert_eq!(
        conn.message,
        "Connection count too high on prod: 9000 connections (limit 8000)"
    );
    assert!(conn.resolution.contains("Upgrade"));

    let cert = firing("CertificateExpiring").await;
    assert_eq!(
        cert.labels["deployment"], "prod",
        "only the certificate expiring soon"
    );
    // About 5 days (less by however long the test has run: a paused or
    // stepped machine clock has shown 4.9 here).
    let days: f64 = cert
        .message
        .strip_prefix("TLS certificate of listener default on prod expires in ")
        .and_then(|rest| rest.strip_suffix(" days"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected message: {}", cert.message));
    assert!((4.5..=5.0).contains(&days), "{}", cert.message);

    let vpc = firing("VpcPeeringAbnormal").await;
    assert_eq!(vpc.severity.as_str(), "error");
    assert_eq!(vpc.labels["peering"], "pcx-1");

    let res = firing("RuleEngineResourceAbnormal").await;
    assert_eq!(
        res.labels["id"], "kafka:events",
        "disabled connectors do not alert"
    );
    assert_eq!(res.severity.as_str(), "error");

    let alerts = d.engine().alerts();
    let count = |name: &str| {
        alerts
            .iter()
            .filter(|a| a.alert == name && a.state == AlertState::Firing)
            .count()
    };
    assert_eq!(count("ConnectionCountHigh"), 1);
    assert_eq!(count("CertificateExpiring"), 1);
    assert_eq!(count("RuleEngineResourceAbnormal"), 1);
    assert_eq!(count("TpsOverLimit"), 0);
    d.stop().await;
}
