//! WeCom application message (应用消息).
//!
//! - Token: `GET <api>/gettoken?corpid=&corpsecret=` → `access_token`,
//!   `expires_in`. Cached per target until 5 minutes before it expires; one
//!   refresh at a time (the cache lock is held while fetching).
//! - Send: `POST <api>/message/send?access_token=` with `touser` (`a|b` or
//!   `@all`), `toparty`, `totag`, `agentid` (a number), `text`/`markdown`
//!   content ≤ 2048 bytes.
//! - On 40014 (invalid token) or 42001 (expired) the token is dropped,
//!   fetched again and the send retried exactly once.
//! - 40001 (bad secret), 60020 (IP not trusted), 81013 (no valid recipient)
//!   and other codes are permanent; 45009 and -1 are retried. A partial
//!   success (`invaliduser` set) is sent, with the invalid ones logged.
//!
//! The secret and the token are never logged or put in an error: request
//! errors are described without their URL.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};
use tokio::sync::Mutex;

mod config;

pub use config::{WECOM_API, WeComAppConfig};

use super::notifier::{ALERT_FRAME_ROOM, per_minute};
use super::registry::ChannelType;
use super::{
    ChannelError, Delivery, HttpAnswer, Notifier, RateLimit, Sending, batch_limit, errcode_answer,
    execute, http_client,
};
use crate::config::target_keys::ChatFormat;
use crate::config::{Secret, TargetConfig};
use crate::notify::message::AlertMessage;
use crate::notify::render::{Markup, Renderer};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_CONTENT: usize = 2048;
const MAX_BATCH: usize = 10;
/// Refresh this long before the token's announced expiry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

pub const WECOM_APP: ChannelType<WeComAppConfig> = ChannelType {
    name: "wecom_app",
    aliases: &[],
    keys: config::KEYS,
    check: config::check,
    build: |cfg, kind, renderer, _| Ok(Box::new(WeComApp::new(cfg, kind.clone(), renderer)?)),
};

struct Token {
    value: Secret,
    refresh_at: Instant,
}

pub struct WeComApp {
    name: String,
    cfg: WeComAppConfig,
    client: reqwest::Client,
    renderer: Renderer,
    max_alerts: usize,
    token: Mutex<Option<Token>>,
}

impl std::fmt::Debug for WeComApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeComApp")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What one send attempt says.
enum Attempt {
    Done(Delivery),
    TokenRejected(String),
}

impl WeComApp {
    pub fn new(
        cfg: &TargetConfig,
        kind: WeComAppConfig,
        renderer: Renderer,
    ) -> Result<WeComApp, ChannelError> {
        Ok(WeComApp {
            name: cfg.name().to_string(),
            client: http_client(cfg, DEFAULT_TIMEOUT, HeaderMap::new())?,
            cfg: kind,
            renderer,
            max_alerts: cfg.max_alerts,
            token: Mutex::new(None),
        })
    }

    pub fn body(&self, batch: &[AlertMessage]) -> Value {
        let cfg = &self.cfg;
        let (msgtype, markup) = match cfg.format {
            ChatFormat::Markdown => ("markdown", Markup::WeComMarkdown),
            ChatFormat::Text => ("text", Markup::Plain),
        };
        let text = self.renderer.body(batch, markup);
        let text = match cfg.format {
            ChatFormat::Text => format!("{}\n{text}", self.renderer.title(batch)),
            ChatFormat::Markdown => text,
        };
        let content = self.renderer.shorten(&text, MAX_CONTENT);
        let mut body = json!({
            "msgtype": msgtype,
            "agentid": cfg.agent_id,
            msgtype: {"content": content},
            "safe": 0,
            "enable_duplicate_check": 0,
        });
        if cfg.to_all {
            body["touser"] = json!("@all");
        } else {
            // The configured users, and the route's contacts by userid.
            let users = AlertMessage::mentions_of(batch, &[], &cfg.users).users;
            if !users.is_empty() {
                body["touser"] = json!(users.join("|"));
            }
            if !cfg.parties.is_empty() {
                body["toparty"] = json!(cfg.parties.join("|"));
            }
            if !cfg.tags.is_empty() {
                body["totag"] = json!(cfg.tags.join("|"));
            }
        }
        body
    }

    async fn send_batch(&self, batch: &[AlertMessage]) -> Delivery {
        let body = self.body(batch);
        let mut refreshed = false;
        loop {
            let token = match self.token(refreshed).await {
                Ok(t) => t,
                Err(d) => return d,
            };
            match self.attempt(&token, &body).await {
                Attempt::Done(d) => return d,
                Attempt::TokenRejected(reason) if !refreshed => {
                    tracing::info!(target_name = %self.name, %reason, "WeCom rejected the cached access token; fetching a new one");
                    refreshed = true;
                }
                Attempt::TokenRejected(reason) => {
                    return Delivery::retry(format!("{reason} (also with a fresh token)"), None);
                }
            }
        }
    }

