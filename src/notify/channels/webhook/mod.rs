//! Generic webhook: URL, method (POST, PUT, PATCH), custom headers, and the
//! payload `alertmanager` (Alertmanager's webhook JSON, version 4, several
//! alerts per message, so any Alertmanager receiver works) or `tocsin` (one
//! alert per message, [`TocsinPayload`]). 2xx is sent; 408/425/429/5xx are
//! retried honouring `Retry-After`; other statuses are permanent.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

mod config;
mod payload;

pub use config::{WebhookConfig, WebhookPayload};
pub(crate) use payload::webhook_alert;
pub use payload::{AmWebhookPayload, TocsinPayload, WebhookAlert, payload, tocsin_payload};

use super::http_target::{HttpChannel, HttpTarget};
use super::registry::ChannelType;
use super::{ChannelError, Delivery, HttpAnswer, classify_http};
use crate::config::{Secret, TargetConfig};
use crate::notify::message::AlertMessage;
use crate::notify::render::Renderer;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The channel: the shared HTTP target with Webhook's settings.
pub type Webhook = HttpTarget<WebhookConfig>;

pub const WEBHOOK: ChannelType<WebhookConfig> = ChannelType {
    name: "webhook",
    aliases: &[],
    keys: config::KEYS,
    check: config::check,
    build: |cfg, kind, renderer, _| Ok(Box::new(Webhook::new(cfg, kind.clone(), renderer)?)),
};

/// Custom headers as a header map, marked sensitive (they often carry tokens).
pub(crate) fn header_map(
    target: &str,
    headers: &BTreeMap<String, Secret>,
) -> Result<HeaderMap, ChannelError> {
    let err = |message: String| ChannelError {
        target: target.to_string(),
        message,
    };
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| err(format!("invalid header name {k:?}")))?;
        let mut value = HeaderValue::from_str(v.expose())
            .map_err(|_| err(format!("invalid value for header {k:?}")))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

impl Webhook {
    pub fn new(
        cfg: &TargetConfig,
        kind: WebhookConfig,
        renderer: Renderer,
    ) -> Result<Webhook, ChannelError> {
        let headers = header_map(cfg.name(), &kind.headers)?;
        HttpTarget::build(cfg, kind, renderer, DEFAULT_TIMEOUT, headers)
    }

    /// The JSON body for a batch, in the configured payload, serialized
    /// straight from the payload (a storm's 10 000 alerts never become a
    /// `serde_json::Value` tree).
    pub fn body(&self, batch: &[AlertMessage]) -> Vec<u8> {
        let bytes = match self.cfg.payload {
            WebhookPayload::Alertmanager => serde_json::to_vec(&payload(
                &self.name,
                batch,
                self.renderer.external_url(),
            )),
            WebhookPayload::Tocsin => match batch.first() {
                Some(m) => serde_json::to_vec(&tocsin_payload(&self.name, m, &self.renderer)),
                None => Ok(b"null".to_vec()),
            },
        };
        // Serializing plain structs with string keys cannot fail.
        bytes.unwrap_or_else(|_| b"null".to_vec())
    }
}

impl HttpChannel for WebhookConfig {
    fn max_batch(t: &Webhook) -> usize {
        match t.cfg.payload {
            WebhookPayload::Tocsin => 1,
            // A storm's group in one message, as Alertmanager sends it;
            // `max_alerts` lowers this for receivers that want less.
            WebhookPayload::Alertmanager => t.limit(10_000),
        }
    }

    fn request(t: &Webhook, batch: &[AlertMessage]) -> Result<reqwest::RequestBuilder, Delivery> {
        Ok(t.client
            .request(t.cfg.method.clone(), t.cfg.url.expose())
            .header(CONTENT_TYPE, "application/json")
            .body(t.body(batch)))
    }

    fn classify(a: &HttpAnswer) -> Delivery {
        classify(a)
    }
}

/// Any 2xx is delivered; 408, 425, 429 and 5xx are retried (honouring
/// `Retry-After`); other statuses are permanent.
pub fn classify(a: &HttpAnswer) -> Delivery {
    classify_http(a.status, a.header("retry-after"), &a.body)
}
