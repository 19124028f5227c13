//! Notification targets in the config: what every target has (`name`,
//! `type`, `enabled`, `send_resolved`, `language`, `timezone`, `templates`, `timeout`,
//! `max_alerts`, `proxy`), read into [`RawTarget`] and checked into a
//! [`TargetConfig`]. The keys of each `type` belong to its channel
//! (`notify/channels/<name>/config.rs`, found through the channel table):
//! the channel checks them and builds its typed settings ([`TargetKind`]),
//! contacts resolved to phones, user ids and addresses. A key of another type
//! is an error at its position, as is an unknown key (see [`super::target_keys`]).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use super::people::{Directory, Language};
use super::target_keys::{PROXY, TargetCheck, TargetKeys, all_keys};
use crate::notify::channels;
pub use crate::notify::channels::TargetKind;
use crate::yaml::{HumanDuration, SourceError, Spanned};

/// A target as written (read by [`super::target_keys`]). Private to config
/// loading; see [`TargetConfig`].
#[derive(Debug, Clone)]
pub struct RawTarget {
    pub(super) name: Spanned<String>,
    pub(super) kind: Spanned<String>,
    pub(super) enabled: Option<Spanned<bool>>,
    pub(super) send_resolved: Option<Spanned<bool>>,
    pub(super) language: Option<Spanned<Language>>,
    pub(super) timezone: Option<Spanned<String>>,
    pub(super) templates: Option<Spanned<RawTemplates>>,
    pub(super) timeout: Option<Spanned<HumanDuration>>,
    pub(super) max_alerts: Option<Spanned<usize>>,
    pub(super) proxy: Option<Spanned<Secret>>,
    /// The keys of the target's type (and mistakes: keys of other types).
    pub(super) keys: TargetKeys,
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

/// The keys every target type accepts (`proxy` is common too, but only the
/// HTTP channels list it among their keys).
pub(super) const COMMON_KEYS: &[&str] = &[
    "name",
    "type",
    "enabled",
    "send_resolved",
    "language",
    "timezone",
    "templates",
    "timeout",
    "max_alerts",
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
    /// None: the config's top-level `timezone`.
    pub timezone: Option<chrono_tz::Tz>,
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

/// What a target's checks need from the rest of the config.
pub struct TargetContext<'a> {
    pub file: &'a Path,
    pub directory: &'a Directory<'a>,
    /// `owner:` resolved to addresses (default mail recipients).
    pub owner: &'a [String],
    pub has_mailer: bool,
    /// The top-level `mailer:`, checked (email targets override parts of it).
    pub mailer: Option<&'a super::MailerConfig>,
}

fn err<T>(file: &Path, at: &Spanned<T>, msg: impl Into<String>) -> SourceError {
    SourceError::at(file, at, msg)
}

impl RawTarget {
    pub fn name(&self) -> &Spanned<String> {
        &self.name
    }

    /// The position of a type-specific key (or `proxy`) when it is set.
    fn position(&self, key: &str) -> Option<(u32, u32)> {
        if key == PROXY.name {
            let p = self.proxy.as_ref()?;
            return Some((p.referenced.line() as u32, p.referenced.column() as u32));
        }
        self.keys.position(key)
    }

    /// Checks the target and builds its typed config; problems go to `errors`.
    pub fn resolve(
        &self,
        cx: &TargetContext,
        errors: &mut Vec<SourceError>,
    ) -> Option<TargetConfig> {
        let file = cx.file;
        let written = self.kind.value.as_str();
        let Some(ty) = channels::TYPES
            .iter()
            .find(|t| t.name == written || t.aliases.contains(&written))
        else {
            let known: Vec<&str> = channels::TYPES.iter().map(|t| t.name).collect();
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
        for key in all_keys().iter().filter(|k| !COMMON_KEYS.contains(k)) {
            if let Some((line, col)) = self.position(key)
                && !ty.keys.iter().any(|k| k.name == *key)
            {
                let own: Vec<&str> = ty.keys.iter().map(|k| k.name).collect();
                errors.push(SourceError {
                    file: file.to_path_buf(),
                    line,
                    col,
                    message: format!(
                        "`{key}` is not a key of {} targets (expected one of: {})",
                        ty.name,
                        own.join(", ")
                    ),
                });
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
        let timezone = self.timezone.as_ref().and_then(|tz| {
            super::timezone::parse(file, "timezone", tz)
                .map_err(|e| errors.push(e))
                .ok()
        });
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
        let check = TargetCheck {
            file,
            name: &self.name,
            type_name: ty.name,
            keys: &self.keys,
            cx,
        };
        let kind = channels::check_kind(ty.name, &check, errors);
        if errors.len() > before {
            return None;
        }
        Some(TargetConfig {
            name: self.name.clone(),
            kind: kind?,
            enabled: self.enabled.as_ref().is_none_or(|b| b.value),
            send_resolved: self.send_resolved.as_ref().is_none_or(|b| b.value),
            language: self.language.as_ref().map(|l| l.value),
            timezone,
            templates,
            timeout: self.timeout.as_ref().map(|t| t.value.0),
            max_alerts: self.max_alerts.as_ref().map_or(0, |m| m.value),
            proxy,
            mentions: self.keys.names("mention").map_or_else(Vec::new, |m| {
                m.value
                    .iter()
                    .filter_map(|n| cx.directory.expand(&n.value))
                    .flatten()
                    .map(|c| c.name().to_string())
                    .collect()
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ChatFormat, Config, EmailFormat, WebhookPayload};
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
