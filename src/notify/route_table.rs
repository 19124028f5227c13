//! The checked routing table and the lookup of an alert's route in it.
//! `config::routing` builds the [`RouteTable`] from `routing:` (names resolved
//! to [`Recipient`]s, timing to [`RouteTiming`]); the router looks up each
//! alert here. The scopes whose `match` labels are all on the alert apply;
//! the most specific (most labels; the first written on a tie) decides,
//! `inherit` passes to the next less specific one and finally to
//! `routing.default`. Per-severity settings pick the alert's current
//! severity first.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alert::{Labels, Severity};
use crate::config::windows::{TimeWindow, is_open};

/// The checked routing: the default and the scopes, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    /// `None`: `routing.default` is `all` (every enabled target).
    pub default: Option<Decision>,
    pub default_timing: RouteTiming,
    pub scopes: Vec<Scope>,
}

/// One checked entry of `routing.scopes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub matchers: Labels,
    pub decision: Decision,
    pub timing: RouteTiming,
}

/// A checked `notify:` setting: who hears about an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Off,
    Inherit,
    Deliver(Vec<Recipient>),
    PerSeverity {
        warning: Box<Decision>,
        error: Box<Decision>,
    },
}

/// One delivery of a route: what people see, and the outbox target it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The target, contact or `owner` name.
    pub name: String,
    /// The target that delivers (a configured one, or a contact's mail target).
    pub target: String,
    /// Contacts of the same route list this IM target mentions (or, for a
    /// WeCom application, sends to) in its messages on this route...
    pub mentions: Mentions,
    /// ...and their names.
    pub mentioned: Vec<String>,
}

/// Whom an IM message mentions, as the channel names them: phones
/// (DingTalk, WeCom robot text) and user ids (WeCom userid, Feishu id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mentions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mobiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
}

/// Checked timing of a route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTiming {
    pub grouping: Grouping,
    pub repeat_interval: Option<Duration>,
    pub repeat_limit: Option<u32>,
    pub send_resolved: bool,
    /// Tell those who heard of a firing alert who acknowledged it.
    pub send_acknowledged: bool,
    pub mute: Vec<TimeWindow>,
    pub active: Vec<TimeWindow>,
}

/// How a route batches its alerts into messages (Alertmanager's grouping):
/// alerts with the same values of `by` form a group; a new group waits
/// `wait` to collect more before its first message, and each later message
/// goes at least `interval` after the previous one. Zero durations send as
/// soon as the target can take them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grouping {
    pub by: GroupBy,
    pub wait: Duration,
    pub interval: Duration,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum GroupBy {
    /// One group per route (`group_by` unset or `[]`).
    #[default]
    Route,
    /// One group per distinct value set of these labels.
    Labels(Vec<String>),
    /// Every alert is its own group (`group_by: [...]`).
    Each,
}

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

impl RouteTable {
    /// The route of an alert with these labels and this severity; `all` is
    /// every enabled configured target, the route while `routing.default`
    /// is `all`.
    pub fn route_for(&self, all: &[Recipient], labels: &Labels, severity: Severity) -> Route {
        let mut matching: Vec<(usize, &Scope)> = self
            .scopes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.matches(labels))
            .collect();
        matching
            .sort_by(|(ia, a), (ib, b)| b.matchers.len().cmp(&a.matchers.len()).then(ia.cmp(ib)));
        for (_, s) in matching {
            match s.decision.for_severity(severity) {
                Decision::Inherit => continue,
                d => return Route::decided(s.describe(), d, s.timing.clone()),
            }
        }
        match &self.default {
            Some(d) => Route::decided(
                "default".into(),
                d.for_severity(severity),
                self.default_timing.clone(),
            ),
            None => Route {
                scope: "all".into(),
                recipients: all.to_vec(),
                timing: self.default_timing.clone(),
            },
        }
    }
}

impl Scope {
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers
            .iter()
            .all(|(k, v)| labels.get(k).is_some_and(|l| l == v))
    }

    /// `{vault=v-prod, client=c-7}`: how the API names the scope.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .matchers
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
}

impl Decision {
    /// The setting for an alert of this severity (never `PerSeverity`).
    pub fn for_severity(&self, severity: Severity) -> &Decision {
        match self {
            Decision::PerSeverity { warning, error } => match severity {
                Severity::Warning => warning.for_severity(severity),
                Severity::Error => error.for_severity(severity),
            },
            d => d,
        }
    }

    /// Whether some severity of this setting is `inherit`.
    pub fn contains_inherit(&self) -> bool {
        match self {
            Decision::Inherit => true,
            Decision::PerSeverity { warning, error } => {
                warning.contains_inherit() || error.contains_inherit()
            }
            _ => false,
        }
    }
}

impl Recipient {
    /// The delivery by the target named `name` itself, mentioning nobody.
    pub fn to(name: &str) -> Recipient {
        Recipient {
            name: name.to_string(),
            target: name.to_string(),
            mentions: Mentions::default(),
            mentioned: Vec::new(),
        }
    }
}

impl Mentions {
    pub fn is_empty(&self) -> bool {
        self.mobiles.is_empty() && self.users.is_empty()
    }

    /// Adds `other`'s mentions that are not here yet, in order.
    pub fn extend(&mut self, other: &Mentions) {
        for m in &other.mobiles {
            if !self.mobiles.contains(m) {
                self.mobiles.push(m.clone());
            }
        }
        for u in &other.users {
            if !self.users.contains(u) {
                self.users.push(u.clone());
            }
        }
    }
}

impl RouteTiming {
    /// Whether the route notifies at `at` (outside `mute`, inside `active`).
    pub fn is_open(&self, at: chrono::DateTime<chrono::Utc>) -> bool {
        is_open(&self.mute, &self.active, at)
    }

    pub fn has_windows(&self) -> bool {
        !self.mute.is_empty() || !self.active.is_empty()
    }
}

impl Grouping {
    /// The key of the group an alert with `labels` and `fingerprint` falls
    /// in on the route decided by `scope`.
    pub fn key(&self, scope: &str, labels: &Labels, fingerprint: &str) -> String {
        match &self.by {
            GroupBy::Route => scope.to_string(),
            GroupBy::Each => format!("{scope}/{fingerprint}"),
            GroupBy::Labels(names) => {
                let parts: Vec<String> = names
                    .iter()
                    .map(|n| format!("{n}={:?}", labels.get(n).map_or("", String::as_str)))
                    .collect();
                format!("{scope}/{{{}}}", parts.join(","))
            }
        }
    }

    /// The `group_by` labels of an alert, with their values (absent: "").
    pub fn labels_of(&self, labels: &Labels) -> Labels {
        match &self.by {
            GroupBy::Labels(names) => names
                .iter()
                .map(|n| (n.clone(), labels.get(n).cloned().unwrap_or_default()))
                .collect(),
            GroupBy::Route | GroupBy::Each => Labels::new(),
        }
    }
}

impl Route {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::routing_fixture::{names, table, who};

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
    fn without_routing_every_enabled_target_hears() {
        let c = table("");
        let labels = Labels::new();
        let all = vec![Recipient {
            name: "x".into(),
            target: "x".into(),
            mentions: Default::default(),
            mentioned: Vec::new(),
        }];
        let r = c.routes.route_for(&all, &labels, Severity::Warning);
        assert_eq!(r.scope, "all");
        assert_eq!(r.recipients, all);
    }
}
