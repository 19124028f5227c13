//! One rule, one evaluation: query result (or error) + current alerts →
//! next alerts and the transitions to record. Pure: no I/O, `now` injected.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::state::{Observation, step};
use crate::alert::{
    AlertEvent, AlertInstance, AlertState, Fingerprint, Labels, RuleFormat, Sample,
};
use crate::rules::heartbeat::CHECK_LABEL;
use crate::rules::{ErrorPolicy, Group, NoDataPolicy, Rule};
use crate::template::{QueryRunner, TemplateContext};

/// Label that marks the alerts a rule raises about itself.
pub const REASON_LABEL: &str = "tocsin_reason";

/// What the datasource said.
#[derive(Debug, Clone)]
pub enum QueryOutcome {
    Samples(Vec<Sample>),
    Failed(String),
}

/// Everything one evaluation of one rule changes.
#[derive(Debug, Default)]
pub struct RuleUpdate {
    /// The rule's alerts afterwards (active and recently resolved).
    pub alerts: HashMap<Fingerprint, AlertInstance>,
    /// Alerts whose stored row changed.
    pub save: Vec<AlertInstance>,
    /// Alerts that went back to inactive (their rows are deleted).
    pub delete: Vec<Fingerprint>,
    pub events: Vec<AlertEvent>,
    /// Why the evaluation failed, if it did (the rule's health).
    pub error: Option<String>,
}

/// Where a rule runs, as its alerts and templates see it.
#[derive(Clone, Copy, Default)]
pub struct RuleEnv<'a> {
    /// The link the rule's alerts carry as `generatorURL` (empty off Prometheus).
    pub generator_url: &'a str,
    /// The datasource's pages: `$externalURL` of Prometheus-format templates.
    pub external_url: &'a str,
    /// Answers `query` in templates; without it `query` renders an error marker.
    pub queries: Option<&'a dyn QueryRunner>,
    /// `{{ output }}` of heartbeat `failed` rules, by check name.
    pub outputs: Option<&'a HashMap<String, String>>,
    /// The config's `timezone`: the zone of `{{ since }}`.
    pub timezone: chrono_tz::Tz,
}

impl<'a> RuleEnv<'a> {
    /// A template context for this rule, with this environment's parts.
    fn context<'b>(
        &self,
        rule: &'b Rule,
        severity: &'b str,
        labels: &'b Labels,
        value: f64,
        since: Option<DateTime<Utc>>,
    ) -> TemplateContext<'b>
    where
        'a: 'b,
    {
        let output = self
            .outputs
            .zip(labels.get(CHECK_LABEL))
            .and_then(|(outputs, check)| outputs.get(check))
            .map_or("", String::as_str);
        // `{{ since }}` is written out only for rules whose texts show it.
        let shows_since = rule
            .message
            .iter()
            .chain(&rule.resolution)
            .chain(&rule.resolved_message)
            .any(|t| t.mentions("since"))
            || rule.annotations.iter().any(|(_, t)| t.mentions("since"));
        TemplateContext::new(
            &rule.name,
            severity,
            labels,
            value,
            since.filter(|_| shows_since),
        )
        .with_query(self.queries)
        .with_external_url(self.external_url)
        .with_output(output)
        .with_timezone(self.timezone)
    }
}

