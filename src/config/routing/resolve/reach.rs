//! How a route list reaches the contacts it names (directly or through a
//! contact group): through an IM target of the same list that mentions
//! them, else by email through the mailer and by SMS through `phones.sms`;
//! `mail:NAME`, `sms:NAME` and `call:NAME` ask for one way. Reaching a
//! contact by email, SMS or call creates a target of their own.

use std::collections::HashMap;

use super::{Resolver, mail_target, push_once};
use crate::config::{ChatFormat, Contact, TargetKind, e164};
use crate::notify::route_table::{Mentions, Recipient};
use crate::yaml::{self, SourceError, Spanned};

/// A contact a route list names: the position of its list entry, the
/// entry, the contact and the way asked for.
pub(super) type ContactEntry<'a> = (usize, &'a Spanned<String>, &'a Contact, Way);

/// How a route list reaches a contact: `NAME` (every way they have but
/// calls), `mail:NAME`, `sms:NAME`, `call:NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Way {
    Any,
    Mail,
    Sms,
    Call,
}

impl Way {
    pub(super) fn of(entry: &str) -> (Way, &str) {
        for (prefix, way) in [
            ("mail:", Way::Mail),
            ("sms:", Way::Sms),
            ("call:", Way::Call),
        ] {
            if let Some(rest) = entry.strip_prefix(prefix) {
                return (way, rest.trim());
            }
        }
        (Way::Any, entry)
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Way::Any => "",
            Way::Mail => "mail",
            Way::Sms => "sms",
            Way::Call => "call",
        }
    }
}

impl Resolver<'_> {
    /// Reaches the contacts a list names, after its targets: a contact an
    /// IM target of the list mentions (by its `mention:` or because it can
    /// mention them) is reached there; any other by email, and by SMS where
    /// `phones.sms` is set; `mail:`, `sms:` and `call:` entries exactly so.
    pub(super) fn reach(
        &mut self,
        what: &str,
        contacts: Vec<ContactEntry>,
        out: &mut Vec<(usize, Recipient)>,
        errors: &mut Vec<SourceError>,
    ) {
        let cx = self.cx;
        let mentioned: HashMap<&str, &str> = out
            .iter()
            .filter_map(|(_, r)| cx.targets.iter().find(|t| t.name() == r.target))
            .flat_map(|t| t.mentions.iter().map(move |c| (c.as_str(), t.name())))
            .collect();
        for (at, n, c, way) in contacts {
            if way != Way::Any {
                if let Some(r) = self.contact_way(what, n, c, way, errors) {
                    push_once(out, at, r);
                }
                continue;
            }
            if mentioned.contains_key(c.name()) {
                continue; // reached by the IM target that mentions them
            }
            // Every IM target of the list that can mention them does so in
            // its messages on this route.
            let mut reached = false;
            for (_, r) in out.iter_mut() {
                let Some(t) = cx.targets.iter().find(|t| t.name() == r.target) else {
                    continue;
                };
                if let Some(m) = mentions_of(&t.kind, c) {
                    r.mentions.extend(&m);
                    if !r.mentioned.iter().any(|n| n == c.name()) {
                        r.mentioned.push(c.name().to_string());
                    }
                    reached = true;
                }
            }
            if reached {
                continue;
            }
            // By SMS too, when `phones.sms` is set and they have a phone.
            let by_sms = cx.sms_target.is_some() && c.phone.is_some();
            let email = c.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
            match email {
            _ if by_sms && !(email.is_some() && cx.has_mailer) => {}
            Some(email) if cx.has_mailer => {
                self.created.entry(c.name().to_string()).or_insert_with(|| {
                    mail_target(c.name(), vec![email.to_string()], c.language)
                });
                push_once(out, at, Recipient::to(c.name()));
            }
            _ => errors.push(SourceError::at(
                cx.file,
                n,
                format!(
                    "{what} names {:?}, but contact {:?} cannot be reached: give them an `email` (with a `mailer:`), a `phone` (with `phones.sms`), or list an IM target that can mention them (DingTalk: `phone`; WeCom: `wecom_user`, or `phone` in text format; Feishu: `feishu_user`)",
                    n.value,
                    c.name()
                ),
            )),
        }
            if by_sms && let Some(r) = self.contact_way(what, n, c, Way::Sms, errors) {
                push_once(out, at, r);
            }
        }
    }

    /// The delivery of one way to a contact, creating its target; an error
    /// when the contact or the config lacks what the way needs.
    fn contact_way(
        &mut self,
        what: &str,
        n: &Spanned<String>,
        c: &Contact,
        way: Way,
        errors: &mut Vec<SourceError>,
    ) -> Option<Recipient> {
        let cx = self.cx;
        let fail = |msg: String, errors: &mut Vec<SourceError>| {
            errors.push(SourceError::at(
                cx.file,
                n,
                format!("{what} names {:?}, but {msg}", n.value),
            ));
            None
        };
        let target_name = match way {
            Way::Any | Way::Mail => c.name().to_string(),
            Way::Sms | Way::Call => format!("{}:{}", way.as_str(), c.name()),
        };
        if way == Way::Any || way == Way::Mail {
            let email = c.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
            let Some(email) = email.filter(|_| cx.has_mailer) else {
                return fail(
                    format!(
                        "contact {:?} has no `email` or there is no `mailer:`",
                        c.name()
                    ),
                    errors,
                );
            };
            self.created
                .entry(target_name.clone())
                .or_insert_with(|| mail_target(c.name(), vec![email.to_string()], c.language));
        } else {
            let (base, key) = if way == Way::Sms {
                (cx.sms_target, "phones.sms")
            } else {
                (cx.call_target, "phones.call")
            };
            let Some(base) = base else {
                return fail(
                    format!(
                        "there is no `{key}` target to reach contacts by {}",
                        way.as_str()
                    ),
                    errors,
                );
            };
            let Some(phone) = &c.phone else {
                return fail(format!("contact {:?} has no `phone`", c.name()), errors);
            };
            let number = match e164(&phone.value) {
                Ok(num) => num,
                Err(m) => {
                    errors.push(SourceError::at(
                        cx.file,
                        phone,
                        format!(
                            "phone of contact {:?} (reached by {} on {what}): {m}",
                            c.name(),
                            way.as_str()
                        ),
                    ));
                    return None;
                }
            };
            if !base.enabled {
                return None;
            }
            self.created.entry(target_name.clone()).or_insert_with(|| {
                let mut t = base.clone();
                t.name = yaml::unspanned(target_name.clone());
                t.language = c.language.or(base.language);
                t.mentions = Vec::new();
                if let TargetKind::Sms(p) | TargetKind::Call(p) = &mut t.kind {
                    p.to = vec![number];
                }
                t
            });
        }
        Some(Recipient::to(&target_name))
    }
}

