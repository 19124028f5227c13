//! SMS and calls against local stand-ins of the gateways
//! (tests/common/phone_mocks.rs) that recompute each signature, keep the
//! per-number limits and answer with the real error codes; then the backup
//! scenario: a vault routed to a contact group, a backup fails, every member
//! gets mail and SMS.

mod common;

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use common::Daemon;
use common::phone_mocks::*;
use tocsin::config::Config;
use tocsin::notify::channels::{Channel, Delivery};
use tocsin::notify::{AlertMessage, MessageKind};

const ALIYUN_SECRET: &str = "aliyun-secret-do-not-leak";
const TENCENT_KEY: &str = "tencent-key-do-not-leak";
const TWILIO_TOKEN: &str = "twilio-token-do-not-leak";
const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";

use common::{channel_of as channel, config_of as config};

fn firing() -> AlertMessage {
    let mut m = AlertMessage::sample(MessageKind::Firing, "x", Utc::now());
    m.alert = "BackupFailed".into();
    m.message =
        "Backup of client db of vault v-prod failed with exit code 1 after 3 hours of copying"
            .into();
    m
}

fn failed_reason(d: Delivery) -> String {
    match d {
        Delivery::Failed { reason } => reason,
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

fn no_secret(s: &str) {
    for secret in [ALIYUN_SECRET, TENCENT_KEY, TWILIO_TOKEN] {
        assert!(!s.contains(secret), "a secret leaked: {s}");
    }
}

// ------------------------------------------------------------------ Aliyun

async fn aliyun_mock() -> AliyunMock {
    AliyunMock::start(
        "LTAI-test",
        ALIYUN_SECRET,
        "备份报警",
        &[
            (
                "SMS_123456",
                &["alert", "severity", "message", "count", "since"],
            ),
            ("TTS_777", &["alert", "message"]),
        ],
    )
    .await
}

fn aliyun_yaml(url: &str, key_id: &str, secret: &str, template: &str, to: &str) -> String {
    format!(
        "targets:\n  - {{name: sms, type: sms, provider: aliyun, endpoint: '{url}', access_key_id: {key_id}, access_key_secret: {secret}, sign_name: 备份报警, template_code: {template}, to: [{to}]}}\n"
    )
}

#[tokio::test]
async fn aliyun_sms_is_signed_and_its_template_variables_are_shortened() {
    let m = aliyun_mock().await;
    let c = channel(&aliyun_yaml(
        &m.url(),
        "LTAI-test",
        ALIYUN_SECRET,
        "SMS_123456",
        "'13800000000', '+8613900000000'",
    ));
    let d = c.send(&[firing(), firing(), firing()]).await;
    assert!(d.is_sent(), "{d:?}");
    assert_eq!(m.log.violations(), Vec::<String>::new());
    let hits = m.log.accepted();
    assert_eq!(hits.len(), 1, "one request for both numbers");
    let h = &hits[0];
    assert_eq!(h.numbers, vec!["8613800000000", "8613900000000"]);
    assert_eq!(h.params["alert"], "BackupFailed +2");
    assert_eq!(h.params["count"], "3");
    let msg = h.params["message"].as_str().unwrap();
    assert_eq!(msg.chars().count(), 35, "{msg}");
    assert!(
        msg.starts_with("Backup of client db") && msg.ends_with('…'),
        "{msg}"
    );
    no_secret(&h.raw);
}

#[tokio::test]
async fn aliyun_bad_input_fails_permanently_with_aliyuns_code() {
    let m = aliyun_mock().await;
    let cases = [
        (
            "LTAI-test",
            "wrong-secret",
            "SMS_123456",
            "'13800000000'",
            "Aliyun SignatureDoesNotMatch: Specified signature is not matched",
        ),
        (
            "LTAI-nobody",
            ALIYUN_SECRET,
            "SMS_123456",
            "'13800000001'",
            "Aliyun InvalidAccessKeyId.NotFound",
        ),
        (
            "LTAI-test",
            ALIYUN_SECRET,
            "SMS_999",
            "'13800000002'",
            "Aliyun isv.SMS_TEMPLATE_ILLEGAL",
        ),
        (
            "LTAI-test",
            ALIYUN_SECRET,
            "SMS_123456",
            "'+85212345678'",
            "Aliyun isv.MOBILE_NUMBER_ILLEGAL: 非法手机号",
        ),
    ];
    for (id, secret, template, to, want) in cases {
        let c = channel(&aliyun_yaml(&m.url(), id, secret, template, to));
        let reason = failed_reason(c.send(&[firing()]).await);
        assert!(reason.starts_with(want), "{reason}");
        no_secret(&reason);
    }
    assert!(m.log.accepted().is_empty());
}

#[tokio::test]
async fn aliyun_per_number_flow_control_is_a_retry_after_its_window() {
    let m = aliyun_mock().await;
    let c = channel(&aliyun_yaml(
        &m.url(),
        "LTAI-test",
        ALIYUN_SECRET,
        "SMS_123456",
        "'13700000000'",
    ));
    assert!(c.send(&[firing()]).await.is_sent());
    match c.send(&[firing()]).await {
        Delivery::Retry { reason, after } => {
            assert_eq!(
                reason,
                "Aliyun isv.BUSINESS_LIMIT_CONTROL: 触发分钟级流控Permits:1"
            );
            assert_eq!(after, Some(Duration::from_secs(60)));
        }
        other => panic!("{other:?}"),
    }
    // The channel declares the same limits, so the dispatcher holds rows instead.
    assert_eq!(c.rate_limits()[0].count, 1);
    assert_eq!(c.rate_limits()[0].per, Duration::from_secs(60));
}

#[tokio::test]
async fn aliyun_tts_call_is_placed() {
    let m = aliyun_mock().await;
    let c = channel(&format!(
        "targets:\n  - {{name: call, type: call, provider: aliyun, endpoint: '{}', access_key_id: LTAI-test, access_key_secret: {ALIYUN_SECRET}, template_code: TTS_777, from: '057100000000', params: {{alert: alert, message: message}}, to: ['+8613600000000']}}\n",
        m.url()
    ));
    let d = c.send(&[firing()]).await;
    assert!(
        matches!(&d, Delivery::Sent { answer } if answer.starts_with("Aliyun call 1160") && answer.ends_with("answered")),
        "{d:?}"
    );
    let h = &m.log.accepted()[0];
    assert_eq!(h.action, "SingleCallByTts");
    assert_eq!(h.numbers, vec!["13600000000"]);
    assert_eq!(h.params["alert"], "BackupFailed");
    // Then its record, once: answered, so not called again.
    let q = &m.log.accepted()[1..];
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].action, "QueryCallDetailByCallId");
    assert_eq!(q[0].params["state"], "200000");
    assert_eq!(m.log.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn an_aliyun_call_whose_record_cannot_be_read_counts_as_placed() {
    let m = aliyun_mock().await;
    m.deny_call_queries();
    let c = channel(&format!(
        "targets:\n  - {{name: call, type: call, provider: aliyun, endpoint: '{}', access_key_id: LTAI-test, access_key_secret: {ALIYUN_SECRET}, template_code: TTS_777, params: {{alert: alert, message: message}}, redial: 2, redial_after: 1s, to: ['+8613600000003']}}\n",
        m.url()
    ));
    let d = tokio::time::timeout(Duration::from_secs(20), c.send(&[firing()]))
        .await
        .unwrap();
    assert!(
        matches!(&d, Delivery::Sent { answer } if answer.ends_with("placed; whether it was answered is unknown: Aliyun Forbidden.RAM: User not authorized to operate on the specified resource, or this API doesn't support RAM.")),
        "{d:?}"
    );
    // One refused look at its record, and not called again on a guess.
    assert_eq!(
        aliyun_history(&m, "13600000003"),
        ["SingleCallByTts OK", "query -"]
    );
}

/// What `number` went through, in order: its calls with the gateway's code
/// and the queries of its calls with the record's state.
fn aliyun_history(m: &AliyunMock, number: &str) -> Vec<String> {
    m.log
        .hits()
        .into_iter()
        .filter(|h| h.numbers == [number])
        .map(|h| match h.action.as_str() {
            "QueryCallDetailByCallId" => {
                format!("query {}", h.params["state"].as_str().unwrap_or("-"))
            }
            other => format!("{other} {}", h.code),
        })
        .collect()
}

#[tokio::test]
async fn aliyun_call_is_placed_again_until_answered() {
    let m = aliyun_mock().await;
    m.unanswered("13600000001", 1);
    m.unanswered("13600000002", 9);
    let yaml = |redial: u32, to: &str| {
        format!(
            "targets:\n  - {{name: call, type: call, provider: aliyun, endpoint: '{}', access_key_id: LTAI-test, access_key_secret: {ALIYUN_SECRET}, template_code: TTS_777, from: '057100000000', params: {{alert: alert, message: message}}, redial: {redial}, redial_after: 1s, to: ['{to}']}}\n",
            m.url()
        )
    };
    let once = channel(&yaml(2, "+8613600000001"));
    let never = channel(&yaml(1, "+8613600000002"));
    // Aliyun takes one call a minute per number: each redial 1 s later is
    // held back, waits out the minute and goes through, so this takes a
    // minute; both numbers are called at the same time.
    let alert = [firing()];
    let (once, never) = tokio::time::timeout(Duration::from_secs(150), async {
        tokio::join!(once.send(&alert), never.send(&alert))
    })
    .await
    .unwrap();
    let limit = "SingleCallByTts isv.BUSINESS_LIMIT_CONTROL";
    assert!(
        matches!(&once, Delivery::Sent { answer } if answer.starts_with("Aliyun call ") && answer.ends_with(" answered")),
        "{once:?}"
    );
    assert_eq!(
        aliyun_history(&m, "13600000001"),
        [
            "SingleCallByTts OK",
            "query 200003",
            limit,
            "SingleCallByTts OK",
            "query 200000"
        ]
    );
    assert_eq!(
        failed_reason(never),
        "Aliyun call not answered (200003 用户收到呼叫但未接听) after 2 calls"
    );
    assert_eq!(
        aliyun_history(&m, "13600000002"),
        [
            "SingleCallByTts OK",
            "query 200003",
            limit,
            "SingleCallByTts OK",
            "query 200003"
        ]
    );
    for h in m.log.hits() {
        no_secret(&h.raw);
    }
    assert_eq!(m.log.violations(), Vec::<String>::new());
}

// ------------------------------------------------------------------ Tencent

async fn tencent_mock() -> TencentMock {
    TencentMock::start(
        "AKID-test",
        TENCENT_KEY,
        "1400006666",
        "备份报警",
        &[("1110", 3)],
    )
    .await
}

fn tencent_yaml(url: &str, key: &str, template: &str, to: &str) -> String {
    format!(
        "targets:\n  - {{name: sms, type: sms, provider: tencent, endpoint: '{url}', secret_id: AKID-test, secret_key: {key}, sdk_app_id: '1400006666', sign_name: 备份报警, template_id: '{template}', params: [alert, severity, message], to: [{to}]}}\n"
    )
}

#[tokio::test]
async fn tencent_sms_is_tc3_signed_and_accepted() {
    let m = tencent_mock().await;
    let c = channel(&tencent_yaml(
        &m.url(),
        TENCENT_KEY,
        "1110",
        "'+8613800000000'",
    ));
    let d = c.send(&[firing()]).await;
    assert!(d.is_sent(), "{d:?}");
    let h = &m.log.accepted()[0];
    assert_eq!(h.numbers, vec!["+8613800000000"]);
    assert_eq!(h.params[0], "BackupFailed");
    assert!(h.params[2].as_str().unwrap().chars().count() <= 20);
    no_secret(&h.raw);
    // 30 seconds per number: the gateway's code, retried after the window.
    assert!(matches!(
        c.send(&[firing()]).await,
        Delivery::Retry { reason, after: Some(a) } if reason.starts_with("Tencent LimitExceeded.PhoneNumberThirtySecondLimit") && a == Duration::from_secs(30)
    ));
    assert_eq!(m.log.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn tencent_bad_input_fails_permanently_with_tencents_code() {
    let m = tencent_mock().await;
    for (key, template, want) in [
        ("wrong-key", "1110", "Tencent AuthFailure.SignatureFailure"),
        (
            TENCENT_KEY,
            "9999",
            "Tencent FailedOperation.TemplateIncorrectOrUnapproved",
        ),
    ] {
        let c = channel(&tencent_yaml(&m.url(), key, template, "'+8613800000001'"));
        let reason = failed_reason(c.send(&[firing()]).await);
        assert!(reason.starts_with(want), "{reason}");
        no_secret(&reason);
    }
}

// ------------------------------------------------------------------ Twilio

#[tokio::test]
async fn twilio_sms_fits_one_segment_and_errors_carry_twilios_code() {
    let m = TwilioMock::start(
        TWILIO_SID,
        TWILIO_TOKEN,
        "+14155550100",
        &["+14155550199"],
        &[],
    )
    .await;
    let yaml = |token: &str, to: &str| {
        format!(
            "targets:\n  - {{name: sms, type: sms, provider: twilio, endpoint: '{}', account_sid: {TWILIO_SID}, auth_token: {token}, from: '+14155550100', to: ['{to}']}}\n",
            m.url()
        )
    };
    let d = channel(&yaml(TWILIO_TOKEN, "+14155550123"))
        .send(&[firing()])
        .await;
    assert!(d.is_sent(), "{d:?}");
    let h = &m.log.accepted()[0];
    let body = h.params.as_str().unwrap();
    assert!(
        body.chars().count() <= 160 && body.starts_with("[FIRING] BackupFailed"),
        "{body}"
    );
    no_secret(&h.raw);
    tokio::time::sleep(Duration::from_secs(1)).await; // one per second per sender
    let reason = failed_reason(
        channel(&yaml(TWILIO_TOKEN, "+14155550199"))
            .send(&[firing()])
            .await,
    );
    assert_eq!(
        reason,
        "Twilio HTTP 400 error 21610: Attempt to send to unsubscribed recipient"
    );
    let reason = failed_reason(
        channel(&yaml("wrong", "+14155550123"))
            .send(&[firing()])
            .await,
    );
    assert_eq!(reason, "Twilio HTTP 401 error 20003: Authenticate");
}

/// A Twilio call target with `redial` to `number`, which leaves the first
/// `unanswered` calls unanswered; the stand-in and what one send gave.
async fn twilio_call(number: &str, unanswered: u32, redial: u32) -> (TwilioMock, Delivery) {
    let m = TwilioMock::start(
        TWILIO_SID,
        TWILIO_TOKEN,
        "+14155550100",
        &[],
        &[(number, unanswered)],
    )
    .await;
    let c = channel(&format!(
        "targets:\n  - {{name: call, type: call, provider: twilio, endpoint: '{}', account_sid: {TWILIO_SID}, auth_token: {TWILIO_TOKEN}, from: '+14155550100', redial: {redial}, redial_after: 1s, to: ['{number}']}}\n",
        m.url()
    ));
    let d = tokio::time::timeout(Duration::from_secs(30), c.send(&[firing()]))
        .await
        .unwrap();
    (m, d)
}

#[tokio::test]
async fn twilio_call_is_placed_again_until_answered() {
    let (m, d) = twilio_call("+14155550123", 1, 2).await;
    assert!(
        matches!(&d, Delivery::Sent { answer } if answer.ends_with("answered")),
        "{d:?}"
    );
    let calls = m.log.accepted();
    assert_eq!(calls.len(), 2, "unanswered once, then answered");
    assert!(
        calls[0]
            .params
            .as_str()
            .unwrap()
            .starts_with("<Response><Say>[FIRING] BackupFailed")
    );
    // Nobody ever answers: a permanent failure after 1 + redial calls.
    let (_m, d) = twilio_call("+14155550124", 9, 1).await;
    assert_eq!(
        failed_reason(d),
        "Twilio call not answered (no-answer) after 2 calls"
    );
}

// ------------------------------------------------------------------ config

#[test]
fn check_points_at_bad_phones_and_keys() {
    let cases: &[(&str, &str)] = &[
        (
            "contacts:\n  - {name: alice, phone: call-me-maybe}\n",
            "tocsin.yaml:2:26: contact \"alice\" has a phone that is not a number: \"call-me-maybe\"",
        ),
        (
            "contacts:\n  - {name: alice, phone: '12345'}\ntargets:\n  - {name: s, type: sms, provider: twilio, account_sid: AC0123456789abcdef0123456789abcdef, auth_token: t, from: '+14155550100', to: [alice]}\n",
            "tocsin.yaml:2:26: phone of contact \"alice\" (reached by sms target \"s\"): \"12345\" is not a phone number in E.164 form",
        ),
        (
            "targets:\n  - {name: s, type: sms, provider: aliyun, access_key_id: a, access_key_secret: b, sign_name: c, template_code: d, template_id: x, to: ['+8613800000000']}\n",
            "tocsin.yaml:2:129: `template_id` is not a key of aliyun sms targets",
        ),
        (
            "targets:\n  - {name: s, type: sms, provider: nokia}\n",
            "tocsin.yaml:2:36: expected the provider of sms targets (aliyun, tencent or twilio), got \"nokia\"",
        ),
        (
            "targets:\n  - {name: s, type: sms, provider: tencent, secret_id: a, secret_key: b, sdk_app_id: '1', sign_name: c, template_id: '1', params: {a: alert}, to: ['+8613800000000']}\n",
            "tocsin.yaml:2:131: Tencent templates number their variables",
        ),
        (
            "contacts:\n  - {name: alice, email: a@x.com}\nrouting:\n  default: ['call:alice']\n",
            "tocsin.yaml:4:13: routing.default names \"call:alice\", but there is no `phones.call` target",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, want) in cases {
        let got = Config::from_text(Path::new("tocsin.yaml"), text)
            .unwrap_err()
            .to_string();
        if !got.starts_with(want) {
            wrong.push(format!("\n got: {got}\nwant: {want}..."));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join(""));
}

// ------------------------------------------------------------------ daemon

const KEY: &str = "test-ping-key-0123456789";

/// The shipped backup rules, evaluated every second.
fn backup_rules() -> String {
    std::fs::read_to_string(common::repo().join("rules/backup.yaml"))
        .unwrap()
        .replace("interval: 10s", "interval: 1s")
}

fn tag() -> String {
    format!("{}-{}", std::process::id(), Utc::now().timestamp_millis())
}

/// A backup console's setup: vault vprod routed to the group `dba`, whose
/// members are reached by mail and by SMS (`phones.sms`).
fn backup_console(
    m: &AliyunMock,
    tag: &str,
    alice: &str,
    bob: &str,
    extra: &str,
) -> std::path::PathBuf {
    let smtp = common::smtp();
    Daemon::prepare(
        &backup_rules(),
        &format!(
            "heartbeat: {{ping_key: {KEY}}}
mailer: {{host: '{}', port: {}, tls: none, from: 'tocsin <alerts@example.com>', timeout: 5s}}
contacts:
  - {{name: alice, email: 'alice-{tag}@example.com', phone: '{alice}'}}
  - {{name: bob, email: 'bob-{tag}@example.com', phone: '{bob}'}}
contact_groups:
  - {{name: dba, members: [alice, bob]}}
targets:
  - {{name: aliyun-sms, type: sms, provider: aliyun, endpoint: '{}', access_key_id: LTAI-test, access_key_secret: {ALIYUN_SECRET}, sign_name: 备份报警, template_code: SMS_123456, verify_template: SMS_CODE}}
  - {{name: aliyun-call, type: call, provider: aliyun, endpoint: '{}', access_key_id: LTAI-test, access_key_secret: {ALIYUN_SECRET}, template_code: TTS_777, params: {{alert: alert, message: message}}}}
phones: {{sms: aliyun-sms, call: aliyun-call}}
routing:
  default: off
  group_wait: 2s
  scopes:
    - {{match: {{vault: vprod}}, notify: {{error: [dba]}}}}
{extra}",
            smtp.addr.ip(),
            smtp.addr.port(),
            m.url(),
            m.url()
        ),
    )
}

async fn backup_mock() -> AliyunMock {
    AliyunMock::start(
        "LTAI-test",
        ALIYUN_SECRET,
        "备份报警",
        &[
            (
                "SMS_123456",
                &["alert", "severity", "message", "count", "since"],
            ),
            ("SMS_CODE", &["code"]),
            ("TTS_777", &["alert", "message"]),
        ],
    )
    .await
}

async fn fail_backup(d: &Daemon, client: &str) {
    let r = common::http()
        .post(d.api(&format!("/ping/{KEY}/backup-vprod-{client}/fail?create=1")))
        .body("disk full")
        .send()
        .await
        .unwrap();
    // 201 when the ping created the check.
    assert!(matches!(r.status().as_u16(), 200 | 201), "{}", r.status());
}

/// The alert SMS (not codes) each number got.
fn alert_sms(m: &AliyunMock, number: &str) -> Vec<PhoneHit> {
    m.log
        .accepted()
        .into_iter()
        .filter(|h| h.numbers.iter().any(|n| n == number) && h.params.get("alert").is_some())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_backup_reaches_every_member_of_the_vaults_group_by_mail_and_sms() {
    let m = backup_mock().await;
    let tag = tag();
    let dir = backup_console(&m, &tag, "13800000001", "+8613800000002", "");
    let d = Daemon::start(&dir).await;
    fail_backup(&d, "db1").await;
    fail_backup(&d, "db2").await;
    for who in ["alice", "bob"] {
        let mail = String::from_utf8_lossy(
            &common::delivered_mail(&format!("{who}-{tag}@example.com")).await,
        )
        .into_owned();
        assert!(mail.contains("BackupFailed"), "{mail}");
    }
    for number in ["8613800000001", "8613800000002"] {
        let sms = common::wait_for(
            &format!("an SMS to {number}"),
            Duration::from_secs(20),
            || async { Some(alert_sms(&m, number)).filter(|v| !v.is_empty()) },
        )
        .await;
        // Both failures in one text: the group shares one message.
        assert_eq!(sms.len(), 1, "{sms:?}");
        assert_eq!(
            sms[0].params["alert"], "BackupFailed +1",
            "{:?}",
            sms[0].params
        );
        assert_eq!(sms[0].params["count"], "2");
        assert!(
            sms[0].params["message"]
                .as_str()
                .unwrap()
                .starts_with("Backup of client db")
        );
    }
    assert_eq!(m.log.violations(), Vec::<String>::new());
    // Nothing was refused: the per-number limit held the rows instead.
    assert!(
        m.log.hits().iter().all(|h| h.code == "OK"),
        "{:?}",
        m.log.hits()
    );
    let views = d.alert_views().await;
    let v = views.iter().find(|v| v["alert"] == "BackupFailed").unwrap();
    assert_eq!(
        v["recipients"],
        serde_json::json!(["alice", "sms:alice", "bob", "sms:bob"])
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_require_verified_contacts_an_unverified_contact_gets_nothing_and_shows_unverified() {
    let m = backup_mock().await;
    let tag = tag();
    let dir = backup_console(
        &m,
        &tag,
        "13800000011",
        "13800000012",
        "require_verified_contacts: true\n",
    );
    let d = Daemon::start(&dir).await;
    // Alice verifies her phone through the API; Bob verifies nothing.
    let r = common::http()
        .post(d.api("/api/v1/contacts/alice/verify?via=phone"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let code = m
        .log
        .accepted()
        .iter()
        .find(|h| h.numbers == ["8613800000011"])
        .and_then(|h| h.params["code"].as_str().map(str::to_string))
        .expect("the code went out by SMS");
    assert_eq!(code.len(), 6);
    let wrong = common::http()
        .post(d.api("/api/v1/contacts/alice/confirm"))
        .json(&serde_json::json!({"code": "000000x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    let r = common::http()
        .post(d.api("/api/v1/contacts/alice/confirm"))
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let contacts = d.get_json("/api/v1/contacts").await;
    assert_eq!(
        contacts,
        serde_json::json!([
            {"name": "alice", "email": "a***@example.com", "email_verified": false, "phone": "+86138****0011", "phone_verified": true},
            {"name": "bob", "email": "b***@example.com", "email_verified": false, "phone": "+86138****0012", "phone_verified": false},
        ])
    );

    fail_backup(&d, "db1").await;
    common::wait_for("an SMS to alice", Duration::from_secs(20), || async {
        Some(()).filter(|_| !alert_sms(&m, "8613800000011").is_empty())
    })
    .await;
    let views = d.alert_views().await;
    let v = views.iter().find(|v| v["alert"] == "BackupFailed").unwrap();
    assert_eq!(
        v["recipients"],
        serde_json::json!([
            "alice (unverified)",
            "sms:alice",
            "bob (unverified)",
            "sms:bob (unverified)"
        ])
    );
    // The rows of one transition are written together: none exist for Bob
    // or Alice's unverified mail.
    let db = rusqlite::Connection::open(dir.join("data/tocsin.db")).unwrap();
    let targets: Vec<String> = db
        .prepare("SELECT DISTINCT target FROM notifications")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(targets, vec!["sms:alice"]);
    assert!(alert_sms(&m, "8613800000012").is_empty());
    // The status page shows it too.
    let page = d.get_text("/").await;
    assert!(page.contains("sms:bob (unverified)"), "{page}");
    d.stop().await;
}

#[tokio::test]
async fn notify_test_for_a_contact_tries_each_way() {
    let m = backup_mock().await;
    let tag = tag();
    let dir = backup_console(&m, &tag, "13800000021", "13800000022", "");
    let c = Config::load(Some(&dir.join("tocsin.yaml"))).unwrap();
    let tester = tocsin::notify::TargetTester::new(std::sync::Arc::new(c));
    let outs = tester.send_contact("alice", false).await;
    let got: Vec<(&str, &str, &str)> = outs
        .iter()
        .map(|o| (o.target.as_str(), o.kind.as_str(), o.result))
        .collect();
    assert_eq!(
        got,
        vec![
            ("alice", "email", "sent"),
            ("sms:alice", "sms", "sent"),
            ("call:alice", "call", "sent")
        ],
        "{outs:?}"
    );
    let hits = m.log.accepted();
    assert_eq!(hits[0].action, "SendSms");
    assert_eq!(hits[0].numbers, vec!["8613800000021"]);
    assert_eq!(hits[1].action, "SingleCallByTts");
    assert_eq!(hits[1].numbers, vec!["13800000021"]);
    common::delivered_mail(&format!("alice-{tag}@example.com")).await;
    // A gateway refusal comes back with its own code.
    let out = tester.send("aliyun-sms", false).await;
    assert_eq!(
        (out.result, out.answer.as_str()),
        (
            "failed",
            "the target has no numbers (`to` is empty); routes use it through `phones` for contacts"
        )
    );
    let bad = tocsin::notify::TargetTester::new(std::sync::Arc::new(config(&aliyun_yaml(
        &m.url(),
        "LTAI-test",
        "wrong",
        "SMS_123456",
        "'13800000023'",
    ))));
    let out = bad.send("sms", false).await;
    assert!(
        out.answer.starts_with("Aliyun SignatureDoesNotMatch"),
        "{out:?}"
    );
    no_secret(&out.answer);
}

fn tocsin(dir: &Path, args: &[&str]) -> (bool, String, String) {
    common::cli(&dir.join("tocsin.yaml"), args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_verifies_an_email_and_a_changed_address_loses_it() {
    let smtp = common::smtp();
    let tag = tag();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/none.yaml"), "groups: []\n").unwrap();
    let write = |alice: &str| {
        std::fs::write(
            dir.path().join("tocsin.yaml"),
            format!(
                "data_dir: data\nrequire_verified_contacts: true
mailer: {{host: '{}', port: {}, tls: none, from: 'tocsin <alerts@example.com>', timeout: 5s}}
contacts:
  - {{name: alice, email: '{alice}'}}
  - {{name: bob, email: 'bob-{tag}@example.com'}}
routing:
  default: [alice, bob]
",
                smtp.addr.ip(),
                smtp.addr.port()
            ),
        )
        .unwrap()
    };
    let alice = format!("alice-{tag}@example.com");
    write(&alice);
    let (ok, out, err) = tocsin(dir.path(), &["contact", "verify", "alice", "--email"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("code sent to the email of alice: {alice}")),
        "{out}"
    );
    let mail = String::from_utf8_lossy(&common::delivered_mail(&alice).await).into_owned();
    let code: String = mail
        .split("verification code is ")
        .nth(1)
        .expect("the code is in the mail")
        .chars()
        .take(6)
        .collect();
    let (ok, _, err) = tocsin(dir.path(), &["contact", "confirm", "alice", "999999x"]);
    assert!(
        !ok && err.contains("wrong code for contact \"alice\""),
        "{err}"
    );
    let (ok, out, err) = tocsin(dir.path(), &["contact", "confirm", "alice", &code]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), format!("verified: the email of alice: {alice}"));
    let (ok, out, _) = tocsin(dir.path(), &["contact", "list", "--json"]);
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["email_verified"], true);
    assert_eq!(list[1]["email_verified"], false);
    let (ok, _, err) = tocsin(dir.path(), &["check"]);
    assert!(ok, "{err}");
    assert!(err.contains(&format!("warning: the email of contact \"bob\" (bob-{tag}@example.com, target bob) is not verified; it is sent nothing (require_verified_contacts)")), "{err}");
    assert!(!err.contains("contact \"alice\""), "{err}");
    // A new address is not the verified one.
    write(&format!("alice2-{tag}@example.com"));
    let (_, out, _) = tocsin(dir.path(), &["contact", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["email_verified"], false);
    assert!(!out.contains("do-not-leak"));
    let (_, _, err) = tocsin(dir.path(), &["check"]);
    assert!(err.contains("the email of contact \"alice\""), "{err}");
}

#[test]
fn routes_reach_contacts_by_sms_and_call_as_written() {
    let c = config(
        "contacts:
  - {name: alice, email: a@x.com, phone: '13800000000'}
  - {name: bob, phone: '+14155550100'}
contact_groups: [{name: oncall, members: [alice, bob]}]
mailer: {host: 127.0.0.1, port: 2525, tls: none, from: 'tocsin <t@example.com>'}
targets:
  - {name: s, type: sms, provider: twilio, account_sid: AC0123456789abcdef0123456789abcdef, auth_token: t, from: '+14155550199'}
  - {name: v, type: call, provider: twilio, account_sid: AC0123456789abcdef0123456789abcdef, auth_token: t, from: '+14155550199'}
phones: {sms: s, call: v}
routing:
  default: {warning: [alice], error: ['sms:oncall', 'call:oncall', 'mail:alice']}
",
    );
    let router = tocsin::notify::Router::new(&c, Default::default());
    let labels = tocsin::alert::Labels::new();
    let names = |sev| router.route_of(&labels, sev).recipient_names();
    assert_eq!(
        names(tocsin::alert::Severity::Warning),
        vec!["alice", "sms:alice"]
    );
    assert_eq!(
        names(tocsin::alert::Severity::Error),
        vec!["sms:alice", "sms:bob", "call:alice", "call:bob", "alice"]
    );
    let call_bob = c
        .mail_targets
        .iter()
        .find(|t| t.name() == "call:bob")
        .unwrap();
    let tocsin::config::TargetKind::Call(p) = &call_bob.kind else {
        panic!()
    };
    assert_eq!(p.to, vec!["+14155550100"]);
}

#[test]
fn phone_secrets_never_show_in_debug() {
    let c = config(&format!(
        "targets:\n  - {{name: a, type: sms, provider: aliyun, access_key_id: LTAI-test, access_key_secret: {ALIYUN_SECRET}, sign_name: s, template_code: t, to: ['+8613800000000']}}\n  - {{name: t, type: sms, provider: tencent, secret_id: AKID, secret_key: {TENCENT_KEY}, sdk_app_id: '1', sign_name: s, template_id: '1', to: ['+8613800000000']}}\n  - {{name: w, type: call, provider: twilio, account_sid: {TWILIO_SID}, auth_token: {TWILIO_TOKEN}, from: '+14155550100', to: ['+14155550101']}}\n"
    ));
    no_secret(&format!("{c:?}"));
    for t in &c.targets {
        no_secret(&format!("{:?}", Channel::from_config(t, &c).unwrap()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_at_its_limit_gets_what_piled_up_in_one_text_later() {
    let m = TwilioMock::start(TWILIO_SID, TWILIO_TOKEN, "+14155550100", &[], &[]).await;
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!(
            "targets:\n  - {{name: tw, type: sms, provider: twilio, endpoint: '{}', account_sid: {TWILIO_SID}, auth_token: {TWILIO_TOKEN}, from: '+14155550100', segments: 2, to: ['+14155550123']}}\nrouting:\n  default: [tw]\n  group_by: ['...']\n",
            m.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    d.post_alerts(&serde_json::json!([{"labels": {"alertname": "First"}}]))
        .await;
    common::wait_for("the first text", Duration::from_secs(10), || async {
        Some(()).filter(|_| !m.log.accepted().is_empty())
    })
    .await;
    // Two more within the second: held (Twilio takes one a second), then one text.
    d.post_alerts(&serde_json::json!([{"labels": {"alertname": "Second"}}, {"labels": {"alertname": "Third"}}])).await;
    let texts = common::wait_for("the second text", Duration::from_secs(10), || async {
        Some(m.log.accepted()).filter(|a| a.len() >= 2)
    })
    .await;
    assert_eq!(texts.len(), 2, "{texts:?}");
    let body = texts[1].params.as_str().unwrap();
    assert!(
        body.contains("(2 alerts)") && (body.contains("Second +1") || body.contains("Third +1")),
        "{body}"
    );
    assert!(texts[1].at.duration_since(texts[0].at) >= Duration::from_millis(900));
    // The gateway never had to refuse: the limit was kept, nothing dropped.
    assert!(
        m.log.hits().iter().all(|h| h.code == "201"),
        "{:?}",
        m.log.hits()
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_number_ends_on_the_outbox_row_with_the_gateways_code() {
    let m = aliyun_mock().await;
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!(
            "targets:\n  - {{name: sms, type: sms, provider: aliyun, endpoint: '{}', access_key_id: LTAI-test, access_key_secret: {ALIYUN_SECRET}, sign_name: 备份报警, template_code: SMS_123456, to: ['+85212345678']}}\nrouting:\n  default: [sms]\n",
            m.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    d.post_alerts(&serde_json::json!([{"labels": {"alertname": "BackupFailed", "vault": "v1"}}]))
        .await;
    let last = common::wait_for("the failed outbox row", Duration::from_secs(10), || async {
        let views = d.alert_views().await;
        let n = views.first()?["last_notification"].clone();
        (n["status"] == "failed").then_some(n)
    })
    .await;
    assert_eq!(last["target"], "sms");
    assert_eq!(
        last["attempts"], 1,
        "a permanent failure is not retried: {last}"
    );
    assert_eq!(
        last["last_error"],
        "Aliyun isv.MOBILE_NUMBER_ILLEGAL: 非法手机号"
    );
    d.stop().await;
}
