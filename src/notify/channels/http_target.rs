//! What the HTTP channels (webhook, DingTalk, WeCom robot, Feishu, Slack,
//! PagerDuty, SMS and calls) hold alike: the target's name, its typed settings, an HTTP
//! client with the target's timeout and proxy, the renderer of its wording,
//! and its `max_alerts` cap. A channel that sends one request per batch
//! adds its request building and answer classification ([`HttpChannel`],
//! implemented on its settings type) and is a [`Notifier`] through it; the
//! others (SMS and calls) implement [`Notifier`] themselves.

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::{
    ChannelError, Delivery, HttpAnswer, Notifier, RateLimit, Sending, batch_limit, execute,
    http_client,
};
use crate::config::TargetConfig;
use crate::notify::message::AlertMessage;
use crate::notify::render::Renderer;

pub struct HttpTarget<C> {
    pub(crate) name: String,
    pub(crate) cfg: C,
    pub(crate) client: reqwest::Client,
    pub(crate) renderer: Renderer,
    pub(crate) max_alerts: usize,
}

impl<C> HttpTarget<C> {
    /// The channel of `cfg` with its typed settings `kind`; requests carry
    /// `headers` and time out after the target's `timeout` (else `timeout`).
    pub fn build(
        cfg: &TargetConfig,
        kind: C,
        renderer: Renderer,
        timeout: Duration,
        headers: HeaderMap,
    ) -> Result<HttpTarget<C>, ChannelError> {
        Ok(HttpTarget {
            name: cfg.name().to_string(),
            client: http_client(cfg, timeout, headers)?,
            cfg: kind,
            renderer,
            max_alerts: cfg.max_alerts,
        })
    }

    /// Alerts per message: the channel's most, lowered by `max_alerts`.
    pub fn limit(&self, channel_max: usize) -> usize {
        batch_limit(channel_max, self.max_alerts)
    }

    /// Sends `req` and judges the answer with the channel's `classify`
    /// (a transport error is retried).
    pub async fn deliver(
        &self,
        req: reqwest::RequestBuilder,
        classify: fn(&HttpAnswer) -> Delivery,
    ) -> Delivery {
        match execute(req).await {
            Err(d) => d,
            Ok(a) => classify(&a),
        }
    }
}

/// What a channel of one HTTP request per send adds to [`HttpTarget`]
/// (implemented on its settings type `C`).
pub trait HttpChannel: Sized + Send + Sync + 'static {
    /// Alerts one message takes at most, before the target's `max_alerts`.
    fn max_batch(target: &HttpTarget<Self>) -> usize;

    /// The channel's documented send limits.
    const RATE_LIMITS: &'static [RateLimit] = &[];

    /// Bytes a run's output may take in one alert (see
    /// [`Notifier::output_limit`]).
    fn output_limit(_target: &HttpTarget<Self>) -> usize {
        super::notifier::OUTPUT_ROOM_LARGE
    }

    /// Renders `batch` into the request (an error is the send's outcome).
    fn request(
        target: &HttpTarget<Self>,
        batch: &[AlertMessage],
    ) -> Result<reqwest::RequestBuilder, Delivery>;

    /// What the answer means.
    fn classify(answer: &HttpAnswer) -> Delivery;
}

impl<C: HttpChannel> Notifier for HttpTarget<C> {
    fn max_batch(&self) -> usize {
        C::max_batch(self)
    }

    fn rate_limits(&self) -> &'static [RateLimit] {
        C::RATE_LIMITS
    }

    fn output_limit(&self) -> usize {
        C::output_limit(self)
    }

    fn send<'a>(&'a self, batch: &'a [AlertMessage]) -> Sending<'a> {
        Box::pin(async move {
            match C::request(self, batch) {
                Err(d) => d,
                Ok(req) => self.deliver(req, C::classify).await,
            }
        })
    }
}

/// Names the target, never its settings (they hold secrets).
impl<C> std::fmt::Debug for HttpTarget<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTarget")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
