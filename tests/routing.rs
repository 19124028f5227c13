//! Routing through a running daemon: scopes at vault and client level
//! (`inherit`, `off`, per-severity lists, target groups) decide which webhook
//! hears about which alert, and `GET /api/v1/alerts` shows each alert's
//! route, recipients and last notification.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Daemon, Receiver, push, wait_for, wait_prometheus_value};

const WAIT: Duration = Duration::from_secs(30);

/// `(alertname, client)` of every alert a receiver accepted.
fn heard(r: &Receiver) -> BTreeSet<(String, String)> {
    r.accepted_alerts()
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                a["labels"]["client"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, c)| (a.to_string(), c.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_pick_recipients_per_vault_client_and_severity() {
    let series = ["c-1", "c-7", "c-8", "c-9"]
        .iter()
        .map(|c| format!("t_routing_backup{{vault=\"v-prod\",client=\"{c}\"}} 1\n"))
        .collect::<String>()
        + "t_routing_backup{vault=\"v-other\",client=\"c-5\"} 1\n";
    push("t_routing", &series).await;
    wait_prometheus_value("count(t_routing_backup)", 5.0).await;

    let warn = Receiver::start(&[]).await;
    let err_a = Receiver::start(&[]).await;
    let err_b = Receiver::start(&[]).await;
    let client = Receiver::start(&[]).await;
    let fallback = Receiver::start(&[]).await;
    let rules = "groups:\n  - name: routing\n    interval: 1s\n    rules:\n      \
                 - {alert: BackupLate, query: t_routing_backup, severity: warning}\n      \
                 - {alert: BackupFailed, query: t_routing_backup, severity: error}\n";
    let config = format!(
        "targets:
  - {{name: warn-hook, type: webhook, url: \"{}\"}}
  - {{name: err-a, type: webhook, url: \"{}\"}}
  - {{name: err-b, type: webhook, url: \"{}\"}}
  - {{name: client-hook, type: webhook, url: \"{}\"}}
  - {{name: fallback, type: webhook, url: \"{}\"}}
target_groups:
  - {{name: errors, targets: [err-a, err-b]}}
routing:
  default: [fallback]
  scopes:
    - match: {{vault: v-prod}}
      notify: {{warning: [warn-hook], error: [errors]}}
    - match: {{vault: v-prod, client: c-7}}
      notify: inherit
    - match: {{vault: v-prod, client: c-8}}
      notify: [client-hook]
    - match: {{vault: v-prod, client: c-9}}
      notify: {{warning: off}}
",
        warn.url(),
        err_a.url(),
        err_b.url(),
        client.url(),
        fallback.url()
    );
    let dir = Daemon::prepare(rules, &config);
    let d = Daemon::start(&dir).await;

    // Warnings of v-prod: the vault's list, except c-8 (own list) and c-9 (off).
    let want_warn = set(&[("BackupLate", "c-1"), ("BackupLate", "c-7")]);
    // Errors of v-prod: both targets of the group; c-9 inherits errors.
    let want_err = set(&[
        ("BackupFailed", "c-1"),
        ("BackupFailed", "c-7"),
        ("BackupFailed", "c-9"),
    ]);
    let want_client = set(&[("BackupLate", "c-8"), ("BackupFailed", "c-8")]);
    let want_fallback = set(&[("BackupLate", "c-5"), ("BackupFailed", "c-5")]);
    wait_for("every routed delivery", WAIT, || async {
        (heard(&warn) == want_warn
            && heard(&err_a) == want_err
            && heard(&err_b) == want_err
            && heard(&client) == want_client
            && heard(&fallback) == want_fallback)
            .then_some(())
    })
    .await;
    // Nothing else arrives afterwards (c-9's warning stays unsent): later
    // alerts on the same routes arrive, and nothing more before them.
    d.sentinel(
        &warn,
        serde_json::json!({"vault": "v-prod", "severity": "warning"}),
        1,
    )
    .await;
    d.sentinel(&fallback, serde_json::json!({"vault": "v-other"}), 1)
        .await;
    assert_eq!(heard(&warn), want_warn);
    assert_eq!(warn.accepted_alerts().len(), 2);
    assert_eq!(heard(&fallback), want_fallback);

    // The API shows the deciding scope, the recipients and the last send.
    let views: Vec<serde_json::Value> = d
        .alert_views()
        .await
        .into_iter()
        .filter(|v| !v["alert"].as_str().unwrap_or("").starts_with("Sentinel-"))
        .collect();
    assert_eq!(views.len(), 10, "{views:#?}");
    let view = |alert: &str, c: &str| {
        views
            .iter()
            .find(|v| v["alert"] == alert && v["labels"]["client"] == c)
            .cloned()
            .unwrap_or_else(|| panic!("no {alert} for {c}"))
    };
    let v = view("BackupFailed", "c-7");
    assert_eq!(v["route"], "{vault=v-prod}");
    assert_eq!(v["recipients"], serde_json::json!(["err-a", "err-b"]));
    assert_eq!(v["last_notification"]["status"], "sent");
    assert_eq!(v["last_notification"]["kind"], "firing");
    let v = view("BackupLate", "c-9");
    assert_eq!(v["route"], "{client=c-9, vault=v-prod}");
    assert_eq!(v["recipients"], serde_json::json!([]));
    assert!(v["last_notification"].is_null(), "{v}");
    let v = view("BackupLate", "c-5");
    assert_eq!(v["route"], "default");
    assert_eq!(v["recipients"], serde_json::json!(["fallback"]));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_and_owner_are_mailed_through_the_mailer() {
    let smtp = common::smtp();
    let tag = format!(
        "{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let alice = format!("alice-{tag}@example.com");
    let boss = format!("boss-{tag}@example.com");
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!(
            "mailer: {{host: '{}', port: {}, tls: none, from: 'tocsin <alerts@example.com>', timeout: 5s}}
owner: ['{boss}']
contacts:
  - {{name: alice, email: '{alice}'}}
  - {{name: carol, email: 'carol-{tag}@example.com', enabled: false}}
contact_groups:
  - {{name: dba, members: [alice, carol]}}
routing:
  default: off
  scopes:
    - {{match: {{vault: v-mail}}, notify: [dba, owner]}}
",
            smtp.addr.ip(),
            smtp.addr.port()
        ),
    );
    let d = Daemon::start(&dir).await;
    d.post_alerts(&serde_json::json!([
        {"labels": {"alertname": "MailedBackupFailed", "vault": "v-mail"},
         "annotations": {"summary": format!("backup failed {tag}")}},
        {"labels": {"alertname": "NotMailed", "vault": "v-other"}}
    ]))
    .await;
    let to_alice = String::from_utf8_lossy(&common::delivered_mail(&alice).await).into_owned();
    assert!(to_alice.contains("MailedBackupFailed"), "{to_alice}");
    let to_boss = String::from_utf8_lossy(&common::delivered_mail(&boss).await).into_owned();
    assert!(to_boss.contains("MailedBackupFailed"), "{to_boss}");
    let views = d.alert_views().await;
    let mailed = views
        .iter()
        .find(|v| v["alert"] == "MailedBackupFailed")
        .unwrap();
    // The disabled contact of the group is skipped.
    assert_eq!(mailed["recipients"], serde_json::json!(["alice", "owner"]));
    let other = views.iter().find(|v| v["alert"] == "NotMailed").unwrap();
    assert_eq!(other["route"], "default");
    assert_eq!(other["recipients"], serde_json::json!([]));
    // Nobody got a mail about the alert routed `off`.
    let new = smtp.maildir.join("new");
    let leaked = std::fs::read_dir(new).unwrap().flatten().any(|e| {
        let raw = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned();
        raw.contains(&tag) && raw.contains("NotMailed")
    });
    assert!(!leaked);
    d.stop().await;
}

/// A contact listed on a route beside an IM target is mentioned by that
/// target in the route's messages (DingTalk: `atMobiles` and an `@phone`
/// token in the text), and only on that route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_contacts_are_mentioned_by_the_route_im_target() {
    let mock = common::mocks::DingTalkMock::start("tok-m", None, &[]).await;
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!(
            "contacts:
  - {{name: dave, phone: '13700000001'}}
targets:
  - {{name: dt, type: dingtalk, webhook: '{}'}}
routing:
  default: off
  scopes:
    - {{match: {{team: oncall}}, notify: [dt, dave]}}
    - {{match: {{team: info}}, notify: [dt]}}
",
            mock.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    d.post_alerts(&serde_json::json!([
        {"labels": {"alertname": "PagesDave", "team": "oncall"}}
    ]))
    .await;
    d.post_alerts(&serde_json::json!([
        {"labels": {"alertname": "JustInfo", "team": "info"}}
    ]))
    .await;
    let hits = wait_for("both messages", WAIT, || async {
        let hits = mock.log.hits();
        (hits.len() >= 2).then_some(hits)
    })
    .await;
    let about = |name: &str| {
        hits.iter()
            .find(|h| {
                h.body["markdown"]["text"]
                    .as_str()
                    .unwrap_or("")
                    .contains(name)
            })
            .unwrap_or_else(|| panic!("no message about {name}"))
    };
    let paged = about("PagesDave");
    assert_eq!(
        paged.body["at"]["atMobiles"],
        serde_json::json!(["13700000001"])
    );
    assert!(
        paged.body["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("@13700000001")
    );
    let info = about("JustInfo");
    assert_eq!(info.body["at"]["atMobiles"], serde_json::json!([]));
    assert!(
        mock.log.violations().is_empty(),
        "{:?}",
        mock.log.violations()
    );
    let views = d.alert_views().await;
    let v = views.iter().find(|v| v["alert"] == "PagesDave").unwrap();
    assert_eq!(v["recipients"], serde_json::json!(["dt", "dave via dt"]));
    d.stop().await;
}
