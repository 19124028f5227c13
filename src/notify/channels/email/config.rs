//! The keys of `type: email` targets: `to` and `cc` (addresses, contact and
//! group names; `to` defaults to the top-level `owner`), `format`, and the
//! SMTP server: the top-level `mailer:`, or the target's own (`host`,
//! `port`, `tls`, `username`, `password`/`password_file`, checked as the
//! `mailer:` is), with `from`, `sender_name` and `verify_certificates` over
//! either, and `trusted_domains` limiting where it may send.

use std::path::PathBuf;

use lettre::message::Mailbox;

use crate::config::target_keys::{Key, TargetCheck};
use crate::config::{MailerConfig, RawMailer, SmtpTls, resolve_addresses, resolve_relative};
use crate::yaml::{SourceError, Spanned, unspanned};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailFormat {
    Text,
    Table,
    /// Plain text and a CSV file.
    Attachment,
    /// The table and a CSV file.
    TableAttachment,
    /// Plain text and an XLSX workbook.
    Xlsx,
    /// The table and an XLSX workbook.
    TableXlsx,
}

/// The file a format attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    Csv,
    Xlsx,
}

impl EmailFormat {
    /// Every `format:` value with its format.
    const NAMES: &[(&str, EmailFormat)] = &[
        ("text", EmailFormat::Text),
        ("table", EmailFormat::Table),
        ("attachment", EmailFormat::Attachment),
        ("table+attachment", EmailFormat::TableAttachment),
        ("xlsx", EmailFormat::Xlsx),
        ("table+xlsx", EmailFormat::TableXlsx),
    ];

