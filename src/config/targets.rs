//! Notification targets in the config. Each `type` has its own strict set of
//! keys: a key of another type is an error at its position, as is an unknown
//! key. The YAML is read into [`RawTarget`] (every key any type knows, each
//! with its position) and then checked and turned into a typed
//! [`TargetConfig`] with contacts resolved to phones, user ids and addresses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use super::people::{Directory, Language, resolve_addresses, secret_or_file};
use super::phones::{PhoneConfig, PhoneMode};
use crate::yaml::{HumanDuration, SourceError, Spanned};

/// A target as written. Private to config loading; see [`TargetConfig`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    enabled: Option<Spanned<bool>>,
    #[serde(default)]
    send_resolved: Option<Spanned<bool>>,
    #[serde(default)]
    language: Option<Spanned<Language>>,
    #[serde(default)]
    templates: Option<Spanned<RawTemplates>>,
    #[serde(default)]
    timeout: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    max_alerts: Option<Spanned<usize>>,
    #[serde(default)]
    proxy: Option<Spanned<Secret>>,
    // webhook, alertmanager, pagerduty
    #[serde(default)]
    url: Option<Spanned<Secret>>,
    #[serde(default)]
    url_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    headers: Option<Spanned<BTreeMap<String, Secret>>>,
    #[serde(default)]
    method: Option<Spanned<String>>,
    #[serde(default)]
    payload: Option<Spanned<String>>,
    // chat robots and slack
    #[serde(default)]
    webhook: Option<Spanned<Secret>>,
    #[serde(default)]
    webhook_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    secret: Option<Spanned<Secret>>,
    #[serde(default)]
    secret_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    keyword: Option<Spanned<String>>,
    #[serde(default)]
    mention: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    mention_all: Option<Spanned<bool>>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    // wecom_app
    #[serde(default)]
    corp_id: Option<Spanned<String>>,
    #[serde(default)]
    agent_id: Option<Spanned<i64>>,
    #[serde(default)]
    users: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    parties: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    tags: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    to_all: Option<Spanned<bool>>,
    #[serde(default)]
    api_url: Option<Spanned<String>>,
    // email
    #[serde(default)]
    pub(super) to: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    cc: Option<Spanned<Vec<Spanned<String>>>>,
    // pagerduty
    #[serde(default)]
    routing_key: Option<Spanned<Secret>>,
    #[serde(default)]
    routing_key_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    source: Option<Spanned<String>>,
    #[serde(default)]
    component: Option<Spanned<String>>,
    #[serde(default)]
    group: Option<Spanned<String>>,
    #[serde(default)]
    class: Option<Spanned<String>>,
    // sms and call (see `phones.rs`)
    #[serde(default)]
    pub(super) provider: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) endpoint: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) region: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) access_key_id: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) access_key_secret: Option<Spanned<Secret>>,
    #[serde(default)]
    pub(super) access_key_secret_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub(super) secret_id: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) secret_key: Option<Spanned<Secret>>,
    #[serde(default)]
    pub(super) secret_key_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub(super) account_sid: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) auth_token: Option<Spanned<Secret>>,
    #[serde(default)]
    pub(super) auth_token_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub(super) sign_name: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) template_code: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) template_id: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) verify_template: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) sdk_app_id: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) from: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) messaging_service_sid: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) params: Option<Spanned<super::phones::RawParams>>,
    #[serde(default)]
    pub(super) param_max_chars: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) segments: Option<Spanned<usize>>,
    #[serde(default)]
    pub(super) redial: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) redial_after: Option<Spanned<HumanDuration>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTemplates {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

/// Per-target overrides of the default wording (minijinja; see README).
#[derive(Debug, Clone, Default)]
pub struct TargetTemplates {
    /// Title / subject / header line.
    pub title: Option<String>,
    /// The body, in the channel's markup (markdown, mrkdwn, plain text).
    pub text: Option<String>,
}

const COMMON_KEYS: &[&str] = &[
    "name",
    "type",
    "enabled",
    "send_resolved",
    "language",
    "templates",
    "timeout",
    "max_alerts",
];

/// The target types and the keys each accepts besides the common ones.
const TYPES: &[(&str, &[&str])] = &[
    (
        "webhook",
        &["url", "url_file", "headers", "method", "payload", "proxy"],
    ),
    ("alertmanager", &["url", "url_file", "headers", "proxy"]),
    ("email", &["to", "cc", "format"]),
    (
        "dingtalk",
        &[
            "webhook",
            "webhook_file",
            "secret",
            "secret_file",
            "keyword",
            "mention",
            "mention_all",
            "format",
            "proxy",
        ],
    ),
    (
        "wecom",
        &[
            "webhook",
            "webhook_file",
            "mention",
            "mention_all",
            "format",
            "proxy",
        ],
    ),
    (
        "wecom_app",
        &[
            "corp_id",
            "secret",
            "secret_file",
            "agent_id",
            "users",
            "parties",
            "tags",
            "to_all",
            "format",
            "api_url",
            "proxy",
        ],
    ),
    (
        "feishu",
        &[
            "webhook",
            "webhook_file",
            "secret",
            "secret_file",
            "keyword",
            "mention",
            "mention_all",
            "format",
            "proxy",
        ],
    ),
    ("slack", &["webhook", "webhook_file", "proxy"]),
    (
        "pagerduty",
        &[
            "routing_key",
            "routing_key_file",
            "url",
            "source",
            "component",
            "group",
            "class",
            "proxy",
        ],
    ),
    ("sms", super::phones::SMS_KEYS),
    ("call", super::phones::CALL_KEYS),
];

/// A checked target, ready for its channel.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    pub name: Spanned<String>,
    pub kind: TargetKind,
    pub enabled: bool,
    pub send_resolved: bool,
    /// None: the config's top-level `language`.
    pub language: Option<Language>,
    pub templates: TargetTemplates,
    pub timeout: Option<Duration>,
    /// Most alerts in one message (0: the channel's own limit).
    pub max_alerts: usize,
    /// HTTP(S) proxy for this target's requests (may carry credentials).
    pub proxy: Option<Secret>,
    /// Names of the contacts this target mentions (routes reach them here).
    pub mentions: Vec<String>,
}

