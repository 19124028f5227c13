//! Rule files: the YAML model ([`file`](mod@file)), validation with `file:line:col`
//! errors ([`load`]) and the validated rules the engine runs ([`model`]);
//! [`heartbeat`] holds the heartbeat checks and the `heartbeat:` rule key.

pub mod condition;
pub mod file;
pub mod heartbeat;
pub mod load;
pub mod model;
pub mod position;
pub mod promql;
mod recording;
pub mod schedule;
pub mod severity;
pub mod text;

#[cfg(test)]
mod tests;

pub use condition::Condition;
pub use load::{LoadOptions, load_rules, load_sources};
pub use model::{ErrorPolicy, Group, NoDataPolicy, RecordingRule, Rule, RuleSet, RuleSource};
pub use schedule::Schedule;
