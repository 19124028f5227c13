//! The keys of `type: feishu` (alias `lark`) targets: the bot's `webhook`
//! (or `webhook_file`), its signing `secret` (or `secret_file`), `keyword`,
//! `mention` (contacts and groups, by `feishu_user`, or open_ids `ou_...`), `mention_all`, `format` (`post` |
//! `text`) and `proxy`.

use crate::config::Secret;
use crate::config::target_keys::{Key, SIGNED_ROBOT_KEYS, TargetCheck};
use crate::yaml::SourceError;

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

pub const KEYS: &[Key] = SIGNED_ROBOT_KEYS;

pub fn check(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<FeishuConfig> {
    let webhook = t.url("webhook", errors);
    let mention_users = t.mentions(
        "feishu_user",
        |c| c.feishu_user.as_ref(),
        is_open_id,
        "an open_id (ou_...)",
        errors,
    );
    let format = match t.keys.text("format") {
        None => FeishuFormat::Post,
        Some(f) => match f.value.as_str() {
            "post" => FeishuFormat::Post,
            "text" => FeishuFormat::Text,
            other => {
                errors.push(t.err(f, format!("expected format post or text, got {other:?}")));
                FeishuFormat::Post
            }
        },
    };
    Some(FeishuConfig {
        secret: t.secret_or_file("secret", errors),
        keyword: t.keyword(),
        mention_users,
        mention_all: t.is_true("mention_all"),
        format,
        webhook: webhook?,
    })
}

/// A Feishu/Lark open_id as written in a `mention:` (`ou_` and letters or digits).
pub fn is_open_id(v: &str) -> bool {
    v.strip_prefix("ou_")
        .is_some_and(|id| !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric()))
}
