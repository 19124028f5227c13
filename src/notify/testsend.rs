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
use crate::config::{Config, Contact, EmailConfig, EmailFormat, TargetConfig, TargetKind};

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

    /// Every configured target's name and type.
    pub fn targets(&self) -> Vec<(String, &'static str)> {
        let config = self.config.read().unwrap_or_else(|p| p.into_inner());
        config
            .targets
            .iter()
            .map(|t| (t.name.value.clone(), t.kind.type_name()))
            .collect()
    }

    /// Uses `config` from now on (after a reload).
    pub fn set_config(&self, config: Arc<Config>) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    pub fn config(&self) -> Arc<Config> {
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
        Self::send_to(t, &config, resolved).await
    }

    /// One test through each way a contact is reached: mail (email and a
    /// mailer), SMS (`phones.sms` and a phone), call (`phones.call`).
    pub async fn send_contact(&self, name: &str, resolved: bool) -> Vec<TestOutcome> {
        let config = self.config();
        let Some(c) = config.contacts.iter().find(|c| c.name() == name) else {
            return vec![TestOutcome {
                target: name.to_string(),
                kind: String::new(),
                result: "unknown",
                answer: format!("no contact is named {name:?}"),
                retry_after_seconds: None,
            }];
        };
        let mut out = Vec::new();
        for t in contact_targets(&config, c) {
            match t {
                Ok(t) => out.push(Self::send_to(&t, &config, resolved).await),
                Err((target, answer)) => out.push(TestOutcome {
                    target,
                    kind: String::new(),
                    result: "failed",
                    answer,
                    retry_after_seconds: None,
                }),
            }
        }
        if out.is_empty() {
            out.push(TestOutcome {
                target: name.to_string(),
                kind: String::new(),
                result: "failed",
                answer: format!("contact {name:?} cannot be reached: no email with a `mailer:`, no phone with `phones.sms` or `phones.call`"),
                retry_after_seconds: None,
            });
        }
        out
    }

    async fn send_to(t: &TargetConfig, config: &Config, resolved: bool) -> TestOutcome {
        let name = t.name();
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
        let channel = match Channel::from_config(t, config) {
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
        let delivery = channel.send(vec![sample]).await;
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
            match channel.send(vec![message.clone()]).await {
                Delivery::Sent { .. } => sent += 1,
                other => {
                    tracing::warn!(target_name = %name, delivery = ?other, alert = %message.alert, "built-in alert not sent")
                }
            }
        }
        sent
    }
}

/// The targets that reach a contact, as routes build them (`NAME` by mail,
/// `sms:NAME`, `call:NAME`); a phone that cannot be used is an error.
fn contact_targets(config: &Config, c: &Contact) -> Vec<Result<TargetConfig, (String, String)>> {
    let mut out = Vec::new();
    if let (Some(email), Some(_)) = (c.email.as_deref(), &config.mailer) {
        out.push(Ok(TargetConfig {
            name: crate::yaml::unspanned(c.name().to_string()),
            kind: TargetKind::Email(EmailConfig::through_mailer(
                vec![email.trim().to_string()],
                EmailFormat::Table,
            )),
            enabled: true,
            send_resolved: true,
            language: c.language,
            timezone: None,
            templates: Default::default(),
            timeout: None,
            max_alerts: 0,
            proxy: None,
            mentions: Vec::new(),
        }));
    }
    let Some(phone) = c.phone() else {
        return out;
    };
    for (way, at) in [("sms", &config.phones.sms), ("call", &config.phones.call)] {
        let Some(base) = at.as_ref().and_then(|n| config.target(&n.value)) else {
            continue;
        };
        let target = format!("{way}:{}", c.name());
        let number = match crate::config::e164(phone) {
            Ok(n) => n,
            Err(e) => {
                out.push(Err((target, e)));
                continue;
            }
        };
        let mut t = base.clone();
        t.name = crate::yaml::unspanned(target);
        t.language = c.language.or(base.language);
        if let TargetKind::Sms(p) | TargetKind::Call(p) = &mut t.kind {
            p.to = vec![number];
        }
        out.push(Ok(t));
    }
    out
}
