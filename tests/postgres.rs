//! The daemon on PostgreSQL (`database: postgres://…`) when the server goes
//! away under it: a PostgreSQL of this test's own (started by
//! `scripts/testenv.sh postgres`, so restarting it disturbs no other test)
//! is restarted while pings stream in and an alert fires. Every ping that
//! was answered 200 is in the database afterwards, the firing alert is
//! neither resolved nor notified again, and `/healthz` says 503 while the
//! server is down and 200 once it is back.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Daemon, Receiver, http, push, wait_for, wait_prometheus_value};
use tocsin::alert::AlertState;

const WAIT: Duration = Duration::from_secs(30);

/// A PostgreSQL server of this test's own, stopped when dropped.
struct OwnPostgres {
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        if std::env::var("TOCSIN_TEST_POSTGRES_URL").is_err()
            && std::env::var("CI").as_deref() == Ok("true")
        {
            panic!("CI=true but no PostgreSQL: run the suite with scripts/test.sh");
        }
        let dir = tempfile::Builder::new()
            .prefix("tocsin-test-pg-")
            .tempdir()
            .unwrap()
            .keep();
        let status = std::process::Command::new("bash")
            .arg(common::repo().join("scripts/testenv.sh"))
            .arg("postgres")
            .arg(&dir)
            .arg(std::process::id().to_string())
            .status()
            .expect("run scripts/testenv.sh postgres");
        assert!(status.success(), "scripts/testenv.sh postgres failed");
        let env = std::fs::read_to_string(dir.join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OwnPostgres { dir, env }
    }

    fn var(&self, k: &str) -> &str {
        self.env
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{k} missing from testenv"))
    }

    fn url(&self) -> &str {
        self.var("TOCSIN_TEST_POSTGRES_URL")
    }

    /// `pg_ctl ACTION` as the server's user (fast shutdown: sessions end).
    fn pg_ctl(&self, action: &str) {
        let bin = Path::new(self.var("TOCSIN_TEST_POSTGRES_BIN")).join("pg_ctl");
        let user = self.var("TOCSIN_TEST_POSTGRES_USER");
        let mut cmd = if user.is_empty() {
            std::process::Command::new(bin)
        } else {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", user, "--"]).arg(bin);
            c
        };
        let status = cmd
            .args(["-D", self.var("TOCSIN_TEST_POSTGRES_DATA")])
            .args(["-l", self.var("TOCSIN_TEST_POSTGRES_LOG")])
            .args(["-m", "fast", "-w", "-t", "30", action])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run pg_ctl");
        assert!(status.success(), "pg_ctl {action} failed");
    }

    /// Runs one query on the server and returns the first column of the
    /// first row (off the async threads: the client blocks).
    fn count(&self, sql: &str) -> i64 {
        let url = self.url().to_string();
        let sql = sql.to_string();
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.query_one(sql.as_str(), &[]).unwrap().get::<_, i64>(0)
        })
        .join()
        .unwrap()
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(common::repo().join("scripts/testenv.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
    let pinger = tokio::spawn(async move {
        let client = http();
        let (mut ok, mut refused) = (0u64, 0u64);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(12) && ok + refused < 3000 {
            match client.post(&ping_url).body("x").send().await {
                Ok(r) if r.status() == 200 => ok += 1,
                Ok(_) | Err(_) => refused += 1,
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (ok, refused)
    });
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