impl TargetConfig {
    pub fn name(&self) -> &str {
        &self.name.value
    }

    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

#[derive(Debug, Clone)]
pub enum TargetKind {
    Webhook(WebhookConfig),
    Alertmanager(AlertmanagerConfig),
    Email(EmailConfig),
    DingTalk(DingTalkConfig),
    WeCom(WeComConfig),
    WeComApp(WeComAppConfig),
    Feishu(FeishuConfig),
    Slack(SlackConfig),
    PagerDuty(PagerDutyConfig),
    /// Text messages through an SMS gateway.
    Sms(PhoneConfig),
    /// Voice calls through a text-to-speech call service.
    Call(PhoneConfig),
}

impl TargetKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            TargetKind::Webhook(_) => "webhook",
            TargetKind::Alertmanager(_) => "alertmanager",
            TargetKind::Email(_) => "email",
            TargetKind::DingTalk(_) => "dingtalk",
            TargetKind::WeCom(_) => "wecom",
            TargetKind::WeComApp(_) => "wecom_app",
            TargetKind::Feishu(_) => "feishu",
            TargetKind::Slack(_) => "slack",
            TargetKind::PagerDuty(_) => "pagerduty",
            TargetKind::Sms(_) => "sms",
            TargetKind::Call(_) => "call",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookPayload {
    /// Alertmanager's webhook JSON (version 4), several alerts per message.
    Alertmanager,
    /// tocsin's own JSON, one alert per message.
    Tocsin,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: Secret,
    pub method: reqwest::Method,
    pub headers: BTreeMap<String, Secret>,
    pub payload: WebhookPayload,
}

#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// Base URL of Alertmanager; alerts go to `<url>/api/v2/alerts`.
    pub url: Secret,
    pub headers: BTreeMap<String, Secret>,
}

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

/// Markdown or plain text (DingTalk, WeCom).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFormat {
    Markdown,
    Text,
}

#[derive(Debug, Clone)]
pub struct DingTalkConfig {
    /// `https://oapi.dingtalk.com/robot/send?access_token=...`
    pub webhook: Secret,
    /// Signing secret (`SEC...`).
    pub secret: Option<Secret>,
    pub keyword: Option<String>,
    /// Phones of the mentioned contacts.
    pub mention_mobiles: Vec<String>,
    pub mention_all: bool,
    pub format: ChatFormat,
}

#[derive(Debug, Clone)]
pub struct WeComConfig {
    /// `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...`
    pub webhook: Secret,
    /// WeCom userids of the mentioned contacts.
    pub mention_users: Vec<String>,
    /// Phones of mentioned contacts that have no WeCom userid.
    pub mention_mobiles: Vec<String>,
    pub mention_all: bool,
    pub format: ChatFormat,
}

