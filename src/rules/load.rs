//! Loading rule files: find them, parse them, validate every rule, and report
//! every problem as `file:line:col: what was expected`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use croner::parser::{CronParser, Seconds};

use super::condition::Condition;
use super::file::{GroupDoc, RuleDoc, RuleFileDoc};
use super::model::{Group, Level, Rule, RuleFormat, RuleSet, Schedule};
use super::severity::{Severity, SeveritySpec};
use crate::labels::Labels;
use crate::template::Template;
use crate::yaml::{self, SourceError, SourceErrors, Spanned};

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
        match std::fs::read_to_string(file) {
            Ok(text) => sources.push((file.clone(), text)),
            Err(e) => errors.push(SourceError::file(file, format!("cannot read file: {e}"))),
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
    // group name -> where it was first defined; names are state keys, so unique everywhere.
    let mut group_names: HashMap<String, String> = HashMap::new();
    for (file, text) in sources {
        set.files.push(file.clone());
        let doc: RuleFileDoc = match yaml::parse(file, text) {
            Ok(doc) => doc,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for group in doc.groups {
            let name = group.name.value.clone();
            let here = format!(
                "{}:{}:{}",
                file.display(),
                group.name.referenced.line(),
                group.name.referenced.column()
            );
            if let Some(first) = group_names.get(&name) {
                errors.push(SourceError::at(
                    file,
                    &group.name,
                    format!(
                        "group {name:?} is already defined at {first}; group names must be unique"
                    ),
                ));
                continue;
            }
            group_names.insert(name, here);
            let mut cx = Checker {
                file,
                errors: &mut errors,
                warnings: &mut set.warnings,
            };
            if let Some(g) = cx.group(group, opts) {
                set.groups.push(Arc::new(g));
            }
        }
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(SourceErrors(errors))
    }
}

struct Checker<'a> {
    file: &'a Path,
    errors: &'a mut Vec<SourceError>,
    warnings: &'a mut Vec<SourceError>,
}

