//! tocsin: a self-hosted alerting daemon.
//!
//! The pieces, in the order data flows through them (ARCHITECTURE.md has
//! the picture and the rules that keep the flow one way):
//! - [`alert`] is the model every other part shares: labels and
//!   fingerprints, severity, an alert and its state, transitions, matchers,
//!   silences. It depends on nothing else here.
//! - [`rules`] loads YAML rule files (native and Prometheus format) and validates
//!   them with `file:line:col` errors; [`config`] does the same for the daemon config.
//! - [`schedule`] runs each rule group on its interval or cron; [`clock`]
//!   notices steps of the wall clock.
//! - [`source`] answers the group's queries (Prometheus instant queries, and
//!   conditions or SQL over the [`heartbeat`] checks that clients ping).
//! - [`eval`] turns query results into alert state changes with a pure
//!   state machine (`eval::state`, the only place an alert's state changes),
//!   and hands them to the notification stage; it never routes.
//! - [`notify`]'s stage ([`notify::Pipeline`]) routes the transitions into
//!   outbox rows and commits them with the state in one transaction through
//!   [`store`]; its dispatcher delivers the rows with retries through one
//!   folder per channel (`notify::channels`).
//! - [`store`] is SQLite: tables, migrations, one transaction per commit. It
//!   knows tables, not rules or routing.
//! - [`http`] serves the API, pings, ingest, the status page and the
//!   operator console; [`signing`] holds the key its cookies and the
//!   acknowledge links in notifications are signed with.
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
pub mod i18n;
pub mod log_escape;
pub mod memory;
pub mod notify;
pub mod ping_client;
pub mod replica;
pub mod rules;
pub mod ruletest;
pub mod schedule;
pub mod signing;
pub mod source;
pub mod store;
pub mod template;
pub mod yaml;
