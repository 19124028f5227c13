//! The keys of `type: wecom` (alias `wecom_robot`) targets: the robot's
//! `webhook` (or `webhook_file`, with `?key=`), `mention` (contacts, by
//! `wecom_user`, else by phone), `mention_all`, `format` and `proxy`.

use crate::config::Secret;
use crate::config::target_keys::{ChatFormat, Key, PROXY, TargetCheck};
use crate::yaml::SourceError;

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

pub const KEYS: &[Key] = &[
    Key::secret("webhook"),
    Key::path("webhook_file"),
    Key::names("mention"),
    Key::flag("mention_all"),
    Key::text("format"),
    PROXY,
];

pub fn check(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<WeComConfig> {
    let name = t.target();
    let webhook = t.url("webhook", errors);
    if let Some(w) = &webhook
        && !w.expose().contains("key=")
    {
        errors.push(t.err_at_name(format!(
            "`webhook` of wecom target {name:?} must be the robot's full URL with `?key=`"
        )));
    }
    // A contact is mentioned by WeCom userid, else by phone.
    let mut mention_users = Vec::new();
    let mut mention_mobiles = Vec::new();
    let mention = t.keys.names("mention");
    for n in mention.iter().flat_map(|m| m.value.iter()) {
        match t.cx.directory.expand(&n.value) {
            None => errors.push(t.err(
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
                        errors.push(t.err(
                            n,
                            format!("mention of target {name:?} names {:?}, but contact {:?} has neither `wecom_user` nor `phone`", n.value, c.name()),
                        ));
                    }
                }
            }
        }
    }
    mention_users.dedup();
    mention_mobiles.dedup();
    let mention_all = t.is_true("mention_all");
    let format = t.chat_format(errors);
    // WeCom markdown mentions only by `<@userid>`: phones and @all need the
    // text format.
    if format == ChatFormat::Markdown {
        if !mention_mobiles.is_empty()
            && let Some(m) = mention
        {
            errors.push(t.err(
                m,
                format!("wecom markdown messages mention by `wecom_user` only; target {name:?} mentions contacts by phone (give them a `wecom_user` or use `format: text`)"),
            ));
        }
        if mention_all && let Some(m) = t.keys.flag("mention_all") {
            errors.push(t.err(
                m,
                "wecom markdown messages cannot mention everyone; use `format: text` for `mention_all`",
            ));
        }
    }
    Some(WeComConfig {
        mention_users,
        mention_mobiles,
        mention_all,
        format,
        webhook: webhook?,
    })
}
