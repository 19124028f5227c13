//! DingTalk custom group robot (`oapi.dingtalk.com/robot/send?access_token=`).
//!
//! - Signing: `sign = Base64(HMAC-SHA256(key = secret, msg = ts_ms + "\n" + secret))`,
//!   appended as `&timestamp=..&sign=..` and percent-encoded exactly once by the
//!   URL builder (encoding it twice is the classic "sign not match").
//! - Keyword: put in the markdown title and the text if they lack it; a
//!   text message carries its title line and the keyword once each.
//! - Mentions: `at.atMobiles` / `at.isAtAll`, and for markdown the `@mobile`
//!   tokens in the text, without which DingTalk does not resolve the mention.
//! - Limits: body ≤ 20 000 bytes (measured after JSON escaping), 20 messages
//!   per minute per robot.
//! - Answers: HTTP 200 with `errcode`; 0 is sent, 130101 (too fast) and -1
//!   (busy) are retried, 90030 (quota) much later; every other code (310000
//!   keyword/sign/timestamp, 300001 token) is permanent, recorded with
//!   DingTalk's `errmsg`.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};
use sha2::Sha256;

mod config;

pub use config::DingTalkConfig;

use super::http_target::{HttpChannel, HttpTarget};
use super::notifier::{ALERT_FRAME_ROOM, per_minute};
use super::registry::ChannelType;
use super::{ChannelError, Delivery, HttpAnswer, RateLimit, classify_errcode};
use crate::config::target_keys::ChatFormat;
use crate::config::{Secret, TargetConfig};
use crate::notify::message::AlertMessage;
use crate::notify::render::{Markup, Renderer};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Request body limit.
pub const MAX_BODY: usize = 20_000;
/// Alerts per message: 100 one-line alerts (see `render::COMPACT_LINE`)
/// take about 16 kB, within the body limit with the title and mentions.
const MAX_BATCH: usize = 100;
/// After 130101 the robot is throttled for 10 minutes.
const THROTTLE_PENALTY: Duration = Duration::from_secs(600);

/// The channel: the shared HTTP target with DingTalk's settings.
pub type DingTalk = HttpTarget<DingTalkConfig>;

pub const DINGTALK: ChannelType<DingTalkConfig> = ChannelType {
    name: "dingtalk",
    aliases: &[],
    keys: config::KEYS,
    check: config::check,
    build: |cfg, kind, renderer, _| Ok(Box::new(DingTalk::new(cfg, kind.clone(), renderer)?)),
};

/// `Base64Std(HMAC-SHA256(key = secret, message = timestamp + "\n" + secret))`.
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    let to_sign = format!("{timestamp_ms}\n{secret}");
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The webhook URL with `timestamp` and `sign` appended (encoded once).
pub fn signed_url(
    webhook: &str,
    secret: Option<&Secret>,
    timestamp_ms: i64,
) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(webhook).map_err(|_| "webhook is not a URL".to_string())?;
    if let Some(secret) = secret {
        let sig = sign(secret.expose(), timestamp_ms);
        url.query_pairs_mut()
            .append_pair("timestamp", &timestamp_ms.to_string())
            .append_pair("sign", &sig);
    }
    Ok(url)
}

impl DingTalk {
    pub fn new(
        cfg: &TargetConfig,
        kind: DingTalkConfig,
        renderer: Renderer,
    ) -> Result<DingTalk, ChannelError> {
        HttpTarget::build(cfg, kind, renderer, DEFAULT_TIMEOUT, HeaderMap::new())
    }

    /// The JSON body: keyword and mentions in place, shortened to fit.
    pub fn body(&self, batch: &[AlertMessage]) -> Value {
        let cfg = &self.cfg;
        let mut title = self.renderer.title(batch);
        let markup = match cfg.format {
            ChatFormat::Markdown => Markup::Markdown,
            ChatFormat::Text => Markup::Plain,
        };
        let text = self.renderer.body(batch, markup);
        let keyword = cfg.keyword.as_deref();
        // What goes after the (possibly shortened) text: keyword, @tokens.
        let mut tail = String::new();
        if let Some(k) = keyword
            && cfg.format == ChatFormat::Markdown
        {
            if !title.contains(k) {
                title = format!("{k} {title}");
            }
            if !text.contains(k) {
                tail.push_str(&format!("\n\n{k}"));
            }
        }
        let mentions = AlertMessage::mentions_of(batch, &cfg.mention_mobiles, &[]);
        let tokens: Vec<String> = mentions.mobiles.iter().map(|m| format!("@{m}")).collect();
        if !tokens.is_empty() {
            tail.push_str("\n\n");
            tail.push_str(&tokens.join(" "));
        }
        let at = json!({
            "atMobiles": mentions.mobiles,
            "atUserIds": Vec::<String>::new(),
            "isAtAll": cfg.mention_all,
        });
        let build = |t: &str| -> Value {
            match cfg.format {
                ChatFormat::Markdown => json!({
                    "msgtype": "markdown",
                    "markdown": {"title": title, "text": format!("{t}{tail}")},
                    "at": at,
                }),
                ChatFormat::Text => json!({
                    "msgtype": "text",
                    "text": {"content": format!("{}{tail}", text_content(&title, t, keyword))},
                    "at": at,
                }),
            }
        };
        let body_len = |t: &str| serde_json::to_vec(&build(t)).map_or(usize::MAX, |b| b.len());
        let text = self.renderer.fit(&text, MAX_BODY, body_len);
        build(&text)
    }

}

