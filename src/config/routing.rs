//! `routing:` and `target_groups:` as written, and their check: every name a
//! route uses must be a target, target group, contact, contact group or
//! `owner`, and every contact must be reachable (by email through the
//! mailer, or by an IM target of the same list that mentions them). The
//! result is a [`RouteTable`] of delivery target names that the router walks
//! per alert (see `notify::route`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::people::{Contact, ContactGroup, Directory};
use super::targets::{EmailConfig, TargetConfig, TargetKind, TargetTemplates};
use super::windows::{RawWindow, TimeWindow, resolve_windows};
use crate::labels::Labels;
use crate::rules::Severity;
use crate::yaml::{self, HumanDuration, SourceError, Spanned};

/// The name that stands for the main account (`owner:` addresses).
pub const OWNER: &str = "owner";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    pub default: Spanned<RouteDefault>,
    /// Label-matched overrides; the most specific matching scope wins.
    pub scopes: Vec<ScopeConfig>,
    // Timing of every route (scopes may override it).
    /// Alerts with equal values of these labels share messages (`[...]`:
    /// every alert on its own; unset or `[]`: one group per route).
    #[serde(default)]
    pub group_by: Option<Spanned<Vec<Spanned<String>>>>,
    /// How long a new group collects alerts before its first message.
    #[serde(default)]
    pub group_wait: Option<Spanned<HumanDuration>>,
    /// How long after a group's message its next one may go.
    #[serde(default)]
    pub group_interval: Option<Spanned<HumanDuration>>,
    /// Notify a still-firing alert again after this long (0 or unset: never).
    #[serde(default)]
    pub repeat_interval: Option<Spanned<HumanDuration>>,
    /// At most this many repeats per firing (unset: no cap).
    #[serde(default)]
    pub repeat_limit: Option<Spanned<u32>>,
    /// `false`: no resolved messages on this route (targets may also say no).
    #[serde(default)]
    pub send_resolved: Option<bool>,
    /// No notifications inside these windows.
    #[serde(default)]
    pub mute: Vec<RawWindow>,
    /// Notifications only inside these windows.
    #[serde(default)]
    pub active: Vec<RawWindow>,
}

impl RoutingConfig {
    fn timing(&self) -> TimingConfig {
        TimingConfig {
            group_by: self.group_by.clone(),
            group_wait: self.group_wait.clone(),
            group_interval: self.group_interval.clone(),
            repeat_interval: self.repeat_interval.clone(),
            repeat_limit: self.repeat_limit.clone(),
            send_resolved: self.send_resolved,
            mute: self.mute.clone(),
            active: self.active.clone(),
        }
    }
}

/// Per-route timing as written: repeats of firing alerts and resolved messages.
#[derive(Debug, Default, Clone)]
pub struct TimingConfig {
    pub group_by: Option<Spanned<Vec<Spanned<String>>>>,
    pub group_wait: Option<Spanned<HumanDuration>>,
    pub group_interval: Option<Spanned<HumanDuration>>,
    pub repeat_interval: Option<Spanned<HumanDuration>>,
    pub repeat_limit: Option<Spanned<u32>>,
    pub send_resolved: Option<bool>,
    pub mute: Vec<RawWindow>,
    pub active: Vec<RawWindow>,
}

/// Checked timing of a route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTiming {
    pub grouping: Grouping,
    pub repeat_interval: Option<std::time::Duration>,
    pub repeat_limit: Option<u32>,
    pub send_resolved: bool,
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
    pub wait: std::time::Duration,
    pub interval: std::time::Duration,
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
}

impl Grouping {
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

impl RouteTiming {
    /// Whether the route notifies at `at` (outside `mute`, inside `active`).
    pub fn is_open(&self, at: chrono::DateTime<chrono::Utc>) -> bool {
        super::windows::is_open(&self.mute, &self.active, at)
    }

    pub fn has_windows(&self) -> bool {
        !self.mute.is_empty() || !self.active.is_empty()
    }
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            default: yaml::unspanned(Notify::default()),
            scopes: Vec::new(),
            group_by: None,
            group_wait: None,
            group_interval: None,
            repeat_interval: None,
            repeat_limit: None,
            send_resolved: None,
            mute: Vec::new(),
            active: Vec::new(),
        }
    }
}

