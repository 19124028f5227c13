//! PagerDuty Events API v2 (`POST https://events.pagerduty.com/v2/enqueue`).
//!
//! - One event per alert: `trigger` when it fires (and again when its
//!   severity changes, which updates the open incident), `resolve` on
//!   recovery (only `routing_key`, `dedup_key`, `event_action`).
//! - `dedup_key` = `tocsin-<fingerprint>`: stable per alert, so the resolve
//!   closes what the trigger opened.
//! - Severity: error → `critical`, warning → `warning`.
//! - `summary` ≤ 1024 characters; `custom_details` has the labels, value,
//!   message, resolution and since; a body over 512 KB replaces the details
//!   with a note, as Alertmanager does.
//! - Answers: 202 (or 200) sent; 400 permanent with PagerDuty's errors; 429
//!   retried after 30 s (or `Retry-After`); 5xx retried.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

mod config;

pub use config::{PAGERDUTY_EVENTS, PagerDutyConfig};

use super::http_target::{HttpChannel, HttpTarget};
use super::notifier::per_minute;
use super::registry::ChannelType;
use super::{ChannelError, Delivery, HttpAnswer, RateLimit, classify_http};
use crate::config::TargetConfig;
use crate::notify::message::{AlertMessage, MessageKind};
use crate::notify::render::{Renderer, shorten_chars};
use crate::alert::Severity;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_SUMMARY: usize = 1024;
pub const MAX_BODY: usize = 512_000;

/// The channel: the shared HTTP target with PagerDuty's settings.
pub type PagerDuty = HttpTarget<PagerDutyConfig>;

pub const PAGERDUTY: ChannelType<PagerDutyConfig> = ChannelType {
    name: "pagerduty",
    aliases: &[],
    keys: config::KEYS,
    check: config::check,
    build: |cfg, kind, renderer, _| Ok(Box::new(PagerDuty::new(cfg, kind.clone(), renderer)?)),
};

pub fn dedup_key(m: &AlertMessage) -> String {
    format!("tocsin-{}", m.fingerprint)
}

pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "critical",
        Severity::Warning => "warning",
    }
}

impl PagerDuty {
    pub fn new(
        cfg: &TargetConfig,
        kind: PagerDutyConfig,
        renderer: Renderer,
    ) -> Result<PagerDuty, ChannelError> {
        HttpTarget::build(cfg, kind, renderer, DEFAULT_TIMEOUT, HeaderMap::new())
    }

    /// The event for one alert.
    pub fn event(&self, m: &AlertMessage) -> Value {
        let key = self.cfg.routing_key.expose();
        // Events v2: resolve and acknowledge carry only the routing and dedup keys.
        let action = match m.kind {
            MessageKind::Resolved => Some("resolve"),
            MessageKind::Acknowledged => Some("acknowledge"),
            _ => None,
        };
        if let Some(action) = action {
            return json!({
                "routing_key": key,
                "dedup_key": dedup_key(m),
                "event_action": action,
            });
        }
        let view = self.renderer.view(m);
        let summary = format!("{}: {}", self.renderer.alert_title(m), view.message);
        let source = ["instance", "host", "deployment"]
            .iter()
            .find_map(|k| m.labels.get(*k))
            .cloned()
            .unwrap_or_else(|| self.cfg.source.clone());
        let mut payload = json!({
            "summary": shorten_chars(&summary, MAX_SUMMARY),
            "source": source,
            "severity": severity(m.severity),
            "timestamp": m.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "custom_details": {
                "alert": m.alert,
                "value": m.value,
                "message": view.message,
                "resolution": view.resolution,
                "labels": m.labels,
                "annotations": m.annotations,
                "since": view.since,
            },
        });
        for (k, v) in [
            ("component", &self.cfg.component),
            ("group", &self.cfg.group),
            ("class", &self.cfg.class),
        ] {
            if let Some(v) = v {
                payload[k] = json!(v);
            }
        }
        let mut event = json!({
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": dedup_key(m),
            "payload": payload,
            "client": "tocsin",
        });
        if serde_json::to_vec(&event).map_or(0, |b| b.len()) > MAX_BODY {
            event["payload"]["custom_details"] = json!({
                "error": "custom details were too large for PagerDuty's 512 KB limit and were left out",
            });
        }
        event
    }

}

impl HttpChannel for PagerDutyConfig {
    // About 120 events per minute per integration key.
    const RATE_LIMITS: &'static [RateLimit] = &[per_minute(120)];

    /// One event per alert.
    fn max_batch(_: &PagerDuty) -> usize {
        1
    }

    fn request(t: &PagerDuty, batch: &[AlertMessage]) -> Result<reqwest::RequestBuilder, Delivery> {
        let Some(m) = batch.first() else {
            return Err(Delivery::sent("nothing to send"));
        };
        Ok(t.client
            .post(&t.cfg.url)
            .header(CONTENT_TYPE, "application/json")
            .json(&t.event(m)))
    }

    fn classify(a: &HttpAnswer) -> Delivery {
        classify(a)
    }
}

pub fn classify(a: &HttpAnswer) -> Delivery {
    match a.status.as_u16() {
        200 | 202 => Delivery::sent(super::excerpt(&a.body, 300)),
        429 => Delivery::retry(
            format!(
                "PagerDuty rate limit (HTTP 429): {}",
                super::excerpt(&a.body, 200)
            ),
            Some(a.retry_after().unwrap_or(Duration::from_secs(30))),
        ),
        _ => match classify_http(a.status, a.header("retry-after"), &a.body) {
            Delivery::Sent { answer } => Delivery::sent(answer),
            Delivery::Retry { reason, after } => Delivery::Retry {
                reason: format!("PagerDuty {reason}"),
                after,
            },
            Delivery::Failed { reason } => Delivery::failed(format!("PagerDuty {reason}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Language, Secret, TargetTemplates};

    fn pd() -> PagerDuty {
        PagerDuty {
            name: "pd".into(),
            cfg: PagerDutyConfig {
                routing_key: Secret::new("0123456789abcdef0123456789abcdef"),
                url: "http://127.0.0.1:1/v2/enqueue".into(),
                source: "tocsin".into(),
                component: Some("db".into()),
                group: None,
                class: None,
            },
            client: crate::http_client::builder(std::time::Duration::from_secs(1))
                .build()
                .unwrap(),
            renderer: Renderer::new("pd", Language::En, TargetTemplates::default()),
            max_alerts: 0,
        }
    }

    #[test]
    fn trigger_and_resolve_share_the_dedup_key() {
        let now = chrono::Utc::now();
        let mut firing = AlertMessage::sample(MessageKind::Firing, "n", now);
        firing.message = "x".repeat(3000);
        let t = pd().event(&firing);
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(t["payload"]["severity"], "warning");
        assert_eq!(t["payload"]["source"], "tocsin");
        assert_eq!(t["payload"]["component"], "db");
        assert!(t["payload"].get("group").is_none());
        assert_eq!(
            t["payload"]["summary"].as_str().unwrap().chars().count(),
            MAX_SUMMARY
        );
        assert_eq!(t["payload"]["custom_details"]["value"], 42.0);
        let r = pd().event(&AlertMessage::sample(MessageKind::Resolved, "n", now));
        assert_eq!(r["event_action"], "resolve");
        assert_eq!(r["dedup_key"], t["dedup_key"]);
        assert!(r.get("payload").is_none());
        assert!(t["dedup_key"].as_str().unwrap().len() <= 255);
    }
}
