//! The keys of phone targets: `type: sms` (Alibaba Cloud SMS, Tencent Cloud
//! SMS, Twilio Messages) and `type: call` (Alibaba Cloud text-to-speech
//! calls, Twilio Calls), their checks (each provider's own keys; a key of
//! another provider is an error at its position) and the typed settings.
//!
//! China's gateways send only pre-approved templates: `params` maps the
//! template's variables to alert fields (`alert`, `severity`, `status`,
//! `message`, `count`, `since`, `labels.NAME`); Aliyun names them (a map),
//! Tencent numbers them (a list, in template order).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::config::e164;
use crate::config::target_keys::{Key, PROXY, TargetCheck};
use crate::config::Secret;
use crate::yaml::SourceError;

/// Keys of `type: sms` targets besides the common ones.
pub const SMS_KEYS: &[Key] = &[
    Key::text("provider"),
    Key::text("endpoint"),
    Key::text("region"),
    Key::names("to"),
    Key::text("access_key_id"),
    Key::secret("access_key_secret"),
    Key::path("access_key_secret_file"),
    Key::text("secret_id"),
    Key::secret("secret_key"),
    Key::path("secret_key_file"),
    Key::text("account_sid"),
    Key::secret("auth_token"),
    Key::path("auth_token_file"),
    Key::text("sign_name"),
    Key::text("template_code"),
    Key::text("template_id"),
    Key::text("verify_template"),
    Key::text("sdk_app_id"),
    Key::text("from"),
    Key::text("messaging_service_sid"),
    Key::params("params"),
    Key::count("param_max_chars"),
    Key::count("segments"),
    PROXY,
];