/// `{match: {label: value, ...}, notify: ...}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    #[serde(rename = "match")]
    pub matchers: Spanned<BTreeMap<String, String>>,
    pub notify: Spanned<Notify>,
    /// Alerts with equal values of these labels share messages (`[...]`:
    /// every alert on its own; unset or `[]`: one group per route).
    #[serde(default)]
    pub group_by: Option<Spanned<Vec<Spanned<String>>>>,
    /// How long a new group collects alerts before its first message.
    #[serde(default)]
    pub group_wait: Option<Spanned<HumanDuration>>,
    /// How long after a group's message its next one may go.
    #[serde(default)]
    pub group_interval: Option<Spanned<HumanDuration>>,
    /// Notify a still-firing alert again after this long (0 or unset: never).
    #[serde(default)]
    pub repeat_interval: Option<Spanned<HumanDuration>>,
    /// At most this many repeats per firing (unset: no cap).
    #[serde(default)]
    pub repeat_limit: Option<Spanned<u32>>,
    /// `false`: no resolved messages on this route (targets may also say no).
    #[serde(default)]
    pub send_resolved: Option<bool>,
    /// No notifications inside these windows.
    #[serde(default)]
    pub mute: Vec<RawWindow>,
    /// Notifications only inside these windows.
    #[serde(default)]
    pub active: Vec<RawWindow>,
}

impl ScopeConfig {
    fn timing(&self) -> TimingConfig {
        TimingConfig {
            group_by: self.group_by.clone(),
            group_wait: self.group_wait.clone(),
            group_interval: self.group_interval.clone(),
            repeat_interval: self.repeat_interval.clone(),
            repeat_limit: self.repeat_limit.clone(),
            send_resolved: self.send_resolved,
            mute: self.mute.clone(),
            active: self.active.clone(),
        }
    }
}

/// `routing.default` (kept under its old name).
pub type RouteDefault = Notify;

/// Who hears about an alert, as written.
#[derive(Debug, Default)]
pub enum Notify {
    /// Every enabled target (the default while no routing is configured).
    #[default]
    AllTargets,
    /// Nobody: alerts are recorded but not sent.
    Off,
    /// The main account: the `owner:` addresses, by email.
    Owner,
    /// What the next less specific matching scope (or the default) says.
    Inherit,
    /// These targets, target groups, contacts, contact groups (or `owner`).
    Targets(Vec<Spanned<String>>),
    /// A setting per severity; a missing severity inherits.
    PerSeverity {
        warning: Option<Box<Spanned<Notify>>>,
        error: Option<Box<Spanned<Notify>>>,
    },
}

const EXPECTED: &str = "off, owner, inherit, all, a list of names, or {warning: ..., error: ...}";

impl<'de> Deserialize<'de> for Notify {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Notify;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Notify, E> {
                match v {
                    "off" => Ok(Notify::Off),
                    "all" => Ok(Notify::AllTargets),
                    "owner" => Ok(Notify::Owner),
                    "inherit" => Ok(Notify::Inherit),
                    other => Err(E::custom(format!("expected {EXPECTED}, got {other:?}"))),
                }
            }
            /// YAML 1.1 reads a bare `off` as `false`.
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Notify, E> {
                if v {
                    Err(E::custom(format!("expected {EXPECTED}, got true")))
                } else {
                    Ok(Notify::Off)
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Notify, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<Spanned<String>>()? {
                    names.push(n);
                }
                Ok(Notify::Targets(names))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Notify, A::Error> {
                let (mut warning, mut error) = (None, None);
                while let Some(k) = map.next_key::<String>()? {
                    let v: Spanned<Notify> = map.next_value()?;
                    match k.as_str() {
                        "warning" => warning = Some(Box::new(v)),
                        "error" => error = Some(Box::new(v)),
                        other => {
                            return Err(de::Error::custom(format!(
                                "expected the severity warning or error, got {other:?}"
                            )));
                        }
                    }
                }
                Ok(Notify::PerSeverity { warning, error })
            }
        }
        d.deserialize_any(V)
    }
}

/// `{name, targets: [...], enabled}`: several targets under one name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    pub name: Spanned<String>,
    #[serde(default)]
    pub targets: Vec<Spanned<String>>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
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
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Mentions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mobiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
}

