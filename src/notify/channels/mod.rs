//! One module per notification channel behind one small interface: a channel
//! renders a batch of [`AlertMessage`]s, turns it into a request, sends it, and
//! classifies the answer as [`Delivery::Sent`], [`Delivery::Retry`] or
//! [`Delivery::Failed`]. Each module keeps those steps apart (config → request
//! body → send → classify) so the request building and the classification are
//! tested without a network. Channel specifics (signing, limits, error codes)
//! follow `shared/channels.md`.
//!
//! Every channel also declares its rate limits ([`Channel::rate_limits`]): the
//! dispatcher waits for them, keeping rows queued in the outbox, never
//! dropping, and sends what piled up in one message where the channel allows
//! several alerts per message ([`Channel::max_batch`]).

pub mod alertmanager;
pub mod dingtalk;
pub mod email;
pub mod feishu;
pub mod http_target;
pub mod pagerduty;
pub mod slack;
pub mod sms;
pub mod webhook;
pub mod wecom;
pub mod wecom_app;

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::message::AlertMessage;
use super::render::Renderer;
use crate::config::{Config, TargetConfig, TargetKind};
use crate::http_client;

/// What became of one send.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Delivered; `answer` is what the channel said (shown by `notify-test`).
    Sent { answer: String },
    /// Try again later (5xx, timeout, rate limit); `after` when the channel said when.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Do not try again (wrong URL, secret, keyword, payload); the reason,
    /// with the channel's own error text, is recorded on the outbox row.
    Failed { reason: String },
}

impl Delivery {
    pub fn sent(answer: impl Into<String>) -> Delivery {
        Delivery::Sent {
            answer: answer.into(),
        }
    }

    pub fn failed(reason: impl Into<String>) -> Delivery {
        Delivery::Failed {
            reason: reason.into(),
        }
    }

    pub fn retry(reason: impl Into<String>, after: Option<Duration>) -> Delivery {
        Delivery::Retry {
            reason: reason.into(),
            after,
        }
    }

    pub fn is_sent(&self) -> bool {
        matches!(self, Delivery::Sent { .. })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("target {target}: {message}")]
pub struct ChannelError {
    pub target: String,
    pub message: String,
}

/// At most `count` sends per `per`, for one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub per: Duration,
}

const fn per_minute(count: u32) -> RateLimit {
    RateLimit {
        count,
        per: Duration::from_secs(60),
    }
}

const fn per_second(count: u32) -> RateLimit {
    RateLimit {
        count,
        per: Duration::from_secs(1),
    }
}

/// A configured target, ready to send.
#[derive(Debug)]
pub enum Channel {
    Webhook(webhook::Webhook),
    Alertmanager(alertmanager::Alertmanager),
    Email(email::Email),
    DingTalk(dingtalk::DingTalk),
    WeCom(wecom::WeCom),
    WeComApp(wecom_app::WeComApp),
    Feishu(feishu::Feishu),
    Slack(slack::Slack),
    PagerDuty(pagerduty::PagerDuty),
    /// SMS and calls (`type: sms`, `type: call`).
    Phone(sms::Phone),
}

impl Channel {
    pub fn from_config(cfg: &TargetConfig, config: &Config) -> Result<Channel, ChannelError> {
        let renderer = Renderer::new(cfg.name(), config.language_of(cfg), cfg.templates.clone())
            .with_external_url(config.public_url(config.listen_addr()));
        Ok(match &cfg.kind {
            TargetKind::Webhook(k) => {
                Channel::Webhook(webhook::Webhook::new(cfg, k.clone(), renderer)?)
            }
            TargetKind::Alertmanager(k) => {
                Channel::Alertmanager(alertmanager::Alertmanager::new(cfg, k.clone())?)
            }
            TargetKind::Email(k) => {
                let mailer = config.mailer.as_ref().ok_or_else(|| ChannelError {
                    target: cfg.name().to_string(),
                    message: "email targets need a `mailer:`".into(),
                })?;
                Channel::Email(email::Email::new(cfg, k.clone(), mailer, renderer)?)
            }
            TargetKind::DingTalk(k) => {
                Channel::DingTalk(dingtalk::DingTalk::new(cfg, k.clone(), renderer)?)
            }
            TargetKind::WeCom(k) => Channel::WeCom(wecom::WeCom::new(cfg, k.clone(), renderer)?),
            TargetKind::WeComApp(k) => {
                Channel::WeComApp(wecom_app::WeComApp::new(cfg, k.clone(), renderer)?)
            }
            TargetKind::Feishu(k) => {
                Channel::Feishu(feishu::Feishu::new(cfg, k.clone(), renderer)?)
            }
            TargetKind::Slack(k) => Channel::Slack(slack::Slack::new(cfg, k.clone(), renderer)?),
            TargetKind::PagerDuty(k) => {
                Channel::PagerDuty(pagerduty::PagerDuty::new(cfg, k.clone(), renderer)?)
            }
            TargetKind::Sms(k) | TargetKind::Call(k) => {
                Channel::Phone(sms::Phone::new(cfg, k.clone(), renderer)?)
            }
        })
    }

