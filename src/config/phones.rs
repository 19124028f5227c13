//! Phone targets: `type: sms` (Alibaba Cloud SMS, Tencent Cloud SMS, Twilio
//! Messages) and `type: call` (Alibaba Cloud text-to-speech calls, Twilio
//! Calls), their keys and checks, and phone numbers (E.164).
//!
//! China's gateways send only pre-approved templates: `params` maps the
//! template's variables to alert fields (`alert`, `severity`, `status`,
//! `message`, `count`, `since`, `labels.NAME`); Aliyun names them (a map),
//! Tencent numbers them (a list, in template order).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use super::people::secret_or_file;
use super::targets::{RawTarget, TargetContext};
use crate::yaml::{SourceError, Spanned};

/// Keys of `type: sms` targets besides the common ones.
pub const SMS_KEYS: &[&str] = &[
    "provider",
    "endpoint",
    "region",
    "to",
    "access_key_id",
    "access_key_secret",
    "access_key_secret_file",
    "secret_id",
    "secret_key",
    "secret_key_file",
    "account_sid",
    "auth_token",
    "auth_token_file",
    "sign_name",
    "template_code",
    "template_id",
    "verify_template",
    "sdk_app_id",
    "from",
    "messaging_service_sid",
    "params",
    "param_max_chars",
    "segments",
    "proxy",
];

/// Keys of `type: call` targets besides the common ones.
pub const CALL_KEYS: &[&str] = &[
    "provider",
    "endpoint",
    "region",
    "to",
    "access_key_id",
    "access_key_secret",
    "access_key_secret_file",
    "account_sid",
    "auth_token",
    "auth_token_file",
    "template_code",
    "from",
    "params",
    "param_max_chars",
    "redial",
    "redial_after",
    "proxy",
];

pub const ALIYUN_SMS_URL: &str = "https://dysmsapi.aliyuncs.com/";
pub const ALIYUN_VOICE_URL: &str = "https://dyvmsapi.aliyuncs.com/";
pub const TENCENT_SMS_URL: &str = "https://sms.tencentcloudapi.com/";
pub const TWILIO_URL: &str = "https://api.twilio.com";

/// `params` as written: Aliyun's named variables or Tencent's numbered ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawParams {
    Named(BTreeMap<String, String>),
    Ordered(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneMode {
    Sms,
    Call,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneProvider {
    Aliyun,
    Tencent,
    Twilio,
}

impl PhoneProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneProvider::Aliyun => "aliyun",
            PhoneProvider::Tencent => "tencent",
            PhoneProvider::Twilio => "twilio",
        }
    }
}

/// The provider's key pair; the secret half never shows in Debug.
#[derive(Debug, Clone)]
pub struct PhoneCredentials {
    /// AccessKeyId (Aliyun), SecretId (Tencent), Account SID (Twilio).
    pub id: String,
    /// AccessKeySecret, SecretKey, Auth Token.
    pub secret: Secret,
}

/// An alert field a template variable carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamField {
    Alert,
    Severity,
    Status,
    Message,
    Count,
    Since,
    Label(String),
}

impl ParamField {
    fn parse(s: &str) -> Option<ParamField> {
        Some(match s.trim() {
            "alert" => ParamField::Alert,
            "severity" => ParamField::Severity,
            "status" => ParamField::Status,
            "message" => ParamField::Message,
            "count" => ParamField::Count,
            "since" => ParamField::Since,
            other => ParamField::Label(
                other
                    .strip_prefix("labels.")
                    .filter(|l| crate::rules::load::valid_label_name(l))?
                    .to_string(),
            ),
        })
    }
}

