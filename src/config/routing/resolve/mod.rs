//! The check of `routing:` and `target_groups:`, and the [`RouteTable`] it
//! builds: each `notify:` setting becomes a [`Decision`], each name of a
//! list a delivery ([`Recipient`]). A name must be a target, target group,
//! contact, contact group or `owner`; how contacts are reached is
//! [`reach`]'s. `owner` and the contacts reached by email, SMS or
//! call get targets of their own, returned beside the table.

mod reach;

use std::collections::BTreeMap;
use std::path::Path;

use super::timing::resolve_timing;
use super::{NotifySetting, OWNER, RoutingConfig, TargetGroup};
use crate::config::{
    Contact, ContactGroup, Directory, EmailConfig, EmailFormat, Language, TargetConfig, TargetKind,
    TargetTemplates,
};
use crate::notify::route_table::{Decision, Recipient, RouteTable, Scope};
use crate::yaml::{self, SourceError, Spanned};
use reach::{ContactEntry, Way};

/// What the check needs from the rest of the config.
pub(in crate::config) struct RoutingContext<'a> {
    pub file: &'a Path,
    /// `phones.sms` and `phones.call`: what reaches contacts by phone.
    pub sms_target: Option<&'a TargetConfig>,
    pub call_target: Option<&'a TargetConfig>,
    pub contacts: &'a [Contact],
    pub groups: &'a [ContactGroup],
    pub targets: &'a [TargetConfig],
    pub target_groups: &'a [TargetGroup],
    pub owner: &'a [String],
    pub has_mailer: bool,
    /// The top-level `timezone`: the zone of windows without their own.
    pub timezone: chrono_tz::Tz,
}

/// Checks `routing:` and builds the table plus the targets it creates: one
/// per contact reached by email (named after them), by SMS (`sms:NAME`) or
/// by call (`call:NAME`), and `owner`.
pub(in crate::config) fn resolve_routing(
    cx: &RoutingContext,
    routing: &RoutingConfig,
    errors: &mut Vec<SourceError>,
) -> (RouteTable, Vec<TargetConfig>) {
    let mut r = Resolver {
        cx,
        dir: Directory::new(cx.contacts, cx.groups),
        created: BTreeMap::new(),
    };
    for g in cx.target_groups {
        for t in &g.targets {
            if !cx.targets.iter().any(|c| c.name() == t.value) {
                errors.push(SourceError::at(
                    cx.file,
                    t,
                    format!(
                        "target group {:?} lists {:?}, but no target has that name",
                        g.name.value, t.value
                    ),
                ));
            }
        }
    }
    let default = match &routing.default.value {
        NotifySetting::AllTargets => None,
        other => {
            let d = r.decision("routing.default", other, &routing.default, errors);
            if d.contains_inherit() {
                errors.push(SourceError::at(
                    cx.file,
                    &routing.default,
                    "routing.default cannot be `inherit` (it has no parent scope)",
                ));
            }
            Some(d)
        }
    };
    let mut scopes = Vec::new();
    for (i, s) in routing.scopes.iter().enumerate() {
        if s.matchers.value.is_empty() {
            errors.push(SourceError::at(
                cx.file,
                &s.matchers,
                "expected at least one label in `match` (use routing.default for everything)",
            ));
        }
        let what = format!("routing.scopes[{i}]");
        let decision = r.decision(&what, &s.notify.value, &s.notify, errors);
        scopes.push(Scope {
            matchers: s.matchers.value.clone(),
            decision,
            timing: resolve_timing(
                cx.file,
                &what,
                s.timing_keys(),
                Some(routing.timing_keys()),
                cx.timezone,
                errors,
            ),
        });
    }
    let mail = r.created.into_values().collect();
    let default_timing = resolve_timing(
        cx.file,
        "routing",
        routing.timing_keys(),
        None,
        cx.timezone,
        errors,
    );
    (
        RouteTable {
            default,
            default_timing,
            scopes,
        },
        mail,
    )
}

/// The check of one `routing:`, collecting the targets it creates.
pub(super) struct Resolver<'a> {
    pub(super) cx: &'a RoutingContext<'a>,
    dir: Directory<'a>,
    /// Targets created so far to reach contacts and `owner`, by name.
    pub(super) created: BTreeMap<String, TargetConfig>,
}