#[derive(Debug, Clone)]
pub struct WeComAppConfig {
    pub corp_id: String,
    pub secret: Secret,
    pub agent_id: i64,
    pub users: Vec<String>,
    pub parties: Vec<String>,
    pub tags: Vec<String>,
    pub to_all: bool,
    pub format: ChatFormat,
    /// Base of `/gettoken` and `/message/send`.
    pub api_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeishuFormat {
    /// Rich text (`msg_type: post`).
    Post,
    Text,
}

#[derive(Debug, Clone)]
pub struct FeishuConfig {
    /// `https://open.feishu.cn/open-apis/bot/v2/hook/...`
    pub webhook: Secret,
    pub secret: Option<Secret>,
    pub keyword: Option<String>,
    pub mention_users: Vec<String>,
    pub mention_all: bool,
    pub format: FeishuFormat,
}

#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub webhook: Secret,
}

#[derive(Debug, Clone)]
pub struct PagerDutyConfig {
    pub routing_key: Secret,
    pub url: String,
    pub source: String,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
}

pub const WECOM_API: &str = "https://qyapi.weixin.qq.com/cgi-bin";
pub const PAGERDUTY_EVENTS: &str = "https://events.pagerduty.com/v2/enqueue";

/// What a target's checks need from the rest of the config.
pub struct TargetContext<'a> {
    pub file: &'a Path,
    pub directory: &'a Directory<'a>,
    /// `owner:` resolved to addresses (default mail recipients).
    pub owner: &'a [String],
    pub has_mailer: bool,
}

fn err<T>(file: &Path, at: &Spanned<T>, msg: impl Into<String>) -> SourceError {
    SourceError::at(file, at, msg)
}

impl RawTarget {
    pub fn name(&self) -> &Spanned<String> {
        &self.name
    }

    /// Every key that is set, with its position (to reject keys of other types).
    fn present(&self) -> Vec<(&'static str, SpanRef<'_>)> {
        let mut v: Vec<(&'static str, SpanRef<'_>)> = Vec::new();
        macro_rules! key {
            ($($f:ident),*) => {$(
                if let Some(s) = &self.$f { v.push((stringify!($f), SpanRef::of(s))); }
            )*};
        }
        key!(
            proxy,
            url,
            url_file,
            headers,
            method,
            payload,
            webhook,
            webhook_file,
            secret,
            secret_file,
            keyword,
            mention,
            mention_all,
            format,
            corp_id,
            agent_id,
            users,
            parties,
            tags,
            to_all,
            api_url,
            to,
            cc,
            routing_key,
            routing_key_file,
            source,
            component,
            group,
            class,
            provider,
            endpoint,
            region,
            access_key_id,
            access_key_secret,
            access_key_secret_file,
            secret_id,
            secret_key,
            secret_key_file,
            account_sid,
            auth_token,
            auth_token_file,
            sign_name,
            template_code,
            template_id,
            verify_template,
            sdk_app_id,
            from,
            messaging_service_sid,
            params,
            param_max_chars,
            segments,
            redial,
            redial_after
        );
        v
    }

    /// Checks the target and builds its typed config; problems go to `errors`.
    pub fn resolve(
        &self,
        cx: &TargetContext,
        errors: &mut Vec<SourceError>,
    ) -> Option<TargetConfig> {
        let file = cx.file;
        let type_name = match self.kind.value.as_str() {
            "lark" => "feishu",
            "wecom_robot" => "wecom",
            other => other,
        };
        let Some((type_name, keys)) = TYPES.iter().find(|(t, _)| *t == type_name) else {
            let known: Vec<&str> = TYPES.iter().map(|(t, _)| *t).collect();
            errors.push(err(
                file,
                &self.kind,
                format!(
                    "expected a target type ({}), got {:?}",
                    known.join(", "),
                    self.kind.value
                ),
            ));
            return None;
        };
        let before = errors.len();
        for (key, at) in self.present() {
            if !keys.contains(&key) && !COMMON_KEYS.contains(&key) {
                errors.push(at.error(
                    file,
                    format!(
                        "`{key}` is not a key of {type_name} targets (expected one of: {})",
                        keys.join(", ")
                    ),
                ));
            }
        }
        let mut templates = TargetTemplates::default();
        if let Some(t) = &self.templates {
            for (which, src) in [("title", &t.value.title), ("text", &t.value.text)] {
                if let Some(src) = src
                    && let Err(e) = crate::template::check_notification_template(src)
                {
                    errors.push(err(file, t, format!("templates.{which}: {e}")));
                }
            }
            templates = TargetTemplates {
                title: t.value.title.clone(),
                text: t.value.text.clone(),
            };
        }
        let proxy = self.proxy.as_ref().map(|p| p.value.clone());
        if let Some(p) = &self.proxy
            && reqwest::Proxy::all(p.value.expose()).is_err()
        {
            errors.push(err(
                file,
                p,
                "proxy is not a proxy URL like http://host:3128",
            ));
        }
        let kind = self.kind_config(type_name, cx, errors);
        if errors.len() > before {
            return None;
        }
        Some(TargetConfig {
            name: self.name.clone(),
            kind: kind?,
            enabled: self.enabled.as_ref().is_none_or(|b| b.value),
            send_resolved: self.send_resolved.as_ref().is_none_or(|b| b.value),
            language: self.language.as_ref().map(|l| l.value),
            templates,
            timeout: self.timeout.as_ref().map(|t| t.value.0),
            max_alerts: self.max_alerts.as_ref().map_or(0, |m| m.value),
            proxy,
            mentions: self.mention.as_ref().map_or_else(Vec::new, |m| {
                m.value
                    .iter()
                    .filter_map(|n| cx.directory.expand(&n.value))
                    .flatten()
                    .map(|c| c.name().to_string())
                    .collect()
            }),
        })
    }

