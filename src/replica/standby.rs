//! A replica standing by: it keeps the HTTP port, answers `/healthz` (200
//! while it reaches the database, 503 when it cannot), `/leader` (503: not
//! this one), `/metrics` (the replica families) and `/api/v1/status`
//! itself, and forwards every other request to the leader (`forward.rs`).
//! Meanwhile it tries to take the lease every [`POLL`].

use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;

use super::forward::{self, Forwarder};
use super::status::ReplicaStatus;
use crate::http::auth::ApiToken;
use crate::store::Store;
use crate::store::lease::Lease;

/// How often a standby tries the lease: it takes over at most this long
/// after the lease ends.
pub const POLL: Duration = Duration::from_millis(250);

async fn healthz() -> Response {
    let Some(s) = super::status() else {
        return "ok\n".into_response();
    };
    if s.database_ok() {
        format!("ok: {}\n", s.describe()).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the database does not answer: {}\n", s.describe()),
        )
            .into_response()
    }
}

async fn not_leader() -> impl IntoResponse {
    let text = super::status()
        .map(ReplicaStatus::describe)
        .unwrap_or_default();
    (StatusCode::SERVICE_UNAVAILABLE, format!("{text}\n"))
}

async fn metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        super::status()
            .map(ReplicaStatus::metrics_text)
            .unwrap_or_default(),
    )
}

async fn api_status() -> impl IntoResponse {
    let replica = super::status().map(ReplicaStatus::json);
    let reachable = super::status().is_some_and(ReplicaStatus::database_ok);
    axum::Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "database": {"kind": "postgresql", "reachable": reachable},
        "replica": replica,
    }))
}

/// With `api_token_reads`, this replica's own reads need the token as the
/// leader's do.
async fn reads_token(State(token): State<ApiToken>, req: Request, next: Next) -> Response {
    match token.admits(req.headers().get(header::AUTHORIZATION)) {
        Ok(()) => next.run(req).await,
        Err(why) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({"status": "error", "error": why})),
        )
            .into_response(),
    }
}

/// Serves the standby's answers on `listener` until the lease is this
/// replica's (`Some`, with when the winning claim was sent) or `stop` says
/// the process ends (`None`). The listener is left open for the leader.
/// `reads` is the token this replica's own reads need (`api_token` with
/// `api_token_reads`).
pub(super) async fn stand_by(
    listener: &std::net::TcpListener,
    store: &Store,
    forwarder: Forwarder,
    reads: ApiToken,
    ttl: Duration,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<Option<(Lease, Instant)>> {
    let status = forwarder.status;
    let own_reads = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(api_status))
        .layer(axum::middleware::from_fn_with_state(reads, reads_token));
    let app = axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/leader", get(not_leader))
        .merge(own_reads)
        .fallback(forward::forward)
        .with_state(forwarder)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let tokio_listener = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
    // Aborted, not shut down gracefully: open keep-alive connections end
    // with it, and the leader's server takes the next ones.
    let server = tokio::spawn(async move {
        let _ = axum::serve(tokio_listener, app).await;
    });
    let mut unreachable = false;
    let mut announced: Option<String> = None;
    let won = loop {
        let sent = Instant::now();
        match store
            .claim_lease(status.holder.clone(), status.address.clone(), ttl)
            .await
        {
            Ok(Some(lease)) => break Some((lease, sent)),
            Ok(None) => {
                unreachable = false;
                status.reached_database(true);
                let holder = store.lease_holder().await.ok().flatten();
                if let Some(h) = &holder
                    && announced.as_deref() != Some(h.holder.as_str())
                {
                    tracing::info!(leader = %h.holder, epoch = h.epoch, "standing by: another replica leads");
                    announced = Some(h.holder.clone());
                }
                status.saw(holder);
            }
            Err(e) => {
                status.reached_database(false);
                if !unreachable {
                    tracing::warn!(error = %e, "standing by: cannot reach the database to try the lease");
                    unreachable = true;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => break None,
        }
    };
    server.abort();
    let _ = server.await;
    Ok(won)
}
