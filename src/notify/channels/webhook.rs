//! Generic webhook: Alertmanager's webhook payload (version 4), POSTed as
//! JSON with optional custom headers, so any Alertmanager receiver works.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde::Serialize;

use super::{ChannelError, Delivery, classify_http};
use crate::config::TargetConfig;
use crate::http_client;
use crate::labels::{Fingerprint, Labels};
use crate::notify::message::AlertMessage;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Alertmanager prints a firing alert's end as the zero time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub struct Webhook {
    name: String,
    url: crate::config::Secret,
    client: reqwest::Client,
    max_alerts: usize,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    pub fn from_config(cfg: &TargetConfig) -> Result<Webhook, ChannelError> {
        let err = |message: String| ChannelError {
            target: cfg.name().to_string(),
            message,
        };
        let url = cfg
            .url
            .clone()
            .ok_or_else(|| err("webhook needs a url".into()))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| err(format!("invalid header name {k:?}")))?;
            let mut value = HeaderValue::from_str(v.expose())
                .map_err(|_| err(format!("invalid value for header {k:?}")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = http_client::builder(cfg.timeout.map(|t| t.0).unwrap_or(DEFAULT_TIMEOUT))
            .default_headers(headers)
            .build()
            .map_err(|e| err(http_client::describe_error(&e)))?;
        Ok(Webhook {
            name: cfg.name().to_string(),
            url,
            client,
            max_alerts: cfg.max_alerts,
        })
    }

    pub fn max_batch(&self) -> usize {
        if self.max_alerts == 0 {
            1000
        } else {
            self.max_alerts
        }
    }

    pub async fn send(&self, batch: &[AlertMessage]) -> Delivery {
        let body = payload(&self.name, batch);
        let result = self
            .client
            .post(self.url.expose())
            .header(CONTENT_TYPE, "application/json")
            .json(&body)
            .send()
            .await;
        match result {
            Err(e) => Delivery::Retry {
                reason: http_client::describe_error(&e.without_url()),
                after: None,
            },
            Ok(resp) => {
                let status = resp.status();
                let retry_after = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let text = resp.text().await.unwrap_or_default();
                classify_http(status, retry_after.as_deref(), &text)
            }
        }
    }
}

/// Alertmanager's webhook body (`version: "4"`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
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

pub fn payload(receiver: &str, batch: &[AlertMessage]) -> WebhookPayload {
    let alerts: Vec<WebhookAlert> = batch.iter().map(webhook_alert).collect();
    let common_labels = common(alerts.iter().map(|a| &a.labels));
    let common_annotations = common(alerts.iter().map(|a| &a.annotations));
    let mut group_labels = Labels::new();
    if let Some(name) = common_labels.get("alertname") {
        group_labels.insert("alertname".into(), name.clone());
    }
    let group_key = format!(
        "{{}}:{{{}}}",
        group_labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let firing = alerts.iter().any(|a| a.status == "firing");
    WebhookPayload {
        version: "4",
        group_key,
        truncated_alerts: 0,
        status: if firing { "firing" } else { "resolved" },
        receiver: receiver.to_string(),
        group_labels,
        common_labels,
        common_annotations,
        external_url: String::new(),
        alerts,
    }
}

fn webhook_alert(m: &AlertMessage) -> WebhookAlert {
    let mut annotations = m.annotations.clone();
    if !m.message.is_empty() {
        annotations
            .entry("summary".into())
            .or_insert_with(|| m.message.clone());
        annotations.insert("message".into(), m.message.clone());
    }
    if !m.resolution.is_empty() {
        annotations.insert("resolution".into(), m.resolution.clone());
    }
    if let Some(v) = m.value {
        annotations.insert("value".into(), v.to_string());
    }
    WebhookAlert {
        status: m.kind.status(),
        fingerprint: Fingerprint::of_labels(&m.labels).to_string(),
        labels: m.labels.clone(),
        annotations,
        starts_at: m
            .starts_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ends_at: m
            .ends_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| ZERO_TIME.to_string()),
        generator_url: String::new(),
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