/// Keys of `type: call` targets besides the common ones.
pub const CALL_KEYS: &[Key] = &[
    Key::text("provider"),
    Key::text("endpoint"),
    Key::text("region"),
    Key::names("to"),
    Key::text("access_key_id"),
    Key::secret("access_key_secret"),
    Key::path("access_key_secret_file"),
    Key::text("account_sid"),
    Key::secret("auth_token"),
    Key::path("auth_token_file"),
    Key::text("template_code"),
    Key::text("from"),
    Key::params("params"),
    Key::count("param_max_chars"),
    Key::small("redial"),
    Key::duration("redial_after"),
    PROXY,
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
                    .filter(|l| crate::alert::valid_label_name(l))?
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

/// Checks a `type: sms` target.
pub fn check_sms(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<PhoneConfig> {
    phone_config(PhoneMode::Sms, t, errors)
}

/// Checks a `type: call` target.
pub fn check_call(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<PhoneConfig> {
    phone_config(PhoneMode::Call, t, errors)
}

/// Checks an sms or call target's keys and resolves its `to`.
fn phone_config(
        mode: PhoneMode,
        t: &TargetCheck,
        errors: &mut Vec<SourceError>,
    ) -> Option<PhoneConfig> {
        let name = t.target();
        let kind = match mode {
            PhoneMode::Sms => "sms",
            PhoneMode::Call => "call",
        };
        let Some(p) = t.keys.text("provider") else {
            errors.push(t.err_at_name(
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
                errors.push(t.err(
                    p,
                    format!("expected the provider of {kind} targets ({known}), got {other:?}"),
                ));
                return None;
            }
        };
        let pname = provider.as_str();
        let before = errors.len();
        // Keys of the other providers are mistakes at their position.
        let foreign: &[&str] = &[
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
            "messaging_service_sid",
            "segments",
            "region",
            "params",
            "param_max_chars",
            "redial",
            "redial_after",
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
        for key in foreign {
            if let Some(at) = t.keys.position(key)
                && !own.contains(key)
            {
                errors.push(t.err_at(
                    at,
                    format!(
                        "`{key}` is not a key of {pname} {kind} targets (expected one of: {})",
                        own.join(", ")
                    ),
                ));
            }
        }
        let need = |key: &str, errors: &mut Vec<SourceError>| {
            errors.push(t.err_at_name(format!(
                "{pname} {kind} target {name:?} needs `{key}`"
            )));
        };
        let text = |key: &str, errors: &mut Vec<SourceError>| match t
            .keys
            .text(key)
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
        let id = text(id_key, errors);
        let secret = t.secret_or_file(secret_key, errors);
        if !t.has_secret(secret_key) {
            need(secret_key, errors);
        }
        if provider == PhoneProvider::Twilio
            && let Some(sid) = t.keys.text("account_sid")
            && !(sid.value.starts_with("AC") && sid.value.len() == 34)
        {
            errors.push(t.err(
                sid,
                "expected a Twilio Account SID (34 characters starting with AC)",
            ));
        }
        let endpoint = match t.keys.text("endpoint") {
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
                    _ => errors.push(t.err(e, "expected an http(s) URL for `endpoint`")),
                }
                e.value.clone()
            }
        };
        let region = t.keys.text("region").map_or_else(
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
                    sign_name = text("sign_name", errors);
                }
                template = text("template_code", errors);
            }
            PhoneProvider::Tencent => {
                sign_name = text("sign_name", errors);
                template = text("template_id", errors);
                sdk_app_id = text("sdk_app_id", errors);
            }
            PhoneProvider::Twilio => {
                if !t.keys.has("from")
                    && (mode == PhoneMode::Call || !t.keys.has("messaging_service_sid"))
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
        let from = match t.keys.text("from") {
            None => None,
            Some(f) if provider == PhoneProvider::Twilio => match e164(&f.value) {
                Ok(n) => Some(n),
                Err(e) => {
                    errors.push(t.err(f, format!("`from`: {e}")));
                    None
                }
            },
            // Aliyun's CalledShowNumber is written as the console shows it.
            Some(f) => Some(f.value.trim().to_string()),
        };
        let params = match (t.keys.params("params"), provider) {
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
                        errors.push(t.err(
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
                        None => errors.push(t.err(
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
        let param_max_chars = t.keys.count("param_max_chars").map_or(
            if provider == PhoneProvider::Tencent {
                20
            } else {
                35
            },
            |m| m.value,
        );
        let segments = t.keys.count("segments").map_or(1, |s| s.value);
        if let Some(s) = t.keys.count("segments")
            && !(1..=10).contains(&s.value)
        {
            errors.push(t.err(s, "expected segments from 1 to 10"));
        }
        let redial = t.keys.small("redial").map_or(2, |r| r.value);
        if let Some(r) = t.keys.small("redial")
            && r.value > 5
        {
            errors.push(t.err(r, "expected at most 5 redials"));
        }
        let redial_after = t
            .keys
            .duration("redial_after")
            .map_or(Duration::from_secs(60), |r| r.value.0);
        let to = phone_numbers(t, kind, errors);
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
            verify_template: t
                .keys
                .text("verify_template")
                .map(|t| t.value.trim().to_string()),
            sdk_app_id,
            from,
            messaging_service_sid: t.text_of("messaging_service_sid"),
            params,
            param_max_chars,
            segments,
            redial,
            redial_after,
        })
    }

/// `to`: numbers and contact/group names, as E.164 numbers.
fn phone_numbers(
        t: &TargetCheck,
        kind: &str,
        errors: &mut Vec<SourceError>,
    ) -> Vec<String> {
        let name = t.target();
        let mut out: Vec<String> = Vec::new();
        let mut add = |n: String| {
            if !out.contains(&n) {
                out.push(n);
            }
        };
        for e in t.keys.names("to").iter().flat_map(|to| to.value.iter()) {
            if e.value.trim_start().starts_with('+') || e.value.chars().all(|c| c.is_ascii_digit())
            {
                match e164(&e.value) {
                    Ok(n) => add(n),
                    Err(m) => errors.push(t.err(e, format!("`to` of target {name:?}: {m}"))),
                }
                continue;
            }
            match t.cx.directory.expand(&e.value) {
                None => errors.push(t.err(
                    e,
                    format!(
                        "`to` of target {name:?} names {:?}, but no contact or contact group has that name",
                        e.value
                    ),
                )),
                Some(contacts) => {
                    for c in contacts {
                        match &c.phone {
                            None => errors.push(t.err(
                                e,
                                format!(
                                    "`to` of target {name:?} names {:?}, but contact {:?} has no `phone`",
                                    e.value,
                                    c.name()
                                ),
                            )),
                            Some(p) => match e164(&p.value) {
                                Ok(n) => add(n),
                                Err(m) => errors.push(t.err(
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
