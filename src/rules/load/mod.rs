//! Loading rule files: find them, parse them, validate every rule, and report
//! every problem as `file:line:col: what was expected`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use croner::parser::{CronParser, Seconds};

use super::condition::Condition;
use super::file::{GroupDoc, RuleDoc, RuleFileDoc};
mod checks;

use super::heartbeat::HeartbeatQuery;
use super::model::{Group, Level, Rule, RuleSet, RuleSource};
use super::schedule::Schedule;
use super::severity::SeveritySpec;
use super::text::{RuleText, TextDoc};
use crate::alert::{Labels, RuleFormat, Severity, valid_label_name};
use crate::template::Template;
use crate::yaml::{self, HumanDuration, SourceError, SourceErrors, Spanned};

/// Settings that apply to every group unless it says otherwise.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub default_interval: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_interval: Duration::from_secs(60),
        }
    }
}

/// Every `*.yaml` / `*.yml` file under `paths` (files are taken as given),
/// sorted so loading order never depends on the file system.
pub fn find_rule_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SourceErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect_dir(path, &mut files, &mut errors);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            errors.push(SourceError::file(path, "no such file or directory"));
        }
    }
    files.sort();
    files.dedup();
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(SourceErrors(errors))
    }
}

fn collect_dir(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<SourceError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(SourceError::file(
                dir,
                format!("cannot read directory: {e}"),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            // rules/tests/ holds unit tests for the rules, not rules.
            if name != "tests" {
                collect_dir(&path, files, errors);
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            files.push(path);
        }
    }
}

/// Loads and validates every rule file under `paths`.
pub fn load_rules(paths: &[PathBuf], opts: &LoadOptions) -> Result<RuleSet, SourceErrors> {
    let files = find_rule_files(paths)?;
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for file in &files {
        match crate::yaml::read_text(file, "rule file") {
            Ok(text) => sources.push((file.clone(), text)),
            Err(e) => errors.push(e),
        }
    }
    match load_sources(&sources, opts) {
        Ok(set) if errors.is_empty() => Ok(set),
        Ok(_) => Err(SourceErrors(errors)),
        Err(SourceErrors(mut more)) => {
            errors.append(&mut more);
            Err(SourceErrors(errors))
        }
    }
}

/// Validates already-read files (used by `load_rules` and by tests).
pub fn load_sources(
    sources: &[(PathBuf, String)],
    opts: &LoadOptions,
) -> Result<RuleSet, SourceErrors> {
    let mut set = RuleSet::default();
    let mut errors = Vec::new();
    // Group names are state keys, so they must be unique in the set; like
    // Prometheus, a file may reuse a name an earlier file took, and that
    // group is then known as "name (file)".
    let mut taken: HashSet<String> = HashSet::new();
    let mut checks = Vec::new();
    for (file, text) in sources {
        set.files.push(file.clone());
        let doc: RuleFileDoc = match yaml::parse(file, text) {
            Ok(doc) => doc,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for check in doc.heartbeats {
            let mut cx = Checker {
                file,
                text,
                errors: &mut errors,
                warnings: &mut set.warnings,
            };
            if let Some(c) = checks::check_doc(&mut cx, check) {
                checks.push((file.clone(), c));
            }
        }
        // name -> its line and column in this file
        let mut in_file: HashMap<String, (u64, u64)> = HashMap::new();
        for group in doc.groups {
            let name = group.name.value.trim().to_string();
            if let Some((line, col)) = in_file.get(&name) {
                errors.push(SourceError::at(
                    file,
                    &group.name,
                    format!(
                        "groupname: {name:?} is repeated in the same file (first at line {line}, column {col})"
                    ),
                ));
                continue;
            }
            in_file.insert(
                name.clone(),
                (group.name.referenced.line(), group.name.referenced.column()),
            );
            let key = if taken.contains(&name) {
                format!("{name} ({})", file.display())
            } else {
                name
            };
            if !taken.insert(key.clone()) {
                errors.push(SourceError::at(
                    file,
                    &group.name,
                    format!(
                        "group name {key:?} is already taken by a group of another file; rename one"
                    ),
                ));
                continue;
            }
            let mut cx = Checker {
                file,
                text,
                errors: &mut errors,
                warnings: &mut set.warnings,
            };
            if let Some(g) = cx.group(group, key, opts) {
                set.groups.push(Arc::new(g));
            }
        }
    }
    set.heartbeats = checks::resolve(checks, &mut errors);
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(SourceErrors(errors))
    }
}

/// Collects the problems of one file while its parts are checked.
pub(super) struct Checker<'a> {
    pub(super) file: &'a Path,
    /// The file's text, to place errors inside a value.
    pub(super) text: &'a str,
    pub(super) errors: &'a mut Vec<SourceError>,
    pub(super) warnings: &'a mut Vec<SourceError>,
}

