//! `tocsin ping URL -- CMD ARGS...`: the backup client's side of heartbeats.
//!
//! It sends `URL/start?rid=R` (waiting for it 1 s at most), runs the
//! command with its output passed through, then sends `URL/{exit code}?rid=R`
//! with the tail of the output (stdout and stderr as they came) as the body,
//! cut to the daemon's `Ping-Body-Limit`. Pings are retried with backoff on
//! network errors, timeouts, 429 and 5xx. Whatever happens to the pings, it
//! exits with the command's exit code (128 + N when a signal N ended it;
//! 127 / 126 when it could not be started). SIGTERM and SIGHUP are passed on
//! to the command; Ctrl-C reaches it from the terminal and tocsin waits for it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{StatusCode, Url};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::Command;
use uuid::Uuid;

use crate::alert::Language;
use crate::config::DeliveryConfig;
use crate::i18n::{Text, cli as say};
use crate::notify::dispatch::backoff;
use crate::yaml::HumanDuration;

/// Body kept until the daemon says otherwise (Healthchecks' default).
const DEFAULT_BODY_LIMIT: usize = 10_000;
/// Longest wait between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// Longest the command waits for its start ping.
const START_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Options {
    /// The check's ping URL (`.../ping/{uuid}` or `.../ping/{ping_key}/{slug}`).
    pub url: String,
    pub command: Vec<String>,
    /// Attempts after the first one, per ping.
    pub retries: u32,
    /// First wait between attempts; doubles up to 30 s.
    pub retry_delay: Duration,
    /// Per attempt.
    pub timeout: Duration,
    /// What its own lines on stderr are written in.
    pub language: Language,
}

/// Runs the command between its two pings; returns its exit code.
pub async fn run(opts: Options) -> i32 {
    let url = match Url::parse(&opts.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base() => Some(u),
        _ => {
            let url = format!("{:?}", opts.url);
            warn(opts.language, say::PING_BAD_URL, &[("url", &url)]);
            None
        }
    };
    let client = match crate::http_client::builder(opts.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            warn(opts.language, say::PING_NO_CLIENT, &[("why", &e)]);
            return run_command(&opts.command, &Tail::new(), opts.language)
                .await
                .0;
        }
    };
    let rid = Uuid::new_v4();
    let tail = Tail::new();
    let pinger = url.map(|url| Pinger {
        client,
        url,
        rid,
        retries: opts.retries,
        retry_delay: opts.retry_delay,
        language: opts.language,
    });
    // The command starts once the start ping is in (so the run's duration is
    // right), or after START_WAIT at most: a slow or absent daemon never
    // holds up the backup, and the start ping's retries go on meanwhile.
    // The end ping waits for it, so the two pair up.
    let mut start = pinger.clone().map(|p| {
        let limit = Arc::clone(&tail.limit);
        tokio::spawn(async move {
            if let Some(l) = p.send("start", Vec::new()).await {
                limit.store(l, Ordering::Relaxed);
            }
        })
    });
    if let Some(s) = start.as_mut()
        && tokio::time::timeout(START_WAIT, s).await.is_ok()
    {
        start = None; // done (a finished task must not be awaited again)
    }
    let (code, note) = run_command(&opts.command, &tail, opts.language).await;
    if let Some(start) = start {
        let _ = start.await;
    }
    if let Some(p) = pinger {
        let mut body = tail.take();
        if let Some(n) = note {
            body.extend_from_slice(n.as_bytes());
        }
        p.send(&code.to_string(), body).await;
    }
    code
}

/// One line of the catalogue on stderr, after `tocsin ping: `.
fn warn(lang: Language, text: Text, args: &[(&str, &dyn std::fmt::Display)]) {
    eprintln!("{}", line(lang, text, args));
}

fn line(lang: Language, text: Text, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    say::PING_PREFIX.fill(lang, &[("what", &text.fill(lang, args))])
}

#[derive(Clone)]
struct Pinger {
    client: reqwest::Client,
    url: Url,
    rid: Uuid,
    retries: u32,
    retry_delay: Duration,
    language: Language,
}

impl Pinger {
    /// `URL/{action}?rid=...`, keeping the URL's own query (`create=1`).
    fn url_for(&self, action: &str) -> Url {
        let mut u = self.url.clone();
        if let Ok(mut path) = u.path_segments_mut() {
            path.pop_if_empty().push(action);
        }
        u.query_pairs_mut()
            .append_pair("rid", &self.rid.to_string());
        u
    }

    /// Sends one ping with retries; returns the daemon's `Ping-Body-Limit`
    /// once it is accepted, `None` if it never was (a warning says why).
    async fn send(&self, action: &str, body: Vec<u8>) -> Option<usize> {
        let url = self.url_for(action);
        let policy = DeliveryConfig {
            retry_initial: HumanDuration(self.retry_delay),
            retry_max: HumanDuration(MAX_RETRY_DELAY),
            give_up_after: HumanDuration(Duration::MAX),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .client
                .post(url.clone())
                .body(body.clone())
                .send()
                .await;
            let why = match result {
                Ok(resp) if resp.status().is_success() => {
                    return Some(
                        resp.headers()
                            .get("Ping-Body-Limit")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(DEFAULT_BODY_LIMIT),
                    );
                }
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    let why = format!("HTTP {status}: {}", text.trim());
                    if !retryable(status) {
                        warn(
                            self.language,
                            say::PING_REFUSED,
                            &[("action", &action), ("why", &why)],
                        );
                        return None;
                    }
                    why
                }
                Err(e) => crate::http_client::describe_error(&e),
            };
            if attempt > self.retries {
                warn(
                    self.language,
                    say::PING_GAVE_UP,
                    &[("action", &action), ("attempts", &attempt), ("why", &why)],
                );
                return None;
            }
            let wait = backoff(&policy, attempt);
            let secs = format!("{:.1}", wait.as_secs_f64());
            warn(
                self.language,
                say::PING_RETRYING,
                &[("action", &action), ("why", &why), ("secs", &secs)],
            );
            tokio::time::sleep(wait).await;
        }
    }
}