    /// The `format:` value that selects it.
    pub fn name(self) -> &'static str {
        EmailFormat::NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("table", |(n, _)| n)
    }

    /// Whether the body is the HTML table (with a plain-text alternative).
    pub fn has_table(self) -> bool {
        matches!(
            self,
            EmailFormat::Table | EmailFormat::TableAttachment | EmailFormat::TableXlsx
        )
    }

    pub fn attachment(self) -> Option<AttachmentKind> {
        match self {
            EmailFormat::Text | EmailFormat::Table => None,
            EmailFormat::Attachment | EmailFormat::TableAttachment => Some(AttachmentKind::Csv),
            EmailFormat::Xlsx | EmailFormat::TableXlsx => Some(AttachmentKind::Xlsx),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// Addresses (contacts and groups already resolved; `owner` when `to` is empty).
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub format: EmailFormat,
    /// The SMTP server and sender of this target, resolved: `None` is the
    /// top-level `mailer:` as it is.
    pub server: Option<MailerConfig>,
    /// Where a copy of each attached file is kept (relative paths resolved
    /// against the config file's folder).
    pub attachment_dir: Option<PathBuf>,
}

impl EmailConfig {
    /// Mail to `to` through the top-level `mailer:` (targets that routes and
    /// verifications make for contacts).
    pub fn through_mailer(to: Vec<String>, format: EmailFormat) -> EmailConfig {
        EmailConfig {
            to,
            cc: Vec::new(),
            format,
            server: None,
            attachment_dir: None,
        }
    }
}

/// The keys of a target's own SMTP server: any of them needs `host`.
const SERVER_KEYS: &[&str] = &["port", "tls", "username", "password", "password_file"];

pub const KEYS: &[Key] = &[
    Key::names("to"),
    Key::names("cc"),
    Key::text("format"),
    Key::text("from"),
    Key::text("host"),
    Key::small("port"),
    Key::text("tls"),
    Key::text("username"),
    Key::secret("password"),
    Key::path("password_file"),
    Key::text("sender_name"),
    Key::flag("verify_certificates"),
    Key::list("trusted_domains"),
    Key::path("attachment_dir"),
];

pub fn check(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<EmailConfig> {
    let name = t.target();
    let server = server(t, errors);
    let trusted = trusted_domains(t, errors);
    // Each entry resolved on its own, so that an address outside
    // `trusted_domains` is reported where it (or its contact) is written.
    let addresses = |key: &str, errors: &mut Vec<SourceError>| {
        let what = format!("`{key}` of target {name:?}");
        t.keys.names(key).map(|a| {
            let mut out: Vec<String> = Vec::new();
            for e in &a.value {
                let found =
                    resolve_addresses(t.file, std::slice::from_ref(e), &what, t.cx.directory, errors);
                for addr in found {
                    if let Some(d) = &trusted {
                        refuse_untrusted(t, e, &addr, d, errors);
                    }
                    if !out.contains(&addr) {
                        out.push(addr);
                    }
                }
            }
            out
        })
    };
    let to = addresses("to", errors).unwrap_or_else(|| {
        if let Some(d) = &trusted {
            for addr in t.cx.owner {
                refuse_untrusted(t, t.name, addr, d, errors);
            }
        }
        t.cx.owner.to_vec()
    });
    let cc = addresses("cc", errors).unwrap_or_default();
    if to.is_empty() && cc.is_empty() {
        errors.push(t.err_at_name(format!(
            "email target {name:?} has no recipients: set `to` or a top-level `owner`"
        )));
    }
    let format = match t.keys.text("format") {
        None => EmailFormat::Table,
        Some(f) => {
            let v = f.value.trim();
            let v = if v == "table attachment" { "table+attachment" } else { v };
            match EmailFormat::NAMES.iter().find(|(n, _)| *n == v) {
                Some((_, format)) => *format,
                None => {
                    let names: Vec<&str> = EmailFormat::NAMES.iter().map(|(n, _)| *n).collect();
                    errors.push(t.err(
                        f,
                        format!("expected format {}, got {:?}", names.join(", "), f.value),
                    ));
                    EmailFormat::Table
                }
            }
        }
    };
    let attachment_dir = t.keys.path("attachment_dir").map(|d| {
        let full = resolve_relative(t.file, &d.value);
        if format.attachment().is_none() {
            errors.push(t.err(
                d,
                format!("`attachment_dir` of target {name:?} keeps attached files, but format {} attaches none (use attachment, table+attachment, xlsx or table+xlsx)", format.name()),
            ));
        } else if full.exists() && !full.is_dir() {
            errors.push(t.err(
                d,
                format!("`attachment_dir` of target {name:?}: {} is not a folder", full.display()),
            ));
        }
        full
    });
    Some(EmailConfig {
        to,
        cc,
        format,
        server,
        attachment_dir,
    })
}

/// The target's SMTP server and sender when it changes anything of the
/// top-level `mailer:`; the server keys are read and checked as a
/// `mailer:` is ([`RawMailer::resolve_as`]).
fn server(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<MailerConfig> {
    let name = t.target();
    let global = t.cx.mailer;
    let keys = t.keys;
    let sender_name = keys.text("sender_name");
    let verify = keys.flag("verify_certificates").map(|v| v.value);
    let from = keys.text("from");
    let own = match keys.text("host") {
        Some(host) => {
            let port = keys.small("port").and_then(|p| match u16::try_from(p.value) {
                Ok(v) if v > 0 => Some(v),
                _ => {
                    errors.push(t.err(p, format!("expected a TCP port (1-65535), got {}", p.value)));
                    None
                }
            });
            let tls = keys.text("tls").map_or(SmtpTls::default(), |s| {
                match s.value.as_str() {
                    "none" => SmtpTls::None,
                    "starttls" => SmtpTls::Starttls,
                    "wrapper" => SmtpTls::Wrapper,
                    other => {
                        errors.push(t.err(
                            s,
                            format!("expected tls none, starttls or wrapper, got {other:?}"),
                        ));
                        SmtpTls::default()
                    }
                }
            });
            // Only the sender address may come from the top-level mailer; its
            // credentials never go to another server.
            let from = match (from, global) {
                (Some(f), _) => f.clone(),
                (None, Some(g)) => unspanned(g.from.clone()),
                (None, None) => {
                    errors.push(t.err_at_name(format!(
                        "email target {name:?} has its own `host` but no `from` (sender address) and there is no top-level `mailer:` to take it from"
                    )));
                    return None;
                }
            };
            let raw = RawMailer {
                host: host.clone(),
                port,
                tls,
                username: t.text_of("username"),
                password: keys.secret("password").cloned(),
                password_file: keys.path("password_file").cloned(),
                from,
                timeout: None,
                accept_invalid_certs: !verify.unwrap_or(true),
            };
            let mut own = raw.resolve_as(t.file, &format!("email target {name:?}"), errors);
            if let Some(g) = global {
                own.timeout = g.timeout;
            }
            Some(own)
        }
        None => {
            for k in SERVER_KEYS {
                if let Some(at) = keys.position(k) {
                    errors.push(t.err_at(
                        at,
                        format!("`{k}` of email target {name:?} needs `host` (the target's own SMTP server)"),
                    ));
                }
            }
            if global.is_none() {
                errors.push(t.err_at_name(format!(
                    "email target {name:?} needs a top-level `mailer:` (SMTP server) or its own `host`"
                )));
                return None;
            }
            if from.is_none() && sender_name.is_none() && verify.is_none() {
                return None;
            }
            let mut m = global?.clone();
            if let Some(f) = from {
                check_sender(t, f, errors);
                m.from = f.value.clone();
            }
            if let Some(v) = verify {
                m.accept_invalid_certs = !v;
            }
            Some(m)
        }
    };
    let mut own = own?;
    if let Some(s) = sender_name {
        if s.value.trim().is_empty() || s.value.contains(['\r', '\n']) {
            errors.push(t.err(s, "expected a sender name on one line"));
        } else if let Ok(m) = own.from.parse::<Mailbox>() {
            own.from = Mailbox::new(Some(s.value.trim().to_string()), m.email).to_string();
        }
    }
    Some(own)
}

fn check_sender(t: &TargetCheck, f: &Spanned<String>, errors: &mut Vec<SourceError>) {
    if f.value.parse::<Mailbox>().is_err() {
        errors.push(t.err(
            f,
            format!(
                "expected a sender like \"tocsin <alerts@example.com>\", got {:?}",
                f.value
            ),
        ));
    }
}

/// `trusted_domains`, lower-cased; each must look like a domain name.
fn trusted_domains(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<Vec<String>> {
    let list = t.keys.list("trusted_domains")?;
    let mut out = Vec::new();
    let mut bad = false;
    for d in &list.value {
        let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
        let ok = !d.is_empty()
            && d.split('.').all(|p| {
                !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if ok {
            out.push(d);
        } else {
            bad = true;
            errors.push(t.err(
                list,
                format!("`trusted_domains` of target {:?}: {d:?} is not a domain name", t.target()),
            ));
        }
    }
    (!bad).then_some(out)
}

/// An error at `at` when `address`'s domain is not one of `trusted`.
fn refuse_untrusted(
    t: &TargetCheck,
    at: &Spanned<String>,
    address: &str,
    trusted: &[String],
    errors: &mut Vec<SourceError>,
) {
    let domain = address
        .parse::<Mailbox>()
        .map(|m| m.email.domain().to_ascii_lowercase())
        .unwrap_or_default();
    if !trusted.contains(&domain) {
        errors.push(t.err(
            at,
            format!(
                "email target {:?} may only send to {}, not to {address:?}",
                t.target(),
                trusted.join(", ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, SmtpTls, TargetKind};

    fn load(text: &str) -> Result<Config, String> {
        Config::from_text(Path::new("tocsin.yaml"), text).map_err(|e| e.to_string())
    }

    fn server_of(c: &Config) -> crate::config::MailerConfig {
        let TargetKind::Email(e) = &c.targets[0].kind else {
            panic!("not email")
        };
        e.server.clone().expect("own server")
    }

    #[test]
    fn a_target_with_its_own_host_needs_no_mailer_and_keeps_its_password_secret() {
        let c = load(
            "targets:\n  - {name: m, type: email, to: [a@x.com], host: smtp.corp, port: 465, tls: wrapper, username: u, password: PASSxyz, from: 'a@corp.com', sender_name: 告警中心, verify_certificates: false}\n",
        )
        .unwrap();
        let s = server_of(&c);
        assert_eq!((s.host.as_str(), s.port, s.tls), ("smtp.corp", 465, SmtpTls::Wrapper));
        assert_eq!(s.username.as_deref(), Some("u"));
        assert_eq!(s.password.as_ref().unwrap().expose(), "PASSxyz");
        assert!(s.accept_invalid_certs);
        let from: lettre::message::Mailbox = s.from.parse().unwrap();
        assert_eq!(from.name.as_deref(), Some("告警中心"));
        assert_eq!(from.email.to_string(), "a@corp.com");
        assert!(!format!("{c:?}").contains("PASSxyz"));

        // Over the top-level mailer: only the sender changes; with a host of
        // its own, the mailer's credentials are not taken along.
        let mailer = "mailer: {host: smtp.example.com, tls: wrapper, username: g, password: GLOBALpw, from: 'tocsin <t@example.com>'}\n";
        let c = load(&format!(
            "{mailer}targets:\n  - {{name: m, type: email, to: [a@x.com], sender_name: Backup desk}}\n"
        ))
        .unwrap();
        let s = server_of(&c);
        assert_eq!((s.host.as_str(), s.port), ("smtp.example.com", 465));
        assert_eq!(s.from, "Backup desk <t@example.com>");
        let c = load(&format!(
            "{mailer}targets:\n  - {{name: m, type: email, to: [a@x.com], host: relay.corp, tls: none}}\n"
        ))
        .unwrap();
        let s = server_of(&c);
        assert_eq!((s.host.as_str(), s.port, s.from.as_str()), ("relay.corp", 25, "tocsin <t@example.com>"));
        assert!(s.username.is_none() && s.password.is_none());
        let c = load(&format!("{mailer}targets:\n  - {{name: m, type: email, to: [a@x.com]}}\n")).unwrap();
        let TargetKind::Email(e) = &c.targets[0].kind else { panic!() };
        assert!(e.server.is_none());
    }

    #[test]
    fn server_keys_and_trusted_domains_are_checked_where_written() {
        let people = "contacts: [{name: eve, email: eve@gmail.com}]\nowner: [boss@other.org]\n";
        let cases = [
            (
                "targets:\n  - {name: m, type: email, to: [a@x.com]}\n",
                "tocsin.yaml:2:12: email target \"m\" needs a top-level `mailer:` (SMTP server) or its own `host`",
            ),
            (
                "targets:\n  - {name: m, type: email, to: [a@x.com], host: h}\n",
                "tocsin.yaml:2:12: email target \"m\" has its own `host` but no `from`",
            ),
            (
                "targets:\n  - {name: m, type: email, to: [a@x.com], host: h, from: a@x.com, port: 70000}\n",
                "tocsin.yaml:2:73: expected a TCP port (1-65535), got 70000",
            ),
            (
                "targets:\n  - {name: m, type: email, to: [a@x.com], host: h, from: a@x.com, tls: ssl}\n",
                "tocsin.yaml:2:72: expected tls none, starttls or wrapper, got \"ssl\"",
            ),
            (
                "targets:\n  - {name: m, type: email, to: [a@x.com], host: h, from: nobody, password: p}\n",
                "tocsin.yaml:2:58: expected a sender like",
            ),
            (
                "targets:\n  - {name: m, type: email, to: [a@x.com], host: h, from: a@x.com, password: p}\n",
                "tocsin.yaml:2:77: email target \"m\" has a password but no `username`",
            ),
            (
                "mailer: {host: s, from: a@x.com}\ntargets:\n  - {name: m, type: email, to: [a@x.com], port: 25}\n",
                "tocsin.yaml:3:49: `port` of email target \"m\" needs `host`",
            ),
            (
                "mailer: {host: s, from: a@x.com}\ntargets:\n  - {name: m, type: email, to: [a@x.com, 'Eve <e@evil.com>'], trusted_domains: [x.com]}\n",
                "tocsin.yaml:5:42: email target \"m\" may only send to x.com, not to \"Eve <e@evil.com>\"",
            ),
            (
                "mailer: {host: s, from: a@x.com}\ntargets:\n  - {name: m, type: email, to: [a@X.com], cc: [eve], trusted_domains: ['@x.com']}\n",
                "tocsin.yaml:5:48: email target \"m\" may only send to x.com, not to \"eve@gmail.com\"",
            ),
            (
                "mailer: {host: s, from: a@x.com}\ntargets:\n  - {name: m, type: email, trusted_domains: [corp.com]}\n",
                "tocsin.yaml:5:12: email target \"m\" may only send to corp.com, not to \"boss@other.org\"",
            ),
            (
                "mailer: {host: s, from: a@x.com}\ntargets:\n  - {name: m, type: email, to: [a@x.com], format: xls}\n",
                "tocsin.yaml:3:51: expected format text, table, attachment, table+attachment, xlsx, table+xlsx, got \"xls\"",
            ),
            (
                "mailer: {host: s, from: a@x.com}\ntargets:\n  - {name: m, type: email, to: [a@x.com], attachment_dir: /tmp}\n",
                "tocsin.yaml:3:59: `attachment_dir` of target \"m\" keeps attached files, but format table attaches none",
            ),
            (
                "mailer: {host: s, from: a@x.com}\ntargets:\n  - {name: m, type: email, to: [a@x.com], format: xlsx, attachment_dir: Cargo.toml}\n",
                "tocsin.yaml:3:73: `attachment_dir` of target \"m\": Cargo.toml is not a folder",
            ),
            (
                "mailer: {host: s, from: a@x.com}\ntargets:\n  - {name: m, type: email, to: [a@x.com], trusted_domains: ['x..com']}\n",
                "tocsin.yaml:5:60: `trusted_domains` of target \"m\": \"x..com\" is not a domain name",
            ),
        ];
        let mut wrong = Vec::new();
        for (text, want) in cases {
            let text = if text.contains("trusted") { format!("{people}{text}") } else { text.to_string() };
            let got = load(&text).map(|_| "loaded".to_string()).unwrap_or_else(|e| e);
            if !got.starts_with(want) {
                wrong.push(format!("\n got: {got}\nwant: {want}..."));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join(""));
    }
}
