//! A replica standing by: it keeps the HTTP port and answers `/healthz`
//! (200: the process is well), `/leader` (503: not this one), `/metrics`
//! (the replica families) and refuses everything else with 503, who leads
//! and `Retry-After: 1`, so that clients retry and a load balancer that
//! checks `/leader` sends them to the leader. Meanwhile it tries to take
//! the lease every [`POLL`].

use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

use super::status::ReplicaStatus;
use crate::store::Store;
use crate::store::lease::Lease;

/// How often a standby tries the lease: it takes over at most this long
/// after the lease ends.
pub const POLL: Duration = Duration::from_millis(250);

async fn healthz() -> impl IntoResponse {
    match super::status() {
        Some(s) => format!("ok: {}\n", s.describe()),
        None => "ok\n".to_string(),
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

async fn refuse() -> impl IntoResponse {
    let text = super::status()
        .map(ReplicaStatus::describe)
        .unwrap_or_default();
    let body = serde_json::json!({
        "status": "error",
        "errorType": "unavailable",
        "error": format!("{text}: send this to the leader"),
    });
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        axum::Json(body),
    )
}

/// Serves the standby's answers on `listener` until the lease is this
/// replica's (`Some`, with when the winning claim was sent) or `stop` says
/// the process ends (`None`). The listener is left open for the leader.
pub(super) async fn stand_by(
    listener: &std::net::TcpListener,
    store: &Store,
    status: &ReplicaStatus,
    ttl: Duration,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<Option<(Lease, Instant)>> {
    let app = axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/leader", get(not_leader))
        .route("/metrics", get(metrics))
        .fallback(refuse);
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
        match store.claim_lease(status.holder.clone(), ttl).await {
            Ok(Some(lease)) => break Some((lease, sent)),
            Ok(None) => {
                unreachable = false;
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
