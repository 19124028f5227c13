//! Shared test harness: the real Prometheus + Pushgateway of this test run,
//! a webhook receiver that checks the wire format, and an in-process daemon.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::watch;

pub mod mocks;
pub mod own_postgres;
pub mod phone_mocks;
pub mod process;

/// The servers of this test run (started by scripts/test.sh, or here).
pub struct TestEnv {
    pub prometheus_url: String,
    pub pushgateway_url: String,
}

pub fn env() -> &'static TestEnv {
    static ENV: OnceLock<TestEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let [p, g] = servers(
            "start",
            ["TOCSIN_TEST_PROMETHEUS_URL", "TOCSIN_TEST_PUSHGATEWAY_URL"],
        );
        TestEnv {
            prometheus_url: p,
            pushgateway_url: g,
        }
    })
}

/// The python of the venv with the real Healthchecks client
/// (`healthchecks-io` from PyPI): TOCSIN_TEST_HC_PYTHON from scripts/test.sh,
/// or made here by `scripts/testenv.sh hcvenv`; with CI=true a missing one
/// fails the test.
pub fn hc_python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let [python] = servers("hcvenv", ["TOCSIN_TEST_HC_PYTHON"]);
        python
    })
}

/// The values of `vars`: from the environment (scripts/test.sh sets them),
/// else from `scripts/testenv.sh COMMAND` started for this test process
/// (stopped when it exits). With CI=true a missing server fails the test.
fn servers<const N: usize>(command: &str, vars: [&str; N]) -> [String; N] {
    if let Ok(values) = vars
        .iter()
        .map(std::env::var)
        .collect::<Result<Vec<_>, _>>()
    {
        return values.try_into().unwrap_or_else(|_| unreachable!());
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but {} is not set: run the suite with scripts/test.sh",
            vars.join(" / ")
        );
    }
    let dir = std::env::temp_dir().join(format!("tocsin-testenv-{command}-{}", std::process::id()));
    let status = std::process::Command::new("bash")
        .arg(repo().join("scripts/testenv.sh"))
        .arg(command)
        .arg(&dir)
        .arg(std::process::id().to_string())
        .status()
        .expect("run scripts/testenv.sh");
    assert!(status.success(), "scripts/testenv.sh {command} failed");
    let text = std::fs::read_to_string(dir.join("env")).expect("testenv env file");
    vars.map(|k| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} missing from testenv"))
            .to_string()
    })
}

/// The test run's PostgreSQL server (`TOCSIN_TEST_POSTGRES_URL`, or one
/// started here by `scripts/testenv.sh postgres`).
pub fn postgres_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let [url] = servers("postgres", ["TOCSIN_TEST_POSTGRES_URL"]);
        url
    })
}

/// A new, empty database on the test PostgreSQL; its URL.
pub fn fresh_postgres_database() -> String {
    let url = postgres_url().to_string();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    // The client blocks: not on an async test's thread.
    let sql = format!("CREATE DATABASE {name}");
    std::thread::spawn(move || {
        let mut c =
            postgres::Client::connect(&url, postgres::NoTls).expect("connect to PostgreSQL");
        c.batch_execute(&sql).expect("CREATE DATABASE");
    })
    .join()
    .expect("CREATE DATABASE thread");
    let base = postgres_url()
        .rsplit_once('/')
        .map_or(postgres_url(), |(b, _)| b);
    format!("{base}/{name}")
}