impl Checker<'_> {
    pub(super) fn error<T>(&mut self, at: &Spanned<T>, msg: impl Into<String>) {
        self.errors.push(SourceError::at(self.file, at, msg));
    }

    /// Warns, at the label's or annotation's value, about each function its
    /// template calls that cannot work for this rule.
    fn warn_unworkable<T>(
        &mut self,
        at: &Spanned<T>,
        what: &str,
        key: &str,
        t: &Template,
        has_prometheus: bool,
    ) {
        for (line, col, why) in t.unworkable_functions(has_prometheus) {
            self.warnings.push(SourceError::at(
                self.file,
                at,
                format!("{what} {key:?}, template line {line} column {col}: {why}"),
            ));
        }
    }

    /// `key` is the group's name in the rule set (see [`load_sources`]).
    fn group(&mut self, doc: GroupDoc, key: String, opts: &LoadOptions) -> Option<Group> {
        let errors_before = self.errors.len();
        if doc.name.value.trim().is_empty() {
            self.error(&doc.name, "expected a non-empty group name");
        }
        let name = key;
        let schedule = self.schedule(&doc, opts);
        let labels = self.static_labels(&doc.labels);

        // Two rules may share an alert name (a warning/critical pair): both load.
        let mut rules: Vec<Arc<Rule>> = Vec::new();
        let mut recording_rules = Vec::new();
        for (index, rule) in doc.rules.into_iter().enumerate() {
            if rule.alert.is_none() && rule.record.is_some() {
                recording_rules.extend(self.recording_rule(&name, &labels, rule).map(Arc::new));
                continue;
            }
            if let Some(mut rule) = self.rule(&name, index, rule) {
                rule.occurrence = rules.iter().filter(|r| r.name == rule.name).count();
                rules.push(Arc::new(rule));
            }
        }
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Group {
            name,
            file: self.file.to_path_buf(),
            schedule: schedule?,
            labels,
            limit: doc.limit,
            query_offset: doc.query_offset.map(|d| d.0).unwrap_or_default(),
            rules,
            recording_rules,
        })
    }

    fn schedule(&mut self, doc: &GroupDoc, opts: &LoadOptions) -> Option<Schedule> {
        let every = doc.interval.as_ref().map(|i| ("interval", i));
        match parse_schedule(self.file, every, doc.cron.as_ref(), doc.timezone.as_ref()) {
            Ok(schedule) => Some(schedule.unwrap_or(Schedule::Every(opts.default_interval))),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    pub(super) fn static_labels(&mut self, labels: &BTreeMap<String, Spanned<String>>) -> Labels {
        let mut out = Labels::new();
        for (k, v) in labels {
            if !valid_label_name(k) {
                self.error(
                    v,
                    format!("expected a label name matching [a-zA-Z_][a-zA-Z0-9_]*, got {k:?}"),
                );
            }
            out.insert(k.clone(), v.value.clone());
        }
        out
    }

    /// The rule at `index` (its position in the group).
    fn rule(&mut self, group: &str, index: usize, doc: RuleDoc) -> Option<Rule> {
        let errors_before = self.errors.len();
        let named = match &doc.alert {
            Some(a) => match &a.value {
                Some(name) => Some(Spanned::new(name.clone(), a.referenced, a.defined)),
                None => {
                    self.error(a, "expected an alert name after `alert:`");
                    return None;
                }
            },
            None => None,
        };
        let alert = match (&named, &doc.record) {
            (Some(a), Some(r)) => {
                self.error(r, "expected either alert or record in one rule, not both");
                a.clone()
            }
            // Recording rules are taken by `group` (see `super::recording`).
            (None, Some(_)) => return None,
            (Some(a), None) => a.clone(),
            (None, None) => {
                let at = doc
                    .query
                    .as_ref()
                    .or(doc.expr.as_ref())
                    .or(doc.sql.as_ref());
                let msg = "expected an `alert:` name for this rule";
                match at {
                    Some(at) => self.error(at, msg),
                    None => self.errors.push(SourceError::file(
                        self.file,
                        format!("{msg} (in group {group:?})"),
                    )),
                }
                return None;
            }
        };
        if alert.value.trim().is_empty() {
            self.error(&alert, "expected a non-empty alert name");
        }

        let (source, format) = self.source(&doc, &alert)?;

        let levels = self.levels(&doc);
        if let Some(rw) = &doc.resolve_when {
            let has_threshold = levels.iter().any(|l| l.condition.is_some());
            if !has_threshold {
                self.error(
                    rw,
                    "resolve_when needs a threshold to go with it: add `when:` or severity levels",
                );
            }
        }

        let alert_name = alert.value.trim().to_string();
        let rule_template = |src: &str| match format {
            RuleFormat::Native => Template::native(src),
            RuleFormat::Prometheus => Template::prometheus_for_alert(src, &alert_name),
        };
        let has_prometheus = source.is_prometheus();
        let mut labels = Vec::new();
        for (k, v) in &doc.labels {
            if !valid_label_name(k) {
                self.error(
                    v,
                    format!("expected a label name matching [a-zA-Z_][a-zA-Z0-9_]*, got {k:?}"),
                );
            }
            if k == "severity" && format == RuleFormat::Prometheus && doc.severity.is_none() {
                // keeps its value; also decides the level (see `levels`)
            } else if k == "severity" && doc.severity.is_some() {
                self.error(
                    v,
                    "severity is given twice: as `severity:` and as a label; keep one",
                );
            } else if k == "alertname" {
                self.error(v, "alertname is set from `alert:`; remove this label");
            } else if k == "__name__" {
                self.error(v, "invalid label name: __name__ cannot be set by a rule");
            }
            match rule_template(&v.value) {
                Ok(t) => {
                    self.warn_unworkable(v, "label", k, &t, has_prometheus);
                    labels.push((k.clone(), t));
                }
                Err(e) => self.error(v, format!("cannot parse template of label {k:?}: {e}")),
            }
        }
        let mut annotations = Vec::new();
        for (k, v) in &doc.annotations {
            if !valid_label_name(k) {
                self.error(
                    v,
                    format!(
                        "expected an annotation name matching [a-zA-Z_][a-zA-Z0-9_]*, got {k:?}"
                    ),
                );
            }
            match rule_template(&v.value) {
                Ok(t) => {
                    self.warn_unworkable(v, "annotation", k, &t, has_prometheus);
                    annotations.push((k.clone(), t));
                }
                Err(e) => self.error(v, format!("cannot parse template of annotation {k:?}: {e}")),
            }
        }
        let message = self.rule_text(doc.message.as_ref(), "message");
        let resolution = self.rule_text(doc.resolution.as_ref(), "resolution");
        let resolved_message = self.rule_text(doc.resolved_message.as_ref(), "resolved_message");

        let pending_for = self.rule_duration(doc.for_.as_ref(), format);
        let keep_firing_for = self.rule_duration(doc.keep_firing_for.as_ref(), format);
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Rule {
            group: group.to_string(),
            index,
            occurrence: 0,
            name: alert.value.trim().to_string(),
            source,
            format,
            levels,
            resolve_when: doc.resolve_when.map(|c| c.value),
            pending_for,
            keep_firing_for,
            on_no_data: doc.on_no_data.unwrap_or_default(),
            on_error: doc.on_error.unwrap_or_default(),
            labels,
            annotations,
            message,
            resolution,
            resolved_message,
        })
    }

    /// `for` / `keep_firing_for`: humantime in native rules (`5m`,
    /// `1h30m`, `2 days`), only Prometheus's syntax in Prometheus-format ones
    /// (as promtool: units y w d h m s ms, each once, largest first).
    fn rule_duration(&mut self, text: Option<&Spanned<String>>, format: RuleFormat) -> Duration {
        let Some(text) = text else {
            return Duration::ZERO;
        };
        if format == RuleFormat::Prometheus {
            return match parse_prometheus_duration(text.value.trim()) {
                Some(d) => d,
                None => {
                    self.error(
                        text,
                        format!(
                            "expected a Prometheus duration like 30s, 5m or 1h30m (units y, w, d, h, m, s, ms), got {:?}",
                            text.value
                        ),
                    );
                    Duration::ZERO
                }
            };
        }
        match HumanDuration::parse(&text.value) {
            Ok(d) => d.0,
            Err(e) => {
                self.error(text, e);
                Duration::ZERO
            }
        }
    }

    /// Parses a rule's PromQL; an error points into the expression where it can.
    pub(super) fn promql(&mut self, expr: &Spanned<String>) -> bool {
        let Err(e) = super::promql::check(&expr.value) else {
            return true;
        };
        let start = expr.referenced.span().byte_offset();
        let inside = e.offset.map(|offset| {
            let at = start.and_then(|s| {
                super::position::locate(self.text, usize::try_from(s).ok()?, &expr.value, offset)
            });
            (offset, at)
        });
        match inside {
            Some((_, Some((line, col)))) => self.errors.push(SourceError {
                file: self.file.to_path_buf(),
                line,
                col,
                message: format!("invalid PromQL: {}", e.message),
            }),
            Some((offset, None)) => self.error(
                expr,
                format!(
                    "invalid PromQL at byte {offset} of the expression: {}",
                    e.message
                ),
            ),
            None => self.error(expr, format!("invalid PromQL: {}", e.message)),
        }
        false
    }

    /// The one of `query`, `expr`, `heartbeat` and `sql` the rule has.
    fn source(
        &mut self,
        doc: &RuleDoc,
        alert: &Spanned<String>,
    ) -> Option<(RuleSource, RuleFormat)> {
        let given = [
            doc.query.as_ref().map(|q| ("query", q.referenced)),
            doc.expr.as_ref().map(|q| ("expr", q.referenced)),
            doc.heartbeat.as_ref().map(|q| ("heartbeat", q.referenced)),
            doc.sql.as_ref().map(|q| ("sql", q.referenced)),
        ];
        let mut given: Vec<_> = given.into_iter().flatten().collect();
        if given.len() > 1 {
            // In the file's order; the error points at the second one.
            given.sort_by_key(|(_, at)| (at.line(), at.column()));
            let names: Vec<&str> = given.iter().map(|(n, _)| *n).collect();
            let at = given[1].1;
            self.errors.push(SourceError {
                file: self.file.to_path_buf(),
                line: at.line() as u32,
                col: at.column() as u32,
                message: format!(
                    "expected one of query, expr, heartbeat or sql, got {}",
                    names.join(" and ")
                ),
            });
            return None;
        }
        if let Some(q) = doc.query.as_ref().or(doc.expr.as_ref()) {
            if q.value.trim().is_empty() {
                self.error(q, "expected a non-empty PromQL query");
                return None;
            }
            if !self.promql(q) {
                return None;
            }
            let format = if doc.expr.is_some() {
                RuleFormat::Prometheus
            } else {
                RuleFormat::Native
            };
            return Some((RuleSource::Prometheus(q.value.trim().to_string()), format));
        }
        if let Some(h) = &doc.heartbeat {
            if h.value.checks.value.trim().is_empty() {
                self.error(
                    &h.value.checks,
                    "expected a glob of check names, like \"backup-*\" or \"*\"",
                );
                return None;
            }
            let query = HeartbeatQuery {
                checks: h.value.checks.value.trim().to_string(),
                condition: h.value.condition,
            };
            return Some((RuleSource::Heartbeat(query), RuleFormat::Native));
        }
        if let Some(sql) = &doc.sql {
            if let Err(e) = crate::store::heartbeats::check_select(&sql.value) {
                self.error(sql, e);
                return None;
            }
            return Some((
                RuleSource::Sql(sql.value.trim().to_string()),
                RuleFormat::Native,
            ));
        }
        self.error(
            alert,
            format!(
                "expected a `query:` (or Prometheus `expr:`, `heartbeat:` or `sql:`) for alert {:?}",
                alert.value
            ),
        );
        None
    }

    /// `when` + `severity`, or severity levels, or Prometheus's `labels.severity`.
    fn levels(&mut self, doc: &RuleDoc) -> Vec<Level> {
        let when: Option<Condition> = doc.when.as_ref().map(|w| w.value);
        match doc.severity.as_ref().map(|s| &s.value) {
            Some(SeveritySpec::Levels { warning, error }) => {
                if let Some(w) = &doc.when {
                    self.error(w, "expected either `when:` or severity levels with their own thresholds, not both");
                }
                let mut levels = Vec::new();
                if let Some(c) = error {
                    levels.push(Level {
                        severity: Severity::Error,
                        condition: Some(*c),
                    });
                }
                if let Some(c) = warning {
                    levels.push(Level {
                        severity: Severity::Warning,
                        condition: Some(*c),
                    });
                }
                levels
            }
            Some(SeveritySpec::Single(sev)) => vec![Level {
                severity: *sev,
                condition: when,
            }],
            None => {
                let severity = doc
                    .labels
                    .get("severity")
                    .map(|s| Severity::from_prometheus_label(&s.value))
                    .unwrap_or(Severity::Warning);
                vec![Level {
                    severity,
                    condition: when,
                }]
            }
        }
    }

    /// `message`, `resolution`, `resolved_message`: one minijinja template
    /// or one per language, each error at the text it is in.
    fn rule_text(&mut self, src: Option<&Spanned<TextDoc>>, what: &str) -> Option<RuleText> {
        let src = src?;
        match &src.value {
            TextDoc::One(text) => self.native_template(src, text, what).map(RuleText::one),
            TextDoc::Languages { en, zh } => {
                let mut parse = |t: &Option<Spanned<String>>, lang: &str| {
                    t.as_ref()
                        .map(|t| self.native_template(t, &t.value, &format!("{what} ({lang})")))
                };
                let (en, zh) = (parse(en, "en"), parse(zh, "zh"));
                match (en, zh) {
                    (Some(Some(en)), Some(Some(zh))) => Some(RuleText {
                        main: en,
                        zh: Some(zh),
                    }),
                    (Some(Some(one)), None) | (None, Some(Some(one))) => Some(RuleText::one(one)),
                    _ => None,
                }
            }
        }
    }

    fn native_template<T>(&mut self, at: &Spanned<T>, src: &str, what: &str) -> Option<Template> {
        match Template::native(src) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(at, format!("cannot parse {what} template: {e}"));
                None
            }
        }
    }
}

