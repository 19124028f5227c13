//! The languages people read alerts in, and the texts an alert carries in
//! the second one.
//!
//! A rule's `message`, `resolution` and `resolved_message` are one text or
//! `{en: ..., zh: ...}`. An alert keeps the English text (or the only one)
//! in its main fields and the Chinese one, when the rule wrote both, in
//! [`AlertTexts`]; [`pick`] chooses per target, falling back to the other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The language of a target's wording and of the texts it is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Zh,
}

/// The text for `lang`: `main` is the English text or the only one, `zh`
/// the Chinese text when the rule wrote both (else empty).
pub fn pick<'a>(lang: Language, main: &'a str, zh: &'a str) -> &'a str {
    match lang {
        Language::Zh if !zh.is_empty() => zh,
        _ => main,
    }
}

/// [`pick`] of owned texts: the chosen one is moved, not copied.
pub fn pick_owned(lang: Language, main: String, zh: String) -> String {
    match lang {
        Language::Zh if !zh.is_empty() => zh,
        _ => main,
    }
}

/// What an alert says besides its main `message` and `resolution`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertTexts {
    /// The Chinese message, when the rule wrote `{en, zh}`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message_zh: String,
    /// The Chinese resolution hint, when the rule wrote `{en, zh}`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resolution_zh: String,
    /// The rule's `resolved_message` (English or the only text), rendered
    /// when the alert resolved, with the value then; empty without one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resolved_message: String,
    /// Its Chinese text, when the rule wrote `{en, zh}`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resolved_message_zh: String,
    /// The run's output as `{{ output }}` wrote it into the texts above
    /// (heartbeat `failed` rules), so that each channel can cut it to its
    /// own limit ([`keep_tail`]); empty when no text shows it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
    /// `{{ since }}` as the texts above wrote it (in the config's zone), and
    /// the time it stands for, so that a target with its own `timezone` is
    /// sent it in that zone; empty / None when no text shows it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub since: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_at: Option<DateTime<Utc>>,
}

impl AlertTexts {
    pub fn is_empty(&self) -> bool {
        self == &AlertTexts::default()
    }

    /// The recovery text in `lang` (empty when the rule has none).
    pub fn resolved_in(&self, lang: Language) -> &str {
        pick(lang, &self.resolved_message, &self.resolved_message_zh)
    }
}

/// The most of a run's output an alert carries (`{{ output }}`), in bytes:
/// what the channels with the most room take (email, webhooks); the others
/// cut it further to their own limit when they send.
pub const OUTPUT_MAX_BYTES: usize = 32 * 1024;

/// The end of `text` in at most `max_bytes` bytes, cut on a UTF-8 boundary:
/// whole lines where a line break is near, after `marker` and a line break
/// when something was left out. A log's last lines say why it failed.
pub fn keep_tail(text: &str, max_bytes: usize, marker: &str) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let head = format!("{marker}\n");
    if max_bytes <= head.len() {
        return String::new();
    }
    let mut start = text.len() - (max_bytes - head.len());
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let tail = &text[start..];
    // Start at a line when one begins in the first quarter of what is kept.
    let tail = match tail.find('\n') {
        Some(i) if i < tail.len() / 4 => &tail[i + 1..],
        _ => tail,
    };
    format!("{head}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines_on_a_char_boundary() {
        assert_eq!(keep_tail("short", 100, "…"), "short");
        let log: String = (0..200).map(|i| format!("line {i}\n")).collect();
        let t = keep_tail(&log, 100, "[…]");
        assert!(t.len() <= 100, "{}", t.len());
        assert!(t.starts_with("[…]\nline "), "{t}");
        assert!(t.ends_with("line 199\n"), "{t}");
        let zh = "错".repeat(100);
        let t = keep_tail(&zh, 50, "…");
        assert!(t.len() <= 50 && t.ends_with('错'), "{t}");
        assert_eq!(keep_tail(&zh, 2, "…"), "");
    }

    #[test]
    fn a_language_falls_back_to_the_other() {
        assert_eq!(pick(Language::Zh, "high", "过高"), "过高");
        assert_eq!(pick(Language::En, "high", "过高"), "high");
        assert_eq!(pick(Language::Zh, "only one", ""), "only one");
        assert_eq!(pick(Language::En, "只有中文", ""), "只有中文");
    }
}
