//! `tocsin notify-test TARGET` and `POST /api/v1/targets/{name}/test`: send a
//! sample message straight through a target's channel (no outbox, no rate
//! limiter) and report the channel's own answer. Never echoes secrets: the
//! answer is the channel's reply or an error described without URLs.

use std::sync::Arc;

use chrono::Utc;
use serde::Serialize;

use super::channels::{Channel, Delivery};
use super::message::{AlertMessage, MessageKind};
use super::render::Renderer;
use crate::config::Config;

/// What a test send did.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    pub target: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// sent | retry | failed | disabled | unknown
    pub result: &'static str,
    /// The channel's answer (sent) or the reason (otherwise).
    pub answer: String,
    /// When the channel asked to be retried later, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

impl TestOutcome {
    pub fn is_sent(&self) -> bool {
        self.result == "sent"
    }
}

/// Sends test messages for the targets of one config.
#[derive(Debug)]
pub struct TargetTester {
    config: std::sync::RwLock<Arc<Config>>,
}

impl TargetTester {
    pub fn new(config: Arc<Config>) -> TargetTester {
        TargetTester {
            config: std::sync::RwLock::new(config),
        }
    }

    /// Uses `config` from now on (after a reload).
    pub fn set_config(&self, config: Arc<Config>) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Sends the sample (`resolved`: the recovery message) to `name`.
    pub async fn send(&self, name: &str, resolved: bool) -> TestOutcome {
        let config = self.config();
        let Some(t) = config.target(name) else {
            return TestOutcome {
                target: name.to_string(),
                kind: String::new(),
                result: "unknown",
                answer: format!("no target is named {name:?}"),
                retry_after_seconds: None,
            };
        };
        let mut out = TestOutcome {
            target: name.to_string(),
            kind: t.type_name().to_string(),
            result: "failed",
            answer: String::new(),
            retry_after_seconds: None,
        };
        if !t.enabled {
            out.result = "disabled";
            out.answer = "the target has `enabled: false`; it sends nothing".into();
            return out;
        }
        let channel = match Channel::from_config(t, &config) {
            Ok(c) => c,
            Err(e) => {
                out.answer = e.message;
                return out;
            }
        };
        let renderer = Renderer::new(name, config.language_of(t), t.templates.clone());
        let kind = if resolved {
            MessageKind::Resolved
        } else {
            MessageKind::Firing
        };
        let sample = AlertMessage::sample(kind, renderer.test_note(), Utc::now());
        let delivery = channel.send(&[sample]).await;
        tracing::info!(target_name = %name, kind = %out.kind, ?delivery, "test message");
        match delivery {
            Delivery::Sent { answer } => {
                out.result = "sent";
                out.answer = answer;
            }
            Delivery::Retry { reason, after } => {
                out.result = "retry";
                out.answer = reason;
                out.retry_after_seconds = after.map(|d| d.as_secs());
            }
            Delivery::Failed { reason } => out.answer = reason,
        }
        out
    }

    /// Sends `message` straight (no outbox, no rate limiter) to every
    /// enabled target; returns how many took it.
    pub async fn broadcast(&self, message: &AlertMessage) -> usize {
        let config = self.config();
        let mut sent = 0;
        for t in config.delivery_targets().filter(|t| t.enabled) {
            let name = t.name().to_string();
            let channel = match Channel::from_config(t, &config) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(target_name = %name, error = %e.message, "built-in alert not sent");
                    continue;
                }
            };
            match channel.send(std::slice::from_ref(message)).await {
                Delivery::Sent { .. } => sent += 1,
                other => {
                    tracing::warn!(target_name = %name, delivery = ?other, alert = %message.alert, "built-in alert not sent")
                }
            }
        }
        sent
    }
}
