//! `tocsin run`: load and check everything, then start the engine, the
//! scheduler, the delivery workers and the HTTP server; reload on SIGHUP or
//! `POST /-/reload`; stop cleanly on Ctrl-C or SIGTERM.
//!
//! A control task owns the scheduler and the delivery workers. A reload reads
//! the config and rules again; if anything is wrong it logs every
//! `file:line:col` error, counts a failed reload and changes nothing. If all
//! is well it stops the scheduler and workers, hands the engine the new rules,
//! datasource and routing (alert state of unchanged rules is kept), and
//! starts them again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::http::reload::{ReloadRequest, request_reload};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::eval::Engine;
use crate::eval::engine::ReloadSummary;
use crate::heartbeat::Heartbeats;
use crate::notify::dispatch::DeliveryStats;
use crate::notify::{Dispatcher, Pipeline, Router};
use crate::rules::{LoadOptions, RuleSet, load_rules};
use crate::schedule::Scheduler;
use crate::source::heartbeat::HeartbeatSource;
use crate::source::prometheus::PrometheusSource;
use crate::source::remote_write::RemoteWriter;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("invalid config:\n{0}")]
    Config(crate::yaml::SourceErrors),
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
    #[error("replica: {0}")]
    Replica(String),
}

/// Runs until Ctrl-C or SIGTERM; SIGHUP reloads. (On PostgreSQL, `tocsin
/// run` runs [`crate::replica::run`] instead, which starts this as the
/// leader.)
pub async fn run(config: Config) -> Result<(), DaemonError> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let running = start(config, shutdown_rx).await?;
    let reload = running.reload_handle();
    wait_for_stop(reload).await;
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    running.stop().await;
    Ok(())
}

/// A started daemon (tests drive it directly).
pub struct Running {
    pub engine: Arc<Engine>,
    pub addr: std::net::SocketAddr,
    reload: mpsc::Sender<ReloadRequest>,
    control: tokio::task::JoinHandle<()>,
    server: tokio::task::JoinHandle<()>,
    janitor: tokio::task::JoinHandle<()>,
    /// Ends after answering the pings queued when shutdown was signalled.
    ping_writer: tokio::task::JoinHandle<()>,
    every_second: tokio::task::JoinHandle<()>,
    db_watch: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn reload_handle(&self) -> mpsc::Sender<ReloadRequest> {
        self.reload.clone()
    }

    /// Reloads config and rules now (what SIGHUP does).
    pub async fn reload(&self) -> Result<ReloadSummary, String> {
        request_reload(&self.reload).await
    }

    /// Stops everything; the shutdown signal must have been sent.
    pub async fn stop(self) {
        drop(self.reload);
        self.janitor.abort();
        self.every_second.abort();
        self.db_watch.abort();
        let _ = self.control.await;
        self.server.abort();
        let _ = self.ping_writer.await;
    }
}

fn load_rule_set(config: &Config) -> Result<RuleSet, DaemonError> {
    let opts = LoadOptions {
        default_interval: config.evaluation_interval.0,
    };
    let mut rules = load_rules(&config.rules, &opts).map_err(DaemonError::Rules)?;
    if config.prometheus.remote_write_url.is_none() {
        rules.skip_recording_rules();
    }
    for w in &rules.warnings {
        tracing::warn!("{w}");
    }
    Ok(rules)
}

/// The socket `listen` names, or the one a service manager handed over
/// (socket activation): what [`start_on`] serves on, and what a standby
/// replica keeps for its leading self.
pub async fn listen_socket(config: &Config) -> std::io::Result<tokio::net::TcpListener> {
    crate::http::listener(config.listen_addr()).await
}

/// Loads rules, opens the store, and starts every part.
pub async fn start(
    config: Config,
    shutdown: watch::Receiver<bool>,
) -> Result<Running, DaemonError> {
    start_on(config, shutdown, None).await
}

