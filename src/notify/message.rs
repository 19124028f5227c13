//! The snapshot of an alert that goes into the outbox and that every channel
//! renders: what fired, how bad, the message with its value, the resolution
//! hint, labels, since when, and on recovery how long it lasted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::route_table::Mentions;
use crate::alert::text::pick_owned;
use crate::alert::{
    AlertEvent, AlertTexts, Fingerprint, Labels, Language, RuleFormat, Severity, Transition,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Firing,
    Resolved,
    Escalated,
    Deescalated,
    /// Someone took it (the console, a link); it still fires.
    Acknowledged,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Firing => "firing",
            MessageKind::Resolved => "resolved",
            MessageKind::Escalated => "escalated",
            MessageKind::Deescalated => "deescalated",
            MessageKind::Acknowledged => "acknowledged",
        }
    }

    /// Alertmanager's two statuses.
    pub fn status(self) -> &'static str {
        match self {
            MessageKind::Resolved => "resolved",
            _ => "firing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertMessage {
    pub kind: MessageKind,
    pub fingerprint: Fingerprint,
    pub group: String,
    pub alert: String,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_severity: Option<Severity>,
    /// Labels as sent (a native alert's plus `severity`, see `format`).
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    /// The message as it last fired (with its value then), English or the
    /// only text until [`AlertMessage::in_language`] picks the target's.
    pub message: String,
    pub resolution: String,
    /// The Chinese texts and the recovery text (see [`AlertTexts`]).
    #[serde(default, skip_serializing_if = "AlertTexts::is_empty")]
    pub texts: AlertTexts,
    /// The value now: when it fired, or when it resolved.
    pub value: Option<f64>,
    /// When it started firing.
    pub starts_at: DateTime<Utc>,
    /// When it resolved (resolved messages only).
    pub ends_at: Option<DateTime<Utc>>,
    /// The values of the route's `group_by` labels (empty without them).
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub group_labels: Labels,
    /// Contacts of the route the IM target mentions in this message.
    #[serde(default, skip_serializing_if = "Mentions::is_empty")]
    pub mentions: Mentions,
    /// Whether Alertmanager-format payloads carry the annotations exactly
    /// (`prometheus`) or also the native message and resolution.
    #[serde(default)]
    pub format: RuleFormat,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generator_url: String,
    /// A link that acknowledges or silences it without logging in (firing
    /// messages, with `external_url`; see [`super::ack_link`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ack_url: String,
    /// Who took it (acknowledged messages).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acknowledged_by: String,
}

impl AlertMessage {
    /// Annotations as sent in Alertmanager's format (see
    /// [`crate::alert::sent_annotations`]).
    pub fn sent_annotations(&self) -> BTreeMap<String, String> {
        crate::alert::sent_annotations(
            self.format,
            &self.annotations,
            &self.message,
            &self.resolution,
        )
    }

    /// The message with its texts in `lang` (each falling back to the other
    /// language): what a target of that language is sent.
    pub fn in_language(&self, lang: Language) -> AlertMessage {
        self.clone().into_language(lang)
    }

    /// [`AlertMessage::in_language`], moving the texts it keeps (a storm's
    /// batch is not copied to pick its language).
    pub fn into_language(mut self, lang: Language) -> AlertMessage {
        let t = std::mem::take(&mut self.texts);
        self.message = pick_owned(lang, self.message, t.message_zh);
        self.resolution = pick_owned(lang, self.resolution, t.resolution_zh);
        self.texts = AlertTexts {
            resolved_message: pick_owned(lang, t.resolved_message, t.resolved_message_zh),
            output: t.output,
            since: t.since,
            since_at: t.since_at,
            ..AlertTexts::default()
        };
        self
    }

    /// Replaces `from` with `to` in every text people read: message, hint,
    /// recovery text (each language) and annotations.
    fn replace_in_texts(&mut self, from: &str, to: &str) {
        let t = &mut self.texts;
        for text in [
            &mut self.message,
            &mut self.resolution,
            &mut t.message_zh,
            &mut t.resolution_zh,
            &mut t.resolved_message,
            &mut t.resolved_message_zh,
        ]
        .into_iter()
        .chain(self.annotations.values_mut())
        {
            if text.contains(from) {
                *text = text.replace(from, to);
            }
        }
    }

