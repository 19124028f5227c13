//! tocsin's routing written as an Alertmanager configuration, for
//! `GET /api/v2/status` (`config.original`): amtool's `config show` prints
//! it, and `amtool config routes test --alertmanager.url=...` walks it with
//! Alertmanager's own router to the same receivers tocsin picks.
//!
//! How tocsin's routing maps onto Alertmanager's tree:
//! - the scopes become child routes of the root, most specific first (a
//!   tie in file order), so Alertmanager's first match is tocsin's most
//!   specific scope; `inherit` writes no route, so matching falls through
//!   to the next scope, as in tocsin;
//! - a per-severity setting becomes one route per severity, told apart by
//!   the `severity` label (what tocsin counts as an error: [`ERROR_SEVERITIES`]);
//! - a route with several recipients has one child route each, all but the
//!   last with `continue: true`; `off` is the receiver `off`, which has no
//!   integrations;
//! - `routing.default` is the root's receiver (or its last children);
//!   without `routing`, every enabled target hears every alert;
//! - timing: `group_by` (`[]`: one group per route, `['...']`: every alert
//!   alone), `group_wait`, `group_interval` (tocsin's 0 is written `1ms`,
//!   Alertmanager's least) and `repeat_interval` (never: `100y`); time
//!   windows become `time_intervals` with `mute_time_intervals` /
//!   `active_time_intervals`;
//! - inhibit rules as `inhibit_rules` with `source_matchers`,
//!   `target_matchers` and `equal`.
//!
//! Receivers carry names only: what a target sends to (URLs, keys) stays
//! out of the API. `repeat_limit` and per-target `send_resolved` have no
//! Alertmanager equivalent and are left as comments.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::time::Duration;

use super::alerts::OFF_RECEIVER;
use crate::alert::Labels;
use crate::notify::route_table::{Decision, GroupBy, Recipient, RouteTable, RouteTiming};
use crate::notify::router::Router;

/// The `severity` values tocsin treats as an error (`critical`, `page`, ...),
/// as one case-insensitive regex.
pub const ERROR_SEVERITIES: &str = "(?i)critical|page|error|fatal|emergency|alert|high|p1";