    /// The cached token, or a new one (always new with `force`).
    async fn token(&self, force: bool) -> Result<Secret, Delivery> {
        let mut cache = self.token.lock().await;
        if !force
            && let Some(t) = cache.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.value.clone());
        }
        *cache = None;
        let mut url = reqwest::Url::parse(&format!("{}/gettoken", self.cfg.api_url))
            .map_err(|_| Delivery::failed("api_url is not a URL"))?;
        url.query_pairs_mut()
            .append_pair("corpid", &self.cfg.corp_id)
            .append_pair("corpsecret", self.cfg.secret.expose());
        let a = execute(self.client.get(url)).await?;
        let (code, msg) = errcode_answer(&a, "errcode", "errmsg")?;
        if code != 0 {
            let reason = format!("WeCom gettoken errcode {code}: {msg}");
            return Err(match code {
                -1 | 45009 => Delivery::retry(reason, Some(Duration::from_secs(60))),
                _ => Delivery::failed(reason),
            });
        }
        let v: Value = serde_json::from_str(&a.body).unwrap_or_default();
        let value = v["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Delivery::failed("WeCom gettoken answered without an access_token"))?;
        let expires_in = Duration::from_secs(v["expires_in"].as_u64().unwrap_or(7200));
        let token = Secret::new(value);
        *cache = Some(Token {
            value: token.clone(),
            refresh_at: Instant::now() + expires_in.saturating_sub(EXPIRY_MARGIN),
        });
        tracing::debug!(target_name = %self.name, expires_in_s = expires_in.as_secs(), "WeCom access token fetched");
        Ok(token)
    }

    async fn attempt(&self, token: &Secret, body: &Value) -> Attempt {
        let mut url = match reqwest::Url::parse(&format!("{}/message/send", self.cfg.api_url)) {
            Ok(u) => u,
            Err(_) => return Attempt::Done(Delivery::failed("api_url is not a URL")),
        };
        url.query_pairs_mut()
            .append_pair("access_token", token.expose());
        let req = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .json(body);
        match execute(req).await {
            Err(d) => Attempt::Done(d),
            Ok(a) => {
                let d = classify(&a);
                if let Delivery::Failed { reason } = &d
                    && is_token_error(&a)
                {
                    return Attempt::TokenRejected(reason.clone());
                }
                if d.is_sent()
                    && let Ok(v) = serde_json::from_str::<Value>(&a.body)
                {
                    for k in [
                        "invaliduser",
                        "invalidparty",
                        "invalidtag",
                        "unlicenseduser",
                    ] {
                        if let Some(bad) = v[k].as_str().filter(|s| !s.is_empty()) {
                            tracing::warn!(target_name = %self.name, field = k, recipients = bad, "WeCom did not deliver to some recipients");
                        }
                    }
                }
                Attempt::Done(d)
            }
        }
    }
}

impl Notifier for WeComApp {
    fn max_batch(&self) -> usize {
        batch_limit(MAX_BATCH, self.max_alerts)
    }

    // 30 per member per minute (the strictest published figure).
    fn rate_limits(&self) -> &'static [RateLimit] {
        const WECOM_APP: &[RateLimit] = &[per_minute(30)];
        WECOM_APP
    }

    fn output_limit(&self) -> usize {
        MAX_CONTENT - ALERT_FRAME_ROOM
    }

    fn send<'a>(&'a self, batch: &'a [AlertMessage]) -> Sending<'a> {
        Box::pin(self.send_batch(batch))
    }
}

fn is_token_error(a: &HttpAnswer) -> bool {
    matches!(
        errcode_answer(a, "errcode", "errmsg"),
        Ok((40014 | 42001, _))
    )
}

/// Classifies a `message/send` answer (token errors are handled by the
/// caller): the same errcodes as the group robot's.
pub fn classify(a: &HttpAnswer) -> Delivery {
    super::wecom::classify(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Language, TargetTemplates};
    use crate::notify::message::MessageKind;

    #[test]
    fn body_addresses_users_parties_tags() {
        let c = WeComApp {
            name: "app".into(),
            cfg: WeComAppConfig {
                corp_id: "ww1".into(),
                secret: Secret::new("s"),
                agent_id: 1000002,
                users: vec!["zhangsan".into(), "lisi".into()],
                parties: vec!["2".into()],
                tags: vec![],
                to_all: false,
                format: ChatFormat::Markdown,
                api_url: "http://127.0.0.1:1".into(),
            },
            client: crate::http_client::builder(std::time::Duration::from_secs(1))
                .build()
                .unwrap(),
            renderer: Renderer::new("app", Language::En, TargetTemplates::default()),
            max_alerts: 0,
            token: Mutex::new(None),
        };
        let mut m = AlertMessage::sample(MessageKind::Firing, "n", chrono::Utc::now());
        m.message = "x".repeat(5000);
        let b = c.body(&[m]);
        assert_eq!(b["touser"], "zhangsan|lisi");
        // A route's contacts are sent to as well, each once.
        let mut m = AlertMessage::sample(MessageKind::Firing, "n", chrono::Utc::now());
        m.mentions.users = vec!["lisi".into(), "wangwu".into()];
        assert_eq!(c.body(&[m])["touser"], "zhangsan|lisi|wangwu");
        assert_eq!(b["toparty"], "2");
        assert!(b.get("totag").is_none());
        assert_eq!(b["agentid"], 1000002);
        assert_eq!(b["msgtype"], "markdown");
        assert!(b["markdown"]["content"].as_str().unwrap().len() <= MAX_CONTENT);
    }
}
