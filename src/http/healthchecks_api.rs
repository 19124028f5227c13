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
        crate::heartbeat::constant_time_eq(k.expose().as_bytes(), presented.as_bytes())
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

/// A stable key for read-only clients that does not reveal the check's uuid
/// (its ping key): 40 hex digits of a SHA-256 of it.
fn unique_key(uuid: &Uuid) -> String {
    let digest = Sha256::digest(uuid.as_simple().to_string().as_bytes());
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

/// A target's integration id: a UUID derived from its name (stable across
/// restarts, as tocsin's targets have no ids of their own).
fn channel_id(name: &str) -> String {
    let digest = Sha256::digest(format!("tocsin-target:{name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Healthchecks' integration kinds for tocsin's target types.
fn channel_kind(type_name: &str) -> &str {
    match type_name {
        "pagerduty" => "pd",
        other => other,
    }
}

/// `2020-03-24T14:02:03+00:00` (Healthchecks drops the microseconds).
fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// Healthchecks' status of a check.
fn hc_status(c: &Check, now: DateTime<Utc>) -> &'static str {
    match c.state.status(c.def.grace, now) {
        Status::New => "new",
        Status::Up => "up",
        Status::Late => "grace",
        Status::Down | Status::Failed => "down",
        Status::Running => "started",
        Status::Paused => "paused",
    }
}

/// A 6-field (seconds first) cron expression as Healthchecks' 5 fields
/// when its seconds are 0; otherwise as it is.
fn hc_schedule(expr: &str) -> String {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    match fields.split_first() {
        Some((&"0", rest)) if rest.len() == 5 => rest.join(" "),
        _ => expr.to_string(),
    }
}

/// One check as Healthchecks shows it.
fn check_json(c: &Check, now: DateTime<Utc>, base: &str, access: Access) -> Value {
    let (d, st) = (&c.def, &c.state);
    let status = hc_status(c, now);
    let next_ping = match status {
        "up" | "grace" | "started" => st.due_at.map(iso),
        _ => None,
    };
    let ukey = unique_key(&d.uuid);
    let mut o = json!({
        "name": d.name,
        "slug": d.slug.clone().unwrap_or_default(),
        "tags": d.extra.tags,
        "desc": d.extra.desc,
        "grace": d.grace.as_secs(),
        "n_pings": st.pings,
        "status": status,
        "started": st.last_start.is_some(),
        "last_ping": st.last_ping.map(iso),
        "next_ping": next_ping,
        "manual_resume": false,
        "methods": "",
        "subject": "",
        "subject_fail": "",
        "start_kw": "",
        "success_kw": "",
        "failure_kw": "",
        "filter_subject": false,
        "filter_body": false,
        "badge_url": format!("{base}/badge/check/{ukey}.svg"),
    });
    let Value::Object(m) = &mut o else {
        return o;
    };
    if let Some(dur) = st.last_duration {
        m.insert("last_duration".into(), json!(dur.as_secs()));
    }
    match access {
        Access::ReadOnly => {
            m.insert("unique_key".into(), json!(ukey));
        }
        Access::ReadWrite => {
            let api = format!("{base}/api/v3/checks/{}", d.uuid);
            m.insert("uuid".into(), json!(d.uuid.to_string()));
            m.insert("ping_url".into(), json!(format!("{base}/ping/{}", d.uuid)));
            m.insert("update_url".into(), json!(api));
            m.insert("pause_url".into(), json!(format!("{api}/pause")));
            m.insert("resume_url".into(), json!(format!("{api}/resume")));
            m.insert("channels".into(), json!(d.extra.channels));
        }
    }
    match &d.schedule {
        Schedule::Every(p) => {
            m.insert("timeout".into(), json!(p.as_secs()));
        }
        Schedule::Cron { expr, timezone, .. } => {
            m.insert("schedule".into(), json!(hc_schedule(expr)));
            m.insert("tz".into(), json!(timezone.name()));
        }
    }
    o
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

async fn list(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult {
    let access = authorize(&s, &headers, None, false, &Method::GET, "list checks")?;
    let tags: BTreeSet<&str> = q
        .iter()
        .filter(|(k, _)| k == "tag")
        .map(|(_, v)| v.as_str())
        .collect();
    let slug = q.iter().find(|(k, _)| k == "slug").map(|(_, v)| v.as_str());
    let (now, base) = (Utc::now(), base_url(&s, &headers));
    let checks: Vec<Value> = s
        .heartbeats
        .checks()
        .iter()
        .filter(|c| {
            let have: BTreeSet<&str> = c.def.extra.tags.split_whitespace().collect();
            tags.is_subset(&have) && slug.is_none_or(|sl| c.def.slug.as_deref() == Some(sl))
        })
        .map(|c| check_json(c, now, &base, access))
        .collect();
    Ok(ok(StatusCode::OK, json!({ "checks": checks })))
}

async fn get_one(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> ApiResult {
    let access = authorize(&s, &headers, None, false, &Method::GET, "get check")?;
    // By uuid or unique_key, whatever the key; a read-only answer has no
    // uuid or URLs in it.
    let c = find(&s, &key)?;
    Ok(ok(
        StatusCode::OK,
        check_json(&c, Utc::now(), &base_url(&s, &headers), access),
    ))
}

async fn create(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let body = writable_body(&s, &headers, &body, "create check")?;
    let spec = Spec::parse(&body)?;
    let channels = spec.channels(&s.targets.targets())?;
    if let Some(existing) = spec.lookup(&s) {
        if existing.def.origin == Origin::Config {
            return Err(ApiError::Declared(existing.def.name.clone()));
        }
        let def = spec.apply(&s, Some(&existing.def), channels)?;
        let (_, c) = save(&s, def).await?;
        tracing::info!(check = %c.def.name, "check updated through the Healthchecks API (unique)");
        return Ok(written(&s, &headers, StatusCode::OK, &c));
    }
    let def = spec.apply(&s, None, channels)?;
    let (ack, c) = save(&s, def).await?;
    tracing::info!(check = %c.def.name, labels = ?c.def.labels, "check created through the Healthchecks API");
    let status = if ack == Ack::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(written(&s, &headers, status, &c))
}

async fn update(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = writable_body(&s, &headers, &body, "update check")?;
    let c = find_by_uuid(&s, &key)?;
    if c.def.origin == Origin::Config {
        return Err(ApiError::Declared(c.def.name.clone()));
    }
    let spec = Spec::parse(&body)?;
    let channels = spec.channels(&s.targets.targets())?;
    let def = spec.apply(&s, Some(&c.def), channels)?;
    let (_, c) = save(&s, def).await?;
    tracing::info!(check = %c.def.name, labels = ?c.def.labels, "check updated through the Healthchecks API");
    Ok(written(&s, &headers, StatusCode::OK, &c))
}

/// The JSON body of a change, once the key may write (`what` names the
/// change in the refusal).
fn writable_body(
    s: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    what: &str,
) -> Result<Map<String, Value>, ApiError> {
    let body = parse_body(body)?;
    authorize(s, headers, Some(&body), true, &Method::POST, what)?;
    Ok(body)
}

/// Stores `def` durably and returns the check as it now is.
async fn save(s: &AppState, def: CheckDef) -> Result<(Ack, Check), ApiError> {
    let uuid = def.uuid;
    let ack = s.heartbeats.put(def).await?;
    let c = s.heartbeats.by_uuid(&uuid).ok_or(ApiError::NotFound)?;
    Ok((ack, c))
}

/// The answer to a change: the check with its read-write view.
fn written(s: &AppState, headers: &HeaderMap, status: StatusCode, c: &Check) -> Response {
    ok(
        status,
        check_json(c, Utc::now(), &base_url(s, headers), Access::ReadWrite),
    )
}

async fn delete(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> ApiResult {
    authorize(&s, &headers, None, true, &Method::DELETE, "delete check")?;
    let c = find_by_uuid(&s, &key)?;
    if c.def.origin == Origin::Config {
        return Err(ApiError::Declared(c.def.name.clone()));
    }
    s.heartbeats.delete(c.def.id).await?;
    tracing::info!(check = %c.def.name, "check deleted through the Healthchecks API");
    Ok(written(&s, &headers, StatusCode::OK, &c))
}

/// Changes and pings need the uuid (not the read-only `unique_key`).
fn find_by_uuid(s: &AppState, key: &str) -> Result<Check, ApiError> {
    crate::heartbeat::pattern::parse_canonical_uuid(key)
        .and_then(|u| s.heartbeats.by_uuid(&u))
        .ok_or(ApiError::NotFound)
}

/// `POST .../pause` (`PAUSE`) and `.../resume`: the check as it is afterwards.
async fn set_paused<const PAUSE: bool>(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body).unwrap_or_default();
    let what = if PAUSE { "pause check" } else { "resume check" };
    authorize(&s, &headers, Some(&body), true, &Method::POST, what)?;
    let c = find_by_uuid(&s, &key)?;
    if PAUSE {
        s.heartbeats.pause_id(c.def.id).await?;
        tracing::info!(check = %c.def.name, "check paused through the Healthchecks API");
    } else {
        s.heartbeats.resume_id(c.def.id).await?;
        tracing::info!(check = %c.def.name, "check resumed through the Healthchecks API");
    }
    answer_check(&s, &headers, &c.def.uuid)
}

fn answer_check(s: &AppState, headers: &HeaderMap, uuid: &Uuid) -> ApiResult {
    let c = s.heartbeats.by_uuid(uuid).ok_or(ApiError::NotFound)?;
    Ok(ok(
        StatusCode::OK,
        check_json(&c, Utc::now(), &base_url(s, headers), Access::ReadWrite),
    ))
}

// ---- pings and flips ----

async fn pings(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> ApiResult {
    authorize(&s, &headers, None, true, &Method::GET, "list pings")?;
    let c = find_by_uuid(&s, &key)?;
    let base = base_url(&s, &headers);
    let limit = usize::try_from(s.heartbeats.keep_pings()).unwrap_or(usize::MAX);
    let pings = s
        .heartbeats
        .pings_of(c.def.id, limit)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let pings: Vec<Value> = pings
        .iter()
        .map(|p| {
            let mut o = json!({
                "type": p.kind,
                "date": p.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
                "n": p.n,
                "scheme": "http",
                "remote_addr": p.remote_addr.clone().unwrap_or_default(),
                "method": p.method,
                "ua": p.user_agent.clone().unwrap_or_default(),
                "rid": p.rid,
            });
            if let Value::Object(m) = &mut o {
                if let Some(d) = p.duration_seconds {
                    m.insert("duration".into(), json!(d));
                }
                if let Some(code) = p.exit_code {
                    m.insert("exitstatus".into(), json!(code));
                }
                if p.body_size > 0 {
                    m.insert(
                        "body_url".into(),
                        json!(format!(
                            "{base}/api/v3/checks/{}/pings/{}/body",
                            c.def.uuid, p.n
                        )),
                    );
                }
            }
            o
        })
        .collect();
    Ok(ok(StatusCode::OK, json!({ "pings": pings })))
}

async fn ping_body(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((key, n)): Path<(String, String)>,
) -> ApiResult {
    authorize(&s, &headers, None, true, &Method::GET, "ping body")?;
    let c = find_by_uuid(&s, &key)?;
    let n: u64 = n.parse().map_err(|_| ApiError::NotFound)?;
    let ping = s
        .heartbeats
        .ping_of(c.def.id, n)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or(ApiError::NotFound)?;
    if ping.body.is_empty() {
        return Err(ApiError::NotFound);
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        ping.body,
    )
        .into_response())
}

async fn flips(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    authorize(&s, &headers, None, false, &Method::GET, "list flips")?;
    let c = find(&s, &key)?;
    let int = |name: &str| -> Result<Option<i64>, ApiError> {
        match q.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::BadQuery(format!("{name} must be a whole number of 0 or more"))
                }),
        }
    };
    let (seconds, start, end) = (int("seconds")?, int("start")?, int("end")?);
    if seconds.is_some_and(|n| n > MAX_SECONDS) {
        return Err(ApiError::BadQuery("seconds is too large".into()));
    }
    let now = Utc::now();
    let list = s
        .heartbeats
        .flips(&c, now)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let flips: Vec<Value> = list
        .into_iter()
        .filter(|f| start.is_none_or(|t| f.at.timestamp() >= t))
        .filter(|f| end.is_none_or(|t| f.at.timestamp() < t))
        .filter(|f| seconds.is_none_or(|n| (now - f.at).num_seconds() <= n))
        .map(|f| json!({"timestamp": iso(f.at), "up": u8::from(f.up)}))
        .collect();
    // A list, as Healthchecks documents it and its clients read it.
    Ok(ok(StatusCode::OK, Value::Array(flips)))
}

// ---- channels and badges ----

async fn channels(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    authorize(&s, &headers, None, true, &Method::GET, "list channels")?;
    let channels: Vec<Value> = s
        .targets
        .targets()
        .iter()
        .map(|(name, kind)| json!({"id": channel_id(name), "name": name, "kind": channel_kind(kind)}))
        .collect();
    Ok(ok(StatusCode::OK, json!({ "channels": channels })))
}

async fn badges(State(s): State<AppState>, headers: HeaderMap) -> ApiResult {
    authorize(&s, &headers, None, false, &Method::GET, "list badges")?;
    let base = base_url(&s, &headers);
    let mut tags: BTreeSet<String> = BTreeSet::from(["*".to_string()]);
    for c in s.heartbeats.checks() {
        tags.extend(c.def.extra.tags.split_whitespace().map(str::to_string));
    }
    let badges: Map<String, Value> = tags
        .into_iter()
        .map(|tag| {
            let t = encode_path(&tag);
            let url = |states: u8, fmt: &str| format!("{base}/badge/{states}/{t}.{fmt}");
            let v = json!({
                "svg": url(2, "svg"), "svg3": url(3, "svg"),
                "json": url(2, "json"), "json3": url(3, "json"),
                "shields": url(2, "shields"), "shields3": url(3, "shields"),
            });
            (tag, v)
        })
        .collect();
    Ok(ok(StatusCode::OK, json!({ "badges": badges })))
}

/// Percent-encodes what a path segment cannot hold as is.
fn encode_path(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' | b'*' | b'=' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/badge/{2|3}/{tag}.{svg|json|shields}`: the status of the checks with
/// that tag (`*`: all), two-state (up, down) or three-state (and late).
async fn tag_badge(
    State(s): State<AppState>,
    Path((states, file)): Path<(String, String)>,
) -> Response {
    let with_late = match states.as_str() {
        "2" => false,
        "3" => true,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let Some((tag, fmt)) = file.rsplit_once('.') else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let now = Utc::now();
    let (mut total, mut grace, mut down) = (0, 0, 0);
    for c in s.heartbeats.checks() {
        if tag != "*" && !c.def.extra.tags.split_whitespace().any(|t| t == tag) {
            continue;
        }
        total += 1;
        match hc_status(&c, now) {
            "down" => down += 1,
            "grace" => grace += 1,
            _ => {}
        }
    }
    let status = if down > 0 {
        "down"
    } else if grace > 0 && with_late {
        "late"
    } else {
        "up"
    };
    let label = if tag == "*" { "tocsin" } else { tag };
    badge(label, fmt, status, (total, grace, down))
}

/// `/badge/check/{unique_key}.{svg|json|shields}`: one check's badge
/// (three-state).
async fn check_badge(State(s): State<AppState>, Path(file): Path<String>) -> Response {
    let Some((key, fmt)) = file.rsplit_once('.') else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(c) = s
        .heartbeats
        .checks()
        .into_iter()
        .find(|c| unique_key(&c.def.uuid) == key)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (status, counts) = match hc_status(&c, Utc::now()) {
        "down" => ("down", (1, 0, 1)),
        "grace" => ("late", (1, 1, 0)),
        _ => ("up", (1, 0, 0)),
    };
    badge(&c.def.name, fmt, status, counts)
}

fn badge(label: &str, fmt: &str, status: &str, (total, grace, down): (u32, u32, u32)) -> Response {
    let color = match status {
        "up" => ("success", "#4c1"),
        "late" => ("important", "#fe7d37"),
        _ => ("critical", "#e05d44"),
    };
    let mut r = match fmt {
        "json" => Json(json!({"status": status, "total": total, "grace": grace, "down": down}))
            .into_response(),
        "shields" => {
            Json(json!({"schemaVersion": 1, "label": label, "message": status, "color": color.0}))
                .into_response()
        }
        "svg" => {
            let esc = |t: &str| {
                t.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('"', "&quot;")
            };
            let (lw, sw) = (label.chars().count() * 7 + 10, status.len() * 7 + 10);
            let svg = format!(
                r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{l}: {s}"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{sw}" height="20" fill="{c}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="5" y="14">{l}</text><text x="{sx}" y="14">{s}</text></g></svg>"##,
                w = lw + sw,
                l = esc(label),
                s = status,
                c = color.1,
                sx = lw + 5,
            );
            ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

// ---- the check spec of create and update ----

/// The fields of a create or update body (Healthchecks' `Spec`), checked
/// strictly: absent is None, `null` or a wrong type is an error.
#[derive(Debug, Default)]
struct Spec {
    name: Option<String>,
    slug: Option<String>,
    tags: Option<String>,
    desc: Option<String>,
    timeout: Option<Duration>,
    grace: Option<Duration>,
    /// Healthchecks' 5-field cron expression.
    schedule: Option<String>,
    tz: Option<chrono_tz::Tz>,
    channels: Option<String>,
    unique: Vec<String>,
}

fn invalid(why: impl Into<String>) -> ApiError {
    ApiError::Invalid(why.into())
}

impl Spec {
    fn parse(body: &Map<String, Value>) -> Result<Spec, ApiError> {
        let text = |k: &str, max: usize| -> Result<Option<String>, ApiError> {
            match body.get(k) {
                None => Ok(None),
                Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
                Some(Value::String(_)) => Err(invalid(format!("{k} is too long"))),
                Some(_) => Err(invalid(format!("{k} is not a string"))),
            }
        };
        let seconds = |k: &str| -> Result<Option<Duration>, ApiError> {
            match body.get(k) {
                None => Ok(None),
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(v) if v < MIN_SECONDS => Err(invalid(format!("{k} is too small"))),
                    Some(v) if v > MAX_SECONDS => Err(invalid(format!("{k} is too large"))),
                    Some(v) => Ok(Some(Duration::from_secs(v.unsigned_abs()))),
                    None => Err(invalid(format!("{k} is not a number"))),
                },
                Some(_) => Err(invalid(format!("{k} is not a number"))),
            }
        };
        let flag = |k: &str| -> Result<Option<bool>, ApiError> {
            match body.get(k) {
                None => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(invalid(format!("{k} is not a boolean"))),
            }
        };
        let slug = text("slug", 100)?;
        if let Some(s) = &slug
            && !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(invalid("slug does not match pattern"));
        }
        let schedule = text("schedule", 100)?;
        if let Some(expr) = &schedule {
            if expr.split_whitespace().count() != 5 || expr.contains('\n') {
                return Err(invalid(
                    "schedule is not a valid cron expression (tocsin takes 5-field cron, not OnCalendar)",
                ));
            }
            crate::rules::load::parse_cron(&format!("0 {expr}"))
                .map_err(|_| invalid("schedule is not a valid cron or OnCalendar expression"))?;
        }
        let tz = match text("tz", 36)? {
            None => None,
            Some(name) => Some(
                chrono_tz::Tz::from_str(&name)
                    .map_err(|_| invalid("tz is not a valid timezone"))?,
            ),
        };
        // Accepted as Healthchecks does, but tocsin has no use for them:
        // refused only where they would change what a ping does.
        if flag("manual_resume")? == Some(true) {
            return Err(invalid(
                "manual_resume true is not supported by tocsin (a success or failure ping always resumes a paused check)",
            ));
        }
        match text("methods", 30)?.as_deref() {
            None | Some("") => {}
            Some("POST") => {
                return Err(invalid(
                    "methods \"POST\" is not supported by tocsin (every method pings)",
                ));
            }
            Some(_) => return Err(invalid("methods has unexpected value")),
        }
        for k in [
            "subject",
            "subject_fail",
            "start_kw",
            "success_kw",
            "failure_kw",
            "req_start_kw",
            "req_success_kw",
            "req_failure_kw",
        ] {
            text(k, 200)?;
        }
        flag("filter_subject")?;
        flag("filter_body")?;
        let unique = match body.get("unique") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v.as_str() {
                    Some(f @ ("name" | "slug" | "tags" | "timeout" | "grace")) => Ok(f.to_string()),
                    _ => Err(invalid("an item in 'unique' has unexpected value")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("unique is not an array")),
        };
        Ok(Spec {
            name: text("name", 100)?,
            slug,
            tags: text("tags", 500)?,
            desc: text("desc", 10_000)?,
            timeout: seconds("timeout")?,
            grace: seconds("grace")?,
            schedule,
            tz,
            channels: text("channels", 10_000)?,
            unique,
        })
    }

    /// The existing check `unique` names (None when a field it lists is
    /// absent, as in Healthchecks).
    fn lookup(&self, s: &AppState) -> Option<Check> {
        if self.unique.is_empty() {
            return None;
        }
        let mut checks = s.heartbeats.checks();
        checks.sort_by_key(|c| c.def.id);
        for field in &self.unique {
            let keep: Box<dyn Fn(&Check) -> bool> = match field.as_str() {
                "name" => {
                    let v = self.name.clone()?;
                    Box::new(move |c| c.def.name == v)
                }
                "slug" => {
                    let v = self.slug.clone()?;
                    Box::new(move |c| c.def.slug.as_deref() == Some(v.as_str()))
                }
                "tags" => {
                    let v = self.tags.clone()?;
                    Box::new(move |c| c.def.extra.tags == v)
                }
                "timeout" => {
                    let v = self.timeout?;
                    Box::new(move |c| c.def.schedule == Schedule::Every(v))
                }
                _ => {
                    let v = self.grace?;
                    Box::new(move |c| c.def.grace == v)
                }
            };
            checks.retain(|c| keep(c));
        }
        checks.into_iter().next()
    }

    /// `channels` as the sorted ids it names (`*`: every target, `""`: none);
    /// None when absent.
    fn channels(&self, targets: &[(String, &'static str)]) -> Result<Option<String>, ApiError> {
        let Some(spec) = &self.channels else {
            return Ok(None);
        };
        let ids: BTreeSet<String> = match spec.as_str() {
            "" => BTreeSet::new(),
            "*" => targets.iter().map(|(n, _)| channel_id(n)).collect(),
            list => list
                .split(',')
                .map(|item| {
                    if item.is_empty() {
                        return Err(ApiError::BadQuery("empty channel identifier".into()));
                    }
                    targets
                        .iter()
                        .find(|(n, _)| n == item || channel_id(n) == item)
                        .map(|(n, _)| channel_id(n))
                        .ok_or_else(|| {
                            ApiError::Invalid(format!("invalid channel identifier: {item}"))
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Some(ids.into_iter().collect::<Vec<_>>().join(",")))
    }

    /// The check this spec makes of `old` (None: a new one): omitted fields
    /// stay (a new check takes its template's settings, then the config's
    /// defaults), labels are the template's plus the `key=value` tags.
    fn apply(
        &self,
        s: &AppState,
        old: Option<&CheckDef>,
        channels: Option<String>,
    ) -> Result<CheckDef, ApiError> {
        let uuid = old.map(|d| d.uuid).unwrap_or_else(Uuid::new_v4);
        let name = match (&self.name, old) {
            (Some(n), _) if !n.trim().is_empty() => n.trim().to_string(),
            (_, Some(d)) => d.name.clone(),
            // Healthchecks allows a nameless check; tocsin's names are its
            // identity (rules select by it), so it takes its uuid.
            _ => uuid.to_string(),
        };
        let (tpl_schedule, tpl_grace, mut labels) = s.heartbeats.settings_for(&name);
        let tags = self
            .tags
            .clone()
            .or_else(|| old.map(|d| d.extra.tags.clone()))
            .unwrap_or_default();
        for tag in tags.split_whitespace() {
            if let Some((k, v)) = tag.split_once('=') {
                if !crate::alert::valid_label_name(k) || v.is_empty() {
                    return Err(invalid(format!(
                        "tag {tag:?} looks like a label but is not one (key=value, the key [a-zA-Z_][a-zA-Z0-9_]*)"
                    )));
                }
                labels.insert(k.to_string(), v.to_string());
            }
        }
        let old_tz = old.and_then(|d| d.schedule.cron().map(|(_, tz)| tz));
        let schedule = if let Some(expr) = &self.schedule {
            cron(expr, self.tz.or(old_tz).unwrap_or(chrono_tz::UTC))?
        } else if let Some(t) = self.timeout {
            Schedule::Every(t)
        } else if let (Some(tz), Some(Schedule::Cron { expr, .. })) =
            (self.tz, old.map(|d| &d.schedule))
        {
            Schedule::Cron {
                expr: expr.clone(),
                cron: Box::new(crate::rules::load::parse_cron(expr).map_err(ApiError::Invalid)?),
                timezone: tz,
            }
        } else {
            old.map(|d| d.schedule.clone()).unwrap_or(tpl_schedule)
        };
        let grace = self
            .grace
            .or_else(|| old.map(|d| d.grace))
            .unwrap_or(tpl_grace);
        let slug = match (&self.slug, old) {
            (Some(sl), _) if sl.is_empty() => None,
            (Some(sl), _) => Some(sl.clone()),
            (None, Some(d)) => d.slug.clone(),
            (None, None) => {
                // Slug URLs work for new checks: their name's slug, if free.
                let sl = slugify(&name);
                let free = !sl.is_empty()
                    && crate::heartbeat::pattern::valid_slug(&sl)
                    && s.heartbeats
                        .checks()
                        .iter()
                        .all(|c| c.def.slug.as_deref() != Some(sl.as_str()));
                free.then_some(sl)
            }
        };
        Ok(CheckDef {
            id: old.map(|d| d.id).unwrap_or(0),
            name,
            uuid,
            slug,
            origin: Origin::Api,
            schedule,
            grace,
            labels,
            created_at: old
                .map(|d| d.created_at)
                .unwrap_or_else(|| chrono::SubsecRound::trunc_subsecs(Utc::now(), 3)),
            extra: CheckExtra {
                tags,
                desc: self
                    .desc
                    .clone()
                    .or_else(|| old.map(|d| d.extra.desc.clone()))
                    .unwrap_or_default(),
                channels: channels
                    .or_else(|| old.map(|d| d.extra.channels.clone()))
                    .unwrap_or_default(),
            },
        })
    }
}

/// Healthchecks' 5-field cron (minutes first) as tocsin's schedule.
fn cron(expr: &str, tz: chrono_tz::Tz) -> Result<Schedule, ApiError> {
    let six = format!(
        "0 {}",
        expr.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let parsed = crate::rules::load::parse_cron(&six)
        .map_err(|_| invalid("schedule is not a valid cron or OnCalendar expression"))?;
    Ok(Schedule::Cron {
        expr: six,
        cron: Box::new(parsed),
        timezone: tz,
    })
}

/// Django's slugify: lower case, runs of spaces and hyphens to one hyphen,
/// other punctuation dropped, no leading or trailing `-` or `_`.
fn slugify(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for ch in name.to_lowercase().chars() {
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.push(ch);
        } else if ch.is_whitespace() || ch == '-' {
            gap = true;
        }
    }
    out.trim_matches(|c| c == '-' || c == '_').to_string()
}

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
