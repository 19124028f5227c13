//! The database under a running daemon: deleted or corrupted files are
//! noticed (ERROR log, /healthz 503, writes refused with 503, the built-in
//! alert DatabaseUnavailable sent straight to the targets), and a damaged
//! file is refused at start with "database is damaged".

mod common;

use std::time::{Duration, Instant};

use common::Receiver;
use common::process::{Proc, Setup, client};

fn setup(receiver: &Receiver) -> Setup {
    Setup::new(
        "groups: []\n",
        &format!(
            "database_check_interval: 1s\ntargets:\n  - {{name: hook, type: webhook, url: \"{}\"}}\n",
            receiver.url()
        ),
    )
}

async fn post_alert(s: &Setup, name: &str) -> (u16, String) {
    let r = client()
        .post(s.url("/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(format!(r#"[{{"labels": {{"alertname": "{name}"}}}}]"#))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn healthz(s: &Setup) -> (u16, String) {
    let r = client().get(s.url("/healthz")).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn wait_unhealthy(p: &Proc, s: &Setup, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, text) = healthz(s).await;
        if status == 503 {
            assert!(text.contains(what), "{text}");
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz still {status} {text}; log:\n{}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_builtin_alert(p: &Proc, r: &Receiver) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(a) = r
            .accepted_alerts()
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "DatabaseUnavailable")
        {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no DatabaseUnavailable; log:\n{}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_database_is_noticed_and_writes_are_refused() {
    let receiver = Receiver::start(&[]).await;
    let s = setup(&receiver);
    let p = s.spawn(s.command()).await;
    assert_eq!(post_alert(&s, "Before").await.0, 200);
    for f in ["tocsin.db", "tocsin.db-wal", "tocsin.db-shm"] {
        let _ = std::fs::remove_file(s.dir.join("data").join(f));
    }
    let why = wait_unhealthy(&p, &s, "was deleted").await;
    assert!(why.contains("restart tocsin"), "says what to do: {why}");
    let (status, text) = post_alert(&s, "After").await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("was deleted"), "{text}");
    let ping = client()
        .get(s.url("/ping/00000000-0000-0000-0000-000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 503, "pings are refused too");
    let log = p.log_text();
    assert!(
        log.contains("ERROR") && log.contains("database unavailable"),
        "{log}"
    );
    let a = wait_builtin_alert(&p, &receiver).await;
    assert!(
        a["annotations"].to_string().contains("was deleted")
            || a.to_string().contains("was deleted"),
        "{a}"
    );
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_database_is_noticed_and_refused_at_start() {
    let receiver = Receiver::start(&[]).await;
    let s = setup(&receiver);
    // First run creates the database; a clean stop checkpoints it.
    let p = s.spawn(s.command()).await;
    for i in 0..20 {
        assert_eq!(post_alert(&s, &format!("A{i}")).await.0, 200);
    }
    p.stop().await;
    let p = s.spawn(s.command()).await;
    assert_eq!(healthz(&s).await.0, 200);
    // Damage every page of the file but its header.
    let db = s.dir.join("data/tocsin.db");
    let len = std::fs::metadata(&db).unwrap().len();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.seek(SeekFrom::Start(100)).unwrap();
        f.write_all(&vec![0x5A; (len - 100) as usize]).unwrap();
        f.sync_all().unwrap();
    }
    let why = wait_unhealthy(&p, &s, "database is damaged").await;
    assert!(why.contains("restore"), "says what to do: {why}");
    let (status, text) = post_alert(&s, "After").await;
    assert_eq!(status, 503, "{text}");
    wait_builtin_alert(&p, &receiver).await;
    p.kill9().await;

    // A restart refuses the damaged file, saying so.
    let out = s.command().output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let all = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
    assert!(all.contains("database is damaged"), "{all}");
    assert!(!all.contains("invalid utf-8"), "{all}");
}