impl Mentions {
    pub fn is_empty(&self) -> bool {
        self.mobiles.is_empty() && self.users.is_empty()
    }

    /// How `target` mentions `contact`, if it can: DingTalk by phone; a
    /// WeCom robot by userid, else by phone in text messages; a WeCom
    /// application by userid; Feishu by its user id.
    pub fn of(target: &TargetKind, contact: &Contact) -> Option<Mentions> {
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
                (w.format == super::ChatFormat::Text)
                    .then(|| some(&contact.phone().cloned()).map(mobile))
                    .flatten()
            }),
            TargetKind::WeComApp(_) => some(&contact.wecom_user).map(user),
            TargetKind::Feishu(_) => some(&contact.feishu_user).map(user),
            _ => None,
        }
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

/// A checked setting.
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub matchers: Labels,
    pub decision: Decision,
    pub timing: RouteTiming,
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

/// The checked routing: the default and the scopes, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    pub default: Option<Decision>,
    pub default_timing: RouteTiming,
    pub scopes: Vec<Scope>,
}

/// What the check needs from the rest of the config.
pub(super) struct RoutingContext<'a> {
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
}

/// Checks `routing:` and builds the table plus the mail targets it needs
/// (one per contact reached by email, and `owner`).
pub(super) fn resolve_routing(
    cx: &RoutingContext,
    routing: &RoutingConfig,
    errors: &mut Vec<SourceError>,
) -> (RouteTable, Vec<TargetConfig>) {
    let mut r = Resolver {
        cx,
        dir: Directory::new(cx.contacts, cx.groups),
        mail: BTreeMap::new(),
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
        Notify::AllTargets => None,
        other => {
            let d = r.decision("routing.default", other, &routing.default, errors);
            if contains_inherit(&d) {
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
            timing: timing(cx.file, &what, &s.timing(), Some(&routing.timing()), errors),
        });
    }
    let mail = r.mail.into_values().collect();
    let default_timing = timing(cx.file, "routing", &routing.timing(), None, errors);
    (
        RouteTable {
            default,
            default_timing,
            scopes,
        },
        mail,
    )
}

/// A route's timing: its own keys, else those of `routing:`.
fn timing(
    file: &Path,
    what: &str,
    own: &TimingConfig,
    parent: Option<&TimingConfig>,
    errors: &mut Vec<SourceError>,
) -> RouteTiming {
    let interval = own
        .repeat_interval
        .as_ref()
        .or(parent.and_then(|p| p.repeat_interval.as_ref()));
    let limit = own
        .repeat_limit
        .as_ref()
        .or(parent.and_then(|p| p.repeat_limit.as_ref()));
    if let Some(l) = &own.repeat_limit
        && interval.is_none_or(|i| i.value.0.is_zero())
    {
        errors.push(SourceError::at(
            file,
            l,
            "repeat_limit needs a repeat_interval above 0",
        ));
    }
    if let Some(i) = &own.repeat_interval
        && !i.value.0.is_zero()
        && i.value.0 < std::time::Duration::from_secs(1)
    {
        errors.push(SourceError::at(
            file,
            i,
            "repeat_interval below 1s would flood the targets; use 0 for no repeats",
        ));
    }
    // A scope's own windows replace those of `routing:`.
    let windows = |own: &[RawWindow],
                   parent: Option<&[RawWindow]>,
                   key: &str,
                   errors: &mut Vec<SourceError>| {
        match (own.is_empty(), parent) {
            (false, _) | (true, None) => {
                resolve_windows(file, &format!("{what}.{key}"), own, errors)
            }
            (true, Some(p)) => resolve_windows(file, &format!("routing.{key}"), p, &mut Vec::new()),
        }
    };
    let mute = windows(&own.mute, parent.map(|p| p.mute.as_slice()), "mute", errors);
    let active = windows(
        &own.active,
        parent.map(|p| p.active.as_slice()),
        "active",
        errors,
    );
    let grouping = grouping(file, what, own, parent, errors);
    RouteTiming {
        grouping,
        mute,
        active,
        repeat_interval: interval.map(|i| i.value.0).filter(|d| !d.is_zero()),
        repeat_limit: limit.map(|l| l.value),
        send_resolved: own
            .send_resolved
            .or(parent.and_then(|p| p.send_resolved))
            .unwrap_or(true),
    }
}

