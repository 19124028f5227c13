//! Time windows per route: a muted route notifies nobody while the window
//! lasts and notifies what it held back once it closes; an active window
//! that is open lets notifications through.

mod common;

use std::time::Duration;

use chrono::Timelike;
use common::{Daemon, Receiver, wait_for};

fn heard(r: &Receiver) -> Vec<String> {
    r.accepted_alerts()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muted_until_the_window_ends_then_notified_once() {
    let hook = Receiver::start(&[]).await;
    // Muted from midnight UTC until the end of the current minute.
    let now = chrono::Utc::now();
    let end = now.hour() * 60 + now.minute() + 1;
    let mute_until = format!("{:02}:{:02}", end / 60, end % 60);
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!(
            "targets:
  - {{name: hook, type: webhook, url: \"{}\"}}
routing:
  default: [hook]
  scopes:
    - {{match: {{team: night}}, notify: [hook], mute: [{{times: ['00:00-{mute_until}']}}]}}
    - {{match: {{team: day}}, notify: [hook], active: [{{weekdays: [mon-sun]}}]}}
",
            hook.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    d.post_alerts(&serde_json::json!([
        {"labels": {"alertname": "Muted", "team": "night"}},
        {"labels": {"alertname": "Open", "team": "day"}}
    ]))
    .await;
    wait_for(
        "the open route's alert",
        Duration::from_secs(10),
        || async { (heard(&hook) == ["Open"]).then_some(()) },
    )
    .await;
    // Still muted a moment later (unless the minute already ended).
    tokio::time::sleep(Duration::from_secs(1)).await;
    if chrono::Utc::now().minute() == now.minute() {
        assert_eq!(heard(&hook), ["Open"]);
    }
    wait_for(
        "the muted alert after the window",
        Duration::from_secs(75),
        || async { (heard(&hook) == ["Open", "Muted"]).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(heard(&hook), ["Open", "Muted"], "sent once");
    d.stop().await;
}
