//! The positioned-key machinery of targets: how a target's type-specific keys
//! are read and handed to its channel. Each channel declares its keys
//! ([`Key`]: a name and the YAML shape of its value) in its own `config.rs`;
//! [`RawTarget`]'s reader takes the common keys itself and every other key a
//! channel declares into [`TargetKeys`], each value with its position, and
//! rejects a key no channel declares (serde's "unknown field", listing every
//! key). The channel's check then reads its keys through [`TargetCheck`],
//! whose helpers hold the checks several channels share (URLs, secrets and
//! their `_file` twins, mentions, `format: markdown|text`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::Secret;
use super::people::{Contact, secret_or_file};
use super::targets::{COMMON_KEYS, RawTarget, RawTemplates, TargetContext};
use crate::notify::channels::{self, sms::RawParams};
use crate::yaml::{HumanDuration, SourceError, Spanned};

/// Declares the YAML shapes a type-specific key may have: one line per
/// shape gives its [`KeyShape`] variant, the Rust type it is read as, and
/// the name of both the [`Key`] constructor and the [`TargetKeys`] getter.
/// A channel whose key has a shape not listed here adds a line.
macro_rules! shapes {
    ($($shape:ident($t:ty) => $name:ident;)*) => {
        /// The YAML shape of a type-specific key's value.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum KeyShape {
            $($shape,)*
        }

        /// A type-specific key's value, as written, with its position.
        #[derive(Debug, Clone)]
        enum Value {
            $($shape(Spanned<$t>),)*
        }

        impl Value {
            /// Reads the next map value in `shape`; `None` when it is null.
            fn read<'de, A: MapAccess<'de>>(
                shape: KeyShape,
                map: &mut A,
            ) -> Result<Option<Value>, A::Error> {
                Ok(match shape {
                    $(KeyShape::$shape => map.next_value::<Option<Spanned<$t>>>()?.map(Value::$shape),)*
                })
            }

            fn position(&self) -> (u32, u32) {
                let at = match self {
                    $(Value::$shape(s) => s.referenced,)*
                };
                (at.line() as u32, at.column() as u32)
            }
        }

        impl TargetKeys {
            $(
                pub fn $name(&self, key: &str) -> Option<&Spanned<$t>> {
                    match self.get(key)? {
                        Value::$shape(v) => Some(v),
                        _ => None,
                    }
                }
            )*
        }

        impl Key {
            $(
                pub const fn $name(name: &'static str) -> Key {
                    Key { name, shape: KeyShape::$shape }
                }
            )*
        }
    };
}

shapes! {
    Text(String) => text;
    Secret(Secret) => secret;
    Path(PathBuf) => path;
    Flag(bool) => flag;
    Integer(i64) => integer;
    Count(usize) => count;
    Small(u32) => small;
    Duration(HumanDuration) => duration;
    Names(Vec<Spanned<String>>) => names;
    List(Vec<String>) => list;
    Headers(BTreeMap<String, Secret>) => headers;
    Params(RawParams) => params;
}

/// A type-specific key: its name and the shape of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub name: &'static str,
    pub shape: KeyShape,
}

/// `proxy`: a common key ([`super::TargetConfig::proxy`]) that only the
/// HTTP channels accept, so it is listed among their keys.
pub const PROXY: Key = Key::secret("proxy");

/// The keys of a group robot that signs its posts (DingTalk, Feishu): its
/// `webhook`, signing `secret`, `keyword`, `mention`, `mention_all`,
/// `format` and `proxy`.
pub const SIGNED_ROBOT_KEYS: &[Key] = &[
    Key::secret("webhook"),
    Key::path("webhook_file"),
    Key::secret("secret"),
    Key::path("secret_file"),
    Key::text("keyword"),
    Key::names("mention"),
    Key::flag("mention_all"),
    Key::text("format"),
    PROXY,
];