/// [`start`], serving on `listener` when given (a standby replica hands
/// over the socket it kept) instead of binding `listen`.
pub async fn start_on(
    config: Config,
    shutdown: watch::Receiver<bool>,
    listener: Option<tokio::net::TcpListener>,
) -> Result<Running, DaemonError> {
    let config = Arc::new(config);
    let mut rules = load_rule_set(&config)?;
    tracing::info!(
        files = rules.files.len(),
        groups = rules.groups.len(),
        rules = rules.rule_count(),
        "rules loaded"
    );
    let database = config.database();
    let store = Store::open_database(&database)?;
    tracing::info!(database = %database.display(), "database ready");
    give_up_unknown_targets(&store, &config).await?;

    let (heartbeats, ping_writer) = Heartbeats::start(
        &config.heartbeat,
        // Taken, not copied: only the heartbeat service looks at them (a
        // reload does not change the checks).
        std::mem::take(&mut rules.heartbeats),
        &database,
        shutdown.clone(),
    )
    .await?;

    let source = PrometheusSource::new(&config.prometheus)?;
    let remote_write = RemoteWriter::new(&config.prometheus)?;
    let silences = crate::notify::silence::SilenceCache::new(
        store
            .silences(chrono::Utc::now() - chrono::Duration::days(1))
            .await?,
    );
    let key = crate::signing::SigningKey::new(store.daemon_key("console").await?);
    let shared = crate::notify::RouterShared {
        silences,
        signing_key: Some(key.clone()),
        ..Default::default()
    };
    shared.verified.refresh(&store).await?;
    shared
        .verified
        .spawn_refresh(store.clone(), shutdown.clone());
    let router = Arc::new(Router::new(&config, shared));
    let pipeline = Arc::new(Pipeline::new(store.clone(), Arc::clone(&router)));
    let engine = Arc::new(
        Engine::new(
            Arc::new(rules),
            source,
            pipeline,
            config.evaluation.max_concurrent_queries,
            config.evaluation.datasource_unavailable_after,
        )
        .await?
        .with_selector_batching(config.evaluation.batch_selectors)
        .with_heartbeats(HeartbeatSource::new(
            Arc::clone(heartbeats.registry()),
            heartbeats.reader().clone(),
        )),
    );
    engine.set_remote_write(remote_write);
    engine.set_job_states(config.events.clone());
    engine.set_timezone(config.timezone);
    if router.needs_firing_index(None) {
        router.shared().firing.seed(&engine.alerts());
    }
    let delivery = DeliveryStats::default();
    let parts = Parts::start(&config, &engine, &router, &delivery).await?;

    let targets = Arc::new(crate::notify::TargetTester::new(Arc::clone(&config)));
    let listener = match listener {
        Some(l) => l,
        None => listen_socket(&config).await?,
    };
    let addr = listener.local_addr()?;
    heartbeats.set_public_url(
        (config.external_url.is_some() || !addr.ip().is_unspecified())
            .then(|| config.public_url(addr)),
    );
    let (reload_tx, reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let token = crate::http::auth::ApiToken::new(config.api_token.clone());
    let limits = crate::http::limits::Limits::new(config.limits.clone());
    let db = crate::store::watch::DbHealth::default();
    let watched = match &database {
        crate::store::Database::Sqlite(path) => crate::store::watch::Watched::new(path)?,
        crate::store::Database::Postgres(_) => {
            crate::store::watch::Watched::postgres(Store::open_another_of(&database)?)
        }
    };
    let guard = crate::http::auth::Guard::new(token.clone(), policy(&config), key);
    let state = crate::http::AppState::new(crate::http::AppParts {
        guard: guard.clone(),
        db: db.clone(),
        token: token.clone(),
        limits: limits.clone(),
        engine: Arc::clone(&engine),
        delivery: delivery.clone(),
        reload: reload_tx.clone(),
        targets: Arc::clone(&targets),
        heartbeats: heartbeats.clone(),
        started_at: chrono::Utc::now(),
    });
    if store.is_postgres() {
        // Pings standbys queued while no leader answered.
        let pings = crate::http::ping::routes().with_state(state.clone());
        tokio::spawn(crate::replica::inbox::replay_forever(
            store.clone(),
            pings,
            shutdown.clone(),
        ));
    }
    let app = crate::http::app(state);
    // Timeouts and the connection cap take effect at start (not on reload).
    let settings = crate::http::server::Settings::from_config(&config.http);
    let server = tokio::spawn(crate::http::server::serve(
        listener,
        app,
        settings,
        shutdown.clone(),
    ));
    tracing::info!(%addr, "listening");

    let janitor = tokio::spawn(janitor(
        Arc::clone(&engine),
        config.evaluation.resolved_retention.0,
        config.evaluation.history_retention.0,
        config.heartbeat.max_ping_bytes.value,
    ));
    let every_second = tokio::spawn(every_second(Arc::clone(&engine)));
    let db_watch = tokio::spawn(watch_database(
        watched,
        db,
        Arc::clone(&engine),
        Arc::clone(&targets),
        config.database_check_interval.value.0,
    ));
    let control = Control {
        config,
        token,
        guard,
        limits,
        targets: Arc::clone(&targets),
        engine: Arc::clone(&engine),
        delivery,
        parts: Some(parts),
    };
    let control = tokio::spawn(control.run(reload_rx, shutdown));
    Ok(Running {
        engine,
        addr,
        reload: reload_tx,
        control,
        server,
        janitor,
        ping_writer,
        every_second,
        db_watch,
    })
}

/// The HTTP guard's settings from the config.
fn policy(config: &Config) -> crate::http::auth::Policy {
    crate::http::auth::Policy {
        allowed_hosts: config
            .http
            .allowed_hosts
            .iter()
            .map(|h| h.value.clone())
            .collect(),
        token_reads: config.api_token_reads,
    }
}

/// Pending rows for targets that are gone or disabled are given up, with the reason.
async fn give_up_unknown_targets(store: &Store, config: &Config) -> Result<(), DaemonError> {
    let known: Vec<String> = config
        .delivery_targets()
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
    Ok(())
}

/// What a reload restarts: the scheduler and the delivery workers.
struct Parts {
    scheduler: Scheduler,
    dispatcher: Dispatcher,
    dispatcher_stop: watch::Sender<bool>,
}

impl Parts {
    async fn start(
        config: &Config,
        engine: &Arc<Engine>,
        router: &Arc<Router>,
        delivery: &DeliveryStats,
    ) -> Result<Parts, DaemonError> {
        let (dispatcher_stop, stop_rx) = watch::channel(false);
        let dispatcher = Dispatcher::start(
            config,
            engine.store().clone(),
            &|name| router.waker(name),
            stop_rx,
            delivery.clone(),
        )?;
        let scheduler = Scheduler::start(Arc::clone(engine)).await?;
        Ok(Parts {
            scheduler,
            dispatcher,
            dispatcher_stop,
        })
    }

    async fn stop(self) {
        self.scheduler.shutdown().await;
        let _ = self.dispatcher_stop.send(true);
        self.dispatcher.join().await;
    }
}

struct Control {
    config: Arc<Config>,
    token: crate::http::auth::ApiToken,
    guard: crate::http::auth::Guard,
    limits: crate::http::limits::Limits,
    targets: Arc<crate::notify::TargetTester>,
    engine: Arc<Engine>,
    delivery: DeliveryStats,
    parts: Option<Parts>,
}

impl Control {
    async fn run(
        mut self,
        mut reloads: mpsc::Receiver<ReloadRequest>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                req = reloads.recv() => match req {
                    Some(answer) => {
                        let result = self.reload().await;
                        let _ = answer.send(result);
                    }
                    None => break,
                },
                _ = shutdown.changed() => break,
            }
        }
        if let Some(parts) = self.parts.take() {
            parts.stop().await;
        }
    }

    async fn reload(&mut self) -> Result<ReloadSummary, String> {
        let path: Option<PathBuf> = self.config.source.clone();
        let result = self.try_reload(path).await;
        match &result {
            Ok(summary) => {
                self.engine.record_reload(true);
                tracing::info!(groups = summary.groups, rules = summary.rules, removed = ?summary.removed_rules, "reloaded");
            }
            Err(e) => {
                self.engine.record_reload(false);
                tracing::error!("reload failed; keeping the running config and rules:\n{e}");
            }
        }
        result
    }

    async fn try_reload(&mut self, path: Option<PathBuf>) -> Result<ReloadSummary, String> {
        let config = match &path {
            Some(p) => Config::load(Some(p)).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        let rules = load_rule_set(&config).map_err(|e| e.to_string())?;
        let source = PrometheusSource::new(&config.prometheus).map_err(|e| e.to_string())?;
        let remote_write = RemoteWriter::new(&config.prometheus).map_err(|e| e.to_string())?;
        for t in config.delivery_targets().filter(|t| t.enabled) {
            crate::notify::channels::Channel::from_config(t, &config).map_err(|e| e.to_string())?;
        }
        if config.listen_addr() != self.config.listen_addr() {
            tracing::warn!("a new listen address takes effect after a restart");
        }
        if config.data_dir != self.config.data_dir {
            tracing::warn!("a new data_dir takes effect after a restart");
        }
        let pipeline = self.engine.pipeline();
        let old_router = pipeline.router();
        let router = Arc::new(Router::new(&config, old_router.shared()));
        if router.needs_firing_index(Some(&old_router)) {
            router.shared().firing.seed(&self.engine.alerts());
        }
        if let Some(parts) = self.parts.take() {
            parts.stop().await;
        }
        // Rules that are gone resolve under the new routing.
        pipeline.set_router(router);
        let summary = self.engine.reload(Arc::new(rules), source).await;
        if summary.is_err() {
            pipeline.set_router(old_router);
        }
        // Whatever happened, the daemon runs again: on the new config if it
        // applied, else on the old one (the engine swaps nothing on failure).
        if summary.is_ok() {
            self.engine.set_remote_write(remote_write);
            self.engine.set_job_states(config.events.clone());
            self.engine.set_timezone(config.timezone);
            self.config = Arc::new(config);
            self.targets.set_config(Arc::clone(&self.config));
            self.token.set(self.config.api_token.clone());
            self.limits.set(self.config.limits.clone());
            self.guard.set_policy(policy(&self.config));
            give_up_unknown_targets(self.engine.store(), &self.config)
                .await
                .map_err(|e| e.to_string())?;
        }
        let router = pipeline.router();
        let parts = Parts::start(&self.config, &self.engine, &router, &self.delivery)
            .await
            .map_err(|e| e.to_string())?;
        self.parts = Some(parts);
        summary.map_err(|e| e.to_string())
    }
}

