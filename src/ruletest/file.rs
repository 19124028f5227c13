//! The YAML of a rule unit-test file, as written.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::yaml::{HumanDuration, Spanned};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Rule files or folders, relative to this file.
    pub rule_files: Vec<Spanned<String>>,
    /// How often every group is evaluated in the simulation (default 1m).
    pub evaluation_interval: Option<HumanDuration>,
    pub tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    #[serde(default)]
    pub name: String,
    /// Spacing of the input values (default: the evaluation interval).
    pub interval: Option<HumanDuration>,
    #[serde(default)]
    pub input: Vec<RuleInput>,
    pub expect: Vec<Expectation>,
}

/// What a rule's query returns over time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// The alert name of the rule whose query is mocked.
    pub rule: Spanned<String>,
    #[serde(default)]
    pub series: Vec<SeriesInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesInput {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Expanding notation: `1 2 3`, `5x3`, `1+2x3`, `_`, `_x2`.
    pub values: Spanned<String>,
}

/// The alerts of one name that must be firing at a time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub at: Spanned<HumanDuration>,
    pub alert: Spanned<String>,
    /// Empty: nothing of that name is firing.
    #[serde(default)]
    pub firing: Vec<ExpectedAlert>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Clone)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAlert {
    /// Exactly the alert's labels, without `alertname` and `severity`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub severity: Option<String>,
    pub message: Option<String>,
    pub resolution: Option<String>,
    /// The Chinese texts (a target with `language: zh` gets these; the
    /// main text when the rule gave one only).
    pub message_zh: Option<String>,
    pub resolution_zh: Option<String>,
}
