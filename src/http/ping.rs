//! The Healthchecks-compatible ping API: any method (as Healthchecks:
//! `GET`, `POST`, `HEAD`, `PUT`...) on
//! `/ping/{uuid}[/start|/fail|/log|/{exit_code}]` and
//! `/ping/{ping_key}/{slug}[/...]` (`?create=1` creates a missing check),
//! with or without a trailing slash, with `?rid=` run ids. The body is kept up to `heartbeat.ping_body_limit`
//! bytes (said in a `Ping-Body-Limit` header); a longer one is cut, never
//! refused. The answer goes out once the ping is committed to SQLite.
//!
//! Answers: 200 `OK`, 201 `Created`; 404 `not found: ...` for an unknown
//! key or slug; 400 for an exit code above 255 (`invalid url format`), a
//! malformed `rid` (`invalid uuid format`) or slug; 403 past `max_checks`;
//! 503 when the ping could not be recorded (clients retry).

use std::borrow::Cow;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use chrono::{DateTime, SubsecRound, Utc};
use http_body_util::BodyExt;
use serde::Deserialize;

use super::AppState;
use crate::heartbeat::LocateError;
use crate::heartbeat::pattern::parse_canonical_uuid;
use crate::heartbeat::state::{ActionError, Signal};
use crate::heartbeat::writer::{Ack, PingRequest, Target, WriteError};

/// Marks a ping a standby queued while no leader answered
/// (`replica/inbox.rs`), replayed on the leader: it was received at `at`
/// from `remote_addr` with a body of `body_size` bytes. Only set in
/// process (a request extension), never read from a client.
#[derive(Debug, Clone)]
pub struct Queued {
    pub at: DateTime<Utc>,
    pub remote_addr: Option<String>,
    pub body_size: u64,
}

/// Longest User-Agent kept (as Healthchecks does).
const MAX_USER_AGENT: usize = 200;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ping/{a}", any(ping_uuid))
        .route("/ping/{a}/", any(ping_uuid))
        .route("/ping/{a}/{b}", any(ping_uuid_action_or_slug))
        .route("/ping/{a}/{b}/", any(ping_uuid_action_or_slug))
        .route("/ping/{a}/{b}/{c}", any(ping_slug_action))
        .route("/ping/{a}/{b}/{c}/", any(ping_slug_action))
}

#[derive(Debug, Deserialize)]
struct PingQuery {
    rid: Option<String>,
    create: Option<String>,
}

impl PingQuery {
    /// `?create=1`
    fn create(&self) -> bool {
        self.create.as_deref() == Some("1")
    }
}

/// `/ping/{uuid}`
async fn ping_uuid(
    State(s): State<AppState>,
    Path(key): Path<String>,
    Query(q): Query<PingQuery>,
    req: Request,
) -> Response {
    let target = match parse_canonical_uuid(&key) {
        Some(uuid) => s.heartbeats.by_key(&uuid),
        None => Err(LocateError::UnknownKey),
    };
    record(&s, target, "", q, req).await
}

/// `/ping/{uuid}/{action}` or `/ping/{ping_key}/{slug}`
async fn ping_uuid_action_or_slug(
    State(s): State<AppState>,
    Path((a, b)): Path<(String, String)>,
    Query(q): Query<PingQuery>,
    req: Request,
) -> Response {
    let hb = &s.heartbeats;
    match parse_canonical_uuid(&a) {
        Some(uuid) => record(&s, hb.by_key(&uuid), &b, q, req).await,
        None => record(&s, hb.by_slug(&a, &b, q.create()), "", q, req).await,
    }
}

/// `/ping/{ping_key}/{slug}/{action}`
async fn ping_slug_action(
    State(s): State<AppState>,
    Path((a, b, c)): Path<(String, String, String)>,
    Query(q): Query<PingQuery>,
    req: Request,
) -> Response {
    let hb = &s.heartbeats;
    let target = if parse_canonical_uuid(&a).is_some() {
        Err(LocateError::NoSuchEndpoint)
    } else {
        hb.by_slug(&a, &b, q.create())
    };
    record(&s, target, &c, q, req).await
}