    fn kind_config(
        &self,
        type_name: &str,
        cx: &TargetContext,
        errors: &mut Vec<SourceError>,
    ) -> Option<TargetKind> {
        let file = cx.file;
        let name = &self.name.value;
        let need = |what: &str, errors: &mut Vec<SourceError>| {
            errors.push(err(
                file,
                &self.name,
                format!("{type_name} target {name:?} needs a `{what}`"),
            ));
        };
        let url_like = |key: &str,
                        inline: Option<&Spanned<Secret>>,
                        path: Option<&Spanned<PathBuf>>,
                        errors: &mut Vec<SourceError>|
         -> Option<Secret> {
            let s = secret_or_file(file, key, inline, path, errors)?;
            match reqwest::Url::parse(s.expose()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Some(s),
                // The URL may hold a token: say what is wrong, not what it is.
                _ => {
                    let at = inline
                        .map(|s| s.referenced)
                        .or(path.map(|p| p.referenced))
                        .unwrap_or(self.name.referenced);
                    errors.push(SourceError {
                        file: file.to_path_buf(),
                        line: at.line() as u32,
                        col: at.column() as u32,
                        message: format!("`{key}` of target {name:?} is not an http(s) URL"),
                    });
                    None
                }
            }
        };
        let chat_format = |errors: &mut Vec<SourceError>| match &self.format {
            None => ChatFormat::Markdown,
            Some(f) => match f.value.as_str() {
                "markdown" => ChatFormat::Markdown,
                "text" => ChatFormat::Text,
                other => {
                    errors.push(err(
                        file,
                        f,
                        format!("expected format markdown or text, got {other:?}"),
                    ));
                    ChatFormat::Markdown
                }
            },
        };
        let mentions = |need: &str,
                        field: fn(&super::Contact) -> Option<&String>,
                        errors: &mut Vec<SourceError>| {
            self.mention.as_ref().map_or_else(Vec::new, |m| {
                cx.directory.resolve(
                    file,
                    m.value.iter(),
                    &format!("mention of target {name:?}"),
                    need,
                    field,
                    errors,
                )
            })
        };
        let mention_all = self.mention_all.as_ref().is_some_and(|b| b.value);
        let secret = |errors: &mut Vec<SourceError>| {
            secret_or_file(
                file,
                "secret",
                self.secret.as_ref(),
                self.secret_file.as_ref(),
                errors,
            )
        };
        let keyword = self
            .keyword
            .as_ref()
            .map(|k| k.value.trim().to_string())
            .filter(|k| !k.is_empty());
        let headers = self
            .headers
            .as_ref()
            .map(|h| h.value.clone())
            .unwrap_or_default();
        if let Some(h) = &self.headers {
            for (k, v) in &h.value {
                if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                    errors.push(err(file, h, format!("{k:?} is not a valid header name")));
                } else if reqwest::header::HeaderValue::from_str(v.expose()).is_err() {
                    errors.push(err(
                        file,
                        h,
                        format!("the value of header {k:?} is not valid"),
                    ));
                }
            }
        }
        let webhook = |errors: &mut Vec<SourceError>| {
            let w = url_like(
                "webhook",
                self.webhook.as_ref(),
                self.webhook_file.as_ref(),
                errors,
            );
            if w.is_none() && self.webhook.is_none() && self.webhook_file.is_none() {
                need("webhook", errors);
            }
            w
        };
        Some(match type_name {
            "webhook" => {
                let url = url_like("url", self.url.as_ref(), self.url_file.as_ref(), errors);
                if self.url.is_none() && self.url_file.is_none() {
                    need("url", errors);
                }
                let method = match &self.method {
                    None => reqwest::Method::POST,
                    Some(m) => match m.value.to_ascii_uppercase().as_str() {
                        "POST" => reqwest::Method::POST,
                        "PUT" => reqwest::Method::PUT,
                        "PATCH" => reqwest::Method::PATCH,
                        other => {
                            errors.push(err(
                                file,
                                m,
                                format!("expected method POST, PUT or PATCH, got {other:?}"),
                            ));
                            reqwest::Method::POST
                        }
                    },
                };
                let payload = match self.payload.as_ref().map(|p| (p, p.value.as_str())) {
                    None | Some((_, "alertmanager")) => WebhookPayload::Alertmanager,
                    Some((_, "tocsin")) => WebhookPayload::Tocsin,
                    Some((p, other)) => {
                        errors.push(err(
                            file,
                            p,
                            format!("expected payload alertmanager or tocsin, got {other:?}"),
                        ));
                        WebhookPayload::Alertmanager
                    }
                };
                TargetKind::Webhook(WebhookConfig {
                    url: url?,
                    method,
                    headers,
                    payload,
                })
            }
            "alertmanager" => {
                let url = url_like("url", self.url.as_ref(), self.url_file.as_ref(), errors);
                if self.url.is_none() && self.url_file.is_none() {
                    need("url", errors);
                }
                TargetKind::Alertmanager(AlertmanagerConfig { url: url?, headers })
            }
            "email" => {
                if !cx.has_mailer {
                    errors.push(err(
                        file,
                        &self.name,
                        format!("email target {name:?} needs a top-level `mailer:` (SMTP server)"),
                    ));
                }
                let what = format!("`to` of target {name:?}");
                let mut to = self.to.as_ref().map_or_else(Vec::new, |t| {
                    resolve_addresses(file, &t.value, &what, cx.directory, errors)
                });
                if self.to.is_none() {
                    to = cx.owner.to_vec();
                }
                let what = format!("`cc` of target {name:?}");
                let cc = self.cc.as_ref().map_or_else(Vec::new, |t| {
                    resolve_addresses(file, &t.value, &what, cx.directory, errors)
                });
                if to.is_empty() && cc.is_empty() {
                    errors.push(err(
                        file,
                        &self.name,
                        format!("email target {name:?} has no recipients: set `to` or a top-level `owner`"),
                    ));
                }
                let format = match &self.format {
                    None => EmailFormat::Table,
                    Some(f) => match f.value.as_str() {
                        "text" => EmailFormat::Text,
                        "table" => EmailFormat::Table,
                        "attachment" => EmailFormat::Attachment,
                        "table+attachment" | "table attachment" => EmailFormat::TableAttachment,
                        other => {
                            errors.push(err(
                                file,
                                f,
                                format!("expected format text, table, attachment or table+attachment, got {other:?}"),
                            ));
                            EmailFormat::Table
                        }
                    },
                };
                TargetKind::Email(EmailConfig { to, cc, format })
            }
            "dingtalk" => {
                let webhook = webhook(errors);
                let mention_mobiles = mentions("phone", |c| c.phone(), errors);
                TargetKind::DingTalk(DingTalkConfig {
                    secret: secret(errors),
                    keyword,
                    mention_mobiles,
                    mention_all,
                    format: chat_format(errors),
                    webhook: webhook?,
                })
            }
            "wecom" => {
                let webhook = webhook(errors);
                if let Some(w) = &webhook
                    && !w.expose().contains("key=")
                {
                    errors.push(err(
                        file,
                        &self.name,
                        format!("`webhook` of wecom target {name:?} must be the robot's full URL with `?key=`"),
                    ));
                }
                // A contact is mentioned by WeCom userid, else by phone.
                let mut mention_users = Vec::new();
                let mut mention_mobiles = Vec::new();
                if let Some(m) = &self.mention {
                    for n in &m.value {
                        match cx.directory.expand(&n.value) {
                            None => errors.push(err(
                                file,
                                n,
                                format!("mention of target {name:?} names {:?}, but no contact or contact group has that name", n.value),
                            )),
                            Some(cs) => {
                                for c in cs {
                                    if let Some(u) = &c.wecom_user {
                                        mention_users.push(u.clone());
                                    } else if let Some(p) = c.phone() {
                                        mention_mobiles.push(p.clone());
                                    } else {
                                        errors.push(err(
                                            file,
                                            n,
                                            format!("mention of target {name:?} names {:?}, but contact {:?} has neither `wecom_user` nor `phone`", n.value, c.name()),
                                        ));
                                    }
                                }
                            }
                        }
                    }
                }
                mention_users.dedup();
                mention_mobiles.dedup();
                let format = chat_format(errors);
                // WeCom markdown mentions only by `<@userid>`: phones and @all
                // need the text format.
                if format == ChatFormat::Markdown {
                    if !mention_mobiles.is_empty()
                        && let Some(m) = &self.mention
                    {
                        errors.push(err(
                            file,
                            m,
                            format!("wecom markdown messages mention by `wecom_user` only; target {name:?} mentions contacts by phone (give them a `wecom_user` or use `format: text`)"),
                        ));
                    }
                    if mention_all && let Some(m) = &self.mention_all {
                        errors.push(err(
                            file,
                            m,
                            "wecom markdown messages cannot mention everyone; use `format: text` for `mention_all`",
                        ));
                    }
                }
                TargetKind::WeCom(WeComConfig {
                    mention_users,
                    mention_mobiles,
                    mention_all,
                    format,
                    webhook: webhook?,
                })
            }
            "wecom_app" => {
                let secret = secret(errors);
                if self.secret.is_none() && self.secret_file.is_none() {
                    need("secret", errors);
                }
                if self.corp_id.is_none() {
                    need("corp_id", errors);
                }
                if self.agent_id.is_none() {
                    need("agent_id", errors);
                }
                let users = self.users.as_ref().map_or_else(Vec::new, |u| {
                    cx.directory.resolve(
                        file,
                        u.value.iter(),
                        &format!("users of target {name:?}"),
                        "wecom_user",
                        |c| c.wecom_user.as_ref(),
                        errors,
                    )
                });
                let parties = self
                    .parties
                    .as_ref()
                    .map_or_else(Vec::new, |p| p.value.clone());
                let tags = self
                    .tags
                    .as_ref()
                    .map_or_else(Vec::new, |p| p.value.clone());
                let to_all = self.to_all.as_ref().is_some_and(|b| b.value);
                if users.is_empty() && parties.is_empty() && tags.is_empty() && !to_all {
                    errors.push(err(
                        file,
                        &self.name,
                        format!("wecom_app target {name:?} needs `users`, `parties`, `tags` or `to_all: true`"),
                    ));
                }
                let api_url = match &self.api_url {
                    None => WECOM_API.to_string(),
                    Some(u) => {
                        if !matches!(
                            reqwest::Url::parse(&u.value)
                                .map(|u| u.scheme().to_string())
                                .as_deref(),
                            Ok("http" | "https")
                        ) {
                            errors.push(err(file, u, "expected an http(s) URL for `api_url`"));
                        }
                        u.value.trim_end_matches('/').to_string()
                    }
                };
                TargetKind::WeComApp(WeComAppConfig {
                    corp_id: self.corp_id.as_ref()?.value.clone(),
                    secret: secret?,
                    agent_id: self.agent_id.as_ref()?.value,
                    users,
                    parties,
                    tags,
                    to_all,
                    format: chat_format(errors),
                    api_url,
                })
            }
            "feishu" => {
                let webhook = webhook(errors);
                let mention_users = mentions("feishu_user", |c| c.feishu_user.as_ref(), errors);
                let format = match &self.format {
                    None => FeishuFormat::Post,
                    Some(f) => match f.value.as_str() {
                        "post" => FeishuFormat::Post,
                        "text" => FeishuFormat::Text,
                        other => {
                            errors.push(err(
                                file,
                                f,
                                format!("expected format post or text, got {other:?}"),
                            ));
                            FeishuFormat::Post
                        }
                    },
                };
                TargetKind::Feishu(FeishuConfig {
                    secret: secret(errors),
                    keyword,
                    mention_users,
                    mention_all,
                    format,
                    webhook: webhook?,
                })
            }
            "slack" => TargetKind::Slack(SlackConfig {
                webhook: webhook(errors)?,
            }),
            "pagerduty" => {
                let key = secret_or_file(
                    file,
                    "routing_key",
                    self.routing_key.as_ref(),
                    self.routing_key_file.as_ref(),
                    errors,
                );
                if self.routing_key.is_none() && self.routing_key_file.is_none() {
                    need("routing_key", errors);
                }
                if let Some(k) = &key
                    && k.expose().len() != 32
                {
                    let at = self
                        .routing_key
                        .as_ref()
                        .map(|s| s.referenced)
                        .or(self.routing_key_file.as_ref().map(|s| s.referenced));
                    let at = at.unwrap_or(self.name.referenced);
                    errors.push(SourceError {
                        file: file.to_path_buf(),
                        line: at.line() as u32,
                        col: at.column() as u32,
                        message: format!(
                            "routing_key of target {name:?} must be the 32-character integration key (got {} characters)",
                            k.expose().len()
                        ),
                    });
                }
                let url = match &self.url {
                    None => PAGERDUTY_EVENTS.to_string(),
                    Some(u) => match reqwest::Url::parse(u.value.expose()) {
                        Ok(p) if matches!(p.scheme(), "http" | "https") => {
                            u.value.expose().to_string()
                        }
                        _ => {
                            errors.push(err(file, u, "expected an http(s) URL for the Events API"));
                            PAGERDUTY_EVENTS.to_string()
                        }
                    },
                };
                TargetKind::PagerDuty(PagerDutyConfig {
                    routing_key: key?,
                    url,
                    source: self
                        .source
                        .as_ref()
                        .map_or_else(|| "tocsin".to_string(), |s| s.value.clone()),
                    component: self.component.as_ref().map(|s| s.value.clone()),
                    group: self.group.as_ref().map(|s| s.value.clone()),
                    class: self.class.as_ref().map(|s| s.value.clone()),
                })
            }
            "sms" => TargetKind::Sms(self.phone_config(PhoneMode::Sms, cx, errors)?),
            "call" => TargetKind::Call(self.phone_config(PhoneMode::Call, cx, errors)?),
            _ => return None,
        })
    }
}

