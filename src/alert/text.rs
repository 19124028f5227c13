//! The languages people read alerts in, and the texts an alert carries in
//! the second one.
//!
//! A rule's `message`, `resolution` and `resolved_message` are one text or
//! `{en: ..., zh: ...}`. An alert keeps the English text (or the only one)
//! in its main fields and the Chinese one, when the rule wrote both, in
//! [`AlertTexts`]; [`pick`] chooses per target, falling back to the other.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_language_falls_back_to_the_other() {
        assert_eq!(pick(Language::Zh, "high", "过高"), "过高");
        assert_eq!(pick(Language::En, "high", "过高"), "high");
        assert_eq!(pick(Language::Zh, "only one", ""), "only one");
        assert_eq!(pick(Language::En, "只有中文", ""), "只有中文");
    }
}