impl<'a> Resolver<'a> {
    fn decision<T>(
        &mut self,
        what: &str,
        n: &NotifySetting,
        at: &Spanned<T>,
        errors: &mut Vec<SourceError>,
    ) -> Decision {
        match n {
            NotifySetting::Off => Decision::Off,
            NotifySetting::Inherit => Decision::Inherit,
            NotifySetting::AllTargets => Decision::Deliver(
                self.cx
                    .targets
                    .iter()
                    .filter(|t| t.enabled)
                    .map(|t| Recipient::to(t.name()))
                    .collect(),
            ),
            NotifySetting::Owner => match self.owner(what, at, errors) {
                Some(r) => Decision::Deliver(vec![r]),
                None => Decision::Off,
            },
            NotifySetting::Targets(names) => Decision::Deliver(self.list(what, names, errors)),
            NotifySetting::PerSeverity { warning, error } => {
                let mut level = |v: &Option<Box<Spanned<NotifySetting>>>, sev: &str| match v {
                    None => Decision::Inherit,
                    Some(v) => self.decision(&format!("{what}.{sev}"), &v.value, v, errors),
                };
                Decision::PerSeverity {
                    warning: Box::new(level(warning, "warning")),
                    error: Box::new(level(error, "error")),
                }
            }
        }
    }

    fn owner<T>(
        &mut self,
        what: &str,
        at: &Spanned<T>,
        errors: &mut Vec<SourceError>,
    ) -> Option<Recipient> {
        if self.cx.owner.is_empty() || !self.cx.has_mailer {
            errors.push(SourceError::at(
                self.cx.file,
                at,
                format!(
                    "{what} notifies `owner`, which needs a top-level `owner:` and a `mailer:`"
                ),
            ));
            return None;
        }
        self.created
            .entry(OWNER.to_string())
            .or_insert_with(|| mail_target(OWNER, self.cx.owner.to_vec(), None));
        Some(Recipient::to(OWNER))
    }

    /// The deliveries of a list of names, each target once.
    fn list(
        &mut self,
        what: &str,
        names: &[Spanned<String>],
        errors: &mut Vec<SourceError>,
    ) -> Vec<Recipient> {
        let cx = self.cx;
        // Each with the position of the list entry it comes from, to keep
        // the written order.
        let mut out: Vec<(usize, Recipient)> = Vec::new();
        // Targets first: they decide which contacts are already mentioned.
        let mut contacts: Vec<ContactEntry> = Vec::new();
        for (at, n) in names.iter().enumerate() {
            let (way, name) = Way::of(n.value.as_str());
            if way != Way::Any {
                match self.enabled_members(name) {
                    Some(members) => contacts.extend(members.into_iter().map(|c| (at, n, c, way))),
                    None => errors.push(SourceError::at(
                        cx.file,
                        n,
                        format!(
                            "{what} names {:?}: `{}:` takes a contact or contact group, and no contact or contact group is named {name:?}",
                            n.value,
                            way.as_str()
                        ),
                    )),
                }
                continue;
            }
            if name == OWNER {
                if let Some(r) = self.owner(what, n, errors) {
                    push_once(&mut out, at, r);
                }
            } else if let Some(t) = cx.targets.iter().find(|t| t.name() == name) {
                if t.enabled {
                    push_once(&mut out, at, Recipient::to(t.name()));
                }
            } else if let Some(g) = cx.target_groups.iter().find(|g| g.name.value == name) {
                if g.enabled {
                    for m in &g.targets {
                        if let Some(t) = cx.targets.iter().find(|t| t.name() == m.value)
                            && t.enabled
                        {
                            push_once(&mut out, at, Recipient::to(t.name()));
                        }
                    }
                }
            } else if let Some(members) = self.enabled_members(name) {
                contacts.extend(members.into_iter().map(|c| (at, n, c, Way::Any)));
            } else {
                errors.push(SourceError::at(
                    cx.file,
                    n,
                    format!(
                        "{what} names {name:?}, but no target, target group, contact or contact group has that name"
                    ),
                ));
            }
        }
        self.reach(what, contacts, &mut out, errors);
        out.sort_by_key(|(at, _)| *at);
        out.into_iter().map(|(_, r)| r).collect()
    }

