//! tocsin: a self-hosted alerting daemon.
//!
//! The pieces, in the order data flows through them:
//! - [`rules`] loads YAML rule files (native and Prometheus format) and validates
//!   them with `file:line:col` errors; [`config`] does the same for the daemon config.
//! - [`schedule`] runs each rule group on its interval or cron; [`clock`]
//!   notices steps of the wall clock.
//! - [`source`] answers the group's queries (Prometheus instant queries, and
//!   conditions or SQL over the [`heartbeat`] checks that clients ping).
//! - [`eval`] turns query results into alert state transitions (pending, firing,
//!   resolved, escalation) with a pure state machine.
//! - [`store`] persists state, transitions and the notification outbox in SQLite,
//!   all in one transaction per evaluation.
//! - [`notify`] routes transitions to targets and delivers outbox rows with retries.
//! - [`http`] serves the JSON API and health endpoints.
//! - [`daemon`] wires them together for `tocsin run`; [`memory`] hands freed
//!   heap pages back to the system.
//! - [`ping_client`] is `tocsin ping`: a backup client wrapping its command
//!   in start and exit-code pings.

pub mod alert;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod eval;
pub mod heartbeat;
pub mod http;
pub mod http_client;
// MOVED: re-export until the paths are updated
pub use alert::labels;
pub mod log_escape;
pub mod memory;
pub mod notify;
pub mod ping_client;
pub mod rules;
pub mod ruletest;
pub mod schedule;
pub mod source;
pub mod store;
pub mod template;
pub mod yaml;
