//! The Healthchecks Management API v3 (healthchecks.io/docs/api), so that
//! Healthchecks clients (the `healthchecks-io` Python package, the Terraform
//! provider, scripts) manage tocsin's heartbeat checks:
//!
//! - `GET|POST /api/v3/checks/`: list (`?tag=`, `?slug=`), create (201;
//!   200 when `unique` finds the check, which is then updated);
//! - `GET|POST|DELETE /api/v3/checks/{uuid}`: read (also by `unique_key`),
//!   update (omitted fields stay), delete;
//! - `POST .../pause`, `POST .../resume` (409 when not paused);
//! - `GET .../pings/`, `GET .../pings/{n}/body`, `GET .../flips/`
//!   (`?seconds=`, `?start=`, `?end=`);
//! - `GET /api/v3/channels/` (the configured targets), `GET /api/v3/badges/`
//!   (with the badges themselves under `/badge/`).
//!
//! The key is `X-Api-Key` (or `api_key` in a JSON body): the config's
//! `api_token` reads and writes, `heartbeat.read_only_api_key` only reads
//! (answers without uuids and URLs, with `unique_key`). Without an
//! `api_token` the API is open, like tocsin's other write endpoints. A
//! missing key is 401 `missing api key`, a wrong one 401 `wrong api key`;
//! nothing is changed then. Errors are Healthchecks' `{"error": "..."}`:
//! 400 for a body that is not JSON (`could not parse request body`) or does
//! not validate (`json validation error: timeout is too small`...), 404 for
//! an unknown check, 403 for a check declared in a rule file (listed,
//! pausable, but changed only in its file) or past `heartbeat.max_checks`,
//! 409 for a name or slug another check has (both are unique in tocsin).
//!
//! Checks made here are durable like `?create=1` ones, keep their own
//! settings across restarts, and take labels from `key=value` tags (on top
//! of their template's), so that vault and client labels reach routing.
//! Their `ping_url` is `external_url` (or the listen address) + `/ping/{uuid}`
//! and works at once. Every change goes through the ping writer (one SQLite
//! transaction, on a blocking thread); reads come from memory and the
//! read-only connection.
//!
//! This file holds the routes, the key check and the errors; `checks.rs`
//! the check endpoints, `spec.rs` the body of a create or update,
//! `json.rs` how Healthchecks shows a check, `badges.rs` the integrations
//! list and the badges.

mod badges;
mod checks;
mod json;
mod spec;

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::AppState;
use crate::heartbeat::registry::{Check, CheckDef, CheckExtra, Origin};
use crate::heartbeat::state::Status;
use crate::heartbeat::writer::{Ack, WriteError};
use crate::rules::Schedule;
use badges::*;
use checks::*;
use json::*;
use spec::*;

/// Largest request body read (Healthchecks' specs are small).
const MAX_BODY: usize = 64 << 10;
/// Healthchecks' bounds for `timeout` and `grace`, in seconds.
const MIN_SECONDS: i64 = 60;
const MAX_SECONDS: i64 = 31_536_000;

pub fn routes() -> Router<AppState> {
    let checks = get(list).post(create).options(preflight);
    let single = get(get_one).post(update).delete(delete).options(preflight);
    Router::new()
        .route("/api/v3/checks/", checks.clone())
        .route("/api/v3/checks", checks)
        .route("/api/v3/checks/{key}", single.clone())
        .route("/api/v3/checks/{key}/", single)
        .route(
            "/api/v3/checks/{key}/pause",
            post(set_paused::<true>).options(preflight),
        )
        .route(
            "/api/v3/checks/{key}/resume",
            post(set_paused::<false>).options(preflight),
        )
        .route("/api/v3/checks/{key}/pings/", get(pings).options(preflight))
        .route(
            "/api/v3/checks/{key}/pings/{n}/body",
            get(ping_body).options(preflight),
        )
        .route("/api/v3/checks/{key}/flips/", get(flips).options(preflight))
        .route("/api/v3/channels/", get(channels).options(preflight))
        .route("/api/v3/badges/", get(badges).options(preflight))
        .route("/badge/{states}/{file}", get(tag_badge))
        .route("/badge/check/{file}", get(check_badge))
        .layer(axum::middleware::map_response(cors))
}