/// A route's grouping: its own keys, else those of `routing:`.
fn grouping(
    file: &Path,
    what: &str,
    own: &TimingConfig,
    parent: Option<&TimingConfig>,
    errors: &mut Vec<SourceError>,
) -> Grouping {
    let by = match own
        .group_by
        .as_ref()
        .or(parent.and_then(|p| p.group_by.as_ref()))
    {
        None => GroupBy::Route,
        Some(list) => {
            let names: Vec<&Spanned<String>> = list.value.iter().collect();
            let mut by = Vec::new();
            let mut each = false;
            for n in &names {
                if n.value == "..." {
                    each = true;
                    if names.len() > 1 {
                        errors.push(SourceError::at(
                            file,
                            *n,
                            format!("{what}.group_by: `...` (every alert on its own) cannot be combined with label names"),
                        ));
                    }
                } else if !crate::rules::load::valid_label_name(&n.value) {
                    errors.push(SourceError::at(
                        file,
                        *n,
                        format!(
                            "{what}.group_by: expected a label name ([a-zA-Z_][a-zA-Z0-9_]*) or `...`, found {:?}",
                            n.value
                        ),
                    ));
                } else if !by.contains(&n.value) {
                    by.push(n.value.clone());
                }
            }
            match (each, by.is_empty()) {
                (true, _) => GroupBy::Each,
                (false, true) => GroupBy::Route,
                (false, false) => GroupBy::Labels(by),
            }
        }
    };
    let duration = |v: Option<&Spanned<HumanDuration>>| v.map(|d| d.value.0).unwrap_or_default();
    let wait = duration(
        own.group_wait
            .as_ref()
            .or(parent.and_then(|p| p.group_wait.as_ref())),
    );
    let interval = duration(
        own.group_interval
            .as_ref()
            .or(parent.and_then(|p| p.group_interval.as_ref())),
    );
    let day = std::time::Duration::from_secs(86_400);
    for (key, v) in [
        ("group_wait", &own.group_wait),
        ("group_interval", &own.group_interval),
    ] {
        if let Some(v) = v
            && v.value.0 > day
        {
            errors.push(SourceError::at(
                file,
                v,
                format!("{what}.{key}: expected at most 24h (alerts would wait that long before anyone hears of them)"),
            ));
        }
    }
    Grouping { by, wait, interval }
}

fn contains_inherit(d: &Decision) -> bool {
    match d {
        Decision::Inherit => true,
        Decision::PerSeverity { warning, error } => {
            contains_inherit(warning) || contains_inherit(error)
        }
        _ => false,
    }
}

struct Resolver<'a> {
    cx: &'a RoutingContext<'a>,
    dir: Directory<'a>,
    /// Mail targets needed so far, by name.
    mail: BTreeMap<String, TargetConfig>,
}

