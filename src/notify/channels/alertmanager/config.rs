//! The keys of `type: alertmanager` targets: the base `url` (or
//! `url_file`), `headers` and `proxy`.

use std::collections::BTreeMap;

use crate::config::Secret;
use crate::config::target_keys::{Key, PROXY, TargetCheck};
use crate::yaml::SourceError;

#[derive(Debug, Clone)]
pub struct AlertmanagerConfig {
    /// Base URL of Alertmanager; alerts go to `<url>/api/v2/alerts`.
    pub url: Secret,
    pub headers: BTreeMap<String, Secret>,
}

pub const KEYS: &[Key] = &[
    Key::secret("url"),
    Key::path("url_file"),
    Key::headers("headers"),
    PROXY,
];

pub fn check(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<AlertmanagerConfig> {
    let headers = t.headers(errors);
    let url = t.url("url", errors);
    Some(AlertmanagerConfig { url: url?, headers })
}
