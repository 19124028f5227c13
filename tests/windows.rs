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
    // Windows have minute resolution: start early enough in a minute that
    // "still muted" can be checked before the window ends.
    while chrono::Utc::now().second() >= 40 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hook = Receiver::start(&[]).await;
    // Muted for the current minute in Shanghai (at 23:59 that is
    // 23:59-24:00, which ends at local midnight).
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let now = chrono::Utc::now();
    let local = now.with_timezone(&tz);
    let start = local.hour() * 60 + local.minute();
    let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
    let window_end = (now + chrono::Duration::seconds(60 - i64::from(now.second())))
        .with_nanosecond(0)
        .unwrap();
    let dir = Daemon::prepare_hook_route(
        &hook.url(),
        &format!(
            "  scopes:
    - {{match: {{team: night}}, notify: [hook], mute: [{{times: ['{}-{}'], timezone: Asia/Shanghai}}]}}
    - {{match: {{team: day}}, notify: [hook], active: [{{weekdays: [mon-sun]}}]}}
",
            hm(start),
            hm(start + 1)
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
        || async { heard(&hook).contains(&"Open".to_string()).then_some(()) },
    )
    .await;
    let checked_at = chrono::Utc::now();
    assert!(
        checked_at < window_end,
        "the open alert took until {checked_at}, past the window's end {window_end}"
    );
    assert_eq!(heard(&hook), ["Open"], "the muted alert is held back");
    wait_for(
        "the muted alert after the window",
        Duration::from_secs(75),
        || async { (heard(&hook) == ["Open", "Muted"]).then_some(()) },
    )
    .await;
    assert!(
        chrono::Utc::now() >= window_end,
        "sent only after the window"
    );
    // Sent once: a later alert on the same route arrives after it, and
    // nothing else does.
    d.post_alerts(&serde_json::json!([{"labels": {"alertname": "Later", "team": "night"}}]))
        .await;
    wait_for("the later alert", Duration::from_secs(10), || async {
        heard(&hook).contains(&"Later".to_string()).then_some(())
    })
    .await;
    assert_eq!(heard(&hook), ["Open", "Muted", "Later"], "sent once");
    d.stop().await;
}