/// The position of a key's value, whatever its type.
struct SpanRef<'a> {
    line: usize,
    col: usize,
    _p: std::marker::PhantomData<&'a ()>,
}

impl SpanRef<'_> {
    fn of<T>(s: &Spanned<T>) -> SpanRef<'_> {
        SpanRef {
            line: s.referenced.line() as usize,
            col: s.referenced.column() as usize,
            _p: std::marker::PhantomData,
        }
    }

    fn error(&self, file: &Path, message: String) -> SourceError {
        SourceError {
            file: file.to_path_buf(),
            line: self.line as u32,
            col: self.col as u32,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn load(text: &str) -> Result<Config, crate::yaml::SourceErrors> {
        Config::from_text(Path::new("tocsin.yaml"), text)
    }

    fn error_of(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    const PEOPLE: &str = "contacts:\n  - {name: alice, email: a@x.com, phone: '13800000000', wecom_user: alice, feishu_user: ou_a}\n  - {name: bob, email: b@x.com, phone: '13900000000'}\ncontact_groups:\n  - {name: dba, members: [alice, bob]}\n";

    #[test]
    fn every_type_loads_with_its_keys() {
        let text = format!(
            "{PEOPLE}language: zh\nowner: [ops@example.com, dba]\nmailer: {{host: 127.0.0.1, port: 2525, tls: none, from: 'tocsin <t@example.com>'}}\ntargets:\n\
  - {{name: dt, type: dingtalk, webhook: 'https://oapi.dingtalk.com/robot/send?access_token=x', secret: SECx, keyword: alert, mention: [alice], mention_all: true, format: text, language: en}}\n\
  - {{name: wc, type: wecom, webhook: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k', mention: [dba], format: text}}\n\
  - {{name: app, type: wecom_app, corp_id: ww1, secret: s, agent_id: 1000002, users: [alice]}}\n\
  - {{name: fs, type: feishu, webhook: 'https://open.feishu.cn/open-apis/bot/v2/hook/t', secret: s, mention: [alice]}}\n\
  - {{name: sl, type: slack, webhook: 'https://hooks.slack.com/services/T/B/x'}}\n\
  - {{name: pd, type: pagerduty, routing_key: 0123456789abcdef0123456789abcdef, component: db}}\n\
  - {{name: wh, type: webhook, url: 'http://127.0.0.1:1/x', method: put, payload: tocsin}}\n\
  - {{name: am, type: alertmanager, url: 'http://127.0.0.1:9093'}}\n\
  - {{name: mail, type: email, cc: [bob], format: table+attachment, enabled: false}}\n"
        );
        let c = load(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.targets.len(), 9);
        let dt = c.target("dt").unwrap();
        assert_eq!(c.language_of(dt), Language::En);
        let TargetKind::DingTalk(d) = &dt.kind else {
            panic!()
        };
        assert_eq!(d.mention_mobiles, vec!["13800000000"]);
        assert!(d.mention_all && d.format == ChatFormat::Text);
        let TargetKind::WeCom(w) = &c.target("wc").unwrap().kind else {
            panic!()
        };
        // alice by userid, bob (no userid) by phone
        assert_eq!(w.mention_users, vec!["alice"]);
        assert_eq!(w.mention_mobiles, vec!["13900000000"]);
        let mail = c.target("mail").unwrap();
        assert!(!mail.enabled);
        assert_eq!(c.language_of(mail), Language::Zh);
        let TargetKind::Email(e) = &mail.kind else {
            panic!()
        };
        assert_eq!(e.to, vec!["ops@example.com", "a@x.com", "b@x.com"]);
        assert_eq!(e.cc, vec!["b@x.com"]);
        assert_eq!(e.format, EmailFormat::TableAttachment);
        let TargetKind::Webhook(wh) = &c.target("wh").unwrap().kind else {
            panic!()
        };
        assert_eq!(wh.method, reqwest::Method::PUT);
        assert_eq!(wh.payload, WebhookPayload::Tocsin);
        assert!(c.mailer.as_ref().is_some_and(|m| m.port == 2525));
    }

    #[test]
    fn errors_point_at_the_key() {
        let cases: &[(&str, &str)] = &[
            (
                "targets:\n  - name: s\n    type: slack\n    webhook: 'https://hooks.slack.com/services/x'\n    keyword: alert\n",
                "tocsin.yaml:5:14: `keyword` is not a key of slack targets",
            ),
            (
                "targets:\n  - name: s\n    type: slack\n    webhok: 'https://x'\n",
                "tocsin.yaml:4:",
            ),
            (
                "targets:\n  - name: d\n    type: dingtalk\n    webhook: 'https://x/robot?access_token=t'\n    mention: [nobody]\n",
                "tocsin.yaml:5:15: mention of target \"d\" names \"nobody\", but no contact or contact group has that name",
            ),
            (
                "contacts: [{name: bob, email: b@x.com}]\ntargets:\n  - name: d\n    type: dingtalk\n    webhook: 'https://x/robot?access_token=t'\n    mention: [bob]\n",
                "tocsin.yaml:6:15: mention of target \"d\" names \"bob\", but contact \"bob\" has no `phone`",
            ),
            (
                "targets:\n  - {name: d, type: dingtalk, webhook: 'https://x', format: html}\n",
                "tocsin.yaml:2:61: expected format markdown or text",
            ),
            (
                "targets:\n  - {name: d, type: dingtalk, webhook: 'https://x', secret: a, secret_file: /nonexistent}\n",
                "tocsin.yaml:2:77: set either `secret` or `secret_file`, not both",
            ),
            (
                "targets:\n  - {name: d, type: dingtalk, webhook: 'https://x', secret_file: /nonexistent/tocsin-secret}\n",
                "tocsin.yaml:2:66: cannot read `secret_file` /nonexistent/tocsin-secret",
            ),
            (
                "targets:\n  - {name: p, type: pagerduty, routing_key: short}\n",
                "tocsin.yaml:2:45: routing_key of target \"p\" must be the 32-character integration key (got 5 characters)",
            ),
            (
                "targets:\n  - {name: m, type: email, to: [a@x.com]}\n",
                "tocsin.yaml:2:12: email target \"m\" needs a top-level `mailer:`",
            ),
            (
                "contact_groups: [{name: g, members: [ghost]}]\n",
                "tocsin.yaml:1:38: contact group \"g\" lists \"ghost\", but no contact has that name",
            ),
            (
                "contacts: [{name: ops, email: o@x.com}]\ntargets:\n  - {name: ops, type: slack, webhook: 'https://x'}\n",
                "tocsin.yaml:3:12: target name \"ops\" is used twice",
            ),
            (
                "contacts: [{name: alice, phone: '1'}]\ntargets:\n  - {name: w, type: wecom, webhook: 'https://x/send?key=k', mention: [alice]}\n",
                "tocsin.yaml:3:70: wecom markdown messages mention by `wecom_user` only",
            ),
            (
                "targets:\n  - {name: a, type: wecom_app, corp_id: c, secret: s, agent_id: 1}\n",
                "tocsin.yaml:2:12: wecom_app target \"a\" needs `users`, `parties`, `tags` or `to_all: true`",
            ),
            (
                "targets:\n  - {name: t, type: slack, webhook: 'https://x', templates: {title: '{{ a | nosuch }}'}}\n",
                "tocsin.yaml:2:61: templates.title: unknown filter",
            ),
        ];
        for (text, want) in cases {
            let got = error_of(text);
            assert!(got.starts_with(want), "\n got: {got}\nwant: {want}...");
        }
    }

    #[test]
    fn secret_files_are_read_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dt.secret"), "SECfromfile\n").unwrap();
        let cfg = dir.path().join("tocsin.yaml");
        let c = Config::from_text(
            &cfg,
            "targets:\n  - {name: d, type: dingtalk, webhook: 'https://x/robot?access_token=t', secret_file: dt.secret}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let TargetKind::DingTalk(d) = &c.targets[0].kind else {
            panic!()
        };
        assert_eq!(d.secret.as_ref().unwrap().expose(), "SECfromfile");
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("SECfromfile") && !debug.contains("access_token=t"),
            "{debug}"
        );
    }
}