impl Resolver<'_> {
    fn decision<T>(
        &mut self,
        what: &str,
        n: &Notify,
        at: &Spanned<T>,
        errors: &mut Vec<SourceError>,
    ) -> Decision {
        match n {
            Notify::Off => Decision::Off,
            Notify::Inherit => Decision::Inherit,
            Notify::AllTargets => Decision::Deliver(
                self.cx
                    .targets
                    .iter()
                    .filter(|t| t.enabled)
                    .map(target_recipient)
                    .collect(),
            ),
            Notify::Owner => match self.owner(what, at, errors) {
                Some(r) => Decision::Deliver(vec![r]),
                None => Decision::Off,
            },
            Notify::Targets(names) => Decision::Deliver(self.list(what, names, errors)),
            Notify::PerSeverity { warning, error } => {
                let mut level = |v: &Option<Box<Spanned<Notify>>>, sev: &str| match v {
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
        self.mail
            .entry(OWNER.to_string())
            .or_insert_with(|| mail_target(OWNER, self.cx.owner.to_vec(), None));
        Some(Recipient {
            name: OWNER.into(),
            target: OWNER.into(),
            mentions: Mentions::default(),
            mentioned: Vec::new(),
        })
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
        let push = |at: usize, r: Recipient, out: &mut Vec<(usize, Recipient)>| {
            if !out.iter().any(|(_, o)| o.target == r.target) {
                out.push((at, r));
            }
        };
        // Targets first: they decide which contacts are already mentioned.
        let mut contacts: Vec<(usize, &Spanned<String>, &Contact, Way)> = Vec::new();
        for (at, n) in names.iter().enumerate() {
            let (way, name) = Way::of(n.value.as_str());
            if way != Way::Any {
                match self.dir.expand(name) {
                    Some(members) => {
                        let group_off =
                            cx.groups.iter().any(|g| g.name.value == name && !g.enabled);
                        if !group_off {
                            contacts.extend(
                                members
                                    .into_iter()
                                    .filter(|c| c.enabled)
                                    .map(|c| (at, n, c, way)),
                            );
                        }
                    }
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
                    push(at, r, &mut out);
                }
            } else if let Some(t) = cx.targets.iter().find(|t| t.name() == name) {
                if t.enabled {
                    push(at, target_recipient(t), &mut out);
                }
            } else if let Some(g) = cx.target_groups.iter().find(|g| g.name.value == name) {
                if g.enabled {
                    for m in &g.targets {
                        if let Some(t) = cx.targets.iter().find(|t| t.name() == m.value)
                            && t.enabled
                        {
                            push(at, target_recipient(t), &mut out);
                        }
                    }
                }
            } else if let Some(members) = self.dir.expand(name) {
                let group_off = cx.groups.iter().any(|g| g.name.value == name && !g.enabled);
                if !group_off {
                    contacts.extend(
                        members
                            .into_iter()
                            .filter(|c| c.enabled)
                            .map(|c| (at, n, c, Way::Any)),
                    );
                }
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
        let mentioned: HashMap<&str, &str> = out
            .iter()
            .filter_map(|(_, r)| cx.targets.iter().find(|t| t.name() == r.target))
            .flat_map(|t| t.mentions.iter().map(move |c| (c.as_str(), t.name())))
            .collect();
        for (at, n, c, way) in contacts {
            if way != Way::Any {
                if let Some(r) = self.contact_way(what, n, c, way, errors) {
                    push(at, r, &mut out);
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
                if let Some(m) = Mentions::of(&t.kind, c) {
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
                    self.mail.entry(c.name().to_string()).or_insert_with(|| {
                        mail_target(c.name(), vec![email.to_string()], c.language)
                    });
                    push(
                        at,
                        Recipient {
                            name: c.name().to_string(),
                            target: c.name().to_string(),
                            mentions: Mentions::default(),
                            mentioned: Vec::new(),
                        },
                        &mut out,
                    );
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
                push(at, r, &mut out);
            }
        }
        out.sort_by_key(|(at, _)| *at);
        out.into_iter().map(|(_, r)| r).collect()
    }
}

/// How a route list reaches a contact: `NAME` (every way they have but
/// calls), `mail:NAME`, `sms:NAME`, `call:NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Any,
    Mail,
    Sms,
    Call,
}

impl Way {
    fn of(entry: &str) -> (Way, &str) {
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

    fn as_str(self) -> &'static str {
        match self {
            Way::Any => "",
            Way::Mail => "mail",
            Way::Sms => "sms",
            Way::Call => "call",
        }
    }
}

impl Resolver<'_> {
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
            self.mail
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
            let number = match super::phones::e164(&phone.value) {
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
            self.mail.entry(target_name.clone()).or_insert_with(|| {
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
        Some(Recipient {
            name: target_name.clone(),
            target: target_name,
            mentions: Mentions::default(),
            mentioned: Vec::new(),
        })
    }
}

fn target_recipient(t: &TargetConfig) -> Recipient {
    Recipient {
        name: t.name().to_string(),
        target: t.name().to_string(),
        mentions: Mentions::default(),
        mentioned: Vec::new(),
    }
}

/// The email target that reaches a contact (or the owner) through the mailer.
fn mail_target(name: &str, to: Vec<String>, language: Option<super::Language>) -> TargetConfig {
    TargetConfig {
        name: yaml::unspanned(name.to_string()),
        kind: TargetKind::Email(EmailConfig {
            to,
            cc: Vec::new(),
            format: super::EmailFormat::Table,
        }),
        enabled: true,
        send_resolved: true,
        language,
        templates: TargetTemplates::default(),
        timeout: None,
        max_alerts: 0,
        proxy: None,
        mentions: Vec::new(),
    }
}
