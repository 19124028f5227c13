//! The keys of `type: pagerduty` targets: the Events API v2 `routing_key`
//! (or `routing_key_file`; the 32-character integration key), `url` (the
//! Events API), `source`, `component`, `group`, `class` and `proxy`.

use crate::config::Secret;
use crate::config::target_keys::{Key, PROXY, TargetCheck};
use crate::yaml::SourceError;

pub const PAGERDUTY_EVENTS: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Debug, Clone)]
pub struct PagerDutyConfig {
    pub routing_key: Secret,
    pub url: String,
    pub source: String,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
}

pub const KEYS: &[Key] = &[
    Key::secret("routing_key"),
    Key::path("routing_key_file"),
    Key::secret("url"),
    Key::text("source"),
    Key::text("component"),
    Key::text("group"),
    Key::text("class"),
    PROXY,
];

pub fn check(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<PagerDutyConfig> {
    let key = t.required_secret("routing_key", errors);
    if let Some(k) = &key
        && k.expose().len() != 32
    {
        errors.push(t.secret_error(
            "routing_key",
            format!(
                "routing_key of target {:?} must be the 32-character integration key (got {} characters)",
                t.target(),
                k.expose().len()
            ),
        ));
    }
    let url = match t.keys.secret("url") {
        None => PAGERDUTY_EVENTS.to_string(),
        Some(u) => match reqwest::Url::parse(u.value.expose()) {
            Ok(p) if matches!(p.scheme(), "http" | "https") => u.value.expose().to_string(),
            _ => {
                errors.push(t.err(u, "expected an http(s) URL for the Events API"));
                PAGERDUTY_EVENTS.to_string()
            }
        },
    };
    Some(PagerDutyConfig {
        routing_key: key?,
        url,
        source: t.text_of("source").unwrap_or_else(|| "tocsin".to_string()),
        component: t.text_of("component"),
        group: t.text_of("group"),
        class: t.text_of("class"),
    })
}
