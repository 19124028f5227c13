//! Per-route timing: `repeat_interval` re-notifies a firing alert, at most
//! `repeat_limit` times; a scope can turn repeats and resolved messages off.

mod common;

use std::time::Duration;

use common::{Daemon, Receiver, wait_for};

const WAIT: Duration = Duration::from_secs(30);

fn heard(r: &Receiver) -> Vec<String> {
    r.accepted_alerts()
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["status"].as_str().unwrap_or(""),
                a["labels"]["alertname"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_until_the_cap_and_scopes_override_timing() {
    let hook = Receiver::start(&[]).await;
    let quiet = Receiver::start(&[]).await;
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!(
            "targets:
  - {{name: hook, type: webhook, url: \"{}\"}}
  - {{name: quiet, type: webhook, url: \"{}\"}}
routing:
  default: [hook]
  repeat_interval: 2s
  repeat_limit: 2
  scopes:
    - {{match: {{team: quiet}}, notify: [quiet], repeat_interval: 0, send_resolved: false}}
",
            hook.url(),
            quiet.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    d.post_alerts(&serde_json::json!([
        {"labels": {"alertname": "Loud"}},
        {"labels": {"alertname": "Hushed", "team": "quiet"}}
    ]))
    .await;
    wait_for("the first message and two repeats", WAIT, || async {
        (heard(&hook) == ["firing Loud", "firing Loud", "firing Loud"]).then_some(())
    })
    .await;
    // The cap holds: a sentinel posted now is repeated once (one interval
    // later) before any third repeat of Loud could be due after it.
    d.sentinel(&hook, serde_json::json!({}), 2).await;
    assert_eq!(heard(&hook).len(), 3, "{:?}", heard(&hook));
    assert_eq!(heard(&quiet), ["firing Hushed"], "no repeats on this scope");

    let now = chrono::Utc::now().to_rfc3339();
    d.post_alerts(&serde_json::json!([
        {"labels": {"alertname": "Loud"}, "endsAt": now},
        {"labels": {"alertname": "Hushed", "team": "quiet"}, "endsAt": now}
    ]))
    .await;
    wait_for("Loud's resolution", WAIT, || async {
        heard(&hook)
            .contains(&"resolved Loud".to_string())
            .then_some(())
    })
    .await;
    d.sentinel(&quiet, serde_json::json!({"team": "quiet"}), 1)
        .await;
    assert_eq!(heard(&quiet), ["firing Hushed"], "send_resolved: false");
    d.stop().await;
}

/// Repeats are looked for only when one can be due: an alert on a route
/// with a short interval that fires after a look found only an hour-long
/// wait is still repeated on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_interval_is_repeated_on_time_after_a_long_wait_was_found() {
    let hook = Receiver::start(&[]).await;
    let dir = Daemon::prepare_hook_route(
        &hook.url(),
        "  repeat_interval: 1h
  scopes:
    - {match: {team: fast}, notify: [hook], repeat_interval: 2s}
",
    );
    let d = Daemon::start(&dir).await;
    d.post_alerts(&serde_json::json!([{"labels": {"alertname": "Slow"}}]))
        .await;
    wait_for("Slow's first message", WAIT, || async {
        (heard(&hook) == ["firing Slow"]).then_some(())
    })
    .await;
    // A few looks pass that find only Slow, due in an hour.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    d.post_alerts(&serde_json::json!([{"labels": {"alertname": "Fast", "team": "fast"}}]))
        .await;
    let started = std::time::Instant::now();
    wait_for("Fast repeated twice", WAIT, || async {
        (heard(&hook).iter().filter(|h| *h == "firing Fast").count() >= 3).then_some(())
    })
    .await;
    // First message, then repeats 2 s apart: well under the 60 s bound.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        heard(&hook).iter().filter(|h| *h == "firing Slow").count(),
        1,
        "{:?}",
        heard(&hook)
    );
    d.stop().await;
}