/// Why a request is refused, answered as `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("missing api key")]
    MissingKey,
    #[error("wrong api key")]
    WrongKey,
    #[error("could not parse request body")]
    Unparsable,
    #[error("json validation error: {0}")]
    Invalid(String),
    /// A 400 in Healthchecks' words (a query parameter, a channel).
    #[error("{0}")]
    BadQuery(String),
    #[error("not found")]
    NotFound,
    /// A check of the rule files: changed there, not here.
    #[error(
        "check {0:?} is declared in a rule file: change or remove it there (the API can pause and resume it)"
    )]
    Declared(String),
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Conflict(String),
    #[error("check is not paused")]
    NotPaused,
    #[error("not recorded, try again: {0}")]
    Unavailable(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingKey | ApiError::WrongKey => StatusCode::UNAUTHORIZED,
            ApiError::Unparsable | ApiError::Invalid(_) | ApiError::BadQuery(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Declared(_) | ApiError::Limit(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) | ApiError::NotPaused => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({"error": self.to_string()}))).into_response()
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> ApiError {
        match e {
            WriteError::NoSuchCheck => ApiError::NotFound,
            WriteError::NotPaused => ApiError::NotPaused,
            WriteError::Taken(why) => ApiError::Conflict(why),
            e @ WriteError::TooManyChecks(_) => ApiError::Limit(e.to_string()),
            e @ (WriteError::Store(_) | WriteError::Stopped) => {
                ApiError::Unavailable(e.to_string())
            }
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// What the presented key allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    ReadOnly,
}

/// Checks `X-Api-Key` (or `api_key` in the body) against `api_token` and
/// `heartbeat.read_only_api_key`; `write` requests need the former.
fn authorize(
    s: &AppState,
    headers: &HeaderMap,
    body: Option<&Map<String, Value>>,
    write: bool,
    method: &Method,
    what: &str,
) -> Result<Access, ApiError> {
    let presented = match headers.get("x-api-key") {
        Some(v) => v.to_str().unwrap_or_default().to_string(),
        None => body
            .and_then(|b| b.get("api_key"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    };
    let read_only = s.heartbeats.read_only_api_key().is_some_and(|k| {
        crate::signing::constant_time_eq(k.expose().as_bytes(), presented.as_bytes())
    });
    let verdict = match s.token.matches(&presented) {
        // No api_token: open, as tocsin's other write endpoints.
        None if read_only && !write => Ok(Access::ReadOnly),
        None if read_only => Err(ApiError::WrongKey),
        None => Ok(Access::ReadWrite),
        Some(_) if presented.is_empty() => Err(ApiError::MissingKey),
        Some(true) => Ok(Access::ReadWrite),
        Some(false) if read_only && !write => Ok(Access::ReadOnly),
        Some(false) => Err(ApiError::WrongKey),
    };
    if let Err(e) = &verdict {
        // Never the key itself.
        tracing::warn!(%method, endpoint = what, reason = %e, "Healthchecks API request refused");
    }
    verdict
}

/// The JSON object of a POST body (an empty body is an empty object).
fn parse_body(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if body.len() > MAX_BODY {
        return Err(ApiError::Invalid("the body is too long".into()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::Invalid("the body is not an object".into())),
        Err(_) => Err(ApiError::Unparsable),
    }
}

/// Where ping and API URLs point: `external_url`, the listen address, or
/// (listening on every address) the request's `Host`.
fn base_url(s: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = s.heartbeats.public_url() {
        return url;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("127.0.0.1:9750");
    format!("http://{host}")
}

/// The check `key` names: its uuid, or its `unique_key` (read-only keys).
fn find(s: &AppState, key: &str) -> Result<Check, ApiError> {
    if let Some(uuid) = crate::heartbeat::pattern::parse_canonical_uuid(key) {
        return s.heartbeats.by_uuid(&uuid).ok_or(ApiError::NotFound);
    }
    if key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return s
            .heartbeats
            .checks()
            .into_iter()
            .find(|c| unique_key(&c.def.uuid) == key)
            .ok_or(ApiError::NotFound);
    }
    Err(ApiError::NotFound)
}

fn ok(status: StatusCode, v: Value) -> Response {
    (status, Json(v)).into_response()
}

/// CORS as Healthchecks sends it, on every answer of this API.
async fn cors(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("X-Api-Key"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    r
}

// ---- checks ----

// ---- pings and flips ----

// ---- channels and badges ----

// ---- the check spec of create and update ----

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_django() {
        assert_eq!(slugify("Backups prod!"), "backups-prod");
        assert_eq!(slugify("  db1 -- nightly_run "), "db1-nightly_run");
        assert_eq!(slugify("_x_"), "x");
        assert_eq!(slugify("ÄÖ"), "");
    }

    #[test]
    fn schedules_show_in_five_fields_when_their_seconds_are_zero() {
        assert_eq!(hc_schedule("0 15 5 * * *"), "15 5 * * *");
        assert_eq!(hc_schedule("30 15 5 * * *"), "30 15 5 * * *");
    }

    #[test]
    fn specs_validate_like_healthchecks() {
        let parse = |v: Value| match v {
            Value::Object(m) => Spec::parse(&m).map(|_| ()).map_err(|e| e.to_string()),
            _ => unreachable!(),
        };
        assert!(
            parse(json!({"name": "a", "timeout": 60, "grace": 31536000, "unique": ["name"]}))
                .is_ok()
        );
        assert!(parse(json!({"schedule": "15 5 * * *", "tz": "Europe/Berlin"})).is_ok());
        for (body, want) in [
            (
                json!({"timeout": 59}),
                "json validation error: timeout is too small",
            ),
            (
                json!({"grace": 31536001}),
                "json validation error: grace is too large",
            ),
            (
                json!({"timeout": "60"}),
                "json validation error: timeout is not a number",
            ),
            (
                json!({"timeout": 60.5}),
                "json validation error: timeout is not a number",
            ),
            (
                json!({"name": null}),
                "json validation error: name is not a string",
            ),
            (
                json!({"slug": "Not OK"}),
                "json validation error: slug does not match pattern",
            ),
            (
                json!({"tz": "Mars/Olympus"}),
                "json validation error: tz is not a valid timezone",
            ),
            (
                json!({"schedule": "61 * * * *"}),
                "json validation error: schedule is not a valid cron",
            ),
            (
                json!({"unique": ["uuid"]}),
                "json validation error: an item in 'unique' has unexpected value",
            ),
            (
                json!({"unique": "name"}),
                "json validation error: unique is not an array",
            ),
            (
                json!({"methods": "PUT"}),
                "json validation error: methods has unexpected value",
            ),
            (
                json!({"filter_body": 1}),
                "json validation error: filter_body is not a boolean",
            ),
        ] {
            let got = parse(body.clone()).unwrap_err();
            assert!(got.starts_with(want), "{body}: {got}");
        }
        assert!(matches!(
            parse_body(&Bytes::from_static(b"{nope")),
            Err(ApiError::Unparsable)
        ));
        assert!(parse_body(&Bytes::from_static(b"")).unwrap().is_empty());
        assert!(matches!(
            parse_body(&Bytes::from_static(b"[1]")),
            Err(ApiError::Invalid(_))
        ));
    }

    #[test]
    fn keys_and_ids_are_stable_and_hide_the_uuid() {
        let u = Uuid::new_v4();
        let k = unique_key(&u);
        assert_eq!(k.len(), 40);
        assert_eq!(k, unique_key(&u));
        assert!(!k.contains(&u.as_simple().to_string()[..8]));
        assert_eq!(channel_id("ops"), channel_id("ops"));
        assert!(Uuid::parse_str(&channel_id("ops")).is_ok());
        assert_eq!(encode_path("vault=prod"), "vault=prod");
        assert_eq!(encode_path("a/b c"), "a%2Fb%20c");
    }
}