/// The type-specific keys a target sets, in the order they were read.
#[derive(Debug, Clone, Default)]
pub struct TargetKeys(Vec<(&'static str, Value)>);

impl TargetKeys {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether `key` is set.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The position of `key`'s value, when it is set.
    pub fn position(&self, key: &str) -> Option<(u32, u32)> {
        self.get(key).map(Value::position)
    }
}

/// Every key a target may have: the common ones, `proxy`, then each
/// channel's in the order of the channel table (the list serde's "unknown
/// field" names, and the order keys of another type are reported in).
pub fn all_keys() -> &'static [&'static str] {
    static ALL: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        let mut all: Vec<&'static str> = COMMON_KEYS.to_vec();
        all.push(PROXY.name);
        for t in channels::TYPES {
            for k in t.keys {
                if !all.contains(&k.name) {
                    all.push(k.name);
                }
            }
        }
        all
    });
    ALL.as_slice()
}

/// The shape of a type-specific key: the first channel declaring it says.
fn shape_of(key: &str) -> Option<KeyShape> {
    channels::TYPES
        .iter()
        .flat_map(|t| t.keys)
        .find(|k| k.name == key)
        .map(|k| k.shape)
}

impl<'de> Deserialize<'de> for RawTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawTarget, D::Error> {
        d.deserialize_struct("RawTarget", all_keys(), TargetVisitor)
    }
}

/// A key of a target: one of [`all_keys`], else serde's "unknown field".
struct KeyName;

impl<'de> DeserializeSeed<'de> for KeyName {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeyName {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<&'static str, E> {
        all_keys()
            .iter()
            .find(|k| **k == v)
            .copied()
            .ok_or_else(|| E::unknown_field(v, all_keys()))
    }
}

struct TargetVisitor;

impl<'de> Visitor<'de> for TargetVisitor {
    type Value = RawTarget;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct RawTarget")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTarget, A::Error> {
        /// Reads a common key's value once (a second time is an error).
        fn once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
            map: &mut A,
            slot: &mut Option<T>,
            key: &'static str,
        ) -> Result<(), A::Error> {
            if slot.is_some() {
                return Err(de::Error::duplicate_field(key));
            }
            *slot = Some(map.next_value()?);
            Ok(())
        }
        let mut name = None;
        let mut kind = None;
        let mut enabled = None;
        let mut send_resolved = None;
        let mut language = None;
        let mut timezone = None;
        let mut templates: Option<Option<Spanned<RawTemplates>>> = None;
        let mut timeout = None;
        let mut max_alerts = None;
        let mut proxy = None;
        let mut keys = TargetKeys::default();
        while let Some(key) = map.next_key_seed(KeyName)? {
            match key {
                "name" => once(&mut map, &mut name, key)?,
                "type" => once(&mut map, &mut kind, key)?,
                "enabled" => once(&mut map, &mut enabled, key)?,
                "send_resolved" => once(&mut map, &mut send_resolved, key)?,
                "language" => once(&mut map, &mut language, key)?,
                "timezone" => once(&mut map, &mut timezone, key)?,
                "templates" => once(&mut map, &mut templates, key)?,
                "timeout" => once(&mut map, &mut timeout, key)?,
                "max_alerts" => once(&mut map, &mut max_alerts, key)?,
                "proxy" => once(&mut map, &mut proxy, key)?,
                other => {
                    if keys.has(other) {
                        return Err(de::Error::duplicate_field(other));
                    }
                    let Some(shape) = shape_of(other) else {
                        return Err(de::Error::unknown_field(other, all_keys()));
                    };
                    if let Some(v) = Value::read(shape, &mut map)? {
                        keys.0.push((other, v));
                    }
                }
            }
        }
        Ok(RawTarget {
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            kind: kind.ok_or_else(|| de::Error::missing_field("type"))?,
            enabled: enabled.flatten(),
            send_resolved: send_resolved.flatten(),
            language: language.flatten(),
            timezone: timezone.flatten(),
            templates: templates.flatten(),
            timeout: timeout.flatten(),
            max_alerts: max_alerts.flatten(),
            proxy: proxy.flatten(),
            keys,
        })
    }
}

/// Markdown or plain text (DingTalk, WeCom): `format: markdown | text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFormat {
    Markdown,
    Text,
}

