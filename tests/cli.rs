//! The `tocsin` binary as a user runs it: `check`, `run`, `alerts`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn tocsin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    c.env("RUST_LOG", "warn");
    c
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// The variables the example config's (disabled) channel examples use.
const EXAMPLE_SECRETS: &[(&str, &str)] = &[
    ("SMTP_PASSWORD", "p"),
    (
        "DINGTALK_WEBHOOK",
        "https://oapi.dingtalk.com/robot/send?access_token=t",
    ),
    ("DINGTALK_SECRET", "SECx"),
    (
        "WECOM_WEBHOOK",
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
    ),
    ("WECOM_APP_SECRET", "s"),
    (
        "FEISHU_WEBHOOK",
        "https://open.feishu.cn/open-apis/bot/v2/hook/t",
    ),
    ("FEISHU_SECRET", "s"),
    ("SLACK_WEBHOOK", "https://hooks.slack.com/services/T/B/x"),
    ("PAGERDUTY_ROUTING_KEY", "0123456789abcdef0123456789abcdef"),
    ("ALIYUN_ACCESS_KEY_SECRET", "s"),
    ("TWILIO_AUTH_TOKEN", "t"),
];

/// Runs `tocsin -c CFG ARGS...`, expects exit code 1 and `want` in stderr;
/// returns stderr.
fn fails_with(cfg: &Path, args: &[&str], want: &str) -> String {
    let out = tocsin().arg("-c").arg(cfg).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(want), "expected {want:?} in:\n{err}");
    err
}

#[test]
fn check_accepts_the_shipped_rules_and_example_config() {
    let repo = common::repo();
    let out = tocsin()
        .current_dir(&repo)
        .env("OPS_WEBHOOK_TOKEN", "t")
        .envs(EXAMPLE_SECRETS.iter().copied())
        .args(["-c", "tocsin.example.yaml", "check", "rules/"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("groups") && stdout.contains("rules"),
        "{stdout}"
    );
}

#[test]
fn check_reports_every_error_with_file_line_col_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rules/a.yaml",
        "groups:\n  - name: g\n    interval: 30x\n    rules:\n      - alert: A\n        query: up\n        when: \"=> 3\"\n",
    );
    write(
        dir.path(),
        "rules/b.yml",
        "groups:\n  - name: h\n    cron: \"*/5 * * * *\"\n    rules:\n      - alert: B\n        query: up\n      - alert: B\n        query: up\n",
    );
    write(dir.path(), "rules/not-rules.txt", "ignored");
    let out = tocsin()
        .current_dir(dir.path())
        .args(["check", "rules"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rules/a.yaml:3:15: expected a duration"),
        "{err}"
    );
    assert!(
        err.contains("rules/b.yml:3:11: expected a cron expression with 6 fields"),
        "{err}"
    );
    // a YAML error stops its file; the other file's problems are all listed
    assert!(!err.contains("not-rules"), "{err}");
}

#[test]
fn check_reports_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "tocsin.yaml",
        "listen: 127.0.0.1:9750\nprometheus:\n  url: http://127.0.0.1:9090\n  timout: 5s\n",
    );
    fails_with(&cfg, &["check"], "tocsin.yaml:4:3: unknown field `timout`");
}

#[test]
fn run_refuses_to_start_on_bad_config_or_rules_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "tocsin.yaml", "listen: everywhere\n");
    let err = fails_with(&cfg, &["run"], "tocsin.yaml:1:9: expected an address");
    assert!(err.contains("did not start"), "{err}");

    write(
        dir.path(),
        "rules/x.yaml",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: up\n        severity: loud\n",
    );
    let cfg = write(
        dir.path(),
        "tocsin.yaml",
        "listen: 127.0.0.1:0\nrules: [rules]\n",
    );
    fails_with(
        &cfg,
        &["run"],
        "x.yaml:6:19: expected severity warning or error",
    );
}

#[test]
fn run_serves_the_api_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rules/r.yaml",
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Never\n        query: vector(0)\n        when: \"> 1\"\n        severity: warning\n",
    );
    let cfg = write(
        dir.path(),
        "tocsin.yaml",
        &format!(
            "listen: 127.0.0.1:0\nrules: [rules]\nprometheus: {{url: \"{}\"}}\n",
            common::env().prometheus_url
        ),
    );
    let daemon = common::Spawned::start(&cfg, "info");
    let deadline = Instant::now() + Duration::from_secs(20);
    let rules: serde_json::Value = loop {
        let got = std::process::Command::new("curl")
            .args(["-sf", &daemon.url("/api/v1/rules")])
            .output()
            .unwrap();
        if got.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
            if v[0]["rules"][0]["health"] == "ok" {
                break v;
            }
        }
        assert!(Instant::now() < deadline, "daemon never evaluated its rule");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(rules[0]["name"], "g");
    assert!(
        dir.path().join("data/tocsin.db").exists(),
        "data under the config's folder"
    );

    // The CLI finds the daemon through its config's `listen`.
    let cli = write(
        dir.path(),
        "cli.yaml",
        &format!("listen: {}\n", daemon.addr),
    );
    let out = tocsin()
        .args(["-c", cli.to_str().unwrap(), "alerts"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no alerts");

    daemon.stop();
}

#[test]
fn alerts_without_a_daemon_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refused = rt.block_on(async { common::refusing_port() });
    let cfg = write(
        dir.path(),
        "tocsin.yaml",
        &format!("listen: {}\n", refused.local_addr().unwrap()),
    );
    let out = tocsin()
        .args(["-c", cfg.to_str().unwrap(), "alerts"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is `tocsin run` running?"));
}

#[test]
fn shipped_rule_unit_tests_pass() {
    let repo = common::repo();
    let files: Vec<_> = std::fs::read_dir(repo.join("rules/tests"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    assert!(!files.is_empty());
    let out = tocsin().arg("test").args(&files).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

#[test]
fn a_failing_rule_test_prints_a_diff_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rules.yaml",
        "groups:\n  - name: g\n    rules:\n      - alert: High\n        query: m\n        when: \"> 10\"\n        for: 2m\n        severity: warning\n        message: \"at {{ value }}\"\n",
    );
    let test = write(
        dir.path(),
        "t.yaml",
        r#"rule_files: [rules.yaml]
tests:
  - name: fires too early
    input:
      - rule: High
        series: [{labels: {host: a}, values: "20x5"}]
    expect:
      - at: 1m
        alert: High
        firing: [{labels: {host: a}, message: "at 20.0"}]
      - at: 2m
        alert: High
        firing: [{labels: {host: a}, message: "at 20.0"}]
"#,
    );
    let out = tocsin().arg("test").arg(&test).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL fires too early"), "{stdout}");
    assert!(
        stdout.contains(
            "at 1m, alert High:\n    - expected: labels {\"host\": \"a\"}, message \"at 20.0\""
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("at 2m"), "2m holds: {stdout}");

    let bad = write(
        dir.path(),
        "bad.yaml",
        "rule_files: [rules.yaml]\ntests:\n  - input:\n      - rule: Nope\n        series: []\n    expect: []\n",
    );
    let out = tocsin().arg("test").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml:4:15: no rule named \"Nope\""));
}
