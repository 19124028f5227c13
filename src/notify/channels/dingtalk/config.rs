//! The keys of `type: dingtalk` targets: the robot's `webhook` (or
//! `webhook_file`), its signing `secret` (or `secret_file`), `keyword`,
//! `mention` (contacts and groups, by phone, or phone numbers: 5 to 20
//! digits, optionally after `+`),
//! `mention_all`, `format` and `proxy`.

use crate::config::{RAW_PHONE, Secret, is_raw_phone};
use crate::config::target_keys::{ChatFormat, Key, SIGNED_ROBOT_KEYS, TargetCheck};
use crate::yaml::SourceError;

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

pub const KEYS: &[Key] = SIGNED_ROBOT_KEYS;

pub fn check(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<DingTalkConfig> {
    let webhook = t.url("webhook", errors);
    let mention_mobiles = t.mentions(
        "phone",
        |c| c.phone(),
        is_raw_phone,
        RAW_PHONE,
        errors,
    );
    Some(DingTalkConfig {
        secret: t.secret_or_file("secret", errors),
        keyword: t.keyword(),
        mention_mobiles,
        mention_all: t.is_true("mention_all"),
        format: t.chat_format(errors),
        webhook: webhook?,
    })
}