/// A text message: the title line once (the body of a single alert starts
/// with it already) and the keyword once, in front when the text lacks it.
fn text_content(title: &str, text: &str, keyword: Option<&str>) -> String {
    let mut content = if text.lines().next() == Some(title) {
        text.to_string()
    } else {
        format!("{title}\n{text}")
    };
    if let Some(k) = keyword
        && !content.contains(k)
    {
        content = format!("{k} {content}");
    }
    content
}

impl HttpChannel for DingTalkConfig {
    // 20 per minute per robot; more throttles it for 10 minutes.
    const RATE_LIMITS: &'static [RateLimit] = &[per_minute(20)];

    fn max_batch(t: &DingTalk) -> usize {
        t.limit(MAX_BATCH)
    }

    fn output_limit(_: &DingTalk) -> usize {
        MAX_BODY - ALERT_FRAME_ROOM
    }

    fn request(t: &DingTalk, batch: &[AlertMessage]) -> Result<reqwest::RequestBuilder, Delivery> {
        let body = t.body(batch);
        let ts = chrono::Utc::now().timestamp_millis();
        let url =
            signed_url(t.cfg.webhook.expose(), t.cfg.secret.as_ref(), ts).map_err(Delivery::failed)?;
        Ok(t.client
            .post(url)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .json(&body))
    }

    fn classify(a: &HttpAnswer) -> Delivery {
        classify(a)
    }
}

