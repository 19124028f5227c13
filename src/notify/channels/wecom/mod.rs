//! WeCom (企业微信) group robot (`qyapi.weixin.qq.com/cgi-bin/webhook/send?key=`).
//!
//! - `text`: `content` ≤ 2048 bytes, mentions in `mentioned_list` (userids,
//!   `"@all"`) and `mentioned_mobile_list` (phones).
//! - `markdown`: `content` ≤ 4096 bytes, mentions as `<@userid>` in the
//!   content; it cannot mention phones or everyone (config check says so).
//! - `keyword`: put in front of the content when it lacks it (where
//!   shortening cannot cut it).
//! - No signing: the `key` in the URL is the credential.
//! - 20 messages per minute per robot.
//! - Answers: `errcode` 0 sent; 45009 (frequency) and -1 (busy) retried;
//!   93000 (bad key), 40058 (bad parameter) and the rest permanent.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

mod config;

pub use config::WeComConfig;

use super::http_target::{HttpChannel, HttpTarget};
use super::notifier::{ALERT_FRAME_ROOM, per_minute};
use super::registry::ChannelType;
use super::{ChannelError, Delivery, HttpAnswer, RateLimit, classify_errcode};
use crate::config::TargetConfig;
use crate::config::target_keys::ChatFormat;
use crate::notify::message::AlertMessage;
use crate::notify::render::{Markup, Renderer};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_TEXT: usize = 2048;
pub const MAX_MARKDOWN: usize = 4096;
/// Alerts per message: a 4 096-byte markdown message holds 20 one-line
/// alerts (see `render::COMPACT_LINE`); a 2 048-byte text message 10 in full.
const MAX_BATCH_MARKDOWN: usize = 20;
const MAX_BATCH_TEXT: usize = 10;

/// The channel: the shared HTTP target with WeCom's settings.
pub type WeCom = HttpTarget<WeComConfig>;

pub const WECOM: ChannelType<WeComConfig> = ChannelType {
    name: "wecom",
    aliases: &["wecom_robot"],
    keys: config::KEYS,
    check: config::check,
    build: |cfg, kind, renderer, _| Ok(Box::new(WeCom::new(cfg, kind.clone(), renderer)?)),
};

impl WeCom {
    pub fn new(
        cfg: &TargetConfig,
        kind: WeComConfig,
        renderer: Renderer,
    ) -> Result<WeCom, ChannelError> {
        HttpTarget::build(cfg, kind, renderer, DEFAULT_TIMEOUT, HeaderMap::new())
    }

    /// `keyword` and a space when `text` lacks it (put in front, where
    /// shortening cannot cut it), and `text`.
    fn keyword_head(&self, text: String) -> (String, String) {
        match &self.cfg.keyword {
            Some(k) if !text.contains(k.as_str()) => (format!("{k} "), text),
            _ => (String::new(), text),
        }
    }

    pub fn body(&self, batch: &[AlertMessage]) -> Value {
        let cfg = &self.cfg;
        let mentions = AlertMessage::mentions_of(batch, &cfg.mention_mobiles, &cfg.mention_users);
        match cfg.format {
            ChatFormat::Markdown => {
                let mut tail = String::new();
                for u in &mentions.users {
                    tail.push_str(&format!("<@{u}>"));
                }
                if !tail.is_empty() {
                    tail.insert(0, '\n');
                }
                let text = self.renderer.body(batch, Markup::WeComMarkdown);
                let (head, text) = self.keyword_head(text);
                let text = self
                    .renderer
                    .shorten(&text, MAX_MARKDOWN.saturating_sub(tail.len() + head.len()));
                let text = format!("{head}{text}");
                json!({"msgtype": "markdown", "markdown": {"content": format!("{text}{tail}")}})
            }
            ChatFormat::Text => {
                let mut users = mentions.users.clone();
                if cfg.mention_all {
                    users.push("@all".into());
                }
                let text = self.renderer.body(batch, Markup::Plain);
                let (head, text) = self.keyword_head(text);
                let text = self.renderer.shorten(&text, MAX_TEXT.saturating_sub(head.len()));
                json!({
                    "msgtype": "text",
                    "text": {
                        "content": format!("{head}{text}"),
                        "mentioned_list": users,
                        "mentioned_mobile_list": mentions.mobiles,
                    }
                })
            }
        }
    }

}

impl HttpChannel for WeComConfig {
    // 20 per minute per robot.
    const RATE_LIMITS: &'static [RateLimit] = &[per_minute(20)];

    fn max_batch(t: &WeCom) -> usize {
        let most = match t.cfg.format {
            ChatFormat::Markdown => MAX_BATCH_MARKDOWN,
            ChatFormat::Text => MAX_BATCH_TEXT,
        };
        t.limit(most)
    }

