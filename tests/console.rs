//! The operator console in a real headless Chromium driven over WebDriver:
//! log in, filter, open an alert, silence it from its page, acknowledge
//! another and see its repeats stop, pause a check, use the explain form,
//! use a signed acknowledge link; every page escapes labels; a cross-site
//! form post is refused; on a 390 px phone nothing scrolls sideways and
//! alerts stay compact.

mod common;
#[path = "common/webdriver.rs"]
mod webdriver;

use std::time::Duration;

use common::mocks::PagerDutyMock;
use common::{Daemon, Receiver, wait_for};
use serde_json::json;
use webdriver::Browser;

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "console-s3cret";
const PD_KEY: &str = "0123456789abcdef0123456789abcdef";

fn repeats_of(r: &Receiver, name: &str) -> usize {
    r.accepted_alerts()
        .iter()
        .filter(|a| a["labels"]["alertname"] == name && a["status"] == "firing")
        .count()
}

/// Where screenshots go: `TOCSIN_SCREENSHOTS` (the README's come from
/// there), else the test's folder.
fn shot(dir: &std::path::Path, name: &str, png: &[u8]) {
    let to = std::env::var_os("TOCSIN_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.to_path_buf());
    let _ = std::fs::create_dir_all(&to);
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(to.join(name), png).unwrap();
}

async fn post_alerts(d: &Daemon, body: serde_json::Value) {
    let r = common::http()
        .post(d.api("/api/v2/alerts"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_silences_acknowledges_pauses_and_explains() {
    let hook = Receiver::start(&[]).await;
    let pd = PagerDutyMock::start(PD_KEY).await;
    let dir = Daemon::prepare(
        "heartbeats:\n  - {name: nightly-backup, every: 1h, grace: 10m, labels: {vault: v-prod}}\ngroups: []\n",
        &format!(
            "api_token: {TOKEN}
targets:
  - {{name: ops-hook, type: webhook, url: \"{}\"}}
  - {{name: pd, type: pagerduty, routing_key: {PD_KEY}, url: \"{}\"}}
routing:
  default: [ops-hook]
  repeat_interval: 1s
  send_acknowledged: true
  scopes:
    - {{match: {{alertname: QueueSlow}}, notify: [ops-hook, pd]}}
",
            hook.url(),
            pd.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    let ends = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let mut alerts = vec![
        json!({"labels": {"alertname": "DiskFull", "deployment": "prod", "severity": "critical",
                          "owner": "<script>window.pwned=1</script>"},
               "annotations": {"summary": "Disk of prod <img src=x onerror=window.pwned=2> is full"},
               "endsAt": ends}),
        json!({"labels": {"alertname": "QueueSlow", "deployment": "staging", "severity": "warning"},
               "annotations": {"summary": "Queue of staging is slow"}, "endsAt": ends}),
    ];
    // Enough alerts to page and to show that a phone keeps each one compact.
    for i in 0..12 {
        alerts.push(json!({"labels": {"alertname": "ManyAlerts", "deployment": format!("d{i:02}"), "severity": "warning"},
                           "annotations": {"summary": format!("Connection count too high on d{i:02}: 9000 connections")},
                           "endsAt": ends}));
    }
    post_alerts(&d, json!(alerts)).await;
    wait_for("both alerts to be notified", WAIT, || async {
        (repeats_of(&hook, "DiskFull") > 0 && repeats_of(&hook, "QueueSlow") > 0).then_some(())
    })
    .await;

    let b = Browser::start(1280, 900).await;
    // Not logged in: the page is readable, its forms are not offered.
    b.goto(&d.api("/alerts")).await;
    assert!(b.source().await.contains("DiskFull"));
    assert_eq!(b.count("form[action^='/ui/alert']").await, 0);

    // Log in: a wrong token is told, the right one sets the session.
    b.goto(&d.api("/login?back=/alerts")).await;
    b.fill("#token", "wrong").await;
    b.click("#login").await;
    b.wait_text("not this daemon").await;
    b.fill("#token", TOKEN).await;
    b.fill("#name", "Li Lei").await;
    b.click("#login").await;
    b.wait_text("signed in as").await;
    assert!(b.url().await.ends_with("/alerts"), "{}", b.url().await);
    assert!(b.text("nav").await.contains("Li Lei"));
    let cookie = b.script("return document.cookie").await;
    assert!(
        !cookie.as_str().unwrap_or("").contains("tocsin_session"),
        "the session cookie is HttpOnly: {cookie}"
    );

    // Labels and annotations are shown, never run.
    let page = b.source().await;
    assert!(
        page.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"),
        "{page}"
    );
    assert_eq!(
        b.script("return window.pwned === undefined").await,
        json!(true)
    );
    assert_eq!(b.script("return document.scripts.length").await, json!(0));

    // Filter by matchers, and by text.
    b.fill("#f", "deployment=\"prod\"").await;
    b.click(".filters button").await;
    b.wait_text("filter=deployment").await;
    assert_eq!(
        b.count("ul.alerts li.firing").await,
        1,
        "{}",
        b.source().await
    );
    assert!(b.text("ul.alerts").await.contains("DiskFull"));
    b.goto(&d.api("/alerts?q=staging")).await;
    assert_eq!(b.count("ul.alerts li.firing").await, 1);
    assert!(b.text("ul.alerts").await.contains("QueueSlow"));
    b.goto(&d.api("/alerts?group=deployment")).await;
    assert!(
        b.source().await.contains("deployment=\"prod\""),
        "grouped by deployment"
    );

    // Open DiskFull and silence it from its page.
    b.goto(&d.api("/alerts?filter=alertname%3DDiskFull")).await;
    b.click("ul.alerts li a").await;
    let page = b.wait_text("<h2>History</h2>").await;
    for want in [
        "ops-hook",
        "History",
        "Notifications",
        "Route",
        "fingerprint",
    ] {
        assert!(
            page.contains(want),
            "the alert page lacks {want:?}:\n{page}"
        );
    }
    assert!(!page.contains("<img src=x"), "annotations escaped");
    b.click("details summary").await;
    b.fill("#sil-c", "disk being replaced").await;
    b.click("#silence").await;
    let page = b.wait_text("Silence created").await;
    assert!(page.contains("mark silenced"), "marked silenced: {page}");
    let views = d.alert_views().await;
    let disk = views.iter().find(|v| v["alert"] == "DiskFull").unwrap();
    assert_eq!(disk["silenced"], json!(true), "{disk}");
    let silences = d.get_json("/api/v1/silences").await;
    assert_eq!(silences[0]["createdBy"], "Li Lei", "{silences}");

    // Acknowledge QueueSlow: others see who took it, its repeats stop.
    b.goto(&d.api("/alerts?filter=alertname%3DQueueSlow")).await;
    b.click("ul.alerts li a").await;
    b.wait_text("<h2>History</h2>").await;
    let queue_page = b.url().await;
    b.click("#ack").await;
    let page = b.wait_text("Acknowledged.").await;
    // Each notification with what its channel answered.
    assert!(page.contains("HTTP 200"), "the webhook's answer: {page}");
    assert!(
        page.contains("Event processed"),
        "PagerDuty's answer: {page}"
    );
    assert!(page.contains("acknowledged by Li Lei"), "{page}");
    // PagerDuty is told, as an `acknowledge` of the incident it opened.
    wait_for("PagerDuty's acknowledge event", WAIT, || async {
        pd.log
            .hits()
            .iter()
            .any(|h| h.body["event_action"] == "acknowledge")
            .then_some(())
    })
    .await;
    let hits = pd.log.hits();
    assert!(hits.iter().all(|h| h.status == 202), "the v2 schema holds");
    let trigger = hits
        .iter()
        .find(|h| h.body["event_action"] == "trigger")
        .unwrap();
    let ack = hits
        .iter()
        .find(|h| h.body["event_action"] == "acknowledge")
        .unwrap();
    assert_eq!(
        ack.body["dedup_key"], trigger.body["dedup_key"],
        "the same incident"
    );
    // The overview says so too, instead of listing who would hear them.
    let overview = d.get_text("/").await;
    assert!(overview.contains("acknowledged by Li Lei"), "{overview}");
    assert!(overview.contains("<i class=held>silenced by"), "{overview}");
    // Repeats come every second; after the acknowledgement they stop while
    // a sentinel (which is not acknowledged) is repeated twice.
    let before = repeats_of(&hook, "QueueSlow");
    let sentinel_labels = json!({"severity": "warning"});
    let name = "Sentinel-console";
    post_alerts(
        &d,
        json!([{"labels": {"alertname": name, "severity": "warning"}, "endsAt": ends}]),
    )
    .await;
    let _ = sentinel_labels;
    wait_for("the sentinel repeated", WAIT, || async {
        (hook
            .accepted_with_sentinels()
            .iter()
            .filter(|a| a["labels"]["alertname"] == name)
            .count()
            >= 3)
            .then_some(())
    })
    .await;
    let after = repeats_of(&hook, "QueueSlow");
    assert!(
        after <= before + 1,
        "acknowledged: repeats stop ({before} before, {after} after)"
    );
    // Giving it back lets repeats resume.
    b.goto(&queue_page).await;
    b.click("#unack").await;
    b.wait_text("Given back.").await;
    wait_for("repeats to resume", WAIT, || async {
        (repeats_of(&hook, "QueueSlow") > after + 1).then_some(())
    })
    .await;

    // A cross-site form post is refused (another origin on loopback whose
    // page posts a form to the daemon as soon as it loads).
    let evil = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_addr = evil.local_addr().unwrap();
    let target = d.api(&format!(
        "/ui/alert/{}/ack",
        disk["fingerprint"].as_str().unwrap()
    ));
    let html = format!(
        "<!doctype html><form id=f method=post action=\"{target}\"><input name=by value=mallory>\
         <input name=form_token value=x></form><script>document.getElementById('f').submit()</script>"
    );
    let evil_app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let html = html.clone();
            async move { axum::response::Html(html) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(evil, evil_app).await;
    });
    b.goto(&format!("http://{evil_addr}/")).await;
    wait_for("the cross-site post to be answered", WAIT, || async {
        b.url().await.contains("/ui/alert/").then_some(())
    })
    .await;
    let refused = b.source().await;
    assert!(refused.contains("cross-site request refused"), "{refused}");
    let acks = d.engine().store().acknowledgements().await.unwrap();
    assert!(
        acks.values().all(|a| a.by != "mallory"),
        "nothing was acknowledged: {acks:?}"
    );

    // Pause the heartbeat check from its page.
    b.goto(&d.api("/checks")).await;
    b.click("a[href^='/checks/']").await;
    b.wait_text("Ping log").await;
    b.click("#pause").await;
    b.wait_text("Check paused").await;
    let checks = d.get_json("/api/v1/heartbeats").await;
    assert_eq!(checks[0]["state"], "paused", "{checks}");
    b.click("#resume").await;
    b.wait_text("Check resumed").await;

    // Who would receive this?
    b.goto(&d.api("/explain")).await;
    b.fill("#l", "alertname=DiskFull\ndeployment=prod").await;
    b.click("#explain").await;
    b.wait_text("explain-recipients").await;
    assert!(b.text("#explain-recipients").await.contains("ops-hook"));
    assert!(b.source().await.contains("tocsin route explain"));

    // Targets, with a test message.
    b.goto(&d.api("/targets")).await;
    assert!(b.text("#t-ops-hook").await.contains("webhook"));
    let hook_before = hook.received().len();
    b.click("#t-ops-hook button.test").await;
    b.wait_text("test-result").await;
    assert_eq!(b.text("#test-result").await, "sent");
    assert!(
        hook.received().len() > hook_before,
        "the test message arrived"
    );

    // The Chinese console.
    b.goto(&d.api("/alerts?lang=zh")).await;
    let zh = b.source().await;
    assert!(
        zh.contains("lang=\"zh-CN\"") && zh.contains("告警中"),
        "{zh}"
    );
    shot(&dir, "console-alerts-zh.png", &b.screenshot().await);
    b.goto(&d.api("/alerts?lang=en")).await;
    shot(&dir, "console-alerts.png", &b.screenshot().await);
    b.goto(&d.api("/")).await;
    shot(&dir, "status.png", &b.screenshot().await);
    b.goto(&queue_page).await;
    shot(&dir, "console-alert.png", &b.screenshot().await);

    // A signed acknowledge link works without logging in, once per firing;
    // a changed one does not.
    let key =
        tocsin::signing::SigningKey::new(d.engine().store().daemon_key("console").await.unwrap());
    let many = d
        .engine()
        .alerts()
        .into_iter()
        .find(|a| a.alert == "ManyAlerts")
        .unwrap();
    let path =
        tocsin::notify::ack_link::AckLinks::path(&key, many.fingerprint, many.fired_at.unwrap());
    let phone = Browser::phone(390, 844).await;
    phone.goto(&d.api(&format!("{path}x"))).await;
    phone.wait_text("not valid").await;
    phone.goto(&d.api(&path)).await;
    let inner = phone.script("return window.innerWidth").await;
    assert_eq!(inner, json!(390), "a 390 px wide viewport");
    phone.fill("#by", "Han Meimei").await;
    phone.click("#link-ack").await;
    phone.wait_text("acknowledged by Han Meimei").await;

    // On a phone: nothing scrolls sideways, alerts stay compact.
    for path in [
        "/alerts",
        "/",
        "/checks",
        "/targets",
        &queue_page.replacen(&d.api(""), "", 1),
    ] {
        phone.goto(&d.api(path)).await;
        let wide = phone
            .script("return document.documentElement.scrollWidth - window.innerWidth")
            .await;
        assert!(
            wide.as_i64().unwrap_or(1) <= 0,
            "{path} scrolls sideways by {wide} px"
        );
    }
    phone.goto(&d.api("/alerts")).await;
    let heights = phone
        .script("return Array.from(document.querySelectorAll('ul.alerts li.firing')).map(e => e.getBoundingClientRect().height)")
        .await;
    let heights: Vec<f64> = heights
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h.as_f64())
        .collect();
    shot(&dir, "console-phone.png", &phone.screenshot().await);
    assert!(heights.len() >= 10, "{heights:?}");
    let mut sorted = heights.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(
        sorted[sorted.len() / 2] <= 80.0 && sorted.iter().all(|h| *h < 130.0),
        "each alert is compact on a phone (three short lines): {heights:?}"
    );
    d.stop().await;
}

/// `tocsin route explain` asks the running daemon (whose silences count)
/// and gives the answer of the console's form and of the JSON API; without
/// a daemon it works from the config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_explain_on_the_command_line_matches_the_daemon() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = Daemon::prepare(
        "groups: []\n",
        "targets:
  - {name: ops-hook, type: webhook, url: \"http://127.0.0.1:9/x\"}
  - {name: db-hook, type: webhook, url: \"http://127.0.0.1:9/y\"}
routing:
  default: [ops-hook]
  repeat_interval: 1h
  scopes:
    - {match: {team: db}, notify: [db-hook]}
",
    );
    let config = dir.join("tocsin.yaml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("listen: 127.0.0.1:0", &format!("listen: 127.0.0.1:{port}"));
    std::fs::write(&config, text).unwrap();
    let args = [
        "route",
        "explain",
        "--label",
        "alertname=SlowQuery",
        "--label",
        "team=db",
        "--severity",
        "error",
    ];
    // No daemon yet: the config's answer, said to be so.
    let (ok, out, err) = common::cli(&config, &args);
    assert!(ok, "{err}");
    assert!(
        out.contains("db-hook") && out.contains("(config only)"),
        "{out}\n{err}"
    );
    assert!(err.contains("no daemon answers"), "{err}");

    let d = Daemon::start(&dir).await;
    let r = common::http()
        .post(d.api("/api/v1/silences"))
        .json(&json!({"matchers": ["team=db"], "duration": "1h", "createdBy": "li", "comment": "maintenance"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, out, err) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || common::cli(&config, &args)
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("db-hook"), "{out}");
    assert!(out.contains(&id), "the daemon's silence counts: {out}");
    assert!(!out.contains("config only"), "{out}");
    let (_, json_out, _) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            let mut a = args.to_vec();
            a.push("--json");
            common::cli(&config, &a)
        }
    })
    .await
    .unwrap();
    let api = d
        .get_json("/api/v1/route/explain?labels=alertname%3DSlowQuery%2Cteam%3Ddb&severity=error")
        .await;
    let cli: serde_json::Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(cli, api, "the CLI prints the daemon's answer");
    assert_eq!(api["scope"], "{team=db}", "{api}");
    assert_eq!(api["silenced_by"], json!(id));
    // Bad input is a 400 with a reason.
    let r = common::http()
        .get(d.api("/api/v1/route/explain?labels=nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not a matcher"));
    // The console's form says the same.
    let page = d
        .get_text("/explain?labels=alertname%3DSlowQuery%0Ateam%3Ddb&severity=error")
        .await;
    assert!(page.contains("db-hook") && page.contains(&id), "{page}");
    d.stop().await;
}