/// Keeps the database bounded: forgets resolved alerts after `resolved` and
/// history after `history`, and keeps ping bodies under `ping_bytes` in
/// all, checking every minute.
async fn janitor(engine: Arc<Engine>, resolved: Duration, history: Duration, ping_bytes: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        match engine.store().cap_ping_bytes(ping_bytes).await {
            Ok(0) => {}
            Ok(freed) => tracing::info!(
                freed,
                max = ping_bytes,
                "oldest ping bodies emptied (heartbeat.max_ping_bytes)"
            ),
            Err(e) => tracing::warn!(error = %e, "cannot bound the kept ping bodies"),
        }
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

/// Every second: hands freed memory back now and then, resolves external
/// alerts whose time is up, and writes the notifications no transition
/// causes ([`notify_held_back_and_repeats`]).
async fn every_second(engine: Arc<Engine>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        ticks += 1;
        if ticks % 5 == 2 {
            crate::memory::release_free_memory();
        }
        let now = chrono::Utc::now();
        match engine.expire_external(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(resolved = n, "external alerts expired"),
            Err(e) => tracing::warn!(error = %e, "cannot expire external alerts"),
        }
        notify_held_back_and_repeats(&engine, now).await;
    }
}

/// Notifies what ended silences, inhibitions and closed time windows held
/// back ([`crate::notify::resume`]), and repeats firing alerts on routes
/// with `repeat_interval` ([`crate::notify::repeat`]).
async fn notify_held_back_and_repeats(engine: &Engine, now: chrono::DateTime<chrono::Utc>) {
    use crate::notify::{repeat, resume};
    let pipeline = engine.pipeline();
    let firing = || engine.firing_alerts();
    if let Err(e) = resume::resume_ended(pipeline, &firing, now).await {
        tracing::warn!(error = %e, "cannot notify alerts of ended silences");
    }
    if let Err(e) = resume::resume_uninhibited(pipeline, &firing).await {
        tracing::warn!(error = %e, "cannot notify alerts no longer inhibited");
    }
    if let Err(e) = resume::resume_in_windows(pipeline, &firing, now).await {
        tracing::warn!(error = %e, "cannot notify alerts whose time window opened");
    }
    if let Err(e) = repeat::repeat_due(pipeline, &firing, now).await {
        tracing::warn!(error = %e, "cannot write repeat notifications");
    }
}

