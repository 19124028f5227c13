//! The keys of `type: webhook` targets: `url` (or `url_file`), `method`
//! (POST, PUT, PATCH), `headers`, `payload` (`alertmanager` | `tocsin`) and
//! `proxy`.

use std::collections::BTreeMap;

use crate::config::Secret;
use crate::config::target_keys::{Key, PROXY, TargetCheck};
use crate::yaml::SourceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookPayload {
    /// Alertmanager's webhook JSON (version 4), several alerts per message.
    Alertmanager,
    /// tocsin's own JSON, one alert per message.
    Tocsin,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: Secret,
    pub method: reqwest::Method,
    pub headers: BTreeMap<String, Secret>,
    pub payload: WebhookPayload,
}

pub const KEYS: &[Key] = &[
    Key::secret("url"),
    Key::path("url_file"),
    Key::headers("headers"),
    Key::text("method"),
    Key::text("payload"),
    PROXY,
];

pub fn check(t: &TargetCheck, errors: &mut Vec<SourceError>) -> Option<WebhookConfig> {
    let headers = t.headers(errors);
    let url = t.url("url", errors);
    let method = match t.keys.text("method") {
        None => reqwest::Method::POST,
        Some(m) => match m.value.to_ascii_uppercase().as_str() {
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            "PATCH" => reqwest::Method::PATCH,
            other => {
                errors.push(t.err(
                    m,
                    format!("expected method POST, PUT or PATCH, got {other:?}"),
                ));
                reqwest::Method::POST
            }
        },
    };
    let payload = match t.keys.text("payload").map(|p| (p, p.value.as_str())) {
        None | Some((_, "alertmanager")) => WebhookPayload::Alertmanager,
        Some((_, "tocsin")) => WebhookPayload::Tocsin,
        Some((p, other)) => {
            errors.push(t.err(
                p,
                format!("expected payload alertmanager or tocsin, got {other:?}"),
            ));
            WebhookPayload::Alertmanager
        }
    };
    Some(WebhookConfig {
        url: url?,
        method,
        headers,
        payload,
    })
}
