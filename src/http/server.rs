//! The HTTP/1.1 server loop (hyper), with every connection bounded:
//!
//! - a client has `http.header_timeout` to send a request's headers;
//! - a whole request (body included) has `http.request_timeout` (408 past it);
//! - a keep-alive connection idle for `http.idle_timeout` is closed;
//! - at most `http.max_connections` are open at once. At the cap, a new
//!   connection takes the place of the connection idle the longest (one
//!   with no request in flight: a slowloris client that never finishes its
//!   headers is idle); only when every connection has a request in flight is
//!   the new one answered 503 and closed. So pings and `/healthz` are still
//!   answered while idle or slow connections pile up, and file descriptors
//!   stay bounded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// `http:` settings the server loop needs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
}

impl Settings {
    pub fn from_config(c: &crate::config::HttpConfig) -> Settings {
        Settings {
            max_connections: c.max_connections.value,
            header_timeout: c.header_timeout.value.0,
            idle_timeout: c.idle_timeout.value.0,
            request_timeout: c.request_timeout.value.0,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub open: AtomicUsize,
    /// Idle connections closed to make room for a new one.
    pub evicted: AtomicU64,
    /// New connections answered 503 because every one had a request in flight.
    pub refused: AtomicU64,
    /// Connections closed for idling longer than `idle_timeout`.
    pub idle_closed: AtomicU64,
    /// Requests answered 408 after `request_timeout`.
    pub timed_out: AtomicU64,
}

pub static STATS: ConnStats = ConnStats {
    open: AtomicUsize::new(0),
    evicted: AtomicU64::new(0),
    refused: AtomicU64::new(0),
    idle_closed: AtomicU64::new(0),
    timed_out: AtomicU64::new(0),
};

struct Conn {
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` of the last request's end (or the accept).
    last_active_ms: AtomicU64,
    kill: Notify,
}

struct Conns {
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Conns {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new connection, making room if needed; None when every
    /// open connection has a request in flight.
    fn admit(&self, max: usize) -> Option<(u64, Arc<Conn>)> {
        let mut open = self.lock();
        if open.len() >= max {
            let oldest_idle = open
                .iter()
                .filter(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, c)| c.last_active_ms.load(Ordering::Acquire))
                .map(|(id, _)| *id);
            let victim = oldest_idle.and_then(|id| open.remove(&id))?;
            victim.kill.notify_one();
            STATS.evicted.fetch_add(1, Ordering::Relaxed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(self.now_ms()),
            kill: Notify::new(),
        });
        open.insert(id, Arc::clone(&conn));
        STATS.open.store(open.len(), Ordering::Relaxed);
        Some((id, conn))
    }

    fn remove(&self, id: u64) {
        let mut open = self.lock();
        open.remove(&id);
        STATS.open.store(open.len(), Ordering::Relaxed);
    }
}

/// Serves `app` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: Settings,
    mut shutdown: watch::Receiver<bool>,
) {
    let conns = Arc::new(Conns {
        epoch: Instant::now(),
        next_id: AtomicU64::new(0),
        open: Mutex::new(HashMap::new()),
    });
    let mut last_accept_error: Option<Instant> = None;
    loop {
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors (EMFILE) and the like: say so
                    // (once a minute), wait a little, go on.
                    if last_accept_error.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                        tracing::error!(error = %e, "cannot accept connections (see README: raising the file limit)");
                        last_accept_error = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        match conns.admit(settings.max_connections) {
            Some((id, conn)) => {
                let app = app.clone();
                let conns = Arc::clone(&conns);
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    serve_one(stream, remote, app, settings, &conns, &conn, shutdown).await;
                    conns.remove(id);
                });
            }
            None => {
                STATS.refused.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(refuse(stream));
            }
        }
    }
}

/// Answers 503 and closes (every connection has a request in flight).
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = "too many connections (http.max_connections); retry\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

async fn serve_one(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    settings: Settings,
    conns: &Arc<Conns>,
    conn: &Arc<Conn>,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = {
        let conn = Arc::clone(conn);
        let conns = Arc::clone(conns);
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let mut app = app.clone();
            let conn = Arc::clone(&conn);
            let conns = Arc::clone(&conns);
            req.extensions_mut().insert(ConnectInfo(remote));
            conn.in_flight.fetch_add(1, Ordering::AcqRel);
            async move {
                let answer = tokio::time::timeout(
                    settings.request_timeout,
                    tower_service::Service::call(&mut app, req),
                )
                .await;
                conn.last_active_ms.store(conns.now_ms(), Ordering::Release);
                conn.in_flight.fetch_sub(1, Ordering::AcqRel);
                match answer {
                    Ok(r) => r,
                    Err(_) => {
                        STATS.timed_out.fetch_add(1, Ordering::Relaxed);
                        Ok(axum::response::IntoResponse::into_response((
                            axum::http::StatusCode::REQUEST_TIMEOUT,
                            [(axum::http::header::CONNECTION, "close")],
                            "request not complete within http.request_timeout\n",
                        )))
                    }
                }
            }
        })
    };
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(http);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let idle_ms = settings.idle_timeout.as_millis() as u64;
    let mut stopping = false;
    loop {
        tokio::select! {
            r = &mut http => {
                if let Err(e) = r {
                    tracing::debug!(%remote, error = %e, "connection ended");
                }
                return;
            }
            _ = conn.kill.notified() => {
                tracing::debug!(%remote, "idle connection closed to make room");
                return;
            }
            _ = tick.tick() => {
                let idle = conn.in_flight.load(Ordering::Acquire) == 0
                    && conns.now_ms().saturating_sub(conn.last_active_ms.load(Ordering::Acquire)) > idle_ms;
                if idle {
                    STATS.idle_closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            _ = shutdown.changed(), if !stopping => {
                stopping = true;
                http.as_mut().graceful_shutdown();
            }
        }
    }
}
