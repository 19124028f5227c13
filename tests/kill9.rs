//! kill -9 during a stream of deliveries: at least 20 kills while alerts are
//! posted and delivered; every alert that was answered 200 is delivered
//! after the restarts (0 lost). Duplicates are allowed (delivery is
//! at-least-once: a kill between a send and its record sends it again) and
//! reported.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Receiver;
use common::process::{Setup, client};

const KILLS: usize = 20;

/// A small deterministic-enough generator (no rand crate needed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_deliveries_loses_nothing() {
    let receiver = Receiver::start(&[]).await;
    let s = Setup::new(
        "groups: []\n",
        &format!(
            "targets:\n  - {{name: hook, type: webhook, url: \"{}\"}}\nrouting: {{default: [hook]}}\n",
            receiver.url()
        ),
    );
    let mut p = s.spawn(s.command()).await;
    let accepted = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // The stream: one alert per post, as fast as the daemon answers.
    let poster = {
        let (accepted, stop, url) = (
            Arc::clone(&accepted),
            Arc::clone(&stop),
            s.url("/api/v2/alerts"),
        );
        tokio::spawn(async move {
            let c = tocsin::http_client::builder(Duration::from_secs(2))
                .no_proxy()
                .build()
                .unwrap();
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let name = format!("K{i:05}");
                i += 1;
                let body =
                    format!(r#"[{{"labels": {{"alertname": "{name}", "stream": "kill9"}}}}]"#);
                let r = c
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status() == 200) {
                    accepted.lock().unwrap().insert(name);
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Lcg(seed);
    let started = Instant::now();
    let mut kills_amid_deliveries = 0;
    for _ in 0..KILLS {
        // Let posts and deliveries run a random while, then kill -9.
        let before = receiver.received().len();
        tokio::time::sleep(Duration::from_millis(100 + rng.below(400))).await;
        if receiver.received().len() > before {
            kills_amid_deliveries += 1;
        }
        p.kill9().await;
        p = s.spawn(s.command()).await;
    }
    assert!(
        kills_amid_deliveries >= KILLS / 2,
        "deliveries were flowing at only {kills_amid_deliveries} of {KILLS} kills"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    poster.await.unwrap();
    let accepted: BTreeSet<String> = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() >= 50,
        "only {} alerts were accepted",
        accepted.len()
    );

    // Everything answered 200 arrives after the last restart.
    let deadline = Instant::now() + Duration::from_secs(60);
    let counts = loop {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for a in receiver.accepted_alerts() {
            if a["status"] == "firing"
                && let Some(n) = a["labels"]["alertname"].as_str()
            {
                *counts.entry(n.to_string()).or_default() += 1;
            }
        }
        let lost: Vec<&String> = accepted
            .iter()
            .filter(|n| !counts.contains_key(*n))
            .collect();
        if lost.is_empty() {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} accepted alerts lost after {KILLS} kills: {:?}...\nlog:\n{}",
            lost.len(),
            accepted.len(),
            &lost[..lost.len().min(10)],
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let delivered: usize = counts.values().sum();
    let duplicated = counts.values().filter(|c| **c > 1).count();
    eprintln!(
        "kill -9 loop: {KILLS} kills ({kills_amid_deliveries} amid deliveries) in {:.1} s, {} alerts accepted, 0 lost, {} delivered in all ({} more than once, {} extra deliveries)",
        started.elapsed().as_secs_f64(),
        accepted.len(),
        counts.len(),
        duplicated,
        delivered - counts.len()
    );
    let health = client().get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    p.stop().await;
}
