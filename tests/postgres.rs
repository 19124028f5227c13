//! The daemon on PostgreSQL (`database: postgres://…`) when the server goes
//! away under it: a PostgreSQL of this test's own (started by
//! `scripts/testenv.sh postgres`, so restarting it disturbs no other test)
//! is restarted while pings stream in and an alert fires. Every ping that
//! was answered 200 is in the database afterwards, the firing alert is
//! neither resolved nor notified again, and `/healthz` says 503 while the
//! server is down and 200 once it is back.

mod common;

use std::time::Duration;

use common::own_postgres::OwnPostgres;
use common::{Daemon, Receiver, http, push, wait_for, wait_prometheus_value};
use tocsin::alert::AlertState;

const WAIT: Duration = Duration::from_secs(30);

/// Waits until `GET url` answers `status`.
async fn healthz_says(url: &str, status: u16) {
    wait_for(&format!("{url} to say {status}"), WAIT, || async {
        let r = http().get(url).send().await.ok()?;
        (r.status() == status).then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_loses_no_acknowledged_ping_and_resolves_nothing() {
    let pg = OwnPostgres::start();
    push("t_pgr", "t_pgr_v{deployment=\"d1\"} 10").await;
    wait_prometheus_value("t_pgr_v", 10.0).await;
    let receiver = Receiver::start(&[]).await;
    let rules = r#"
groups:
  - name: pgr
    interval: 1s
    rules:
      - alert: PgrHigh
        query: t_pgr_v
        when: "> 5"
        severity: warning
"#;
    let dir = Daemon::prepare(
        rules,
        &format!(
            "database: \"{}\"\ntargets:\n  - {{name: hook, type: webhook, url: \"{}\"}}\nheartbeat: {{keep_pings: 100000}}\n",
            pg.url(),
            receiver.url()
        ),
    );
    std::fs::write(
        dir.join("rules/checks.yaml"),
        "heartbeats:\n  - {name: pgr-client, every: 1h, grace: 10m}\n",
    )
    .unwrap();
    // Daemon::prepare may have written a `database:` of the shared server
    // too (the PostgreSQL pass): keep only this test's own.
    let config = std::fs::read_to_string(dir.join("tocsin.yaml")).unwrap();
    let config: String = config
        .lines()
        .filter(|l| !l.starts_with("database:") || l.contains(pg.url()))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("tocsin.yaml"), config).unwrap();
    let d = Daemon::start(&dir).await;

    let fired = wait_for("PgrHigh to fire", WAIT, || async {
        d.alert("PgrHigh").filter(|a| a.state == AlertState::Firing)
    })
    .await;
    wait_for("the firing notification", WAIT, || async {
        (!receiver.accepted_alerts().is_empty()).then_some(())
    })
    .await;
    let checks: serde_json::Value = d.get_json("/api/v1/heartbeats").await;
    let key = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pgr-client")
        .expect("the check")["key"]
        .as_str()
        .unwrap()
        .to_string();
    let ping_url = d.api(&format!("/ping/{key}"));
    let healthz = d.api("/healthz");

    // Pings stream in, bounded in count and time, while the server restarts.
    let pinger = common::stream_pings(vec![ping_url], Duration::from_secs(12), 3000);
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::block_in_place(|| pg.pg_ctl("stop"));
    healthz_says(&healthz, 503).await;
    // Down for a few evaluations of the 1 s group.
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::block_in_place(|| pg.pg_ctl("start"));
    healthz_says(&healthz, 200).await;
    let (ok, refused) = pinger.await.unwrap();
    eprintln!("pings: {ok} answered 200, {refused} refused while PostgreSQL was away");
    assert!(ok > 0, "some pings were answered");
    assert!(
        refused > 0,
        "pings while the server was down are refused, not answered 200"
    );

    // Every acknowledged ping is in the database.
    let stored = pg.count(
        "SELECT COUNT(*) FROM heartbeat_pings p JOIN heartbeat_checks c ON c.id = p.check_id WHERE c.name = 'pgr-client'",
    );
    assert_eq!(stored as u64, ok, "{refused} refused");

    // The alert stayed firing through it, and was neither resolved nor sent again.
    let before = d.evaluations().get("pgr").copied().unwrap_or(0);
    wait_for("evaluations after the restart", WAIT, || async {
        (d.evaluations().get("pgr").copied().unwrap_or(0) >= before + 3).then_some(())
    })
    .await;
    let now = d.alert("PgrHigh").expect("still there");
    assert_eq!(now.state, AlertState::Firing);
    assert_eq!(now.fired_at, fired.fired_at);
    let all = receiver.accepted_alerts();
    let of = |name: &str| -> Vec<String> {
        all.iter()
            .filter(|a| a["labels"]["alertname"] == name)
            .map(|a| a["status"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        of("PgrHigh"),
        ["firing"],
        "one notification, no re-notify: {all:?}"
    );
    // The outage itself was told once, and its end once.
    assert_eq!(of("DatabaseUnavailable"), ["firing", "resolved"], "{all:?}");
    let events = pg.count("SELECT COUNT(*) FROM alert_events WHERE alert = 'PgrHigh'");
    assert_eq!(events, 1, "one transition recorded: inactive → firing");
    d.stop().await;
}
