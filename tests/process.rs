//! `tocsin run` as a separate process, as operators run it: killed with
//! SIGKILL while a notification is undelivered, it delivers it exactly once
//! after the restart; and at debug level its log never holds a secret.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Receiver, Spawned};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// `GET url` as JSON, None while the daemon does not answer.
fn get_json(url: &str) -> Option<Value> {
    let out = std::process::Command::new("curl")
        .args(["-sf", "--max-time", "5", url])
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// Polls `f` (blocking) until it gives Some, or panics naming `what`.
fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The evaluations of group `g` so far.
fn evaluations(d: &Spawned) -> Option<u64> {
    get_json(&d.url("/api/v1/rules"))?[0]["evaluations"].as_u64()
}

/// The newest outbox row of the alert `Fires`.
fn last_notification(d: &Spawned) -> Option<Value> {
    let alerts = get_json(&d.url("/api/v1/alerts"))?;
    let a = alerts.as_array()?.iter().find(|a| a["alert"] == "Fires")?;
    Some(a["last_notification"].clone()).filter(|n| !n.is_null())
}

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(
        dir.join("rules/r.yaml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Fires\n        query: vector(1)\n        when: \"> 0\"\n        severity: error\n        message: \"it fires\"\n",
    )
    .unwrap();
    let cfg = dir.join("tocsin.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:0\nrules: [rules]\ndata_dir: data\nprometheus: {{url: \"{}\", timeout: 2s}}\ndelivery: {{retry_initial: 200ms, retry_max: 500ms}}\n{extra}",
            common::env().prometheus_url
        ),
    )
    .unwrap();
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_an_undelivered_notification_delivers_it_exactly_once() {
    // The receiver refuses the first attempts, so the row is still pending
    // when the daemon is killed; after that it accepts.
    let receiver = Receiver::start(&[500, 500, 500, 500]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "targets:\n  - {{name: hook, type: webhook, url: \"{}\"}}\n",
            receiver.url()
        ),
    );
    let first = tokio::task::block_in_place(|| Spawned::start(&cfg, "info"));
    let row = tokio::task::block_in_place(|| {
        poll("a failed attempt on the outbox row", || {
            last_notification(&first)
                .filter(|n| n["status"] == "pending" && n["attempts"].as_u64() >= Some(1))
        })
    });
    assert!(receiver.accepted_alerts().is_empty(), "{row}");
    first.kill9();

    let second = tokio::task::block_in_place(|| Spawned::start(&cfg, "info"));
    tokio::task::block_in_place(|| {
        poll("the row sent after the restart", || {
            last_notification(&second).filter(|n| n["status"] == "sent")
        })
    });
    // Nothing more may come: wait for five more evaluations, then for the
    // outbox to hold nothing pending, before counting.
    tokio::task::block_in_place(|| {
        let now = poll("evaluations", || evaluations(&second));
        poll("five more evaluations", || {
            evaluations(&second).filter(|n| *n >= now + 5)
        });
    });
    let accepted = receiver.accepted_alerts();
    assert_eq!(accepted.len(), 1, "exactly once: {accepted:?}");
    assert_eq!(accepted[0]["labels"]["alertname"], "Fires");
    assert_eq!(accepted[0]["status"], "firing");
    let tries = receiver.received().len();
    assert!(tries >= 2, "retried across the restart: {tries} requests");
    second.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_at_debug_level() {
    const API_TOKEN: &str = "log-api-token-0123456789";
    const HEADER: &str = "hdr-secret-77c1";
    const URL_TOKEN: &str = "urltok-5d2e";
    const DT_TOKEN: &str = "dt-access-token-93ab";
    const DT_SECRET: &str = "SECdt-signing-31f0";
    const SMTP_PASSWORD: &str = "smtp-pass-8e44";
    const PING_KEY: &str = "ping-key-abcdefghijkl";
    let refused = common::refusing_port();
    let down = refused.local_addr().unwrap();
    let hook = Receiver::start(&[500, 500]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "api_token: '{API_TOKEN}'
heartbeat: {{ping_key: '{PING_KEY}'}}
mailer: {{host: 127.0.0.1, port: {port}, tls: none, username: u, password: '{SMTP_PASSWORD}', from: 'a@example.com', timeout: 2s}}
targets:
  - {{name: hook, type: webhook, url: '{hook}?token={URL_TOKEN}', headers: {{Authorization: 'Bearer {HEADER}'}}}}
  - {{name: dt, type: dingtalk, webhook: 'http://{down}/robot/send?access_token={DT_TOKEN}', secret: '{DT_SECRET}'}}
  - {{name: mail, type: email, to: [ops@example.com]}}
",
            port = down.port(),
            hook = hook.url(),
        ),
    );
    let d = tokio::task::block_in_place(|| Spawned::start(&cfg, "debug"));
    let base = d.url("");
    tokio::task::block_in_place(|| {
        // Deliveries fail and are retried on every target; pings with the
        // key; writes with a wrong token; a reload.
        poll("failed attempts on every target", || {
            let log = d.log();
            let retried = |t: &str| {
                log.lines()
                    .any(|l| l.contains("retried") && l.contains(&format!("target_name={t} ")))
            };
            (retried("hook") && retried("dt") && retried("mail")).then_some(())
        });
        for args in [
            vec![
                "-s".to_string(),
                format!("{base}/ping/{PING_KEY}/backup-db1?create=1"),
            ],
            vec![
                "-s".into(),
                "-XPOST".into(),
                "-H".into(),
                format!("Authorization: Bearer {API_TOKEN}x"),
                format!("{base}/-/reload"),
            ],
            vec![
                "-s".into(),
                "-XPOST".into(),
                "-H".into(),
                format!("Authorization: Bearer {API_TOKEN}"),
                format!("{base}/-/reload"),
            ],
        ] {
            std::process::Command::new("curl")
                .args(&args)
                .output()
                .unwrap();
        }
        std::process::Command::new("kill")
            .args(["-HUP", &d.child.id().to_string()])
            .status()
            .unwrap();
        poll("the reloads in the log", || {
            (d.log().matches("reload").count() >= 2).then_some(())
        });
    });
    let log = d.stop();
    assert!(log.contains("DEBUG"), "the log is at debug level:\n{log}");
    for secret in [
        API_TOKEN,
        HEADER,
        URL_TOKEN,
        DT_TOKEN,
        DT_SECRET,
        SMTP_PASSWORD,
        PING_KEY,
    ] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
}
