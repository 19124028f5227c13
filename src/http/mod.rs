//! The daemon's HTTP server (axum): the status page ([`status`]), the JSON
//! API ([`api`], [`heartbeats`], [`silences`]), external events ([`ingest`]),
//! the Healthchecks-compatible ping endpoints ([`ping`]), target test sends
//! ([`targets`]), `/metrics` ([`metrics`]) and `/healthz`. Write requests
//! need the `api_token` when one is set ([`auth`]).

pub mod api;
pub mod auth;
pub mod heartbeats;
pub mod ingest;
pub mod limits;
pub mod metrics;
pub mod ping;
pub mod silences;
pub mod status;
pub mod targets;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::eval::Engine;
use crate::heartbeat::Heartbeats;

/// What handlers can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub delivery: crate::notify::dispatch::DeliveryStats,
    /// Reload requests go to the daemon's control task.
    pub reload: tokio::sync::mpsc::Sender<crate::daemon::ReloadRequest>,
    /// Test sends to targets (`POST /api/v1/targets/{name}/test`).
    pub targets: Arc<crate::notify::TargetTester>,
    pub heartbeats: Arc<Heartbeats>,
    /// `api_token`: what write endpoints need.
    pub token: auth::ApiToken,
    /// `limits:` in force.
    pub limits: limits::Limits,
}

pub fn app(state: AppState) -> Router {
    // Bodies of JSON API writes (extractors of every module); the endpoints
    // with their own limit read the body themselves.
    let body_limit = state.limits.get().api_body_bytes.value;
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::metrics))
        .route("/", get(status::page))
        .route("/-/reload", post(reload))
        .merge(api::routes())
        .merge(targets::routes())
        .merge(heartbeats::routes())
        .merge(ping::routes())
        .merge(ingest::routes())
        .merge(silences::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.token.clone(),
            auth::require_token,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// `POST /-/reload`: 200 with what changed, or 400 with every error (the
/// running config and rules stay in force).
async fn reload(State(s): State<AppState>) -> impl IntoResponse {
    match crate::daemon::request_reload(&s.reload).await {
        Ok(summary) => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "reloaded", "summary": summary})),
        ),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"status": "failed", "error": error})),
        ),
    }
}

/// Binds `addr`; a clear error if it is taken or not allowed.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