    /// The message with `{{ since }}` in its texts written in `tz` (a
    /// target's own `timezone`).
    pub fn with_since_in(mut self, tz: chrono_tz::Tz) -> AlertMessage {
        let Some(at) = self.texts.since_at else {
            return self;
        };
        if self.texts.since.is_empty() {
            return self;
        }
        let local = crate::template::format_time_in(at, tz, "%Y-%m-%d %H:%M:%S");
        let written = std::mem::replace(&mut self.texts.since, local.clone());
        if written != local {
            self.replace_in_texts(&written, &local);
        }
        self
    }

    /// The message with the run's output (`{{ output }}`, see
    /// [`AlertTexts::output`]) cut to its last `max_bytes` bytes wherever
    /// its texts show it, after `marker`: what a channel with that room
    /// for it sends.
    pub fn with_output_within(mut self, max_bytes: usize, marker: &str) -> AlertMessage {
        if self.texts.output.len() <= max_bytes {
            return self;
        }
        let full = std::mem::take(&mut self.texts.output);
        let short = crate::alert::keep_tail(&full, max_bytes, marker);
        self.replace_in_texts(&full, &short);
        self.texts.output = short;
        self
    }

    /// The message for a transition, if the transition is one people hear about.
    pub fn for_event(e: &AlertEvent) -> Option<AlertMessage> {
        let a = &e.alert;
        let (kind, previous_severity) = match &e.transition {
            Transition::Fired => (MessageKind::Firing, None),
            Transition::Resolved => (MessageKind::Resolved, None),
            Transition::SeverityChanged { from } if a.severity > *from => {
                (MessageKind::Escalated, Some(*from))
            }
            Transition::SeverityChanged { from } => (MessageKind::Deescalated, Some(*from)),
            Transition::Pending | Transition::Cleared => return None,
        };
        Some(AlertMessage {
            kind,
            fingerprint: a.fingerprint,
            group: a.group.clone(),
            alert: a.alert.clone(),
            severity: a.severity,
            previous_severity,
            labels: a.output_labels(),
            annotations: a.annotations.clone(),
            message: a.message.clone(),
            resolution: a.resolution.clone(),
            texts: a.texts.clone(),
            value: a.value.is_finite().then_some(a.value),
            starts_at: a.fired_at.unwrap_or(a.active_at),
            ends_at: a.resolved_at.filter(|_| kind == MessageKind::Resolved),
            group_labels: Labels::new(),
            mentions: Mentions::default(),
            format: a.format,
            generator_url: a.generator_url.clone(),
            ack_url: String::new(),
            acknowledged_by: String::new(),
        })
    }

    /// The notice that `by` took the firing alert `a`.
    pub fn acknowledged(a: &crate::alert::AlertInstance, by: &str) -> Option<AlertMessage> {
        let event = AlertEvent {
            alert: std::sync::Arc::new(a.clone()),
            before: Some(crate::alert::AlertState::Firing),
            transition: Transition::Fired,
        };
        let mut m = AlertMessage::for_event(&event)?;
        m.kind = MessageKind::Acknowledged;
        m.acknowledged_by = by.to_string();
        Some(m)
    }

    /// The sample `tocsin notify-test` and the test API send: an alert that
    /// says it is a test (`note`, in the target's language), with every part
    /// a real one has; its hint comes in both languages.
    pub fn sample(kind: MessageKind, note: &str, now: DateTime<Utc>) -> AlertMessage {
        let mut m = AlertMessage::of_tocsin(
            kind,
            "TocsinTestMessage",
            Severity::Warning,
            (
                note.to_string(),
                "Nothing to do: this message only checks the target.".into(),
            ),
            now - chrono::Duration::minutes(5),
            now,
        );
        m.texts.resolution_zh = "无需处理：这条消息只用于检查通知目标。".into();
        m.value = Some(42.0);
        m
    }

