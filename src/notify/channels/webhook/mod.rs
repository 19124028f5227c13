//! Generic webhook: URL, method (POST, PUT, PATCH), custom headers, and the
//! payload `alertmanager` (Alertmanager's webhook JSON, version 4, several
//! alerts per message, so any Alertmanager receiver works) or `tocsin` (one
//! alert per message, [`TocsinPayload`]). 2xx is sent; 408/425/429/5xx are
//! retried honouring `Retry-After`; other statuses are permanent.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

mod config;

pub use config::{WebhookConfig, WebhookPayload};

use super::http_target::{HttpChannel, HttpTarget};
use super::registry::ChannelType;
use super::{ChannelError, Delivery, HttpAnswer, classify_http};
use crate::config::{Secret, TargetConfig};
use crate::labels::{Fingerprint, Labels};
use crate::notify::message::AlertMessage;
use crate::notify::render::{Markup, Renderer};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Alertmanager prints a firing alert's end as the zero time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

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

    /// The JSON body for a batch, in the configured payload.
    pub fn body(&self, batch: &[AlertMessage]) -> serde_json::Value {
        match self.cfg.payload {
            WebhookPayload::Alertmanager => {
                serde_json::to_value(payload(&self.name, batch, self.renderer.external_url()))
                    .unwrap_or_default()
            }
            WebhookPayload::Tocsin => batch
                .first()
                .map(|m| {
                    serde_json::to_value(tocsin_payload(&self.name, m, &self.renderer))
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
        }
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
            .json(&t.body(batch)))
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

/// tocsin's own webhook JSON: one alert per message (see README, "Webhook").
#[derive(Debug, Serialize)]
pub struct TocsinPayload {
    /// Payload format version.
    pub version: &'static str,
    pub target: String,
    /// firing | resolved | escalated | deescalated
    pub status: &'static str,
    pub alert: String,
    pub group: String,
    pub severity: &'static str,
    pub previous_severity: Option<&'static str>,
    pub message: String,
    pub value: Option<f64>,
    pub resolution: String,
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub fingerprint: String,
    pub starts_at: String,
    pub ends_at: Option<String>,
    pub duration_seconds: Option<i64>,
    /// The rendered title and plain-text body in the target's language.
    pub title: String,
    pub text: String,
}

pub fn tocsin_payload(target: &str, m: &AlertMessage, r: &Renderer) -> TocsinPayload {
    let batch = std::slice::from_ref(m);
    TocsinPayload {
        version: "1",
        target: target.to_string(),
        status: m.kind.as_str(),
        alert: m.alert.clone(),
        group: m.group.clone(),
        severity: m.severity.as_str(),
        previous_severity: m.previous_severity.map(|s| s.as_str()),
        message: m.headline(),
        value: m.value,
        resolution: m.resolution.clone(),
        labels: m.labels.clone(),
        annotations: m.annotations.clone(),
        fingerprint: m.fingerprint.to_string(),
        starts_at: m
            .starts_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ends_at: m
            .ends_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        duration_seconds: m.lasted().map(|d| d.num_seconds()),
        title: r.title(batch),
        text: r.body(batch, Markup::Plain),
    }
}

/// Alertmanager's webhook body (`version: "4"`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmWebhookPayload {
    pub version: &'static str,
    pub group_key: String,
    pub truncated_alerts: usize,
    pub status: &'static str,
    pub receiver: String,
    pub group_labels: Labels,
    pub common_labels: Labels,
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<WebhookAlert>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: &'static str,
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

pub fn payload(receiver: &str, batch: &[AlertMessage], external_url: &str) -> AmWebhookPayload {
    let alerts: Vec<WebhookAlert> = batch.iter().map(webhook_alert).collect();
    let common_labels = common(alerts.iter().map(|a| &a.labels));
    let common_annotations = common(alerts.iter().map(|a| &a.annotations));
    // The route's `group_by` values when the batch is one group; else the
    // common alert name, as before grouping was configured.
    let first = batch.first().map(|m| &m.group_labels);
    let group_labels = match first {
        Some(g) if !g.is_empty() && batch.iter().all(|m| &m.group_labels == g) => g.clone(),
        _ => {
            let mut group_labels = Labels::new();
            if let Some(name) = common_labels.get("alertname") {
                group_labels.insert("alertname".into(), name.clone());
            }
            group_labels
        }
    };
    let group_key = format!(
        "{{}}:{{{}}}",
        group_labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let firing = alerts.iter().any(|a| a.status == "firing");
    AmWebhookPayload {
        version: "4",
        group_key,
        truncated_alerts: 0,
        status: if firing { "firing" } else { "resolved" },
        receiver: receiver.to_string(),
        group_labels,
        common_labels,
        common_annotations,
        external_url: external_url.to_string(),
        alerts,
    }
}

pub(crate) fn webhook_alert(m: &AlertMessage) -> WebhookAlert {
    WebhookAlert {
        status: m.kind.status(),
        fingerprint: Fingerprint::of_labels(&m.labels).to_string(),
        labels: m.labels.clone(),
        annotations: m.sent_annotations(),
        starts_at: m
            .starts_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ends_at: m
            .ends_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| ZERO_TIME.to_string()),
        generator_url: m.generator_url.clone(),
    }
}

/// Pairs present with the same value in every map.
fn common<'a>(
    mut maps: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut out = first.clone();
    for m in maps {
        out.retain(|k, v| m.get(k) == Some(v));
    }
    out
}
