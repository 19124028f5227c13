//! `timezone:` end to end: message times in the config's zone or a target's
//! own, and the status page's times in the config's zone (its fixed texts in
//! the config's `language`).

mod common;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use common::mocks::JsonSink;
use common::{Daemon, wait_for};

fn local(t: DateTime<Utc>, tz: Tz, offset: &str) -> String {
    format!(
        "{} {offset}",
        t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_are_written_in_the_configured_zone_or_the_targets_own() {
    let sink = JsonSink::start().await;
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!(
            "timezone: Asia/Shanghai\nlanguage: zh\ntargets:\n\
             \x20 - {{name: sh, type: webhook, url: 'http://{a}/sh', payload: tocsin}}\n\
             \x20 - {{name: berlin, type: webhook, url: 'http://{a}/berlin', payload: tocsin, timezone: Europe/Berlin, language: en}}\n",
            a = sink.addr
        ),
    );
    let d = Daemon::start(&dir).await;
    // In winter: Shanghai is UTC+8, Berlin UTC+1.
    let starts: DateTime<Utc> = "2026-01-15T04:05:06Z".parse().unwrap();
    d.post_alerts(&serde_json::json!([{
        "labels": {"alertname": "JobStopped", "job": "etl-7", "severity": "error"},
        "annotations": {"summary": "Job etl-7 stopped"},
        "startsAt": starts.to_rfc3339(),
        "endsAt": (Utc::now() + chrono::Duration::hours(1)).trunc_subsecs(0).to_rfc3339(),
    }]))
    .await;
    let hits = wait_for("both webhooks", Duration::from_secs(20), || async {
        let hits = sink.log.hits();
        (hits.len() >= 2).then_some(hits)
    })
    .await;
    let text_at = |path: &str| {
        hits.iter()
            .find(|h| h.path == path)
            .and_then(|h| h.body["text"].as_str())
            .unwrap_or_else(|| panic!("nothing at {path}: {hits:?}"))
            .to_string()
    };
    let sh = text_at("/sh");
    assert!(sh.contains("开始时间: 2026-01-15 12:05:06 +08:00"), "{sh}");
    let berlin = text_at("/berlin");
    assert!(
        berlin.contains("Since: 2026-01-15 05:05:06 +01:00"),
        "{berlin}"
    );

    // The status page: the config's zone, Chinese fixed texts.
    let page = d.get_text("/").await;
    let since = d
        .alert("JobStopped")
        .map(|a| a.fired_at.unwrap_or(a.active_at))
        .unwrap();
    let want = local(since, Tz::Asia__Shanghai, "+08:00");
    assert!(page.contains(&want), "the page lacks {want:?}:\n{page}");
    for zh in [
        "<html lang=zh-CN>",
        "<title>tocsin 状态</title>",
        "告警中 1",
        "待确认 0",
        "<th>开始时间</th>",
        "<span class=\"sev error\">严重</span>",
        "<h2>规则</h2>",
        "<h2>发送</h2>",
        "告警 JSON",
    ] {
        assert!(page.contains(zh), "the page lacks {zh:?}:\n{page}");
    }
    assert!(!page.contains("firing<"), "no English left:\n{page}");
    let footer = page.rsplit("<footer>").next().unwrap();
    assert!(footer.contains("+08:00"), "{footer}");
    d.stop().await;
}

/// The status page shows a rule's texts in the config's `language`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_rule_texts_in_its_language() {
    let dir = Daemon::prepare(
        r#"groups:
  - name: zh_page
    interval: 1s
    rules:
      - alert: ZhPage
        query: vector(9000)
        when: "> 8000"
        severity: warning
        message: {en: "Connection count too high: {{ value }}", zh: "部署连接数过高：{{ value }}"}
        resolution: {en: "Upgrade the deployment's plan", zh: "升级部署规格"}
"#,
        "language: zh\n",
    );
    let d = Daemon::start(&dir).await;
    let page = wait_for("the alert on the page", Duration::from_secs(20), || async {
        let page = d.get_text("/").await;
        page.contains("部署连接数过高：9000").then_some(page)
    })
    .await;
    assert!(page.contains("升级部署规格"), "{page}");
    assert!(!page.contains("Connection count too high"), "{page}");
    d.stop().await;
}

/// `{{ since }}` in a rule's message is written in the config's zone, as
/// every other time in a message is, and in a target's own zone for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_in_a_rule_message_is_in_the_configured_zone() {
    let sink = JsonSink::start().await;
    let dir = Daemon::prepare(
        r#"groups:
  - name: since_zone
    interval: 1s
    rules:
      - alert: SinceZone
        query: vector(9000)
        when: "> 8000"
        severity: warning
        message: {en: "high since {{ since }}", zh: "自 {{ since }} 起过高"}
"#,
        &format!(
            "timezone: Asia/Shanghai\nlanguage: zh\ntargets:\n\
             \x20 - {{name: sh, type: webhook, url: 'http://{a}/sh', payload: tocsin}}\n\
             \x20 - {{name: tokyo, type: webhook, url: 'http://{a}/tokyo', payload: tocsin, timezone: Asia/Tokyo, language: en}}\n",
            a = sink.addr
        ),
    );
    let d = Daemon::start(&dir).await;
    let hits = wait_for("both webhooks", Duration::from_secs(20), || async {
        let hits = sink.log.hits();
        (hits.len() >= 2).then_some(hits)
    })
    .await;
    let text_at = |path: &str| {
        hits.iter()
            .find(|h| h.path == path)
            .and_then(|h| h.body["text"].as_str())
            .unwrap_or_else(|| panic!("nothing at {path}: {hits:?}"))
            .to_string()
    };
    let active = d.alert("SinceZone").map(|a| a.active_at).unwrap();
    let text = text_at("/sh");
    let want = format!("自 {} 起过高", local(active, Tz::Asia__Shanghai, "+08:00"));
    assert!(text.contains(&want), "want {want:?} in:\n{text}");
    let text = text_at("/tokyo");
    let want = format!("high since {}", local(active, Tz::Asia__Tokyo, "+09:00"));
    assert!(text.contains(&want), "want {want:?} in:\n{text}");
    // The API keeps the config's zone.
    let views = d.alert_views().await;
    let api = views[0]["texts"]["en"]["message"].as_str().unwrap();
    assert!(api.ends_with("+08:00"), "{api}");
    d.stop().await;
}
