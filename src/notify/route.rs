//! Scope resolution: which setting of `routing` applies to an alert. The
//! scopes whose `match` labels are all on the alert apply; the most specific
//! (most labels; the first written on a tie) decides, `inherit` passes to the
//! next less specific one and finally to `routing.default`. Per-severity
//! settings pick the alert's current severity first.

use crate::config::{Decision, Recipient, RouteTable, RouteTiming};
use crate::labels::Labels;
use crate::rules::Severity;

/// Where an alert is routed and who hears about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The scope that decided (`{vault=v-prod}`), `default`, or `all` when
    /// no routing is configured.
    pub scope: String,
    /// Empty: nobody (`off`).
    pub recipients: Vec<Recipient>,
    /// Repeats and resolved messages of the deciding scope (or `routing:`).
    pub timing: RouteTiming,
}

impl Route {
    /// Names of the targets, contacts or `owner` that hear on this route;
    /// a contact an IM target mentions as `alice via ops-dingtalk`.
    pub fn recipient_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.recipients {
            out.push(r.name.clone());
            out.extend(r.mentioned.iter().map(|c| format!("{c} via {}", r.name)));
        }
        out
    }
}

/// The route of an alert with these labels and this severity.
pub fn resolve(
    table: &RouteTable,
    all: &[Recipient],
    labels: &Labels,
    severity: Severity,
) -> Route {
    let mut matching: Vec<(usize, &crate::config::Scope)> = table
        .scopes
        .iter()
        .enumerate()
        .filter(|(_, s)| s.matches(labels))
        .collect();
    matching.sort_by(|(ia, a), (ib, b)| b.matchers.len().cmp(&a.matchers.len()).then(ia.cmp(ib)));
    for (_, s) in matching {
        match s.decision.for_severity(severity) {
            Decision::Inherit => continue,
            d => return decided(s.describe(), d, s.timing.clone()),
        }
    }
    match &table.default {
        Some(d) => decided(
            "default".into(),
            d.for_severity(severity),
            table.default_timing.clone(),
        ),
        None => Route {
            scope: "all".into(),
            recipients: all.to_vec(),
            timing: table.default_timing.clone(),
        },
    }
}

fn decided(scope: String, d: &Decision, timing: RouteTiming) -> Route {
    let recipients = match d {
        Decision::Deliver(r) => r.clone(),
        // `Off`; `Inherit` cannot reach here from the default (checked).
        _ => Vec::new(),
    };
    Route {
        scope,
        recipients,
        timing,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Config, Mentions};

    const PEOPLE: &str = "\
mailer: {host: smtp.example.com, from: 'tocsin <t@example.com>'}
owner: [boss@example.com]
contacts:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com, phone: '+8613800000000'}
  - {name: carol, email: carol@example.com, enabled: false}
contact_groups:
  - {name: dba, members: [alice, bob, carol]}
targets:
  - {name: ops-hook, type: webhook, url: 'http://127.0.0.1:1/ops'}
  - {name: dev-hook, type: webhook, url: 'http://127.0.0.1:1/dev'}
  - {name: off-hook, type: webhook, url: 'http://127.0.0.1:1/off', enabled: false}
  - {name: dt, type: dingtalk, webhook: 'https://oapi.dingtalk.com/robot/send?access_token=x', mention: [bob]}
target_groups:
  - {name: ops, targets: [ops-hook, off-hook]}