/// Applies one query outcome to one rule's alerts.
pub fn evaluate_rule(
    group: &Group,
    rule: &Rule,
    current: &HashMap<Fingerprint, AlertInstance>,
    outcome: QueryOutcome,
    env: RuleEnv,
    now: DateTime<Utc>,
) -> RuleUpdate {
    // Each observed alert, what was seen, and the sample's labels (what
    // Prometheus-format templates see as `$labels`).
    let mut observed: HashMap<Fingerprint, (AlertInstance, Observation, Option<Labels>)> =
        HashMap::new();
    // Alerts not observed this time and not to be touched (error, keep).
    let mut frozen = false;
    let mut error = None;

    match outcome {
        QueryOutcome::Failed(msg) => {
            frozen = true;
            if rule.on_error == ErrorPolicy::Alerting {
                let a = self_alert(group, rule, "error", env.generator_url, now);
                observed.insert(
                    a.fingerprint,
                    (a, Observation::Forced(rule.lowest_severity()), None),
                );
            }
            error = Some(msg);
        }
        QueryOutcome::Samples(samples) if samples.is_empty() => match rule.on_no_data {
            NoDataPolicy::Ok => {}
            NoDataPolicy::Keep => frozen = true,
            NoDataPolicy::Alerting => {
                let a = self_alert(group, rule, "no_data", env.generator_url, now);
                observed.insert(
                    a.fingerprint,
                    (a, Observation::Forced(rule.lowest_severity()), None),
                );
            }
        },
        QueryOutcome::Samples(samples) => {
            for s in samples {
                let a = alert_for_sample(group, rule, &s, env, now);
                if let Some((other, _, _)) = observed.get(&a.fingerprint) {
                    error = Some(format!(
                        "two series give the same alert labels {:?} (add labels or aggregate with `by`)",
                        other.labels
                    ));
                    frozen = true;
                    observed.clear();
                    break;
                }
                let value = Observation::Value(s.value);
                observed.insert(a.fingerprint, (a, value, Some(s.labels)));
            }
            if !frozen && group.limit > 0 {
                let breaching = observed
                    .values()
                    .filter(|(a, _, _)| rule.breached_level(a.value).is_some())
                    .count();
                if breaching > group.limit {
                    error = Some(format!(
                        "{breaching} alerts exceed the group's limit of {}",
                        group.limit
                    ));
                    frozen = true;
                    observed.clear();
                }
            }
        }
    }

    let mut update = RuleUpdate {
        error,
        ..RuleUpdate::default()
    };
    // Alerts we have but did not see: Missing, unless the rule is frozen.
    for (fp, prev) in current {
        if observed.contains_key(fp) {
            continue;
        }
        if frozen || !prev.is_active() {
            update.alerts.insert(*fp, prev.clone());
            continue;
        }
        let fresh = prev.clone();
        apply(
            &mut update,
            rule,
            Some(prev),
            (Observation::Missing, None),
            &fresh,
            now,
            env,
        );
    }
    for (_, (fresh, obs, sample_labels)) in observed {
        let prev = current.get(&fresh.fingerprint);
        apply(
            &mut update,
            rule,
            prev,
            (obs, sample_labels.as_ref()),
            &fresh,
            now,
            env,
        );
    }
    update
}

fn apply(
    update: &mut RuleUpdate,
    rule: &Rule,
    prev: Option<&AlertInstance>,
    (obs, sample_labels): (Observation, Option<&Labels>),
    fresh: &AlertInstance,
    now: DateTime<Utc>,
    env: RuleEnv,
) {
    let before = prev.filter(|p| p.is_active()).map(|p| p.state);
    let result = step(prev, obs, fresh, rule, now);
    match result.next {
        Some(mut next) => {
            if next.state == AlertState::Resolved {
                // The notice keeps what it said while firing (Prometheus,
                // too, keeps a resolved alert's annotations) and adds the
                // rule's recovery text with the value now.
                render_resolved(rule, &mut next, env);
            } else if !matches!(obs, Observation::Missing) {
                render_texts(rule, &mut next, sample_labels, env);
            }
            if result.changed {
                update.save.push(next.clone());
            }
            for t in result.transitions {
                update.events.push(AlertEvent {
                    alert: next.clone(),
                    before,
                    transition: t,
                });
            }
            update.alerts.insert(next.fingerprint, next);
        }
        None => {
            if let Some(p) = prev {
                for t in result.transitions {
                    update.events.push(AlertEvent {
                        alert: p.clone(),
                        before,
                        transition: t,
                    });
                }
                if p.state == AlertState::Resolved {
                    // a resolved alert that did not come back stays listed
                    update.alerts.insert(p.fingerprint, p.clone());
                } else {
                    update.delete.push(p.fingerprint);
                }
            }
        }
    }
}

/// Labels of the alert for one returned series: series labels (without
/// `__name__`), then group labels, then rule labels, then `alertname`.
/// Prometheus-format rules expand their label templates over the sample's
/// own labels, `__name__` included, and drop a label that expands to nothing
/// (as Prometheus does); native ones see the series and group labels.
fn alert_for_sample(
    group: &Group,
    rule: &Rule,
    s: &Sample,
    env: RuleEnv,
    now: DateTime<Utc>,
) -> AlertInstance {
    let mut labels: Labels = s
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in &group.labels {
        labels.insert(k.clone(), v.clone());
    }
    if !rule.labels.is_empty() {
        let series_labels = match rule.format {
            RuleFormat::Prometheus => s.labels.clone(),
            RuleFormat::Native => labels.clone(),
        };
        let severity = rule
            .breached_level(s.value)
            .unwrap_or(rule.lowest_severity());
        let ctx = env.context(rule, severity.as_str(), &series_labels, s.value, None);
        for (k, t) in &rule.labels {
            let value = t.render(&ctx);
            if value.is_empty() && rule.format == RuleFormat::Prometheus {
                labels.remove(k);
            } else {
                labels.insert(k.clone(), value);
            }
        }
    }
    labels.insert("alertname".to_string(), rule.name.clone());
    if rule.format == RuleFormat::Native {
        // Native alerts get `severity` from their level; never part of identity.
        labels.remove("severity");
    }
    new_instance(group, rule, labels, s.value, env.generator_url, now)
}

