//! One rule, one evaluation: query result (or error) + current alerts →
//! next alerts and the transitions to record. Pure: no I/O, `now` injected.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::identity::AlertIdentity;
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

/// A rule's alerts in memory, by fingerprint. Shared (`Arc`) with the rows
/// and events an evaluation hands on, so a new alert exists once.
pub type RuleAlerts = HashMap<Fingerprint, Arc<AlertInstance>>;

/// Everything one evaluation of one rule changes. Alerts it does not name
/// stay as they were.
#[derive(Debug, Default)]
pub struct RuleUpdate {
    /// Alerts that are new or changed in memory (state, value, texts).
    pub refreshed: Vec<Arc<AlertInstance>>,
    /// Alerts whose stored row changed.
    pub save: Vec<Arc<AlertInstance>>,
    /// Alerts that went back to inactive (their rows are deleted and they
    /// leave the rule's alerts).
    pub delete: Vec<Fingerprint>,
    pub events: Vec<AlertEvent>,
    /// Why the evaluation failed, if it did (the rule's health).
    pub error: Option<String>,
    /// Whether every firing alert's texts now come from the rule as it is
    /// (they were, or this evaluation rendered them; see
    /// [`RuleEnv::texts_current`]).
    pub texts_current: bool,
}

impl RuleUpdate {
    /// Brings the rule's alerts as they were up to date, moving the
    /// refreshed alerts in.
    pub fn apply_to(&mut self, alerts: &mut RuleAlerts) {
        // Grown once: a storm's table is not rehashed through every size.
        let new = self
            .refreshed
            .iter()
            .filter(|a| !alerts.contains_key(&a.fingerprint))
            .count();
        alerts.reserve(new);
        for fp in &self.delete {
            alerts.remove(fp);
        }
        for a in self.refreshed.drain(..) {
            alerts.insert(a.fingerprint, a);
        }
    }

    /// The rule's alerts afterwards, from those it had (a copy).
    pub fn next_alerts(&self, current: &RuleAlerts) -> RuleAlerts {
        let mut alerts = current.clone();
        for fp in &self.delete {
            alerts.remove(fp);
        }
        for a in &self.refreshed {
            alerts.insert(a.fingerprint, Arc::clone(a));
        }
        alerts
    }
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
    /// Whether the current alerts' texts were rendered by this rule as it is
    /// now, in this zone (false after a start or a reload): then an alert
    /// seen again with the same value and level is left as it is.
    pub texts_current: bool,
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
    current: &RuleAlerts,
    outcome: QueryOutcome,
    env: RuleEnv,
    now: DateTime<Utc>,
) -> RuleUpdate {
    // Each observed alert, what was seen, and the sample's labels (what
    // Prometheus-format templates see as `$labels`).
    let mut observed: HashMap<Fingerprint, (AlertInstance, Observation, Option<Arc<Labels>>)> =
        HashMap::new();
    // Alerts seen again exactly as they are (left untouched).
    let mut steady: HashSet<Fingerprint> = HashSet::new();
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
            // Series of firing alerts that come back as they were are only
            // recognised by fingerprint: nothing is built or rendered.
            let identity = (env.texts_current && env.queries.is_none() && env.outputs.is_none())
                .then(|| AlertIdentity::of(group, rule))
                .flatten();
            steady.reserve(current.len().min(samples.len()));
            for s in samples {
                if let Some(fp) = identity.as_ref().map(|id| id.fingerprint(&s.labels))
                    && current
                        .get(&fp)
                        .is_some_and(|p| unchanged(p, s.value, rule, env))
                {
                    if observed.contains_key(&fp) || !steady.insert(fp) {
                        error = Some(duplicate_series(&current[&fp].labels));
                        break;
                    }
                    continue;
                }
                let a = alert_for_sample(group, rule, &s, env, now);
                let seen = match observed.get(&a.fingerprint) {
                    Some((other, _, _)) => Some(&other.labels),
                    None if steady.contains(&a.fingerprint) => Some(&a.labels),
                    None => None,
                };
                if let Some(labels) = seen {
                    error = Some(duplicate_series(labels));
                    break;
                }
                let value = Observation::Value(s.value);
                observed.insert(a.fingerprint, (a, value, Some(s.labels)));
            }
            if error.is_some() {
                frozen = true;
                observed.clear();
                steady.clear();
            }
            if !frozen && group.limit > 0 {
                // Steady alerts breach, at the level they fire at.
                let breaching = steady.len()
                    + observed
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
                    steady.clear();
                }
            }
        }
    }

    // Unless frozen, every firing alert is rendered again or, not seen,
    // leaves the firing state or waits on `keep_firing_for` (never steady).
    let mut update = RuleUpdate {
        error,
        texts_current: env.texts_current || !frozen,
        ..RuleUpdate::default()
    };
    // Alerts we have but did not see: Missing, unless the rule is frozen.
    for (fp, prev) in current {
        if frozen || !prev.is_active() || observed.contains_key(fp) || steady.contains(fp) {
            continue;
        }
        let fresh = AlertInstance::clone(prev);
        apply(
            &mut update,
            rule,
            Some(prev),
            (Observation::Missing, None),
            fresh,
            now,
            env,
        );
    }
    for (_, (fresh, obs, sample_labels)) in observed {
        let prev = current.get(&fresh.fingerprint).map(|p| &**p);
        apply(
            &mut update,
            rule,
            prev,
            (obs, sample_labels.as_deref()),
            fresh,
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
    fresh: AlertInstance,
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
            // Memory, the saved row and the events share one copy.
            let shared = Arc::new(next);
            if result.changed {
                update.save.push(Arc::clone(&shared));
            }
            for t in result.transitions {
                update.events.push(AlertEvent {
                    alert: Arc::clone(&shared),
                    before,
                    transition: t,
                });
            }
            update.refreshed.push(shared);
        }
        None => {
            if let Some(p) = prev {
                let shared = Arc::new(p.clone());
                for t in result.transitions {
                    update.events.push(AlertEvent {
                        alert: Arc::clone(&shared),
                        before,
                        transition: t,
                    });
                }
                // A resolved alert that did not come back stays listed.
                if p.state != AlertState::Resolved {
                    update.delete.push(p.fingerprint);
                }
            }
        }
    }
}

/// Whether a firing alert whose series came back with `value` stays exactly
/// as it is: same value, same level, nothing pending on a timer.
fn unchanged(prev: &AlertInstance, value: f64, rule: &Rule, env: RuleEnv) -> bool {
    prev.state == AlertState::Firing
        && prev.keep_firing_since.is_none()
        && prev.value.to_bits() == value.to_bits()
        && rule.breached_level(value) == Some(prev.severity)
        && prev.format == rule.format
        && (env.generator_url.is_empty() || prev.generator_url == env.generator_url)
}

fn duplicate_series(labels: &Labels) -> String {
    format!("two series give the same alert labels {labels:?} (add labels or aggregate with `by`)")
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
            RuleFormat::Prometheus => std::borrow::Cow::Borrowed(&*s.labels),
            RuleFormat::Native => std::borrow::Cow::Owned(labels.clone()),
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