/// The whole configuration: route tree, receivers, inhibit rules, time
/// intervals.
pub fn render(router: &Router, version: &str) -> String {
    let table = router.table();
    let mut w = Writer::default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# tocsin {version}: its routing written as Alertmanager configuration.\n\
         # tocsin routes by its own config (tocsin.yaml); this is what it amounts to."
    );
    let root_timing = &table.default_timing;
    let all = Decision::Deliver(router.all_targets().to_vec());
    let default = table.default.as_ref().unwrap_or(&all);
    // The root's receiver: the default when it is one receiver, else `off`
    // with the default's routes as the last children.
    let (root_receiver, default_children) = match default {
        Decision::Deliver(r) if r.len() == 1 => (r[0].name.clone(), None),
        Decision::Off | Decision::Inherit => (OFF_RECEIVER.to_string(), None),
        Decision::Deliver(r) if r.is_empty() => (OFF_RECEIVER.to_string(), None),
        d => (OFF_RECEIVER.to_string(), Some(d)),
    };
    w.receivers.insert(root_receiver.clone());
    out.push_str("route:\n");
    let _ = writeln!(out, "  receiver: {}", quote(&root_receiver));
    w.timing(&mut out, 2, root_timing, "root");
    let mut routes = String::new();
    let mut scopes: Vec<_> = table.scopes.iter().enumerate().collect();
    scopes.sort_by(|(ia, a), (ib, b)| b.matchers.len().cmp(&a.matchers.len()).then(ia.cmp(ib)));
    for (_, scope) in scopes {
        w.decision(
            &mut routes,
            &scope.matchers,
            &scope.decision,
            // Alertmanager's children inherit their parent's timing.
            (scope.timing != *root_timing).then_some(&scope.timing),
            &scope.describe(),
        );
    }
    if let Some(d) = default_children {
        w.decision(&mut routes, &Labels::new(), d, None, "default");
    }
    if !routes.is_empty() {
        out.push_str("  routes:\n");
        out.push_str(&routes);
    }
    out.push_str("receivers:\n");
    w.receivers.insert(OFF_RECEIVER.to_string());
    for r in router.all_targets() {
        w.receivers.insert(r.name.clone());
    }
    for name in &w.receivers {
        let _ = writeln!(out, "  - name: {}", quote(name));
    }
    let rules = router.inhibit_rules();
    if !rules.is_empty() {
        out.push_str("inhibit_rules:\n");
        for r in rules {
            let list = |ms: &[crate::alert::matcher::Matcher]| {
                ms.iter()
                    .map(|m| quote(&m.to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(out, "  - source_matchers: [{}]", list(&r.source));
            let _ = writeln!(out, "    target_matchers: [{}]", list(&r.target));
            if !r.equal.is_empty() {
                let equal: Vec<String> = r.equal.iter().map(|e| quote(e)).collect();
                let _ = writeln!(out, "    equal: [{}]", equal.join(", "));
            }
        }
    }
    if !w.intervals.is_empty() {
        out.push_str("time_intervals:\n");
        for (name, windows) in &w.intervals {
            let _ = writeln!(out, "  - name: {}", quote(name));
            out.push_str("    time_intervals:\n");
            for win in windows {
                let _ = writeln!(out, "      - {win}");
            }
        }
    }
    out
}

/// The receivers `GET /api/v2/receivers` lists: the same as [`render`]'s.
pub fn receivers(router: &Router) -> Vec<String> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    names.insert(OFF_RECEIVER.to_string());
    for r in router.all_targets() {
        names.insert(r.name.clone());
    }
    let table: &RouteTable = router.table();
    let decisions = table
        .default
        .iter()
        .chain(table.scopes.iter().map(|s| &s.decision));
    for d in decisions {
        collect(d, &mut names);
    }
    names.into_iter().collect()
}

fn collect(d: &Decision, names: &mut BTreeSet<String>) {
    match d {
        Decision::Deliver(r) => names.extend(r.iter().map(|x| x.name.clone())),
        Decision::PerSeverity { warning, error } => {
            collect(warning, names);
            collect(error, names);
        }
        Decision::Off | Decision::Inherit => {}
    }
}

#[derive(Default)]
struct Writer {
    receivers: BTreeSet<String>,
    /// Named time intervals, each a list of rendered windows.
    intervals: Vec<(String, Vec<String>)>,
}

impl Writer {
    /// The routes of one setting under `matchers`.
    fn decision(
        &mut self,
        out: &mut String,
        matchers: &Labels,
        d: &Decision,
        timing: Option<&RouteTiming>,
        name: &str,
    ) {
        match d {
            Decision::Inherit => {}
            Decision::PerSeverity { warning, error } => {
                for (op, d, sev) in [("=~", error, "error"), ("!~", warning, "warning")] {
                    let extra = format!("severity{op}{:?}", ERROR_SEVERITIES);
                    self.route(
                        out,
                        matchers,
                        Some(&extra),
                        d,
                        timing,
                        &format!("{name}/{sev}"),
                    );
                }
            }
            d => self.route(out, matchers, None, d, timing, name),
        }
    }

    fn route(
        &mut self,
        out: &mut String,
        matchers: &Labels,
        extra: Option<&str>,
        d: &Decision,
        timing: Option<&RouteTiming>,
        name: &str,
    ) {
        let recipients: &[Recipient] = match d {
            Decision::Deliver(r) => r,
            Decision::Inherit => return,
            _ => &[],
        };
        let mut names: Vec<&str> = recipients.iter().map(|r| r.name.as_str()).collect();
        names.dedup();
        let first = names.first().copied().unwrap_or(OFF_RECEIVER);
        let _ = writeln!(out, "    - receiver: {}", quote(first));
        self.receivers.insert(first.to_string());
        let mut ms: Vec<String> = matchers
            .iter()
            .map(|(k, v)| quote(&format!("{k}={v:?}")))
            .collect();
        if let Some(e) = extra {
            ms.push(quote(e));
        }
        if !ms.is_empty() {
            let _ = writeln!(out, "      matchers: [{}]", ms.join(", "));
        }
        if let Some(t) = timing {
            self.timing(out, 6, t, name);
        }
        if names.len() > 1 {
            out.push_str("      routes:\n");
            for (i, n) in names.iter().enumerate() {
                self.receivers.insert(n.to_string());
                let _ = writeln!(out, "        - receiver: {}", quote(n));
                if i + 1 < names.len() {
                    out.push_str("          continue: true\n");
                }
            }
        }
    }

    /// A route's timing keys at `indent`.
    fn timing(&mut self, out: &mut String, indent: usize, t: &RouteTiming, name: &str) {
        let pad = " ".repeat(indent);
        let group_by = match &t.grouping.by {
            GroupBy::Route => "[]".to_string(),
            GroupBy::Each => "['...']".to_string(),
            GroupBy::Labels(l) => format!(
                "[{}]",
                l.iter().map(|x| quote(x)).collect::<Vec<_>>().join(", ")
            ),
        };
        let _ = writeln!(out, "{pad}group_by: {group_by}");
        let _ = writeln!(out, "{pad}group_wait: {}", duration(t.grouping.wait));
        if t.grouping.interval.is_zero() {
            let _ = writeln!(out, "{pad}group_interval: 1ms  # tocsin: 0, no wait");
        } else {
            let _ = writeln!(
                out,
                "{pad}group_interval: {}",
                duration(t.grouping.interval)
            );
        }
        match t.repeat_interval.filter(|d| !d.is_zero()) {
            Some(d) => {
                let _ = writeln!(out, "{pad}repeat_interval: {}", duration(d));
            }
            None => {
                let _ = writeln!(out, "{pad}repeat_interval: 100y  # tocsin: never repeats");
            }
        }
        if let Some(n) = t.repeat_limit {
            let _ = writeln!(
                out,
                "{pad}# tocsin: repeat_limit {n} (no Alertmanager equivalent)"
            );
        }
        for (key, windows) in [
            ("mute_time_intervals", &t.mute),
            ("active_time_intervals", &t.active),
        ] {
            if windows.is_empty() {
                continue;
            }
            let interval = format!("{name} {}", key.trim_end_matches("_time_intervals"));
            self.intervals.push((
                interval.clone(),
                windows.iter().map(|w| w.to_alertmanager()).collect(),
            ));
            let _ = writeln!(out, "{pad}{key}: [{}]", quote(&interval));
        }
    }
}

/// A YAML single-quoted string.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A duration as Alertmanager writes one (`1h30m`, `45s`, `0s`).
fn duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= size {
            let _ = write!(out, "{}{unit}", ms / size);
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn render_of(text: &str) -> String {
        let c = Config::from_text(Path::new("tocsin.yaml"), text)
            .unwrap_or_else(|e| panic!("config does not load: {e}"));
        render(&Router::new(&c, Default::default()), "0.1.0")
    }

    #[test]
    fn durations_as_alertmanager_writes_them() {
        assert_eq!(duration(Duration::ZERO), "0s");
        assert_eq!(duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(duration(Duration::from_secs(4 * 3600)), "4h");
        assert_eq!(duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(duration(Duration::from_secs(2 * 86_400 + 60)), "2d1m");
    }

    #[test]
    fn scopes_become_routes_most_specific_first() {
        let yaml = render_of(
            "\
targets:
  - {name: ops-hook, type: webhook, url: 'http://127.0.0.1:1/ops'}
  - {name: dba-hook, type: webhook, url: 'http://127.0.0.1:1/dba'}
routing:
  default: [ops-hook]
  group_by: [vault]
  repeat_interval: 4h
  scopes:
    - match: {vault: v-prod}
      notify: {warning: [ops-hook], error: [ops-hook, dba-hook]}
    - match: {vault: v-prod, client: c-7}
      notify: inherit
    - match: {vault: v-test, client: c-1}
      notify: off
inhibit:
  - {source: {severity: error}, target: {severity: warning}, equal: [vault]}
",
        );
        let c1 = yaml.find("client=\"c-1\"").expect(&yaml);
        let prod = yaml.find("'vault=\"v-prod\"'").expect(&yaml);
        assert!(c1 < prod, "two-label scope first:\n{yaml}");
        assert!(!yaml.contains("c-7"), "inherit writes no route:\n{yaml}");
        assert!(
            yaml.contains("  receiver: 'ops-hook'\n  group_by: ['vault']\n"),
            "{yaml}"
        );
        assert!(yaml.contains("repeat_interval: 4h"), "{yaml}");
        assert!(yaml.contains("continue: true"), "{yaml}");
        assert!(yaml.contains("'severity=~\"(?i)critical|"), "{yaml}");
        assert!(yaml.contains("  - name: 'dba-hook'\n"), "{yaml}");
        assert!(yaml.contains("  - name: 'off'\n"), "{yaml}");
        assert!(
            yaml.contains("source_matchers: ['severity=\"error\"']"),
            "{yaml}"
        );
        assert!(yaml.contains("equal: ['vault']"), "{yaml}");
        assert!(!yaml.contains("127.0.0.1"), "no target URLs:\n{yaml}");
    }
}
