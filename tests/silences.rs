//! Silences through the API and the CLI: silenced alerts keep their state but
//! notify nobody; expiring a silence (early, or at its end) notifies what it
//! held back exactly once and re-sends nothing already sent; an alert
//! notified before it was silenced still has its resolution delivered.

mod common;

use std::time::Duration;

use common::{Daemon, Receiver, wait_for};
use tocsin::alert::AlertState;

const WAIT: Duration = Duration::from_secs(30);

fn names(r: &Receiver) -> Vec<String> {
    let mut v: Vec<String> = r
        .accepted_alerts()
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["status"].as_str().unwrap_or(""),
                a["labels"]["alertname"].as_str().unwrap_or("")
            )
        })
        .collect();
    v.sort();
    v
}

fn alert(name: &str, vault: &str) -> serde_json::Value {
    serde_json::json!({"labels": {"alertname": name, "vault": vault, "severity": "error"}})
}

use common::cli;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_hold_back_and_expiry_resumes_once() {
    let hook = Receiver::start(&[]).await;
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!(
            "targets:\n  - {{name: hook, type: webhook, url: \"{}\"}}\n",
            hook.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    // The CLI finds the daemon through `listen`.
    let cli_config = dir.join("cli.yaml");
    std::fs::write(
        &cli_config,
        format!("listen: {}\n", d.running.as_ref().unwrap().addr),
    )
    .unwrap();

    // Bad silences name the problem.
    let (ok, _, err) = cli(&cli_config, &["silence", "add", "vault=v1", "-m", "x"]);
    assert!(!ok);
    assert!(err.contains("endsAt: a silence needs an end"), "{err}");
    let (ok, _, err) = cli(
        &cli_config,
        &["silence", "add", "vault=~(", "--for", "1h", "-m", "x"],
    );
    assert!(!ok);
    assert!(
        err.contains("matchers[0]: vault=~\"(\": not a regex"),
        "{err}"
    );

    let (ok, id, err) = cli(
        &cli_config,
        &[
            "silence",
            "add",
            "vault=v1",
            "--for",
            "1h",
            "--author",
            "alice",
            "-m",
            "maintenance of v1",
        ],
    );
    assert!(ok, "{err}");
    let id = id.trim().to_string();
    // A UUID, as Alertmanager gives its silences (amtool shows them).
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let (ok, list, _) = cli(&cli_config, &["silence", "list"]);
    assert!(
        ok && list.contains(&id) && list.contains("active"),
        "{list}"
    );
    assert!(
        list.contains("vault=\"v1\"") && list.contains("alice"),
        "{list}"
    );

    // The silenced alert fires but notifies nobody; the other one is sent.
    d.post_alerts(&serde_json::json!([
        alert("HeldBack", "v1"),
        alert("Free", "v2")
    ]))
    .await;
    wait_for("Free delivered", WAIT, || async {
        (names(&hook) == ["firing Free"]).then_some(())
    })
    .await;
    d.sentinel(&hook, serde_json::json!({"vault": "v-sentinel"}), 1)
        .await;
    assert_eq!(names(&hook), ["firing Free"]);
    assert_eq!(d.alert("HeldBack").unwrap().state, AlertState::Firing);
    let views = d.alert_views().await;
    let held = views.iter().find(|v| v["alert"] == "HeldBack").unwrap();
    assert_eq!(held["silenced"], true);
    assert_eq!(held["silenced_by"], id.as_str());
    assert!(held["last_notification"].is_null());

    // Expired early: HeldBack is sent once, Free is not sent again.
    let (ok, out, err) = cli(&cli_config, &["silence", "expire", &id]);
    assert!(ok, "{err}");
    assert!(out.contains("expired"), "{out}");
    wait_for("HeldBack delivered", WAIT, || async {
        (names(&hook) == ["firing Free", "firing HeldBack"]).then_some(())
    })
    .await;
    d.sentinel(&hook, serde_json::json!({"vault": "v-sentinel"}), 1)
        .await;
    assert_eq!(names(&hook), ["firing Free", "firing HeldBack"]);

    // A silence that ends by itself; the alert resolved meanwhile is not
    // notified at all (nothing of it was sent).
    let resp = common::http()
        .post(d.api("/api/v1/silences"))
        .json(
            &serde_json::json!({"matchers": [{"name": "vault", "value": "v3"}],
                                  "duration": "2s", "createdBy": "bob", "comment": "short"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let past = (chrono::Utc::now() - chrono::Duration::milliseconds(1)).to_rfc3339();
    let mut gone = alert("GoneMeanwhile", "v3");
    d.post_alerts(&serde_json::json!([alert("LateOne", "v3"), gone.clone()]))
        .await;
    gone["endsAt"] = serde_json::json!(past);
    d.post_alerts(&serde_json::json!([gone])).await;
    d.sentinel(&hook, serde_json::json!({"vault": "v-sentinel"}), 1)
        .await;
    assert_eq!(names(&hook), ["firing Free", "firing HeldBack"]);
    wait_for(
        "LateOne delivered after the silence ended",
        WAIT,
        || async {
            names(&hook)
                .contains(&"firing LateOne".to_string())
                .then_some(())
        },
    )
    .await;
    d.sentinel(&hook, serde_json::json!({"vault": "v-sentinel"}), 1)
        .await;
    assert_eq!(
        names(&hook),
        ["firing Free", "firing HeldBack", "firing LateOne"]
    );

    // Free was notified; silenced now, its resolution still reaches the
    // target that heard it fire (nobody is left with a dangling alert).
    let resp = common::http()
        .post(d.api("/api/v1/silences"))
        .json(
            &serde_json::json!({"matchers": ["vault=v2"], "duration": "1h",
                                  "createdBy": "bob", "comment": "v2 noise"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut free = alert("Free", "v2");
    free["endsAt"] = serde_json::json!(chrono::Utc::now().to_rfc3339());
    d.post_alerts(&serde_json::json!([free])).await;
    wait_for("Free's resolution", WAIT, || async {
        names(&hook)
            .contains(&"resolved Free".to_string())
            .then_some(())
    })
    .await;

    // An unknown id is a clear error.
    let (ok, _, err) = cli(&cli_config, &["silence", "expire", "nope"]);
    assert!(!ok);
    assert!(err.contains("no silence has id \"nope\""), "{err}");
    d.stop().await;
}
