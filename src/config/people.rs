//! People and the mail server: `language`, `mailer:`, `owner:`, `contacts:`
//! and `contact_groups:`. Plain data; targets refer to contacts and groups by
//! name (mentions, mail recipients) and routing will too.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use crate::yaml::{HumanDuration, SourceError, Spanned};

/// The language of the default message wording (and of the texts of rules
/// that give two).
pub use crate::alert::Language;

/// A person who can be mailed or mentioned.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: Spanned<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Mobile number as the chat tools know it (DingTalk, WeCom mentions).
    /// Also where SMS and calls reach them (E.164, `+8613800000000`; a
    /// mainland mobile `13800000000` is read as `+86...`).
    #[serde(default)]
    pub phone: Option<Spanned<String>>,
    /// WeCom userid.
    #[serde(default)]
    pub wecom_user: Option<String>,
    /// Feishu/Lark open_id, union_id or user_id.
    #[serde(default)]
    pub feishu_user: Option<String>,
    #[serde(default)]
    pub language: Option<Language>,
    /// `false`: routes skip this contact.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
}

fn enabled_default() -> bool {
    true
}

impl Contact {
    pub fn name(&self) -> &str {
        &self.name.value
    }

    /// The phone as written.
    pub fn phone(&self) -> Option<&String> {
        self.phone.as_ref().map(|p| &p.value)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactGroup {
    pub name: Spanned<String>,
    #[serde(default)]
    pub members: Vec<Spanned<String>>,
    /// `false`: routes skip this group.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a relay on localhost or a trusted network).
    None,
    /// STARTTLS, required: no credentials or mail go out unencrypted.
    #[default]
    Starttls,
    /// Implicit TLS from the first byte (port 465).
    Wrapper,
}

/// `mailer:` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMailer {
    pub host: Spanned<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Spanned<Secret>>,
    #[serde(default)]
    pub password_file: Option<Spanned<PathBuf>>,
    /// `"tocsin <alerts@example.com>"`: the sender address with its display name.
    pub from: Spanned<String>,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// Accept any certificate (self-signed relays). Off by default.
    #[serde(default)]
    pub accept_invalid_certs: bool,
}

/// The SMTP server every email target sends through.
#[derive(Debug, Clone)]
pub struct MailerConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub timeout: Duration,
    pub accept_invalid_certs: bool,
}

impl RawMailer {
    pub(super) fn resolve(&self, file: &Path, errors: &mut Vec<SourceError>) -> MailerConfig {
        self.resolve_as(file, "mailer", errors)
    }

    /// [`Self::resolve`] for a server read elsewhere (an email target's own
    /// `host:`); `what` names it in errors.
    pub(crate) fn resolve_as(
        &self,
        file: &Path,
        what: &str,
        errors: &mut Vec<SourceError>,
    ) -> MailerConfig {
        if self.host.value.trim().is_empty() {
            errors.push(SourceError::at(
                file,
                &self.host,
                "expected the SMTP host name",
            ));
        }
        if self.from.value.parse::<lettre::message::Mailbox>().is_err() {
            errors.push(SourceError::at(
                file,
                &self.from,
                format!(
                    "expected a sender like \"tocsin <alerts@example.com>\", got {:?}",
                    self.from.value
                ),
            ));
        }
        let password = secret_or_file(
            file,
            "password",
            self.password.as_ref(),
            self.password_file.as_ref(),
            errors,
        );
        if password.is_some() && self.username.is_none() {
            let at = self
                .password
                .as_ref()
                .map(|s| s.referenced)
                .or(self.password_file.as_ref().map(|s| s.referenced));
            errors.push(SourceError {
                file: file.to_path_buf(),
                line: at.map_or(0, |l| l.line() as u32),
                col: at.map_or(0, |l| l.column() as u32),
                message: format!("{what} has a password but no `username`"),
            });
        }
        MailerConfig {
            host: self.host.value.trim().to_string(),
            port: self.port.unwrap_or(match self.tls {
                SmtpTls::None => 25,
                SmtpTls::Starttls => 587,
                SmtpTls::Wrapper => 465,
            }),
            tls: self.tls,
            username: self.username.clone(),
            password,
            from: self.from.value.clone(),
            timeout: self.timeout.map_or(Duration::from_secs(30), |t| t.0),
            accept_invalid_certs: self.accept_invalid_certs,
        }
    }
}