/// A schedule written as a period (`interval:` of groups, `every:` of
/// heartbeat checks: whole seconds, at least 1s) or a `cron:` with an
/// optional `timezone:`; `Ok(None)` when neither is given.
pub fn parse_schedule(
    file: &Path,
    every: Option<(&str, &Spanned<HumanDuration>)>,
    cron: Option<&Spanned<String>>,
    timezone: Option<&Spanned<String>>,
) -> Result<Option<Schedule>, SourceError> {
    let err = |at: &Spanned<String>, msg: String| SourceError::at(file, at, msg);
    match (every, cron) {
        (Some((key, _)), Some(cron)) => Err(err(
            cron,
            format!("expected either {key} or cron, not both"),
        )),
        (Some((key, period)), None) => {
            if let Some(tz) = timezone {
                return Err(err(
                    tz,
                    "timezone applies to cron schedules only; remove it or use cron".into(),
                ));
            }
            let d = period.value.0;
            if d < Duration::from_secs(1) || d.subsec_nanos() != 0 {
                return Err(SourceError::at(
                    file,
                    period,
                    format!(
                        "expected {} of whole seconds, at least 1s, got {}",
                        if key == "interval" {
                            "an interval"
                        } else {
                            "a period"
                        },
                        period.value
                    ),
                ));
            }
            Ok(Some(Schedule::Every(d)))
        }
        (None, Some(cron)) => {
            let timezone = match timezone {
                None => chrono_tz::UTC,
                Some(tz) => parse_timezone(&tz.value).map_err(|e| err(tz, e))?,
            };
            let parsed = parse_cron(&cron.value).map_err(|e| err(cron, e))?;
            Ok(Some(Schedule::Cron {
                expr: cron.value.trim().into(),
                cron: Box::new(parsed),
                timezone,
            }))
        }
        (None, None) => match timezone {
            Some(tz) => Err(err(
                tz,
                "timezone applies to cron schedules only; add a cron".into(),
            )),
            None => Ok(None),
        },
    }
}