";

    fn table(routing: &str) -> Config {
        let text = format!("{PEOPLE}{routing}");
        Config::from_text(Path::new("tocsin.yaml"), &text)
            .unwrap_or_else(|e| panic!("config does not load: {e}\n{text}"))
    }

    fn who(c: &Config, labels: &[(&str, &str)], sev: Severity) -> (String, Vec<String>) {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let all: Vec<Recipient> = Vec::new();
        let r = resolve(&c.routes, &all, &labels, sev);
        (
            r.scope,
            r.recipients.into_iter().map(|r| r.target).collect(),
        )
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const SCOPES: &str = "\
routing:
  default: owner
  scopes:
    - match: {vault: v-prod}
      notify: {warning: [dev-hook], error: [ops, dba]}
    - match: {vault: v-prod, client: c-7}
      notify: inherit
    - match: {vault: v-prod, client: c-8}
      notify: off
    - match: {vault: v-prod, client: c-9}
      notify: owner
    - match: {vault: v-test}
      notify: off
    - match: {vault: v-test, client: c-1}
      notify: {error: [alice]}
";

    /// Labels, severity, the deciding scope, the delivery targets.
    type Case<'a> = (&'a [(&'a str, &'a str)], Severity, &'a str, &'a [&'a str]);

    #[test]
    fn routing_table() {
        use Severity::{Error, Warning};
        let c = table(SCOPES);
        let cases: &[Case] = &[
            // Nothing matches: the default, `owner`.
            (&[("vault", "other")], Error, "default", &["owner"]),
            (&[], Warning, "default", &["owner"]),
            // Vault level, per severity; the disabled target of a group is
            // skipped, the disabled contact of a group too.
            (
                &[("vault", "v-prod")],
                Warning,
                "{vault=v-prod}",
                &["dev-hook"],
            ),
            (
                &[("vault", "v-prod")],
                Error,
                "{vault=v-prod}",
                &["ops-hook", "alice", "bob"],
            ),
            // Client level `inherit`: the vault's setting.
            (
                &[("vault", "v-prod"), ("client", "c-7")],
                Error,
                "{vault=v-prod}",
                &["ops-hook", "alice", "bob"],
            ),
            (
                &[("vault", "v-prod"), ("client", "c-7")],
                Warning,
                "{vault=v-prod}",
                &["dev-hook"],
            ),
            // Client level `off` and `owner` override the vault.
            (
                &[("vault", "v-prod"), ("client", "c-8")],
                Error,
                "{client=c-8, vault=v-prod}",
                &[],
            ),
            (
                &[("vault", "v-prod"), ("client", "c-9")],
                Warning,
                "{client=c-9, vault=v-prod}",
                &["owner"],
            ),
            // Vault `off`; a client overrides errors only, warnings inherit `off`.
            (&[("vault", "v-test")], Error, "{vault=v-test}", &[]),
            (
                &[("vault", "v-test"), ("client", "c-1")],
                Error,
                "{client=c-1, vault=v-test}",
                &["alice"],
            ),
            (
                &[("vault", "v-test"), ("client", "c-1")],
                Warning,
                "{vault=v-test}",
                &[],
            ),
            // Extra labels do not matter.
            (
                &[("vault", "v-prod"), ("client", "c-7"), ("job", "x")],
                Warning,
                "{vault=v-prod}",
                &["dev-hook"],
            ),
        ];
        for (labels, sev, scope, want) in cases {
            let got = who(&c, labels, *sev);
            assert_eq!(got, (scope.to_string(), names(want)), "{labels:?} {sev:?}");
        }
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
            resolve(&c.routes, &[], &labels, Severity::Warning).recipients
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

    #[test]
    fn without_routing_every_enabled_target_hears() {
        let c = table("");
        let labels = Labels::new();
        let all = vec![Recipient {
            name: "x".into(),
            target: "x".into(),
            mentions: Default::default(),
            mentioned: Vec::new(),
        }];
        let r = resolve(&c.routes, &all, &labels, Severity::Warning);
        assert_eq!(r.scope, "all");
        assert_eq!(r.recipients, all);
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
    fn grouping_is_per_scope_and_inherits_from_routing() {
        use crate::config::GroupBy;
        let c = table(
            "routing:
  default: [ops-hook]
  group_by: [alertname, deployment]
  group_wait: 30s
  group_interval: 5m
  scopes:
    - {match: {vault: v1}, notify: [dev-hook], group_by: ['...'], group_wait: 1s}
    - {match: {vault: v2}, notify: [dev-hook], group_by: []}
",
        );
        let labels = |pairs: &[(&str, &str)]| -> Labels {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let route = |l: &Labels| resolve(&c.routes, &[], l, Severity::Warning);
        let a = labels(&[("alertname", "A"), ("deployment", "d1"), ("x", "1")]);
        let b = labels(&[("alertname", "A"), ("deployment", "d1"), ("x", "2")]);
        let d = labels(&[("alertname", "A"), ("deployment", "d2")]);
        let r = route(&a);
        let g = &r.timing.grouping;
        assert_eq!(
            g.by,
            GroupBy::Labels(vec!["alertname".into(), "deployment".into()])
        );
        assert_eq!((g.wait.as_secs(), g.interval.as_secs()), (30, 300));
        // Same alertname and deployment: one group, whatever else differs.
        assert_eq!(g.key(&r.scope, &a, "f1"), g.key(&r.scope, &b, "f2"));
        assert_ne!(g.key(&r.scope, &a, "f1"), g.key(&r.scope, &d, "f3"));
        assert_eq!(
            g.key(&r.scope, &d, "f3"),
            "default/{alertname=\"A\",deployment=\"d2\"}"
        );
        // `...`: every alert alone; the scope's own group_wait, the
        // routing's group_interval.
        let mut a1 = a.clone();
        a1.insert("vault".into(), "v1".into());
        let r1 = route(&a1);
        let g1 = &r1.timing.grouping;
        assert_eq!(g1.by, GroupBy::Each);
        assert_eq!((g1.wait.as_secs(), g1.interval.as_secs()), (1, 300));
        assert_ne!(g1.key(&r1.scope, &a1, "f1"), g1.key(&r1.scope, &a1, "f2"));
        // `[]`: the whole route is one group.
        let mut a2 = a.clone();
        a2.insert("vault".into(), "v2".into());
        let r2 = route(&a2);
        assert_eq!(r2.timing.grouping.by, GroupBy::Route);
        assert_eq!(r2.timing.grouping.key(&r2.scope, &a2, "f1"), "{vault=v2}");
        // Without grouping keys: one group per route, sent at once.
        let plain = table("routing:\n  default: [ops-hook]\n");
        let g = resolve(&plain.routes, &[], &a, Severity::Warning)
            .timing
            .grouping;
        assert_eq!(
            (g.by, g.wait, g.interval),
            (GroupBy::Route, Default::default(), Default::default())
        );
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