/// DingTalk signals errors in the body of an HTTP 200; classify by `errcode`
/// only (its `errmsg` wording changes), but record the `errmsg`.
pub fn classify(a: &HttpAnswer) -> Delivery {
    classify_errcode(a, "DingTalk", |code| match code {
        130101 => Some(Some(THROTTLE_PENALTY)),
        90030 => Some(Some(Duration::from_secs(3600))),
        -1 => Some(None),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::channels::Notifier;
    use crate::config::{Language, TargetTemplates};
    use crate::notify::message::MessageKind;

    #[test]
    fn known_answer_vectors() {
        // Known answers of the signing scheme above (secret, timestamp).
        assert_eq!(
            sign("SECtest-secret-0123456789", 1_700_000_000_000),
            "loAs986iXlZUJyoAu2REiC16DMGrtdERSegy7jQ3Qtg="
        );
        assert_eq!(
            sign("demo-secret", 1_599_360_473_000),
            "YdZvxlTSCW95+TPaewZu3nSZKgiCl//mPuRKqtKCA7k="
        );
    }

    #[test]
    fn sign_is_percent_encoded_exactly_once() {
        let url = signed_url(
            "https://oapi.dingtalk.com/robot/send?access_token=abc",
            Some(&Secret::new("demo-secret")),
            1_599_360_473_000,
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1599360473000&sign=YdZvxlTSCW95%2BTPaewZu3nSZKgiCl%2F%2FmPuRKqtKCA7k%3D"
        );
    }

    fn channel(format: ChatFormat, keyword: Option<&str>) -> DingTalk {
        DingTalk {
            name: "dt".into(),
            cfg: DingTalkConfig {
                webhook: Secret::new("http://127.0.0.1:1/robot/send?access_token=x"),
                secret: None,
                keyword: keyword.map(str::to_string),
                mention_mobiles: vec!["13800000000".into()],
                mention_all: false,
                format,
            },
            client: crate::http_client::builder(std::time::Duration::from_secs(1))
                .build()
                .unwrap(),
            renderer: Renderer::new("dt", Language::En, TargetTemplates::default()),
            max_alerts: 0,
        }
    }

    #[test]
    fn markdown_body_has_keyword_and_mention_tokens() {
        let c = channel(ChatFormat::Markdown, Some("alert"));
        let m = AlertMessage::sample(MessageKind::Firing, "note", chrono::Utc::now());
        let b = c.body(&[m]);
        assert_eq!(b["msgtype"], "markdown");
        assert!(
            b["markdown"]["title"]
                .as_str()
                .unwrap()
                .starts_with("alert ")
        );
        let text = b["markdown"]["text"].as_str().unwrap();
        assert!(text.contains("@13800000000"), "{text}");
        assert!(text.contains("alert"), "{text}");
        assert_eq!(b["at"]["atMobiles"][0], "13800000000");
        assert_eq!(b["at"]["isAtAll"], false);
    }

    #[test]
    fn oversized_messages_are_shortened_not_rejected() {
        let c = channel(ChatFormat::Text, Some("kw"));
        let mut m = AlertMessage::sample(MessageKind::Firing, "note", chrono::Utc::now());
        m.message = "磁盘\"满\"".repeat(5000);
        let b = c.body(&[m]);
        let len = serde_json::to_vec(&b).unwrap().len();
        assert!(len <= MAX_BODY, "{len}");
        let content = b["text"]["content"].as_str().unwrap();
        assert!(
            content.ends_with("@13800000000"),
            "mentions survive shortening"
        );
        assert!(content.contains("message shortened"));
    }

    #[test]
    fn a_full_batch_of_long_alerts_fits_and_names_every_alert() {
        for format in [ChatFormat::Markdown, ChatFormat::Text] {
            let c = channel(format, Some("alert"));
            let batch: Vec<AlertMessage> = (0..c.max_batch())
                .map(|i| {
                    let mut m =
                        AlertMessage::sample(MessageKind::Firing, "note", chrono::Utc::now());
                    m.alert = format!("连接数过高Alert{i:03}");
                    m.labels
                        .insert("deployment".into(), format!("部署-{}", "x".repeat(200)));
                    m.message = "很长的消息 ".repeat(100);
                    m
                })
                .collect();
            let b = c.body(&batch);
            let len = serde_json::to_vec(&b).unwrap().len();
            assert!(len <= MAX_BODY, "{format:?}: {len} bytes");
            let text = b.to_string();
            for i in 0..c.max_batch() {
                assert!(
                    text.contains(&format!("Alert{i:03}")),
                    "{format:?}: alert {i} missing"
                );
            }
            assert!(!text.contains("message shortened"), "{format:?}: cut");
        }
    }

    #[test]
    fn text_messages_carry_the_title_line_and_the_keyword_once() {
        let m = AlertMessage::sample(MessageKind::Firing, "note", chrono::Utc::now());
        for keyword in ["告警", "FIRING"] {
            let c = channel(ChatFormat::Text, Some(keyword));
            for batch in [vec![m.clone()], vec![m.clone(), m.clone()]] {
                let b = c.body(&batch);
                let content = b["text"]["content"].as_str().unwrap();
                let title = c.renderer.title(&batch);
                let first = content.lines().next().unwrap();
                assert!(first.ends_with(&title), "{content}");
                assert_eq!(content.matches(title.as_str()).count(), 1, "{content}");
                if keyword == "告警" {
                    assert_eq!(content.matches(keyword).count(), 1, "{content}");
                    assert!(content.starts_with("告警 ["), "{content}");
                } else {
                    assert!(!content.starts_with(keyword), "{content}");
                }
                assert!(content.ends_with("\n\n@13800000000"), "{content}");
            }
        }
    }

    fn answer(body: &str) -> HttpAnswer {
        HttpAnswer::of(200, body)
    }

    #[test]
    fn errcodes_are_classified() {
        assert!(classify(&answer(r#"{"errcode":0,"errmsg":"ok"}"#)).is_sent());
        assert_eq!(
            classify(&answer(
                r#"{"errcode":310000,"errmsg":"keywords not in content"}"#
            )),
            Delivery::failed("DingTalk errcode 310000: keywords not in content")
        );
        assert!(matches!(
            classify(&answer(r#"{"errcode":130101,"errmsg":"send too fast"}"#)),
            Delivery::Retry { after: Some(d), .. } if d >= Duration::from_secs(60)
        ));
        assert!(matches!(
            classify(&answer(r#"{"errcode":-1,"errmsg":"busy"}"#)),
            Delivery::Retry { .. }
        ));
        assert!(matches!(
            classify(&answer("<html>")),
            Delivery::Failed { .. }
        ));
    }
}
