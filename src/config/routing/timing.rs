//! A route's timing keys: grouping (`group_by`, `group_wait`,
//! `group_interval`), repeats (`repeat_interval`, `repeat_limit`),
//! `send_resolved` and the time windows (`mute`, `active`). Both `routing:`
//! and each scope take them; the eight are written once, in
//! [`with_timing_keys!`], which adds them to the model structs of
//! `routing/mod.rs`. Here too: their check, and how a scope inherits the
//! keys it leaves unset from `routing:`.

use std::path::Path;
use std::time::Duration;

use super::TimingKeys;
use crate::config::windows::{RawWindow, resolve_windows};
use crate::notify::route_table::{GroupBy, Grouping, RouteTiming};
use crate::yaml::{HumanDuration, SourceError, Spanned};

/// Declares the model structs that take a route's timing keys. Each struct
/// gets its own fields as written, then the eight timing keys listed here
/// (every one optional), and `timing_keys()` that borrows them as one
/// [`TimingKeys`]. A struct followed by `default { field: value, ... }` also
/// gets a `Default` with those values and every timing key unset.
macro_rules! with_timing_keys {
    // One struct: its own fields, then the keys.
    (@struct [$( $(#[doc = $doc:literal])* $key:ident: $ty:ty, )*]
        [$(#[$attr:meta])*] $name:ident [$($own:tt)*]) => {
        $(#[$attr])*
        pub struct $name {
            $($own)*
            $( $(#[doc = $doc])* #[serde(default)] pub $key: $ty, )*
        }

        impl $name {
            /// The timing keys as written here.
            pub fn timing_keys(&self) -> TimingKeys<'_> {
                TimingKeys { $( $key: &self.$key, )* }
            }
        }
    };
    (@default [$( $(#[doc = $doc:literal])* $key:ident: $ty:ty, )*]
        $name:ident { $($field:ident: $value:expr),* $(,)? }) => {
        impl Default for $name {
            fn default() -> Self {
                $name {
                    $( $field: $value, )*
                    $( $key: Default::default(), )*
                }
            }
        }
    };
    // The borrowed view of the keys.
    (@view [$( $(#[doc = $doc:literal])* $key:ident: $ty:ty, )*]) => {
        /// A route's timing keys as written, borrowed from `routing:` or
        /// one of its scopes.
        #[derive(Debug, Clone, Copy)]
        pub struct TimingKeys<'a> {
            $( $(#[doc = $doc])* pub $key: &'a $ty, )*
        }
    };
    (@structs $keys:tt) => {};
    (@structs $keys:tt $(#[$attr:meta])* pub struct $name:ident { $($own:tt)* }
        default { $($default:tt)* } $($rest:tt)*) => {
        with_timing_keys!(@struct $keys [$(#[$attr])*] $name [$($own)*]);
        with_timing_keys!(@default $keys $name { $($default)* });
        with_timing_keys!(@structs $keys $($rest)*);
    };
    (@structs $keys:tt $(#[$attr:meta])* pub struct $name:ident { $($own:tt)* }
        $($rest:tt)*) => {
        with_timing_keys!(@struct $keys [$(#[$attr])*] $name [$($own)*]);
        with_timing_keys!(@structs $keys $($rest)*);
    };
    (@keys $keys:tt $($structs:tt)*) => {
        with_timing_keys!(@view $keys);
        with_timing_keys!(@structs $keys $($structs)*);
    };
    // The entry: the model structs. The timing keys, written once.
    ($($structs:tt)*) => {
        with_timing_keys!(@keys [
            /// Alerts with equal values of these labels share messages (`[...]`:
            /// every alert on its own; unset or `[]`: one group per route).
            group_by: Option<Spanned<Vec<Spanned<String>>>>,
            /// How long a new group collects alerts before its first message.
            group_wait: Option<Spanned<HumanDuration>>,
            /// How long after a group's message its next one may go.
            group_interval: Option<Spanned<HumanDuration>>,
            /// Notify a still-firing alert again after this long (0 or unset: never).
            repeat_interval: Option<Spanned<HumanDuration>>,
            /// At most this many repeats per firing (unset: no cap).
            repeat_limit: Option<Spanned<u32>>,
            /// `false`: no resolved messages on this route (targets may also say no).
            send_resolved: Option<bool>,
            /// `true`: when someone acknowledges a firing alert (the console, a
            /// link), the targets that heard of it are told who (default: false).
            send_acknowledged: Option<bool>,
            /// No notifications inside these windows.
            mute: Vec<RawWindow>,
            /// Notifications only inside these windows.
            active: Vec<RawWindow>,
        ] $($structs)*);
    };
}
pub(super) use with_timing_keys;

/// A route's checked timing: its own keys, else those of `routing:`
/// (`parent`; `None` for `routing:` itself). `what` names the route in
/// errors (`routing`, `routing.scopes[2]`).
pub(super) fn resolve_timing(
    file: &Path,
    what: &str,
    own: TimingKeys,
    parent: Option<TimingKeys>,
    timezone: chrono_tz::Tz,
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
    if let Some(l) = own.repeat_limit
        && interval.is_none_or(|i| i.value.0.is_zero())
    {
        errors.push(SourceError::at(
            file,
            l,
            "repeat_limit needs a repeat_interval above 0",
        ));
    }
    if let Some(i) = own.repeat_interval
        && !i.value.0.is_zero()
        && i.value.0 < Duration::from_secs(1)
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
                resolve_windows(file, &format!("{what}.{key}"), own, timezone, errors)
            }
            (true, Some(p)) => resolve_windows(
                file,
                &format!("routing.{key}"),
                p,
                timezone,
                &mut Vec::new(),
            ),
        }
    };
    let mute = windows(own.mute, parent.map(|p| p.mute.as_slice()), "mute", errors);
    let active = windows(
        own.active,
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
            .or(parent.and_then(|p| *p.send_resolved))
            .unwrap_or(true),
        send_acknowledged: own
            .send_acknowledged
            .or(parent.and_then(|p| *p.send_acknowledged))
            .unwrap_or(false),
    }
}

/// A route's grouping: its own keys, else those of `routing:`.
fn grouping(
    file: &Path,
    what: &str,
    own: TimingKeys,
    parent: Option<TimingKeys>,
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
                } else if !crate::alert::valid_label_name(&n.value) {
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
    let day = Duration::from_secs(86_400);
    for (key, v) in [
        ("group_wait", own.group_wait),
        ("group_interval", own.group_interval),
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::alert::Labels;
    use crate::alert::Severity;
    use crate::config::Config;
    use crate::config::routing_fixture::table;
    use crate::notify::route_table::{GroupBy, RouteTiming};

    #[test]
    fn grouping_is_per_scope_and_inherits_from_routing() {
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
        let route = |l: &Labels| c.routes.route_for(&[], l, Severity::Warning);
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
        let g = plain
            .routes
            .route_for(&[], &a, Severity::Warning)
            .timing
            .grouping;
        assert_eq!(
            (g.by, g.wait, g.interval),
            (GroupBy::Route, Default::default(), Default::default())
        );
    }

    #[test]
    fn scopes_inherit_the_timing_keys_they_leave_unset() {
        let c = table(
            "routing:
  default: [ops-hook]
  repeat_interval: 1h
  repeat_limit: 3
  send_resolved: false
  mute: [{weekdays: [sat-sun]}]
  scopes:
    - {match: {a: own}, notify: [dev-hook], repeat_interval: 0s, send_resolved: true, active: [{times: ['09:00-18:00']}]}
    - {match: {a: inherited}, notify: [dev-hook]}
",
        );
        let routing = &c.routes.default_timing;
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(
            (
                routing.repeat_interval,
                routing.repeat_limit,
                routing.send_resolved
            ),
            (hour, Some(3), false)
        );
        assert_eq!((routing.mute.len(), routing.active.len()), (1, 0));
        // Its own keys: no repeats (0s), resolved messages, its own `active`
        // windows; `mute` (which it leaves unset) and the limit inherited.
        let own: &RouteTiming = &c.routes.scopes[0].timing;
        assert_eq!(
            (own.repeat_interval, own.repeat_limit, own.send_resolved),
            (None, Some(3), true)
        );
        assert_eq!((own.mute.len(), own.active.len()), (1, 1));
        // Nothing of its own: everything of `routing:`.
        assert_eq!(&c.routes.scopes[1].timing, routing);
    }

    #[test]
    fn bad_timing_names_the_place() {
        let cases: &[(&str, &str)] = &[
            (
                "routing:\n  repeat_interval: 500ms\n",
                "tocsin.yaml:17:20: repeat_interval below 1s would flood the targets; use 0 for no repeats",
            ),
            (
                "routing:\n  repeat_interval: 1h\n  scopes:\n    - {match: {a: b}, notify: off, repeat_interval: 0s, repeat_limit: 2}\n",
                "tocsin.yaml:19:71: repeat_limit needs a repeat_interval above 0",
            ),
            (
                "routing:\n  scopes:\n    - {match: {a: b}, notify: off, group_interval: 25h}\n",
                "tocsin.yaml:18:52: routing.scopes[0].group_interval: expected at most 24h (alerts would wait that long before anyone hears of them)",
            ),
        ];
        for (tail, want) in cases {
            let text = format!("{}{tail}", crate::config::routing_fixture::PEOPLE);
            let got = match Config::from_text(Path::new("tocsin.yaml"), &text) {
                Ok(_) => panic!("loaded:\n{text}"),
                Err(e) => e.to_string(),
            };
            assert_eq!(got, *want);
        }
        // A scope's repeat_limit may lean on the repeat_interval of `routing:`.
        let c = table(
            "routing:\n  repeat_interval: 1h\n  scopes:\n    - {match: {a: b}, notify: off, repeat_limit: 2}\n",
        );
        assert_eq!(c.routes.scopes[0].timing.repeat_limit, Some(2));
    }
}
