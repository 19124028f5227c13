//! The keys of `type: wecom` (alias `wecom_robot`) targets: the robot's
//! `webhook` (or `webhook_file`, with `?key=`), `keyword`, `mention`
//! (contacts and groups, by `wecom_user`, else by phone; or phone numbers,
//! 5 to 20 digits after an optional `+`, and userids written
//! `userid:zhangsan`), `mention_all`, `format` and `proxy`.

use crate::config::target_keys::{ChatFormat, Key, Mention, PROXY, TargetCheck};
use crate::config::{RAW_PHONE, Secret, is_raw_phone};
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
    /// A word every message must contain (put in front when it lacks it).
    pub keyword: Option<String>,
}

pub const KEYS: &[Key] = &[
    Key::secret("webhook"),
    Key::path("webhook_file"),
    Key::text("keyword"),
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
    // A contact is mentioned by WeCom userid, else by phone; an entry that
    // is no contact must be a phone number or say it is a userid
    // (`userid:zhangsan`), so that a misspelt contact name is an error.
    let mut mention_users = Vec::new();
    let mut mention_mobiles = Vec::new();
    let mention = t.keys.names("mention");
    let expected = format!("{RAW_PHONE} or a WeCom userid written `{USERID_PREFIX}` and the id (e.g. {USERID_PREFIX}zhangsan)");
    t.each_mention(
        &expected,
        |m| {
            match m {
                Mention::Contact(c) => match (&c.wecom_user, c.phone()) {
                    (Some(u), _) => mention_users.push(u.clone()),
                    (None, Some(p)) => mention_mobiles.push(p.clone()),
                    (None, None) => return Err("neither `wecom_user` nor `phone`".into()),
                },
                Mention::Raw(v) if is_raw_phone(v) => mention_mobiles.push(v.to_string()),
                Mention::Raw(v) => match v.strip_prefix(USERID_PREFIX).map(str::trim) {
                    Some(id) if is_userid(id) => mention_users.push(id.to_string()),
                    _ => return Err(String::new()),
                },
            }
            Ok(())
        },
        errors,
    );
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
                format!("wecom markdown messages mention by `wecom_user` only; target {name:?} mentions by phone (give the contacts a `wecom_user`, name userids, or use `format: text`)"),
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
        keyword: t.keyword(),
        webhook: webhook?,
    })
}

/// What marks a `mention:` entry as a WeCom userid: `userid:zhangsan`.
pub const USERID_PREFIX: &str = "userid:";

/// A WeCom userid (after [`USERID_PREFIX`] in a `mention:`): 1 to 64
/// letters, digits, `_`, `-`, `.` or `@`.
pub fn is_userid(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
}
