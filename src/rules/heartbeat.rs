//! The heartbeat parts of rule files, as written and as checked (the checks
//! load in `load/checks.rs`): the `heartbeats:` checks (and name
//! templates for checks created on their first ping), and the `heartbeat:`
//! key of a rule. Validated here with `file:line:col` errors; checks inherit
//! unset settings from the most specific template their name matches.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::schedule::Schedule;
use crate::alert::Labels;
use crate::heartbeat::pattern::NamePattern;
use crate::yaml::{HumanDuration, Spanned};

/// Label every heartbeat series carries: the check's name.
pub const CHECK_LABEL: &str = "check";

/// One entry of `heartbeats:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDoc {
    /// A name (`backup-db1`) or a template (`backup-{vault}-{client}`).
    pub name: Spanned<String>,
    /// `/ping/{ping_key}/{slug}`; defaults to the name when it is a valid slug.
    pub slug: Option<Spanned<String>>,
    pub every: Option<Spanned<HumanDuration>>,
    pub cron: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub grace: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub labels: BTreeMap<String, Spanned<String>>,
}

/// The `heartbeat:` key of a rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRuleDoc {
    /// Which checks, as a glob (`backup-*`).
    pub checks: Spanned<String>,
    pub condition: HeartbeatCondition,
}

/// What a heartbeat rule looks for. Each check in that condition is one
/// series: labels `check` + the check's labels, and a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeartbeatCondition {
    /// No start, success or failure within the period (or since the expected
    /// cron time) plus grace. Value: seconds since the last one.
    Missing,
    /// The last run failed. Value: its exit code (1 for `/fail`).
    Failed,
    /// A run started longer ago than this and has not ended. Value: seconds running.
    Stuck(Duration),
    /// The last run took longer than this. Value: its duration in seconds.
    Slow(Duration),
}

impl fmt::Display for HeartbeatCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeartbeatCondition::Missing => f.write_str("missing"),
            HeartbeatCondition::Failed => f.write_str("failed"),
            HeartbeatCondition::Stuck(d) => write!(f, "stuck {}", humantime::format_duration(*d)),
            HeartbeatCondition::Slow(d) => write!(f, "slow {}", humantime::format_duration(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for HeartbeatCondition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const EXPECTED: &str = "missing, failed, {stuck: DURATION} or {slow: DURATION}";
        impl<'de> Visitor<'de> for V {
            type Value = HeartbeatCondition;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HeartbeatCondition, E> {
                match v.trim() {
                    "missing" => Ok(HeartbeatCondition::Missing),
                    "failed" => Ok(HeartbeatCondition::Failed),
                    "stuck" | "slow" => Err(E::custom(format!(
                        "expected a duration with {v}, like {{{v}: 2h}}"
                    ))),
                    other => Err(E::custom(format!("expected {EXPECTED}, got {other:?}"))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<HeartbeatCondition, A::Error> {
                let key: String = map
                    .next_key()?
                    .ok_or_else(|| de::Error::custom(format!("expected {EXPECTED}")))?;
                let d: HumanDuration = map.next_value()?;
                let c = match key.as_str() {
                    "stuck" => HeartbeatCondition::Stuck(d.0),
                    "slow" => HeartbeatCondition::Slow(d.0),
                    other => {
                        return Err(de::Error::custom(format!(
                            "expected {EXPECTED}, got {other:?}"
                        )));
                    }
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(format!(
                        "expected one condition: {EXPECTED}"
                    )));
                }
                Ok(c)
            }
        }
        d.deserialize_any(V)
    }
}

/// A heartbeat rule's source: a condition over the checks a glob selects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeartbeatQuery {
    pub checks: String,
    pub condition: HeartbeatCondition,
}

impl fmt::Display for HeartbeatQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "heartbeat {} {}", self.checks, self.condition)
    }
}

/// Settings a check gets from the rule files; `None` ones take the
/// config's defaults (`heartbeat.default_every`, `heartbeat.default_grace`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckSettings {
    pub schedule: Option<Schedule>,
    pub grace: Option<Duration>,
    pub labels: Labels,
}

