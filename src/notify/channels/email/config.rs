//! The keys of `type: email` targets: `to` and `cc` (addresses, contact and
//! group names; `to` defaults to the top-level `owner`) and `format`. The
//! SMTP server is the top-level `mailer:`.

use crate::config::resolve_addresses;
use crate::config::target_keys::{Key, TargetCheck};
use crate::yaml::SourceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailFormat {
    Text,
    Table,
    Attachment,
    TableAttachment,
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// Addresses (contacts and groups already resolved; `owner` when `to` is empty).
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub format: EmailFormat,
}

pub const KEYS: &[Key] = &[Key::names("to"), Key::names("cc"), Key::text("format")];

pub fn check(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<EmailConfig> {
    let name = t.target();
    if !t.cx.has_mailer {
        errors.push(t.err_at_name(format!(
            "email target {name:?} needs a top-level `mailer:` (SMTP server)"
        )));
    }
    let addresses = |key: &str, errors: &mut Vec<SourceError>| {
        let what = format!("`{key}` of target {name:?}");
        t.keys.names(key).map(|a| {
            resolve_addresses(t.file, &a.value, &what, t.cx.directory, errors)
        })
    };
    let to = addresses("to", errors).unwrap_or_else(|| t.cx.owner.to_vec());
    let cc = addresses("cc", errors).unwrap_or_default();
    if to.is_empty() && cc.is_empty() {
        errors.push(t.err_at_name(format!(
            "email target {name:?} has no recipients: set `to` or a top-level `owner`"
        )));
    }
    let format = match t.keys.text("format") {
        None => EmailFormat::Table,
        Some(f) => match f.value.as_str() {
            "text" => EmailFormat::Text,
            "table" => EmailFormat::Table,
            "attachment" => EmailFormat::Attachment,
            "table+attachment" | "table attachment" => EmailFormat::TableAttachment,
            other => {
                errors.push(t.err(
                    f,
                    format!("expected format text, table, attachment or table+attachment, got {other:?}"),
                ));
                EmailFormat::Table
            }
        },
    };
    Some(EmailConfig { to, cc, format })
}
