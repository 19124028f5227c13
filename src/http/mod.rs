//! The daemon's HTTP server (axum): the status page ([`status`]) and the
//! operator console ([`console`]), the JSON
//! API ([`api`], [`heartbeats`], [`silences`]), external events ([`ingest`]),
//! job states ([`events`]),
//! the Healthchecks-compatible ping endpoints ([`ping`]), target test sends
//! ([`targets`]), Alertmanager's API v2 ([`alertmanager`]), `/metrics`
//! ([`metrics`]) and `/healthz`. Write requests
//! need the `api_token` when one is set ([`auth`]).

pub mod alertmanager;
pub mod api;
pub mod auth;
pub mod console;
pub mod contacts;
pub mod events;
pub mod forwarded;
pub mod healthchecks_api;
pub mod heartbeats;
pub mod ingest;
pub mod limits;
pub mod metrics;
pub mod ping;
pub mod reload;
pub mod server;
pub mod silences;
pub mod status;
pub mod targets;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::eval::Engine;
use crate::heartbeat::Heartbeats;

/// What handlers can reach: one shared [`AppParts`], so that handing it to
/// a request (axum clones the state for each) is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> AppState {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppParts {
    pub engine: Arc<Engine>,
    pub delivery: crate::notify::dispatch::DeliveryStats,
    /// Reload requests go to the daemon's control task.
    pub reload: tokio::sync::mpsc::Sender<reload::ReloadRequest>,
    /// Test sends to targets (`POST /api/v1/targets/{name}/test`).
    pub targets: Arc<crate::notify::TargetTester>,
    pub heartbeats: Arc<Heartbeats>,
    /// `api_token`: what write endpoints need.
    pub token: auth::ApiToken,
    /// When the daemon started (Alertmanager's `uptime`).
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// `limits:` in force.
    pub limits: limits::Limits,
    /// What is wrong with the database, if anything.
    pub db: crate::store::watch::DbHealth,
    /// Host names, cross-site requests, reads with the token.
    pub guard: auth::Guard,
}

impl AppState {
    /// The router in force: who hears about what, silences, inhibition.
    pub fn router(&self) -> Arc<crate::notify::Router> {
        self.engine.pipeline().router()
    }
}

pub fn app(state: AppState) -> Router {
    // Bodies of JSON API writes (extractors of every module); the endpoints
    // with their own limit read the body themselves.
    let body_limit = state.limits.get().api_body_bytes.value;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/leader", get(leader))
        .route("/api/v1/status", get(api_status))
        .route("/metrics", get(metrics::metrics))
        .route("/", get(status::page))
        .route("/-/reload", post(reload::reload))
        .merge(console::routes())
        .merge(api::routes())
        .merge(targets::routes())
        .merge(contacts::routes())
        .merge(heartbeats::routes())
        .merge(healthchecks_api::routes())
        .merge(ping::routes())
        .merge(ingest::routes())
        .merge(events::routes())
        .merge(silences::routes())
        .merge(alertmanager::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.token.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.db.clone(),
            refuse_writes_without_database,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.guard.clone(),
            auth::browser_guard,
        ))
        .with_state(state)
}

/// `GET /leader`: 200 on the replica that leads (and on a process that
/// runs alone, on SQLite): what a load balancer in front of replicas
/// checks. A standby answers 503 (`replica/standby.rs`).
async fn leader() -> axum::response::Response {
    match crate::replica::status() {
        Some(r) if r.is_leading() => format!("{}\n", r.describe()).into_response(),
        Some(r) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", r.describe()),
        )
            .into_response(),
        None => "ok: this process runs alone\n".into_response(),
    }
}

/// `GET /api/v1/status`: the version, the database and its health, and,
/// with replicas, which one leads, since when, and how its lease renewals
/// went (`replica` is null on a process that runs alone). A standby
/// answers it itself (`replica/standby.rs`).
async fn api_status(State(s): State<AppState>) -> axum::Json<serde_json::Value> {
    let kind = if s.heartbeats.reader().is_postgres() {
        "postgresql"
    } else {
        "sqlite"
    };
    let problem = s.db.problem();
    axum::Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": s.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "database": {
            "kind": kind,
            "reachable": problem.is_none(),
            "problem": problem.map(|p| p.to_string()),
        },
        "replica": crate::replica::status().map(crate::replica::ReplicaStatus::json),
    }))
}

/// `GET /healthz`: `ok`, or 503 with what is wrong with the database.
async fn healthz(State(s): State<AppState>) -> axum::response::Response {
    match s.db.problem() {
        None => "ok\n".into_response(),
        Some(p) => (StatusCode::SERVICE_UNAVAILABLE, format!("{p}\n")).into_response(),
    }
}

/// While the database is deleted, replaced, read-only, damaged or its disk
/// full, writes (pings included) are refused with 503 and the reason, so
/// that clients retry instead of believing they were recorded.
async fn refuse_writes_without_database(
    State(db): State<crate::store::watch::DbHealth>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let read = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    let ping = req.uri().path().starts_with("/ping/");
    if read && !ping {
        return next.run(req).await;
    }
    match db.problem() {
        None => next.run(req).await,
        Some(p) => limits::refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not recorded: {p}"),
        ),
    }
}

/// The socket to serve on: the one a service manager handed over
/// (systemd-style socket activation: `LISTEN_FDS=1`, `LISTEN_PID` = this
/// process, the socket on fd 3), else `addr` bound here.
pub async fn listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    match inherited_listener()? {
        Some(l) => {
            tracing::info!(addr = %l.local_addr()?, "serving on the socket handed over (LISTEN_FDS)");
            Ok(l)
        }
        None => bind(addr).await,
    }
}

/// The listening socket on fd 3 when `LISTEN_FDS` says there is one for
/// this process (sd_listen_fds(3)); the variables are then removed, so
/// children do not take it for theirs.
fn inherited_listener() -> std::io::Result<Option<TcpListener>> {
    use std::os::fd::FromRawFd;
    const FIRST_FD: i32 = 3;
    let fds = std::env::var("LISTEN_FDS").ok();
    let pid = std::env::var("LISTEN_PID").ok();
    let ours = pid.is_none_or(|p| p.trim() == std::process::id().to_string());
    let Some(fds) = fds.filter(|_| ours) else {
        return Ok(None);
    };
    // SAFETY: removing variables while no other thread reads the
    // environment: this runs before the server and its workers start.
    unsafe {
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    if fds.trim() != "1" {
        return Err(std::io::Error::other(format!(
            "LISTEN_FDS={fds}: expected exactly one socket to serve on"
        )));
    }
    // SAFETY: fd 3 was handed to this process to own (LISTEN_PID matched).
    let std_listener = unsafe { std::net::TcpListener::from_raw_fd(FIRST_FD) };
    std_listener.local_addr().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("LISTEN_FDS: fd 3 is not a TCP socket: {e}"),
        )
    })?;
    std_listener.set_nonblocking(true)?;
    TcpListener::from_std(std_listener).map(Some)
}

/// Binds `addr`; a clear error if it is taken or not allowed.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
