//! What people read: the default wording (English or Chinese) of a message
//! about one or several alerts, per-target template overrides, and graceful
//! shortening to a channel's byte limit (on UTF-8 boundaries, preferring line
//! ends, with a visible marker) so that a long message is cut, never rejected.
//!
//! Every message carries, per alert: status, alert name, severity, the
//! rendered message with its value, the resolution hint, labels, since when,
//! and on recovery how long it lasted. Channels pick a [`Markup`] and get a
//! title and a body; email and PagerDuty use the structured [`AlertView`]s.
//! A message about many alerts (a storm) lists them one line each, so that a
//! rate-limited robot gets every alert in few messages.

use serde::Serialize;

use super::message::{AlertMessage, MessageKind};
use crate::alert::Severity;
use crate::config::{Language, TargetTemplates};
use crate::template::{format_duration_secs, render_notification_template};

/// Messages about more alerts than this list them one line each.
pub const COMPACT_AFTER: usize = 10;
/// The longest line of such a list, in bytes (markup aside).
pub const COMPACT_LINE: usize = 150;

/// Alert names a title lists before `+N`.
const TITLE_NAMES: usize = 5;

/// The markup a channel's body is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    Plain,
    /// DingTalk / generic markdown.
    Markdown,
    /// WeCom's markdown subset with `<font color>`.
    WeComMarkdown,
    /// Slack mrkdwn (`*bold*`, `&lt;` escapes).
    Slack,
}

/// One alert as templates and structured channels see it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    /// firing | resolved | escalated | deescalated
    pub status: &'static str,
    /// The status in the message's language (`FIRING`, `告警`).
    pub status_text: &'static str,
    pub alert: String,
    pub severity: &'static str,
    pub severity_text: &'static str,
    pub previous_severity: Option<&'static str>,
    pub message: String,
    pub value: Option<f64>,
    pub value_text: String,
    pub resolution: String,
    /// On recovery: the rule's `resolved_message`, else a sentence with the
    /// value now and how long it lasted; `message` stays as it fired.
    pub recovery: Option<String>,
    pub labels: crate::alert::Labels,
    /// Labels other than `alertname` and `severity`, as `k=v, k=v`.
    pub labels_text: String,
    pub since: String,
    /// On recovery: how long it fired.
    pub lasted: Option<String>,
    pub fingerprint: String,
    /// A link that acknowledges or silences it (firing messages with
    /// `external_url`), empty otherwise.
    pub ack_url: String,
}

/// What a target's `templates:` can use.
#[derive(Debug, Clone, Serialize)]
pub struct MessageContext {
    pub target: String,
    pub language: Language,
    /// firing if any alert of the message is not resolved, else resolved.
    pub status: &'static str,
    pub count: usize,
    pub alerts: Vec<AlertView>,
}

struct Words {
    firing: &'static str,
    resolved: &'static str,
    escalated: &'static str,
    deescalated: &'static str,
    acknowledged: &'static str,
    acknowledged_by: &'static str,
    warning: &'static str,
    error: &'static str,
    message: &'static str,
    severity: &'static str,
    value: &'static str,
    value_now: &'static str,
    fired: &'static str,
    recovered: &'static str,
    back_to_normal: &'static str,
    resolution: &'static str,
    labels: &'static str,
    since: &'static str,
    lasted: &'static str,
    truncated: &'static str,
    /// In front of a run's output cut to its last lines.
    output_cut: &'static str,
    alerts: &'static str,
    test_note: &'static str,
    acknowledge: &'static str,
}

const EN: Words = Words {
    firing: "FIRING",
    resolved: "RESOLVED",
    escalated: "ESCALATED",
    deescalated: "DE-ESCALATED",
    acknowledged: "ACKNOWLEDGED",
    acknowledged_by: "Acknowledged by",
    warning: "warning",
    error: "error",
    message: "Message",
    severity: "Severity",
    value: "Value",
    value_now: "Value now",
    fired: "Fired with",
    recovered: "Recovered",
    back_to_normal: "Back to normal",
    resolution: "Resolution",
    labels: "Labels",
    since: "Since",
    lasted: "Lasted",
    truncated: "(message shortened)",
    output_cut: "… (earlier output left out)",
    alerts: "alerts",
    test_note: "This is a test message from tocsin.",
    acknowledge: "Acknowledge or silence",
};

