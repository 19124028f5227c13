//! What the command line says to people, in English or Chinese: one
//! catalogue of its lines ([`cli`]) and one of the explanations in `check`
//! errors and warnings ([`explain`]). Positions (`file:line:col`), key
//! names, values and what other programs answered stay as they are.
//!
//! The language of a command is `--lang` (or `TOCSIN_LANG`), else the
//! config's top-level `language:`, else English ([`command_language`]).

pub mod cli;
pub mod explain;

use std::fmt::Display;
use std::path::Path;

use crate::alert::Language;

/// One line of the catalogue in both languages, with `{name}` holes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub en: &'static str,
    pub zh: &'static str,
}

impl Text {
    /// The line in `lang` as written (no holes filled).
    pub fn get(self, lang: Language) -> &'static str {
        match lang {
            Language::En => self.en,
            Language::Zh => self.zh,
        }
    }

    /// The line in `lang` with each `{name}` replaced by its value.
    pub fn fill(self, lang: Language, args: &[(&str, &dyn Display)]) -> String {
        fill(self.get(lang), args)
    }
}

/// `template` with each `{name}` of `args` replaced by its value; other
/// braces stay.
pub fn fill(template: &str, args: &[(&str, &dyn Display)]) -> String {
    let mut out = template.to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    out
}

/// The language of a command: `flag` (`--lang` / `TOCSIN_LANG`), else the
/// top-level `language:` of the config file at `config` (read leniently, so
/// that the errors of a config that does not load are explained in its
/// language too), else English.
pub fn command_language(flag: Option<Language>, config: Option<&Path>) -> Language {
    if let Some(l) = flag {
        return l;
    }
    let path = config.unwrap_or(Path::new(crate::config::DEFAULT_CONFIG_FILE));
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| language_in(&text))
        .unwrap_or_default()
}

/// The value of a top-level `language: en|zh` line of a YAML text, if any.
pub fn language_in(text: &str) -> Option<Language> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("language:")?;
        let value = rest.split('#').next().unwrap_or("").trim();
        match value.trim_matches(|c| c == '"' || c == '\'') {
            "zh" => Some(Language::Zh),
            "en" => Some(Language::En),
            _ => None,
        }
    })
}

/// The columns `s` takes in a terminal: two for CJK and full-width
/// characters, one for the others (what aligns a table of mixed text).
pub fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let wide = matches!(u32::from(c),
                0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
                | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
                | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6);
            if wide { 2 } else { 1 }
        })
        .sum()
}

/// `s` padded with spaces to `width` terminal columns.
pub fn pad(s: &str, width: usize) -> String {
    let w = display_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_line_is_found_in_a_config_that_does_not_load() {
        assert_eq!(
            language_in("listen: [1]\nlanguage: zh   # 中文\nbogus: 1\n"),
            Some(Language::Zh)
        );
        assert_eq!(language_in("language: \"en\"\n"), Some(Language::En));
        assert_eq!(language_in("targets:\n  - {language: zh}\n"), None);
        assert_eq!(language_in("language: fr\n"), None);
    }

    #[test]
    fn holes_are_filled_and_other_braces_kept() {
        let t = Text {
            en: "{n} of {m} ({x: y})",
            zh: "{m} 中的 {n}",
        };
        assert_eq!(
            t.fill(Language::En, &[("n", &1), ("m", &"2")]),
            "1 of 2 ({x: y})"
        );
        assert_eq!(t.fill(Language::Zh, &[("n", &1), ("m", &"2")]), "2 中的 1");
    }

    #[test]
    fn chinese_takes_two_columns() {
        assert_eq!(display_width("告警中"), 6);
        assert_eq!(pad("告警", 6), "告警  ");
        assert_eq!(pad("firing", 4), "firing");
    }
}