fn retryable(s: StatusCode) -> bool {
    s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT
}

/// The last bytes of the command's output, up to the current body limit.
struct Tail {
    buf: Mutex<VecDeque<u8>>,
    limit: Arc<AtomicUsize>,
}

impl Tail {
    fn new() -> Tail {
        Tail {
            buf: Mutex::new(VecDeque::new()),
            limit: Arc::new(AtomicUsize::new(DEFAULT_BODY_LIMIT)),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let limit = self.limit.load(Ordering::Relaxed);
        let mut buf = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        buf.extend(bytes);
        let excess = buf.len().saturating_sub(limit);
        buf.drain(..excess);
    }

    fn take(&self) -> Vec<u8> {
        let limit = self.limit.load(Ordering::Relaxed);
        let mut buf = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        let excess = buf.len().saturating_sub(limit);
        buf.drain(..excess);
        buf.drain(..).collect()
    }
}

/// Runs the command, copying its output through and into `tail`. Returns its
/// exit code and, when it could not run, why (for the ping body).
async fn run_command(command: &[String], tail: &Tail, lang: Language) -> (i32, Option<String>) {
    let Some((program, args)) = command.split_first() else {
        return (2, Some("no command given".into()));
    };
    let spawned = Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::PermissionDenied {
                126
            } else {
                127
            };
            let program = format!("{program:?}");
            let msg = line(
                lang,
                say::PING_CANNOT_RUN,
                &[("program", &program), ("why", &e)],
            ) + "\n";
            eprint!("{msg}");
            return (code, Some(msg));
        }
    };
    let out = child.stdout.take();
    let err = child.stderr.take();
    let copy_out = copy(out, tokio::io::stdout(), tail);
    let copy_err = copy(err, tokio::io::stderr(), tail);
    let wait = wait_forwarding_signals(&mut child);
    let (status, _, _) = tokio::join!(wait, copy_out, copy_err);
    match status {
        Ok(s) => (exit_code(s), None),
        Err(e) => {
            let msg = line(lang, say::PING_LOST, &[("why", &e)]) + "\n";
            eprint!("{msg}");
            (1, Some(msg))
        }
    }
}

async fn copy<R, W>(from: Option<R>, mut to: W, tail: &Tail)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Some(mut from) = from else { return };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.push(&buf[..n]);
                // Our own output going away must not stop the command.
                let _ = to.write_all(&buf[..n]).await;
                let _ = to.flush().await;
            }
        }
    }
}

#[cfg(unix)]
async fn wait_forwarding_signals(
    child: &mut tokio::process::Child,
) -> std::io::Result<std::process::ExitStatus> {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::interrupt()),
    ) else {
        return child.wait().await;
    };
    let forward = |child: &tokio::process::Child, sig: libc::c_int| {
        if let Some(pid) = child.id() {
            // SAFETY: kill(2) with the pid of our own child and a valid signal number.
            unsafe {
                libc::kill(pid as libc::pid_t, sig);
            }
        }
    };
    loop {
        tokio::select! {
            status = child.wait() => return status,
            _ = term.recv() => forward(child, libc::SIGTERM),
            _ = hup.recv() => forward(child, libc::SIGHUP),
            // The terminal sends Ctrl-C to the command too: just wait for it.
            _ = int.recv() => {}
        }
    }
}

#[cfg(not(unix))]
async fn wait_forwarding_signals(
    child: &mut tokio::process::Child,
) -> std::io::Result<std::process::ExitStatus> {
    child.wait().await
}

fn exit_code(s: std::process::ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            return 128 + sig;
        }
    }
    s.code().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_urls_keep_their_query_and_get_the_rid() {
        let p = Pinger {
            client: crate::http_client::builder(Duration::from_secs(1))
                .build()
                .unwrap(),
            url: Url::parse("http://h:9750/ping/key123/backup-x?create=1").unwrap(),
            rid: Uuid::nil(),
            retries: 0,
            retry_delay: Duration::ZERO,
            language: Language::En,
        };
        assert_eq!(
            p.url_for("start").as_str(),
            "http://h:9750/ping/key123/backup-x/start?create=1&rid=00000000-0000-0000-0000-000000000000"
        );
        let p = Pinger {
            url: Url::parse("http://h/ping/abc/").unwrap(),
            ..p
        };
        assert_eq!(
            p.url_for("3").as_str(),
            "http://h/ping/abc/3?rid=00000000-0000-0000-0000-000000000000"
        );
    }

    #[test]
    fn the_tail_keeps_the_last_bytes() {
        let t = Tail::new();
        t.limit.store(5, Ordering::Relaxed);
        t.push(b"hello ");
        t.push(b"world");
        assert_eq!(t.take(), b"world");
    }
}
