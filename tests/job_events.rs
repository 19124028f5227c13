//! Job state events through `POST /api/v1/events`: a Dinky-style job going
//! unknown → cancel → finished fires (warning), escalates (error) and
//! resolves with "finished" in the notice — and across ten minutes of
//! driven expiry clock and a restart nothing resolves it early (an
//! Alertmanager-format post without `endsAt`, driven alike, does resolve:
//! the control that shows the clock is driven). Bad bodies and unknown
//! states are 400s with the reason that change nothing; `events.default`
//! takes unknown states, and `notify_finished_without_failure` makes a
//! finished job that never failed a firing-and-resolved pair.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{Daemon, Receiver, wait_for};
use tocsin::alert::{AlertState, Severity};

const WAIT: Duration = Duration::from_secs(30);

fn config(hook: &Receiver, extra: &str) -> String {
    format!(
        "targets:
  - {{name: data-hook, type: webhook, url: \"{}\"}}
routing:
  default: off
  scopes:
    - match: {{team: data}}
      notify: [data-hook]
{extra}",
        hook.url()
    )
}

async fn post(d: &Daemon, body: &str) -> (u16, serde_json::Value) {
    let resp = common::http()
        .post(d.api("/api/v1/events"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

async fn job(d: &Daemon, state: &str, message: &str) -> serde_json::Value {
    let body = serde_json::json!({
        "source": "dinky", "key": "etl", "state": state,
        "labels": {"team": "data"}, "message": message,
    });
    let (status, answer) = post(d, &body.to_string()).await;
    assert_eq!(status, 200, "{state}: {answer}");
    answer
}

/// `(status, alertname, severity, state annotation, summary)` of what the hook accepted.
fn heard(r: &Receiver) -> Vec<[String; 5]> {
    r.accepted_alerts()
        .iter()
        .map(|a| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
            [
                s(&a["status"]),
                s(&a["labels"]["alertname"]),
                s(&a["labels"]["severity"]),
                s(&a["annotations"]["state"]),
                s(&a["annotations"]["summary"]),
            ]
        })
        .collect()
}

fn of(heard: &[[String; 5]], alert: &str) -> Vec<[String; 5]> {
    heard.iter().filter(|h| h[1] == alert).cloned().collect()
}

fn row(status: &str, severity: &str, state: &str, summary: &str) -> [String; 5] {
    [status, "JobState", severity, state, summary].map(String::from)
}

/// Drives the expiry of posted alerts over `minutes` minutes from now, one
/// minute a step; returns how many it resolved.
async fn drive_clock(d: &Daemon, minutes: i64) -> usize {
    let start = Utc::now();
    let mut resolved = 0;
    for m in 1..=minutes {
        resolved += d
            .engine()
            .expire_external(start + chrono::Duration::minutes(m))
            .await
            .unwrap();
    }
    resolved
}

/// The kinds of the job alert's outbox rows, oldest first.
async fn outbox_kinds(d: &Daemon) -> Vec<String> {
    let fp = d.alert("JobState").unwrap().fingerprint;
    d.engine()
        .store()
        .notifications_for(fp)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dinky_job_unknown_cancel_finished_without_false_recovery() {
    let hook = Receiver::start(&[]).await;
    let dir = Daemon::prepare("groups: []\n", &config(&hook, ""));
    let d = Daemon::start(&dir).await;

    // unknown: the job's alert fires as a warning.
    let answer = job(&d, "unknown", "").await;
    assert_eq!(answer["change"], "fired", "{answer}");
    assert_eq!(answer["alert"]["severity"], "warning", "{answer}");
    wait_for("the warning delivered", WAIT, || async {
        (of(&heard(&hook), "JobState")
            == [row(
                "firing",
                "warning",
                "unknown",
                "dinky job etl is unknown",
            )])
        .then_some(())
    })
    .await;
    let a = d.alert("JobState").unwrap();
    assert_eq!(a.group, "events");
    assert_eq!(a.labels["source"], "dinky");
    assert_eq!(a.labels["job"], "etl");
    // The same state again changes nothing and notifies nobody.
    assert_eq!(job(&d, "unknown", "").await["change"], "unchanged");

    // The control: an Alertmanager-format post without endsAt, the README's
    // old way, resolves by expiry under the same driven clock.
    d.post_alerts(&serde_json::json!([
        {"labels": {"alertname": "OldWayJob", "job_name": "etl", "team": "data", "severity": "error"}}
    ]))
    .await;
    assert_eq!(drive_clock(&d, 10).await, 1, "only the control expires");
    assert_eq!(d.alert("OldWayJob").unwrap().state, AlertState::Resolved);
    let a = d.alert("JobState").unwrap();
    assert_eq!(
        (a.state, a.severity),
        (AlertState::Firing, Severity::Warning)
    );

    // cancel: the same alert escalates to error.
    let answer = job(&d, "CANCEL", "cancelled by admin").await;
    assert_eq!(answer["change"], "escalated", "{answer}");
    wait_for("the escalation delivered", WAIT, || async {
        of(&heard(&hook), "JobState")
            .contains(&row(
                "firing",
                "error",
                "cancel",
                "dinky job etl is cancel: cancelled by admin",
            ))
            .then_some(())
    })
    .await;

    // A reload leaves job alerts be (they belong to no rule file).
    d.running.as_ref().unwrap().reload().await.unwrap();
    assert_eq!(d.alert("JobState").unwrap().state, AlertState::Firing);

    // Restart: the job's state survives, and ten more minutes resolve nothing.
    d.stop().await;
    let d = Daemon::start(&dir).await;
    let a = d.alert("JobState").unwrap();
    assert_eq!((a.state, a.severity), (AlertState::Firing, Severity::Error));
    assert_eq!(drive_clock(&d, 10).await, 0);
    d.sentinel(&hook, serde_json::json!({"team": "data"}), 1)
        .await;
    assert_eq!(
        outbox_kinds(&d).await,
        ["firing", "escalated"],
        "no resolved row before finished"
    );
    assert!(
        !heard(&hook)
            .iter()
            .any(|h| h[0] == "resolved" && h[1] == "JobState"),
        "{:?}",
        heard(&hook)
    );

    // finished: resolved, and the notice says so.
    let answer = job(&d, "finished", "").await;
    assert_eq!(answer["change"], "resolved", "{answer}");
    wait_for("the resolved notice delivered", WAIT, || async {
        of(&heard(&hook), "JobState")
            .contains(&row(
                "resolved",
                "error",
                "finished",
                "dinky job etl is cancel: cancelled by admin",
            ))
            .then_some(())
    })
    .await;
    assert_eq!(of(&heard(&hook), "JobState").len(), 3, "{:?}", heard(&hook));
    assert_eq!(outbox_kinds(&d).await, ["firing", "escalated", "resolved"]);
    let resolved = d.alert("JobState").unwrap();
    assert_eq!(resolved.state, AlertState::Resolved);
    // The notice keeps what the job failed with and says what it came to.
    assert_eq!(
        resolved.message,
        "dinky job etl is cancel: cancelled by admin"
    );
    assert_eq!(resolved.texts.resolved_message, "dinky job etl is finished");
    // A finished job that is not failing notifies nobody.
    assert_eq!(job(&d, "finished", "").await["change"], "not_failing");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_and_unknown_states_are_refused_with_reasons() {
    let hook = Receiver::start(&[]).await;
    let dir = Daemon::prepare(
        "groups: []\n",
        &config(
            &hook,
            "api_token: s3cret\nlimits: {api_body_bytes: 1024, external_alerts: 1}\n",
        ),
    );
    let d = Daemon::start(&dir).await;
    let good = r#"{"source":"dinky","key":"etl","state":"stop","labels":{"team":"data"}}"#;

    // Writes need the token.
    let (status, answer) = post(&d, good).await;
    assert_eq!(status, 401, "{answer}");

    let authed = |body: String| {
        let url = d.api("/api/v1/events");
        async move {
            let resp = common::http()
                .post(url)
                .bearer_auth("s3cret")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (
                status,
                resp.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let cases = [
        (
            "[1]".to_string(),
            400,
            "expected a JSON object {source, key, state, labels?, message?}",
        ),
        (
            r#"{"source":"dinky","state":"stop"}"#.into(),
            400,
            "expected a JSON object {source, key, state, labels?, message?} (missing field `key`",
        ),
        (
            r#"{"source":"dinky","key":"","state":"stop"}"#.into(),
            400,
            "key is empty",
        ),
        (
            r#"{"source":"dinky","key":"etl","state":"stop","labels":{"state":"x"}}"#.into(),
            400,
            "labels: \"state\" is set by tocsin",
        ),
        (
            r#"{"source":"dinky","key":"etl","state":"exploded"}"#.into(),
            400,
            "state \"exploded\" is not in events.states (cancel, canceled, cancelled, failed, finished, restarting, running, stop, stopped, unknown); add it there or set events.default",
        ),
        (
            format!(
                r#"{{"source":"dinky","key":"etl","state":"stop","message":"{}"}}"#,
                "x".repeat(2000)
            ),
            413,
            "request body larger than 1024 bytes (limits.api_body_bytes)",
        ),
    ];
    for (body, want_status, want) in cases {
        let (status, answer) = authed(body.clone()).await;
        let error = answer["error"].as_str().unwrap_or_default().to_string();
        assert_eq!(status, want_status, "{body}: {answer}");
        assert!(error.starts_with(want), "\n got: {error}\nwant: {want}");
    }
    assert!(d.alert("JobState").is_none(), "nothing was applied");

    // A good one is applied.
    let (status, answer) = authed(good.to_string()).await;
    assert_eq!(
        (status, &answer["change"]),
        (200, &serde_json::json!("fired")),
        "{answer}"
    );
    // A second failing job is past limits.external_alerts; the first one's
    // new state is still taken.
    let (status, answer) =
        authed(r#"{"source":"dinky","key":"dedup","state":"stop"}"#.to_string()).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(
        answer["error"],
        "1 job alerts are active; at most 1 (limits.external_alerts); the event was not applied"
    );
    let (status, answer) =
        authed(r#"{"source":"dinky","key":"etl","state":"cancel"}"#.to_string()).await;
    assert_eq!(
        (status, &answer["change"]),
        (200, &serde_json::json!("updated")),
        "{answer}"
    );
    d.stop().await;

    // With events.default, an unconfigured state is taken at that level.
    let dir = Daemon::prepare(
        "groups: []\n",
        &config(
            &hook,
            "events:\n  states: {finished: resolve}\n  default: warning\n  notify_finished_without_failure: true\n",
        ),
    );
    let d = Daemon::start(&dir).await;
    let (status, answer) = post(&d, r#"{"source":"dinky","key":"dedup","state":"exploded"}"#).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["alert"]["severity"], "warning", "{answer}");

    // With notify_finished_without_failure, a job that finishes without
    // having failed is a firing-and-resolved pair to its route.
    let before = of(&heard(&hook), "JobState").len();
    let (status, answer) = post(
        &d,
        r#"{"source":"dinky","key":"daily","state":"FINISHED","labels":{"team":"data"}}"#,
    )
    .await;
    assert_eq!(
        (status, &answer["change"]),
        (200, &serde_json::json!("noticed")),
        "{answer}"
    );
    assert_eq!(answer["alert"]["state"], "resolved", "{answer}");
    let summary = "dinky job daily is finished";
    let got = wait_for("the finished notice delivered", WAIT, || async {
        let got = of(&heard(&hook), "JobState");
        (got.len() >= before + 2).then_some(got)
    })
    .await;
    assert_eq!(
        got[before..],
        [
            row("firing", "warning", "finished", summary),
            row("resolved", "warning", "finished", summary)
        ]
    );
    d.stop().await;
}
