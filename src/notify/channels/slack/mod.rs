//! Slack incoming webhook (`hooks.slack.com/services/...`; the URL is the
//! credential).
//!
//! - Body: `text` (the notification fallback) and one attachment per alert
//!   whose colour bar shows the state (red error, amber warning, green
//!   resolved) and whose blocks hold a header (≤ 150 chars) and a section
//!   (≤ 3000 chars); at most 50 blocks per message. mrkdwn escapes `& < >`.
//! - About one message per second per webhook.
//! - Answers: 200 with the literal `ok` is sent; 429 retried after its
//!   `Retry-After`; 5xx retried; other statuses (`invalid_payload`,
//!   `channel_not_found`, `no_service`, ...) permanent with Slack's text.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

mod config;

pub use config::SlackConfig;

use super::http_target::{HttpChannel, HttpTarget};
use super::notifier::{ALERT_FRAME_ROOM, per_second};
use super::registry::ChannelType;
use super::{ChannelError, Delivery, HttpAnswer, RateLimit, classify_http};
use crate::config::TargetConfig;
use crate::notify::message::{AlertMessage, MessageKind};
use crate::notify::render::{Renderer, shorten_chars, slack_escape};
use crate::alert::Severity;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEADER: usize = 150;
const MAX_SECTION: usize = 3000;
/// Two blocks per alert, at most 50 blocks per message.
const MAX_BATCH: usize = 20;

pub const RED: &str = "#e01e5a";
pub const AMBER: &str = "#ecb22e";
pub const GREEN: &str = "#2eb886";

/// The channel: the shared HTTP target with Slack's settings.
pub type Slack = HttpTarget<SlackConfig>;

pub const SLACK: ChannelType<SlackConfig> = ChannelType {
    name: "slack",
    aliases: &[],
    keys: config::KEYS,
    check: config::check,
    build: |cfg, kind, renderer, _| Ok(Box::new(Slack::new(cfg, kind.clone(), renderer)?)),
};

pub fn colour(m: &AlertMessage) -> &'static str {
    match (m.kind, m.severity) {
        (MessageKind::Resolved, _) => GREEN,
        (_, Severity::Error) => RED,
        (_, Severity::Warning) => AMBER,
    }
}

impl Slack {
    pub fn new(
        cfg: &TargetConfig,
        kind: SlackConfig,
        renderer: Renderer,
    ) -> Result<Slack, ChannelError> {
        HttpTarget::build(cfg, kind, renderer, DEFAULT_TIMEOUT, HeaderMap::new())
    }

    pub fn body(&self, batch: &[AlertMessage]) -> Value {
        let r = &self.renderer;
        let attachments: Vec<Value> = batch
            .iter()
            .map(|m| {
                let one = std::slice::from_ref(m);
                let section = r.body(one, crate::notify::render::Markup::Slack);
                // The header repeats the title; drop the section's first line.
                let section = section.split_once('\n').map_or("", |(_, rest)| rest);
                let section = if section.is_empty() { " " } else { section };
                json!({
                    "color": colour(m),
                    "fallback": r.title(one),
                    "blocks": [
                        {"type": "header", "text": {"type": "plain_text", "text": shorten_chars(&r.title(one), MAX_HEADER)}},
                        {"type": "section", "text": {"type": "mrkdwn", "text": shorten_chars(section, MAX_SECTION)}},
                    ]
                })
            })
            .collect();
        json!({
            "text": slack_escape(&r.title(batch)),
            "attachments": attachments,
        })
    }
}

impl HttpChannel for SlackConfig {
    // About one per second per webhook.
    const RATE_LIMITS: &'static [RateLimit] = &[per_second(1)];

    fn max_batch(t: &Slack) -> usize {
        t.limit(MAX_BATCH)
    }

    /// A section holds 3 000 characters (a byte is at most one).
    fn output_limit(_: &Slack) -> usize {
        MAX_SECTION - ALERT_FRAME_ROOM
    }

    fn request(t: &Slack, batch: &[AlertMessage]) -> Result<reqwest::RequestBuilder, Delivery> {
        Ok(t.client
            .post(t.cfg.webhook.expose())
            .header(CONTENT_TYPE, "application/json")
            .json(&t.body(batch)))
    }

    fn classify(a: &HttpAnswer) -> Delivery {
        classify(a)
    }
}

pub fn classify(a: &HttpAnswer) -> Delivery {
    match classify_http(a.status, a.header("retry-after"), &a.body) {
        Delivery::Sent { .. } if a.body.trim() == "ok" => Delivery::sent("ok"),
        Delivery::Sent { .. } => Delivery::failed(format!(
            "HTTP {}: Slack did not answer `ok`: {}",
            a.status,
            super::excerpt(&a.body, 200)
        )),
        Delivery::Retry { reason, after } => Delivery::Retry {
            reason: format!("Slack {reason}"),
            after,
        },
        Delivery::Failed { reason } => Delivery::failed(format!("Slack {reason}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Language, Secret, TargetTemplates};

    #[test]
    fn blocks_colours_and_escaping() {
        let s = Slack {
            name: "s".into(),
            cfg: SlackConfig {
                webhook: Secret::new("http://127.0.0.1:1/services/x"),
            },
            client: crate::http_client::builder(std::time::Duration::from_secs(1))
                .build()
                .unwrap(),
            renderer: Renderer::new("s", Language::En, TargetTemplates::default()),
            max_alerts: 0,
        };
        let now = chrono::Utc::now();
        let mut firing = AlertMessage::sample(MessageKind::Firing, "n", now);
        firing.message = "a < b & c".into();
        let resolved = AlertMessage::sample(MessageKind::Resolved, "n", now);
        let b = s.body(&[firing, resolved]);
        assert_eq!(b["attachments"][0]["color"], AMBER);
        assert_eq!(b["attachments"][1]["color"], GREEN);
        let section = b["attachments"][0]["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap();
        assert!(section.contains("a &lt; b &amp; c"), "{section}");
        assert_eq!(b["attachments"][0]["blocks"][0]["type"], "header");
    }

    #[test]
    fn answers() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        let a = |status: u16, body: &str, headers: HeaderMap| HttpAnswer {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.into(),
        };
        assert!(classify(&a(200, "ok", HeaderMap::new())).is_sent());
        assert_eq!(
            classify(&a(429, "rate_limited", h)),
            Delivery::retry(
                "Slack HTTP 429 Too Many Requests: rate_limited",
                Some(Duration::from_secs(3))
            )
        );
        assert!(
            matches!(classify(&a(404, "channel_not_found", HeaderMap::new())), Delivery::Failed { reason } if reason.contains("channel_not_found"))
        );
    }
}
