//! Heartbeats end to end: real HTTP against the running daemon (in this
//! process), the shipped rules/backup.yaml evaluated every second, SQLite on
//! disk (or PostgreSQL in the suite's second pass), and the `tocsin ping` binary.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Daemon, http, wait_for};
use serde_json::Value;
use tocsin::alert::AlertState;

const KEY: &str = "test-ping-key-0123456789";
const WAIT: Duration = Duration::from_secs(30);

/// The shipped backup rules, evaluated every second, with short run limits.
fn backup_rules() -> String {
    std::fs::read_to_string(common::repo().join("rules/backup.yaml"))
        .unwrap()
        .replace("interval: 10s", "interval: 1s")
        .replace("{stuck: 6h}", "{stuck: 2s}")
        .replace("{slow: 2h}", "{slow: 1s}")
}

/// A daemon with `rules` (as rules/test.yaml), `checks` (as rules/checks.yaml)
/// and `heartbeat_config` under `heartbeat:`.
async fn daemon(rules: &str, checks: &str, heartbeat_config: &str) -> Daemon {
    let dir = Daemon::prepare(rules, &format!("heartbeat: {heartbeat_config}\n"));
    std::fs::write(dir.join("rules/checks.yaml"), checks).unwrap();
    Daemon::start(&dir).await
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("daemon answers");
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        text: resp.text().await.unwrap(),
    }
}

async fn get(d: &Daemon, path: &str) -> Answer {
    send(http().get(d.api(path))).await
}

async fn post(d: &Daemon, path: &str, body: &str) -> Answer {
    send(http().post(d.api(path)).body(body.to_string())).await
}

async fn checks(d: &Daemon) -> Vec<Value> {
    let a = get(d, "/api/v1/heartbeats").await;
    assert_eq!(a.status, 200, "{}", a.text);
    serde_json::from_str(&a.text).unwrap()
}

async fn check(d: &Daemon, name: &str) -> Value {
    checks(d)
        .await
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}"))
}

async fn ping_log(d: &Daemon, name: &str) -> Vec<Value> {
    let a = get(d, &format!("/api/v1/heartbeats/{name}/pings")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    serde_json::from_str(&a.text).unwrap()
}

/// `/ping/{key}` of a check.
async fn ping_path(d: &Daemon, name: &str) -> String {
    format!("/ping/{}", check(d, name).await["key"].as_str().unwrap())
}

async fn wait_alert(d: &Daemon, alert: &str, state: AlertState) -> tocsin::alert::AlertInstance {
    wait_for(&format!("{alert} to be {state:?}"), WAIT, || async {
        d.alert(alert).filter(|a| a.state == state)
    })
    .await
}

async fn wait_state(d: &Daemon, name: &str, state: &str) {
    wait_for(&format!("check {name} to be {state}"), WAIT, || async {
        (check(d, name).await["state"] == state).then_some(())
    })
    .await
}

fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str().unwrap().parse().unwrap()
}

fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_endpoints_answer_like_healthchecks() {
    let d = daemon(
        "groups: []\n",
        "heartbeats:\n  - name: db1\n    every: 1h\n    grace: 10m\n    labels: {vault: v1}\n  - name: \"backup-{vault}-{client}\"\n    every: 2h\n    grace: 5m\n    labels: {team: storage}\n",
        &format!("{{ping_key: {KEY}, ping_body_limit: 100, keep_pings: 5}}"),
    )
    .await;
    let c = check(&d, "db1").await;
    assert_eq!(c["state"], "new");
    let key = c["key"].as_str().unwrap().to_string();
    assert!(
        uuid::Uuid::parse_str(&key).unwrap().get_version_num() == 4,
        "keys are UUID v4"
    );
    let p = format!("/ping/{key}");

    // success, by every method; the body limit is said; anyone may ping
    let a = get(&d, &p).await;
    assert_eq!((a.status, a.text.as_str()), (200, "OK"));
    assert_eq!(a.headers["ping-body-limit"], "100");
    assert_eq!(a.headers["access-control-allow-origin"], "*");
    assert_eq!(post(&d, &p, "hello").await.status, 200);
    assert_eq!(send(http().head(d.api(&p))).await.status, 200);
    let c = check(&d, "db1").await;
    assert_eq!(c["state"], "up");
    assert_eq!(c["pings"], 3);
    let log = ping_log(&d, "db1").await;
    assert_eq!(log[0]["method"], "HEAD");
    assert_eq!(log[1]["body"], "hello");
    assert_eq!(log[1]["remote_addr"], "127.0.0.1");

    // the ping is in the database once answered: a separate connection sees it
    let config = tocsin::config::Config::load(Some(&d.dir.join("tocsin.yaml"))).unwrap();
    let n: i64 = tocsin::store::Store::open_reader(&config.database())
        .unwrap()
        .run_blocking(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM heartbeat_pings p JOIN heartbeat_checks c ON c.id = p.check_id WHERE c.name = 'db1'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(n, 3);

    // every action and exit code 0..=255
    for (suffix, status, kind, exit) in [
        ("/start", 200, "start", Value::Null),
        ("/log", 200, "log", Value::Null),
        ("/fail", 200, "fail", Value::Null),
        ("/0", 200, "success", Value::from(0)),
        ("/1", 200, "fail", Value::from(1)),
        ("/255", 200, "fail", Value::from(255)),
    ] {
        let a = get(&d, &format!("{p}{suffix}")).await;
        assert_eq!(a.status, status, "{suffix}: {}", a.text);
        let last = &ping_log(&d, "db1").await[0];
        assert_eq!(
            (&last["kind"], &last["exit_code"]),
            (&Value::from(kind), &exit),
            "{suffix}"
        );
    }
    assert_eq!(check(&d, "db1").await["last_exit_code"], 255);

    // bad input: nothing is recorded
    let before = check(&d, "db1").await["pings"].clone();
    for (path, status, text) in [
        (format!("{p}/256"), 400, "invalid url format"),
        (format!("{p}/99999999999"), 400, "invalid url format"),
        (format!("{p}?rid=not-a-uuid"), 400, "invalid uuid format"),
        (format!("{p}/start?rid="), 400, "invalid uuid format"),
        (format!("{p}/stop"), 404, "not found"),
        (
            format!("/ping/{}", uuid::Uuid::new_v4()),
            404,
            "not found: no check has this key",
        ),
        (
            "/ping/not-a-key".to_string(),
            404,
            "not found: no check has this key",
        ),
        (format!("/ping/{key}/start/extra"), 404, "not found"),
    ] {
        let a = get(&d, &path).await;
        assert_eq!((a.status, a.text.as_str()), (status, text), "{path}");
    }
    assert_eq!(check(&d, "db1").await["pings"], before);

    // a body over the limit is kept cut, not refused
    let big = "x".repeat(1000);
    assert_eq!(post(&d, &p, &big).await.status, 200);
    let last = &ping_log(&d, "db1").await[0];
    assert_eq!(last["body"].as_str().unwrap().len(), 100);
    assert_eq!(last["body_size"], 1000);
    // ... even past the 2 MB that web frameworks refuse by default
    assert_eq!(post(&d, &p, &"y".repeat(3_000_000)).await.status, 200);
    assert_eq!(ping_log(&d, "db1").await[0]["body_size"], 3_000_000);

    // only the last keep_pings pings are kept; the count goes on
    let log = ping_log(&d, "db1").await;
    assert_eq!(log.len(), 5);
    let pings = check(&d, "db1").await["pings"].as_u64().unwrap();
    assert_eq!(log[0]["n"].as_u64(), Some(pings));
    assert_eq!(log[4]["n"].as_u64(), Some(pings - 4));

    // slug URLs
    assert_eq!(get(&d, &format!("/ping/{KEY}/db1")).await.status, 200);
    assert_eq!(get(&d, &format!("/ping/{KEY}/db1/start")).await.status, 200);
    assert_eq!(get(&d, &format!("/ping/{KEY}/db1/0")).await.status, 200);
    for (path, status, text) in [
        (format!("/ping/{KEY}/db1/256"), 400, "invalid url format"),
        (
            format!("/ping/{KEY}/Db1"),
            400,
            "invalid slug format: expected a-z, 0-9, - and _",
        ),
        (
            "/ping/wrong-key-0123456789/db1".to_string(),
            404,
            "not found: wrong ping key",
        ),
        (
            format!("/ping/{KEY}/nothing-here"),
            404,
            "not found: no check has this slug (add ?create=1 to create it)",
        ),
        (format!("/ping/{key}/db1/0"), 404, "not found"),
    ] {
        let a = get(&d, &path).await;
        assert_eq!((a.status, a.text.as_str()), (status, text), "{path}");
    }

    // ?create=1 creates from the most specific template, once
    let a = get(&d, &format!("/ping/{KEY}/backup-prod-web-01?create=1")).await;
    assert_eq!((a.status, a.text.as_str()), (201, "Created"));
    let a = get(
        &d,
        &format!("/ping/{KEY}/backup-prod-web-01/start?create=1"),
    )
    .await;
    assert_eq!((a.status, a.text.as_str()), (200, "OK"));
    let c = check(&d, "backup-prod-web-01").await;
    assert_eq!(c["origin"], "auto");
    assert_eq!(c["slug"], "backup-prod-web-01");
    assert_eq!(c["every_seconds"], 7200.0);
    assert_eq!(c["grace_seconds"], 300.0);
    assert_eq!(
        c["labels"],
        serde_json::json!({"vault": "prod", "client": "web-01", "team": "storage"})
    );
    assert_eq!(c["state"], "running");
    // ... and no template: the defaults (1 day, 1 hour)
    assert_eq!(
        get(&d, &format!("/ping/{KEY}/lonely?create=1"))
            .await
            .status,
        201
    );
    let c = check(&d, "lonely").await;
    assert_eq!(
        (c["every_seconds"].clone(), c["grace_seconds"].clone()),
        (Value::from(86400.0), Value::from(3600.0))
    );
    // /metrics counts each recorded ping, the creating one too
    let metrics = get(&d, "/metrics").await.text;
    for line in [
        "tocsin_heartbeat_pings_total{check=\"backup-prod-web-01\",kind=\"success\"} 1",
        "tocsin_heartbeat_pings_total{check=\"backup-prod-web-01\",kind=\"start\"} 1",
        "tocsin_heartbeat_pings_total{check=\"lonely\",kind=\"success\"} 1",
        "tocsin_heartbeat_pings_total{check=\"lonely\",kind=\"fail\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }

    // Healthchecks' documented client works unchanged
    let out = tokio::process::Command::new("curl")
        .args(["-fsS", "-m", "10", "--retry", "5", &d.api(&p)])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK");
    let out = tokio::process::Command::new("curl")
        .args([
            "-fsS",
            "-m",
            "10",
            "--retry",
            "5",
            "--data-raw",
            "backup log",
            &d.api(&format!("{p}/0")),
        ])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    assert_eq!(ping_log(&d, "db1").await[0]["body"], "backup log");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_ids_pair_each_start_with_its_end() {
    let d = daemon(
        "groups: []\n",
        "heartbeats:\n  - {name: job, every: 1h, grace: 1m}\n",
        "{}",
    )
    .await;
    let p = ping_path(&d, "job").await;
    let (a, b) = (rid(), rid());
    assert_eq!(get(&d, &format!("{p}/start?rid={a}")).await.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&d, &format!("{p}/start?rid={b}")).await.status, 200);
    // run a ends; run b (the latest start) is still running
    assert_eq!(get(&d, &format!("{p}/0?rid={a}")).await.status, 200);
    let c = check(&d, "job").await;
    assert_eq!(c["state"], "running");
    assert_eq!(c["last_duration_seconds"], Value::Null);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&d, &format!("{p}/0?rid={b}")).await.status, 200);
    let c = check(&d, "job").await;
    assert_eq!(c["state"], "up");
    let took = c["last_duration_seconds"].as_f64().unwrap();
    assert!((0.3..5.0).contains(&took), "{took}");
    let log = ping_log(&d, "job").await;
    assert_eq!(log[0]["rid"], b.as_str());
    assert_eq!(log[0]["duration_seconds"].as_f64(), Some(took));
    assert_eq!(log[1]["rid"], a.as_str());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_shows_every_state() {
    let d = daemon(
        "groups: []\n",
        "heartbeats:\n  - {name: s, every: 2s, grace: 2s}\n  - {name: r, every: 1h, grace: 1h}\n",
        "{}",
    )
    .await;
    let s = ping_path(&d, "s").await;
    assert_eq!(check(&d, "s").await["state"], "new");
    assert_eq!(get(&d, &s).await.status, 200);
    let c = check(&d, "s").await;
    assert_eq!(c["state"], "up");
    assert_eq!(
        time(&c["due_at"]) - time(&c["last_ping"]),
        chrono::Duration::seconds(2)
    );
    wait_state(&d, "s", "late").await;
    wait_state(&d, "s", "down").await;

    let r = ping_path(&d, "r").await;
    assert_eq!(get(&d, &format!("{r}/start")).await.status, 200);
    assert_eq!(check(&d, "r").await["state"], "running");
    assert_eq!(get(&d, &format!("{r}/fail")).await.status, 200);
    assert_eq!(check(&d, "r").await["state"], "failed");
    assert_eq!(post(&d, "/api/v1/heartbeats/r/pause", "").await.status, 200);
    assert_eq!(check(&d, "r").await["state"], "paused");
    assert_eq!(
        post(&d, "/api/v1/heartbeats/r/resume", "").await.status,
        200
    );
    let c = check(&d, "r").await;
    assert_eq!(
        (c["state"].clone(), c["last_ping"].clone()),
        (Value::from("new"), Value::Null)
    );
    assert_eq!(
        post(&d, "/api/v1/heartbeats/r/resume", "").await.status,
        409
    );
    assert_eq!(
        post(&d, "/api/v1/heartbeats/nope/pause", "").await.status,
        404
    );
    assert_eq!(get(&d, "/api/v1/heartbeats/nope/pings").await.status, 404);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_fires_backup_client_disconnected_and_its_next_ping_resolves_it() {
    // every 2s + grace 1s, evaluated every 1s
    let d = daemon(
        &backup_rules(),
        "heartbeats:\n  - {name: backup-v1-c1, every: 2s, grace: 1s}\n",
        "{}",
    )
    .await;
    let p = ping_path(&d, "backup-v1-c1").await;
    assert_eq!(get(&d, &p).await.status, 200);
    let last = time(&check(&d, "backup-v1-c1").await["last_ping"]);
    let alert = wait_alert(&d, "BackupClientDisconnected", AlertState::Firing).await;
    let after = alert.fired_at.unwrap() - last;
    eprintln!(
        "MEASURED last ping -> BackupClientDisconnected firing: {after} (every 2s, grace 1s, interval 1s)"
    );
    assert!(
        after > chrono::Duration::seconds(3),
        "fired before period + grace: {after}"
    );
    // period + grace + one interval is when it is due; the bound is loose
    // so a loaded machine passes (detection latency is measured by
    // scripts/bench.sh, not here).
    assert!(
        after <= chrono::Duration::milliseconds(3000 + 1000 + 10_000),
        "fired late: {after}"
    );
    assert_eq!(alert.severity.as_str(), "error");
    assert_eq!(alert.labels["check"], "backup-v1-c1");
    assert_eq!(alert.labels["vault"], "v1");
    assert_eq!(alert.labels["client"], "c1");
    assert!(
        alert
            .message
            .starts_with("Backup client c1 of vault v1 has not reported for 3"),
        "{}",
        alert.message
    );
    assert!(
        alert.resolution.contains("next ping"),
        "{}",
        alert.resolution
    );

    let pinged = Instant::now();
    assert_eq!(get(&d, &p).await.status, 200);
    wait_alert(&d, "BackupClientDisconnected", AlertState::Resolved).await;
    // Resolved by the next evaluations, not by a timeout (loose bound).
    assert!(
        pinged.elapsed() < Duration::from_secs(15),
        "{:?}",
        pinged.elapsed()
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_fires_backup_failed_and_a_good_run_resolves_it() {
    let d = daemon(
        &backup_rules(),
        "heartbeats:\n  - {name: backup-v2-db, every: 1h, grace: 1h}\n",
        "{}",
    )
    .await;
    let p = ping_path(&d, "backup-v2-db").await;
    assert_eq!(
        post(&d, &format!("{p}/fail"), "no space left").await.status,
        200
    );
    let a = wait_alert(&d, "BackupFailed", AlertState::Firing).await;
    assert_eq!(a.value, 1.0, "/fail without an exit code");
    assert_eq!(
        a.message,
        "Backup of client db of vault v2 failed with exit code 1; the end of its output:\nno space left"
    );
    assert!(
        a.resolution
            .contains("/api/v1/heartbeats/backup-v2-db/pings")
    );
    // the failure's exit code becomes the value
    assert_eq!(get(&d, &format!("{p}/3")).await.status, 200);
    wait_for("value 3", WAIT, || async {
        d.alert("BackupFailed").filter(|a| a.value == 3.0)
    })
    .await;
    assert_eq!(get(&d, &format!("{p}/0")).await.status, 200);
    wait_alert(&d, "BackupFailed", AlertState::Resolved).await;
    assert!(d.alert("BackupClientDisconnected").is_none());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_and_slow_runs_fire_their_warnings() {
    // stuck: 2s, slow: 1s
    let d = daemon(
        &backup_rules(),
        "heartbeats:\n  - {name: backup-v3-fs, every: 1h, grace: 1h}\n",
        "{}",
    )
    .await;
    let p = ping_path(&d, "backup-v3-fs").await;
    let r = rid();
    assert_eq!(get(&d, &format!("{p}/start?rid={r}")).await.status, 200);
    let stuck = wait_alert(&d, "BackupRunningTooLong", AlertState::Firing).await;
    assert_eq!(stuck.severity.as_str(), "warning");
    assert!(stuck.value > 2.0, "{}", stuck.value);
    assert!(
        stuck.message.contains("has been running for 2"),
        "{}",
        stuck.message
    );
    assert_eq!(get(&d, &format!("{p}/0?rid={r}")).await.status, 200);
    wait_alert(&d, "BackupRunningTooLong", AlertState::Resolved).await;
    let slow = wait_alert(&d, "BackupSlow", AlertState::Firing).await;
    let took = check(&d, "backup-v3-fs").await["last_duration_seconds"]
        .as_f64()
        .unwrap();
    assert!(took > 2.0);
    // The same duration, read from the check's state and from the API
    // (one may round through milliseconds: 2.986 against 2.9859999999999998).
    assert!((slow.value - took).abs() < 1e-6, "{} vs {took}", slow.value);
    // a quick run clears it
    let r = rid();
    assert_eq!(get(&d, &format!("{p}/start?rid={r}")).await.status, 200);
    assert_eq!(get(&d, &format!("{p}/0?rid={r}")).await.status, 200);
    wait_alert(&d, "BackupSlow", AlertState::Resolved).await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_keys_last_pings_and_created_checks() {
    let d = daemon(
        "groups: []\n",
        "heartbeats:\n  - {name: db1, every: 1h, grace: 1h}\n",
        &format!("{{ping_key: {KEY}}}"),
    )
    .await;
    let p = ping_path(&d, "db1").await;
    assert_eq!(post(&d, &format!("{p}/0"), "run 1").await.status, 200);
    assert_eq!(
        get(&d, &format!("/ping/{KEY}/made-by-ping?create=1"))
            .await
            .status,
        201
    );
    let before = checks(&d).await;
    let dir = d.dir.clone();
    d.stop().await;

    let d = Daemon::start(&dir).await;
    let after = checks(&d).await;
    for (b, a) in before.iter().zip(&after) {
        for field in [
            "name",
            "key",
            "slug",
            "last_ping",
            "last_status",
            "last_exit_code",
            "pings",
            "created_at",
            "due_at",
        ] {
            assert_eq!(a[field], b[field], "{} {field}", b["name"]);
        }
    }
    assert_eq!(after.len(), 2);
    assert_eq!(ping_log(&d, "db1").await[0]["body"], "run 1");
    // numbering goes on where it stopped
    assert_eq!(get(&d, &p).await.status, 200);
    assert_eq!(ping_log(&d, "db1").await[0]["n"], 2);
    assert_eq!(
        get(&d, &format!("/ping/{KEY}/made-by-ping")).await.status,
        200
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_rules_read_the_heartbeat_views() {
    let d = daemon(
        r#"
groups:
  - name: sql
    interval: 1s
    rules:
      - alert: RepeatedFailures
        sql: |
          SELECT name AS check_name, json_extract(labels, '$.vault') AS vault, count(*) AS value
          FROM heartbeat_log WHERE kind = 'fail' GROUP BY name, labels HAVING count(*) >= 2
        severity: error
        message: "{{ labels.check_name }} failed {{ value | int }} times"
"#,
        "heartbeats:\n  - {name: job-a, every: 1h, labels: {vault: v9}}\n",
        "{}",
    )
    .await;
    let p = ping_path(&d, "job-a").await;
    assert_eq!(get(&d, &format!("{p}/fail")).await.status, 200);
    assert_eq!(get(&d, &format!("{p}/4")).await.status, 200);
    let a = wait_alert(&d, "RepeatedFailures", AlertState::Firing).await;
    assert_eq!(a.labels["check_name"], "job-a");
    assert_eq!(a.labels["vault"], "v9");
    assert_eq!(a.value, 2.0);
    assert_eq!(a.message, "job-a failed 2 times");
    let health = d.engine().rule_statuses();
    assert_eq!(health[0].health, "ok", "{:?}", health[0].last_error);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_pings_never_blocks_rule_evaluation() {
    let d = daemon(
        &backup_rules(),
        "heartbeats:\n  - {name: backup-v4-a, every: 1h, grace: 1h}\n",
        "{keep_pings: 50}",
    )
    .await;
    let url = d.api(&ping_path(&d, "backup-v4-a").await);
    let status = |d: &Daemon| {
        d.engine()
            .group_statuses()
            .into_iter()
            .find(|g| g.name == "backup")
            .unwrap()
    };
    wait_for("a first evaluation", WAIT, || async {
        (status(&d).evaluations > 0).then_some(())
    })
    .await;
    let before = status(&d);
    let flood = Duration::from_secs(3);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = http();
            let (mut ok, mut other) = (0u64, 0u64);
            while started.elapsed() < flood {
                match client.post(&url).body("ok").send().await {
                    Ok(r) if r.status() == 200 => ok += 1,
                    _ => other += 1,
                }
            }
            (ok, other)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (o, other) = t.await.unwrap();
        assert_eq!(other, 0, "every ping is answered 200");
        ok += o;
    }
    let after = status(&d);
    eprintln!(
        "MEASURED flood: {ok} pings in {:?} (debug build, 32 clients); {} evaluations meanwhile, last took {:.1} ms",
        started.elapsed(),
        after.evaluations - before.evaluations,
        after.last_duration_seconds * 1000.0
    );
    // The flood does not stop evaluation (how much it slows it is for
    // scripts/bench.sh; a loaded machine may miss a tick).
    assert!(
        after.evaluations > before.evaluations,
        "no evaluation during the flood"
    );
    // every answered ping is recorded
    assert_eq!(check(&d, "backup-v4-a").await["pings"], ok);
    assert_eq!(ping_log(&d, "backup-v4-a").await.len(), 50);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slug_urls_need_a_ping_key_and_creation_can_be_off_or_full() {
    let one = "heartbeats:\n  - {name: one, every: 1h}\n";
    let d = daemon("groups: []\n", one, "{}").await;
    let a = get(&d, &format!("/ping/{KEY}/one")).await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (
            404,
            "not found: slug URLs need heartbeat.ping_key in the config"
        )
    );
    d.stop().await;

    let d = daemon(
        "groups: []\n",
        one,
        &format!("{{ping_key: {KEY}, auto_create: false}}"),
    )
    .await;
    assert_eq!(get(&d, &format!("/ping/{KEY}/one")).await.status, 200);
    let a = get(&d, &format!("/ping/{KEY}/two?create=1")).await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (
            404,
            "not found: no check has this slug, and creating checks is off (heartbeat.auto_create)"
        )
    );
    d.stop().await;

    let d = daemon(
        "groups: []\n",
        one,
        &format!("{{ping_key: {KEY}, max_checks: 2}}"),
    )
    .await;
    assert_eq!(
        get(&d, &format!("/ping/{KEY}/two?create=1")).await.status,
        201
    );
    let a = get(&d, &format!("/ping/{KEY}/three?create=1")).await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (403, "check limit of 2 reached (heartbeat.max_checks)")
    );
    assert_eq!(checks(&d).await.len(), 2);
    d.stop().await;
}

fn tocsin_ping(url: &str, extra: &[&str], command: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    c.arg("ping").args(extra).arg(url).arg("--").args(command);
    c.env("RUST_LOG", "warn");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tocsin_ping_wraps_a_failing_command_and_the_failure_arrives() {
    let d = daemon(
        &backup_rules(),
        "heartbeats:\n  - {name: backup-v5-srv, every: 1h, grace: 1h}\n",
        &format!("{{ping_key: {KEY}}}"),
    )
    .await;
    let url = d.api(&ping_path(&d, "backup-v5-srv").await);
    let out = tocsin_ping(
        &url,
        &[],
        &[
            "sh",
            "-c",
            "echo copying files; sleep 0.3; echo 'disk full' >&2; exit 3",
        ],
    )
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "the command's exit code");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "copying files\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "disk full\n");

    let c = check(&d, "backup-v5-srv").await;
    assert_eq!(c["state"], "failed");
    assert_eq!(c["last_exit_code"], 3);
    let took = c["last_duration_seconds"].as_f64().unwrap();
    assert!(took >= 0.3, "start and end paired: {took}");
    let log = ping_log(&d, "backup-v5-srv").await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["kind"], "start");
    assert_eq!(log[0]["kind"], "fail");
    assert_eq!(log[0]["exit_code"], 3);
    assert_eq!(log[0]["rid"], log[1]["rid"]);
    assert_eq!(log[0]["body"], "copying files\ndisk full\n");
    let a = wait_alert(&d, "BackupFailed", AlertState::Firing).await;
    assert_eq!(a.value, 3.0);
    assert_eq!(a.labels["client"], "srv");

    // a good run resolves it; a new client creates its check by its first run
    let out = tocsin_ping(&url, &[], &["true"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(0));
    wait_alert(&d, "BackupFailed", AlertState::Resolved).await;
    let created = d.api(&format!("/ping/{KEY}/backup-v6-web?create=1"));
    let out = tocsin_ping(&created, &[], &["sh", "-c", "exit 0"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = check(&d, "backup-v6-web").await;
    assert_eq!(
        c["labels"],
        serde_json::json!({"vault": "v6", "client": "web"})
    );
    assert_eq!(c["state"], "up");
    assert!(c["last_duration_seconds"].is_number());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_reported_within_15s_with_the_end_of_its_output() {
    let sink = common::mocks::JsonSink::start().await;
    let wecom = common::mocks::WeComMock::start("wk").await;
    // The shipped rules as they are (the group every 10 s); times in Shanghai.
    // A webhook has room for the whole output; a WeCom robot's text message
    // (2 048 bytes) gets its last lines.
    let shipped = std::fs::read_to_string(common::repo().join("rules/backup.yaml")).unwrap();
    let dir = Daemon::prepare(
        &shipped,
        &format!(
            "timezone: Asia/Shanghai\nheartbeat: {{ping_key: {KEY}}}\ntargets:\n  - {{name: hook, type: webhook, url: 'http://{}/hook', payload: tocsin}}\n  - {{name: wc, type: wecom, webhook: '{}', format: text}}\n  - {{name: wc_zh, type: wecom, webhook: '{}', language: zh}}\n",
            sink.addr,
            wecom.url(),
            wecom.url(),
        ),
    );
    let d = Daemon::start(&dir).await;
    let url = d.api(&format!("/ping/{KEY}/backup-v7-db?create=1"));
    // 300 lines of progress, then the reason: more than a message carries.
    let script = "exec 2>&1; i=0; while [ $i -lt 300 ]; do echo \"copied chunk $i of 300\"; i=$((i+1)); done; \
                  echo 'Fatal: unable to open repository: 目标已锁定' >&2; exit 4";
    let started = Instant::now();
    let out = tocsin_ping(&url, &[], &["sh", "-c", script])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let hit = wait_for(
        "BackupFailed at the webhook",
        Duration::from_secs(20),
        || async {
            sink.log
                .hits()
                .into_iter()
                .find(|h| h.body["alert"] == "BackupFailed")
        },
    )
    .await;
    let took = hit.at - started;
    assert!(took <= Duration::from_secs(15), "reported after {took:?}");
    let message = hit.body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Backup of client db of vault v7 failed with exit code 4; the end of its output:\ncopied chunk 0 of 300\n"
        ),
        "a webhook has room for all of it: {message}"
    );
    assert!(
        message.ends_with("copied chunk 299 of 300\nFatal: unable to open repository: 目标已锁定"),
        "the output's last lines: {message}"
    );
    // The robots: the last lines within their limit, after a marker, in
    // the target's language (the mock rejects a text over its limit).
    let robot = wait_for(
        "BackupFailed at both robots",
        Duration::from_secs(20),
        || async {
            let hits = wecom.log.hits();
            (hits.len() >= 2).then_some(hits)
        },
    )
    .await;
    for h in &robot {
        assert_eq!(h.answer["errcode"], 0, "{:?}", h.answer);
    }
    let content = |kind: &str| {
        robot
            .iter()
            .find_map(|h| h.body[kind]["content"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no {kind} message: {robot:?}"))
    };
    let text = content("text");
    assert!(text.len() <= 2048, "{} bytes", text.len());
    assert!(
        text.contains("the end of its output:\n… (earlier output left out)\ncopied chunk "),
        "{text}"
    );
    assert!(
        text.contains("copied chunk 299 of 300\nFatal: unable to open repository: 目标已锁定"),
        "{text}"
    );
    assert!(!text.contains("chunk 0 of"), "{text}");
    assert!(
        !text.contains("(message shortened)"),
        "the output was cut, not the message: {text}"
    );
    let md = content("markdown");
    assert!(md.len() <= 4096, "{} bytes", md.len());
    assert!(md.contains("……（前面的输出已省略）"), "{md}");
    assert!(md.contains("目标已锁定"), "{md}");
    assert!(!md.contains("chunk 0 of"), "{md}");
    // The message text gives the time in the config's zone.
    let a = d.alert("BackupFailed").unwrap();
    let since = a
        .active_at
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M:%S +08:00")
        .to_string();
    let text = hit.body["text"].as_str().unwrap();
    assert!(text.contains(&format!("Since: {since}")), "{text}");
    d.stop().await;
}

/// A ping receiver that answers the scripted statuses in order, then 200
/// (0: answers after 30 s).
async fn stub(script: &[u16]) -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    use axum::extract::{OriginalUri, State};
    type Shared = (Arc<Mutex<Vec<(String, String)>>>, Arc<Mutex<Vec<u16>>>);
    async fn answer(
        State((got, script)): State<Shared>,
        OriginalUri(uri): OriginalUri,
        body: String,
    ) -> axum::http::StatusCode {
        got.lock().unwrap().push((uri.to_string(), body));
        let code = {
            let mut s = script.lock().unwrap();
            if s.is_empty() { 200 } else { s.remove(0) }
        };
        if code == 0 {
            // 0: an answer that never comes in time
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        axum::http::StatusCode::from_u16(code.max(200)).unwrap()
    }
    let got = Arc::new(Mutex::new(Vec::new()));
    let state: Shared = (Arc::clone(&got), Arc::new(Mutex::new(script.to_vec())));
    let app = axum::Router::new().fallback(answer).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/ping/k"), got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tocsin_ping_retries_and_never_changes_the_exit_code() {
    let fast = ["--retries", "3", "--retry-delay", "50ms", "--timeout", "2s"];
    // the start ping meets two 503s, then gets through
    let (url, got) = stub(&[503, 503]).await;
    let out = tocsin_ping(&url, &fast, &["sh", "-c", "exit 5"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let got = got.lock().unwrap().clone();
    let paths: Vec<&str> = got
        .iter()
        .map(|(p, _)| p.split('?').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/ping/k/start",
            "/ping/k/start",
            "/ping/k/start",
            "/ping/k/5"
        ]
    );
    let rids: Vec<&str> = got
        .iter()
        .map(|(p, _)| p.split("rid=").nth(1).unwrap())
        .collect();
    assert!(rids.iter().all(|r| *r == rids[0]), "one run id: {rids:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("retrying"));

    // nobody listening: the command still runs and its code comes back
    let refused = common::refusing_port();
    let closed = refused.local_addr().unwrap();
    let out = tocsin_ping(
        &format!("http://{closed}/ping/k"),
        &["--retries", "1", "--retry-delay", "10ms"],
        &["sh", "-c", "echo ran; exit 7"],
    )
    .output()
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not delivered after 2 attempts"));

    // a daemon that does not answer holds the command up one second at most
    let (url, _) = stub(&[0, 0]).await;
    let started = Instant::now();
    let mut child = tocsin_ping(
        &url,
        &["--retries", "0", "--timeout", "3s"],
        &["sh", "-c", "echo started; exit 4"],
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(
        &mut tokio::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .await
    .unwrap();
    let held = started.elapsed();
    assert_eq!(line, "started\n");
    assert!(held < Duration::from_secs(10), "held up {held:?}");
    assert!(
        held >= Duration::from_secs(1),
        "did not wait for the start ping: {held:?}"
    );
    assert_eq!(child.wait().await.unwrap().code(), Some(4));

    // a 4xx is not retried; a command that cannot start is exit code 127, reported
    let (url, got) = stub(&[404]).await;
    let out = tocsin_ping(&url, &fast, &["/nonexistent/backup-tool"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[1].0.starts_with("/ping/k/127?rid="));
    assert!(
        got[1].1.contains("cannot run \"/nonexistent/backup-tool\""),
        "{}",
        got[1].1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ping_connection_syncs_every_commit() {
    // A ping is answered once its commit is on disk: SQLite's
    // `synchronous = FULL` on the ping connection, read back from SQLite.
    let d = daemon(
        "groups: []\n",
        "heartbeats:\n  - {name: durable, every: 1h}\n",
        "{}",
    )
    .await;
    let metrics = get(&d, "/metrics").await.text;
    assert!(
        metrics.contains("\ntocsin_heartbeat_store_synchronous 2\n"),
        "{metrics}"
    );
    d.stop().await;
}