const ZH: Words = Words {
    firing: "告警",
    resolved: "已恢复",
    escalated: "升级",
    deescalated: "降级",
    acknowledged: "已认领",
    acknowledged_by: "认领人",
    warning: "警告",
    error: "严重",
    message: "告警内容",
    severity: "级别",
    value: "当前值",
    value_now: "当前值",
    fired: "告警时",
    recovered: "恢复情况",
    back_to_normal: "已恢复正常",
    resolution: "处理建议",
    labels: "标签",
    since: "开始时间",
    lasted: "持续时间",
    truncated: "（消息过长，已截断）",
    output_cut: "……（前面的输出已省略）",
    alerts: "条告警",
    test_note: "这是一条来自 tocsin 的测试消息。",
    acknowledge: "认领或静默",
};

/// The line in front of a run's output cut to its last lines, in `lang`.
pub fn output_cut_marker(lang: Language) -> &'static str {
    match lang {
        Language::En => EN.output_cut,
        Language::Zh => ZH.output_cut,
    }
}

/// Renders messages for one target.
#[derive(Debug, Clone)]
pub struct Renderer {
    target: String,
    language: Language,
    templates: TargetTemplates,
    /// tocsin's own address for people (`external_url`), as Alertmanager
    /// gives its own in `externalURL`.
    external_url: String,
    /// The zone times are written in (`timezone:`).
    timezone: chrono_tz::Tz,
}

impl Renderer {
    pub fn new(target: &str, language: Language, templates: TargetTemplates) -> Renderer {
        Renderer {
            target: target.to_string(),
            language,
            templates,
            external_url: String::new(),
            timezone: chrono_tz::Tz::UTC,
        }
    }

    pub fn with_timezone(mut self, tz: chrono_tz::Tz) -> Renderer {
        self.timezone = tz;
        self
    }

    /// `t` in the target's zone: `2024-05-01 16:40:00 +08:00`
    /// (`... UTC` where the zone is at UTC).
    pub fn time(&self, t: chrono::DateTime<chrono::Utc>) -> String {
        self.time_as(t, "%Y-%m-%d %H:%M:%S")
    }

    /// `t` in the target's zone in `pattern` (strftime, no zone), then the
    /// zone's offset.
    pub fn time_as(&self, t: chrono::DateTime<chrono::Utc>, pattern: &str) -> String {
        format_time_in(t, self.timezone, pattern)
    }

    /// `t` in the target's zone as a file-name stamp: `pattern` (strftime,
    /// no zone, no `:`) then the offset as `+0800` (`Z` at UTC).
    pub fn file_stamp(&self, t: chrono::DateTime<chrono::Utc>, pattern: &str) -> String {
        use chrono::Offset;
        let local = t.with_timezone(&self.timezone);
        let zone = if local.offset().fix().local_minus_utc() == 0 {
            "Z".to_string()
        } else {
            local.format("%z").to_string()
        };
        format!("{}{zone}", local.format(pattern))
    }

    pub fn with_external_url(mut self, url: String) -> Renderer {
        self.external_url = url;
        self
    }

    pub fn external_url(&self) -> &str {
        &self.external_url
    }

    pub fn language(&self) -> Language {
        self.language
    }

