//! Which alert a series is, worked out from the series' labels without
//! building the alert's label set: how an evaluation recognises the alerts
//! it already has (nearly all of them, while nothing changes) and leaves
//! them as they are.
//!
//! The result is exactly [`Fingerprint::of_alert`] over the labels
//! `alert_for_sample` in [`super::rule`] builds: the series' labels without
//! `__name__`, overlaid by the group's labels, the rule's, `alertname`, and
//! for native rules without `severity`.

use std::collections::BTreeMap;

use crate::alert::{Fingerprint, Labels, RuleFormat};
use crate::rules::{Group, Rule};
use crate::template::Template;

pub struct AlertIdentity<'r> {
    group: &'r str,
    /// What the group and rule put over the series' labels, in name order;
    /// `None` removes the label.
    overlay: Vec<(&'r str, Option<&'r str>)>,
}

impl<'r> AlertIdentity<'r> {
    /// `None` when a rule label is a template: then the labels depend on
    /// rendering and only building them tells.
    pub fn of(group: &'r Group, rule: &'r Rule) -> Option<AlertIdentity<'r>> {
        let mut overlay: BTreeMap<&str, Option<&str>> = BTreeMap::new();
        for (k, v) in &group.labels {
            overlay.insert(k, Some(v));
        }
        for (k, t) in &rule.labels {
            let Template::Static(v) = t else {
                return None;
            };
            // Prometheus drops a label whose template expands to nothing.
            let dropped = v.is_empty() && rule.format == RuleFormat::Prometheus;
            overlay.insert(k, (!dropped).then_some(v.as_str()));
        }
        overlay.insert("alertname", Some(&rule.name));
        if rule.format == RuleFormat::Native {
            overlay.insert("severity", None);
        }
        Some(AlertIdentity {
            group: &group.name,
            overlay: overlay.into_iter().collect(),
        })
    }

    /// The fingerprint of the alert for a series with these labels.
    pub fn fingerprint(&self, series: &Labels) -> Fingerprint {
        let mut own = series
            .iter()
            .filter(|(k, _)| k.as_str() != "__name__")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .peekable();
        let mut over = self.overlay.iter().copied().peekable();
        let merged = std::iter::from_fn(move || {
            loop {
                let pick = match (own.peek(), over.peek()) {
                    (None, None) => return None,
                    (Some(_), None) => own.next(),
                    (Some((a, _)), Some((b, _))) if a < b => own.next(),
                    (Some((a, _)), Some((b, _))) => {
                        if a == b {
                            own.next();
                        }
                        over.next().and_then(|(k, v)| v.map(|v| (k, v)))
                    }
                    (None, Some(_)) => over.next().and_then(|(k, v)| v.map(|v| (k, v))),
                };
                if pick.is_some() {
                    return pick;
                }
            }
        });
        Fingerprint::of_alert_pairs(self.group, merged)
    }
}
