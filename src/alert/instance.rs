//! One alert (a rule applied to one series, or a posted alert), its state,
//! and what it carries when it is sent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::labels::{Fingerprint, Labels};
use super::severity::Severity;
use super::text::AlertTexts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertState> {
        match s {
            "pending" => Some(AlertState::Pending),
            "firing" => Some(AlertState::Firing),
            "resolved" => Some(AlertState::Resolved),
            _ => None,
        }
    }
}

/// One alert: a rule applied to one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertInstance {
    pub fingerprint: Fingerprint,
    pub group: String,
    pub alert: String,
    /// Identity labels (`alertname`, series labels, group and rule labels).
    pub labels: Labels,
    /// Rendered annotations (Prometheus `annotations:` or extra native ones).
    pub annotations: BTreeMap<String, String>,
    /// The message as it last fired (English, or the only text).
    pub message: String,
    pub resolution: String,
    /// The Chinese texts of a bilingual rule and the recovery text
    /// (`resolved_message`, rendered when it resolved).
    #[serde(default, skip_serializing_if = "AlertTexts::is_empty")]
    pub texts: AlertTexts,
    pub state: AlertState,
    pub severity: Severity,
    pub value: f64,
    pub active_at: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
    pub keep_firing_since: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// How the alert is sent: `Native` alerts carry their current level as
    /// the `severity` label and their message and resolution as annotations;
    /// `Prometheus` ones (rules with `expr:`, posted alerts) are sent with
    /// exactly their labels and annotations, as Prometheus would send them.
    #[serde(default)]
    pub format: RuleFormat,
    /// Where the alert comes from: the expression on the datasource's graph
    /// page, or the `generatorURL` a posted alert gave.
    #[serde(default)]
    pub generator_url: String,
}

impl AlertInstance {
    pub fn is_active(&self) -> bool {
        matches!(self.state, AlertState::Pending | AlertState::Firing)
    }

    /// Annotations as sent in Alertmanager's format, see [`sent_annotations`].
    pub fn sent_annotations(&self) -> BTreeMap<String, String> {
        sent_annotations(
            self.format,
            &self.annotations,
            &self.message,
            &self.resolution,
        )
    }

    /// One label of [`AlertInstance::output_labels`], without building them all.
    pub fn output_label(&self, name: &str) -> Option<&str> {
        match self.labels.get(name) {
            Some(v) => Some(v),
            None if name == "severity" && self.format == RuleFormat::Native => {
                Some(self.severity.as_str())
            }
            None => None,
        }
    }

    /// Whether every matcher holds for the output labels.
    pub fn matches_all(&self, matchers: &[super::Matcher]) -> bool {
        matchers
            .iter()
            .all(|m| m.matches_value(self.output_label(&m.name).unwrap_or("")))
    }

    /// Labels as sent to targets: a native alert's labels plus its level as
    /// `severity`; a Prometheus-format alert's labels exactly.
    pub fn output_labels(&self) -> Labels {
        let mut l = self.labels.clone();
        if self.format == RuleFormat::Native {
            l.entry("severity".to_string())
                .or_insert_with(|| self.severity.as_str().to_string());
        }
        l
    }
}

/// The annotations an Alertmanager-format payload carries. A
/// Prometheus-format alert's are exactly its own; a native alert's also give
/// its message as `summary` and its resolution as `resolution`, unless the
/// rule set those annotations itself.
pub fn sent_annotations(
    format: RuleFormat,
    annotations: &BTreeMap<String, String>,
    message: &str,
    resolution: &str,
) -> BTreeMap<String, String> {
    let mut out = annotations.clone();
    if format == RuleFormat::Native {
        for (key, text) in [("summary", message), ("resolution", resolution)] {
            if !text.is_empty() {
                out.entry(key.to_string())
                    .or_insert_with(|| text.to_string());
            }
        }
    }
    out
}

/// Whether a rule came in Prometheus's format (`expr`, annotations as Go
/// templates) or tocsin's (`query`, minijinja templates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleFormat {
    #[default]
    Native,
    Prometheus,
}

impl RuleFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleFormat::Native => "native",
            RuleFormat::Prometheus => "prometheus",
        }
    }

    pub fn parse(text: &str) -> Option<RuleFormat> {
        match text {
            "native" => Some(RuleFormat::Native),
            "prometheus" => Some(RuleFormat::Prometheus),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Matcher;

    #[test]
    fn matchers_see_the_output_labels_without_building_them() {
        let mut labels = Labels::new();
        labels.insert("alertname".into(), "DiskFull".into());
        labels.insert("vault".into(), "v-prod".into());
        let a = AlertInstance {
            fingerprint: Fingerprint(1),
            group: "g".into(),
            alert: "DiskFull".into(),
            labels,
            annotations: BTreeMap::new(),
            message: String::new(),
            resolution: String::new(),
            texts: AlertTexts::default(),
            state: AlertState::Firing,
            severity: Severity::Error,
            value: 1.0,
            active_at: Utc::now(),
            fired_at: None,
            keep_firing_since: None,
            resolved_at: None,
            format: RuleFormat::Native,
            generator_url: String::new(),
        };
        let m = |t: &str| Matcher::parse_list(t).unwrap();
        for text in [
            r#"severity="error", vault=~"v-.*""#,
            "missing=\"\"",
            "vault!=v-dev",
        ] {
            let expected = m(text).iter().all(|x| x.matches(&a.output_labels()));
            assert!(expected, "{text}");
            assert_eq!(a.matches_all(&m(text)), expected, "{text}");
        }
        assert!(!a.matches_all(&m("severity=warning")));
        let prom = AlertInstance {
            format: RuleFormat::Prometheus,
            ..a
        };
        assert!(
            !prom.matches_all(&m("severity=error")),
            "a Prometheus alert has only its labels"
        );
    }
}