    /// Most alerts one send may carry.
    pub fn max_batch(&self) -> usize {
        match self {
            Channel::Webhook(c) => c.max_batch(),
            Channel::Alertmanager(c) => c.max_batch(),
            Channel::Email(c) => c.max_batch(),
            Channel::DingTalk(c) => c.max_batch(),
            Channel::WeCom(c) => c.max_batch(),
            Channel::WeComApp(c) => c.max_batch(),
            Channel::Feishu(c) => c.max_batch(),
            Channel::Slack(c) => c.max_batch(),
            Channel::PagerDuty(_) => 1,
            Channel::Phone(c) => c.max_batch(),
        }
    }

    /// The channel's documented send limits (all must hold).
    pub fn rate_limits(&self) -> &'static [RateLimit] {
        // 20 per minute per robot; more throttles it for 10 minutes.
        const ROBOT: &[RateLimit] = &[per_minute(20)];
        // 5 per second and 100 per minute per bot.
        const FEISHU: &[RateLimit] = &[per_second(5), per_minute(100)];
        // About one per second per webhook.
        const SLACK: &[RateLimit] = &[per_second(1)];
        // About 120 events per minute per integration key.
        const PAGERDUTY: &[RateLimit] = &[per_minute(120)];
        // 30 per member per minute (the strictest published figure).
        const WECOM_APP: &[RateLimit] = &[per_minute(30)];
        match self {
            Channel::DingTalk(_) | Channel::WeCom(_) => ROBOT,
            Channel::Feishu(_) => FEISHU,
            Channel::Slack(_) => SLACK,
            Channel::PagerDuty(_) => PAGERDUTY,
            Channel::WeComApp(_) => WECOM_APP,
            Channel::Phone(c) => c.rate_limits(),
            Channel::Webhook(_) | Channel::Alertmanager(_) | Channel::Email(_) => &[],
        }
    }

    pub async fn send(&self, batch: &[AlertMessage]) -> Delivery {
        match self {
            Channel::Webhook(c) => c.send(batch).await,
            Channel::Alertmanager(c) => c.send(batch).await,
            Channel::Email(c) => c.send(batch).await,
            Channel::DingTalk(c) => c.send(batch).await,
            Channel::WeCom(c) => c.send(batch).await,
            Channel::WeComApp(c) => c.send(batch).await,
            Channel::Feishu(c) => c.send(batch).await,
            Channel::Slack(c) => c.send(batch).await,
            Channel::PagerDuty(c) => c.send(batch).await,
            Channel::Phone(c) => c.send(batch).await,
        }
    }
}

/// The batch limit of a chat-like channel, lowered by the target's `max_alerts`.
pub(crate) fn batch_limit(channel_max: usize, max_alerts: usize) -> usize {
    if max_alerts == 0 {
        channel_max
    } else {
        max_alerts.min(channel_max)
    }
}