    /// A built-in alert of the daemon itself (`DatabaseUnavailable`), sent
    /// straight to targets when the outbox cannot be used.
    pub fn builtin(
        kind: MessageKind,
        alert: &str,
        message: String,
        resolution: String,
        starts_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> AlertMessage {
        AlertMessage::of_tocsin(
            kind,
            alert,
            Severity::Error,
            (message, resolution),
            starts_at,
            now,
        )
    }

    /// A message about the daemon itself (group `tocsin`, `instance: tocsin`).
    fn of_tocsin(
        kind: MessageKind,
        alert: &str,
        severity: Severity,
        (message, resolution): (String, String),
        starts_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> AlertMessage {
        let mut labels = Labels::new();
        labels.insert("alertname".into(), alert.into());
        labels.insert("instance".into(), "tocsin".into());
        labels.insert("severity".into(), severity.as_str().into());
        AlertMessage {
            kind,
            fingerprint: crate::alert::Fingerprint::of_alert("tocsin", &labels),
            group: "tocsin".into(),
            alert: alert.into(),
            severity,
            previous_severity: None,
            annotations: BTreeMap::new(),
            message,
            resolution,
            texts: AlertTexts::default(),
            value: None,
            labels,
            starts_at,
            ends_at: (kind == MessageKind::Resolved).then_some(now),
            group_labels: Labels::new(),
            mentions: Mentions::default(),
            format: RuleFormat::Native,
            generator_url: String::new(),
            ack_url: String::new(),
            acknowledged_by: String::new(),
        }
    }

    /// How long it fired (resolved messages).
    pub fn lasted(&self) -> Option<chrono::Duration> {
        self.ends_at.map(|end| end - self.starts_at)
    }

    /// Everyone a message about `batch` mentions: the target's own
    /// `mobiles` and `users`, then the route contacts of each alert; each once.
    pub fn mentions_of(batch: &[AlertMessage], mobiles: &[String], users: &[String]) -> Mentions {
        let mut all = Mentions {
            mobiles: mobiles.to_vec(),
            users: users.to_vec(),
        };
        for m in batch {
            all.extend(&m.mentions);
        }
        all
    }

    /// The text people read first: the rendered message, or a default.
    pub fn headline(&self) -> String {
        if !self.message.is_empty() {
            return self.message.clone();
        }
        match self.value {
            Some(v) => format!("{} ({}): value {}", self.alert, self.severity, v),
            None => format!("{} ({})", self.alert, self.severity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_written_again_in_the_targets_zone() {
        let at = "2026-01-15T04:05:06Z".parse::<DateTime<Utc>>().unwrap();
        let mut m = AlertMessage::sample(MessageKind::Firing, "n", at);
        m.message = "high since 2026-01-15 12:05:06 +08:00".into();
        m.texts.message_zh = "自 2026-01-15 12:05:06 +08:00 起过高".into();
        m.texts.since = "2026-01-15 12:05:06 +08:00".into();
        m.texts.since_at = Some(at);
        let berlin = m.clone().with_since_in(chrono_tz::Tz::Europe__Berlin);
        assert_eq!(berlin.message, "high since 2026-01-15 05:05:06 +01:00");
        assert_eq!(
            berlin.texts.message_zh,
            "自 2026-01-15 05:05:06 +01:00 起过高"
        );
        let same = m.clone().with_since_in(chrono_tz::Tz::Asia__Shanghai);
        assert_eq!(same.message, m.message);
        let mut none = m.clone();
        none.texts.since_at = None;
        assert_eq!(none.with_since_in(chrono_tz::Tz::UTC).message, m.message);
    }

    #[test]
    fn the_output_is_cut_to_its_last_lines_wherever_a_text_shows_it() {
        let output: String =
            (0..100).map(|i| format!("step {i}\n")).collect::<String>() + "Fatal: 磁盘已满";
        let mut m = AlertMessage::sample(MessageKind::Firing, "n", Utc::now());
        m.message = format!("exit 3:\n{output}");
        m.texts.message_zh = format!("退出码 3：\n{output}");
        m.texts.output = output.clone();
        let roomy = m.clone().with_output_within(10_000, "[cut]");
        assert_eq!(roomy.message, m.message, "it fits: nothing is cut");
        let zh = m
            .in_language(Language::Zh)
            .with_output_within(100, "[省略]");
        assert!(
            zh.message.starts_with("退出码 3：\n[省略]\nstep "),
            "{}",
            zh.message
        );
        assert!(zh.message.ends_with("Fatal: 磁盘已满"), "{}", zh.message);
        assert!(zh.texts.output.len() <= 100, "{}", zh.texts.output.len());
        let en = m.with_output_within(100, "[cut]");
        assert!(en.message.starts_with("exit 3:\n[cut]\n"), "{}", en.message);
        assert!(!en.message.contains("step 0\n"), "{}", en.message);
    }
}
