//! Inhibition: while an alert matching a rule's `source` fires, alerts
//! matching its `target` that carry the same values of the `equal` labels
//! notify nobody (an error inhibits the warning of the same deployment). An
//! alert never inhibits itself. The router keeps the index of firing alerts
//! from the transitions it routes; when a source resolves, the alerts it held
//! back that still fire are notified then (see [`super::resume`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::alert::{AlertInstance, AlertState, Fingerprint, Labels, matcher::Matcher};

/// One checked `inhibit:` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRule {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

impl InhibitRule {
    fn inhibits(&self, source: &Labels, target: &Labels) -> bool {
        self.source.iter().all(|m| m.matches(source))
            && self.target.iter().all(|m| m.matches(target))
            && self.equal.iter().all(|l| source.get(l) == target.get(l))
    }

    pub fn is_target(&self, labels: &Labels) -> bool {
        self.target.iter().all(|m| m.matches(labels))
    }
}

/// The firing alerts (labels as sent), shared by the routers of successive
/// reloads.
#[derive(Debug, Clone, Default)]
pub struct FiringIndex {
    alerts: Arc<RwLock<HashMap<Fingerprint, Labels>>>,
    /// A firing alert stopped firing: inhibited alerts may be free now.
    recheck: Arc<AtomicBool>,
}

impl FiringIndex {
    /// Fills the index from the alerts the engine has (at start, or when
    /// inhibit rules appear), replacing what it held.
    pub fn seed(&self, alerts: &[AlertInstance]) {
        let mut g = self.alerts.write().unwrap_or_else(|p| p.into_inner());
        g.clear();
        for a in alerts.iter().filter(|a| a.state == AlertState::Firing) {
            g.insert(a.fingerprint, a.output_labels());
        }
    }

    pub fn set_firing(&self, fp: Fingerprint, labels: Labels) {
        let mut g = self.alerts.write().unwrap_or_else(|p| p.into_inner());
        match g.entry(fp) {
            Entry::Occupied(mut known) => {
                if *known.get() != labels {
                    known.insert(labels);
                    self.recheck.store(true, Ordering::Relaxed);
                }
            }
            Entry::Vacant(new) => {
                new.insert(labels);
            }
        }
    }

    pub fn set_not_firing(&self, fp: Fingerprint) {
        let mut g = self.alerts.write().unwrap_or_else(|p| p.into_inner());
        if g.remove(&fp).is_some() {
            self.recheck.store(true, Ordering::Relaxed);
        }
    }

    /// Asks for another look (after a failed one).
    pub fn request_recheck(&self) {
        self.recheck.store(true, Ordering::Relaxed);
    }

    /// Whether something stopped firing since the last call.
    pub fn take_recheck(&self) -> bool {
        self.recheck.swap(false, Ordering::Relaxed)
    }

    /// The alertname of a firing alert that inhibits `labels` under `rules`.
    pub fn inhibited_by(
        &self,
        rules: &[InhibitRule],
        fp: Fingerprint,
        labels: &Labels,
    ) -> Option<String> {
        self.inhibitor(rules, fp, labels)
            .map(|(f, src)| format!("{} ({f})", src.get("alertname").map_or("", String::as_str)))
    }

    /// The firing alert that inhibits this one: its fingerprint and labels.
    pub fn inhibitor(
        &self,
        rules: &[InhibitRule],
        fp: Fingerprint,
        labels: &Labels,
    ) -> Option<(Fingerprint, Labels)> {
        let relevant: Vec<&InhibitRule> = rules.iter().filter(|r| r.is_target(labels)).collect();
        if relevant.is_empty() {
            return None;
        }
        let g = self.alerts.read().unwrap_or_else(|p| p.into_inner());
        g.iter()
            .filter(|(f, _)| **f != fp)
            .find(|(_, src)| relevant.iter().any(|r| r.inhibits(src, labels)))
            .map(|(f, src)| (*f, src.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::alert::labels::from_pairs as labels;

    #[test]
    fn error_inhibits_warning_of_same_deployment_only() {
        let rule = InhibitRule {
            source: vec![Matcher::parse("severity=error").unwrap()],
            target: vec![Matcher::parse("severity=warning").unwrap()],
            equal: vec!["deployment".into()],
        };
        let idx = FiringIndex::default();
        let err = labels(&[
            ("alertname", "Down"),
            ("severity", "error"),
            ("deployment", "d1"),
        ]);
        let warn_d1 = labels(&[
            ("alertname", "Slow"),
            ("severity", "warning"),
            ("deployment", "d1"),
        ]);
        let warn_d2 = labels(&[
            ("alertname", "Slow"),
            ("severity", "warning"),
            ("deployment", "d2"),
        ]);
        let rules = [rule];
        assert_eq!(idx.inhibited_by(&rules, Fingerprint(2), &warn_d1), None);
        idx.set_firing(Fingerprint(1), err.clone());
        assert!(idx.inhibited_by(&rules, Fingerprint(2), &warn_d1).is_some());
        assert_eq!(idx.inhibited_by(&rules, Fingerprint(3), &warn_d2), None);
        // An error is not a target; an alert does not inhibit itself.
        assert_eq!(idx.inhibited_by(&rules, Fingerprint(1), &err), None);
        assert!(!idx.take_recheck());
        idx.set_not_firing(Fingerprint(1));
        assert!(idx.take_recheck());
        assert_eq!(idx.inhibited_by(&rules, Fingerprint(2), &warn_d1), None);
    }

    #[test]
    fn an_alert_matching_both_sides_never_inhibits_itself() {
        // Source and target alike (one alert per cluster should speak): the
        // first inhibits the second, but none is silenced by itself.
        let rules = [InhibitRule {
            source: vec![Matcher::parse("alertname=ClusterDown").unwrap()],
            target: vec![Matcher::parse("alertname=ClusterDown").unwrap()],
            equal: vec!["cluster".into()],
        }];
        let idx = FiringIndex::default();
        let a = labels(&[
            ("alertname", "ClusterDown"),
            ("cluster", "c1"),
            ("node", "a"),
        ]);
        let b = labels(&[
            ("alertname", "ClusterDown"),
            ("cluster", "c1"),
            ("node", "b"),
        ]);
        idx.set_firing(Fingerprint(1), a.clone());
        assert_eq!(idx.inhibited_by(&rules, Fingerprint(1), &a), None);
        idx.set_firing(Fingerprint(2), b.clone());
        assert!(idx.inhibited_by(&rules, Fingerprint(2), &b).is_some());
    }
}
