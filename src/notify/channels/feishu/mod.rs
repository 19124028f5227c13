//! Feishu / Lark custom bot (`open.feishu.cn/open-apis/bot/v2/hook/<token>`).
//!
//! - Signing (note the inverted HMAC roles, which projects that reuse
//!   DingTalk's algorithm get wrong): `timestamp` in **seconds**,
//!   `sign = Base64(HMAC-SHA256(key = timestamp + "\n" + secret, msg = ""))`,
//!   both as top-level JSON fields (timestamp as a string), not in the URL.
//! - Keyword: the message must contain it; put in the title if missing.
//! - Formats: `post` rich text (title, lines of `text` elements, an `at`
//!   line) or `text` with `<at user_id="...">` tags.
//! - Limits: body ≤ 20 KB; 5 per second and 100 per minute per bot.
//! - Answers: `code` 0 (or legacy `StatusCode` 0) is sent; 11232 (frequency)
//!   and HTTP 429 (wait `x-ogw-ratelimit-reset`) retried; 19021 (sign or
//!   timestamp), 19024 (keyword), 19022 (IP), 19002 (params), 404/99991201
//!   (bad token) permanent.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};
use sha2::Sha256;

mod config;

pub use config::{FeishuConfig, FeishuFormat};

use super::http_target::{HttpChannel, HttpTarget};
use super::notifier::{ALERT_FRAME_ROOM, per_minute, per_second};
use super::registry::ChannelType;
use super::{ChannelError, Delivery, HttpAnswer, RateLimit, classify_http};
use crate::config::{Language, TargetConfig};
use crate::notify::message::AlertMessage;
use crate::notify::render::{Markup, Renderer};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_BODY: usize = 20_000;
const MAX_BATCH: usize = 10;

/// The channel: the shared HTTP target with Feishu's settings.
pub type Feishu = HttpTarget<FeishuConfig>;

pub const FEISHU: ChannelType<FeishuConfig> = ChannelType {
    name: "feishu",
    aliases: &["lark"],
    keys: config::KEYS,
    check: config::check,
    build: |cfg, kind, renderer, _| Ok(Box::new(Feishu::new(cfg, kind.clone(), renderer)?)),
};

/// `Base64Std(HMAC-SHA256(key = timestamp + "\n" + secret, message = ""))`.
pub fn sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes())
        .expect("HMAC accepts any key length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl Feishu {
    pub fn new(
        cfg: &TargetConfig,
        kind: FeishuConfig,
        renderer: Renderer,
    ) -> Result<Feishu, ChannelError> {
        HttpTarget::build(cfg, kind, renderer, DEFAULT_TIMEOUT, HeaderMap::new())
    }

    /// The body without the signature fields.
    pub fn body(&self, batch: &[AlertMessage]) -> Value {
        let cfg = &self.cfg;
        let mut title = self.renderer.title(batch);
        let text = self.renderer.body(batch, Markup::Plain);
        if let Some(k) = &cfg.keyword
            && !title.contains(k.as_str())
            && !text.contains(k.as_str())
        {
            title = format!("{k} {title}");
        }
        let everyone = match self.renderer.language() {
            Language::Zh => "所有人",
            Language::En => "everyone",
        };
        let mentions = AlertMessage::mentions_of(batch, &[], &cfg.mention_users);
        let build = |t: &str| -> Value {
            match cfg.format {
                FeishuFormat::Text => {
                    let mut content = format!("{title}\n{t}");
                    for u in &mentions.users {
                        content.push_str(&format!(" <at user_id=\"{u}\"></at>"));
                    }
                    if cfg.mention_all {
                        content.push_str(&format!(" <at user_id=\"all\">{everyone}</at>"));
                    }
                    json!({"msg_type": "text", "content": {"text": content}})
                }
                FeishuFormat::Post => {
                    let mut lines: Vec<Value> = t
                        .lines()
                        .map(|l| json!([{"tag": "text", "text": l}]))
                        .collect();
                    let mut at: Vec<Value> = mentions
                        .users
                        .iter()
                        .map(|u| json!({"tag": "at", "user_id": u}))
                        .collect();
                    if cfg.mention_all {
                        at.push(json!({"tag": "at", "user_id": "all", "user_name": everyone}));
                    }
                    if !at.is_empty() {
                        lines.push(Value::Array(at));
                    }
                    json!({
                        "msg_type": "post",
                        "content": {"post": {"zh_cn": {"title": title, "content": lines}}}
                    })
                }
            }
        };
        // Room for the timestamp and sign fields.
        let body_len =
            |t: &str| serde_json::to_vec(&build(t)).map_or(usize::MAX, |b| b.len()) + 100;
        let text = self.renderer.fit(&text, MAX_BODY, body_len);
        build(&text)
    }

    /// The body with `timestamp` and `sign` when a secret is set.
    pub fn signed_body(&self, batch: &[AlertMessage], timestamp_s: i64) -> Value {
        let mut body = self.body(batch);
        if let Some(secret) = &self.cfg.secret {
            body["timestamp"] = json!(timestamp_s.to_string());
            body["sign"] = json!(sign(secret.expose(), timestamp_s));
        }
        body
    }

}