/// A check declared by name.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    pub name: String,
    pub slug: Option<String>,
    pub settings: CheckSettings,
}

/// A name template: settings for checks whose names match it.
#[derive(Debug, Clone)]
pub struct CheckTemplate {
    pub pattern: NamePattern,
    pub settings: CheckSettings,
}

/// All heartbeat declarations of the rule files.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatDecls {
    pub checks: Vec<CheckSpec>,
    pub templates: Vec<CheckTemplate>,
}

impl HeartbeatDecls {
    /// Settings for a check named `name` that no file declares (created on its
    /// first ping): the most specific matching template's, with the labels
    /// its placeholders capture. Ties go to the template declared first.
    pub fn settings_for(&self, name: &str) -> CheckSettings {
        let mut best: Option<(&CheckTemplate, Labels)> = None;
        for t in &self.templates {
            if let Some(captured) = t.pattern.captures(name) {
                let better = best
                    .as_ref()
                    .is_none_or(|(b, _)| t.pattern.specificity() > b.pattern.specificity());
                if better {
                    best = Some((t, captured));
                }
            }
        }
        match best {
            None => CheckSettings::default(),
            Some((t, mut labels)) => {
                labels.extend(t.settings.labels.clone());
                CheckSettings {
                    schedule: t.settings.schedule.clone(),
                    grace: t.settings.grace,
                    labels,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::alert::labels::from_pairs as labels;
    use crate::rules::{LoadOptions, RuleSource, load_sources};

    fn load(files: &[(&str, &str)]) -> Result<crate::rules::RuleSet, crate::yaml::SourceErrors> {
        let sources: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(f, t)| (PathBuf::from(f), t.to_string()))
            .collect();
        load_sources(&sources, &LoadOptions::default())
    }

    #[test]
    fn checks_inherit_from_the_most_specific_template_across_files() {
        let set = load(&[
            (
                "a.yaml",
                "heartbeats:\n  - name: \"backup-{vault}-{client}\"\n    every: 1d\n    grace: 2h\n  - name: \"backup-prod-{client}\"\n    every: 6h\n    labels: {vault: prod, tier: gold}\n",
            ),
            (
                "b.yaml",
                "heartbeats:\n  - name: backup-prod-db1\n    cron: \"0 30 1 * * *\"\n    timezone: Europe/Berlin\n    labels: {tier: silver}\n  - name: Nightly Export\n    every: 1h\n",
            ),
        ])
        .unwrap();
        let hb = &set.heartbeats;
        assert_eq!(hb.templates.len(), 2);
        let db1 = hb
            .checks
            .iter()
            .find(|c| c.name == "backup-prod-db1")
            .unwrap();
        assert_eq!(
            db1.slug.as_deref(),
            Some("backup-prod-db1"),
            "the name is the slug"
        );
        assert!(
            matches!(&db1.settings.schedule, Some(Schedule::Cron { expr, .. }) if &**expr == "0 30 1 * * *")
        );
        assert_eq!(db1.settings.grace, None, "the prod template sets no grace");
        assert_eq!(
            db1.settings.labels,
            labels(&[("client", "db1"), ("vault", "prod"), ("tier", "silver")])
        );
        let export = hb
            .checks
            .iter()
            .find(|c| c.name == "Nightly Export")
            .unwrap();
        assert_eq!(export.slug, None, "not a valid slug: only its key works");

        // created on first ping: the prod template beats the generic one
        let s = hb.settings_for("backup-prod-web-01");
        assert_eq!(
            s.schedule,
            Some(Schedule::Every(Duration::from_secs(6 * 3600)))
        );
        assert_eq!(
            s.labels,
            labels(&[("client", "web-01"), ("vault", "prod"), ("tier", "gold")])
        );
        let s = hb.settings_for("backup-dev-x");
        assert_eq!(s.grace, Some(Duration::from_secs(7200)));
        assert_eq!(s.labels, labels(&[("client", "x"), ("vault", "dev")]));
        assert_eq!(hb.settings_for("other"), CheckSettings::default());
    }

    #[test]
    fn heartbeat_and_sql_rules_load_as_their_sources() {
        let set = load(&[(
            "r.yaml",
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        heartbeat: {checks: \"backup-*\", condition: {stuck: 6h}}\n      - alert: B\n        heartbeat: {checks: \"*\", condition: missing}\n        when: \"> 7200\"\n      - alert: C\n        sql: SELECT name AS check_name, pings AS value FROM heartbeat_status\n",
        )])
        .unwrap();
        let rules = &set.groups[0].rules;
        assert_eq!(
            rules[0].source,
            RuleSource::Heartbeat(HeartbeatQuery {
                checks: "backup-*".into(),
                condition: HeartbeatCondition::Stuck(Duration::from_secs(6 * 3600)),
            })
        );
        assert!(rules[1].breached_level(7201.0).is_some());
        assert!(rules[1].breached_level(60.0).is_none());
        assert!(matches!(&rules[2].source, RuleSource::Sql(s) if s.starts_with("SELECT")));
    }

    #[test]
    fn errors_point_at_the_place() {
        let cases: &[(&str, &str)] = &[
            (
                "heartbeats:\n  - name: a\n    every: 1h\n    cron: \"0 0 * * * *\"\n",
                "r.yaml:4:11: expected either every or cron, not both",
            ),
            (
                "heartbeats:\n  - name: \"b-{x\"\n",
                "r.yaml:2:11: expected `}` to close a placeholder",
            ),
            (
                "heartbeats:\n  - name: c\n    cron: \"0 0 2 * * *\"\n    timezone: Mars/Base\n",
                "r.yaml:4:15: expected an IANA time zone",
            ),
            (
                "heartbeats:\n  - name: d\n    labels: {check: x}\n",
                "r.yaml:3:21: label \"check\" is set from the check's name",
            ),
            (
                "heartbeats:\n  - name: d\n    slug: D!\n",
                "r.yaml:3:11: expected a slug of a-z, 0-9, - and _",
            ),
            (
                "heartbeats:\n  - name: d\n    every: 500ms\n",
                "r.yaml:3:12: expected a period of whole seconds, at least 1s",
            ),
            (
                "heartbeats:\n  - name: d\n    evrey: 1h\n",
                "r.yaml:3:5: unknown field `evrey`",
            ),
            (
                "heartbeats:\n  - name: \"x-{client}\"\n    slug: x\n",
                "r.yaml:3:11: a name template has no slug of its own",
            ),
            (
                "heartbeats:\n  - name: a\n  - name: a\n",
                "r.yaml:3:11: check \"a\" is already declared at r.yaml:2:11",
            ),
            (
                "heartbeats:\n  - name: a\n    slug: s\n  - name: b\n    slug: s\n",
                "r.yaml:5:11: slug \"s\" is already used at r.yaml:3:11",
            ),
            (
                "groups:\n  - name: g\n    rules:\n      - alert: A\n        heartbeat: {checks: \"x*\", condition: stale}\n",
                "r.yaml:5:46: expected missing, failed, {stuck: DURATION} or {slow: DURATION}",
            ),
            (
                "groups:\n  - name: g\n    rules:\n      - alert: A\n        heartbeat: {checks: \"x*\", condition: stuck}\n",
                "r.yaml:5:46: expected a duration with stuck",
            ),
            (
                "groups:\n  - name: g\n    rules:\n      - alert: A\n        heartbeat: {checks: x, condition: failed}\n        query: up\n",
                "r.yaml:6:16: expected one of query, expr, heartbeat or sql, got heartbeat and query",
            ),
            (
                "groups:\n  - name: g\n    rules:\n      - alert: A\n        sql: DELETE FROM heartbeat_pings\n",
                "r.yaml:5:14: expected a read-only SELECT",
            ),
            (
                "groups:\n  - name: g\n    rules:\n      - alert: A\n        sql: SELECT name FROM heartbeat_status\n",
                "r.yaml:5:14: expected a column named value",
            ),
        ];
        for (text, want) in cases {
            let got = load(&[("r.yaml", text)]).unwrap_err().0[0].to_string();
            assert!(got.starts_with(want), "\n got: {got}\nwant: {want}...");
        }
    }
}
