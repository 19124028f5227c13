//! Pings while no leader answers. A standby that cannot forward a ping
//! (no replica leads, or the leader's address refuses the connection: the
//! takeover window after a leader died) writes it into `ping_inbox`
//! (`store/ping_inbox.rs`) and answers `OK` once it is committed, so a
//! backup client's ping is not lost to a failover. The leader replays the
//! queued pings through its own ping endpoints, with the time and address
//! they were received with, when it starts leading and then every
//! [`EVERY`]; it deletes each once it is recorded. What the leader refuses
//! (an unknown key, a bad slug, past `max_checks`) is dropped with a
//! warning; what it cannot record now (its ping writer failing) stays
//! queued for the next round.
//!
//! The standby cannot tell an unknown key from a known one, so a queued
//! ping is answered `OK` either way. A ping queued while a newer one of
//! its check reached the leader goes into the check's log without turning
//! its state back (`PingRequest::queued`).

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;
use tower_service::Service;

use super::status::ReplicaStatus;
use crate::http::ping::Queued;
use crate::store::Store;
use crate::store::ping_inbox::QueuedPing;

/// How often the leader looks for queued pings.
pub const EVERY: Duration = Duration::from_secs(1);

/// Queued pings replayed per read.
const BATCH: usize = 500;

/// Longest User-Agent kept (as the ping endpoint keeps).
const MAX_USER_AGENT: usize = 200;

/// What a standby needs to queue pings.
#[derive(Clone)]
pub(super) struct Inbox {
    pub store: Store,
    /// The standby's name in the lease.
    pub holder: String,
    /// `heartbeat.ping_body_limit`.
    pub body_limit: usize,
    pub status: &'static ReplicaStatus,
}

/// Whether `path` is one of the ping endpoints.
pub(super) fn is_ping(path: &str) -> bool {
    path.starts_with("/ping/")
}

impl Inbox {
    /// Queues the ping and answers as the ping endpoint would (`OK`, the
    /// `Ping-Body-Limit` header), or 503 when even the database cannot take
    /// it.
    pub async fn queue(
        &self,
        method: &Method,
        path: String,
        remote_addr: String,
        user_agent: Option<&HeaderValue>,
        body: &[u8],
    ) -> Result<Response, String> {
        let kept = &body[..body.len().min(self.body_limit)];
        let ping = QueuedPing {
            id: 0,
            received_at: chrono::Utc::now(),
            received_by: self.holder.clone(),
            method: method.as_str().chars().take(16).collect(),
            path,
            remote_addr: Some(remote_addr),
            user_agent: user_agent.map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .chars()
                    .take(MAX_USER_AGENT)
                    .collect()
            }),
            body: kept.to_vec(),
            body_size: body.len() as u64,
        };
        self.store
            .queue_ping(ping)
            .await
            .map_err(|e| format!("the ping could not be queued either: {e}"))?;
        self.status.queued_ping();
        let mut r = (StatusCode::OK, "OK").into_response();
        let h = r.headers_mut();
        h.insert("Ping-Body-Limit", HeaderValue::from(self.body_limit));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        h.insert(
            "X-Tocsin-Queued",
            HeaderValue::from_static("no leader answered; recorded when one leads"),
        );
        Ok(r)
    }
}

/// What one round of replaying did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub recorded: usize,
    /// Refused by the ping endpoint (4xx): dropped.
    pub dropped: usize,
    /// Could not be recorded now: left queued.
    pub left: usize,
}

/// Replays queued pings through `pings` (the leader's ping routes) until
/// none is left or one cannot be recorded now.
pub async fn replay_queued(store: &Store, pings: &axum::Router) -> Result<Replayed, String> {
    let mut done = Replayed::default();
    loop {
        let queued = store
            .queued_pings(BATCH)
            .await
            .map_err(|e| format!("cannot read the queued pings: {e}"))?;
        let Some(last) = queued.last().map(|p| p.id) else {
            return Ok(done);
        };
        let full = queued.len() == BATCH;
        let mut replayed_to = None;
        for (i, ping) in queued.iter().enumerate() {
            let id = ping.id;
            let status = replay_one(pings, ping.clone()).await;
            if status.is_success() {
                done.recorded += 1;
            } else if status.is_client_error() {
                // Without the path: it holds the check's key.
                tracing::warn!(
                    status = status.as_u16(),
                    received_by = %ping.received_by,
                    received_at = %ping.received_at,
                    "a queued ping was refused by the ping endpoint; dropped"
                );
                done.dropped += 1;
            } else {
                done.left = queued.len() - i;
                break;
            }
            replayed_to = Some(id);
        }
        if let Some(to) = replayed_to {
            store
                .forget_queued_pings(to)
                .await
                .map_err(|e| format!("cannot delete the replayed pings: {e}"))?;
        }
        if done.left > 0 || !full || replayed_to != Some(last) {
            return Ok(done);
        }
    }
}

async fn replay_one(pings: &axum::Router, ping: QueuedPing) -> StatusCode {
    let method = Method::from_bytes(ping.method.as_bytes()).unwrap_or(Method::GET);
    let mut req = Request::builder().method(method).uri(ping.path.as_str());
    if let Some(ua) = ping
        .user_agent
        .as_deref()
        .and_then(|u| u.parse::<HeaderValue>().ok())
    {
        req = req.header(header::USER_AGENT, ua);
    }
    let Ok(mut req) = req.body(Body::from(ping.body)) else {
        return StatusCode::BAD_REQUEST;
    };
    req.extensions_mut().insert(Queued {
        at: ping.received_at,
        remote_addr: ping.remote_addr,
        body_size: ping.body_size,
    });
    match pings.clone().call(req).await {
        Ok(r) => r.status(),
        Err(never) => match never {},
    }
}

/// The leader's replay loop: at once, then every [`EVERY`], until
/// `shutdown`.
pub async fn replay_forever(
    store: Store,
    pings: axum::Router,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match replay_queued(&store, &pings).await {
            Ok(r) if r == Replayed::default() => {}
            Ok(r) => {
                if let Some(s) = super::status() {
                    s.replayed(r.recorded, r.dropped);
                }
                tracing::info!(
                    recorded = r.recorded,
                    dropped = r.dropped,
                    left = r.left,
                    "queued pings replayed (received by standbys while no leader answered)"
                );
            }
            Err(e) => tracing::warn!(error = %e, "cannot replay the queued pings; trying again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