/// A `mention:` entry: a contact (of a contact or group name), or an entry
/// that names none, as written.
#[derive(Debug, Clone, Copy)]
pub enum Mention<'a> {
    Contact(&'a Contact),
    Raw(&'a str),
}

/// One target's type-specific keys while its channel checks them, with what
/// the checks need from the rest of the config.
pub struct TargetCheck<'a> {
    pub file: &'a Path,
    pub name: &'a Spanned<String>,
    /// The `type` (aliases resolved).
    pub type_name: &'static str,
    pub keys: &'a TargetKeys,
    pub cx: &'a TargetContext<'a>,
}

impl TargetCheck<'_> {
    /// The target's name.
    pub fn target(&self) -> &str {
        &self.name.value
    }

    /// An error at `at`.
    pub fn err<T>(&self, at: &Spanned<T>, message: impl Into<String>) -> SourceError {
        SourceError::at(self.file, at, message)
    }

    /// An error at the target's `name`.
    pub fn err_at_name(&self, message: impl Into<String>) -> SourceError {
        self.err(self.name, message)
    }

    /// An error at a position from [`TargetKeys::position`].
    pub fn err_at(&self, (line, col): (u32, u32), message: impl Into<String>) -> SourceError {
        SourceError {
            file: self.file.to_path_buf(),
            line,
            col,
            message: message.into(),
        }
    }

    /// ``<type> target "<name>" needs a `<what>` `` at the name.
    pub fn need(&self, what: &str, errors: &mut Vec<SourceError>) {
        errors.push(self.err_at_name(format!(
            "{} target {:?} needs a `{what}`",
            self.type_name,
            self.target()
        )));
    }

    /// Whether a flag key is set to true.
    pub fn is_true(&self, key: &str) -> bool {
        self.keys.flag(key).is_some_and(|b| b.value)
    }

    /// A text key's value, cloned.
    pub fn text_of(&self, key: &str) -> Option<String> {
        self.keys.text(key).map(|s| s.value.clone())
    }

    /// `key` or the file named by `<key>_file`.
    pub fn secret_or_file(&self, key: &str, errors: &mut Vec<SourceError>) -> Option<Secret> {
        secret_or_file(
            self.file,
            key,
            self.keys.secret(key),
            self.keys.path(&format!("{key}_file")),
            errors,
        )
    }

    /// [`Self::secret_or_file`], and "needs a `key`" when neither is set.
    pub fn required_secret(&self, key: &str, errors: &mut Vec<SourceError>) -> Option<Secret> {
        let s = self.secret_or_file(key, errors);
        if !self.has_secret(key) {
            self.need(key, errors);
        }
        s
    }

    /// Whether `key` or `<key>_file` is set.
    pub fn has_secret(&self, key: &str) -> bool {
        self.keys.has(key) || self.keys.has(&format!("{key}_file"))
    }

    /// The position of `key` or `<key>_file`, else of the name.
    fn secret_position(&self, key: &str) -> (u32, u32) {
        self.keys
            .position(key)
            .or_else(|| self.keys.position(&format!("{key}_file")))
            .unwrap_or((
                self.name.referenced.line() as u32,
                self.name.referenced.column() as u32,
            ))
    }

    /// An http(s) URL in `key` or `<key>_file`, "needs a `key`" when neither
    /// is set. The URL may hold a token: an error says what is wrong with
    /// it, never what it is.
    pub fn url(&self, key: &str, errors: &mut Vec<SourceError>) -> Option<Secret> {
        let s = match self.secret_or_file(key, errors) {
            None => {
                if !self.has_secret(key) {
                    self.need(key, errors);
                }
                return None;
            }
            Some(s) => s,
        };
        match reqwest::Url::parse(s.expose()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(s),
            _ => {
                errors.push(self.err_at(
                    self.secret_position(key),
                    format!(
                        "`{key}` of target {:?} is not an http(s) URL",
                        self.target()
                    ),
                ));
                None
            }
        }
    }

    /// Where `key`'s secret was read from, for an error about its value.
    pub fn secret_error(&self, key: &str, message: String) -> SourceError {
        self.err_at(self.secret_position(key), message)
    }

    /// `mention:` resolved to each contact's `field` (`need` names it); an
    /// entry that is no contact or group name is taken as written when
    /// `raw` accepts it (`expected` says what it must look like).
    pub fn mentions(
        &self,
        need: &str,
        field: fn(&Contact) -> Option<&String>,
        raw: fn(&str) -> bool,
        expected: &str,
        errors: &mut Vec<SourceError>,
    ) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        self.each_mention(
            expected,
            |m| {
                let v = match m {
                    Mention::Contact(c) => field(c)
                        .map(|v| v.trim())
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| format!("no `{need}`"))?,
                    Mention::Raw(v) if raw(v) => v,
                    Mention::Raw(_) => return Err(String::new()),
                };
                if !found.iter().any(|o| o == v) {
                    found.push(v.to_string());
                }
                Ok(())
            },
            errors,
        );
        found
    }

    /// Each `mention:` entry in order: each contact of a contact or group
    /// name, then any other entry (trimmed) as written, goes to `take`. It
    /// records how the contact or entry is mentioned, or fails: for a
    /// contact with what it lacks ("no `phone`"), for an entry that is no
    /// phone number or id of the channel (`expected` names the forms).
    /// Failures are errors at the entry.
    pub fn each_mention(
        &self,
        expected: &str,
        mut take: impl FnMut(Mention<'_>) -> Result<(), String>,
        errors: &mut Vec<SourceError>,
    ) {
        let Some(m) = self.keys.names("mention") else {
            return;
        };
        let what = format!("mention of target {:?}", self.target());
        for n in &m.value {
            match self.cx.directory.expand(&n.value) {
                Some(contacts) => {
                    for c in contacts {
                        if let Err(lacks) = take(Mention::Contact(c)) {
                            errors.push(self.err(
                                n,
                                format!(
                                    "{what} names {:?}, but contact {:?} has {lacks}",
                                    n.value,
                                    c.name()
                                ),
                            ));
                        }
                    }
                }
                None => {
                    if take(Mention::Raw(n.value.trim())).is_err() {
                        errors.push(self.err(
                            n,
                            format!(
                                "{what} names {:?}, but no contact or contact group has that name, and it is not {expected}{}",
                                n.value,
                                self.cx.directory.did_you_mean(&n.value)
                            ),
                        ));
                    }
                }
            }
        }
    }

    /// `keyword`, trimmed; None when empty.
    pub fn keyword(&self) -> Option<String> {
        self.keys
            .text("keyword")
            .map(|k| k.value.trim().to_string())
            .filter(|k| !k.is_empty())
    }

    /// `format: markdown | text` (default markdown).
    pub fn chat_format(&self, errors: &mut Vec<SourceError>) -> ChatFormat {
        match self.keys.text("format") {
            None => ChatFormat::Markdown,
            Some(f) => match f.value.as_str() {
                "markdown" => ChatFormat::Markdown,
                "text" => ChatFormat::Text,
                other => {
                    errors.push(self.err(
                        f,
                        format!("expected format markdown or text, got {other:?}"),
                    ));
                    ChatFormat::Markdown
                }
            },
        }
    }

    /// `headers:`, each name and value checked.
    pub fn headers(&self, errors: &mut Vec<SourceError>) -> BTreeMap<String, Secret> {
        let Some(h) = self.keys.headers("headers") else {
            return BTreeMap::new();
        };
        for (k, v) in &h.value {
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                errors.push(self.err(h, format!("{k:?} is not a valid header name")));
            } else if reqwest::header::HeaderValue::from_str(v.expose()).is_err() {
                errors.push(self.err(h, format!("the value of header {k:?} is not valid")));
            }
        }
        h.value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_has_one_shape_whichever_channel_declares_it() {
        for t in channels::TYPES {
            for k in t.keys {
                assert_eq!(
                    shape_of(k.name),
                    Some(k.shape),
                    "`{}` of {}",
                    k.name,
                    t.name
                );
                assert!(!COMMON_KEYS.contains(&k.name), "`{}` of {}", k.name, t.name);
                let times = t.keys.iter().filter(|o| o.name == k.name).count();
                assert_eq!(times, 1, "`{}` of {}", k.name, t.name);
            }
        }
    }
}
