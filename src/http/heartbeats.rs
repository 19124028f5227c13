//! Heartbeat API: `GET /api/v1/heartbeats` (every check with its state),
//! `GET /api/v1/heartbeats/{name}/pings` (its kept pings, newest first),
//! `POST /api/v1/heartbeats/{name}/pause` and `/resume`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Authenticated;
use super::limits::{PageQuery, page};
use crate::alert::Labels;
use crate::heartbeat::registry::Check;
use crate::heartbeat::state::{RunStatus, Status};
use crate::heartbeat::writer::WriteError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/heartbeats", get(list))
        .route("/api/v1/heartbeats/{name}/pings", get(pings))
        .route("/api/v1/heartbeats/{name}/pause", post(pause))
        .route("/api/v1/heartbeats/{name}/resume", post(resume))
}

/// One check as the API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct HeartbeatView {
    pub name: String,
    /// What goes into `/ping/{key}`: shown only to authenticated readers
    /// (anyone when no `api_token` is set), else null.
    pub key: Option<String>,
    /// What goes into `/ping/{ping_key}/{slug}`, if the check has one.
    pub slug: Option<String>,
    pub labels: Labels,
    /// new | up | late | down | failed | running | paused
    pub state: Status,
    /// config (declared in a rule file) | auto (created by its first ping) |
    /// api (made through the Healthchecks API)
    pub origin: String,
    pub every_seconds: Option<f64>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub grace_seconds: f64,
    /// The last success or failure.
    pub last_ping: Option<DateTime<Utc>>,
    /// The run in progress.
    pub last_start: Option<DateTime<Utc>>,
    pub last_status: Option<RunStatus>,
    pub last_exit_code: Option<u8>,
    pub last_duration_seconds: Option<f64>,
    /// The next ping is expected by then (grace not included).
    pub due_at: Option<DateTime<Utc>>,
    /// Pings received so far.
    pub pings: u64,
    pub created_at: DateTime<Utc>,
}

impl HeartbeatView {
    pub fn new(c: &Check, now: DateTime<Utc>) -> HeartbeatView {
        let (d, s) = (&c.def, &c.state);
        HeartbeatView {
            name: d.name.to_string(),
            key: Some(d.uuid.to_string()),
            slug: d.slug.as_deref().map(str::to_string),
            labels: d.labels.clone(),
            state: s.status(d.grace, now),
            origin: d.origin.as_str().to_string(),
            every_seconds: d.schedule.period_seconds(),
            cron: d.schedule.cron().map(|(e, _)| e.to_string()),
            timezone: d.schedule.cron().map(|(_, tz)| tz.name().to_string()),
            grace_seconds: d.grace.as_secs_f64(),
            last_ping: s.last_ping,
            last_start: s.last_start,
            last_status: s.last_status,
            last_exit_code: s.last_exit_code,
            last_duration_seconds: s.last_duration.map(|d| d.as_secs_f64()),
            due_at: s.due_at,
            pings: s.pings,
            created_at: d.created_at,
        }
    }
}

async fn list(
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
    auth: Option<axum::Extension<Authenticated>>,
) -> Response {
    let now = Utc::now();
    let max = s.limits.get().list_items.value;
    let show_keys = auth.is_some_and(|a| a.0.0);
    let views: Vec<HeartbeatView> = s
        .heartbeats
        .checks()
        .iter()
        .map(|c| {
            let mut v = HeartbeatView::new(c, now);
            if !show_keys {
                v.key = None;
            }
            v
        })
        .collect();
    page(views, q, max)
}

#[derive(Debug, Deserialize)]
struct PingsQuery {
    limit: Option<usize>,
}

async fn pings(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<PingsQuery>,
) -> Response {
    match s.heartbeats.pings(&name, q.limit.unwrap_or(100)).await {
        Ok(Some(p)) => Json(p).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, format!("no check named {name:?}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn pause(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    answer(&name, s.heartbeats.pause(&name).await)
}

async fn resume(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    answer(&name, s.heartbeats.resume(&name).await)
}

fn answer(name: &str, r: Result<(), WriteError>) -> Response {
    match r {
        Ok(()) => (StatusCode::OK, "OK\n").into_response(),
        Err(WriteError::NoSuchCheck) => {
            (StatusCode::NOT_FOUND, format!("no check named {name:?}\n")).into_response()
        }
        Err(e @ WriteError::NotPaused) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}
