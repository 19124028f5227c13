//! Recording rules (`record:`): validated as Prometheus's `rulefmt` does, and
//! set aside with a warning when there is nowhere to write them.

use std::sync::Arc;

use super::file::RuleDoc;
use super::load::Checker;
use super::model::{RecordingRule, RuleSet};
use crate::alert::{Labels, valid_label_name};
use crate::yaml::{SourceError, Spanned};

impl Checker<'_> {
    /// A recording rule of group `group` (whose labels are `group_labels`),
    /// or `None` with its problems noted.
    pub(super) fn recording_rule(
        &mut self,
        group: &str,
        group_labels: &Labels,
        doc: RuleDoc,
    ) -> Option<RecordingRule> {
        let errors_before = self.errors.len();
        let record = doc.record.as_ref()?;
        let name = record.value.trim();
        if !valid_metric_name(name) {
            self.error(
                record,
                format!(
                    "invalid recording rule name: expected a metric name matching [a-zA-Z_:][a-zA-Z0-9_:]* after `record:`, got {:?}",
                    record.value
                ),
            );
        }
        let query = match (&doc.expr, &doc.query) {
            (Some(_), Some(q)) => {
                self.error(q, "expected either expr or query, not both");
                None
            }
            (Some(q), None) | (None, Some(q)) if q.value.trim().is_empty() => {
                self.error(q, "expected a non-empty PromQL query");
                None
            }
            (Some(q), None) | (None, Some(q)) => self.promql(q).then(|| q.value.trim().to_string()),
            (None, None) => {
                self.error(
                    record,
                    format!("expected an `expr:` (PromQL) for recording rule {name:?}"),
                );
                None
            }
        };
        self.not_for_recording(record, &doc);
        let mut labels = group_labels.clone();
        for (k, v) in &doc.labels {
            if !valid_label_name(k) || k == "__name__" {
                self.error(
                    v,
                    format!(
                        "expected a label name matching [a-zA-Z_][a-zA-Z0-9_]* (not __name__, which is set from `record:`), got {k:?}"
                    ),
                );
            }
            if v.value.contains("{{") {
                self.warnings.push(SourceError::at(
                    self.file,
                    v,
                    format!(
                        "label {k:?} of recording rule {name:?} is written as is: recording rules' labels are not templates (as in Prometheus)"
                    ),
                ));
            }
            labels.insert(k.clone(), v.value.clone());
        }
        if self.errors.len() > errors_before {
            return None;
        }
        Some(RecordingRule {
            group: group.to_string(),
            name: name.to_string(),
            query: query?,
            labels,
            line: record.referenced.line() as u32,
            col: record.referenced.column() as u32,
        })
    }

    /// Keys of alerting rules are errors in a recording rule (Prometheus
    /// refuses `annotations`, `for` and `keep_firing_for` there too).
    fn not_for_recording(&mut self, record: &Spanned<String>, doc: &RuleDoc) {
        let spanned = [
            ("heartbeat", doc.heartbeat.as_ref().map(|h| h.referenced)),
            ("sql", doc.sql.as_ref().map(|s| s.referenced)),
            ("when", doc.when.as_ref().map(|w| w.referenced)),
            ("severity", doc.severity.as_ref().map(|s| s.referenced)),
            (
                "resolve_when",
                doc.resolve_when.as_ref().map(|r| r.referenced),
            ),
            ("message", doc.message.as_ref().map(|m| m.referenced)),
            ("resolution", doc.resolution.as_ref().map(|r| r.referenced)),
            (
                "annotations",
                doc.annotations.values().next().map(|a| a.referenced),
            ),
        ];
        let unspanned = [
            ("for", doc.for_.is_some()),
            ("keep_firing_for", doc.keep_firing_for.is_some()),
            ("on_no_data", doc.on_no_data.is_some()),
            ("on_error", doc.on_error.is_some()),
        ];
        for (key, at) in spanned {
            if let Some(at) = at {
                self.errors.push(SourceError {
                    file: self.file.to_path_buf(),
                    line: at.line() as u32,
                    col: at.column() as u32,
                    message: format!("`{key}` does not apply to recording rules; remove it"),
                });
            }
        }
        for (key, given) in unspanned {
            if given {
                self.error(
                    record,
                    format!(
                        "`{key}` does not apply to recording rules (recording rule {:?}); remove it",
                        record.value
                    ),
                );
            }
        }
    }
}