impl Checker<'_> {
    fn error<T>(&mut self, at: &Spanned<T>, msg: impl Into<String>) {
        self.errors.push(SourceError::at(self.file, at, msg));
    }

    fn group(&mut self, doc: GroupDoc, opts: &LoadOptions) -> Option<Group> {
        let errors_before = self.errors.len();
        let name = doc.name.value.trim().to_string();
        if name.is_empty() {
            self.error(&doc.name, "expected a non-empty group name");
        }
        let schedule = self.schedule(&doc, opts);
        let labels = self.static_labels(&doc.labels);

        let mut rules = Vec::new();
        let mut seen: HashMap<String, (u64, u64)> = HashMap::new();
        for rule in doc.rules {
            let Some(rule) = self.rule(&name, rule) else {
                continue;
            };
            let (alert_name, at) = rule;
            if let Some((line, col)) = seen.get(&alert_name.name) {
                let msg = format!(
                    "alert {:?} is already defined in group {name:?} at line {line}, column {col}; alert names must be unique in a group",
                    alert_name.name
                );
                self.error(&at, msg);
                continue;
            }
            seen.insert(
                alert_name.name.clone(),
                (at.referenced.line(), at.referenced.column()),
            );
            rules.push(Arc::new(alert_name));
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
        })
    }

    fn schedule(&mut self, doc: &GroupDoc, opts: &LoadOptions) -> Option<Schedule> {
        match (&doc.interval, &doc.cron) {
            (Some(_), Some(cron)) => {
                self.error(cron, "expected either interval or cron, not both");
                None
            }
            (Some(interval), None) => {
                if let Some(tz) = &doc.timezone {
                    self.error(
                        tz,
                        "timezone applies to cron schedules only; remove it or use cron",
                    );
                    return None;
                }
                let d = interval.value.0;
                if d < Duration::from_secs(1) || d.subsec_nanos() != 0 {
                    self.error(
                        interval,
                        format!(
                            "expected an interval of whole seconds, at least 1s, got {}",
                            interval.value
                        ),
                    );
                    return None;
                }
                Some(Schedule::Every(d))
            }
            (None, Some(cron)) => {
                let timezone = match &doc.timezone {
                    None => chrono_tz::UTC,
                    Some(tz) => match chrono_tz::Tz::from_str(tz.value.trim()) {
                        Ok(tz) => tz,
                        Err(_) => {
                            self.error(tz, format!("expected an IANA time zone like Asia/Shanghai or UTC, got {:?}", tz.value));
                            return None;
                        }
                    },
                };
                match parse_cron(&cron.value) {
                    Ok(parsed) => Some(Schedule::Cron {
                        expr: cron.value.trim().to_string(),
                        cron: Box::new(parsed),
                        timezone,
                    }),
                    Err(msg) => {
                        self.error(cron, msg);
                        None
                    }
                }
            }
            (None, None) => {
                if let Some(tz) = &doc.timezone {
                    self.error(tz, "timezone applies to cron schedules only; add a cron");
                    return None;
                }
                Some(Schedule::Every(opts.default_interval))
            }
        }
    }

    fn static_labels(&mut self, labels: &BTreeMap<String, Spanned<String>>) -> Labels {
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

    /// Returns the rule and the position of its name (for duplicate detection).
    fn rule(&mut self, group: &str, doc: RuleDoc) -> Option<(Rule, Spanned<String>)> {
        let errors_before = self.errors.len();
        let alert = match (&doc.alert, &doc.record) {
            (Some(a), Some(r)) => {
                self.error(r, "expected either alert or record in one rule, not both");
                a.clone()
            }
            (None, Some(r)) => {
                self.warnings.push(SourceError::at(
                    self.file,
                    r,
                    format!(
                        "recording rule {:?} skipped: tocsin evaluates alerting rules only",
                        r.value
                    ),
                ));
                return None;
            }
            (Some(a), None) => a.clone(),
            (None, None) => {
                let at = doc.query.as_ref().or(doc.expr.as_ref());
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

        let (query, format) = match (&doc.query, &doc.expr) {
            (Some(_), Some(e)) => {
                self.error(
                    e,
                    "expected either query or expr, not both (they mean the same)",
                );
                return None;
            }
            (Some(q), None) => (q, RuleFormat::Native),
            (None, Some(e)) => (e, RuleFormat::Prometheus),
            (None, None) => {
                self.error(
                    &alert,
                    format!(
                        "expected a `query:` (or Prometheus `expr:`) for alert {:?}",
                        alert.value
                    ),
                );
                return None;
            }
        };
        if query.value.trim().is_empty() {
            self.error(query, "expected a non-empty PromQL query");
        }

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

        let rule_template = |src: &str| match format {
            RuleFormat::Native => Template::native(src),
            RuleFormat::Prometheus => Template::prometheus(src),
        };
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
            }
            match rule_template(&v.value) {
                Ok(t) => labels.push((k.clone(), t)),
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
                Ok(t) => annotations.push((k.clone(), t)),
                Err(e) => self.error(v, format!("cannot parse template of annotation {k:?}: {e}")),
            }
        }
        let message = self.native_template(doc.message.as_ref(), "message");
        let resolution = self.native_template(doc.resolution.as_ref(), "resolution");

        if self.errors.len() > errors_before {
            return None;
        }
        let rule = Rule {
            group: group.to_string(),
            name: alert.value.trim().to_string(),
            query: query.value.trim().to_string(),
            format,
            levels,
            resolve_when: doc.resolve_when.map(|c| c.value),
            pending_for: doc.for_.map(|d| d.0).unwrap_or_default(),
            keep_firing_for: doc.keep_firing_for.map(|d| d.0).unwrap_or_default(),
            on_no_data: doc.on_no_data.unwrap_or_default(),
            on_error: doc.on_error.unwrap_or_default(),
            labels,
            annotations,
            message,
            resolution,
        };
        Some((rule, alert))
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

    fn native_template(&mut self, src: Option<&Spanned<String>>, what: &str) -> Option<Template> {
        let src = src?;
        match Template::native(&src.value) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(src, format!("cannot parse {what} template: {e}"));
                None
            }
        }
    }
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

pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