    fn output_limit(t: &WeCom) -> usize {
        match t.cfg.format {
            ChatFormat::Markdown => MAX_MARKDOWN - ALERT_FRAME_ROOM,
            ChatFormat::Text => MAX_TEXT - ALERT_FRAME_ROOM,
        }
    }

    fn request(t: &WeCom, batch: &[AlertMessage]) -> Result<reqwest::RequestBuilder, Delivery> {
        Ok(t.client
            .post(t.cfg.webhook.expose())
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .json(&t.body(batch)))
    }

    fn classify(a: &HttpAnswer) -> Delivery {
        classify(a)
    }
}

pub fn classify(a: &HttpAnswer) -> Delivery {
    classify_errcode(a, "WeCom", |code| match code {
        45009 => Some(Some(Duration::from_secs(60))),
        -1 => Some(None),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Language, Secret, TargetTemplates};
    use crate::notify::message::MessageKind;

    fn channel(format: ChatFormat) -> WeCom {
        WeCom {
            name: "w".into(),
            cfg: WeComConfig {
                webhook: Secret::new("http://127.0.0.1:1/cgi-bin/webhook/send?key=k"),
                mention_users: vec!["zhangsan".into()],
                mention_mobiles: vec!["13800000000".into()],
                mention_all: true,
                keyword: None,
                format,
            },
            client: crate::http_client::builder(std::time::Duration::from_secs(1))
                .build()
                .unwrap(),
            renderer: Renderer::new("w", Language::Zh, TargetTemplates::default()),
            max_alerts: 0,
        }
    }

    #[test]
    fn keyword_is_put_in_front_once() {
        for format in [ChatFormat::Text, ChatFormat::Markdown] {
            let mut c = channel(format);
            c.cfg.keyword = Some("监控".into());
            let mut m = AlertMessage::sample(MessageKind::Firing, "n", chrono::Utc::now());
            m.message = "告警".repeat(3000);
            let b = c.body(&[m.clone()]);
            let key = if format == ChatFormat::Text { "text" } else { "markdown" };
            let content = b[key]["content"].as_str().unwrap();
            assert!(content.starts_with("监控 "), "{format:?}");
            assert_eq!(content.matches("监控").count(), 1, "{format:?}");
            let most = if format == ChatFormat::Text { MAX_TEXT } else { MAX_MARKDOWN };
            assert!(content.len() <= most, "{format:?}: {}", content.len());
            m.message = "监控 note".into();
            let b = c.body(&[m]);
            assert!(!b[key]["content"].as_str().unwrap().starts_with("监控 "), "{format:?}");
        }
    }

    #[test]
    fn text_mentions_and_limit() {
        let mut m = AlertMessage::sample(MessageKind::Firing, "n", chrono::Utc::now());
        m.message = "告警".repeat(2000);
        let b = channel(ChatFormat::Text).body(&[m.clone()]);
        assert!(b["text"]["content"].as_str().unwrap().len() <= MAX_TEXT);
        assert_eq!(b["text"]["mentioned_list"], json!(["zhangsan", "@all"]));
        assert_eq!(b["text"]["mentioned_mobile_list"], json!(["13800000000"]));
        let b = channel(ChatFormat::Markdown).body(&[m]);
        let content = b["markdown"]["content"].as_str().unwrap();
        assert!(content.len() <= MAX_MARKDOWN);
        assert!(content.ends_with("<@zhangsan>"), "{content}");
        assert!(content.contains("<font color=\"comment\">"), "{content}");
    }

    #[test]
    fn route_contacts_join_the_configured_mentions_once() {
        let mut a = AlertMessage::sample(MessageKind::Firing, "n", chrono::Utc::now());
        a.mentions.users = vec!["erin".into(), "zhangsan".into()];
        a.mentions.mobiles = vec!["13700000000".into()];
        let mut b = a.clone();
        b.mentions.users = vec!["erin".into()];
        let body = channel(ChatFormat::Text).body(&[a.clone(), b.clone()]);
        assert_eq!(
            body["text"]["mentioned_list"],
            json!(["zhangsan", "erin", "@all"])
        );
        assert_eq!(
            body["text"]["mentioned_mobile_list"],
            json!(["13800000000", "13700000000"])
        );
        let body = channel(ChatFormat::Markdown).body(&[a, b]);
        let content = body["markdown"]["content"].as_str().unwrap();
        assert!(content.ends_with("<@zhangsan><@erin>"), "{content}");
    }

    #[test]
    fn errcodes_are_classified() {
        let a = |body: &str| HttpAnswer {
            status: reqwest::StatusCode::OK,
            headers: HeaderMap::new(),
            body: body.into(),
        };
        assert!(classify(&a(r#"{"errcode":0,"errmsg":"ok"}"#)).is_sent());
        assert!(matches!(
            classify(&a(r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#)),
            Delivery::Failed { reason } if reason.contains("invalid webhook url")
        ));
        assert!(matches!(
            classify(&a(r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#)),
            Delivery::Retry { .. }
        ));
    }
}
