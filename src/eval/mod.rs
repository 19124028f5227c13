//! Turning query results into alert state.
//!
//! - [`state`]: the per-alert state machine (pure).
//! - [`rule`]: one rule's evaluation: labels, no-data/error policies (pure).
//! - [`engine`]: the running engine: alerts in memory, rule health, one
//!   transaction per group evaluation, `DatasourceUnavailable`.
//! - [`recording`]: recording rules, written through [`remote_queue`].

pub mod batch;
pub mod engine;
pub mod external;
pub mod recording;
pub mod remote_queue;
pub mod rule;
pub mod state;
pub mod template_query;

#[cfg(test)]
mod tests;

pub use engine::{Engine, GroupStatus, RuleKind, RuleStatus};
pub use rule::{QueryOutcome, RuleEnv, RuleUpdate, evaluate_rule};
pub use state::{Observation, Step, step};
// MOVED: re-export until the paths are updated
pub use crate::alert::{AlertEvent, AlertInstance, AlertState, Transition};
