//! The text log cannot be forged: a newline in an alert name posted from
//! outside is written escaped, not as a line of its own.

mod common;

use std::time::{Duration, Instant};

use common::process::{Setup, client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newline_in_an_alert_name_does_not_forge_a_log_line() {
    let s = Setup::new("groups: []\n", "");
    let p = s.spawn(s.command()).await;
    let forged = "Real\n2026-12-01T00:00:00.000000Z ERROR tocsin::daemon: FORGED database wiped";
    let body = serde_json::json!([{"labels": {"alertname": forged, "job": "x\r\u{1b}[2K"}}]);
    let r = client()
        .post(s.url("/api/v2/alerts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.log_text().contains("FORGED") {
        assert!(
            Instant::now() < deadline,
            "the alert was not logged:\n{}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = p.log_text();
    for line in log.lines() {
        assert!(
            !line.contains("FORGED") || line.contains("Real\\n2026"),
            "forged line: {line:?}"
        );
        assert!(!line.starts_with("2026-12-01T00:00:00.000000Z"), "{line:?}");
        assert!(!line.contains('\u{1b}') && !line.contains('\r'), "{line:?}");
    }
    p.stop().await;
}