/// A checked `type: sms` or `type: call` target.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    pub mode: PhoneMode,
    pub provider: PhoneProvider,
    pub credentials: PhoneCredentials,
    /// The API's base URL (`endpoint`, else the provider's).
    pub endpoint: String,
    pub region: String,
    /// E.164 numbers (contacts resolved).
    pub to: Vec<String>,
    /// Aliyun / Tencent SMS signature (签名).
    pub sign_name: String,
    /// Aliyun TemplateCode (SMS) or TtsCode (call); Tencent TemplateId.
    pub template: String,
    /// The template of verification codes (one variable: `code` for
    /// Aliyun, `{1}` for Tencent); Twilio sends the code as text.
    pub verify_template: Option<String>,
    /// Tencent SmsSdkAppId.
    pub sdk_app_id: String,
    /// Twilio sender number; Aliyun call: CalledShowNumber.
    pub from: Option<String>,
    /// Twilio Messaging Service (instead of `from`).
    pub messaging_service_sid: Option<String>,
    /// Template variables and the fields they carry, in order.
    pub params: Vec<(String, ParamField)>,
    /// Longest variable value, in characters.
    pub param_max_chars: usize,
    /// Twilio: most segments of one text.
    pub segments: usize,
    /// Calls: more calls when one is not answered, `redial_after` apart.
    pub redial: u32,
    pub redial_after: Duration,
}

