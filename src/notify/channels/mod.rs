//! One module per notification channel behind one small interface: a channel
//! turns a batch of [`AlertMessage`]s into a request, sends it, and classifies
//! the answer as [`Delivery::Sent`], [`Delivery::Retry`] or [`Delivery::Failed`].

pub mod webhook;

use std::time::Duration;

use super::message::AlertMessage;
use crate::config::{TargetConfig, TargetType};

/// What became of one send.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Sent,
    /// Try again later (5xx, timeout, rate limit); `after` when the channel said when.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Do not try again (4xx: wrong URL, secret, payload); the reason is recorded.
    Failed {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("target {target}: {message}")]
pub struct ChannelError {
    pub target: String,
    pub message: String,
}

/// A configured target, ready to send.
#[derive(Debug)]
pub enum Channel {
    Webhook(webhook::Webhook),
}

impl Channel {
    pub fn from_config(cfg: &TargetConfig) -> Result<Channel, ChannelError> {
        match cfg.kind {
            TargetType::Webhook => webhook::Webhook::from_config(cfg).map(Channel::Webhook),
        }
    }

    /// Most messages one send may carry.
    pub fn max_batch(&self) -> usize {
        match self {
            Channel::Webhook(w) => w.max_batch(),
        }
    }

    pub async fn send(&self, batch: &[AlertMessage]) -> Delivery {
        match self {
            Channel::Webhook(w) => w.send(batch).await,
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
    if status.is_success() {
        return Delivery::Sent;
    }
    let reason = if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    };
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
fn parse_retry_after(v: &str) -> Option<Duration> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn http_answers_are_classified() {
        assert_eq!(classify_http(StatusCode::OK, None, ""), Delivery::Sent);
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
}