/// Checks the rest of the request, reads the body, and waits for the commit.
async fn record(
    s: &AppState,
    target: Result<Target, LocateError>,
    action: &str,
    q: PingQuery,
    req: Request,
) -> Response {
    let hb = &s.heartbeats;
    let limit = hb.ping_body_limit();
    let answer = |status: StatusCode, text: Cow<'static, str>| plain(status, text, limit);
    let target = match target {
        Ok(t) => t,
        Err(LocateError::BadSlug) => {
            return answer(
                StatusCode::BAD_REQUEST,
                LocateError::BadSlug.to_string().into(),
            );
        }
        Err(e) => return answer(StatusCode::NOT_FOUND, e.to_string().into()),
    };
    let signal = match Signal::from_action(action) {
        Ok(s) => s,
        Err(ActionError::Unknown) => return answer(StatusCode::NOT_FOUND, "not found".into()),
        Err(ActionError::ExitCodeOutOfRange) => {
            return answer(StatusCode::BAD_REQUEST, "invalid url format".into());
        }
    };
    let rid = match q.rid.as_deref() {
        None => None,
        Some(r) => match parse_canonical_uuid(r) {
            Some(u) => Some(u),
            None => return answer(StatusCode::BAD_REQUEST, "invalid uuid format".into()),
        },
    };
    let (parts, body) = req.into_parts();
    let (body, body_size) = match read_body(body, limit).await {
        Ok(b) => b,
        Err(e) => {
            return answer(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}").into(),
            );
        }
    };
    let method = match parts.method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    };
    let queued = parts.extensions.get::<Queued>().cloned();
    let remote_addr = match &queued {
        Some(q) => q.remote_addr.clone(),
        None => super::forwarded::client_ip(&parts, &s.guard.key),
    };
    let user_agent = parts.headers.get(header::USER_AGENT).map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .chars()
            .take(MAX_USER_AGENT)
            .collect()
    });
    let ping = PingRequest {
        target,
        signal,
        rid,
        // Stored times have millisecond precision; keep memory identical to them.
        at: queued
            .as_ref()
            .map_or_else(Utc::now, |q| q.at)
            .trunc_subsecs(3),
        method,
        remote_addr,
        user_agent,
        body,
        body_size: queued.as_ref().map_or(body_size, |q| q.body_size),
        queued: queued.is_some(),
    };
    match hb.ping(ping).await {
        Ok(Ack::Recorded) => answer(StatusCode::OK, "OK".into()),
        Ok(Ack::Created) => answer(StatusCode::CREATED, "Created".into()),
        Err(e @ WriteError::TooManyChecks(_)) => {
            answer(StatusCode::FORBIDDEN, e.to_string().into())
        }
        Err(WriteError::NoSuchCheck) => answer(
            StatusCode::NOT_FOUND,
            "not found: no check has this key".into(),
        ),
        Err(e) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the ping was not recorded: {e}").into(),
        ),
    }
}

/// Keeps the first `limit` bytes and counts the rest, reading it all so the
/// client can finish sending.
async fn read_body(mut body: Body, limit: usize) -> Result<(Vec<u8>, u64), axum::Error> {
    let mut kept = Vec::new();
    let mut size = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        size += data.len() as u64;
        let room = limit.saturating_sub(kept.len());
        kept.extend_from_slice(&data[..data.len().min(room)]);
    }
    Ok((kept, size))
}

/// An answer in plain text with the headers every ping answer has. The
/// fixed texts (`OK`, `Created`) and the limit's header value are not
/// copied for each ping.
fn plain(status: StatusCode, text: Cow<'static, str>, limit: usize) -> Response {
    static LIMIT: OnceLock<(usize, HeaderValue)> = OnceLock::new();
    let (cached, value) = LIMIT.get_or_init(|| (limit, HeaderValue::from(limit)));
    let value = if *cached == limit {
        value.clone()
    } else {
        HeaderValue::from(limit)
    };
    let mut r = (status, text).into_response();
    let h = r.headers_mut();
    h.insert("Ping-Body-Limit", value);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}
