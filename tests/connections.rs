//! Connections are bounded: 1 100 idle and slowloris connections against a
//! daemon with 1 024 file descriptors, and pings and /healthz are still
//! answered; a client that never finishes its headers is cut off.

mod common;

use std::time::{Duration, Instant};

use common::process::{Setup, get_text, metric};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A fresh connection per request (no pool): what a ping client does.
fn one_shot() -> reqwest::Client {
    tocsin::http_client::builder(Duration::from_secs(5))
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_starve_pings() {
    let s = Setup::new(
        "heartbeats:\n  - {name: nightly, every: 1h, grace: 1h}\ngroups: []\n",
        "http: {header_timeout: 2s}\n",
    );
    let mut c = s.command();
    // SAFETY: setrlimit is async-signal-safe; runs in the child before exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let p = s.spawn(c).await;
    let list: serde_json::Value = s.get_json("/api/v1/heartbeats").await;
    let key = list[0]["key"].as_str().unwrap().to_string();

    // 1 100 connections: half say nothing, half send headers slowly.
    let addr = format!("127.0.0.1:{}", s.port);
    let mut held = Vec::new();
    for i in 0..1100 {
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr)).await {
            Ok(Ok(mut t)) => {
                if i % 2 == 1 {
                    let _ = t.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
                }
                held.push(t);
            }
            _ => break,
        }
    }
    assert!(held.len() >= 1000, "only {} connections opened", held.len());

    // Pings and /healthz are answered meanwhile, each on a new connection.
    let started = Instant::now();
    let c = one_shot();
    for _ in 0..20 {
        let r = c.get(s.url(&format!("/ping/{key}"))).send().await;
        let status = r.as_ref().map(|r| r.status().as_u16());
        assert_eq!(
            status.as_ref().ok(),
            Some(&200),
            "ping under 1 100 idle connections: {r:?}\nlog:\n{}",
            p.log_text()
        );
        let h = c.get(s.url("/healthz")).send().await.unwrap();
        assert_eq!(h.status(), 200);
    }
    let took = started.elapsed();
    eprintln!("20 pings + 20 /healthz under 1 100 idle connections: {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");

    let m = get_text(&s.url("/metrics")).await;
    let open = metric(&m, "tocsin_http_connections", "").unwrap();
    assert!(open <= 512.0, "bounded by http.max_connections: {open}");
    let evicted = metric(
        &m,
        "tocsin_http_connections_closed_total",
        "reason=\"evicted\"",
    )
    .unwrap();
    assert!(evicted >= 100.0, "idle ones made room: {evicted}");

    // A connection that never finishes its headers is cut off (header_timeout 2s).
    drop(held);
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 256];
    // Read until the server closes (it may answer 408 first).
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(n) = slow.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .expect("closed within 10 s");
    assert!(
        t.elapsed() >= Duration::from_millis(1500) && t.elapsed() < Duration::from_secs(6),
        "closed after {:?}",
        t.elapsed()
    );
    p.stop().await;
}
