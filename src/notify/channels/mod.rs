//! The notification channels, one folder each, behind one interface
//! ([`Notifier`]: render a batch of [`AlertMessage`](super::message::AlertMessage)s → build the request →
//! send it → classify the answer as [`Delivery::Sent`], [`Delivery::Retry`] or
//! [`Delivery::Failed`]). A channel's folder owns all of it: its YAML keys,
//! their checks and its typed settings (`config.rs`), its limits (alerts per
//! message, [`Notifier::max_batch`]; sends per time, [`Notifier::rate_limits`]:
//! the dispatcher waits for them, keeping rows queued in the outbox, never
//! dropping), its rendering, request and classification (`mod.rs`, with
//! `payload.rs` / provider files where they are big). Request building and
//! classification are kept apart so they are tested without a network.
//! Each channel's `mod.rs` doc says its specifics (signing, limits, error
//! codes).
//!
//! To add a channel:
//! 1. Create `channels/<name>/`: `config.rs` with the settings struct, its
//!    keys (`&[Key]`) and `check` (read the keys through
//!    `config::target_keys::TargetCheck`), and `mod.rs` with the
//!    channel — an [`http_target::HttpChannel`] impl for one HTTP request
//!    per send, else a [`Notifier`] impl — and its `pub const <NAME>:
//!    ChannelType<Settings>` (name, aliases, keys, check, build).
//! 2. Add one line to the table below: `mod <name> { <Variant>(<Settings>) =
//!    <NAME> }`.
//!
//! That is all: config loading, `TargetKind`, the key checks ("not a key of
//! ... targets") and the dispatcher find it through the table. A key whose
//! value has a YAML shape no channel used before also needs a line in
//! `shapes!` (`config/target_keys.rs`).

pub mod http;
pub mod http_target;
mod notifier;
pub mod registry;

pub use http::{HttpAnswer, classify_http, excerpt, parse_retry_after};
pub(crate) use http::{classify_errcode, errcode_answer, execute, http_client};
pub(crate) use notifier::batch_limit;
pub use notifier::{Channel, ChannelError, Delivery, Notifier, RateLimit, Sending};

// The channel table. Its order is the order of the type list and of the key
// list in config errors.
registry::channels! {
    mod webhook { Webhook(WebhookConfig) = WEBHOOK }
    mod alertmanager { Alertmanager(AlertmanagerConfig) = ALERTMANAGER }
    mod dingtalk { DingTalk(DingTalkConfig) = DINGTALK }
    mod wecom { WeCom(WeComConfig) = WECOM }
    mod wecom_app { WeComApp(WeComAppConfig) = WECOM_APP }
    mod feishu { Feishu(FeishuConfig) = FEISHU }
    mod slack { Slack(SlackConfig) = SLACK }
    mod email { Email(EmailConfig) = EMAIL }
    mod pagerduty { PagerDuty(PagerDutyConfig) = PAGERDUTY }
    mod sms { Sms(PhoneConfig) = SMS, Call(PhoneConfig) = CALL }
}
