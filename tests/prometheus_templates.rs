//! Prometheus-format templates against a real Prometheus: the same rule file
//! is evaluated by a Prometheus of this test's own and by tocsin (querying
//! the run's Prometheus; both scrape the same Pushgateway), and tocsin's
//! rendered labels and annotations must be byte-identical to Prometheus's
//! own (`/api/v1/alerts`), error markers included.
//!
//! Left out on purpose: `$externalURL`, `externalURL` and `pathPrefix`
//! (Prometheus's own address, which tocsin's templates are not given).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Daemon, OwnPrometheus, get_json_at, push, refusing_port, wait_for};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

const RULES: &str = r#"
groups:
  - name: t-tmpl
    interval: 1s
    rules:
      - alert: TmplQuery
        expr: t_tmpl_load > 0
        labels:
          severity: warning
          fullest: '{{ with query "topk(1, t_tmpl_disk)" }}{{ . | first | label "mount" }}{{ end }}'
        annotations:
          first_value: '{{ query "sum(t_tmpl_disk)" | first | value | humanize }}'
          sorted: '{{ range query "t_tmpl_disk" | sortByLabel "instance" }}{{ .Labels.instance }}={{ .Value | humanizePercentage }} {{ end }}'
          sorted_index: '{{ range $i, $s := query "t_tmpl_disk" | sortByLabel "mount" }}{{ $i }}:{{ label "mount" $s }}:{{ value $s }} {{ end }}'
          count: '{{ len (query "t_tmpl_disk") }} {{ if query "t_tmpl_nothing" }}some{{ else }}none{{ end }}'
          index: '{{ (index (query "t_tmpl_disk{instance=\"a\"}") 0).Labels.mount }}'
          labelled: '{{ query "t_tmpl_disk{instance=\"b\"}" | first | label "mount" }}|{{ query "t_tmpl_disk{instance=\"b\"}" | first | label "nope" }}|'
          strvalue: '{{ query "label_replace(t_tmpl_disk{instance=\"a\"}, \"__value__\", \"$1\", \"mount\", \"(.*)\")" | first | strvalue }}'
          scalar: '{{ query "scalar(sum(t_tmpl_disk))" | first | value }}'
          templated_query: '{{ query (printf "t_tmpl_disk{instance=%q}" "b") | first | value }}'
          no_elements: '{{ query "t_tmpl_nothing" | first | value }}'
          bad_query: 'x {{ query "sum(" }}'
          range_vector: '{{ query "t_tmpl_disk[1m]" }}'
          humanize: '{{ $value | humanize }} {{ $value | humanize1024 }} {{ 90061 | humanizeDuration }} {{ 0.25 | humanizeDuration }} {{ 0.1234 | humanizePercentage }} {{ 1435065584.128 | humanizeTimestamp }} {{ "2048" | humanize1024 }}'
          times: '{{ (1435065584.128 | toTime).Format "2006-01-02T15:04:05Z07:00" }} {{ toTime 1435065584 }} {{ printf "%.1f" (parseDuration "1h2m") }}'
          bad_duration: '{{ parseDuration "-5m" }}'
          links: '{{ graphLink "rate(t_tmpl_load[5m]) > 0" }} {{ tableLink "up == 0 and on() vector(1)" }}'
          regex: '{{ reReplaceAll "(.*):.*" "$1" $labels.instance }} {{ match "^db-" $labels.instance }} {{ reReplaceAll "x" "${1}y" "axb" }}'
          args: '{{ define "pair" }}{{ .arg0 }}={{ .arg1 }}{{ end }}{{ template "pair" args "host" $labels.host }} {{ args 1 "a" }}'
          strings: "{{ title \"it's db.example-1 ok\" }} {{ toUpper \"ab\" }} {{ toLower \"AB\" }} {{ stripPort $labels.instance }} {{ stripDomain $labels.host }} {{ \"<b>\" | safeHtml }}"
          value_type: '{{ .Value.x }}'
          labels_range: '{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}'
          printf: '{{ printf "%5.2f|%-4s|%q|%v|%d" $value "ab" "q" $labels.instance 42 }}'
"#;

fn strings(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_render_byte_identical_to_prometheus() {
    push(
        "t_tmpl",
        "t_tmpl_load{instance=\"db-1:9100\",host=\"db-1.example.com\"} 1234567.5\n\
         t_tmpl_disk{instance=\"b\",mount=\"/\"} 0.25\n\
         t_tmpl_disk{instance=\"a\",mount=\"/data\"} 0.75\n",
    )
    .await;
    common::wait_prometheus_value("count(t_tmpl_disk)", 2.0).await;

    // Prometheus sends its alerts nowhere (a port that refuses): only its
    // own API is read.
    let nowhere = refusing_port();
    let prometheus = OwnPrometheus::start(Some((nowhere.local_addr().unwrap(), RULES)));
    let dir = Daemon::prepare(RULES, "");
    let d = Daemon::start(&dir).await;

    let theirs = wait_for("Prometheus's TmplQuery alert", WAIT, || async {
        let v = get_json_at(&format!("{}/api/v1/alerts", prometheus.url)).await;
        let alerts = v["data"]["alerts"].as_array()?.clone();
        let a = alerts
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "TmplQuery")?;
        // both series scraped
        (a["annotations"]["count"] == "2 none").then_some(a)
    })
    .await;
    let ours = wait_for("tocsin's TmplQuery alert", WAIT, || async {
        let v = d.get_json("/api/v1/alerts").await;
        v.as_array()?
            .iter()
            .find(|a| a["alert"] == "TmplQuery" && a["annotations"]["count"] == "2 none")
            .cloned()
    })
    .await;

    let (want, got) = (
        strings(&theirs["annotations"]),
        strings(&ours["annotations"]),
    );
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    eprintln!("Prometheus's annotations, as tocsin must render them: {want:#?}");
    let mut differ = Vec::new();
    for (k, w) in &want {
        let g = &got[k];
        if g != w {
            differ.push(format!("{k}:\n  prometheus: {w:?}\n  tocsin:     {g:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "annotations differ:\n{}",
        differ.join("\n")
    );
    // The query-templated label too.
    assert_eq!(theirs["labels"]["fullest"], "/data");
    assert_eq!(ours["labels"]["fullest"], theirs["labels"]["fullest"]);
    // Sanity: the cases say what they are meant to say.
    assert_eq!(got["first_value"], "1");
    assert_eq!(got["sorted"], "a=75% b=25% ");
    assert!(got["no_elements"].contains("first() called on vector with no elements"));
    assert!(
        got["bad_query"].contains("parse error"),
        "{}",
        got["bad_query"]
    );
    d.stop().await;
}

#[test]
fn check_warns_about_console_only_functions() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        annotations:\n          page: '{{ tmpl \"x\" . }}'\n          q: '{{ query \"up\" | first | value }}'\n",
    )
    .unwrap();
    let config = dir.path().join("tocsin.yaml");
    std::fs::write(
        &config,
        "listen: 127.0.0.1:0\ndata_dir: data\nprometheus: {url: \"http://127.0.0.1:9\"}\n",
    )
    .unwrap();
    let (ok, out, err) = common::cli(&config, &["check", rules.to_str().unwrap()]);
    let all = format!("{out}{err}");
    assert!(ok, "warnings do not fail check: {all}");
    assert!(
        all.contains("rules.yaml:7:17: annotation \"page\", template line 1 column 4: `tmpl` only works in Prometheus console templates"),
        "{all}"
    );
    assert!(
        !all.contains("\"q\""),
        "query is fine on a Prometheus rule: {all}"
    );
}
