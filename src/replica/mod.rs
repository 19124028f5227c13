//! Several tocsin processes on one PostgreSQL database: one leads, the
//! others stand by and take over when it goes.
//!
//! The leader holds the lease in the database (`store/lease.rs`), renews it
//! every third of `leader_lease`, and runs everything: evaluation, the
//! outbox, pings, the API. A standby (`standby.rs`) keeps the HTTP port,
//! answers who leads, forwards every other request to the leader
//! (`forward.rs`), and tries the lease every 250 ms; once the lease ends
//! it takes it and starts as the leader from the shared state (alerts,
//! `for` timers, the outbox, checks). The leader fences itself: when it has
//! not renewed the lease by `leader_lease` − a margin after its last
//! successful renewal was sent, it exits at once (exit code 75), before the
//! lease can end in the database and another replica start. Run it under a
//! supervisor that starts it again (it then stands by).

mod forward;
pub mod inbox;
mod standby;
mod status;

use std::time::{Duration, Instant};

use tokio::sync::watch;

pub use standby::POLL;
pub use status::{ReplicaStatus, status};

use crate::config::Config;
use crate::daemon::DaemonError;
use crate::store::{PgTarget, Store};

/// The exit code of a leader that lost its lease.
pub const FENCED_EXIT_CODE: i32 = 75;

/// How long before the lease ends (by the last renewal sent) a leader that
/// could not renew stops.
fn margin(ttl: Duration) -> Duration {
    (ttl / 5).max(Duration::from_secs(1))
}

/// This process's name in the lease: host, pid and a random part (a pid
/// reused after a restart is another holder).
fn holder_name() -> String {
    let host = crate::config::host_name().unwrap_or_else(|| "host".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &random[..6])
}

/// Runs this process as one replica on `target` until Ctrl-C or SIGTERM.
pub async fn run(config: Config, target: PgTarget) -> Result<(), DaemonError> {
    let ttl = config.leader_lease.value.0;
    let store = Store::open_postgres(&target)?;
    let listener = crate::daemon::listen_socket(&config).await?.into_std()?;
    let address = config.advertised_url(listener.local_addr()?);
    let status = status::init(holder_name(), address, ttl.as_secs_f64());
    crate::store::lease::set_holder(status.holder.clone());
    tracing::info!(addr = %listener.local_addr()?, replica = %status.holder, advertise_url = %status.address, "listening; standing by until this replica holds the lease (forwarding requests to the leader)");
    let key = crate::signing::SigningKey::new(store.daemon_key("console").await?);
    let limits = &config.limits;
    let max_body = limits
        .api_body_bytes
        .value
        .max(limits.alerts_body_bytes.value)
        .max(config.heartbeat.ping_body_limit.value);
    let inbox = inbox::Inbox {
        store: store.clone(),
        holder: status.holder.clone(),
        body_limit: config.heartbeat.ping_body_limit.value,
        status,
    };
    let forwarder =
        forward::Forwarder::new(key, max_body, config.http.request_timeout.value.0, inbox)
            .map_err(|e| {
                DaemonError::Replica(format!(
                    "cannot make the HTTP client that forwards to the leader: {e}"
                ))
            })?;
    let reads = crate::http::auth::ApiToken::new(
        config.api_token.clone().filter(|_| config.api_token_reads),
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        crate::daemon::wait_for_terminate().await;
        let _ = stop_tx.send(true);
    });
    let Some((lease, sent)) =
        standby::stand_by(&listener, &store, forwarder, reads, ttl, stop_rx.clone()).await?
    else {
        tracing::info!("stopped while standing by");
        return Ok(());
    };
    status.lead(&lease);
    tracing::info!(replica = %status.holder, epoch = lease.epoch, "this replica holds the lease: it leads now");
    let keeper = tokio::spawn(keep_lease(
        store.clone(),
        status,
        ttl,
        sent + ttl.saturating_sub(margin(ttl)),
    ));

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let running = crate::daemon::start_on(config, shutdown_rx, Some(listener)).await?;
    let reload = running.reload_handle();
    let mut stop = stop_rx;
    tokio::select! {
        _ = crate::daemon::wait_for_stop(reload) => {}
        _ = stop.changed() => {}
    }
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    running.stop().await;
    keeper.abort();
    // Handing the lease over at once: a standby takes it within POLL.
    match store.release_lease(status.holder.clone()).await {
        Ok(_) => tracing::info!("lease released"),
        Err(e) => tracing::warn!(error = %e, "cannot release the lease; it ends by itself"),
    }
    Ok(())
}

/// Renews the lease every third of `ttl`; exits the process once
/// `deadline` passes without a renewal.
async fn keep_lease(
    store: Store,
    status: &'static ReplicaStatus,
    ttl: Duration,
    mut deadline: Instant,
) {
    let every = ttl / 3;
    loop {
        let now = Instant::now();
        if now >= deadline {
            fence("no renewal of the lease in time");
        }
        tokio::time::sleep(every.min(deadline - now)).await;
        if Instant::now() >= deadline {
            fence("no renewal of the lease in time");
        }
        let sent = Instant::now();
        let claim = store.claim_lease(status.holder.clone(), status.address.clone(), ttl);
        match tokio::time::timeout(deadline.saturating_duration_since(sent), claim).await {
            Ok(Ok(Some(lease))) => {
                deadline = sent + ttl.saturating_sub(margin(ttl));
                tracing::debug!(epoch = lease.epoch, "lease renewed");
                status.renewed(lease);
            }
            Ok(Ok(None)) => fence("another replica holds the lease"),
            Ok(Err(e)) => {
                status.renewal_failed();
                tracing::warn!(error = %e, "cannot renew the lease; trying again");
            }
            Err(_) => {
                status.renewal_failed();
                tracing::warn!("renewing the lease took too long");
            }
        }
    }
}

/// Stops this process at once: another replica may lead soon, and two
/// leaders must never evaluate or send at the same time.
fn fence(why: &str) -> ! {
    tracing::error!(
        reason = why,
        "this replica lost the lease: exiting now so that another can lead (a supervisor starts it again as a standby)"
    );
    std::process::exit(FENCED_EXIT_CODE)
}
