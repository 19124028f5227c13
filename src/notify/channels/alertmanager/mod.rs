//! Alertmanager target: pushes alerts into an existing Alertmanager cluster
//! (`POST <url>/api/v2/alerts`, a JSON array of postable alerts) so that its
//! routing, silences and receivers take over. Resolved alerts carry their end
//! time; firing ones an end [`FIRING_HORIZON`] ahead, because Alertmanager
//! resolves an alert whose `endsAt` passes (Prometheus re-sends every minute;
//! tocsin sends on changes). 2xx is sent, 5xx/429 retried, other answers are
//! permanent with Alertmanager's error text.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;

mod config;

pub use config::AlertmanagerConfig;

use super::registry::ChannelType;
use super::webhook::header_map;
use super::{
    ChannelError, Delivery, Notifier, Sending, batch_limit, classify_http, execute, http_client,
};
use crate::config::TargetConfig;
use crate::alert::Labels;
use crate::notify::message::{AlertMessage, MessageKind};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How far ahead a firing alert's `endsAt` is set.
pub const FIRING_HORIZON: chrono::Duration = chrono::Duration::hours(24);

pub const ALERTMANAGER: ChannelType<AlertmanagerConfig> = ChannelType {
    name: "alertmanager",
    aliases: &[],
    keys: config::KEYS,
    check: config::check,
    build: |cfg, kind, _, _| Ok(Box::new(Alertmanager::new(cfg, kind.clone())?)),
};

pub struct Alertmanager {
    name: String,
    endpoint: String,
    client: reqwest::Client,
    max_alerts: usize,
}

impl std::fmt::Debug for Alertmanager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alertmanager")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// One alert as `POST /api/v2/alerts` takes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

impl Alertmanager {
    pub fn new(cfg: &TargetConfig, kind: AlertmanagerConfig) -> Result<Alertmanager, ChannelError> {
        let headers = header_map(cfg.name(), &kind.headers)?;
        Ok(Alertmanager {
            name: cfg.name().to_string(),
            endpoint: endpoint(kind.url.expose()),
            client: http_client(cfg, DEFAULT_TIMEOUT, headers)?,
            max_alerts: cfg.max_alerts,
        })
    }

    async fn send_batch(&self, batch: &[AlertMessage]) -> Delivery {
        let body = alerts(batch, Utc::now());
        let req = self
            .client
            .post(&self.endpoint)
            .header(CONTENT_TYPE, "application/json")
            .json(&body);
        match execute(req).await {
            Err(d) => d,
            Ok(a) => classify_http(a.status, a.header("retry-after"), &a.body),
        }
    }
}

impl Notifier for Alertmanager {
    fn max_batch(&self) -> usize {
        batch_limit(1000, self.max_alerts)
    }

    fn send<'a>(&'a self, batch: &'a [AlertMessage]) -> Sending<'a> {
        Box::pin(self.send_batch(batch))
    }
}

/// `<base>/api/v2/alerts`, whether or not the base ends with a slash.
pub fn endpoint(base: &str) -> String {
    format!("{}/api/v2/alerts", base.trim_end_matches('/'))
}

pub fn alerts(batch: &[AlertMessage], now: DateTime<Utc>) -> Vec<PostableAlert> {
    batch
        .iter()
        .map(|m| {
            let wa = super::webhook::webhook_alert(m);
            let ends = match (m.kind, m.ends_at) {
                (MessageKind::Resolved, Some(t)) => t,
                (MessageKind::Resolved, None) => now,
                _ => now + FIRING_HORIZON,
            };
            PostableAlert {
                labels: wa.labels.clone(),
                annotations: wa.annotations,
                starts_at: wa.starts_at,
                ends_at: ends.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                generator_url: wa.generator_url.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_and_shape() {
        assert_eq!(endpoint("http://am:9093/"), "http://am:9093/api/v2/alerts");
        let now = Utc::now();
        let firing = AlertMessage::sample(MessageKind::Firing, "t", now);
        let resolved = AlertMessage::sample(MessageKind::Resolved, "t", now);
        let out = serde_json::to_value(alerts(&[firing, resolved], now)).unwrap();
        assert_eq!(out[0]["labels"]["alertname"], "TocsinTestMessage");
        let end0 = DateTime::parse_from_rfc3339(out[0]["endsAt"].as_str().unwrap()).unwrap();
        assert!(end0 > now + chrono::Duration::hours(23));
        let end1 = DateTime::parse_from_rfc3339(out[1]["endsAt"].as_str().unwrap()).unwrap();
        assert!(end1 <= now + chrono::Duration::seconds(1));
        assert!(out[0].get("generatorURL").is_some());
    }
}
