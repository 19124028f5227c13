//! Alertmanager's API v2, as its `api/v2/openapi.yaml` defines it, so that
//! amtool, karma and Grafana's Alertmanager data source work against tocsin
//! unchanged. It reads and changes tocsin's own state:
//! - [`alerts`]: `GET /api/v2/alerts` and `GET /api/v2/alerts/groups`, the
//!   firing alerts of rules and of `POST /api/v2/alerts` alike;
//! - [`silences`]: `GET|POST /api/v2/silences`, `GET|DELETE
//!   /api/v2/silence/{id}`, the same silences as `/api/v1/silences` and
//!   `tocsin silence`;
//! - [`status`]: `GET /api/v2/status` (the routing written as an
//!   Alertmanager config by [`config_yaml`]), `GET /api/v2/receivers`,
//!   `/-/healthy` and `/-/ready`.
//!
//! `POST /api/v2/alerts` is [`super::ingest`]. A bad query or body is a 400
//! whose body is a JSON string saying why, as Alertmanager answers; writes
//! need the `api_token` like every write ([`super::auth`]).

pub mod alerts;
pub mod config_yaml;
pub mod silences;
pub mod status;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use crate::alert::matcher::Matcher;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/alerts", get(alerts::list))
        .route("/api/v2/alerts/groups", get(alerts::groups))
        .route("/api/v2/silences", get(silences::list).post(silences::post))
        .route(
            "/api/v2/silence/{id}",
            get(silences::get_one).delete(silences::delete),
        )
        .route("/api/v2/status", get(status::status))
        .route("/api/v2/receivers", get(status::receivers))
        .route("/-/healthy", get(status::healthy).head(status::healthy))
        .route("/-/ready", get(status::ready).head(status::ready))
}

/// Alertmanager's error answer: the status and a JSON string.
pub(crate) fn failure(status: StatusCode, why: impl Into<String>) -> Response {
    (status, Json(serde_json::Value::String(why.into()))).into_response()
}

/// A query string's parameters, repeated ones kept (`filter=a&filter=b`).
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The last value given for `name`.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`true`/`false`, also `1`/`0`), `default` when absent.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.one(name) {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "t" => Ok(true),
                "false" | "0" | "f" => Ok(false),
                other => Err(format!(
                    "{name}: {other:?} is not a boolean (expected true or false)"
                )),
            },
        }
    }

    /// The `filter` matchers (`alertname="X"`, `vault=~"v-.*"`).
    pub fn filter(&self) -> Result<Vec<Matcher>, String> {
        self.all("filter")
            .map(|f| Matcher::parse(f).map_err(|e| format!("bad matcher format: {f:?}: {e}")))
            .collect()
    }

    /// `receiver`: a regex the name of one of an alert's receivers must
    /// match whole.
    pub fn receiver(&self) -> Result<Option<regex::Regex>, String> {
        self.one("receiver")
            .filter(|r| !r.is_empty())
            .map(|r| {
                regex::Regex::new(&format!("^(?:{r})$"))
                    .map_err(|e| format!("failed to parse receiver param: {e}"))
            })
            .transpose()
    }
}

/// Alertmanager's time format: RFC 3339 with milliseconds, in UTC.
pub(crate) fn am_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_filters_and_flags() {
        let p = Params::parse(Some(
            "filter=alertname%3D%22Disk%22&filter=vault%3D~%22v-.%2A%22&active=false&receiver=ops.*",
        ));
        let f = p.filter().unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].to_string(), "alertname=\"Disk\"");
        assert_eq!(f[1].to_string(), "vault=~\"v-.*\"");
        assert!(!p.flag("active", true).unwrap());
        assert!(p.flag("silenced", true).unwrap());
        assert!(p.receiver().unwrap().unwrap().is_match("ops-dingtalk"));
        assert!(!p.receiver().unwrap().unwrap().is_match("dev-ops"));
    }

    #[test]
    fn bad_parameters_say_why() {
        let p = Params::parse(Some("filter=al%21%21ert&active=maybe&receiver=%28"));
        assert!(p.filter().unwrap_err().starts_with("bad matcher format"));
        assert!(
            p.flag("active", true)
                .unwrap_err()
                .contains("not a boolean")
        );
        assert!(
            p.receiver()
                .unwrap_err()
                .starts_with("failed to parse receiver param")
        );
    }
}
