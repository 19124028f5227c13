//! The daemon's HTTP server (axum): the status page ([`status`]), the JSON
//! API ([`api`]), `/metrics` ([`metrics`]) and `/healthz`.

pub mod api;
pub mod metrics;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::eval::Engine;
use crate::notify::Router as NotifyRouter;

/// What handlers can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub router: Arc<NotifyRouter>,
    pub delivery: crate::notify::dispatch::DeliveryStats,
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::metrics))
        .route("/", get(status::page))
        .merge(api::routes())
        .with_state(state)
}

/// Binds `addr`; a clear error if it is taken or not allowed.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
