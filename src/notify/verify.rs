//! Verified contact addresses. `tocsin contact verify NAME` (or
//! `POST /api/v1/contacts/{name}/verify`) sends a six-digit code to the
//! contact's email (through the mailer) or phone (through `phones.sms`);
//! `tocsin contact confirm NAME CODE` (or `POST .../confirm`) records that
//! exact address as verified in SQLite. A verification holds only while the
//! config gives the contact the same address.
//!
//! Routing looks at [`VerifiedSet`]: with `require_verified_contacts: true`
//! nothing goes to a contact's unverified address; either way, once
//! verification is in use (required, or any code was ever sent), recipients
//! whose address is unverified show as `NAME (unverified)` in the API,
//! `tocsin alerts` and the status page.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::channels::Delivery;
use super::channels::email::Email;
use super::channels::sms::Phone;
use super::render::Renderer;
use crate::config::{
    Config, Contact, EmailConfig, EmailFormat, Language, TargetConfig, TargetKind, TargetTemplates,
    e164,
};
use crate::store::verifications::VerifiedAddress;
use crate::store::{Store, StoreError};

/// How long a code may be confirmed.
pub const CODE_TTL: Duration = Duration::from_secs(15 * 60);
/// Wrong codes before the pending one is dropped.
pub const MAX_ATTEMPTS: u32 = 5;
/// How often the daemon rereads verifications (the CLI writes them too).
const REFRESH: Duration = Duration::from_secs(5);

/// The verified addresses the router knows, shared across reloads.
#[derive(Debug, Clone, Default)]
pub struct VerifiedSet(Arc<RwLock<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    in_use: bool,
    verified: HashSet<VerifiedAddress>,
}

impl VerifiedSet {
    pub fn replace(&self, verified: Vec<VerifiedAddress>, in_use: bool) {
        let mut g = self.0.write().unwrap_or_else(|p| p.into_inner());
        g.verified = verified.into_iter().collect();
        g.in_use = in_use;
    }

    pub fn add(&self, a: VerifiedAddress) {
        let mut g = self.0.write().unwrap_or_else(|p| p.into_inner());
        g.in_use = true;
        g.verified.insert(a);
    }

    pub fn is_verified(&self, a: &VerifiedAddress) -> bool {
        let g = self.0.read().unwrap_or_else(|p| p.into_inner());
        g.verified.contains(a)
    }

    /// Whether any code was ever sent (verification is in use).
    pub fn in_use(&self) -> bool {
        self.0.read().unwrap_or_else(|p| p.into_inner()).in_use
    }

    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let (list, any) = store.verified_addresses().await?;
        self.replace(list, any);
        Ok(())
    }

    /// Rereads the store every few seconds until shutdown.
    pub fn spawn_refresh(
        &self,
        store: Store,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let set = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = set.refresh(&store).await {
                    tracing::warn!(error = %e, "cannot read contact verifications");
                }
                tokio::select! {
                    _ = tokio::time::sleep(REFRESH) => {}
                    _ = shutdown.changed() => return,
                }
            }
        })
    }
}

/// The contact address a delivery target created by routing reaches: the
/// mail target named after a contact, `sms:NAME`, `call:NAME`.
pub fn contact_address(config: &Config, t: &TargetConfig) -> Option<VerifiedAddress> {
    let name = t.name();
    let (contact, kind, address) = match &t.kind {
        TargetKind::Email(e) => (name, "email", e.to.first()?.clone()),
        TargetKind::Sms(p) | TargetKind::Call(p) => (
            name.split_once(':').map(|(_, c)| c)?,
            "phone",
            p.to.first()?.clone(),
        ),
        _ => return None,
    };
    config.contacts.iter().find(|c| c.name() == contact)?;
    Some(VerifiedAddress {
        contact: contact.to_string(),
        kind: kind.to_string(),
        address,
    })
}

