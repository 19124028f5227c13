//! Every chat and paging channel against a local server that checks the real
//! protocol (tests/common/mocks.rs): signatures recomputed with the published
//! known-answer vectors, keywords, mentions, size limits, token issue and
//! expiry, schema checks, and the real error codes, which must end as a
//! permanent failure carrying the service's own text or as a retry. Then the
//! dispatcher: rate limits hold rows in the outbox (nothing dropped) and a
//! 429's Retry-After is honoured.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::mocks::*;
use tocsin::notify::channels::Delivery;
use tocsin::notify::{AlertMessage, MessageKind};

use common::{channel_of as channel, config_of as config};

fn firing() -> AlertMessage {
    let mut m = AlertMessage::sample(MessageKind::Firing, "disk almost full", Utc::now());
    m.alert = "DiskFull".into();
    m.message = "Disk on db-1 is 98% full".into();
    m
}

fn resolved() -> AlertMessage {
    let mut m = AlertMessage::sample(MessageKind::Resolved, "disk almost full", Utc::now());
    m.alert = "DiskFull".into();
    m
}

fn failed_reason(d: Delivery) -> String {
    match d {
        Delivery::Failed { reason } => reason,
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

const PEOPLE: &str = "contacts:\n  - {name: alice, phone: '13800000000', wecom_user: alice.w, feishu_user: ou_alice}\n  - {name: bob, phone: '13900000000'}\ncontact_groups:\n  - {name: oncall, members: [alice, bob]}\n";

// ------------------------------------------------------------------ DingTalk

fn dingtalk_yaml(url: &str, secret: &str, keyword: &str, format: &str) -> String {
    format!(
        "{PEOPLE}targets:\n  - {{name: dt, type: dingtalk, webhook: '{url}', secret: '{secret}', keyword: '{keyword}', mention: [oncall], format: {format}}}\n"
    )
}

#[tokio::test]
async fn dingtalk_signed_markdown_with_keyword_and_mentions_is_accepted() {
    let mock = DingTalkMock::start("tok-1", Some("SECright"), &["告警"]).await;
    let ch = channel(&dingtalk_yaml(&mock.url(), "SECright", "告警", "markdown"));
    let d = ch.send(&[firing(), resolved()]).await;
    assert!(d.is_sent(), "{d:?}");
    assert_eq!(mock.log.violations(), Vec::<String>::new());
    let hit = &mock.log.hits()[0];
    assert_eq!(hit.body["msgtype"], "markdown");
    assert_eq!(
        hit.body["at"]["atMobiles"],
        serde_json::json!(["13800000000", "13900000000"])
    );
    let text = hit.body["markdown"]["text"].as_str().unwrap();
    assert!(text.contains("Disk on db-1 is 98% full"), "{text}");
    assert!(
        text.contains("@13800000000") && text.contains("@13900000000"),
        "{text}"
    );
    assert!(
        text.contains("Lasted"),
        "a recovery says how long it lasted: {text}"
    );
    // the answer is DingTalk's own
    assert!(matches!(d, Delivery::Sent { answer } if answer.contains("\"errcode\":0")));
}

#[tokio::test]
async fn dingtalk_text_format_is_accepted() {
    let mock = DingTalkMock::start("tok-1", Some("SECright"), &["alert"]).await;
    let ch = channel(&dingtalk_yaml(&mock.url(), "SECright", "alert", "text"));
    assert!(ch.send(&[firing()]).await.is_sent());
    let hit = &mock.log.hits()[0];
    assert_eq!(hit.body["msgtype"], "text");
    assert!(
        hit.body["text"]["content"]
            .as_str()
            .unwrap()
            .contains("alert")
    );
}

#[tokio::test]
async fn dingtalk_wrong_secret_keyword_or_token_fail_with_dingtalks_text() {
    let mock = DingTalkMock::start("tok-1", Some("SECright"), &["告警"]).await;
    let wrong_secret = channel(&dingtalk_yaml(&mock.url(), "SECwrong", "告警", "markdown"));
    let reason = failed_reason(wrong_secret.send(&[firing()]).await);
    assert!(
        reason.contains("310000") && reason.contains("sign not match"),
        "{reason}"
    );
    assert!(
        !reason.contains("SECwrong") && !reason.contains("tok-1"),
        "secret leaked: {reason}"
    );

    let wrong_keyword = channel(&dingtalk_yaml(
        &mock.url(),
        "SECright",
        "nomatch",
        "markdown",
    ));
    let reason = failed_reason(wrong_keyword.send(&[firing()]).await);
    assert!(reason.contains("keywords not in content"), "{reason}");

    let wrong_token = channel(&dingtalk_yaml(
        &mock.url_with("tok-2"),
        "SECright",
        "告警",
        "text",
    ));
    let reason = failed_reason(wrong_token.send(&[firing()]).await);
    assert!(
        reason.contains("300001") && reason.contains("token is not exist"),
        "{reason}"
    );
}

#[tokio::test]
async fn dingtalk_oversized_message_is_shortened_and_accepted() {
    let mock = DingTalkMock::start("tok-1", None, &[]).await;
    let ch = channel(&format!(
        "targets:\n  - {{name: dt, type: dingtalk, webhook: '{}'}}\n",
        mock.url()
    ));
    let mut big = firing();
    big.message = "磁盘空间不足 \"db-1\" ".repeat(3000);
    let batch: Vec<AlertMessage> = (0..5).map(|_| big.clone()).collect();
    let d = ch.send(batch.as_slice()).await;
    assert!(d.is_sent(), "{d:?}");
    assert!(
        mock.log.violations().is_empty(),
        "{:?}",
        mock.log.violations()
    );
    assert!(mock.log.hits()[0].body_len <= 20_000);
}

#[tokio::test]
async fn unreachable_service_is_retried_without_leaking_the_token() {
    let refused = common::refusing_port();
    let ch = channel(&format!(
        "targets:\n  - {{name: dt, type: dingtalk, webhook: 'http://{}/robot/send?access_token=very-secret-token', secret: SECxyz}}\n",
        refused.local_addr().unwrap()
    ));
    match ch.send(&[firing()]).await {
        Delivery::Retry { reason, .. } => {
            assert!(
                !reason.contains("very-secret-token") && !reason.contains("SECxyz"),
                "{reason}"
            )
        }
        other => panic!("expected a retry, got {other:?}"),
    }
}

// ------------------------------------------------------------------ Feishu

fn feishu_yaml(url: &str, secret: &str, keyword: &str, format: &str) -> String {
    format!(
        "{PEOPLE}language: zh\ntargets:\n  - {{name: fs, type: feishu, webhook: '{url}', secret: '{secret}', keyword: '{keyword}', mention: [alice], mention_all: true, format: {format}}}\n"
    )
}

#[tokio::test]
async fn feishu_signed_post_and_text_are_accepted() {
    let mock = FeishuMock::start("hook-1", Some("fs-secret"), &["tocsin-kw"]).await;
    for format in ["post", "text"] {
        let ch = channel(&feishu_yaml(&mock.url(), "fs-secret", "tocsin-kw", format));
        let d = ch.send(&[firing()]).await;
        assert!(d.is_sent(), "{format}: {d:?}");
    }
    let hits = mock.log.hits();
    let post = &hits[0].body;
    assert!(
        post["timestamp"].is_string(),
        "timestamp is sent as a string"
    );
    let lines = post["content"]["post"]["zh_cn"]["content"]
        .as_array()
        .unwrap();
    let ats = lines.last().unwrap();
    assert_eq!(ats[0]["user_id"], "ou_alice");
    assert_eq!(ats[1]["user_id"], "all");
    assert!(
        post["content"]["post"]["zh_cn"]["title"]
            .as_str()
            .unwrap()
            .contains("【告警】")
    );
    let text = hits[1].body["content"]["text"].as_str().unwrap();
    assert!(text.contains("<at user_id=\"ou_alice\"></at>"), "{text}");
}

#[tokio::test]
async fn feishu_errors_are_permanent_with_feishus_text() {
    let mock = FeishuMock::start("hook-1", Some("fs-secret"), &["tocsin-kw"]).await;
    let reason = failed_reason(
        channel(&feishu_yaml(&mock.url(), "wrong", "tocsin-kw", "post"))
            .send(&[firing()])
            .await,
    );
    assert!(
        reason.contains("19021") && reason.contains("sign match fail"),
        "{reason}"
    );
    let reason = failed_reason(
        channel(&feishu_yaml(&mock.url(), "fs-secret", "other-kw", "text"))
            .send(&[firing()])
            .await,
    );
    assert!(
        reason.contains("19024") && reason.contains("Key Words Not Found"),
        "{reason}"
    );
    let reason = failed_reason(
        channel(&feishu_yaml(
            &mock.url_with("nope"),
            "fs-secret",
            "tocsin-kw",
            "text",
        ))
        .send(&[firing()])
        .await,
    );
    assert!(reason.contains("99991201"), "{reason}");
}

// ------------------------------------------------------------------ WeCom robot

#[tokio::test]
async fn wecom_robot_text_mentions_and_markdown_limits() {
    let mock = WeComMock::start("key-1").await;
    let text = channel(&format!(
        "{PEOPLE}targets:\n  - {{name: wc, type: wecom, webhook: '{}', mention: [oncall], mention_all: true, format: text}}\n",
        mock.url()
    ));
    let mut long = firing();
    long.message = "告警".repeat(3000);
    assert!(text.send(&[long.clone()]).await.is_sent());
    let hit = &mock.log.hits()[0];
    assert_eq!(
        hit.body["text"]["mentioned_list"],
        serde_json::json!(["alice.w", "@all"])
    );
    assert_eq!(
        hit.body["text"]["mentioned_mobile_list"],
        serde_json::json!(["13900000000"])
    );

    let md = channel(&format!(
        "{PEOPLE}targets:\n  - {{name: wc, type: wecom, webhook: '{}', mention: [alice]}}\n",
        mock.url()
    ));
    let batch: Vec<AlertMessage> = (0..10).map(|_| long.clone()).collect();
    assert!(md.send(batch.as_slice()).await.is_sent());
    let content = mock.log.hits()[1].body["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        content.len() <= 4096 && content.ends_with("<@alice.w>"),
        "{}",
        content.len()
    );

    let bad = channel(&format!(
        "targets:\n  - {{name: wc, type: wecom, webhook: '{}'}}\n",
        mock.url_with("key-2")
    ));
    let reason = failed_reason(bad.send(&[firing()]).await);
    assert!(
        reason.contains("93000") && reason.contains("invalid webhook url"),
        "{reason}"
    );
}

// ------------------------------------------------------------------ WeCom application

fn wecom_app_yaml(api: &str, secret: &str) -> String {
    format!(
        "{PEOPLE}targets:\n  - {{name: app, type: wecom_app, corp_id: ww-corp, secret: '{secret}', agent_id: 1000002, users: [alice], parties: ['7'], api_url: '{api}'}}\n"
    )
}

#[tokio::test]
async fn wecom_app_caches_the_token_and_refreshes_once_when_it_expires() {
    let mock = WeComAppMock::start("ww-corp", "app-secret", 1000002).await;
    let ch = channel(&wecom_app_yaml(&mock.api_url(), "app-secret"));
    assert!(ch.send(&[firing()]).await.is_sent());
    assert!(ch.send(&[resolved()]).await.is_sent());
    assert_eq!(
        mock.token_calls(),
        1,
        "the token is cached until it expires"
    );
    let sends: Vec<Hit> = mock
        .log
        .hits()
        .into_iter()
        .filter(|h| h.path.ends_with("/send"))
        .collect();
    assert_eq!(sends[0].body["touser"], "alice.w");
    assert_eq!(sends[0].body["toparty"], "7");
    assert_eq!(sends[0].body["agentid"], 1000002);

    mock.expire_tokens();
    let d = ch.send(&[firing()]).await;
    assert!(d.is_sent(), "{d:?}");
    assert_eq!(mock.token_calls(), 2, "42001 fetches a new token once");
    let answers: Vec<i64> = mock
        .log
        .hits()
        .iter()
        .filter(|h| h.path.ends_with("/send"))
        .map(|h| h.answer["errcode"].as_i64().unwrap())
        .collect();
    assert_eq!(answers, vec![0, 0, 42001, 0]);
}

#[tokio::test]
async fn wecom_app_wrong_secret_is_permanent_and_not_echoed() {
    let mock = WeComAppMock::start("ww-corp", "app-secret", 1000002).await;
    let ch = channel(&wecom_app_yaml(&mock.api_url(), "bad-app-secret"));
    let reason = failed_reason(ch.send(&[firing()]).await);
    assert!(
        reason.contains("40001") && reason.contains("invalid credential"),
        "{reason}"
    );
    assert!(!reason.contains("bad-app-secret"), "{reason}");
}

// ------------------------------------------------------------------ Slack

#[tokio::test]
async fn slack_blocks_and_429_retry_after() {
    let mock = SlackMock::start(1, 2).await;
    let ch = channel(&format!(
        "targets:\n  - {{name: sl, type: slack, webhook: '{}'}}\n",
        mock.url()
    ));
    assert_eq!(
        ch.send(&[firing()]).await,
        Delivery::Retry {
            reason: "Slack HTTP 429 Too Many Requests: rate_limited".into(),
            after: Some(Duration::from_secs(2))
        }
    );
    let d = ch.send(&[firing(), resolved()]).await;
    assert_eq!(
        d,
        Delivery::Sent {
            answer: "ok".into()
        }
    );
    let body = &mock.log.hits()[1].body;
    assert_eq!(body["attachments"][0]["color"], "#ecb22e");
    assert_eq!(body["attachments"][1]["color"], "#2eb886");
    assert_eq!(body["attachments"][0]["blocks"][0]["type"], "header");
}

// ------------------------------------------------------------------ PagerDuty

const PD_KEY: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn pagerduty_trigger_then_resolve_pass_the_v2_schema() {
    let mock = PagerDutyMock::start(PD_KEY).await;
    let ch = channel(&format!(
        "targets:\n  - {{name: pd, type: pagerduty, routing_key: {PD_KEY}, url: '{}', class: disk}}\n",
        mock.url()
    ));
    let mut f = firing();
    f.message = "x".repeat(5000);
    f.severity = tocsin::alert::Severity::Error;
    assert!(ch.send(&[f]).await.is_sent());
    assert!(ch.send(&[resolved()]).await.is_sent());
    let hits = mock.log.hits();
    assert!(
        hits.iter().all(|h| h.status == 202),
        "{:?}",
        hits.iter().map(|h| &h.answer).collect::<Vec<_>>()
    );
    assert_eq!(hits[0].body["event_action"], "trigger");
    assert_eq!(hits[0].body["payload"]["severity"], "critical");
    assert_eq!(hits[0].body["payload"]["custom_details"]["value"], 42.0);
    assert_eq!(
        hits[0].body["payload"]["custom_details"]["labels"]["instance"],
        "tocsin"
    );
    assert_eq!(hits[1].body["event_action"], "resolve");
    assert_eq!(hits[0].body["dedup_key"], hits[1].body["dedup_key"]);
}

#[tokio::test]
async fn pagerduty_400_is_permanent_with_its_errors() {
    let mock = PagerDutyMock::start("ffffffffffffffffffffffffffffffff").await;
    let ch = channel(&format!(
        "targets:\n  - {{name: pd, type: pagerduty, routing_key: {PD_KEY}, url: '{}'}}\n",
        mock.url()
    ));
    let reason = failed_reason(ch.send(&[firing()]).await);
    assert!(
        reason.contains("400") && reason.contains("Invalid routing key"),
        "{reason}"
    );
    assert!(!reason.contains(PD_KEY));
}

// ------------------------------------------------------------------ webhook and Alertmanager

#[tokio::test]
async fn webhook_tocsin_payload_and_alertmanager_push() {
    let sink = JsonSink::start().await;
    let wh = channel(&format!(
        "targets:\n  - {{name: wh, type: webhook, url: 'http://{}/hook', method: PUT, payload: tocsin, headers: {{X-Token: abc}}}}\n",
        sink.addr
    ));
    assert_eq!(wh.max_batch(), 1);
    assert!(wh.send(&[resolved()]).await.is_sent());
    let am = channel(&format!(
        "targets:\n  - {{name: am, type: alertmanager, url: 'http://{}/'}}\n",
        sink.addr
    ));
    assert!(am.send(&[firing(), resolved()]).await.is_sent());
    let hits = sink.log.hits();
    let t = &hits[0];
    assert_eq!(t.query["method"], "PUT");
    assert_eq!(t.headers["x-token"], "abc");
    assert_eq!(t.body["version"], "1");
    assert_eq!(t.body["status"], "resolved");
    assert_eq!(t.body["alert"], "DiskFull");
    assert_eq!(t.body["duration_seconds"], 300);
    assert!(t.body["text"].as_str().unwrap().contains("Lasted: 5m"));
    let a = &hits[1];
    assert_eq!(a.path, "/api/v2/alerts");
    let alerts = a.body.as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["labels"]["alertname"], "TocsinTestMessage");
    // A native alert's message is its `summary`; nothing else is invented.
    assert!(
        alerts[0]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("98%")
    );
    assert!(alerts[0]["annotations"].get("message").is_none());
    assert!(alerts[0]["annotations"].get("value").is_none());
}

// ------------------------------------------------------------------ the dispatcher

/// A store with `n` firing rows queued for `target`.
async fn queued(dir: &Path, target: &str, n: usize) -> tocsin::store::Store {
    let store = tocsin::store::Store::open(&dir.join("tocsin.db")).unwrap();
    let notifications = (0..n)
        .map(|i| {
            let mut m = firing();
            m.fingerprint = tocsin::alert::Fingerprint(i as u64 + 1);
            m.alert = format!("Alert{i}");
            tocsin::store::outbox::NewNotification {
                target: target.into(),
                fingerprint: m.fingerprint,
                kind: "firing".into(),
                payload: serde_json::to_string(&m).unwrap(),
                group_key: "all".into(),
                group_wait: std::time::Duration::ZERO,
                group_interval: std::time::Duration::ZERO,
                only_if_notified_since: None,
            }
        })
        .collect();
    store.enqueue(notifications).await.unwrap();
    store
}

async fn wait_all_sent(store: &tocsin::store::Store, target: &str, n: i64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let counts = store.outbox_counts().await.unwrap();
        let sent = counts
            .iter()
            .find(|(t, s, _)| t == target && s == "sent")
            .map_or(0, |c| c.2);
        if sent == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not all sent in time: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn slack_rate_limit_queues_and_429_is_honoured_nothing_dropped() {
    let mock = SlackMock::start(1, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&format!(
        "delivery: {{retry_initial: 100ms, retry_max: 1s}}\ntargets:\n  - {{name: sl, type: slack, webhook: '{}', max_alerts: 1}}\n",
        mock.url()
    ));
    let store = queued(dir.path(), "sl", 3).await;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let d =
        tocsin::notify::Dispatcher::start(&cfg, store.clone(), &|_| None, rx, Default::default())
            .unwrap();
    wait_all_sent(&store, "sl", 3, Duration::from_secs(15)).await;
    let _ = tx.send(true);
    d.join().await;
    let hits = mock.log.hits();
    let statuses: Vec<u16> = hits.iter().map(|h| h.status).collect();
    assert_eq!(statuses, vec![429, 200, 200, 200]);
    // after the 429 the worker waited its Retry-After (1 s) ...
    assert!(
        hits[1].at - hits[0].at >= Duration::from_millis(950),
        "{:?}",
        hits[1].at - hits[0].at
    );
    // ... and never sent twice within a second
    for w in hits.windows(2) {
        assert!(
            w[1].at - w[0].at >= Duration::from_millis(950),
            "{:?}",
            w[1].at - w[0].at
        );
    }
}

#[tokio::test]
async fn dingtalk_storm_is_aggregated_under_the_robot_limit() {
    let mock = DingTalkMock::start("tok-1", Some("SECright"), &["alert"]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&format!(
        "targets:\n  - {{name: dt, type: dingtalk, webhook: '{}', secret: SECright, keyword: alert}}\n",
        mock.url()
    ));
    let store = queued(dir.path(), "dt", 100).await;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let d =
        tocsin::notify::Dispatcher::start(&cfg, store.clone(), &|_| None, rx, Default::default())
            .unwrap();
    wait_all_sent(&store, "dt", 100, Duration::from_secs(15)).await;
    let _ = tx.send(true);
    d.join().await;
    let hits = mock.log.hits();
    assert!(
        hits.iter().all(|h| h.answer["errcode"] == 0),
        "{:?}",
        hits.iter().map(|h| &h.answer).collect::<Vec<_>>()
    );
    assert!(hits.len() <= 20, "{} messages for 100 alerts", hits.len());
    let mut names = Vec::new();
    for h in &hits {
        let text = h.body["markdown"]["text"].as_str().unwrap();
        for i in 0..100 {
            let n = format!("Alert{i} ");
            if text.contains(&n) {
                names.push(i);
            }
        }
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 100, "every alert appears in a message");
}

#[tokio::test]
async fn wrong_keyword_fails_the_outbox_row_with_dingtalks_text_at_once() {
    let mock = DingTalkMock::start("tok-1", Some("SECright"), &["只有这个关键词"]).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&format!(
        "targets:\n  - {{name: dt, type: dingtalk, webhook: '{}', secret: SECright, keyword: alert}}\n",
        mock.url()
    ));
    let store = queued(dir.path(), "dt", 1).await;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let d =
        tocsin::notify::Dispatcher::start(&cfg, store.clone(), &|_| None, rx, Default::default())
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let rows = store
            .notifications_for(tocsin::alert::Fingerprint(1))
            .await
            .unwrap();
        if rows[0].status != "pending" {
            break rows[0].clone();
        }
        assert!(Instant::now() < deadline, "still pending: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = tx.send(true);
    d.join().await;
    assert_eq!(row.status, "failed");
    assert_eq!(row.attempts, 1, "a permanent failure is not retried");
    let err = row.last_error.unwrap();
    assert!(
        err.contains("310000") && err.contains("keywords not in content"),
        "{err}"
    );
    assert!(!err.contains("SECright") && !err.contains("tok-1"), "{err}");
    assert_eq!(mock.log.hits().len(), 1);
}

#[tokio::test]
async fn wecom_app_refreshes_the_token_before_it_expires() {
    // 301 s announced, refreshed 300 s early: stale after one second.
    let mock = WeComAppMock::start_with_expiry("ww-corp", "app-secret", 1000002, 301).await;
    let ch = channel(&wecom_app_yaml(&mock.api_url(), "app-secret"));
    assert!(ch.send(&[firing()]).await.is_sent());
    assert!(ch.send(&[firing()]).await.is_sent());
    assert_eq!(mock.token_calls(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(ch.send(&[firing()]).await.is_sent());
    assert_eq!(mock.token_calls(), 2);
    let rejected = mock
        .log
        .hits()
        .iter()
        .filter(|h| h.answer["errcode"].as_i64() != Some(0))
        .count();
    assert_eq!(rejected, 0, "refreshed before WeCom had to reject it");
}

#[tokio::test]
async fn requests_go_through_the_configured_proxy() {
    // The mock answers absolute-form proxy requests like direct ones.
    let mock = DingTalkMock::start("tok-1", Some("SECright"), &[]).await;
    let ch = channel(&format!(
        "targets:\n  - {{name: dt, type: dingtalk, webhook: 'http://oapi.dingtalk.invalid/robot/send?access_token=tok-1', secret: SECright, proxy: 'http://{}'}}\n",
        mock.addr
    ));
    let d = ch.send(&[firing()]).await;
    assert!(d.is_sent(), "{d:?}");
    assert_eq!(mock.log.hits().len(), 1);
}

// ------------------------------------------- raw numbers and ids in `mention`

#[tokio::test]
async fn phone_numbers_and_ids_in_mention_reach_dingtalk_wecom_and_feishu() {
    let dt = DingTalkMock::start("tok-1", Some("SECright"), &["告警"]).await;
    let ch = channel(&format!(
        "{PEOPLE}targets:\n  - {{name: dt, type: dingtalk, webhook: '{}', secret: SECright, keyword: 告警, mention: [bob, '13700000000', '+8613600000000'], format: text}}\n",
        dt.url()
    ));
    let d = ch.send(&[firing()]).await;
    assert!(d.is_sent(), "{d:?}");
    let body = &dt.log.hits()[0].body;
    assert_eq!(
        body["at"]["atMobiles"],
        serde_json::json!(["13900000000", "13700000000", "+8613600000000"])
    );
    let content = body["text"]["content"].as_str().unwrap();
    assert_eq!(content.matches("告警").count(), 1, "{content}");

    let wc = WeComMock::start("key-1").await;
    let ch = channel(&format!(
        "{PEOPLE}targets:\n  - {{name: wc, type: wecom, webhook: '{}', keyword: 监控, mention: [alice, 'userid:wangwu', '13700000000'], format: text}}\n",
        wc.url()
    ));
    assert!(ch.send(&[firing()]).await.is_sent());
    let text = &wc.log.hits()[0].body["text"];
    assert_eq!(
        text["mentioned_list"],
        serde_json::json!(["alice.w", "wangwu"])
    );
    assert_eq!(
        text["mentioned_mobile_list"],
        serde_json::json!(["13700000000"])
    );
    assert!(
        text["content"].as_str().unwrap().starts_with("监控 "),
        "{text}"
    );
    let ch = channel(&format!(
        "{PEOPLE}targets:\n  - {{name: wc, type: wecom, webhook: '{}', keyword: 监控, mention: ['userid: wangwu']}}\n",
        wc.url()
    ));
    assert!(ch.send(&[firing()]).await.is_sent());
    let md = wc.log.hits()[1].body["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(md.starts_with("监控 ") && md.ends_with("<@wangwu>"), "{md}");

    let fs = FeishuMock::start("hook-1", Some("fs-secret"), &["tocsin-kw"]).await;
    for format in ["text", "post"] {
        let ch = channel(&format!(
            "{PEOPLE}targets:\n  - {{name: fs, type: feishu, webhook: '{}', secret: fs-secret, keyword: tocsin-kw, mention: [ou_7d8a6e6df7621556ce0d21922b676706, alice], format: {format}}}\n",
            fs.url()
        ));
        let d = ch.send(&[firing()]).await;
        assert!(d.is_sent(), "{format}: {d:?}");
    }
    let hits = fs.log.hits();
    let text = hits[0].body["content"]["text"].as_str().unwrap();
    assert!(
        text.contains("<at user_id=\"ou_7d8a6e6df7621556ce0d21922b676706\"></at>")
            && text.contains("<at user_id=\"ou_alice\"></at>"),
        "{text}"
    );
    let lines = hits[1].body["content"]["post"]["zh_cn"]["content"]
        .as_array()
        .unwrap();
    let ats = lines.last().unwrap();
    assert_eq!(ats[0]["user_id"], "ou_7d8a6e6df7621556ce0d21922b676706");
    assert_eq!(ats[1]["user_id"], "ou_alice");
}

#[test]
fn a_mention_that_is_no_contact_must_look_like_a_number_or_the_tools_id() {
    let cases = [
        (
            "targets:\n  - {name: d, type: dingtalk, webhook: 'https://x/robot?access_token=t', mention: [bobby]}\n",
            "tocsin.yaml:2:84: mention of target \"d\" names \"bobby\", but no contact or contact group has that name, and it is not a phone number (5 to 20 digits, optionally after +)",
        ),
        (
            "targets:\n  - {name: d, type: dingtalk, webhook: 'https://x/robot?access_token=t', mention: ['137 0000 0000', '1234']}\n",
            "tocsin.yaml:2:84: mention of target \"d\" names \"137 0000 0000\", but no contact or contact group has that name, and it is not a phone number (5 to 20 digits, optionally after +)\ntocsin.yaml:2:101: mention of target \"d\" names \"1234\"",
        ),
        (
            "targets:\n  - {name: w, type: wecom, webhook: 'https://x/send?key=k', mention: ['bob smith'], format: text}\n",
            "tocsin.yaml:2:71: mention of target \"w\" names \"bob smith\", but no contact or contact group has that name, and it is not a phone number (5 to 20 digits, optionally after +) or a WeCom userid written `userid:` and the id (e.g. userid:zhangsan)",
        ),
        (
            // A misspelt contact name is not taken for a userid.
            "contacts:\n  - {name: zhangsan, wecom_user: zhangsan}\ntargets:\n  - {name: w, type: wecom, webhook: 'https://x/send?key=k', mention: [zhangsna]}\n",
            "tocsin.yaml:4:71: mention of target \"w\" names \"zhangsna\", but no contact or contact group has that name, and it is not a phone number (5 to 20 digits, optionally after +) or a WeCom userid written `userid:` and the id (e.g. userid:zhangsan); did you mean \"zhangsan\"?",
        ),
        (
            "targets:\n  - {name: w, type: wecom, webhook: 'https://x/send?key=k', mention: ['userid:bob smith']}\n",
            "tocsin.yaml:2:71: mention of target \"w\" names \"userid:bob smith\"",
        ),
        (
            "targets:\n  - {name: w, type: wecom, webhook: 'https://x/send?key=k', mention: ['13700000000']}\n",
            "tocsin.yaml:2:70: wecom markdown messages mention by `wecom_user` only",
        ),
        (
            "targets:\n  - {name: f, type: feishu, webhook: 'https://x/hook/h', mention: [on_1234]}\n",
            "tocsin.yaml:2:68: mention of target \"f\" names \"on_1234\", but no contact or contact group has that name, and it is not an open_id (ou_...)",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let got = match tocsin::config::Config::from_text(std::path::Path::new("tocsin.yaml"), text)
        {
            Ok(_) => "loaded".to_string(),
            Err(e) => e.to_string(),
        };
        if !got.starts_with(want) {
            wrong.push(format!("\n got: {got}\nwant: {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join(""));
}