    fn words(&self) -> &'static Words {
        match self.language {
            Language::En => &EN,
            Language::Zh => &ZH,
        }
    }

    pub fn status_text(&self, kind: MessageKind) -> &'static str {
        let w = self.words();
        match kind {
            MessageKind::Firing => w.firing,
            MessageKind::Resolved => w.resolved,
            MessageKind::Escalated => w.escalated,
            MessageKind::Deescalated => w.deescalated,
            MessageKind::Acknowledged => w.acknowledged,
        }
    }

    pub fn severity_text(&self, s: Severity) -> &'static str {
        match s {
            Severity::Warning => self.words().warning,
            Severity::Error => self.words().error,
        }
    }

    /// The line the test message adds (`notify-test`).
    pub fn test_note(&self) -> &'static str {
        self.words().test_note
    }

    pub fn view(&self, m: &AlertMessage) -> AlertView {
        let labels_text = m
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "alertname" && k.as_str() != "severity")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let lasted = m
            .lasted()
            .map(|d| format_duration_secs(d.num_milliseconds() as f64 / 1000.0));
        let value_text = m.value.map(format_value).unwrap_or_default();
        AlertView {
            status: m.kind.as_str(),
            status_text: self.status_text(m.kind),
            alert: m.alert.clone(),
            severity: m.severity.as_str(),
            severity_text: self.severity_text(m.severity),
            previous_severity: m.previous_severity.map(Severity::as_str),
            message: m.headline(),
            value: m.value,
            recovery: (m.kind == MessageKind::Resolved)
                .then(|| self.recovery(m, &value_text, lasted.as_deref())),
            value_text,
            resolution: m.resolution.clone(),
            labels: m.labels.clone(),
            labels_text,
            since: self.time(m.starts_at),
            lasted,
            fingerprint: m.fingerprint.to_string(),
            ack_url: m.ack_url.clone(),
        }
    }

    /// What a resolved notice says happened: the rule's `resolved_message`,
    /// else "Back to normal: value now 7000, after 1h 2m".
    fn recovery(&self, m: &AlertMessage, value: &str, lasted: Option<&str>) -> String {
        if !m.texts.resolved_message.is_empty() {
            return m.texts.resolved_message.clone();
        }
        let w = self.words();
        let zh = self.language == Language::Zh;
        let mut out = w.back_to_normal.to_string();
        let mut parts = Vec::new();
        if !value.is_empty() {
            parts.push(format!("{} {value}", w.value_now.to_lowercase()));
        }
        if let Some(l) = lasted {
            parts.push(if zh {
                format!("{} {l}", w.lasted)
            } else {
                format!("after {l}")
            });
        }
        if !parts.is_empty() {
            out.push_str(if zh { "，" } else { ": " });
            out.push_str(&parts.join(if zh { "，" } else { ", " }));
        }
        out
    }

    pub fn context(&self, batch: &[AlertMessage]) -> MessageContext {
        let firing = batch.iter().any(|m| m.kind != MessageKind::Resolved);
        MessageContext {
            target: self.target.clone(),
            language: self.language,
            status: if firing { "firing" } else { "resolved" },
            count: batch.len(),
            alerts: batch.iter().map(|m| self.view(m)).collect(),
        }
    }

    /// `[FIRING] DiskFull (error)`, or for several alerts
    /// `[FIRING] 3 alerts: DiskFull, CpuHigh`; a `templates.title` replaces it.
    pub fn title(&self, batch: &[AlertMessage]) -> String {
        if let Some(t) = &self.templates.title {
            return one_line(&render_notification_template(t, &self.context(batch)));
        }
        self.default_title(batch)
    }

    fn default_title(&self, batch: &[AlertMessage]) -> String {
        let Some(first) = batch.first() else {
            return String::new();
        };
        let zh = self.language == Language::Zh;
        let (open, close) = if zh { ("【", "】") } else { ("[", "] ") };
        if batch.len() == 1 {
            let sev = self.severity_text(first.severity);
            let sev = if zh {
                format!("（{sev}）")
            } else {
                format!(" ({sev})")
            };
            return format!(
                "{open}{}{close}{}{sev}",
                self.status_text(first.kind),
                first.alert
            );
        }
        let mut kinds: Vec<MessageKind> = Vec::new();
        for m in batch {
            if !kinds.contains(&m.kind) {
                kinds.push(m.kind);
            }
        }
        let status = kinds
            .iter()
            .map(|k| self.status_text(*k))
            .collect::<Vec<_>>()
            .join("/");
        let mut names: Vec<&str> = Vec::new();
        for m in batch {
            if !names.contains(&m.alert.as_str()) {
                names.push(&m.alert);
            }
        }
        let sep = if zh { "：" } else { ": " };
        let mut listed = names
            .iter()
            .take(TITLE_NAMES)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > TITLE_NAMES {
            listed.push_str(&format!(", +{}", names.len() - TITLE_NAMES));
        }
        format!(
            "{open}{status}{close}{} {}{sep}{listed}",
            batch.len(),
            self.words().alerts,
        )
    }

    /// The title of one alert within a message.
    pub fn alert_title(&self, m: &AlertMessage) -> String {
        self.default_title(std::slice::from_ref(m))
    }

    /// Label / value pairs of one alert, in reading order; empty ones left out.
    pub fn facts(&self, m: &AlertMessage) -> Vec<(&'static str, String)> {
        let w = self.words();
        let v = self.view(m);
        // A resolved notice: what recovered first, then the text as it fired.
        let mut out = match v.recovery {
            Some(r) => vec![(w.recovered, r), (w.fired, v.message)],
            None => vec![(w.message, v.message)],
        };
        if !m.acknowledged_by.is_empty() {
            out.insert(0, (w.acknowledged_by, m.acknowledged_by.clone()));
        }
        let severity = match m.previous_severity {
            Some(p) => format!("{} → {}", self.severity_text(p), v.severity_text),
            None => v.severity_text.to_string(),
        };
        out.push((w.severity, severity));
        if !v.value_text.is_empty() {
            let label = if m.kind == MessageKind::Resolved {
                w.value_now
            } else {
                w.value
            };
            out.push((label, v.value_text));
        }
        if !v.resolution.is_empty() {
            out.push((w.resolution, v.resolution));
        }
        if !v.labels_text.is_empty() {
            out.push((w.labels, v.labels_text));
        }
        out.push((w.since, v.since));
        if let Some(l) = v.lasted {
            out.push((w.lasted, l));
        }
        if !v.ack_url.is_empty() {
            out.push((w.acknowledge, v.ack_url));
        }
        out
    }

    /// Column names of the email table and CSV, in the message's language.
    pub fn columns(&self) -> [&'static str; 9] {
        let w = self.words();
        let (status, alert) = match self.language {
            Language::En => ("Status", "Alert"),
            Language::Zh => ("状态", "告警名称"),
        };
        [
            status,
            alert,
            w.severity,
            w.message,
            w.value,
            w.resolution,
            w.labels,
            w.since,
            w.lasted,
        ]
    }

    /// One row per alert for the table and CSV, matching [`Renderer::columns`].
    pub fn row(&self, m: &AlertMessage) -> [String; 9] {
        let v = self.view(m);
        [
            v.status_text.to_string(),
            v.alert,
            v.severity_text.to_string(),
            v.message,
            v.value_text,
            v.resolution,
            v.labels_text,
            v.since,
            v.lasted.unwrap_or_default(),
        ]
    }

    /// The body in `markup`; a `templates.text` replaces the default.
    pub fn body(&self, batch: &[AlertMessage], markup: Markup) -> String {
        if let Some(t) = &self.templates.text {
            return render_notification_template(t, &self.context(batch));
        }
        if batch.len() > COMPACT_AFTER {
            return self.compact_body(batch, markup);
        }
        let mut out = String::new();
        for (i, m) in batch.iter().enumerate() {
            if i > 0 {
                out.push_str(match markup {
                    Markup::Plain | Markup::Slack => "\n\n",
                    _ => "\n\n---\n\n",
                });
            }
            self.write_alert(&mut out, m, markup);
        }
        out
    }

    /// A storm's body: one line per alert (status, name, message or value,
    /// labels),
    /// each at most [`COMPACT_LINE`] bytes, so that a message holds many
    /// alerts and every one of them is still named.
    fn compact_body(&self, batch: &[AlertMessage], markup: Markup) -> String {
        let mut out = String::new();
        for m in batch {
            let v = self.view(m);
            let mut line = format!("[{}] {} ({})", v.status_text, m.alert, v.severity_text);
            // The message usually carries the value; without one, the value.
            // (shortened, so that the labels that tell alerts apart fit too).
            let text = match &v.recovery {
                Some(r) if !m.texts.resolved_message.is_empty() => r,
                _ => &v.message,
            };
            if !text.is_empty() {
                line.push_str(&format!(": {}", shorten_chars(&one_line(text), 60)));
            } else if !v.value_text.is_empty() {
                line.push_str(&format!(" = {}", v.value_text));
            }
            if !v.labels_text.is_empty() {
                line.push_str(&format!(" · {}", v.labels_text));
            }
            let line = one_line(&line);
            let line = if line.len() > COMPACT_LINE {
                format!("{}…", cut_at_boundary(&line, COMPACT_LINE - 3))
            } else {
                line
            };
            if !out.is_empty() {
                out.push('\n');
            }
            match markup {
                Markup::Plain => out.push_str(&line),
                Markup::Markdown | Markup::WeComMarkdown => {
                    out.push_str(&format!("- {}", md_escape(&line)))
                }
                Markup::Slack => out.push_str(&format!("• {}", slack_escape(&line))),
            }
        }
        out
    }

    fn write_alert(&self, out: &mut String, m: &AlertMessage, markup: Markup) {
        let title = self.alert_title(m);
        match markup {
            Markup::Plain => out.push_str(&title),
            Markup::Markdown => out.push_str(&format!("### {}", md_escape(&title))),
            Markup::WeComMarkdown => {
                let color = match (m.kind, m.severity) {
                    (MessageKind::Resolved, _) => "info",
                    (_, Severity::Error) => "warning",
                    _ => "comment",
                };
                out.push_str(&format!(
                    "### <font color=\"{color}\">{}</font>",
                    md_escape(&title)
                ))
            }
            Markup::Slack => out.push_str(&format!("*{}*", slack_escape(&title))),
        }
        let ack = self.words().acknowledge;
        for (label, value) in self.facts(m) {
            out.push('\n');
            if label == ack && markup != Markup::Plain {
                // A link people tap, not an escaped address.
                match markup {
                    Markup::Slack => out.push_str(&format!("<{value}|{label}>")),
                    _ => out.push_str(&format!("> [{label}]({value})\n")),
                }
                continue;
            }
            match markup {
                Markup::Plain => out.push_str(&format!("{label}: {value}")),
                Markup::Markdown | Markup::WeComMarkdown => {
                    out.push_str(&format!("> **{label}**: {}\n", md_escape(&value)))
                }
                Markup::Slack => out.push_str(&format!("*{label}*: {}", slack_escape(&value))),
            }
        }
    }

    /// `text` cut to `max_bytes` with a marker saying so (see [`shorten`]).
    pub fn shorten(&self, text: &str, max_bytes: usize) -> String {
        shorten(text, max_bytes, self.words().truncated)
    }

    /// Shortens the text inside a request body until the serialized body fits
    /// `max_bytes` (JSON escaping inflates non-ASCII text, so the body is
    /// measured, not the text). Returns the text used.
    pub fn fit(&self, text: &str, max_bytes: usize, body_len: impl Fn(&str) -> usize) -> String {
        let mut current = text.to_string();
        for _ in 0..12 {
            let len = body_len(&current);
            if len <= max_bytes {
                return current;
            }
            let excess = len - max_bytes;
            // Escaping can make a text byte cost up to 6 body bytes.
            let ratio = len as f64 / current.len().max(1) as f64;
            let cut = ((excess as f64 / ratio.max(1.0)).ceil() as usize).max(16) + 16;
            let target = current.len().saturating_sub(cut);
            current = self.shorten(&current, target);
            if target == 0 {
                break;
            }
        }
        current
    }
}

