//! The keys of `type: wecom_app` targets: `corp_id`, the application's
//! `secret` (or `secret_file`) and `agent_id`; the recipients `users`
//! (contacts, by `wecom_user`), `parties`, `tags`, `to_all`; `format`,
//! `api_url` (the API's base) and `proxy`.

use crate::config::Secret;
use crate::config::target_keys::{ChatFormat, Key, PROXY, TargetCheck};
use crate::yaml::SourceError;

pub const WECOM_API: &str = "https://qyapi.weixin.qq.com/cgi-bin";

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

pub const KEYS: &[Key] = &[
    Key::text("corp_id"),
    Key::secret("secret"),
    Key::path("secret_file"),
    Key::integer("agent_id"),
    Key::names("users"),
    Key::list("parties"),
    Key::list("tags"),
    Key::flag("to_all"),
    Key::text("format"),
    Key::text("api_url"),
    PROXY,
];

pub fn check(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<WeComAppConfig> {
    let name = t.target();
    let secret = t.required_secret("secret", errors);
    if !t.keys.has("corp_id") {
        t.need("corp_id", errors);
    }
    if !t.keys.has("agent_id") {
        t.need("agent_id", errors);
    }
    let users = t.keys.names("users").map_or_else(Vec::new, |u| {
        t.cx.directory.resolve(
            t.file,
            u.value.iter(),
            &format!("users of target {name:?}"),
            "wecom_user",
            |c| c.wecom_user.as_ref(),
            errors,
        )
    });
    let list = |key: &str| t.keys.list(key).map_or_else(Vec::new, |l| l.value.clone());
    let parties = list("parties");
    let tags = list("tags");
    let to_all = t.is_true("to_all");
    if users.is_empty() && parties.is_empty() && tags.is_empty() && !to_all {
        errors.push(t.err_at_name(format!(
            "wecom_app target {name:?} needs `users`, `parties`, `tags` or `to_all: true`"
        )));
    }
    let api_url = match t.keys.text("api_url") {
        None => WECOM_API.to_string(),
        Some(u) => {
            if !matches!(
                reqwest::Url::parse(&u.value)
                    .map(|u| u.scheme().to_string())
                    .as_deref(),
                Ok("http" | "https")
            ) {
                errors.push(t.err(u, "expected an http(s) URL for `api_url`"));
            }
            u.value.trim_end_matches('/').to_string()
        }
    };
    Some(WeComAppConfig {
        corp_id: t.text_of("corp_id")?,
        secret: secret?,
        agent_id: t.keys.integer("agent_id")?.value,
        users,
        parties,
        tags,
        to_all,
        format: t.chat_format(errors),
        api_url,
    })
}