    /// The enabled contacts a contact or contact group name stands for
    /// (none for a disabled group); `None` when no contact or group has it.
    fn enabled_members(&self, name: &str) -> Option<Vec<&'a Contact>> {
        let members = self.dir.expand(name)?;
        let group_off = self
            .cx
            .groups
            .iter()
            .any(|g| g.name.value == name && !g.enabled);
        Some(if group_off {
            Vec::new()
        } else {
            members.into_iter().filter(|c| c.enabled).collect()
        })
    }
}

/// Adds `r` at list position `at` unless its target already delivers.
pub(super) fn push_once(out: &mut Vec<(usize, Recipient)>, at: usize, r: Recipient) {
    if !out.iter().any(|(_, o)| o.target == r.target) {
        out.push((at, r));
    }
}

/// The email target that reaches a contact (or the owner) through the mailer.
pub(super) fn mail_target(name: &str, to: Vec<String>, language: Option<Language>) -> TargetConfig {
    TargetConfig {
        name: yaml::unspanned(name.to_string()),
        kind: TargetKind::Email(EmailConfig::through_mailer(to, EmailFormat::Table)),
        enabled: true,
        send_resolved: true,
        language,
        timezone: None,
        templates: TargetTemplates::default(),
        timeout: None,
        max_alerts: 0,
        proxy: None,
        mentions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;
    use crate::config::routing_fixture::{PEOPLE, errors, table};
    use crate::notify::route_table::{Decision, Recipient};

    /// The delivery targets of a checked setting.
    fn targets(d: &Decision) -> Vec<&str> {
        match d {
            Decision::Deliver(r) => r.iter().map(|r| r.target.as_str()).collect(),
            other => panic!("not a delivery: {other:?}"),
        }
    }

    #[test]
    fn owner_is_reached_by_its_own_mail_target() {
        let c = table("routing:\n  default: owner\n");
        assert_eq!(
            c.routes.default,
            Some(Decision::Deliver(vec![Recipient::to("owner")]))
        );
        let owner = c.mail_targets.iter().find(|t| t.name() == "owner");
        let to = match owner.map(|t| &t.kind) {
            Some(crate::config::TargetKind::Email(e)) => e.to.clone(),
            other => panic!("no owner mail target: {other:?}"),
        };
        assert_eq!(to, ["boss@example.com"]);
        // `owner` in a list is the same delivery.
        let c = table("routing:\n  default: [ops-hook, owner]\n");
        assert_eq!(
            targets(c.routes.default.as_ref().unwrap()),
            ["ops-hook", "owner"]
        );
        // Without a mailer (or `owner:`) nobody can reach the owner.
        let err = errors("routing:\n  default: owner\n");
        assert_eq!(
            err,
            "tocsin.yaml:2:12: routing.default notifies `owner`, which needs a top-level `owner:` and a `mailer:`"
        );
    }

    #[test]
    fn contact_groups_reach_their_enabled_members() {
        // carol is disabled; nobody in the list mentions alice or bob.
        let c = table("routing:\n  default: [dba]\n");
        assert_eq!(
            targets(c.routes.default.as_ref().unwrap()),
            ["alice", "bob"]
        );
        let mails: Vec<&str> = c.mail_targets.iter().map(|t| t.name()).collect();
        assert_eq!(mails, ["alice", "bob"]);
        // A disabled contact group reaches nobody.
        let text = PEOPLE.replace(
            "{name: dba, members: [alice, bob, carol]}",
            "{name: dba, members: [alice, bob, carol], enabled: false}",
        );
        let c = Config::from_text(
            Path::new("tocsin.yaml"),
            &format!("{text}routing:\n  default: [dba]\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(targets(c.routes.default.as_ref().unwrap()).is_empty());
    }

    #[test]
    fn target_groups_reach_their_enabled_targets_once() {
        // off-hook is disabled; ops-hook, named again, is delivered once,
        // in the place it was first named.
        let c = table("routing:\n  default: [dev-hook, ops, ops-hook, off-hook]\n");
        assert_eq!(
            targets(c.routes.default.as_ref().unwrap()),
            ["dev-hook", "ops-hook"]
        );
        let err = errors(&format!(
            "{PEOPLE}  - {{name: more, targets: [dev-hook, ghost]}}\n"
        ));
        assert_eq!(
            err,
            "tocsin.yaml:16:38: target group \"more\" lists \"ghost\", but no target has that name"
        );
    }

    #[test]
    fn inherit_is_kept_for_the_lookup_and_refused_at_the_default() {
        let c = table(
            "routing:
  scopes:
    - {match: {a: b}, notify: inherit}
    - {match: {a: c}, notify: {error: [alice]}}
",
        );
        // `all`: no default decision, every enabled target at lookup.
        assert_eq!(c.routes.default, None);
        assert_eq!(c.routes.scopes[0].decision, Decision::Inherit);
        let Decision::PerSeverity { warning, error } = &c.routes.scopes[1].decision else {
            panic!("{:?}", c.routes.scopes[1].decision);
        };
        assert_eq!(**warning, Decision::Inherit);
        assert_eq!(targets(error), ["alice"]);
        let err = errors(&format!(
            "{PEOPLE}routing:\n  default: {{warning: off, error: inherit}}\n"
        ));
        assert_eq!(
            err,
            "tocsin.yaml:17:12: routing.default cannot be `inherit` (it has no parent scope)"
        );
    }

    #[test]
    fn bad_routes_name_the_place() {
        let cases: &[(&str, &str)] = &[
            (
                "routing:\n  scopes:\n    - {match: {vault: a}, notify: [nobody]}\n",
                "tocsin.yaml:18:36: routing.scopes[0] names \"nobody\", but no target",
            ),
            (
                "routing:\n  default: inherit\n",
                "tocsin.yaml:17:12: routing.default cannot be `inherit`",
            ),
            (
                "routing:\n  scopes:\n    - {match: {vault: a}, notify: {warning: [ghost]}}\n",
                "tocsin.yaml:18:46: routing.scopes[0].warning names \"ghost\"",
            ),
            (
                "routing:\n  scopes:\n    - {match: {vault: a}, notify: {critical: off}}\n",
                "tocsin.yaml:18:",
            ),
            (
                "routing:\n  default: owner\n  repeat_limit: 3\n",
                "tocsin.yaml:18:17: repeat_limit needs a repeat_interval above 0",
            ),
            (
                "routing:\n  scopes:\n    - {match: {a: b}, notify: off, group_by: [x, 1x]}\n",
                "tocsin.yaml:18:50: routing.scopes[0].group_by: expected a label name",
            ),
            (
                "routing:\n  group_by: [alertname, '...']\n",
                "tocsin.yaml:17:25: routing.group_by: `...` (every alert on its own) cannot be combined",
            ),
            (
                "routing:\n  group_wait: 2d\n",
                "tocsin.yaml:17:15: routing.group_wait: expected at most 24h",
            ),
            ("routing:\n  group_intervall: 5m\n", "tocsin.yaml:17:3: "),
            (
                "routing:\n  scopes:\n    - {match: {}, notify: off}\n",
                "tocsin.yaml:18:15: expected at least one label",
            ),
            (
                "routing:\n  scopes:\n    - {match: {vault: a}, notify: sometimes}\n",
                "tocsin.yaml:18:",
            ),
            (
                "  - {name: owner, targets: [dt]}\n",
                "tocsin.yaml:16:12: target group name \"owner\" is reserved",
            ),
        ];
        for (tail, want) in cases {
            let text = format!("{PEOPLE}{tail}");
            let got = match Config::from_text(Path::new("tocsin.yaml"), &text) {
                Ok(_) => panic!("loaded:\n{text}"),
                Err(e) => e.to_string(),
            };
            assert!(
                got.lines().any(|l| l.starts_with(want)),
                "\n got: {got}\nwant: {want}..."
            );
        }
    }

    #[test]
    fn removing_a_referenced_contact_fails_at_the_reference() {
        let text = "contacts: []\nrouting:\n  default: [alice]\n";
        let err = Config::from_text(Path::new("t.yaml"), text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("t.yaml:3:13: routing.default names \"alice\""),
            "{err}"
        );
        let text = "contacts: [{name: alice, phone: '1'}]\nrouting:\n  default: [alice]\n";
        let err = Config::from_text(Path::new("t.yaml"), text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("contact \"alice\" cannot be reached"), "{err}");
    }
}
