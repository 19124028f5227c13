//! Recording rules against the real Prometheus + Pushgateway of the test run:
//! tocsin evaluates them and writes their results back through Prometheus's
//! remote-write receiver (`--web.enable-remote-write-receiver`). The test
//! Prometheus loads no rule file, so a recorded series can only come from
//! tocsin. Every test has its own job, metric and record names.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Daemon, env, get_json_at, get_text, http, push, wait_for, wait_prometheus_value};
use tocsin::alert::AlertState;

const WAIT: Duration = Duration::from_secs(30);

/// A folder with `rules` and a config whose `prometheus:` has `extra` keys.
fn prepare(rules: &str, extra: &str) -> PathBuf {
    let dir = Daemon::prepare(rules, "");
    let config = format!(
        "listen: 127.0.0.1:0\nrules: [rules/]\ndata_dir: data\nprometheus: {{url: \"{}\", timeout: 2s{extra}}}\n",
        env().prometheus_url
    );
    std::fs::write(dir.join("tocsin.yaml"), config).unwrap();
    dir
}

fn remote_write_to_prometheus() -> String {
    format!(
        ", remote_write_url: \"{}/api/v1/write\"",
        env().prometheus_url
    )
}

/// What Prometheus answers for an instant query: `[(labels, value)]`.
async fn prometheus_query(query: &str) -> Vec<(serde_json::Value, f64)> {
    let resp: serde_json::Value = http()
        .post(format!("{}/api/v1/query", env().prometheus_url))
        .form(&[("query", query)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    resp["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| {
            let v = r["value"][1].as_str()?.parse::<f64>().ok()?;
            Some((r["metric"].clone(), v))
        })
        .collect()
}

/// The value of the sample of `/metrics` text written exactly `series`.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The rule of `/api/v1/rules` named `name` in group `group`.
async fn rule_status(base: &str, group: &str, name: &str) -> Option<serde_json::Value> {
    let v = get_json_at(&format!("{base}/api/v1/rules")).await;
    let groups = v.as_array()?.clone();
    groups
        .into_iter()
        .filter(|g| g["name"] == group)
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .find(|r| r["alert"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_series_reaches_prometheus_and_feeds_an_alert_of_the_same_group() {
    // A job of this run only: the shared Prometheus keeps earlier runs' series.
    let job = format!("tocsin_rw_a_{}", std::process::id());
    let lines = |x: u32, y: u32| {
        format!("tocsin_rw_test_metric{{part=\"x\"}} {x}\ntocsin_rw_test_metric{{part=\"y\"}} {y}")
    };
    push(&job, &lines(2, 4)).await;
    wait_prometheus_value(&format!("sum(tocsin_rw_test_metric{{job=\"{job}\"}})"), 6.0).await;
    let recorded_query = format!("job:tocsin_rw_test:sum{{job=\"{job}\"}}");
    let dir = prepare(
        &format!(
            r#"
groups:
  - name: rw
    interval: 1s
    labels: {{team: storage}}
    rules:
      - record: job:tocsin_rw_test:sum
        expr: sum by (job) (tocsin_rw_test_metric{{job="{job}"}})
        labels: {{source: tocsin}}
      - alert: RecordedSumHigh
        expr: job:tocsin_rw_test:sum{{job="{job}"}} > 5
"#
        ),
        &remote_write_to_prometheus(),
    );
    // Prometheus itself evaluates no rules: only tocsin can write this series.
    let prom_rules = get_json_at(&format!("{}/api/v1/rules", env().prometheus_url)).await;
    assert_eq!(
        prom_rules["data"]["groups"].as_array().map(Vec::len),
        Some(0),
        "{prom_rules}"
    );
    assert!(
        prometheus_query(&recorded_query).await.is_empty(),
        "the recorded series exists before tocsin ran"
    );
    let d = Daemon::start(&dir).await;

    let recorded = wait_for("the recorded series in Prometheus", WAIT, || async {
        let got = prometheus_query(&recorded_query).await;
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(
        recorded[0].0,
        serde_json::json!({
            "__name__": "job:tocsin_rw_test:sum",
            "job": job,
            "source": "tocsin",
            "team": "storage",
        })
    );
    assert_eq!(recorded[0].1, 6.0);

    let firing = wait_for("RecordedSumHigh to fire", WAIT, || async {
        d.alert("RecordedSumHigh")
            .filter(|a| a.state == AlertState::Firing)
    })
    .await;
    assert_eq!(firing.value, 6.0);
    assert_eq!(firing.labels["source"], "tocsin", "{:?}", firing.labels);

    // The status API lists the recording rule with its health.
    let status = wait_for("the recording rule's health", WAIT, || async {
        rule_status(&d.api(""), "rw", "job:tocsin_rw_test:sum")
            .await
            .filter(|r| r["health"] == "ok")
    })
    .await;
    assert_eq!(status["type"], "recording", "{status}");
    assert_eq!(
        status["query"],
        format!("sum by (job) (tocsin_rw_test_metric{{job=\"{job}\"}})")
    );
    let alert_status = rule_status(&d.api(""), "rw", "RecordedSumHigh")
        .await
        .unwrap();
    assert_eq!(alert_status["type"], "alerting");

    // The recorded series follows its source, and the alert with it.
    push(&job, &lines(1, 1)).await;
    wait_prometheus_value(&recorded_query, 2.0).await;
    wait_for("RecordedSumHigh to resolve", WAIT, || async {
        d.alert("RecordedSumHigh")
            .filter(|a| a.state == AlertState::Resolved)
    })
    .await;

    let text = d.get_text("/metrics").await;
    assert!(
        metric(&text, "tocsin_remote_write_samples_total").is_some_and(|v| v >= 2.0),
        "{text}"
    );
    assert!(
        metric(
            &text,
            "tocsin_recording_rule_evaluations_total{group=\"rw\",record=\"job:tocsin_rw_test:sum\"}"
        )
        .is_some_and(|v| v >= 2.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "tocsin_remote_write_failures_total{reason=\"connection\"}"
        ),
        Some(0.0)
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_remote_write_endpoint_never_holds_the_alerting_rules() {
    push("tocsin_rw_refused", "tocsin_rw_refused_metric 10").await;
    wait_prometheus_value("tocsin_rw_refused_metric", 10.0).await;
    let refusing = common::refusing_port();
    let port = refusing.local_addr().unwrap().port();
    let dir = prepare(
        r#"
groups:
  - name: rw_refused
    interval: 1s
    rules:
      - record: tocsin_rw_refused:doubled
        expr: tocsin_rw_refused_metric * 2
      - alert: RefusedSourceHigh
        expr: tocsin_rw_refused_metric > 5
"#,
        &format!(", remote_write_url: \"http://127.0.0.1:{port}/api/v1/write\""),
    );
    let d = Daemon::start(&dir).await;
    wait_for("RefusedSourceHigh to fire", WAIT, || async {
        d.alert("RefusedSourceHigh")
            .filter(|a| a.state == AlertState::Firing)
    })
    .await;
    // On time: five more evaluations of the 1s group take about five seconds,
    // none of them held by the failing writes.
    let started = Instant::now();
    d.more_evaluations(5).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "5 evaluations took {took:?}");
    let group = d
        .engine()
        .group_statuses()
        .into_iter()
        .find(|g| g.name == "rw_refused")
        .unwrap();
    assert!(
        group.last_duration_seconds < 0.9,
        "an evaluation took {}s",
        group.last_duration_seconds
    );

    let text = d.get_text("/metrics").await;
    assert!(
        metric(
            &text,
            "tocsin_remote_write_failures_total{reason=\"connection\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "tocsin_remote_write_samples_total"),
        Some(0.0)
    );
    assert!(
        metric(&text, "tocsin_remote_write_pending_samples").is_some_and(|v| v >= 1.0),
        "the samples wait for a retry: {text}"
    );
    let status = rule_status(&d.api(""), "rw_refused", "tocsin_rw_refused:doubled")
        .await
        .unwrap();
    assert_eq!(status["health"], "err", "{status}");
    let err = status["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("remote write") && err.contains("connection"),
        "{err}"
    );
    drop(refusing);
    d.stop().await;
}

/// Samples an hour and more older than Prometheus's newest are out of bounds:
/// Prometheus answers 400, which is permanent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_prometheus_rejects_with_400_are_counted_dropped_and_not_retried() {
    let dir = prepare(
        r#"
groups:
  - name: rw_rejected
    interval: 1s
    query_offset: 3h
    rules:
      - record: tocsin_rw_rejected:one
        expr: vector(1)
"#,
        &remote_write_to_prometheus(),
    );
    let config = dir.join("tocsin.yaml");
    let daemon = tokio::task::block_in_place(|| common::Spawned::start(&config, "info"));
    let text = wait_for("four rejected writes", WAIT, || async {
        let text = get_text(&daemon.url("/metrics")).await;
        metric(
            &text,
            "tocsin_remote_write_failures_total{reason=\"rejected\"}",
        )
        .is_some_and(|v| v >= 4.0)
        .then_some(text)
    })
    .await;
    let evaluations = metric(
        &text,
        "tocsin_recording_rule_evaluations_total{group=\"rw_rejected\",record=\"tocsin_rw_rejected:one\"}",
    )
    .unwrap();
    let rejected = metric(
        &text,
        "tocsin_remote_write_failures_total{reason=\"rejected\"}",
    )
    .unwrap();
    // One request per evaluation, never a retry (a retry would also queue
    // the later evaluations' samples behind it); give or take the one in
    // flight while /metrics was read.
    assert!(
        (rejected - evaluations).abs() <= 1.0,
        "{rejected} rejected writes for {evaluations} evaluations"
    );
    assert_eq!(
        metric(
            &text,
            "tocsin_remote_write_dropped_samples_total{reason=\"rejected\"}"
        ),
        Some(rejected),
        "one sample per write"
    );
    assert_eq!(
        metric(&text, "tocsin_remote_write_pending_samples"),
        Some(0.0)
    );
    let status = rule_status(&daemon.url(""), "rw_rejected", "tocsin_rw_rejected:one")
        .await
        .unwrap();
    assert_eq!(status["health"], "err", "{status}");
    let err = status["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("HTTP 400") && err.contains("out of bounds"),
        "{err}"
    );
    let log = daemon.stop();
    let warned = log.matches("rejected by the remote-write endpoint").count();
    assert_eq!(warned, 1, "logged once per rule:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_remote_write_url_recording_rules_are_skipped_with_a_warning() {
    push("tocsin_rw_none", "tocsin_rw_none_metric 7").await;
    wait_prometheus_value("tocsin_rw_none_metric", 7.0).await;
    let dir = prepare(
        r#"
groups:
  - name: rw_none
    interval: 1s
    rules:
      - record: tocsin_rw_none:copy
        expr: tocsin_rw_none_metric
      - alert: NoneSourceHigh
        expr: tocsin_rw_none_metric > 5
"#,
        "",
    );
    let (ok, stdout, stderr) = common::cli(&dir.join("tocsin.yaml"), &["check"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "recording rule \"tocsin_rw_none:copy\" skipped: tocsin evaluates recording rules only with prometheus.remote_write_url set"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:6:17", rules_file(&dir).display())),
        "{stderr}"
    );
    assert!(stdout.contains("1 rules"), "{stdout}");

    let d = Daemon::start(&dir).await;
    wait_for("NoneSourceHigh to fire", WAIT, || async {
        d.alert("NoneSourceHigh")
            .filter(|a| a.state == AlertState::Firing)
    })
    .await;
    assert!(
        rule_status(&d.api(""), "rw_none", "tocsin_rw_none:copy")
            .await
            .is_none(),
        "a skipped rule is not listed"
    );
    assert!(prometheus_query("tocsin_rw_none:copy").await.is_empty());
    d.stop().await;
}

fn rules_file(dir: &Path) -> PathBuf {
    dir.join("rules/test.yaml")
}

/// One request to the stand-in: its headers and its body, decompressed.
type Got = Arc<Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A remote-write receiver on 127.0.0.1 that answers 503 to the first
/// `fail` requests and 204 after: for what Prometheus cannot be made to do.
async fn stand_in(fail: usize) -> (SocketAddr, Got) {
    let got: Got = Arc::default();
    let state = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let got = Arc::clone(&state);
                async move {
                    let raw = snap::raw::Decoder::new()
                        .decompress_vec(&body)
                        .unwrap_or_default();
                    let mut got = got.lock().unwrap();
                    got.push((headers, raw));
                    if got.len() <= fail {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "try later")
                    } else {
                        (axum::http::StatusCode::NO_CONTENT, "")
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_carry_the_protocol_headers_and_credentials_and_5xx_is_retried_in_order() {
    let (addr, got) = stand_in(2).await;
    let dir = prepare(
        r#"
groups:
  - name: rw_standin
    interval: 1s
    rules:
      - record: tocsin_rw_standin:one
        expr: vector(1)
        labels: {k: v}
"#,
        &format!(
            ", headers: {{X-Scope-OrgID: tenant-a}}, remote_write_url: \"http://writer:s3cret@{addr}/api/v1/write\""
        ),
    );
    let d = Daemon::start(&dir).await;
    let requests = wait_for("four writes", WAIT, || async {
        let got = got.lock().unwrap().clone();
        (got.len() >= 4).then_some(got)
    })
    .await;
    for (headers, body) in &requests {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(h("content-encoding"), Some("snappy"));
        assert_eq!(h("content-type"), Some("application/x-protobuf"));
        assert_eq!(h("x-prometheus-remote-write-version"), Some("0.1.0"));
        assert_eq!(h("x-scope-orgid"), Some("tenant-a"));
        // base64("writer:s3cret")
        assert_eq!(h("authorization"), Some("Basic d3JpdGVyOnMzY3JldA=="));
        assert!(h("user-agent").is_some_and(|u| u.starts_with("tocsin/")));
        let text = String::from_utf8_lossy(body);
        assert!(
            text.contains("__name__") && text.contains("tocsin_rw_standin:one"),
            "{body:?}"
        );
    }
    // The two 503s: the same samples again (same bytes, timestamp included),
    // then the next evaluations' in order.
    assert_eq!(requests[0].1, requests[1].1);
    assert_eq!(requests[1].1, requests[2].1);
    assert_ne!(requests[2].1, requests[3].1);
    let text = wait_for("the retried samples counted", WAIT, || async {
        let text = d.get_text("/metrics").await;
        metric(&text, "tocsin_remote_write_samples_total")
            .is_some_and(|v| v >= 2.0)
            .then_some(text)
    })
    .await;
    assert_eq!(
        metric(
            &text,
            "tocsin_remote_write_failures_total{reason=\"server_error\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &text,
            "tocsin_remote_write_dropped_samples_total{reason=\"rejected\"}"
        ),
        Some(0.0)
    );
    let status = wait_for("the rule healthy again", WAIT, || async {
        rule_status(&d.api(""), "rw_standin", "tocsin_rw_standin:one")
            .await
            .filter(|r| r["health"] == "ok")
    })
    .await;
    assert!(!status.to_string().contains("s3cret"), "{status}");
    d.stop().await;
}
