//! What the HTTP channels (webhook, DingTalk, WeCom robot, Feishu, Slack,
//! PagerDuty) hold alike: the target's name, its typed settings, an HTTP
//! client with the target's timeout and proxy, the renderer of its wording,
//! and its `max_alerts` cap. Each channel adds its own request building
//! (`body`) and answer classification (`classify`) in its own file.

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::{ChannelError, Delivery, HttpAnswer, batch_limit, execute, http_client};
use crate::config::TargetConfig;
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

/// Names the target, never its settings (they hold secrets).
impl<C> std::fmt::Debug for HttpTarget<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTarget")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