impl HttpChannel for FeishuConfig {
    // 5 per second and 100 per minute per bot.
    const RATE_LIMITS: &'static [RateLimit] = &[per_second(5), per_minute(100)];

    fn max_batch(t: &Feishu) -> usize {
        t.limit(MAX_BATCH)
    }

    fn output_limit(_: &Feishu) -> usize {
        MAX_BODY - ALERT_FRAME_ROOM
    }

    fn request(t: &Feishu, batch: &[AlertMessage]) -> Result<reqwest::RequestBuilder, Delivery> {
        let body = t.signed_body(batch, chrono::Utc::now().timestamp());
        Ok(t.client
            .post(t.cfg.webhook.expose())
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .json(&body))
    }

    fn classify(a: &HttpAnswer) -> Delivery {
        classify(a)
    }
}

pub fn classify(a: &HttpAnswer) -> Delivery {
    if a.status.as_u16() == 429 {
        let after = a
            .header("x-ogw-ratelimit-reset")
            .and_then(super::parse_retry_after)
            .or_else(|| a.retry_after());
        return Delivery::retry(
            format!(
                "Feishu rate limit (HTTP 429): {}",
                super::excerpt(&a.body, 200)
            ),
            after,
        );
    }
    let v: Option<Value> = serde_json::from_str(&a.body).ok();
    let code = v.as_ref().and_then(|v| {
        v.get("code")
            .and_then(Value::as_i64)
            .or_else(|| v.get("StatusCode").and_then(Value::as_i64))
    });
    let Some(code) = code else {
        return match classify_http(a.status, a.header("retry-after"), &a.body) {
            Delivery::Sent { .. } => Delivery::failed(format!(
                "HTTP {}: the answer is not Feishu's JSON: {}",
                a.status,
                super::excerpt(&a.body, 200)
            )),
            other => other,
        };
    };
    let msg = v
        .as_ref()
        .and_then(|v| {
            v.get("msg")
                .or_else(|| v.get("StatusMessage"))
                .and_then(Value::as_str)
        })
        .unwrap_or_default();
    let reason = format!("Feishu code {code}: {msg}");
    match code {
        0 if a.status.is_success() => Delivery::sent(super::excerpt(&a.body, 300)),
        11232 => Delivery::retry(reason, Some(Duration::from_secs(60))),
        _ if a.status.is_server_error() => Delivery::retry(reason, None),
        _ => Delivery::failed(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, TargetTemplates};
    use crate::notify::message::MessageKind;

    #[test]
    fn known_answer_vectors() {
        // Known answers of the signing scheme above (secret, timestamp).
        assert_eq!(
            sign("demo-secret", 1_599_360_473),
            "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s="
        );
        assert_eq!(
            sign("SECtest", 1_599_360_473),
            "bMjxHlJJlXMW0yjKHZsmMvrFnAOfMlmWpRUsH3qMAek="
        );
        // and not DingTalk's roles
        assert_ne!(
            sign("demo-secret", 1_599_360_473),
            super::super::dingtalk::sign("demo-secret", 1_599_360_473)
        );
    }

    fn channel(format: FeishuFormat) -> Feishu {
        Feishu {
            name: "fs".into(),
            cfg: FeishuConfig {
                webhook: Secret::new("http://127.0.0.1:1/open-apis/bot/v2/hook/t"),
                secret: Some(Secret::new("demo-secret")),
                keyword: Some("kw-9".into()),
                mention_users: vec!["ou_1".into()],
                mention_all: true,
                format,
            },
            client: crate::http_client::builder(std::time::Duration::from_secs(1))
                .build()
                .unwrap(),
            renderer: Renderer::new("fs", Language::Zh, TargetTemplates::default()),
            max_alerts: 0,
        }
    }

    #[test]
    fn signed_post_body() {
        let m = AlertMessage::sample(MessageKind::Firing, "n", chrono::Utc::now());
        let b = channel(FeishuFormat::Post).signed_body(std::slice::from_ref(&m), 1_599_360_473);
        assert_eq!(b["timestamp"], "1599360473");
        assert_eq!(b["sign"], "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s=");
        assert_eq!(b["msg_type"], "post");
        let post = &b["content"]["post"]["zh_cn"];
        assert!(post["title"].as_str().unwrap().starts_with("kw-9 "));
        let lines = post["content"].as_array().unwrap();
        let last = lines.last().unwrap();
        assert_eq!(last[0], json!({"tag": "at", "user_id": "ou_1"}));
        assert_eq!(last[1]["user_id"], "all");
        let t = channel(FeishuFormat::Text).body(&[m]);
        let text = t["content"]["text"].as_str().unwrap();
        assert!(text.contains("<at user_id=\"ou_1\"></at>"), "{text}");
        assert!(text.contains("<at user_id=\"all\">所有人</at>"), "{text}");
    }

    #[test]
    fn route_contacts_are_mentioned() {
        let mut m = AlertMessage::sample(MessageKind::Firing, "n", chrono::Utc::now());
        m.mentions.users = vec!["ou_erin".into()];
        let b = channel(FeishuFormat::Post).body(std::slice::from_ref(&m));
        let text = b.to_string();
        assert!(text.contains(r#"{"tag":"at","user_id":"ou_1"}"#), "{text}");
        assert!(
            text.contains(r#"{"tag":"at","user_id":"ou_erin"}"#),
            "{text}"
        );
        let b = channel(FeishuFormat::Text).body(std::slice::from_ref(&m));
        let content = b["content"]["text"].as_str().unwrap();
        assert!(
            content.contains(r#"<at user_id="ou_erin"></at>"#),
            "{content}"
        );
    }

    #[test]
    fn answers_are_classified() {
        let a = |status: u16, body: &str| HttpAnswer {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.into(),
        };
        assert!(classify(&a(200, r#"{"code":0,"data":{},"msg":"success"}"#)).is_sent());
        assert!(
            classify(&a(
                200,
                r#"{"Extra":null,"StatusCode":0,"StatusMessage":"success"}"#
            ))
            .is_sent()
        );
        assert_eq!(
            classify(&a(
                200,
                r#"{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}"#
            )),
            Delivery::failed(
                "Feishu code 19021: sign match fail or timestamp is not within one hour from current time"
            )
        );
        assert!(matches!(
            classify(&a(404, r#"{"code":99991201,"msg":"resource not find"}"#)),
            Delivery::Failed { .. }
        ));
        assert!(matches!(
            classify(&a(200, r#"{"code":11232,"msg":"frequency limited"}"#)),
            Delivery::Retry { .. }
        ));
        assert!(matches!(classify(&a(429, "")), Delivery::Retry { .. }));
    }
}
