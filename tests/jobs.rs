//! The shipped rules/jobs.yaml against the real Prometheus: a stopped and a
//! cancelled stream job are errors, routed by a scope on `service`; a
//! finished job raises nothing.

mod common;

use std::time::Duration;

use common::{Daemon, Receiver, push, wait_for, wait_prometheus_value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_job_states_map_to_severities_and_route() {
    push(
        "t_jobs",
        "stream_job_state{job_name=\"etl\",state=\"stop\"} 1\n\
         stream_job_state{job_name=\"dedup\",state=\"cancel\"} 1\n\
         stream_job_state{job_name=\"daily\",state=\"finished\"} 1\n",
    )
    .await;
    wait_prometheus_value("count(stream_job_state)", 3.0).await;
    let data = Receiver::start(&[]).await;
    let rules = std::fs::read_to_string(common::repo().join("rules/jobs.yaml")).unwrap();
    let dir = Daemon::prepare(
        &rules,
        &format!(
            "targets:\n  - {{name: data-hook, type: webhook, url: \"{}\"}}\nrouting:\n  default: off\n  scopes:\n    - {{match: {{service: stream-jobs}}, notify: [data-hook]}}\n",
            data.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    let mut got = wait_for(
        "two stopped jobs delivered",
        Duration::from_secs(60),
        || async {
            let got: Vec<String> = data
                .accepted_alerts()
                .iter()
                .map(|a| {
                    format!(
                        "{} {} {}",
                        a["labels"]["alertname"].as_str().unwrap_or(""),
                        a["labels"]["job_name"].as_str().unwrap_or(""),
                        a["labels"]["severity"].as_str().unwrap_or("")
                    )
                })
                .collect();
            (got.len() >= 2).then_some(got)
        },
    )
    .await;
    got.sort();
    assert_eq!(
        got,
        ["StreamJobStopped dedup error", "StreamJobStopped etl error"]
    );
    assert!(d.alert("StreamJobStateUnknown").is_none());
    d.stop().await;
}