/// Email or phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Email,
    Phone,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Email => "email",
            Via::Phone => "phone",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("no contact is named {0:?}")]
    UnknownContact(String),
    #[error("contact {contact:?} has no {kind} to verify")]
    NoAddress { contact: String, kind: &'static str },
    #[error("contact {contact:?}: {message}")]
    Invalid { contact: String, message: String },
    #[error("cannot send the code to contact {contact:?}: {reason}")]
    Send { contact: String, reason: String },
    #[error("no code is pending for contact {0:?}: send one with `tocsin contact verify` first")]
    NoPending(String),
    #[error("the code for contact {0:?} has expired: send a new one")]
    Expired(String),
    #[error("wrong code for contact {contact:?} ({left} tries left)")]
    WrongCode { contact: String, left: u32 },
    #[error("the {kind} of contact {contact:?} changed since the code was sent: send a new one")]
    AddressChanged { contact: String, kind: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A code that went out.
#[derive(Debug, Clone, Serialize)]
pub struct CodeSent {
    pub contact: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub address: String,
    /// The channel's answer.
    pub answer: String,
}

/// A contact's addresses and whether each is verified.
#[derive(Debug, Clone, Serialize)]
pub struct ContactStatus {
    pub name: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone: Option<String>,
    pub phone_verified: bool,
}

/// Sends and confirms codes for the contacts of one config.
pub struct ContactVerifier {
    config: Arc<Config>,
    store: Store,
    verified: VerifiedSet,
}

fn code_hash(a: &VerifiedAddress, code: &str) -> String {
    let d = Sha256::digest(format!(
        "{}\n{}\n{}\n{}",
        a.contact,
        a.kind,
        a.address,
        code.trim()
    ));
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Six random digits.
pub fn new_code() -> String {
    let b = *uuid::Uuid::new_v4().as_bytes();
    let n = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    format!("{:06}", n % 1_000_000)
}

/// The address of `kind` the config gives a contact now (phones as E.164).
pub fn current_address(c: &Contact, via: Via) -> Result<Option<String>, String> {
    match via {
        Via::Email => Ok(c
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string)),
        Via::Phone => c.phone().map(|p| e164(p)).transpose(),
    }
}

impl ContactVerifier {
    pub fn new(config: Arc<Config>, store: Store, verified: VerifiedSet) -> ContactVerifier {
        ContactVerifier {
            config,
            store,
            verified,
        }
    }

    fn contact(&self, name: &str) -> Result<&Contact, VerifyError> {
        self.config
            .contacts
            .iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| VerifyError::UnknownContact(name.to_string()))
    }

    fn address(&self, c: &Contact, via: Via) -> Result<VerifiedAddress, VerifyError> {
        let address = current_address(c, via)
            .map_err(|message| VerifyError::Invalid {
                contact: c.name().to_string(),
                message,
            })?
            .ok_or(VerifyError::NoAddress {
                contact: c.name().to_string(),
                kind: via.as_str(),
            })?;
        Ok(VerifiedAddress {
            contact: c.name().to_string(),
            kind: via.as_str().to_string(),
            address,
        })
    }

    /// Sends a code to each address `via` names (None: every address the
    /// contact has).
    pub async fn start(&self, name: &str, via: Option<Via>) -> Result<Vec<CodeSent>, VerifyError> {
        let c = self.contact(name)?;
        let ways: Vec<Via> = match via {
            Some(v) => vec![v],
            None => [Via::Email, Via::Phone]
                .into_iter()
                .filter(|v| current_address(c, *v).is_ok_and(|a| a.is_some()))
                .collect(),
        };
        if ways.is_empty() {
            return Err(VerifyError::NoAddress {
                contact: name.to_string(),
                kind: "email or phone",
            });
        }
        let mut out = Vec::new();
        for via in ways {
            let a = self.address(c, via)?;
            let code = new_code();
            let expires = Utc::now() + chrono::Duration::from_std(CODE_TTL).unwrap_or_default();
            // Stored before sending: a code that arrives can always be confirmed.
            self.store
                .start_verification(a.clone(), code_hash(&a, &code), expires)
                .await?;
            self.verified.replace_in_use();
            let d = self.send_code(c, via, &a.address, &code).await;
            tracing::info!(contact = %a.contact, kind = %a.kind, sent = d.is_sent(), "verification code");
            match d {
                Delivery::Sent { answer } => out.push(CodeSent {
                    contact: a.contact,
                    kind: via.as_str(),
                    address: a.address,
                    answer,
                }),
                Delivery::Retry { reason, .. } | Delivery::Failed { reason } => {
                    return Err(VerifyError::Send {
                        contact: name.to_string(),
                        reason,
                    });
                }
            }
        }
        Ok(out)
    }

    fn text(&self, c: &Contact, code: &str) -> (String, String) {
        let minutes = CODE_TTL.as_secs() / 60;
        match c.language.unwrap_or(self.config.language) {
            Language::Zh => (
                "tocsin 验证码".to_string(),
                format!("您的 tocsin 告警联系方式验证码是 {code}，{minutes} 分钟内有效。"),
            ),
            Language::En => (
                "tocsin verification code".to_string(),
                format!(
                    "Your tocsin verification code is {code}. It is valid for {minutes} minutes."
                ),
            ),
        }
    }

    async fn send_code(&self, c: &Contact, via: Via, address: &str, code: &str) -> Delivery {
        let (subject, text) = self.text(c, code);
        let renderer = Renderer::new(
            c.name(),
            c.language.unwrap_or(self.config.language),
            TargetTemplates::default(),
        );
        match via {
            Via::Email => {
                let Some(mailer) = &self.config.mailer else {
                    return Delivery::failed("email codes need a `mailer:`");
                };
                let t = TargetConfig {
                    name: crate::yaml::unspanned(c.name().to_string()),
                    kind: TargetKind::Email(EmailConfig::through_mailer(
                        vec![address.to_string()],
                        EmailFormat::Text,
                    )),
                    enabled: true,
                    send_resolved: false,
                    language: c.language,
                    timezone: None,
                    templates: TargetTemplates::default(),
                    timeout: None,
                    max_alerts: 0,
                    proxy: None,
                    mentions: Vec::new(),
                };
                let TargetKind::Email(kind) = &t.kind else {
                    return Delivery::failed("internal: not an email target");
                };
                match Email::new(&t, kind.clone(), mailer, renderer) {
                    Ok(e) => e.send_text(&subject, &text).await,
                    Err(e) => Delivery::failed(e.message),
                }
            }
            Via::Phone => {
                let Some(name) = self.config.phones.sms.as_ref().map(|s| s.value.as_str()) else {
                    return Delivery::failed("phone codes need `phones.sms` (an sms target)");
                };
                let Some(base) = self.config.target(name) else {
                    return Delivery::failed(format!(
                        "phones.sms names {name:?}, which is not a target"
                    ));
                };
                let TargetKind::Sms(p) = &base.kind else {
                    return Delivery::failed(format!(
                        "phones.sms names {name:?}, which is not an sms target"
                    ));
                };
                let mut p = p.clone();
                p.to = vec![address.to_string()];
                match Phone::new(base, p, renderer) {
                    Ok(ph) => ph.send_code(code, &text).await,
                    Err(e) => Delivery::failed(e.message),
                }
            }
        }
    }

    /// Checks `code` against the contact's pending codes; the matching
    /// address becomes verified.
    pub async fn confirm(&self, name: &str, code: &str) -> Result<VerifiedAddress, VerifyError> {
        let c = self.contact(name)?;
        let pending = self.store.pending_codes(name).await?;
        if pending.is_empty() {
            return Err(VerifyError::NoPending(name.to_string()));
        }
        let mut expired = false;
        for (kind, p) in &pending {
            let a = VerifiedAddress {
                contact: name.to_string(),
                kind: kind.clone(),
                address: p.address.clone(),
            };
            if !same(&code_hash(&a, code), &p.code_hash) {
                continue;
            }
            if p.expires_at < Utc::now() {
                expired = true;
                continue;
            }
            let via = if kind == "email" {
                Via::Email
            } else {
                Via::Phone
            };
            if current_address(c, via).ok().flatten().as_deref() != Some(p.address.as_str()) {
                return Err(VerifyError::AddressChanged {
                    contact: name.to_string(),
                    kind: kind.clone(),
                });
            }
            if !self.store.confirm_verification(a.clone()).await? {
                return Err(VerifyError::NoPending(name.to_string()));
            }
            self.verified.add(a.clone());
            tracing::info!(contact = %a.contact, kind = %a.kind, "contact address verified");
            return Ok(a);
        }
        if expired {
            return Err(VerifyError::Expired(name.to_string()));
        }
        let mut left = MAX_ATTEMPTS;
        for (kind, p) in &pending {
            self.store.wrong_code(name, kind, MAX_ATTEMPTS).await?;
            left = left.min(MAX_ATTEMPTS.saturating_sub(p.attempts + 1));
        }
        Err(VerifyError::WrongCode {
            contact: name.to_string(),
            left,
        })
    }

    /// Every contact's addresses and their verification.
    pub async fn status(&self) -> Result<Vec<ContactStatus>, VerifyError> {
        self.verified.refresh(&self.store).await?;
        Ok(self
            .config
            .contacts
            .iter()
            .map(|c| {
                let check = |via: Via| -> (Option<String>, bool) {
                    match current_address(c, via) {
                        Ok(Some(a)) => {
                            let v = self.verified.is_verified(&VerifiedAddress {
                                contact: c.name().to_string(),
                                kind: via.as_str().to_string(),
                                address: a.clone(),
                            });
                            (Some(a), v)
                        }
                        _ => (c.phone().cloned().filter(|_| via == Via::Phone), false),
                    }
                };
                let (email, email_verified) = check(Via::Email);
                let (phone, phone_verified) = check(Via::Phone);
                ContactStatus {
                    name: c.name().to_string(),
                    email,
                    email_verified,
                    phone,
                    phone_verified,
                }
            })
            .collect())
    }
}

/// `tocsin check`: the contact addresses routes reach that are not
/// verified, read from the database if there is one (never created or
/// changed here). Empty while verification is not in use. With
/// `database: postgres://…` the check stays offline and reads nothing.
pub fn unverified_warnings(config: &Config) -> Vec<String> {
    let path = config.database_path();
    let mut verified = HashSet::new();
    let mut in_use = config.require_verified_contacts;
    if config.postgres.is_none()
        && path.exists()
        && let Ok(c) =
            rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        && let Ok(mut stmt) = c.prepare(
            "SELECT contact, kind, address, verified_at IS NOT NULL FROM contact_verifications",
        )
        && let Ok(rows) = stmt.query_map([], |r| {
            Ok((
                VerifiedAddress {
                    contact: r.get(0)?,
                    kind: r.get(1)?,
                    address: r.get(2)?,
                },
                r.get::<_, bool>(3)?,
            ))
        })
    {
        for (a, ok) in rows.flatten() {
            in_use = true;
            if ok {
                verified.insert(a);
            }
        }
    }
    if !in_use {
        return Vec::new();
    }
    let what = if config.require_verified_contacts {
        "it is sent nothing (require_verified_contacts)"
    } else {
        "verify it with `tocsin contact verify`"
    };
    config
        .mail_targets
        .iter()
        .filter_map(|t| contact_address(config, t).map(|a| (t.name().to_string(), a)))
        .filter(|(_, a)| !verified.contains(a))
        .map(|(t, a)| {
            format!(
                "the {} of contact {:?} ({}, target {t}) is not verified; {what}",
                a.kind, a.contact, a.address
            )
        })
        .collect()
}

impl VerifiedSet {
    fn replace_in_use(&self) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).in_use = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_hashed_per_address() {
        for _ in 0..100 {
            let c = new_code();
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|d| d.is_ascii_digit()));
        }
        let a = VerifiedAddress {
            contact: "alice".into(),
            kind: "phone".into(),
            address: "+8613800000000".into(),
        };
        let mut b = a.clone();
        b.address = "+8613900000000".into();
        assert_ne!(code_hash(&a, "123456"), code_hash(&b, "123456"));
        assert!(same(&code_hash(&a, "123456"), &code_hash(&a, " 123456 ")));
    }
}
