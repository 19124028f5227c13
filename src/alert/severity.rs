//! How bad an alert is: `warning` or `error`, and how the `severity` label
//! of a Prometheus rule or a posted alert maps onto them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad an alert is. Ordered: `Error` > `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// Native rule files accept only the two levels (and `critical` as error).
    pub fn parse_native(text: &str) -> Result<Severity, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "warning" => Ok(Severity::Warning),
            "error" | "critical" => Ok(Severity::Error),
            other => Err(format!(
                "expected severity warning or error (or a map {{warning: \"> N\", error: \"> M\"}}), got {other:?}"
            )),
        }
    }

    /// The `severity` label of a Prometheus rule: anything that pages is an
    /// error, everything else a warning, so no alert is ever dropped.
    pub fn from_prometheus_label(text: &str) -> Severity {
        match text.trim().to_ascii_lowercase().as_str() {
            "critical" | "page" | "error" | "fatal" | "emergency" | "alert" | "high" | "p1" => {
                Severity::Error
            }
            _ => Severity::Warning,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