/// The alert a rule raises about itself (no data, or query error).
fn self_alert(
    group: &Group,
    rule: &Rule,
    reason: &str,
    generator_url: &str,
    now: DateTime<Utc>,
) -> AlertInstance {
    let mut labels = group.labels.clone();
    labels.insert("alertname".to_string(), rule.name.clone());
    labels.insert(REASON_LABEL.to_string(), reason.to_string());
    new_instance(group, rule, labels, f64::NAN, generator_url, now)
}

fn new_instance(
    group: &Group,
    rule: &Rule,
    labels: Labels,
    value: f64,
    generator_url: &str,
    now: DateTime<Utc>,
) -> AlertInstance {
    AlertInstance {
        fingerprint: Fingerprint::of_alert(&group.name, &labels),
        group: group.name.clone(),
        alert: rule.name.clone(),
        labels,
        annotations: BTreeMap::new(),
        message: String::new(),
        resolution: String::new(),
        texts: Default::default(),
        state: AlertState::Pending,
        severity: rule.lowest_severity(),
        value,
        active_at: now,
        fired_at: None,
        keep_firing_since: None,
        resolved_at: None,
        format: rule.format,
        generator_url: generator_url.to_string(),
    }
}

/// Renders message, resolution and annotations for the alert as it now is.
/// Prometheus-format templates see `sample_labels` (the series as the query
/// returned it) when given, as in Prometheus; otherwise the alert's labels.
pub fn render_texts(
    rule: &Rule,
    a: &mut AlertInstance,
    sample_labels: Option<&Labels>,
    env: RuleEnv,
) {
    let labels = match (rule.format, sample_labels) {
        (RuleFormat::Prometheus, Some(l)) => l,
        _ => &a.labels,
    };
    let ctx = env.context(
        rule,
        a.severity.as_str(),
        labels,
        a.value,
        Some(a.active_at),
    );
    a.annotations = rule
        .annotations
        .iter()
        .map(|(k, t)| (k.clone(), t.render(&ctx)))
        .collect();
    let annotation = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| a.annotations.get(*k))
            .cloned()
            .unwrap_or_default()
    };
    (a.message, a.texts.message_zh) = match &rule.message {
        Some(t) => t.render(&ctx),
        None => (
            annotation(&["summary", "description", "message"]),
            String::new(),
        ),
    };
    (a.resolution, a.texts.resolution_zh) = match &rule.resolution {
        Some(t) => t.render(&ctx),
        None => (annotation(&["resolution", "runbook_url"]), String::new()),
    };
    a.texts.output = shown(a, ctx.output);
    a.texts.since = shown(a, &ctx.since);
    a.texts.since_at = (!a.texts.since.is_empty()).then_some(a.active_at);
}

/// `part` (the run's output, `since`) when one of the alert's texts shows
/// it (each target writes it its own way: cut to its channel's room, in its
/// zone), else empty.
fn shown(a: &AlertInstance, part: &str) -> String {
    let t = &a.texts;
    let shown = !part.is_empty()
        && [&a.message, &a.resolution, &t.message_zh, &t.resolution_zh]
            .iter()
            .any(|text| text.contains(part));
    if shown {
        part.to_string()
    } else {
        String::new()
    }
}

/// Renders the rule's `resolved_message` for an alert that just resolved,
/// with its value now; everything it said while firing stays as it was.
fn render_resolved(rule: &Rule, a: &mut AlertInstance, env: RuleEnv) {
    let Some(t) = &rule.resolved_message else {
        return;
    };
    let ctx = env.context(
        rule,
        a.severity.as_str(),
        &a.labels,
        a.value,
        Some(a.active_at),
    );
    (a.texts.resolved_message, a.texts.resolved_message_zh) = t.render(&ctx);
}