/// Watches the database file ([`crate::store::watch`]): a problem is logged
/// at ERROR with what to do, shown by `/healthz`, refuses writes, and sends
/// the built-in alert `DatabaseUnavailable` straight to every enabled target;
/// its end is logged and the alert resolved. After a full disk the
/// write-ahead log is checkpointed and truncated once there is room again.
async fn watch_database(
    watched: crate::store::watch::Watched,
    health: crate::store::watch::DbHealth,
    engine: Arc<Engine>,
    targets: Arc<crate::notify::TargetTester>,
    check_every: Duration,
) {
    use crate::notify::message::{AlertMessage, MessageKind};
    const ALERT: &str = "DatabaseUnavailable";
    let mut last_check = tokio::time::Instant::now();
    let mut damaged: Option<String> = None;
    let mut disk_was_full = false;
    let mut since = chrono::Utc::now();
    loop {
        tokio::time::sleep(crate::store::watch::FILE_CHECK).await;
        let check = last_check.elapsed() >= check_every;
        let w = watched.clone();
        let found = tokio::task::spawn_blocking(move || {
            let file = w.file_problem();
            let damage = if check && file.is_none() {
                Some(w.check_problem())
            } else {
                None
            };
            (file, damage)
        })
        .await;
        let Ok((file, damage)) = found else { continue };
        if let Some(d) = damage {
            last_check = tokio::time::Instant::now();
            damaged = d;
        }
        let full = file.as_deref().is_some_and(|p| p.contains("is full"));
        if full {
            disk_was_full = true;
        } else if disk_was_full && file.is_none() {
            match engine.store().checkpoint_truncate().await {
                Ok((log, copied)) => {
                    disk_was_full = false;
                    tracing::info!(
                        log_pages = log,
                        copied_pages = copied,
                        "disk has room again: write-ahead log checkpointed and truncated"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "disk has room again, but the write-ahead log cannot be checkpointed yet");
                    continue;
                }
            }
        }
        let problem = file.or_else(|| damaged.clone());
        let was = health.problem();
        if !health.set(problem.clone()) {
            continue;
        }
        let now = chrono::Utc::now();
        let message = match (&was, &problem) {
            (_, Some(p)) => {
                tracing::error!(path = %watched.path.display(), problem = %p, "database unavailable: writes are refused with 503 and /healthz answers 503 until this is fixed");
                if was.is_none() {
                    since = now;
                }
                AlertMessage::builtin(
                    MessageKind::Firing,
                    ALERT,
                    p.clone(),
                    if watched.is_postgres() {
                        "Bring PostgreSQL back or mend the way to it (see the message); tocsin records nothing meanwhile"
                    } else {
                        "Fix the database file (see the message); tocsin records nothing meanwhile"
                    }
                    .into(),
                    since,
                    now,
                )
            }
            (Some(_), None) => {
                tracing::info!(path = %watched.path.display(), "database available again");
                AlertMessage::builtin(
                    MessageKind::Resolved,
                    ALERT,
                    "The database is available again".into(),
                    String::new(),
                    since,
                    now,
                )
            }
            (None, None) => continue,
        };
        let sent = targets.broadcast(&message).await;
        tracing::info!(alert = ALERT, kind = ?message.kind, targets = sent, "built-in alert sent straight to the targets");
    }
}

/// Waits for Ctrl-C or SIGTERM (SIGHUP is ignored: nothing to reload yet).
pub(crate) async fn wait_for_terminate() {
    let (tx, _rx) = mpsc::channel::<ReloadRequest>(1);
    wait_for_stop(tx).await
}

/// Waits for Ctrl-C or SIGTERM; reloads on every SIGHUP meanwhile.
pub(crate) async fn wait_for_stop(reload: mpsc::Sender<ReloadRequest>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = term.recv() => return,
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading");
                    let _ = request_reload(&reload).await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = reload;
        let _ = tokio::signal::ctrl_c().await;
    }
}