impl RuleSet {
    /// Takes the recording rules out, each with a warning: without
    /// `prometheus.remote_write_url` there is nowhere to write them. Call it
    /// right after loading (groups not shared yet).
    pub fn skip_recording_rules(&mut self) {
        for group in &mut self.groups {
            let Some(group) = Arc::get_mut(group) else {
                continue;
            };
            for r in group.recording_rules.drain(..) {
                self.warnings.push(SourceError {
                    file: group.file.clone(),
                    line: r.line,
                    col: r.col,
                    message: format!(
                        "recording rule {:?} skipped: tocsin evaluates recording rules only with prometheus.remote_write_url set",
                        r.name
                    ),
                });
            }
        }
    }
}

/// A Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::rules::{LoadOptions, RuleSet, load_sources};

    fn load(text: &str) -> Result<RuleSet, crate::yaml::SourceErrors> {
        load_sources(
            &[(PathBuf::from("r.yaml"), text.to_string())],
            &LoadOptions::default(),
        )
    }

    #[test]
    fn recording_rules_load_in_order_with_group_labels_overridden() {
        let set = load(
            r#"
groups:
  - name: g
    labels: {team: a, env: prod}
    rules:
      - record: job:x:sum
        expr: sum by (job) (x)
        labels: {team: b}
      - alert: XHigh
        expr: job:x:sum > 5
      - record: job:x:sum
        query: sum by (job) (x) * 2
        labels: {variant: doubled}
"#,
        )
        .unwrap();
        let g = &set.groups[0];
        assert_eq!(g.rules.len(), 1);
        assert_eq!(
            g.recording_rules.len(),
            2,
            "the same record name twice is fine"
        );
        let r = &g.recording_rules[0];
        assert_eq!(
            (r.name.as_str(), r.query.as_str()),
            ("job:x:sum", "sum by (job) (x)")
        );
        assert_eq!(r.labels["team"], "b");
        assert_eq!(r.labels["env"], "prod");
        assert_eq!((r.line, r.col), (6, 17));
        assert_eq!(g.recording_rules[1].labels["variant"], "doubled");
        assert_eq!(set.rule_count(), 3);
        assert!(set.warnings.is_empty());
    }

    #[test]
    fn skipped_without_remote_write_with_a_warning_at_the_record() {
        let mut set =
            load("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n")
                .unwrap();
        set.skip_recording_rules();
        assert!(set.groups[0].recording_rules.is_empty());
        assert_eq!(
            set.warnings[0].to_string(),
            "r.yaml:4:17: recording rule \"r\" skipped: tocsin evaluates recording rules only with prometheus.remote_write_url set"
        );
    }

    #[test]
    fn what_a_recording_rule_may_not_have() {
        let errors = |text: &str| -> Vec<String> {
            load(text)
                .unwrap_err()
                .0
                .iter()
                .map(|e| e.to_string())
                .collect()
        };
        let e = errors(
            "groups:\n  - name: g\n    rules:\n      - record: 'bad-name'\n        expr: up\n",
        );
        assert!(
            e[0].starts_with("r.yaml:4:17: invalid recording rule name: expected a metric name"),
            "{e:?}"
        );
        let e = errors("groups:\n  - name: g\n    rules:\n      - record: r\n");
        assert!(e[0].contains("expected an `expr:`"), "{e:?}");
        let e = errors(
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n        for: 5m\n        annotations: {summary: x}\n",
        );
        assert!(
            e.iter()
                .any(|m| m
                    == "r.yaml:7:32: `annotations` does not apply to recording rules; remove it"),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.contains("`for` does not apply to recording rules")),
            "{e:?}"
        );
        let e = errors(
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n        labels: {__name__: x}\n",
        );
        assert!(e[0].contains("not __name__"), "{e:?}");
    }

    #[test]
    fn a_template_in_a_recording_label_is_noted_not_expanded() {
        let set = load(
            "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n        labels: {x: '{{ $labels.job }}'}\n",
        )
        .unwrap();
        assert_eq!(
            set.groups[0].recording_rules[0].labels["x"],
            "{{ $labels.job }}"
        );
        assert!(
            set.warnings[0].message.contains("not templates"),
            "{:?}",
            set.warnings
        );
    }
}
