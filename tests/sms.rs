//! SMS and calls against local stand-ins of the gateways
//! (tests/common/phone_mocks.rs) that recompute each signature, keep the
//! per-number limits and answer with the real error codes; then the backup
//! scenario: a vault routed to a contact group, a backup fails, every member
//! gets mail and SMS.

mod common;

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use common::phone_mocks::*;
use tocsin::config::Config;
use tocsin::notify::channels::{Channel, Delivery};
use tocsin::notify::{AlertMessage, MessageKind};

const ALIYUN_SECRET: &str = "aliyun-secret-do-not-leak";
const TENCENT_KEY: &str = "tencent-key-do-not-leak";
const TWILIO_TOKEN: &str = "twilio-token-do-not-leak";
const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";

fn config(yaml: &str) -> Config {
    Config::from_text(Path::new("tocsin.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn channel(yaml: &str) -> Channel {
    let c = config(yaml);
    Channel::from_config(&c.targets[0], &c).unwrap()
}

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
        matches!(&d, Delivery::Sent { answer } if answer.starts_with("Aliyun OK CallId")),
        "{d:?}"
    );
    let h = &m.log.accepted()[0];
    assert_eq!(h.action, "SingleCallByTts");
    assert_eq!(h.numbers, vec!["13600000000"]);
    assert_eq!(h.params["alert"], "BackupFailed");
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

#[tokio::test]
async fn twilio_call_is_placed_again_until_answered() {
    let m = TwilioMock::start(
        TWILIO_SID,
        TWILIO_TOKEN,
        "+14155550100",
        &[],
        &[("+14155550123", 1)],
    )
    .await;
    let c = channel(&format!(
        "targets:\n  - {{name: call, type: call, provider: twilio, endpoint: '{}', account_sid: {TWILIO_SID}, auth_token: {TWILIO_TOKEN}, from: '+14155550100', redial: 2, redial_after: 1s, to: ['+14155550123']}}\n",
        m.url()
    ));
    let d = tokio::time::timeout(Duration::from_secs(30), c.send(&[firing()]))
        .await
        .unwrap();
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
    let m = TwilioMock::start(
        TWILIO_SID,
        TWILIO_TOKEN,
        "+14155550100",
        &[],
        &[("+14155550124", 9)],
    )
    .await;
    let c = channel(&format!(
        "targets:\n  - {{name: call, type: call, provider: twilio, endpoint: '{}', account_sid: {TWILIO_SID}, auth_token: {TWILIO_TOKEN}, from: '+14155550100', redial: 1, redial_after: 1s, to: ['+14155550124']}}\n",
        m.url()
    ));
    let reason = failed_reason(
        tokio::time::timeout(Duration::from_secs(30), c.send(&[firing()]))
            .await
            .unwrap(),
    );
    assert_eq!(reason, "Twilio call not answered (no-answer) after 2 calls");
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