/// An HTTP client for a target: its timeout, its proxy, fixed headers.
pub(crate) fn http_client(
    cfg: &TargetConfig,
    default_timeout: Duration,
    headers: HeaderMap,
) -> Result<reqwest::Client, ChannelError> {
    let err = |message: String| ChannelError {
        target: cfg.name().to_string(),
        message,
    };
    let mut b =
        http_client::builder(cfg.timeout.unwrap_or(default_timeout)).default_headers(headers);
    if let Some(p) = &cfg.proxy {
        // The proxy URL may carry credentials: never echo it.
        let proxy = reqwest::Proxy::all(p.expose()).map_err(|_| err("invalid proxy URL".into()))?;
        b = b.proxy(proxy);
    }
    b.build().map_err(|e| err(http_client::describe_error(&e)))
}

/// An HTTP answer, read whole.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: reqwest::StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
    }

    /// An answer with this status and body and no headers (unit tests of
    /// the channels' classification).
    #[cfg(test)]
    pub(crate) fn of(status: u16, body: &str) -> HttpAnswer {
        HttpAnswer {
            status: reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::OK),
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }
}

/// Sends a request; a transport failure (connect, timeout) is a retry whose
/// reason never contains the URL (it may carry a token).
pub(crate) async fn execute(req: reqwest::RequestBuilder) -> Result<HttpAnswer, Delivery> {
    match req.send().await {
        Err(e) => Err(Delivery::retry(
            http_client::describe_error(&e.without_url()),
            None,
        )),
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            match resp.text().await {
                Ok(body) => Ok(HttpAnswer {
                    status,
                    headers,
                    body,
                }),
                Err(e) => Err(Delivery::retry(
                    format!(
                        "HTTP {status}, then reading the answer failed: {}",
                        http_client::describe_error(&e.without_url())
                    ),
                    None,
                )),
            }
        }
    }
}

/// The usual HTTP answer classification: 2xx sent; 408, 425, 429 and 5xx
/// retried (honouring `Retry-After`); other statuses are permanent.
pub fn classify_http(
    status: reqwest::StatusCode,
    retry_after: Option<&str>,
    body: &str,
) -> Delivery {
    let excerpt = excerpt(body, 300);
    let reason = if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    };
    if status.is_success() {
        return Delivery::sent(reason);
    }
    let code = status.as_u16();
    if status.is_server_error() || matches!(code, 408 | 425 | 429) {
        Delivery::Retry {
            reason,
            after: retry_after.and_then(parse_retry_after),
        }
    } else {
        Delivery::Failed { reason }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for webhooks; ignored).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The first `max` characters of a response body, on one line.
pub fn excerpt(body: &str, max: usize) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Chat APIs answer HTTP 200 with `{"errcode": N, "errmsg": "..."}`. Returns
/// the code and the message, or the classification of an answer that is not
/// such JSON.
pub(crate) fn errcode_answer(
    a: &HttpAnswer,
    code_key: &str,
    msg_key: &str,
) -> Result<(i64, String), Delivery> {
    if !a.status.is_success() {
        return Err(classify_http(a.status, a.header("retry-after"), &a.body));
    }
    let v: serde_json::Value = serde_json::from_str(&a.body).map_err(|_| {
        Delivery::failed(format!(
            "HTTP {}: the answer is not the channel's JSON: {}",
            a.status,
            excerpt(&a.body, 200)
        ))
    })?;
    let code = v
        .get(code_key)
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| {
            Delivery::failed(format!(
                "HTTP {}: the answer has no `{code_key}`: {}",
                a.status,
                excerpt(&a.body, 200)
            ))
        })?;
    let msg = v
        .get(msg_key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok((code, msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn http_answers_are_classified() {
        assert!(classify_http(StatusCode::OK, None, "").is_sent());
        assert!(matches!(
            classify_http(StatusCode::INTERNAL_SERVER_ERROR, None, "boom"),
            Delivery::Retry { .. }
        ));
        assert_eq!(
            classify_http(StatusCode::TOO_MANY_REQUESTS, Some("7"), ""),
            Delivery::Retry {
                reason: "HTTP 429 Too Many Requests".into(),
                after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            classify_http(StatusCode::BAD_REQUEST, None, "bad\n token"),
            Delivery::Failed {
                reason: "HTTP 400 Bad Request: bad token".into()
            }
        );
    }

    #[test]
    fn batch_limits() {
        assert_eq!(batch_limit(10, 0), 10);
        assert_eq!(batch_limit(10, 3), 3);
        assert_eq!(batch_limit(10, 50), 10);
    }
}
