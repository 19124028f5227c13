//! The webhook's two bodies: tocsin's own JSON ([`TocsinPayload`], one
//! alert) and Alertmanager's webhook JSON, version 4 ([`AmWebhookPayload`],
//! a group of alerts with their common labels and annotations).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::alert::{Fingerprint, Labels};
use crate::notify::message::AlertMessage;
use crate::notify::render::{Markup, Renderer};

/// Alertmanager prints a firing alert's end as the zero time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

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

/// Alertmanager's webhook body (`version: "4"`). Its alerts borrow their
/// labels and links from the messages.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmWebhookPayload<'a> {
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
    pub alerts: Vec<WebhookAlert<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert<'a> {
    pub status: &'static str,
    pub labels: &'a Labels,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: &'a str,
    pub fingerprint: String,
}

pub fn payload<'a>(
    receiver: &str,
    batch: &'a [AlertMessage],
    external_url: &str,
) -> AmWebhookPayload<'a> {
    let alerts: Vec<WebhookAlert> = batch.iter().map(webhook_alert).collect();
    let common_labels = common(alerts.iter().map(|a| a.labels));
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

pub(crate) fn webhook_alert(m: &AlertMessage) -> WebhookAlert<'_> {
    WebhookAlert {
        status: m.kind.status(),
        fingerprint: Fingerprint::of_labels(&m.labels).to_string(),
        labels: &m.labels,
        annotations: m.sent_annotations(),
        starts_at: m
            .starts_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ends_at: m
            .ends_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_else(|| ZERO_TIME.to_string()),
        generator_url: &m.generator_url,
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
