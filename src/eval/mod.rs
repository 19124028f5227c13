//! Turning query results into alert state changes. Evaluation produces
//! transitions and hands them to the notification stage
//! ([`crate::notify::Pipeline`]); it never routes and never sends.
//!
//! - [`state`]: the per-alert state machine (pure): the only place an
//!   alert's state changes.
//! - [`rule`]: one rule's evaluation: labels, no-data/error policies (pure).
//! - `identity`: which alert a series is, without building its labels.
//! - [`batch`]: one query for rules that differ in one label matcher.
//! - [`template_query`]: templates that call `query`, on the blocking pool.
//! - [`engine`]: the running engine: alerts in memory, rule health, one
//!   commit per group evaluation, `DatasourceUnavailable`, external alerts,
//!   reloads.
//! - [`recording`]: recording rules, written through [`remote_queue`].

pub mod batch;
pub mod engine;
mod identity;
pub mod recording;
pub mod remote_queue;
pub mod rule;
pub mod state;
pub mod template_query;

#[cfg(test)]
mod tests;

pub use engine::events;
pub use engine::external;
pub use engine::{Engine, GroupStatus, RuleKind, RuleStatus};
pub use rule::{QueryOutcome, RuleAlerts, RuleEnv, RuleUpdate, evaluate_rule};
pub use state::{Observation, Step, step};