/// Whether daemons of this run keep their state in PostgreSQL
/// (`TOCSIN_TEST_DATABASE=postgres`, the second pass of scripts/test.sh).
pub fn on_postgres() -> bool {
    std::env::var("TOCSIN_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A client for the test's loopback servers (never through a proxy).
pub fn http() -> reqwest::Client {
    tocsin::http_client::builder(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap()
}

/// A config from YAML text (as `tocsin.yaml`); panics with its errors.
pub fn config_of(yaml: &str) -> tocsin::config::Config {
    tocsin::config::Config::from_text(Path::new("tocsin.yaml"), yaml)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The channel of the first target of a config given as YAML.
pub fn channel_of(yaml: &str) -> tocsin::notify::channels::Channel {
    let c = config_of(yaml);
    tocsin::notify::channels::Channel::from_config(&c.targets[0], &c).unwrap()
}

/// Runs `tocsin -c CONFIG ARGS...` (log at warn); (exit ok, stdout, stderr).
pub fn cli(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .env("RUST_LOG", "warn")
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `GET url`: its body as text.
pub async fn get_text(url: &str) -> String {
    http().get(url).send().await.unwrap().text().await.unwrap()
}

/// `GET url`: its body as JSON.
pub async fn get_json_at(url: &str) -> serde_json::Value {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

/// Sets `metric{labels} value` in the Pushgateway under job `job` (replacing the job's metrics).
pub async fn push(job: &str, lines: &str) {
    let url = format!("{}/metrics/job/{job}", env().pushgateway_url);
    let body = format!("{}\n", lines.trim());
    let resp = http()
        .put(&url)
        .body(body)
        .send()
        .await
        .expect("push to pushgateway");
    assert!(
        resp.status().is_success(),
        "pushgateway said {}",
        resp.status()
    );
}

/// Posts pings to `urls` in turn every 5 ms, at most `max` of them and for
/// at most `duration`; the task's answer is how many were answered 200 and
/// how many were not (refused, 503, a broken connection).
pub fn stream_pings(
    urls: Vec<String>,
    duration: Duration,
    max: usize,
) -> tokio::task::JoinHandle<(u64, u64)> {
    tokio::spawn(async move {
        let client = http();
        let (mut ok, mut refused) = (0u64, 0u64);
        let started = Instant::now();
        for i in 0..max {
            if started.elapsed() > duration {
                break;
            }
            match client.post(&urls[i % urls.len()]).body("x").send().await {
                Ok(r) if r.status() == 200 => ok += 1,
                Ok(_) | Err(_) => refused += 1,
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (ok, refused)
    })
}

/// Polls until `f` returns Some, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until Prometheus itself returns `value` for `query` (the scrape landed).
pub async fn wait_prometheus_value(query: &str, value: f64) {
    let url = format!("{}/api/v1/query", env().prometheus_url);
    wait_for(
        &format!("Prometheus to see {query} = {value}"),
        Duration::from_secs(20),
        || {
            let url = url.clone();
            async move {
                let resp = http()
                    .post(&url)
                    .form(&[("query", query)])
                    .send()
                    .await
                    .ok()?;
                let v: serde_json::Value = resp.json().await.ok()?;
                let got = v["data"]["result"][0]["value"][1]
                    .as_str()?
                    .parse::<f64>()
                    .ok()?;
                (got == value).then_some(())
            }
        },
    )
    .await
}

/// `tocsin run` as a child process, its stderr (the log, colours stripped)
/// collected as it goes. The config should say `listen: 127.0.0.1:0`: the
/// address the daemon bound is read from its "listening" line, so no port
/// is picked, dropped and reused.
pub struct Spawned {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Spawned {
    pub fn start(config: &Path, rust_log: &str) -> Spawned {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
            .args(["-c", config.to_str().unwrap(), "run"])
            .env("RUST_LOG", rust_log)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start tocsin run");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let line = strip_ansi(&line);
                if line.contains("listening")
                    && let Some(addr) = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("addr="))
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr);
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "tocsin run never said where it listens:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        Spawned { child, addr, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill9(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }

    /// SIGTERM, and waits for a clean exit.
    pub fn stop(mut self) -> String {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "tocsin run exited with {status:?}:\n{}",
                    self.log()
                );
                break;
            }
            assert!(Instant::now() < deadline, "did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.log()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A loopback port that refuses connections: bound (so nobody else gets it)
/// but not listening, for as long as the socket is kept.
pub fn refusing_port() -> tokio::net::TcpSocket {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("bind a loopback port");
    socket
}

/// A Prometheus of one test's own (scraping the run's Pushgateway), stopped
/// when dropped; with `alerting`, it evaluates that rule file and sends its
/// alerts to the Alertmanager API at the address given.
pub struct OwnPrometheus {
    pub url: String,
    pub pid: String,
    dir: tempfile::TempDir,
}

impl OwnPrometheus {
    pub fn start(alerting: Option<(SocketAddr, &str)>) -> OwnPrometheus {
        let dir = tempfile::tempdir().unwrap();
        let mut tail = Vec::new();
        if let Some((am, rules)) = alerting {
            let file = dir.path().join("rules.yml");
            std::fs::write(&file, rules).unwrap();
            tail.push(am.to_string());
            tail.push(file.to_str().unwrap().to_string());
        }
        OwnPrometheus::launch(dir, tail, None)
    }

    /// One that evaluates the rule files `glob` names (its alerts go
    /// nowhere: read them from its `/api/v1/alerts`).
    pub fn with_rule_files(glob: &str) -> OwnPrometheus {
        let dir = tempfile::tempdir().unwrap();
        OwnPrometheus::launch(dir, vec![String::new(), glob.to_string()], None)
    }

    /// [`OwnPrometheus::with_rule_files`] whose external URL (`$externalURL`
    /// in its templates) is `http://127.0.0.1:PORT{path}`: its
    /// `external_url()`. The API stays at `url`.
    pub fn with_rule_files_and_external_path(glob: &str, path: &str) -> OwnPrometheus {
        let dir = tempfile::tempdir().unwrap();
        OwnPrometheus::launch(dir, vec![String::new(), glob.to_string()], Some(path))
    }

    fn launch(
        dir: tempfile::TempDir,
        tail: Vec<String>,
        external_path: Option<&str>,
    ) -> OwnPrometheus {
        let pushgw = env()
            .pushgateway_url
            .trim_start_matches("http://")
            .to_string();
        let mut args = vec![
            "prometheus".to_string(),
            dir.path().to_str().unwrap().to_string(),
            pushgw,
        ];
        args.extend(tail);
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(repo().join("scripts/testenv.sh")).args(&args);
        if let Some(p) = external_path {
            cmd.env("TESTENV_PROMETHEUS_EXTERNAL_PATH", p);
        }
        let out = cmd.output().unwrap();
        let own = OwnPrometheus {
            url: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            pid: std::fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .find(|e| e.file_name().to_string_lossy().ends_with(".pid"))
                .and_then(|e| std::fs::read_to_string(e.path()).ok())
                .unwrap_or_default()
                .trim()
                .to_string(),
            dir,
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        own
    }
}

impl Drop for OwnPrometheus {
    fn drop(&mut self) {
        drop(StopPids(self.dir.path().to_path_buf()));
    }
}

/// Kills the processes whose `*.pid` files are in a folder when dropped
/// (servers a test started with scripts/testenv.sh stop even when an
/// assertion fails).
pub struct StopPids(pub PathBuf);

impl Drop for StopPids {
    fn drop(&mut self) {
        for e in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().ends_with(".pid")
                && let Ok(pid) = std::fs::read_to_string(e.path())
            {
                let _ = std::process::Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub status_returned: u16,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

/// An HTTP receiver for webhook deliveries on 127.0.0.1. It answers with the
/// scripted statuses in order, then 200, and checks every body is
/// Alertmanager's webhook JSON (a wrong shape is answered 400 and recorded).
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    pub async fn start(script: &[u16]) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let state = (Arc::clone(&got), Arc::clone(&script));
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, got, script }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Alerts from accepted (2xx) deliveries, leaving out the sentinels
    /// tests post to mark a later point ([`Daemon::sentinel`]).
    pub fn accepted_alerts(&self) -> Vec<serde_json::Value> {
        self.accepted_with_sentinels()
            .into_iter()
            .filter(|a| !is_sentinel(a))
            .collect()
    }

    /// Alerts from accepted (2xx) deliveries, sentinels included.
    pub fn accepted_with_sentinels(&self) -> Vec<serde_json::Value> {
        self.received()
            .into_iter()
            .filter(|r| r.status_returned < 300)
            .flat_map(|r| r.body["alerts"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// Alerts named `Sentinel-N` mark a point in a test's timeline.
fn is_sentinel(alert: &serde_json::Value) -> bool {
    alert["labels"]["alertname"]
        .as_str()
        .is_some_and(|n| n.starts_with("Sentinel-"))
}

type ReceiverState = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<VecDeque<u16>>>);

async fn receive(
    State((got, script)): State<ReceiverState>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let at = Instant::now();
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    let mut status = script.lock().unwrap().pop_front().unwrap_or(200);
    if let Err(why) = check_alertmanager_shape(&parsed, &headers) {
        eprintln!("receiver: bad webhook body: {why}: {body}");
        status = 400;
    }
    got.lock().unwrap().push(Received {
        at,
        status_returned: status,
        headers,
        body: parsed,
    });
    StatusCode::from_u16(status).unwrap()
}

/// The fields and types Alertmanager's webhook (version 4) carries.
fn check_alertmanager_shape(v: &serde_json::Value, headers: &HeaderMap) -> Result<(), String> {
    if headers.get("content-type").and_then(|h| h.to_str().ok()) != Some("application/json") {
        return Err("content-type is not application/json".into());
    }
    let obj = v.as_object().ok_or("body is not a JSON object")?;
    if obj.get("version").and_then(|x| x.as_str()) != Some("4") {
        return Err("version is not \"4\"".into());
    }
    for k in ["groupKey", "status", "receiver", "externalURL"] {
        obj.get(k)
            .and_then(|x| x.as_str())
            .ok_or(format!("{k} missing or not a string"))?;
    }
    for k in ["groupLabels", "commonLabels", "commonAnnotations"] {
        obj.get(k)
            .and_then(|x| x.as_object())
            .ok_or(format!("{k} missing or not an object"))?;
    }
    obj.get("truncatedAlerts")
        .and_then(|x| x.as_u64())
        .ok_or("truncatedAlerts missing")?;
    let alerts = obj
        .get("alerts")
        .and_then(|x| x.as_array())
        .ok_or("alerts missing")?;
    if alerts.is_empty() {
        return Err("alerts is empty".into());
    }
    for a in alerts {
        let status = a["status"].as_str().ok_or("alert status missing")?;
        if status != "firing" && status != "resolved" {
            return Err(format!("alert status {status:?}"));
        }
        a["labels"]["alertname"]
            .as_str()
            .ok_or("alert without alertname")?;
        a["annotations"].as_object().ok_or("annotations missing")?;
        let starts = a["startsAt"].as_str().ok_or("startsAt missing")?;
        chrono::DateTime::parse_from_rfc3339(starts).map_err(|e| format!("startsAt: {e}"))?;
        let ends = a["endsAt"].as_str().ok_or("endsAt missing")?;
        if status == "firing" && ends != "0001-01-01T00:00:00Z" {
            return Err("a firing alert's endsAt must be the zero time".into());
        }
        chrono::DateTime::parse_from_rfc3339(ends).map_err(|e| format!("endsAt: {e}"))?;
        let fp = a["fingerprint"].as_str().ok_or("fingerprint missing")?;
        if fp.len() != 16 || !fp.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("fingerprint {fp:?} is not 16 hex digits"));
        }
        a["generatorURL"].as_str().ok_or("generatorURL missing")?;
    }
    Ok(())
}

/// A daemon running in this process, with its own folder for rules and data.
pub struct Daemon {
    pub dir: PathBuf,
    pub running: Option<tocsin::daemon::Running>,
    shutdown: Option<watch::Sender<bool>>,
}

impl Daemon {
    /// A folder for a daemon without rules whose one target, `hook`, is a
    /// webhook to `hook_url` and the default route; `routing` adds keys
    /// under `routing:` (each line indented two spaces).
    pub fn prepare_hook_route(hook_url: &str, routing: &str) -> PathBuf {
        Daemon::prepare(
            "groups: []\n",
            &format!(
                "targets:\n  - {{name: hook, type: webhook, url: \"{hook_url}\"}}\nrouting:\n  default: [hook]\n{routing}"
            ),
        )
    }

    /// Writes `rules` and a config (`extra_config` appended) into a new folder.
    pub fn prepare(rules: &str, extra_config: &str) -> PathBuf {
        let dir = tempfile::Builder::new()
            .prefix("tocsin-test-")
            .tempdir()
            .unwrap()
            .keep();
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        std::fs::write(dir.join("rules/test.yaml"), rules).unwrap();
        let database = if on_postgres() {
            format!("database: \"{}\"\n", fresh_postgres_database())
        } else {
            String::new()
        };
        let config = format!(
            "listen: 127.0.0.1:0\nrules: [rules/]\ndata_dir: data\n{database}prometheus: {{url: \"{}\", timeout: 2s}}\ndelivery: {{retry_initial: 200ms, retry_max: 1s}}\n{extra_config}",
            env().prometheus_url
        );
        std::fs::write(dir.join("tocsin.yaml"), config).unwrap();
        dir
    }

    pub async fn start(dir: &Path) -> Daemon {
        let config = tocsin::config::Config::load(Some(&dir.join("tocsin.yaml")))
            .unwrap_or_else(|e| panic!("{e}"));
        let (tx, rx) = watch::channel(false);
        let running = tocsin::daemon::start(config, rx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Daemon {
            dir: dir.to_path_buf(),
            running: Some(running),
            shutdown: Some(tx),
        }
    }

    pub fn engine(&self) -> &tocsin::eval::Engine {
        &self.running.as_ref().unwrap().engine
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.as_ref().unwrap().addr)
    }

    /// The alert of `name`, if the engine has one.
    pub fn alert(&self, name: &str) -> Option<tocsin::alert::AlertInstance> {
        self.engine().alerts().into_iter().find(|a| a.alert == name)
    }

    /// `GET path` as JSON (e.g. `/api/v1/alerts`).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        get_json_at(&self.api(path)).await
    }

    /// `GET path` as text (e.g. `/metrics`, `/`).
    pub async fn get_text(&self, path: &str) -> String {
        get_text(&self.api(path)).await
    }

    /// `GET /api/v1/alerts`: every alert's view.
    pub async fn alert_views(&self) -> Vec<serde_json::Value> {
        match self.get_json("/api/v1/alerts").await {
            serde_json::Value::Array(v) => v,
            other => panic!("/api/v1/alerts is not an array: {other}"),
        }
    }

    /// Posts Alertmanager-format alerts to `/api/v2/alerts` and expects 200.
    pub async fn post_alerts(&self, body: &impl serde::Serialize) {
        let resp = http()
            .post(self.api("/api/v2/alerts"))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "POST /api/v2/alerts: {text}");
    }

    /// Instead of a fixed sleep before "nothing more arrived": posts a new
    /// alert `Sentinel-N` with `labels` (which must route it to `r`) and
    /// waits until `r` has accepted it `times` times. The outbox sends a
    /// target's rows in order, so whatever was due before the sentinel has
    /// arrived by then. [`Receiver::accepted_alerts`] leaves sentinels out.
    pub async fn sentinel(&self, r: &Receiver, labels: serde_json::Value, times: usize) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "Sentinel-{}",
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut labels = labels;
        labels["alertname"] = serde_json::json!(name);
        self.post_alerts(&serde_json::json!([{ "labels": labels }]))
            .await;
        wait_for(
            &format!("{name} to arrive {times}x"),
            Duration::from_secs(60),
            || async {
                let got = r
                    .accepted_with_sentinels()
                    .iter()
                    .filter(|a| a["labels"]["alertname"] == name.as_str())
                    .count();
                (got >= times).then_some(())
            },
        )
        .await;
    }

    /// Evaluations of each rule group so far.
    pub fn evaluations(&self) -> std::collections::HashMap<String, u64> {
        self.engine()
            .group_statuses()
            .into_iter()
            .map(|g| (g.name, g.evaluations))
            .collect()
    }

    /// Waits for `n` more evaluations of every rule group.
    pub async fn more_evaluations(&self, n: u64) {
        let before = self.evaluations();
        wait_for(
            &format!("{n} more evaluations of every group"),
            Duration::from_secs(60),
            || async {
                let now = self.evaluations();
                before
                    .iter()
                    .all(|(g, c)| now.get(g).is_some_and(|x| *x >= c + n))
                    .then_some(())
            },
        )
        .await;
    }

    /// Instead of a fixed sleep before "nothing more arrived": waits for a
    /// later point in the daemon's own work — `n` more evaluations of every
    /// group, then an outbox with nothing pending — so what a test counts
    /// afterwards is everything the daemon did by then, however slow the
    /// machine.
    pub async fn settle(&self, n: u64) {
        self.more_evaluations(n).await;
        let store = self.engine().store();
        wait_for(
            "an outbox with nothing pending",
            Duration::from_secs(60),
            || async {
                let pending = store.outbox_pending().await.ok()?;
                pending.iter().all(|(_, n, _)| *n == 0).then_some(())
            },
        )
        .await;
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// The SMTP server of this test run: where it listens and the maildir it
/// stores each delivered mail in (one file per mail under `new/`).
pub struct SmtpEnv {
    pub addr: SocketAddr,
    pub maildir: PathBuf,
}

/// Started by scripts/test.sh (TOCSIN_TEST_SMTP_ADDR / TOCSIN_TEST_MAILDIR),
/// or here outside CI; with CI=true a missing server fails the test.
pub fn smtp() -> &'static SmtpEnv {
    static SMTP: OnceLock<SmtpEnv> = OnceLock::new();
    SMTP.get_or_init(|| {
        let [addr, dir] = servers("smtp", ["TOCSIN_TEST_SMTP_ADDR", "TOCSIN_TEST_MAILDIR"]);
        SmtpEnv {
            addr: addr
                .parse()
                .unwrap_or_else(|_| panic!("bad TOCSIN_TEST_SMTP_ADDR {addr:?}")),
            maildir: PathBuf::from(dir),
        }
    })
}

/// Waits for the delivered mail whose raw text contains `marker`.
pub async fn delivered_mail(marker: &str) -> Vec<u8> {
    let new = smtp().maildir.join("new");
    wait_for(
        &format!("a mail containing {marker:?} in {}", new.display()),
        Duration::from_secs(10),
        || {
            let new = new.clone();
            async move {
                std::fs::read_dir(&new).ok()?.flatten().find_map(|e| {
                    let raw = std::fs::read(e.path()).ok()?;
                    String::from_utf8_lossy(&raw)
                        .contains(marker)
                        .then_some(raw)
                })
            }
        },
    )
    .await
}