pub use crate::template::format_time_in;

/// Cuts `text` to at most `max_bytes` bytes on a UTF-8 boundary, preferring
/// the end of a line when one is near, and appends `marker` on its own line.
pub fn shorten(text: &str, max_bytes: usize, marker: &str) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let suffix = format!("\n…{marker}");
    if max_bytes <= suffix.len() {
        return cut_at_boundary(text, max_bytes).to_string();
    }
    let keep = cut_at_boundary(text, max_bytes - suffix.len());
    // Prefer a whole line when that keeps most of the text (markup stays intact).
    let keep = match keep.rfind('\n') {
        Some(i) if i >= keep.len() * 3 / 4 => &keep[..i],
        _ => keep,
    };
    format!("{}{suffix}", keep.trim_end())
}

/// The longest prefix of `text` of at most `max` bytes ending on a char boundary.
pub fn cut_at_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// At most `max` characters (Slack and PagerDuty count characters).
pub fn shorten_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// `98.0` → `98`, `0.30000000000000004` → `0.3`, large values kept whole.
pub fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Keeps user text from turning into markdown structure at a line start.
fn md_escape(s: &str) -> String {
    s.replace('\n', " ")
}

/// Slack needs `&`, `<`, `>` escaped in text that is not control syntax.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Fingerprint, Labels};
    use chrono::TimeZone;

    fn msg(kind: MessageKind) -> AlertMessage {
        let mut labels = Labels::new();
        labels.insert("alertname".into(), "DiskFull".into());
        labels.insert("host".into(), "db-1".into());
        labels.insert("severity".into(), "error".into());
        let start = chrono::Utc.with_ymd_and_hms(2024, 5, 1, 8, 40, 0).unwrap();
        AlertMessage {
            kind,
            fingerprint: Fingerprint(7),
            group: "g".into(),
            alert: "DiskFull".into(),
            severity: Severity::Error,
            previous_severity: None,
            labels,
            annotations: Default::default(),
            message: "Disk almost full: 98.5%".into(),
            resolution: "Delete old backups".into(),
            texts: Default::default(),
            value: Some(98.5),
            starts_at: start,
            ends_at: (kind == MessageKind::Resolved)
                .then(|| start + chrono::Duration::seconds(3723)),
            group_labels: Labels::new(),
            mentions: Default::default(),
            format: Default::default(),
            generator_url: String::new(),
            ack_url: String::new(),
            acknowledged_by: String::new(),
        }
    }

    #[test]
    fn a_firing_message_carries_its_acknowledge_link() {
        let mut m = msg(MessageKind::Firing);
        m.ack_url = "https://tocsin.example/ack/0000000000000007?f=1&e=2&s=x_y".into();
        let r = Renderer::new("t", Language::En, Default::default());
        let plain = r.body(std::slice::from_ref(&m), Markup::Plain);
        assert!(
            plain.contains(
                "Acknowledge or silence: https://tocsin.example/ack/0000000000000007?f=1&e=2&s=x_y"
            ),
            "{plain}"
        );
        let md = r.body(std::slice::from_ref(&m), Markup::Markdown);
        assert!(md.contains("> [Acknowledge or silence](https://tocsin.example/ack/0000000000000007?f=1&e=2&s=x_y)"), "{md}");
        let zh = Renderer::new("t", Language::Zh, Default::default());
        assert!(
            zh.body(std::slice::from_ref(&m), Markup::Plain)
                .contains("认领或静默: https://")
        );
        let slack = r.body(std::slice::from_ref(&m), Markup::Slack);
        assert!(
            slack.contains(
                "<https://tocsin.example/ack/0000000000000007?f=1&e=2&s=x_y|Acknowledge or silence>"
            ),
            "{slack}"
        );
    }

    #[test]
    fn a_storm_lists_every_alert_on_one_line() {
        let r = renderer(Language::En);
        let batch: Vec<AlertMessage> = (0..COMPACT_AFTER + 2)
            .map(|i| {
                let mut m = msg(MessageKind::Firing);
                m.labels.insert("host".into(), format!("db-{i}"));
                m.message = format!("Disk almost full: {i}%");
                m
            })
            .collect();
        let body = r.body(&batch, Markup::Markdown);
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), batch.len(), "{body}");
        assert_eq!(
            lines[3],
            "- [FIRING] DiskFull (error): Disk almost full: 3% · host=db-3"
        );
        assert!(lines.iter().all(|l| l.len() <= COMPACT_LINE + 2));
        let title = r.title(&batch);
        assert!(title.starts_with("[FIRING] 12 alerts: DiskFull"), "{title}");
    }

    fn renderer(lang: Language) -> Renderer {
        Renderer::new("t", lang, TargetTemplates::default())
    }

    #[test]
    fn english_message_carries_every_part() {
        let r = renderer(Language::En);
        let body = r.body(&[msg(MessageKind::Firing)], Markup::Plain);
        assert_eq!(
            body,
            "[FIRING] DiskFull (error)\nMessage: Disk almost full: 98.5%\nSeverity: error\nValue: 98.5\nResolution: Delete old backups\nLabels: host=db-1\nSince: 2024-05-01 08:40:00 UTC"
        );
        let body = r.body(&[msg(MessageKind::Resolved)], Markup::Plain);
        assert!(body.starts_with("[RESOLVED] DiskFull (error)"), "{body}");
        assert!(body.ends_with("Lasted: 1h 2m 3s"), "{body}");
    }

    #[test]
    fn times_are_written_in_the_targets_zone() {
        let r = renderer(Language::En).with_timezone(chrono_tz::Tz::Asia__Shanghai);
        let body = r.body(&[msg(MessageKind::Firing)], Markup::Plain);
        assert!(
            body.ends_with("Since: 2024-05-01 16:40:00 +08:00"),
            "{body}"
        );
        // Summer time where the zone has it; a zero offset reads UTC.
        let berlin = renderer(Language::En).with_timezone(chrono_tz::Tz::Europe__Berlin);
        assert_eq!(
            berlin.view(&msg(MessageKind::Firing)).since,
            "2024-05-01 10:40:00 +02:00"
        );
        let winter = chrono::Utc.with_ymd_and_hms(2024, 1, 10, 8, 0, 0).unwrap();
        assert_eq!(berlin.time(winter), "2024-01-10 09:00:00 +01:00");
        let london = renderer(Language::En).with_timezone(chrono_tz::Tz::Europe__London);
        assert_eq!(london.time_as(winter, "%m-%d %H:%M"), "01-10 08:00 UTC");
    }

    #[test]
    fn chinese_wording() {
        let r = renderer(Language::Zh);
        let batch = [msg(MessageKind::Firing)];
        assert_eq!(r.title(&batch), "【告警】DiskFull（严重）");
        let body = r.body(&batch, Markup::Markdown);
        assert!(
            body.contains("> **处理建议**: Delete old backups"),
            "{body}"
        );
        assert!(body.contains("> **当前值**: 98.5"), "{body}");
        let resolved = r.body(&[msg(MessageKind::Resolved)], Markup::Plain);
        assert!(resolved.contains("持续时间: 1h 2m 3s"), "{resolved}");
    }

    #[test]
    fn several_alerts_in_one_title() {
        let r = renderer(Language::En);
        let batch = [msg(MessageKind::Firing), msg(MessageKind::Resolved)];
        assert_eq!(r.title(&batch), "[FIRING/RESOLVED] 2 alerts: DiskFull");
    }

    #[test]
    fn templates_override_the_wording() {
        let r = Renderer::new(
            "ops",
            Language::En,
            TargetTemplates {
                title: Some("{{ count }} on {{ target }}".into()),
                text: Some(
                    "{% for a in alerts %}{{ a.alert }}={{ a.value_text }} since {{ a.since }}{% endfor %}"
                        .into(),
                ),
            },
        );
        let batch = [msg(MessageKind::Firing)];
        assert_eq!(r.title(&batch), "1 on ops");
        assert_eq!(
            r.body(&batch, Markup::Markdown),
            "DiskFull=98.5 since 2024-05-01 08:40:00 UTC"
        );
    }

    #[test]
    fn shortening_is_utf8_safe_and_marked() {
        let text = "告警".repeat(1000); // 6000 bytes
        for max in [10, 100, 2048, 4095] {
            let s = shorten(&text, max, "(cut)");
            assert!(s.len() <= max, "{max}: {}", s.len());
            assert!(std::str::from_utf8(s.as_bytes()).is_ok());
        }
        assert!(shorten(&text, 100, "(cut)").ends_with("\n…(cut)"));
        assert_eq!(shorten("short", 100, "(cut)"), "short");
        // prefers a line end close to the limit
        let lines = "line one\nline two\nline three";
        assert_eq!(shorten(lines, 24, "x"), "line one\nline two\n…x");
    }

    #[test]
    fn fit_measures_the_serialized_body() {
        let r = renderer(Language::Zh);
        let text = "\"引号\"".repeat(2000);
        let body = |t: &str| {
            serde_json::to_vec(&serde_json::json!({"text": {"content": t}}))
                .unwrap()
                .len()
        };
        let fitted = r.fit(&text, 2048, body);
        assert!(body(&fitted) <= 2048, "{}", body(&fitted));
        assert!(body(&fitted) > 1500, "cut far too much: {}", body(&fitted));
        assert!(fitted.ends_with("（消息过长，已截断）"));
    }

    #[test]
    fn values_read_well() {
        assert_eq!(format_value(98.0), "98");
        assert_eq!(format_value(0.1 + 0.2), "0.3");
        assert_eq!(format_value(-1.23456), "-1.2346");
        assert_eq!(shorten_chars("abcdef", 4), "abc…");
    }
}