/// Whether `s` looks like a phone number at all (digits, an optional leading
/// `+`, spaces and dashes): what every contact's `phone` must be.
pub fn is_phone_like(s: &str) -> bool {
    let t = s.trim();
    let body = t.strip_prefix('+').unwrap_or(t);
    body.chars().any(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'))
}

/// The E.164 form of a phone number: `+` and 8 to 15 digits, or a mainland
/// China mobile number (11 digits, `1[3-9]...`) read as `+86...`.
pub fn e164(s: &str) -> Result<String, String> {
    let t = s.trim();
    let digits: String = t
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let bad = || {
        format!("{s:?} is not a phone number in E.164 form (like +8613800000000 or +14155550100)")
    };
    if let Some(rest) = digits.strip_prefix('+') {
        let ok = (8..=15).contains(&rest.len())
            && rest.chars().all(|c| c.is_ascii_digit())
            && !rest.starts_with('0');
        if !ok {
            return Err(bad());
        }
        if let Some(cn) = rest.strip_prefix("86")
            && cn.starts_with('1')
            && cn.len() != 11
        {
            return Err(format!(
                "{s:?}: a mainland China mobile number has 11 digits after +86"
            ));
        }
        return Ok(digits);
    }
    let b = digits.as_bytes();
    if digits.len() == 11
        && digits.chars().all(|c| c.is_ascii_digit())
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
    {
        return Ok(format!("+86{digits}"));
    }
    Err(bad())
}

fn err<T>(file: &Path, at: &Spanned<T>, msg: impl Into<String>) -> SourceError {
    SourceError::at(file, at, msg)
}

impl RawTarget {
    /// Checks an sms or call target's keys and resolves its `to`.
    pub(super) fn phone_config(
        &self,
        mode: PhoneMode,
        cx: &TargetContext,
        errors: &mut Vec<SourceError>,
    ) -> Option<PhoneConfig> {
        let file = cx.file;
        let name = &self.name().value;
        let kind = match mode {
            PhoneMode::Sms => "sms",
            PhoneMode::Call => "call",
        };
        let Some(p) = &self.provider else {
            errors.push(err(
                file,
                self.name(),
                format!("{kind} target {name:?} needs a `provider` (aliyun, tencent or twilio)"),
            ));
            return None;
        };
        let provider = match (p.value.as_str(), mode) {
            ("aliyun", _) => PhoneProvider::Aliyun,
            ("tencent", PhoneMode::Sms) => PhoneProvider::Tencent,
            ("twilio", _) => PhoneProvider::Twilio,
            (other, _) => {
                let known = match mode {
                    PhoneMode::Sms => "aliyun, tencent or twilio",
                    PhoneMode::Call => "aliyun or twilio",
                };
                errors.push(err(
                    file,
                    p,
                    format!("expected the provider of {kind} targets ({known}), got {other:?}"),
                ));
                return None;
            }
        };
        let pname = provider.as_str();
        let before = errors.len();
        // Keys of the other providers are mistakes at their position.
        let foreign: &[(&str, Option<(u32, u32)>)] = &[
            ("access_key_id", pos(&self.access_key_id)),
            ("access_key_secret", pos(&self.access_key_secret)),
            ("access_key_secret_file", pos(&self.access_key_secret_file)),
            ("secret_id", pos(&self.secret_id)),
            ("secret_key", pos(&self.secret_key)),
            ("secret_key_file", pos(&self.secret_key_file)),
            ("account_sid", pos(&self.account_sid)),
            ("auth_token", pos(&self.auth_token)),
            ("auth_token_file", pos(&self.auth_token_file)),
            ("sign_name", pos(&self.sign_name)),
            ("template_code", pos(&self.template_code)),
            ("template_id", pos(&self.template_id)),
            ("verify_template", pos(&self.verify_template)),
            ("sdk_app_id", pos(&self.sdk_app_id)),
            ("messaging_service_sid", pos(&self.messaging_service_sid)),
            ("segments", pos(&self.segments)),
            ("region", pos(&self.region)),
            ("params", pos(&self.params)),
            ("param_max_chars", pos(&self.param_max_chars)),
            ("redial", pos(&self.redial)),
            ("redial_after", pos(&self.redial_after)),
        ];
        let own: &[&str] = match (provider, mode) {
            (PhoneProvider::Aliyun, PhoneMode::Sms) => &[
                "access_key_id",
                "access_key_secret",
                "access_key_secret_file",
                "sign_name",
                "template_code",
                "verify_template",
                "region",
                "params",
                "param_max_chars",
            ],
            (PhoneProvider::Aliyun, PhoneMode::Call) => &[
                "access_key_id",
                "access_key_secret",
                "access_key_secret_file",
                "template_code",
                "region",
                "params",
                "param_max_chars",
                "redial",
                "redial_after",
            ],
            (PhoneProvider::Tencent, _) => &[
                "secret_id",
                "secret_key",
                "secret_key_file",
                "sign_name",
                "template_id",
                "verify_template",
                "sdk_app_id",
                "region",
                "params",
                "param_max_chars",
            ],
            (PhoneProvider::Twilio, PhoneMode::Sms) => &[
                "account_sid",
                "auth_token",
                "auth_token_file",
                "messaging_service_sid",
                "segments",
            ],
            (PhoneProvider::Twilio, PhoneMode::Call) => &[
                "account_sid",
                "auth_token",
                "auth_token_file",
                "redial",
                "redial_after",
            ],
        };
        for (key, at) in foreign {
            if let Some((line, col)) = at
                && !own.contains(key)
            {
                errors.push(SourceError {
                    file: file.to_path_buf(),
                    line: *line,
                    col: *col,
                    message: format!(
                        "`{key}` is not a key of {pname} {kind} targets (expected one of: {})",
                        own.join(", ")
                    ),
                });
            }
        }
        let need = |key: &str, errors: &mut Vec<SourceError>| {
            errors.push(err(
                file,
                self.name(),
                format!("{pname} {kind} target {name:?} needs `{key}`"),
            ));
        };
        let text = |v: &Option<Spanned<String>>, key: &str, errors: &mut Vec<SourceError>| match v
            .as_ref()
            .map(|s| s.value.trim())
            .filter(|s| !s.is_empty())
        {
            Some(s) => s.to_string(),
            None => {
                need(key, errors);
                String::new()
            }
        };
        let (id_key, secret_key) = match provider {
            PhoneProvider::Aliyun => ("access_key_id", "access_key_secret"),
            PhoneProvider::Tencent => ("secret_id", "secret_key"),
            PhoneProvider::Twilio => ("account_sid", "auth_token"),
        };
        let (id, inline, path) = match provider {
            PhoneProvider::Aliyun => (
                &self.access_key_id,
                self.access_key_secret.as_ref(),
                self.access_key_secret_file.as_ref(),
            ),
            PhoneProvider::Tencent => (
                &self.secret_id,
                self.secret_key.as_ref(),
                self.secret_key_file.as_ref(),
            ),
            PhoneProvider::Twilio => (
                &self.account_sid,
                self.auth_token.as_ref(),
                self.auth_token_file.as_ref(),
            ),
        };
        let id = text(id, id_key, errors);
        let secret = secret_or_file(file, secret_key, inline, path, errors);
        if inline.is_none() && path.is_none() {
            need(secret_key, errors);
        }
        if provider == PhoneProvider::Twilio
            && let Some(sid) = &self.account_sid
            && !(sid.value.starts_with("AC") && sid.value.len() == 34)
        {
            errors.push(err(
                file,
                sid,
                "expected a Twilio Account SID (34 characters starting with AC)",
            ));
        }
        let endpoint = match &self.endpoint {
            None => match (provider, mode) {
                (PhoneProvider::Aliyun, PhoneMode::Sms) => ALIYUN_SMS_URL,
                (PhoneProvider::Aliyun, PhoneMode::Call) => ALIYUN_VOICE_URL,
                (PhoneProvider::Tencent, _) => TENCENT_SMS_URL,
                (PhoneProvider::Twilio, _) => TWILIO_URL,
            }
            .to_string(),
            Some(e) => {
                match reqwest::Url::parse(&e.value) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                    _ => errors.push(err(file, e, "expected an http(s) URL for `endpoint`")),
                }
                e.value.clone()
            }
        };
        let region = self.region.as_ref().map_or_else(
            || match provider {
                PhoneProvider::Tencent => "ap-guangzhou".to_string(),
                _ => "cn-hangzhou".to_string(),
            },
            |r| r.value.clone(),
        );
        let mut sign_name = String::new();
        let mut template = String::new();
        let mut sdk_app_id = String::new();
        match provider {
            PhoneProvider::Aliyun => {
                if mode == PhoneMode::Sms {
                    sign_name = text(&self.sign_name, "sign_name", errors);
                }
                template = text(&self.template_code, "template_code", errors);
            }
            PhoneProvider::Tencent => {
                sign_name = text(&self.sign_name, "sign_name", errors);
                template = text(&self.template_id, "template_id", errors);
                sdk_app_id = text(&self.sdk_app_id, "sdk_app_id", errors);
            }
            PhoneProvider::Twilio => {
                if self.from.is_none()
                    && (mode == PhoneMode::Call || self.messaging_service_sid.is_none())
                {
                    need(
                        if mode == PhoneMode::Sms {
                            "from` or `messaging_service_sid"
                        } else {
                            "from"
                        },
                        errors,
                    );
                }
            }
        }
        let from = match &self.from {
            None => None,
            Some(f) if provider == PhoneProvider::Twilio => match e164(&f.value) {
                Ok(n) => Some(n),
                Err(e) => {
                    errors.push(err(file, f, format!("`from`: {e}")));
                    None
                }
            },
            // Aliyun's CalledShowNumber is written as the console shows it.
            Some(f) => Some(f.value.trim().to_string()),
        };
        let params = match (&self.params, provider) {
            (None, PhoneProvider::Twilio) => Vec::new(),
            (None, PhoneProvider::Aliyun) => ["alert", "severity", "message", "count", "since"]
                .iter()
                .map(|n| {
                    (
                        n.to_string(),
                        ParamField::parse(n).unwrap_or(ParamField::Alert),
                    )
                })
                .collect(),
            (None, PhoneProvider::Tencent) => ["alert", "severity", "message"]
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    (
                        (i + 1).to_string(),
                        ParamField::parse(n).unwrap_or(ParamField::Alert),
                    )
                })
                .collect(),
            (Some(p), _) => {
                let pairs: Vec<(String, String)> = match (&p.value, provider) {
                    (RawParams::Named(m), PhoneProvider::Aliyun) => {
                        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                    }
                    (RawParams::Ordered(l), PhoneProvider::Tencent) => l
                        .iter()
                        .enumerate()
                        .map(|(i, v)| ((i + 1).to_string(), v.clone()))
                        .collect(),
                    _ => {
                        errors.push(err(
                            file,
                            p,
                            match provider {
                                PhoneProvider::Tencent => "Tencent templates number their variables: `params` is a list of fields in template order, like [alert, severity, message]",
                                _ => "Aliyun templates name their variables: `params` maps each to a field, like {name: alert, level: severity, msg: message}",
                            },
                        ));
                        Vec::new()
                    }
                };
                let mut out = Vec::new();
                for (k, v) in pairs {
                    match ParamField::parse(&v) {
                        Some(f) => out.push((k, f)),
                        None => errors.push(err(
                            file,
                            p,
                            format!("params: {v:?} is not a field (expected alert, severity, status, message, count, since or labels.NAME)"),
                        )),
                    }
                }
                out
            }
        };
        // Aliyun: 35 characters per variable; Tencent: the default of a
        // "other" variable for unverified templates is lower, so 20.
        let param_max_chars = self.param_max_chars.as_ref().map_or(
            if provider == PhoneProvider::Tencent {
                20
            } else {
                35
            },
            |m| m.value,
        );
        let segments = self.segments.as_ref().map_or(1, |s| s.value);
        if let Some(s) = &self.segments
            && !(1..=10).contains(&s.value)
        {
            errors.push(err(file, s, "expected segments from 1 to 10"));
        }
        let redial = self.redial.as_ref().map_or(2, |r| r.value);
        if let Some(r) = &self.redial
            && r.value > 5
        {
            errors.push(err(file, r, "expected at most 5 redials"));
        }
        let redial_after = self
            .redial_after
            .as_ref()
            .map_or(Duration::from_secs(60), |r| r.value.0);
        let to = self.phone_numbers(cx, kind, errors);
        if errors.len() > before {
            return None;
        }
        Some(PhoneConfig {
            mode,
            provider,
            credentials: PhoneCredentials {
                id,
                secret: secret?,
            },
            endpoint,
            region,
            to,
            sign_name,
            template,
            verify_template: self
                .verify_template
                .as_ref()
                .map(|t| t.value.trim().to_string()),
            sdk_app_id,
            from,
            messaging_service_sid: self.messaging_service_sid.as_ref().map(|s| s.value.clone()),
            params,
            param_max_chars,
            segments,
            redial,
            redial_after,
        })
    }

    /// `to`: numbers and contact/group names, as E.164 numbers.
    fn phone_numbers(
        &self,
        cx: &TargetContext,
        kind: &str,
        errors: &mut Vec<SourceError>,
    ) -> Vec<String> {
        let file = cx.file;
        let name = &self.name().value;
        let mut out: Vec<String> = Vec::new();
        let mut add = |n: String| {
            if !out.contains(&n) {
                out.push(n);
            }
        };
        for e in self.to.iter().flat_map(|t| t.value.iter()) {
            if e.value.trim_start().starts_with('+') || e.value.chars().all(|c| c.is_ascii_digit())
            {
                match e164(&e.value) {
                    Ok(n) => add(n),
                    Err(m) => errors.push(err(file, e, format!("`to` of target {name:?}: {m}"))),
                }
                continue;
            }
            match cx.directory.expand(&e.value) {
                None => errors.push(err(
                    file,
                    e,
                    format!(
                        "`to` of target {name:?} names {:?}, but no contact or contact group has that name",
                        e.value
                    ),
                )),
                Some(contacts) => {
                    for c in contacts {
                        match &c.phone {
                            None => errors.push(err(
                                file,
                                e,
                                format!(
                                    "`to` of target {name:?} names {:?}, but contact {:?} has no `phone`",
                                    e.value,
                                    c.name()
                                ),
                            )),
                            Some(p) => match e164(&p.value) {
                                Ok(n) => add(n),
                                Err(m) => errors.push(err(
                                    file,
                                    p,
                                    format!("phone of contact {:?} (reached by {kind} target {name:?}): {m}", c.name()),
                                )),
                            },
                        }
                    }
                }
            }
        }
        out
    }
}

fn pos<T>(v: &Option<Spanned<T>>) -> Option<(u32, u32)> {
    v.as_ref()
        .map(|s| (s.referenced.line() as u32, s.referenced.column() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_e164() {
        assert_eq!(e164("+8613800000000").unwrap(), "+8613800000000");
        assert_eq!(e164("13800000000").unwrap(), "+8613800000000");
        assert_eq!(e164("+1 415-555-0100").unwrap(), "+14155550100");
        assert!(e164("call-me-maybe").is_err());
        assert!(e164("+86138000").is_err());
        assert!(e164("+0123456789").is_err());
        assert!(e164("12345").is_err());
        assert!(is_phone_like("13800000000") && is_phone_like("+86 138-0000-0000"));
        assert!(!is_phone_like("call-me-maybe") && !is_phone_like(""));
    }
}
