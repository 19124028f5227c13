//! An acknowledgement: someone took a firing alert. Its repeats stop until
//! it resolves, or escalates past the severity it had when it was taken.

use chrono::{DateTime, Utc};

use super::{Fingerprint, Severity};

#[derive(Debug, Clone, PartialEq)]
pub struct Acknowledgement {
    pub fingerprint: Fingerprint,
    /// Who took it, as they gave their name.
    pub by: String,
    pub at: DateTime<Utc>,
    /// The alert's severity when it was taken.
    pub severity: Severity,
    pub comment: String,
}

impl Acknowledgement {
    /// Whether it still holds for an alert now at `severity`: an alert that
    /// escalated is nobody's until someone takes it again.
    pub fn holds(&self, severity: Severity) -> bool {
        severity <= self.severity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escalation_ends_it() {
        let a = Acknowledgement {
            fingerprint: Fingerprint(1),
            by: "li".into(),
            at: Utc::now(),
            severity: Severity::Warning,
            comment: String::new(),
        };
        assert!(a.holds(Severity::Warning));
        assert!(!a.holds(Severity::Error));
        let e = Acknowledgement {
            severity: Severity::Error,
            ..a
        };
        assert!(
            e.holds(Severity::Warning),
            "a de-escalated alert stays taken"
        );
    }
}
