//! Label sets and the fingerprint that identifies an alert.
//!
//! The fingerprint is Prometheus's: FNV-1a 64 over the sorted label names and
//! values, each followed by a 0xFF byte, printed as 16 hex digits. An alert's
//! identity is its rule group plus its complete label set, as in Prometheus
//! and Alertmanager (`severity` included). Native rules with severity levels
//! keep one alert across levels by leaving `severity` out of the labels they
//! store (it is added when the alert is sent, see `AlertInstance::output_labels`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub type Labels = BTreeMap<String, String>;

const FNV_OFFSET: u64 = 0xcbf29ce484222325;
const FNV_PRIME: u64 = 0x100000001b3;
const SEPARATOR: u8 = 0xff;

/// Whether `name` is a Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A stable 64-bit alert identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// Prometheus's label-set fingerprint (`model.LabelSet.Fingerprint`).
    pub fn of_labels(labels: &Labels) -> Fingerprint {
        let mut h = FNV_OFFSET;
        for (k, v) in labels {
            h = fnv(h, k.as_bytes());
            h = fnv(h, &[SEPARATOR]);
            h = fnv(h, v.as_bytes());
            h = fnv(h, &[SEPARATOR]);
        }
        Fingerprint(h)
    }

    /// The identity of an alert: its group and all its labels.
    pub fn of_alert(group: &str, labels: &Labels) -> Fingerprint {
        Fingerprint::of_alert_pairs(group, labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// [`Fingerprint::of_alert`] over label pairs given in name order.
    pub fn of_alert_pairs<'a>(
        group: &str,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Fingerprint {
        let mut h = fnv(FNV_OFFSET, group.as_bytes());
        h = fnv(h, &[SEPARATOR]);
        for (k, v) in labels {
            h = fnv(h, k.as_bytes());
            h = fnv(h, &[SEPARATOR]);
            h = fnv(h, v.as_bytes());
            h = fnv(h, &[SEPARATOR]);
        }
        Fingerprint(h)
    }
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.to_string()
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        u64::from_str_radix(&s, 16)
            .map(Fingerprint)
            .map_err(|_| format!("not a fingerprint: {s:?}"))
    }
}

/// A label set from pairs (for tests).
#[cfg(test)]
pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::from_pairs as labels;
    use super::*;

    #[test]
    fn empty_label_set_is_the_offset_basis() {
        assert_eq!(Fingerprint::of_labels(&Labels::new()).0, FNV_OFFSET);
    }

    #[test]
    fn matches_prometheus_reference_value() {
        // prometheus/common model/signature_test.go, TestLabelsToSignature.
        let fp = Fingerprint::of_labels(&labels(&[
            ("name", "garland, briggs"),
            ("fear", "love is not enough"),
        ]));
        assert_eq!(fp.0, 5799056148416392346);
    }

    #[test]
    fn alert_identity_is_group_and_every_label_severity_included() {
        // The warning/critical pair of one alert name is two alerts.
        let a = labels(&[("alertname", "X"), ("severity", "warning")]);
        let b = labels(&[("alertname", "X"), ("severity", "critical")]);
        assert_ne!(
            Fingerprint::of_alert("g", &a),
            Fingerprint::of_alert("g", &b)
        );
        assert_ne!(
            Fingerprint::of_alert("g", &a),
            Fingerprint::of_alert("h", &a)
        );
    }

    #[test]
    fn round_trips_through_hex() {
        let fp = Fingerprint(0x00ab_cdef_0123_4567);
        assert_eq!(fp.to_string(), "00abcdef01234567");
        assert_eq!(Fingerprint::try_from(fp.to_string()).unwrap(), fp);
    }
}
