//! `tocsin run`: load and check everything, then start the engine, the
//! scheduler, the delivery workers and the HTTP server; stop cleanly on
//! Ctrl-C or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::eval::Engine;
use crate::notify::{Dispatcher, Router};
use crate::rules::{LoadOptions, load_rules};
use crate::schedule::Scheduler;
use crate::source::prometheus::PrometheusSource;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("invalid rules:\n{0}")]
    Rules(crate::yaml::SourceErrors),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("prometheus: {0}")]
    Source(#[from] crate::source::SourceError),
    #[error(transparent)]
    Channel(#[from] crate::notify::channels::ChannelError),
    #[error(transparent)]
    Schedule(#[from] crate::schedule::ScheduleError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> Result<(), DaemonError> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let running = start(config, shutdown_rx).await?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    running.stop().await;
    Ok(())
}

/// A started daemon (tests drive it directly).
pub struct Running {
    pub engine: Arc<Engine>,
    pub addr: std::net::SocketAddr,
    scheduler: Scheduler,
    dispatcher: Dispatcher,
    server: tokio::task::JoinHandle<()>,
    janitor: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        self.scheduler.shutdown().await;
        self.janitor.abort();
        self.dispatcher.join().await;
        self.server.abort();
    }
}

/// Loads rules, opens the store, and starts every part.
pub async fn start(
    config: Config,
    shutdown: watch::Receiver<bool>,
) -> Result<Running, DaemonError> {
    let opts = LoadOptions {
        default_interval: config.evaluation_interval.0,
    };
    let rules = load_rules(&config.rules, &opts).map_err(DaemonError::Rules)?;
    for w in &rules.warnings {
        tracing::warn!("{w}");
    }
    tracing::info!(
        files = rules.files.len(),
        groups = rules.groups.len(),
        rules = rules.rule_count(),
        "rules loaded"
    );
    let store = Store::open(&config.database_path())?;
    tracing::info!(path = %store.path().display(), "database ready");
    let known: Vec<String> = config
        .targets
        .iter()
        .filter(|t| t.enabled)
        .map(|t| t.name().to_string())
        .collect();
    let orphaned = store.fail_unknown_targets(known).await?;
    if orphaned > 0 {
        tracing::warn!(
            count = orphaned,
            "pending notifications for removed or disabled targets given up"
        );
    }

    let source = PrometheusSource::new(&config.prometheus)?;
    let router = Arc::new(Router::from_config(&config));
    let engine = Arc::new(
        Engine::new(
            Arc::new(rules),
            source,
            store.clone(),
            Arc::clone(&router),
            config.evaluation.max_concurrent_queries,
            config.evaluation.datasource_unavailable_after,
        )
        .await?,
    );
    let dispatcher = Dispatcher::start(
        &config,
        store.clone(),
        &|name| router.waker(name),
        shutdown.clone(),
    )?;

    let listener = crate::http::bind(config.listen_addr()).await?;
    let addr = listener.local_addr()?;
    let app = crate::http::app(crate::http::AppState {
        engine: Arc::clone(&engine),
        router: Arc::clone(&router),
        delivery: dispatcher.stats(),
    });
    let mut server_shutdown = shutdown.clone();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = server_shutdown.changed().await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    tracing::info!(%addr, "listening");

    let scheduler = Scheduler::start(Arc::clone(&engine)).await?;
    let janitor = tokio::spawn(janitor(
        Arc::clone(&engine),
        config.evaluation.resolved_retention.0,
        config.evaluation.history_retention.0,
    ));
    Ok(Running {
        engine,
        addr,
        scheduler,
        dispatcher,
        server,
        janitor,
    })
}

/// Keeps the database bounded: forgets resolved alerts after `resolved` and
/// history after `history`, checking every minute.
async fn janitor(engine: Arc<Engine>, resolved: Duration, history: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        engine.purge_resolved(resolved).await;
        let cutoff = chrono::Duration::from_std(history)
            .ok()
            .and_then(|h| chrono::Utc::now().checked_sub_signed(h))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        match engine.store().purge_history(cutoff).await {
            Ok((0, 0)) => {}
            Ok((events, notifications)) => {
                tracing::info!(events, notifications, "old history deleted")
            }
            Err(e) => tracing::warn!(error = %e, "cannot delete old history"),
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
