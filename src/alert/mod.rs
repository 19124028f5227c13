//! The alert model, shared by evaluation, storage, routing and the HTTP API
//! and owned by none of them. It has no I/O and depends on nothing else in
//! the crate.
//!
//! - [`labels`]: label sets, the fingerprint that identifies an alert, label names.
//! - [`severity`]: `warning` and `error`.
//! - [`acknowledgement`]: someone took a firing alert.
//! - [`instance`]: one alert, its state and what it carries when sent.
//! - [`transition`]: what changed about an alert ([`AlertEvent`]).
//! - [`changes`]: everything one step of the engine changes, committed at once.
//! - [`matcher`]: Alertmanager's label matchers.
//! - [`silence`]: a silence.
//! - [`sample`]: one series of a query result.
//! - [`text`]: the languages of texts, and an alert's texts in the second one.

pub mod acknowledgement;
pub mod changes;
pub mod instance;
pub mod labels;
pub mod matcher;
pub mod sample;
pub mod severity;
pub mod silence;
pub mod text;
pub mod transition;

pub use acknowledgement::Acknowledgement;
pub use changes::StateChanges;
pub use instance::{AlertInstance, AlertState, RuleFormat, sent_annotations};
pub use labels::{Fingerprint, Labels, valid_label_name};
pub use matcher::Matcher;
pub use sample::Sample;
pub use severity::Severity;
pub use silence::Silence;
pub use text::{AlertTexts, Language, OUTPUT_MAX_BYTES, keep_tail};
pub use transition::{AlertEvent, Transition};
