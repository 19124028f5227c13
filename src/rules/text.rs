//! `message`, `resolution` and `resolved_message`: one text, or one per
//! language (`{en: ..., zh: ...}`), as written ([`TextDoc`]) and validated
//! ([`RuleText`]).

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::template::{Template, TemplateContext};
use crate::yaml::Spanned;

/// A text key as written.
#[derive(Debug)]
pub enum TextDoc {
    /// `message: "..."`: the same text in every language.
    One(String),
    /// `message: {en: "...", zh: "..."}` (at least one of them).
    Languages {
        en: Option<Spanned<String>>,
        zh: Option<Spanned<String>>,
    },
}

impl<'de> Deserialize<'de> for TextDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = TextDoc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text, or one per language: {en: \"...\", zh: \"...\"}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextDoc, E> {
                Ok(TextDoc::One(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TextDoc, A::Error> {
                let (mut en, mut zh) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "en" => &mut en,
                        "zh" => &mut zh,
                        _ => {
                            return Err(de::Error::custom(format!(
                                "unknown language {key:?}, expected en or zh"
                            )));
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format!("language {key:?} given twice")));
                    }
                    *slot = Some(map.next_value::<Spanned<String>>()?);
                }
                if en.is_none() && zh.is_none() {
                    return Err(de::Error::custom(
                        "expected at least one of en or zh, e.g. {en: \"...\", zh: \"...\"}",
                    ));
                }
                Ok(TextDoc::Languages { en, zh })
            }
        }
        d.deserialize_any(TextVisitor)
    }
}

/// A validated text key: `main` is the English template or the only one,
/// `zh` the Chinese one when both are given.
#[derive(Debug)]
pub struct RuleText {
    pub main: Template,
    pub zh: Option<Template>,
}

impl RuleText {
    pub fn one(main: Template) -> RuleText {
        RuleText { main, zh: None }
    }

    /// Whether either language's template may use the variable `name`.
    pub fn mentions(&self, name: &str) -> bool {
        self.main.mentions(name) || self.zh.as_ref().is_some_and(|t| t.mentions(name))
    }

    /// The text rendered in its main language and, when the rule gave one,
    /// in Chinese (else empty).
    pub fn render(&self, ctx: &TemplateContext) -> (String, String) {
        let zh = self.zh.as_ref().map(|t| t.render(ctx)).unwrap_or_default();
        (self.main.render(ctx), zh)
    }
}