/// A secret given inline (`key: ${ENV}`) or in a file (`key_file: /run/secrets/x`).
/// The file's content, less a trailing newline, is the secret. Both at once is
/// an error, and so is a file that cannot be read (its path is named, never
/// its content).
pub fn secret_or_file(
    file: &Path,
    key: &str,
    inline: Option<&Spanned<Secret>>,
    path: Option<&Spanned<PathBuf>>,
    errors: &mut Vec<SourceError>,
) -> Option<Secret> {
    match (inline, path) {
        (Some(_), Some(p)) => {
            errors.push(SourceError::at(
                file,
                p,
                format!("set either `{key}` or `{key}_file`, not both"),
            ));
            None
        }
        (Some(s), None) => Some(s.value.clone()),
        (None, Some(p)) => {
            let full = resolve_relative(file, &p.value);
            match std::fs::read_to_string(&full) {
                Ok(text) => Some(Secret::new(text.trim_end_matches(['\n', '\r']))),
                Err(e) => {
                    errors.push(SourceError::at(
                        file,
                        p,
                        format!("cannot read `{key}_file` {}: {e}", full.display()),
                    ));
                    None
                }
            }
        }
        (None, None) => None,
    }
}

/// `path` relative to the folder of the config file.
pub fn resolve_relative(config_file: &Path, path: &Path) -> PathBuf {
    match config_file.parent() {
        Some(base) if path.is_relative() && !base.as_os_str().is_empty() => base.join(path),
        _ => path.to_path_buf(),
    }
}

/// Contacts and groups by name, to resolve references.
#[derive(Debug, Default)]
pub struct Directory<'a> {
    contacts: HashMap<&'a str, &'a Contact>,
    groups: HashMap<&'a str, &'a ContactGroup>,
}

impl<'a> Directory<'a> {
    pub fn new(contacts: &'a [Contact], groups: &'a [ContactGroup]) -> Self {
        Directory {
            contacts: contacts.iter().map(|c| (c.name(), c)).collect(),
            groups: groups.iter().map(|g| (g.name.value.as_str(), g)).collect(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.contacts.contains_key(name) || self.groups.contains_key(name)
    }

    /// `; did you mean "NAME"?` when a contact or group has a name one or
    /// two edits away from `name` (a typo), else empty.
    pub fn did_you_mean(&self, name: &str) -> String {
        let most = if name.chars().count() > 4 { 2 } else { 1 };
        self.contacts
            .keys()
            .chain(self.groups.keys())
            .map(|n| (edit_distance(name, n), *n))
            .filter(|(d, _)| *d <= most)
            .min()
            .map_or_else(String::new, |(_, n)| format!("; did you mean {n:?}?"))
    }

    /// The contacts a name stands for: the contact, or a group's members
    /// (each once, in order). `None` when no contact or group has the name.
    pub fn expand(&self, name: &str) -> Option<Vec<&'a Contact>> {
        if let Some(c) = self.contacts.get(name) {
            return Some(vec![*c]);
        }
        let g = self.groups.get(name)?;
        let mut seen = BTreeSet::new();
        Some(
            g.members
                .iter()
                .filter_map(|m| self.contacts.get(m.value.as_str()).copied())
                .filter(|c| seen.insert(c.name()))
                .collect(),
        )
    }

    /// Resolves a list of names to contacts, reporting unknown names and
    /// contacts that lack the field a use needs (`need` returns it).
    pub fn resolve<'n>(
        &self,
        file: &Path,
        names: impl IntoIterator<Item = &'n Spanned<String>>,
        what: &str,
        need: &str,
        field: impl Fn(&Contact) -> Option<&String>,
        errors: &mut Vec<SourceError>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in names {
            match self.expand(&n.value) {
                None => errors.push(SourceError::at(
                    file,
                    n,
                    format!(
                        "{what} names {:?}, but no contact or contact group has that name{}",
                        n.value,
                        self.did_you_mean(&n.value)
                    ),
                )),
                Some(contacts) => {
                    for c in contacts {
                        match field(c).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                            Some(v) => {
                                if !out.iter().any(|o| o == v) {
                                    out.push(v.to_string());
                                }
                            }
                            None => errors.push(SourceError::at(
                                file,
                                n,
                                format!(
                                    "{what} names {:?}, but contact {:?} has no `{need}`",
                                    n.value,
                                    c.name()
                                ),
                            )),
                        }
                    }
                }
            }
        }
        out
    }
}

