//! A small data disk filled by the database's write-ahead log: noticed
//! (/healthz 503, writes refused), and recovered once space returns: the
//! log is checkpointed and truncated, with no restart, and also across a
//! kill -9 and restart. The data disk is an 8 MiB tmpfs (needs root to
//! mount; skipped elsewhere outside CI).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::process::{Proc, Setup, client};

struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn post(s: &Setup, i: usize) -> u16 {
    let body = serde_json::json!([{
        "labels": {"alertname": format!("Fill{i}")},
        "annotations": {"summary": "x".repeat(15_000), "description": "y".repeat(15_000)},
    }]);
    match client()
        .post(s.url("/api/v2/alerts"))
        .json(&body)
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

async fn health(s: &Setup) -> (u16, String) {
    match client().get(s.url("/healthz")).send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

async fn until(p: &Proc, what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f().await {
        assert!(
            Instant::now() < deadline,
            "timed out: {what}; log:\n{}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn wal_size(data: &Path) -> u64 {
    std::fs::metadata(data.join("tocsin.db-wal")).map_or(0, |m| m.len())
}

/// Leaves about `room` bytes free on the disk holding `data`.
fn fill(data: &Path, room: u64) {
    let free = tocsin::store::watch::free_bytes(data).unwrap();
    let filler = vec![0u8; free.saturating_sub(room) as usize];
    std::fs::write(data.join("filler"), filler).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_filled_by_the_log_recovers_when_space_returns() {
    let s = Setup::new("groups: []\n", "");
    let data = s.dir.join("data");
    let Some(_mount) = Mount::tmpfs(&data, "8m") else {
        assert!(
            std::env::var("CI").is_err(),
            "cannot mount a tmpfs (run as root)"
        );
        eprintln!("skipped: cannot mount a tmpfs");
        return;
    };
    let p = s.spawn(s.command()).await;
    fill(&data, 3 << 20);

    // Posts grow the log until the disk is full.
    let mut i = 0;
    let mut refused = false;
    while i < 2000 {
        i += 1;
        if post(&s, i).await != 200 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the disk never filled");
    until(&p, "/healthz to say the disk is full", async || {
        let (st, text) = health(&s).await;
        st == 503 && text.contains("is full")
    })
    .await;
    assert_eq!(post(&s, 99_999).await, 503, "writes refused while full");
    let full_wal = wal_size(&data);

    // Space returns: the log is checkpointed and truncated, no restart.
    std::fs::remove_file(data.join("filler")).unwrap();
    until(&p, "/healthz to recover", async || {
        health(&s).await.0 == 200
    })
    .await;
    until(&p, "the log to be truncated", async || {
        wal_size(&data) < full_wal / 2
    })
    .await;
    assert!(
        p.log_text()
            .contains("write-ahead log checkpointed and truncated"),
        "{}",
        p.log_text()
    );
    assert_eq!(post(&s, 100_000).await, 200, "writes work again");
    eprintln!(
        "disk full after {i} posts; log {full_wal} bytes when full, {} after recovery",
        wal_size(&data)
    );

    // Full again, killed, restarted once there is room: it comes up.
    fill(&data, 2 << 20);
    let mut j = 0;
    while j < 2000 && post(&s, 200_000 + j).await == 200 {
        j += 1;
    }
    p.kill9().await;
    std::fs::remove_file(data.join("filler")).unwrap();
    let p = s.spawn(s.command()).await;
    assert_eq!(health(&s).await.0, 200);
    assert!(
        wal_size(&data) < 1 << 20,
        "truncated at start: {}",
        wal_size(&data)
    );
    assert_eq!(post(&s, 300_000).await, 200);
    p.stop().await;
}
