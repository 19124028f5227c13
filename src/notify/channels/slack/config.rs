//! The keys of `type: slack` targets: the incoming webhook's URL
//! (`webhook` or `webhook_file`) and `proxy`.

use crate::config::Secret;
use crate::config::target_keys::{Key, PROXY, TargetCheck};
use crate::yaml::SourceError;

#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub webhook: Secret,
}

pub const KEYS: &[Key] = &[Key::secret("webhook"), Key::path("webhook_file"), PROXY];

pub fn check(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<SlackConfig> {
    Some(SlackConfig {
        webhook: t.url("webhook", errors)?,
    })
}