/// How `target` mentions `contact`, if it can: DingTalk by phone; a
/// WeCom robot by userid, else by phone in text messages; a WeCom
/// application by userid; Feishu by its user id.
fn mentions_of(target: &TargetKind, contact: &Contact) -> Option<Mentions> {
    fn some(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
    let mobile = |p: &str| Mentions {
        mobiles: vec![p.to_string()],
        users: Vec::new(),
    };
    let user = |u: &str| Mentions {
        mobiles: Vec::new(),
        users: vec![u.to_string()],
    };
    match target {
        TargetKind::DingTalk(_) => some(&contact.phone().cloned()).map(mobile),
        TargetKind::WeCom(w) => some(&contact.wecom_user).map(user).or_else(|| {
            (w.format == ChatFormat::Text)
                .then(|| some(&contact.phone().cloned()).map(mobile))
                .flatten()
        }),
        TargetKind::WeComApp(_) => some(&contact.wecom_user).map(user),
        TargetKind::Feishu(_) => some(&contact.feishu_user).map(user),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::alert::Labels;
    use crate::alert::Severity;
    use crate::config::Config;
    use crate::config::routing_fixture::{PEOPLE, errors, names, table, who};
    use crate::notify::route_table::Mentions;

    #[test]
    fn ways_to_a_contact_need_what_they_use() {
        // `mail:` mails a contact even when an IM target of the list
        // mentions them.
        let c = table("routing:\n  default: [dt, 'mail:bob']\n");
        assert_eq!(who(&c, &[], Severity::Error).1, names(&["dt", "bob"]));
        let cases: &[(&str, &str)] = &[
            (
                "['mail:dt']",
                "tocsin.yaml:17:13: routing.default names \"mail:dt\": `mail:` takes a contact or contact group, and no contact or contact group is named \"dt\"",
            ),
            (
                "['sms:bob']",
                "tocsin.yaml:17:13: routing.default names \"sms:bob\", but there is no `phones.sms` target to reach contacts by sms",
            ),
            (
                "['call:dba']",
                "tocsin.yaml:17:13: routing.default names \"call:dba\", but there is no `phones.call` target to reach contacts by call",
            ),
        ];
        for (list, want) in cases {
            let err = errors(&format!("{PEOPLE}routing:\n  default: {list}\n"));
            assert!(
                err.lines().any(|l| l == *want),
                "\n got: {err}\nwant: {want}"
            );
        }
        let err = errors(
            "contacts: [{name: gail, phone: '+8613900000000'}]\nrouting:\n  default: ['mail:gail']\n",
        );
        assert_eq!(
            err,
            "tocsin.yaml:3:13: routing.default names \"mail:gail\", but contact \"gail\" has no `email` or there is no `mailer:`"
        );
    }

    #[test]
    fn an_unreachable_contact_says_how_to_reach_them() {
        let err = errors("contacts: [{name: hal}]\nrouting:\n  default: [hal]\n");
        assert_eq!(
            err,
            "tocsin.yaml:3:13: routing.default names \"hal\", but contact \"hal\" cannot be reached: give them an `email` (with a `mailer:`), a `phone` (with `phones.sms`), or list an IM target that can mention them (DingTalk: `phone`; WeCom: `wecom_user`, or `phone` in text format; Feishu: `feishu_user`)"
        );
    }

    #[test]
    fn a_mentioning_im_target_reaches_its_contacts() {
        let c = table("routing:\n  default: [dt, bob, alice]\n");
        // bob is mentioned by dt: no mail for him; alice gets one.
        assert_eq!(
            who(&c, &[], Severity::Error),
            ("default".into(), names(&["dt", "alice"]))
        );
        let mails: Vec<&str> = c.mail_targets.iter().map(|t| t.name()).collect();
        assert_eq!(mails, ["alice"]);
    }

    #[test]
    fn im_targets_of_a_list_mention_its_contacts() {
        let text = "\
contacts:
  - {name: dave, phone: '13700000000'}
  - {name: erin, feishu_user: ou_erin, wecom_user: erin.w}
  - {name: fred, phone: '13600000000', email: fred@example.com}
mailer: {host: smtp.example.com, from: t@example.com}
targets:
  - {name: dt, type: dingtalk, webhook: 'https://oapi.dingtalk.com/robot/send?access_token=x'}
  - {name: fs, type: feishu, webhook: 'https://open.feishu.cn/open-apis/bot/v2/hook/x'}
  - {name: wc, type: wecom, webhook: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k', format: text}
  - {name: hook, type: webhook, url: 'http://127.0.0.1:1/h'}
routing:
  default: [dt, fs, dave, erin]
  scopes:
    - {match: {team: b}, notify: [wc, hook, dave, erin, fred]}
    - {match: {team: c}, notify: [hook, fred]}
";
        let c = Config::from_text(Path::new("t.yaml"), text).unwrap_or_else(|e| panic!("{e}"));
        let route = |team: &str| {
            let labels: Labels = [("team".to_string(), team.to_string())].into();
            c.routes
                .route_for(&[], &labels, Severity::Warning)
                .recipients
        };
        let m = |mobiles: &[&str], users: &[&str]| Mentions {
            mobiles: mobiles.iter().map(|s| s.to_string()).collect(),
            users: users.iter().map(|s| s.to_string()).collect(),
        };
        // DingTalk mentions by phone, Feishu by its user id; nobody is mailed.
        let r = route("a");
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].target.as_str(), &r[0].mentions),
            ("dt", &m(&["13700000000"], &[]))
        );
        assert_eq!(r[0].mentioned, ["dave"]);
        assert_eq!(
            (r[1].target.as_str(), &r[1].mentions),
            ("fs", &m(&[], &["ou_erin"]))
        );
        // A WeCom text robot: by userid, else by phone; the webhook mentions
        // nobody; a contact the robot reaches is not mailed as well.
        let r = route("b");
        let targets: Vec<&str> = r.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(targets, ["wc", "hook"]);
        assert_eq!(
            r[0].mentions,
            m(&["13700000000", "13600000000"], &["erin.w"])
        );
        assert!(r[1].mentions.is_empty());
        // Without an IM target, a contact is mailed.
        let r = route("c");
        let targets: Vec<&str> = r.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(targets, ["hook", "fred"]);

        // No way to reach dave: no email, and the list's IM target cannot
        // mention by phone (Feishu).
        let bad = text.replace("[hook, fred]", "[fs, dave]");
        let err = Config::from_text(Path::new("t.yaml"), &bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("t.yaml:15:"), "{err}");
        assert!(err.contains("contact \"dave\" cannot be reached"), "{err}");
    }
}
