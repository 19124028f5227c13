//! State machine and rule evaluation with a simulated clock.

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::alert::{AlertInstance, AlertState, Labels, Sample, Severity};
use crate::rules::{Group, LoadOptions, RuleSet, load_sources};

fn rules(yaml: &str) -> RuleSet {
    load_sources(
        &[(PathBuf::from("t.yaml"), yaml.to_string())],
        &LoadOptions::default(),
    )
    .unwrap()
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn sample(dep: &str, value: f64) -> Sample {
    let mut labels = Labels::new();
    labels.insert("__name__".into(), "m".into());
    labels.insert("deployment".into(), dep.into());
    Sample::new(labels, value)
}

/// Drives one rule through a sequence of evaluations.
struct Sim {
    set: RuleSet,
    alerts: crate::eval::rule::RuleAlerts,
    events: Vec<(i64, String, String)>,
}

impl Sim {
    fn new(yaml: &str) -> Sim {
        Sim {
            set: rules(yaml),
            alerts: HashMap::new(),
            events: Vec::new(),
        }
    }

    fn group(&self) -> &Group {
        &self.set.groups[0]
    }

    fn eval(&mut self, at: i64, outcome: QueryOutcome) -> RuleUpdate {
        let group = std::sync::Arc::clone(&self.set.groups[0]);
        let rule = &group.rules[0];
        // As the engine runs it: alerts seen again unchanged are left as they are.
        let env = RuleEnv {
            texts_current: true,
            ..RuleEnv::default()
        };
        let u = evaluate_rule(&group, rule, &self.alerts, outcome, env, t(at));
        for e in &u.events {
            let (from, to) = e.transition.states(e.before);
            let to = if from == "firing" && to == "firing" {
                format!("firing:{}", e.alert.severity)
            } else {
                to.to_string()
            };
            self.events.push((at, from.to_string(), to));
        }
        self.alerts = u.next_alerts(&self.alerts);
        u
    }

    fn values(&mut self, at: i64, vals: &[(&str, f64)]) -> RuleUpdate {
        self.eval(
            at,
            QueryOutcome::Samples(vals.iter().map(|(d, v)| sample(d, *v)).collect()),
        )
    }

    fn only(&self) -> &AlertInstance {
        assert_eq!(self.alerts.len(), 1, "{:?}", self.alerts);
        self.alerts.values().next().unwrap()
    }

    fn transitions(&self) -> Vec<(i64, &str, &str)> {
        self.events
            .iter()
            .map(|(a, f, t)| (*a, f.as_str(), t.as_str()))
            .collect()
    }
}

const SIMPLE: &str = r#"
groups:
  - name: g
    interval: 10s
    labels: {service: emqx}
    rules:
      - alert: High
        query: m
        when: "> 100"
        for: 30s
        severity: warning
        message: "{{ labels.deployment }} at {{ value }}"
        resolution: "scale up"
"#;

#[test]
fn pending_then_firing_after_for_then_resolved() {
    let mut s = Sim::new(SIMPLE);
    s.values(0, &[("d1", 150.0)]);
    assert_eq!(s.only().state, AlertState::Pending);
    s.values(20, &[("d1", 150.0)]);
    assert_eq!(s.only().state, AlertState::Pending, "for not yet over");
    s.values(30, &[("d1", 160.0)]);
    let a = s.only();
    assert_eq!(a.state, AlertState::Firing);
    assert_eq!(a.fired_at, Some(t(30)));
    assert_eq!(a.message, "d1 at 160.0");
    assert_eq!(a.resolution, "scale up");
    assert_eq!(a.labels.get("service").map(String::as_str), Some("emqx"));
    assert_eq!(a.labels.get("alertname").map(String::as_str), Some("High"));
    assert!(!a.labels.contains_key("__name__"));
    s.values(40, &[("d1", 50.0)]);
    assert_eq!(s.only().state, AlertState::Resolved);
    assert_eq!(
        s.transitions(),
        vec![
            (0, "inactive", "pending"),
            (30, "pending", "firing"),
            (40, "firing", "resolved")
        ]
    );
}

#[test]
fn pending_that_clears_is_never_notified() {
    let mut s = Sim::new(SIMPLE);
    s.values(0, &[("d1", 150.0)]);
    let u = s.values(10, &[("d1", 90.0)]);
    assert!(s.alerts.is_empty());
    assert_eq!(u.delete.len(), 1);
    assert_eq!(
        s.transitions(),
        vec![(0, "inactive", "pending"), (10, "pending", "inactive")]
    );
}

#[test]
fn for_zero_fires_on_first_evaluation() {
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s"));
    s.values(0, &[("d1", 150.0)]);
    assert_eq!(s.only().state, AlertState::Firing);
    assert_eq!(s.transitions(), vec![(0, "inactive", "firing")]);
}

#[test]
fn one_alert_per_series() {
    let mut s = Sim::new(SIMPLE);
    s.values(0, &[("d1", 150.0), ("d2", 150.0), ("d3", 1.0)]);
    assert_eq!(s.alerts.len(), 2);
}

#[test]
fn multi_level_escalates_and_deescalates_one_alert() {
    let mut s = Sim::new(
        r#"
groups:
  - name: g
    rules:
      - alert: CertificateExpiring
        query: m
        severity: {warning: "< 30", error: "< 7"}
"#,
    );
    s.values(0, &[("d1", 20.0)]);
    assert_eq!(
        (s.only().state, s.only().severity),
        (AlertState::Firing, Severity::Warning)
    );
    s.values(10, &[("d1", 5.0)]);
    assert_eq!(s.only().severity, Severity::Error);
    s.values(20, &[("d1", 10.0)]);
    assert_eq!(s.only().severity, Severity::Warning);
    s.values(30, &[("d1", 40.0)]);
    assert_eq!(s.only().state, AlertState::Resolved);
    assert_eq!(
        s.transitions(),
        vec![
            (0, "inactive", "firing"),
            (10, "firing", "firing:error"),
            (20, "firing", "firing:warning"),
            (30, "firing", "resolved")
        ]
    );
    // the same fingerprint throughout: one alert, never two
    let fps: std::collections::HashSet<_> = s.alerts.keys().collect();
    assert_eq!(fps.len(), 1);
}

#[test]
fn hysteresis_holds_until_resolve_when() {
    let mut s = Sim::new(
        r#"
groups:
  - name: g
    rules:
      - alert: ConnectionsHigh
        query: m
        when: "> 8000"
        resolve_when: "< 7000"
        severity: warning
"#,
    );
    s.values(0, &[("d1", 8500.0)]);
    assert_eq!(s.only().state, AlertState::Firing);
    s.values(10, &[("d1", 7500.0)]);
    assert_eq!(
        s.only().state,
        AlertState::Firing,
        "between thresholds: still firing"
    );
    assert_eq!(s.only().value, 7500.0);
    s.values(20, &[("d1", 6900.0)]);
    assert_eq!(s.only().state, AlertState::Resolved);
    // A fresh breach is needed to fire again; 7500 alone does not.
    s.values(30, &[("d1", 7500.0)]);
    assert_eq!(s.only().state, AlertState::Resolved);
}

#[test]
fn keep_firing_for_delays_resolution_and_resets_on_return() {
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s\n        keep_firing_for: 30s"));
    s.values(0, &[("d1", 150.0)]);
    s.values(10, &[("d1", 50.0)]);
    assert_eq!(s.only().state, AlertState::Firing);
    assert_eq!(s.only().keep_firing_since, Some(t(10)));
    s.values(20, &[("d1", 150.0)]);
    assert_eq!(
        s.only().keep_firing_since,
        None,
        "breach again resets the hold"
    );
    s.values(30, &[]);
    s.values(50, &[]);
    assert_eq!(s.only().state, AlertState::Firing, "20s of 30s held");
    s.values(60, &[]);
    assert_eq!(s.only().state, AlertState::Resolved);
    assert_eq!(s.only().resolved_at, Some(t(60)));
}

#[test]
fn query_error_freezes_everything_by_default() {
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s"));
    s.values(0, &[("d1", 150.0)]);
    let before = s.only().clone();
    let u = s.eval(10, QueryOutcome::Failed("connection refused".into()));
    assert_eq!(u.error.as_deref(), Some("connection refused"));
    assert!(u.save.is_empty() && u.events.is_empty());
    assert_eq!(s.only(), &before, "a failing datasource never resolves");
}

#[test]
fn query_error_can_raise_its_own_alert() {
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s\n        on_error: alerting"));
    s.values(0, &[("d1", 150.0)]);
    s.eval(10, QueryOutcome::Failed("boom".into()));
    assert_eq!(s.alerts.len(), 2);
    let own = s
        .alerts
        .values()
        .find(|a| a.labels.contains_key("tocsin_reason"))
        .unwrap();
    assert_eq!(own.labels["tocsin_reason"], "error");
    assert_eq!(own.state, AlertState::Firing);
    // the series alert is untouched; when the query works again the error alert resolves
    s.values(20, &[("d1", 150.0)]);
    let own = s
        .alerts
        .values()
        .find(|a| a.labels.contains_key("tocsin_reason"))
        .unwrap();
    assert_eq!(own.state, AlertState::Resolved);
}

#[test]
fn no_data_policies() {
    // ok (default): an empty result resolves
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s"));
    s.values(0, &[("d1", 150.0)]);
    s.values(10, &[]);
    assert_eq!(s.only().state, AlertState::Resolved);

    // keep: an empty result changes nothing
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s\n        on_no_data: keep"));
    s.values(0, &[("d1", 150.0)]);
    s.values(10, &[]);
    assert_eq!(s.only().state, AlertState::Firing);

    // alerting: an empty result raises the rule's own no-data alert
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s\n        on_no_data: alerting"));
    s.values(0, &[]);
    assert_eq!(s.only().labels["tocsin_reason"], "no_data");
    assert_eq!(s.only().state, AlertState::Firing);
    s.values(10, &[("d1", 1.0)]);
    assert_eq!(s.only().state, AlertState::Resolved);
}

#[test]
fn missing_series_resolves_only_its_own_alert() {
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s"));
    s.values(0, &[("d1", 150.0), ("d2", 150.0)]);
    s.values(10, &[("d2", 150.0)]);
    let states: Vec<_> = {
        let mut v: Vec<_> = s
            .alerts
            .values()
            .map(|a| (a.labels["deployment"].clone(), a.state))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(
        states,
        vec![
            ("d1".into(), AlertState::Resolved),
            ("d2".into(), AlertState::Firing)
        ]
    );
}

#[test]
fn duplicate_label_sets_are_an_evaluation_error() {
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s"));
    let mut a = sample("d1", 150.0);
    let mut b = sample("d1", 150.0);
    std::sync::Arc::make_mut(&mut a.labels).insert("__name__".into(), "x".into());
    std::sync::Arc::make_mut(&mut b.labels).insert("__name__".into(), "y".into());
    let u = s.eval(0, QueryOutcome::Samples(vec![a, b]));
    assert!(u.error.unwrap().contains("same alert labels"));
    assert!(s.alerts.is_empty());
}

#[test]
fn group_limit_is_enforced() {
    let mut s = Sim::new(&SIMPLE.replace("labels: {service: emqx}", "limit: 1"));
    let u = s.values(0, &[("d1", 150.0), ("d2", 150.0)]);
    assert!(u.error.unwrap().contains("limit"));
    assert!(s.alerts.is_empty());
}

#[test]
fn value_updates_alone_are_not_saved() {
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s"));
    s.values(0, &[("d1", 150.0)]);
    let u = s.values(10, &[("d1", 151.0)]);
    assert!(
        u.save.is_empty() && u.events.is_empty(),
        "nothing to write when nothing changes"
    );
    assert_eq!(s.only().value, 151.0);
    assert_eq!(s.group().name, "g");
}

#[test]
fn prometheus_rule_renders_go_annotations() {
    let mut s = Sim::new(
        r#"
groups:
  - name: node
    rules:
      - alert: InstanceDown
        expr: up == 0
        labels: {severity: critical}
        annotations:
          summary: "{{ $labels.deployment }} down ({{ $value }})"
"#,
    );
    s.values(0, &[("d1", 0.0)]);
    let a = s.only();
    assert_eq!(a.severity, Severity::Error);
    assert_eq!(a.message, "d1 down (0)");
    assert_eq!(
        a.output_labels()["severity"],
        "critical",
        "Prometheus labels stay as written"
    );
}

#[test]
fn a_failed_heartbeat_rule_shows_the_runs_output() {
    let set = rules(
        "groups:\n  - name: b\n    rules:\n      - alert: BackupFailed\n        heartbeat: {checks: 'backup-*', condition: failed}\n        message: \"exit {{ value | int }}{% if output %}:\\n{{ output }}{% endif %}\"\n",
    );
    let group = std::sync::Arc::clone(&set.groups[0]);
    let failed = |check: &str| {
        let mut labels = Labels::new();
        labels.insert("check".into(), check.into());
        Sample::new(labels, 3.0)
    };
    let outputs: HashMap<String, String> =
        [("backup-a".to_string(), "copying\ndisk full".to_string())].into();
    let env = RuleEnv {
        outputs: Some(&outputs),
        ..RuleEnv::default()
    };
    let u = evaluate_rule(
        &group,
        &group.rules[0],
        &HashMap::new(),
        QueryOutcome::Samples(vec![failed("backup-a"), failed("backup-b")]),
        env,
        t(0),
    );
    let mut messages: Vec<(&str, &str)> = u
        .refreshed
        .iter()
        .map(|a| (a.labels["check"].as_str(), a.message.as_str()))
        .collect();
    messages.sort();
    assert_eq!(
        messages,
        [
            ("backup-a", "exit 3:\ncopying\ndisk full"),
            ("backup-b", "exit 3"),
        ]
    );
}

#[test]
fn since_in_a_rule_text_is_written_in_the_configs_zone() {
    let set = rules(
        "groups:\n  - name: g\n    rules:\n      - alert: ConnectionCountHigh\n        query: 'x'\n        message: {en: 'high since {{ since }}', zh: '自 {{ since }} 起过高'}\n",
    );
    let group = std::sync::Arc::clone(&set.groups[0]);
    let eval = |tz: chrono_tz::Tz| {
        let env = RuleEnv {
            timezone: tz,
            ..RuleEnv::default()
        };
        let u = evaluate_rule(
            &group,
            &group.rules[0],
            &HashMap::new(),
            QueryOutcome::Samples(vec![sample("d-1", 9000.0)]),
            env,
            t(0),
        );
        let a = u.refreshed.into_iter().next().expect("one alert");
        (a.message.clone(), a.texts.message_zh.clone())
    };
    // t(0) is 2023-11-14 22:13:20 UTC.
    assert_eq!(
        eval(chrono_tz::Tz::Asia__Shanghai),
        (
            "high since 2023-11-15 06:13:20 +08:00".to_string(),
            "自 2023-11-15 06:13:20 +08:00 起过高".to_string()
        )
    );
    assert_eq!(
        eval(chrono_tz::Tz::UTC).0,
        "high since 2023-11-14 22:13:20 UTC"
    );
}

#[test]
fn a_firing_alert_seen_again_unchanged_is_left_as_it_is() {
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s"));
    let first = s.values(0, &[("d1", 150.0), ("d2", 200.0)]);
    assert_eq!(first.refreshed.len(), 2);
    let same = s.values(10, &[("d1", 150.0), ("d2", 200.0)]);
    assert!(
        same.refreshed.is_empty() && same.save.is_empty() && same.events.is_empty(),
        "{same:?}"
    );
    assert_eq!(s.alerts.len(), 2);
    // A new value is rendered; a level change is a transition; a gone
    // series resolves.
    let moved = s.values(20, &[("d1", 170.0), ("d2", 200.0)]);
    assert_eq!(moved.refreshed.len(), 1);
    let d1 = s.alerts.values().find(|a| a.labels["deployment"] == "d1");
    assert_eq!(d1.unwrap().message, "d1 at 170.0");
    s.values(30, &[("d1", 170.0)]);
    let d2 = s.alerts.values().find(|a| a.labels["deployment"] == "d2");
    assert_eq!(d2.unwrap().state, AlertState::Resolved);
}

#[test]
fn a_duplicate_of_a_steady_series_is_still_an_error() {
    let mut s = Sim::new(&SIMPLE.replace("for: 30s", "for: 0s"));
    s.values(0, &[("d1", 150.0)]);
    let mut twin = sample("d1", 150.0);
    std::sync::Arc::make_mut(&mut twin.labels).insert("__name__".into(), "other".into());
    let u = s.eval(10, QueryOutcome::Samples(vec![sample("d1", 150.0), twin]));
    assert!(u.error.unwrap().contains("same alert labels"));
    assert_eq!(s.only().state, AlertState::Firing, "frozen, not resolved");
}

/// The fingerprint worked out without building labels is the one the
/// built labels give, whatever the group and rule put over the series.
#[test]
fn identity_from_series_labels_equals_the_built_alerts() {
    let cases = [
        // native: group label over a series label, a static rule label,
        // `severity` in the series and among the rule's labels
        "groups:\n  - name: g\n    labels: {zone: a, deployment: forced}\n    rules:\n      - alert: High\n        query: m\n        when: '> 1'\n        labels: {team: db, severity: x, empty: ''}\n",
        // Prometheus format: an empty label drops the series' label
        "groups:\n  - name: g\n    rules:\n      - alert: High\n        expr: m > 1\n        labels: {severity: critical, team: '', aaa: first}\n",
        "groups:\n  - name: g\n    rules:\n      - alert: High\n        expr: m > 1\n",
    ];
    for yaml in cases {
        let set = rules(yaml);
        let group = &set.groups[0];
        let rule = &group.rules[0];
        let mut series = sample("d1", 5.0);
        std::sync::Arc::make_mut(&mut series.labels).insert("team".into(), "web".into());
        std::sync::Arc::make_mut(&mut series.labels).insert("severity".into(), "page".into());
        std::sync::Arc::make_mut(&mut series.labels).insert("zzz".into(), "last".into());
        let u = evaluate_rule(
            group,
            rule,
            &HashMap::new(),
            QueryOutcome::Samples(vec![series.clone()]),
            RuleEnv::default(),
            t(0),
        );
        let built = u.refreshed[0].fingerprint;
        let identity = identity::AlertIdentity::of(group, rule).expect("static labels");
        assert_eq!(identity.fingerprint(&series.labels), built, "{yaml}");
    }
    let templated = rules(
        "groups:\n  - name: g\n    rules:\n      - alert: High\n        expr: m > 1\n        labels: {who: '{{ $labels.x }}'}\n",
    );
    let g = &templated.groups[0];
    assert!(identity::AlertIdentity::of(g, &g.rules[0]).is_none());
}
