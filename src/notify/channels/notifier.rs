//! The one interface of the channels ([`Notifier`]) and what it speaks in:
//! what became of a send ([`Delivery`]), a channel's send limits
//! ([`RateLimit`]) and the error of a target whose channel cannot be set up
//! ([`ChannelError`]). [`Channel`] is a configured target behind that
//! interface, as the dispatcher and `notify-test` use it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::config::{Config, Language, TargetConfig};
use crate::notify::message::AlertMessage;
use crate::notify::render::Renderer;

/// A target's channel: it renders a batch of [`AlertMessage`]s into its
/// request(s), sends them and classifies the answer as a [`Delivery`].
/// Channels with one HTTP request per send implement it through
/// [`super::http_target::HttpChannel`].
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Most alerts one send may carry (the channel's limit, lowered by the
    /// target's `max_alerts`).
    fn max_batch(&self) -> usize;

    /// The channel's documented send limits (all must hold); none when the
    /// channel has none.
    fn rate_limits(&self) -> &'static [RateLimit] {
        &[]
    }

    /// Bytes a run's output (`{{ output }}`) may take in one alert of a
    /// message: the channel's message limit less room for the rest of the
    /// alert. Default: [`OUTPUT_ROOM_LARGE`] (mail, webhooks).
    fn output_limit(&self) -> usize {
        OUTPUT_ROOM_LARGE
    }

    /// Renders `batch`, sends it and classifies the answer.
    fn send<'a>(&'a self, batch: &'a [AlertMessage]) -> Sending<'a>;
}

/// A run's output in channels without a small message limit (email,
/// webhooks, Alertmanager): all that `{{ output }}` carries.
pub const OUTPUT_ROOM_LARGE: usize = crate::alert::OUTPUT_MAX_BYTES;

/// Room in a message that the rest of one alert (title, facts, hint,
/// labels) takes at most, besides its run's output.
pub const ALERT_FRAME_ROOM: usize = 1024;

/// A send under way (what [`Notifier::send`] returns).
pub type Sending<'a> = Pin<Box<dyn Future<Output = Delivery> + Send + 'a>>;

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

pub(crate) const fn per_minute(count: u32) -> RateLimit {
    RateLimit {
        count,
        per: Duration::from_secs(60),
    }
}

pub(crate) const fn per_second(count: u32) -> RateLimit {
    RateLimit {
        count,
        per: Duration::from_secs(1),
    }
}

/// The batch limit of a channel, lowered by the target's `max_alerts`.
pub(crate) fn batch_limit(channel_max: usize, max_alerts: usize) -> usize {
    if max_alerts == 0 {
        channel_max
    } else {
        max_alerts.min(channel_max)
    }
}

/// A configured target, ready to send: it is sent the texts of its
/// language (see [`AlertMessage::in_language`]).
#[derive(Debug)]
pub struct Channel(Box<dyn Notifier>, Language, chrono_tz::Tz);

impl Channel {
    /// The channel of `cfg` (the channel table says which); `config` gives
    /// the wording's language and links, and the mailer of email targets.
    pub fn from_config(cfg: &TargetConfig, config: &Config) -> Result<Channel, ChannelError> {
        let language = config.language_of(cfg);
        let renderer = Renderer::new(cfg.name(), language, cfg.templates.clone())
            .with_external_url(config.public_url(config.listen_addr()))
            .with_timezone(config.timezone_of(cfg));
        let notifier = cfg.kind.build(cfg, renderer, config)?;
        Ok(Channel(notifier, language, config.timezone_of(cfg)))
    }

    /// Most alerts one send may carry.
    pub fn max_batch(&self) -> usize {
        self.0.max_batch()
    }

    /// The channel's documented send limits (all must hold).
    pub fn rate_limits(&self) -> &'static [RateLimit] {
        self.0.rate_limits()
    }

    /// Sends `batch`. Given a `Vec`, it takes it: each message is replaced
    /// by what this target is sent as it is prepared, so a storm's batch is
    /// never held twice (a slice is copied first).
    pub async fn send(&self, batch: impl Into<Vec<AlertMessage>>) -> Delivery {
        self.0.send(&self.prepare(batch.into())).await
    }

    /// The batch as this target is sent it: the texts of its language, the
    /// time `{{ since }}` wrote in its zone, and each alert's run output cut
    /// to its share of the channel's room (the last lines, after a marker).
    fn prepare(&self, batch: Vec<AlertMessage>) -> Vec<AlertMessage> {
        let room = self.0.output_limit() / batch.len().max(1);
        let marker = crate::notify::render::output_cut_marker(self.1);
        batch
            .into_iter()
            .map(|m| {
                m.into_language(self.1)
                    .with_since_in(self.2)
                    .with_output_within(room, marker)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_limits() {
        assert_eq!(batch_limit(10, 0), 10);
        assert_eq!(batch_limit(10, 3), 3);
        assert_eq!(batch_limit(10, 50), 10);
    }
}
