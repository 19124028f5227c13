//! `events:`: how the job states a job platform posts to `POST /api/v1/events`
//! become alerts. Each state maps to a severity (the job's alert fires, or
//! changes level) or to `resolve` (the job's alert resolves, its notice
//! naming the state). A job's alert follows its state until the next post;
//! no timer ends it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer};

use crate::alert::Severity;
use crate::yaml::{self, SourceError, Spanned};

/// What a posted state does to its job's alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateAction {
    /// The alert fires at this level (or moves to it).
    Fire(Severity),
    /// The alert resolves; its resolved notice says the state.
    Resolve,
}

impl StateAction {
    pub fn parse(text: &str) -> Result<StateAction, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "resolve" => Ok(StateAction::Resolve),
            "warning" => Ok(StateAction::Fire(Severity::Warning)),
            "error" | "critical" => Ok(StateAction::Fire(Severity::Error)),
            other => Err(format!(
                "expected warning, error or resolve for a job state, got {other:?}"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for StateAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        StateAction::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The built-in table: Dinky's and Flink's job states.
const DEFAULT_STATES: &[(&str, StateAction)] = &[
    ("unknown", StateAction::Fire(Severity::Warning)),
    ("restarting", StateAction::Fire(Severity::Warning)),
    ("stop", StateAction::Fire(Severity::Error)),
    ("stopped", StateAction::Fire(Severity::Error)),
    ("cancel", StateAction::Fire(Severity::Error)),
    ("canceled", StateAction::Fire(Severity::Error)),
    ("cancelled", StateAction::Fire(Severity::Error)),
    ("failed", StateAction::Fire(Severity::Error)),
    ("finished", StateAction::Resolve),
    ("running", StateAction::Resolve),
];

/// `events:` in `tocsin.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// The name of the alert a job's state raises.
    pub alert: Spanned<String>,
    /// State (matched without regard to case) → `warning` | `error` |
    /// `resolve`. Written, it replaces the built-in table.
    pub states: BTreeMap<String, StateAction>,
    /// What a state missing from `states` does; without it such a post is
    /// refused (400).
    pub default: Option<StateAction>,
    /// A job that posts `finished` while not failing is notified as a
    /// firing-and-resolved pair of its alert (at warning), so that its
    /// route hears that it finished; off: it notifies nobody.
    pub notify_finished_without_failure: bool,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            alert: yaml::unspanned("JobState".to_string()),
            states: DEFAULT_STATES
                .iter()
                .map(|(s, a)| (s.to_string(), *a))
                .collect(),
            default: None,
            notify_finished_without_failure: false,
        }
    }
}

impl EventsConfig {
    /// What `state` does, if anything is configured for it.
    pub fn action(&self, state: &str) -> Option<StateAction> {
        self.states
            .get(&state.trim().to_ascii_lowercase())
            .copied()
            .or(self.default)
    }

    /// The states configured, for error messages.
    pub fn known(&self) -> String {
        self.states.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// Checks the alert name and makes the states lower-case.
    pub(super) fn validate(&mut self, file: &Path, errors: &mut Vec<SourceError>) {
        let name = &self.alert.value;
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            errors.push(SourceError::at(
                file,
                &self.alert,
                "expected events.alert to be an alert name ([a-zA-Z_][a-zA-Z0-9_]*)",
            ));
        }
        let mut states = BTreeMap::new();
        for (state, action) in std::mem::take(&mut self.states) {
            let lower = state.trim().to_ascii_lowercase();
            if lower.is_empty() {
                errors.push(SourceError::file(
                    file,
                    "events.states: a state has no name",
                ));
            } else if states.insert(lower.clone(), action).is_some() {
                errors.push(SourceError::file(
                    file,
                    format!(
                        "events.states: {state:?} is written twice (states are matched without regard to case)"
                    ),
                ));
            }
        }
        self.states = states;
        if self.states.is_empty() && self.default.is_none() {
            errors.push(SourceError::file(
                file,
                "events.states is empty and events.default unset: every job state would be refused",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn errors(text: &str) -> String {
        match Config::from_text(std::path::Path::new("tocsin.yaml"), text) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_map_dinky_states() {
        use super::StateAction::*;
        use crate::alert::Severity::*;
        let c = Config::default();
        assert_eq!(c.events.alert.value, "JobState");
        assert_eq!(c.events.action("unknown"), Some(Fire(Warning)));
        assert_eq!(c.events.action("CANCEL"), Some(Fire(Error)));
        assert_eq!(c.events.action("stop"), Some(Fire(Error)));
        assert_eq!(c.events.action("FINISHED"), Some(Resolve));
        assert_eq!(c.events.action("exploded"), None);
    }

    #[test]
    fn written_states_replace_the_table_and_default_applies() {
        use super::StateAction::*;
        use crate::alert::Severity::*;
        let c = Config::from_text(
            std::path::Path::new("tocsin.yaml"),
            "events:\n  alert: StreamJob\n  states: {Lost: error, done: resolve}\n  default: warning\n",
        )
        .unwrap();
        assert_eq!(c.events.alert.value, "StreamJob");
        assert_eq!(c.events.action("lost"), Some(Fire(Error)));
        assert_eq!(c.events.action("DONE"), Some(Resolve));
        assert_eq!(c.events.action("unknown"), Some(Fire(Warning)), "default");
        assert_eq!(c.events.action("finished"), Some(Fire(Warning)), "replaced");
    }

    #[test]
    fn bad_events_config_is_positioned() {
        let got = errors("events:\n  states:\n    stop: fatal\n");
        assert!(
            got.starts_with("tocsin.yaml:3:11: expected warning, error or resolve for a job state, got \"fatal\""),
            "{got}"
        );
        let got = errors("events:\n  alert: \"job state\"\n");
        assert!(
            got.starts_with("tocsin.yaml:2:10: expected events.alert to be an alert name"),
            "{got}"
        );
        let got = errors("events:\n  state: {}\n");
        assert!(
            got.contains("tocsin.yaml:2:3: unknown field `state`"),
            "{got}"
        );
        let got = errors("events:\n  states: {stop: error, STOP: warning}\n");
        assert!(got.contains("is written twice"), "{got}");
    }
}