/// Checks contacts and groups on their own: names, members, addresses.
pub(super) fn validate_people(
    file: &Path,
    contacts: &[Contact],
    groups: &[ContactGroup],
    errors: &mut Vec<SourceError>,
) {
    let dir = Directory::new(contacts, groups);
    for c in contacts {
        if c.name.value.trim().is_empty() {
            errors.push(SourceError::at(
                file,
                &c.name,
                "expected a non-empty contact name",
            ));
        }
        if let Some(email) = &c.email
            && email.parse::<lettre::Address>().is_err()
        {
            errors.push(SourceError::at(
                file,
                &c.name,
                format!(
                    "contact {:?} has an email that is not an address: {email:?}",
                    c.name.value
                ),
            ));
        }
        if let Some(p) = &c.phone
            && !super::phones::is_phone_like(&p.value)
        {
            errors.push(SourceError::at(
                file,
                p,
                format!(
                    "contact {:?} has a phone that is not a number: {:?} (expected E.164 like +8613800000000)",
                    c.name.value, p.value
                ),
            ));
        }
    }
    for g in groups {
        if g.name.value.trim().is_empty() {
            errors.push(SourceError::at(
                file,
                &g.name,
                "expected a non-empty group name",
            ));
        }
        for m in &g.members {
            if !dir.contacts.contains_key(m.value.as_str()) {
                errors.push(SourceError::at(
                    file,
                    m,
                    format!(
                        "contact group {:?} lists {:?}, but no contact has that name",
                        g.name.value, m.value
                    ),
                ));
            }
        }
    }
}

/// A list entry that is either an email address or a contact/group name.
/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

pub fn is_address(entry: &str) -> bool {
    entry.contains('@')
}

/// Email addresses for a list of addresses and contact/group names.
pub fn resolve_addresses(
    file: &Path,
    entries: &[Spanned<String>],
    what: &str,
    dir: &Directory,
    errors: &mut Vec<SourceError>,
) -> Vec<String> {
    let mut out = Vec::new();
    for e in entries {
        if is_address(&e.value) {
            if e.value.parse::<lettre::message::Mailbox>().is_err() {
                errors.push(SourceError::at(
                    file,
                    e,
                    format!("{what}: {:?} is not an email address", e.value),
                ));
            } else if !out.contains(&e.value) {
                out.push(e.value.clone());
            }
        } else {
            for a in dir.resolve(file, [e], what, "email", |c| c.email.as_ref(), errors) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_of_a_name_is_pointed_out() {
        assert_eq!(edit_distance("zhangsna", "zhangsan"), 2);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("bob", "bob"), 0);
        let contacts: Vec<Contact> =
            crate::yaml::parse(Path::new("t.yaml"), "[{name: zhangsan}, {name: bob}]").unwrap();
        let d = Directory::new(&contacts, &[]);
        assert_eq!(d.did_you_mean("zhangsna"), "; did you mean \"zhangsan\"?");
        assert_eq!(d.did_you_mean("bib"), "; did you mean \"bob\"?");
        assert_eq!(
            d.did_you_mean("bibi"),
            "",
            "two edits in a short name are no typo"
        );
        assert_eq!(d.did_you_mean("lisi"), "");
    }
}
