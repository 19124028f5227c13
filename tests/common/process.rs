//! The real binary as a child process (faketime, kill -9, file descriptors):
//! its own folder, a free loopback port, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// A folder with `rules/test.yaml` and a `tocsin.yaml`, and the listening
/// socket every daemon started from it serves on: the test holds it for
/// its whole life and hands it to each process (socket activation,
/// `LISTEN_FDS`), so the port never changes across restarts and is never
/// free for anyone else to take.
pub struct Setup {
    pub dir: PathBuf,
    pub port: u16,
    /// `None` once [`Setup::close_socket`] gave it up.
    listener: Option<std::net::TcpListener>,
    /// Where the config's Prometheus is: bound, never listening (refused).
    _prometheus: tokio::net::TcpSocket,
}

impl Setup {
    pub fn new(rules: &str, extra_config: &str) -> Setup {
        let dir = tempfile::Builder::new()
            .prefix("tocsin-proc-")
            .tempdir()
            .unwrap()
            .keep();
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        std::fs::write(dir.join("rules/test.yaml"), rules).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // A socket that is bound but does not listen refuses connections.
        let prometheus = {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = s.local_addr().unwrap();
            (s, addr)
        };
        std::fs::write(
            dir.join("tocsin.yaml"),
            format!(
                "listen: 127.0.0.1:{port}\nrules: [rules/]\ndata_dir: data\nprometheus: {{url: \"http://{}\", timeout: 1s}}\ndelivery: {{retry_initial: 200ms, retry_max: 1s}}\n{extra_config}",
                prometheus.1
            ),
        )
        .unwrap();
        Setup {
            dir,
            port,
            listener: Some(listener),
            _prometheus: prometheus.0,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `GET path` of the running daemon, as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        super::get_json_at(&self.url(path)).await
    }

    /// Stops holding the socket: once the process that has it dies, the
    /// port refuses connections (as without socket activation), and no
    /// process can be started from this setup again.
    pub fn close_socket(&mut self) {
        self.listener = None;
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tocsin"));
        c.current_dir(&self.dir)
            .args(["-c", "tocsin.yaml", "run"])
            .env("RUST_LOG", "info")
            .env("LISTEN_FDS", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let listener = self
            .listener
            .as_ref()
            .expect("the setup's socket is closed");
        let fd = std::os::fd::AsRawFd::as_raw_fd(listener);
        // SAFETY: between fork and exec only async-signal-safe calls: the
        // held socket becomes fd 3, inheritable, as LISTEN_FDS says.
        unsafe {
            c.pre_exec(move || {
                if fd == 3 {
                    if libc::fcntl(3, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, 3) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        c
    }

    /// Starts the binary (stderr into `log`) and waits for `/healthz`.
    pub async fn spawn(&self, mut c: Command) -> Proc {
        let log = self.dir.join("log");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        c.stdout(f.try_clone().unwrap()).stderr(f);
        let child = c.spawn().expect("tocsin starts");
        let p = Proc { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client().get(self.url("/healthz")).send().await
                && r.status().is_success()
            {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not come up:\n{}",
                p.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn client() -> reqwest::Client {
    super::http()
}

pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.id().map(|p| p as i32).unwrap_or(0)
    }

    pub async fn kill9(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then waits for the exit.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// One sample of a `/metrics` family with the given label text, e.g.
/// `metric(text, "tocsin_rule_group_evaluations_total", "group=\"g\"")`.
pub fn metric(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let rest = if labels.is_empty() {
            rest.strip_prefix(' ')?
        } else {
            let inner = rest.strip_prefix('{')?;
            let (ls, v) = inner.split_once("} ")?;
            if !ls.split(',').any(|p| p == labels) {
                return None;
            }
            v
        };
        rest.trim().parse().ok()
    })
}

#[allow(unused_imports)] // used by some of the test binaries that include this module
pub use super::get_text;

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