/// An IANA time zone name (`Asia/Shanghai`, `UTC`).
pub fn parse_timezone(text: &str) -> Result<chrono_tz::Tz, String> {
    chrono_tz::Tz::from_str(text.trim())
        .map_err(|_| format!("expected an IANA time zone like Asia/Shanghai or UTC, got {text:?}"))
}

/// Six fields with seconds (`sec min hour day-of-month month day-of-week`),
/// an optional seventh for the year, or a shortcut like `@hourly`.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let expr = expr.trim();
    let fields = expr.split_whitespace().count();
    if !expr.starts_with('@') && fields == 5 {
        return Err(format!(
            "expected a cron expression with 6 fields (seconds first), got 5 in {expr:?}; write \"0 {expr}\" for the classic 5-field meaning"
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(expr)
        .map_err(|e| {
            format!("expected a 6-field cron expression like \"0 */5 * * * *\", got {expr:?} ({e})")
        })
}

/// A Prometheus metric name (also what a recording rule's `record:` must be).
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A duration in Prometheus's syntax (`model.ParseDuration`): `0`, or units
/// y (365 days) w d h m s ms, each at most once, largest first.
pub fn parse_prometheus_duration(text: &str) -> Option<Duration> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            "^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$",
        )
        .unwrap_or_else(|_| unreachable!("a fixed, valid pattern"))
    });
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let caps = re.captures(text).filter(|_| !text.is_empty())?;
    const UNITS_MS: [u64; 7] = [
        365 * 86_400_000,
        7 * 86_400_000,
        86_400_000,
        3_600_000,
        60_000,
        1000,
        1,
    ];
    let mut ms: u64 = 0;
    for (i, unit) in UNITS_MS.iter().enumerate() {
        if let Some(n) = caps.get(i + 1) {
            let n: u64 = n.as_str().parse().ok()?;
            ms = ms.checked_add(n.checked_mul(*unit)?)?;
        }
    }
    Some(Duration::from_millis(ms))
}
