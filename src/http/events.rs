//! `POST /api/v1/events`: a job platform posts one job's state,
//! `{"source": "dinky", "key": "etl", "state": "cancel", "labels": {...},
//! "message": "..."}`; `events.states` says what the state does to the job's
//! alert ([`crate::eval::events`]). A bad body, or a state that is not
//! configured, is a 400 with the reason and changes nothing.
//!
//! Limits (`limits:`): the body (`api_body_bytes`, 413), labels and their
//! sizes (`labels_per_alert`, `label_bytes`), the message
//! (`annotation_bytes`), and active job alerts (`external_alerts`, 429).

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde::Deserialize;

use super::AppState;
use super::ingest::{check_labels, shorten, valid_label_name};
use super::limits::{read_body, refuse};
use crate::config::LimitsConfig;
use crate::eval::events::{EventError, JOB_LABEL, JobEvent, SOURCE_LABEL};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/events", post(post_event))
}

/// One event as posted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostedEvent {
    source: String,
    key: String,
    state: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    message: Option<String>,
}

/// Labels an event cannot set: tocsin sets them from the event.
const RESERVED: &[&str] = &["alertname", SOURCE_LABEL, JOB_LABEL, "severity", "state"];

async fn post_event(State(s): State<AppState>, body: Body) -> Response {
    let limits = s.limits.get();
    let body = match read_body(body, limits.api_body_bytes.value, "api_body_bytes").await {
        Ok(b) => b,
        Err(r) => {
            tracing::warn!(
                limit = limits.api_body_bytes.value,
                "rejected POST /api/v1/events: body too large"
            );
            return r;
        }
    };
    let event = match parse(&body, &limits) {
        Ok(e) => e,
        Err(reason) => {
            tracing::warn!(%reason, "rejected POST /api/v1/events");
            return refuse(StatusCode::BAD_REQUEST, reason);
        }
    };
    match s
        .engine
        .record_job_state(event, Utc::now(), limits.external_alerts.value)
        .await
    {
        Ok((outcome, a)) => (
            StatusCode::OK,
            Json(serde_json::json!({
                "status": "success",
                "change": outcome.as_str(),
                "alert": {
                    "fingerprint": a.fingerprint.to_string(),
                    "alert": a.alert,
                    "state": a.state.as_str(),
                    "severity": a.severity.as_str(),
                    "message": a.message,
                },
            })),
        )
            .into_response(),
        Err(e @ EventError::UnknownState { .. }) => {
            tracing::warn!(reason = %e, "rejected POST /api/v1/events");
            refuse(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e @ EventError::TooMany { .. }) => {
            tracing::warn!(reason = %e, "rejected POST /api/v1/events");
            refuse(
                StatusCode::TOO_MANY_REQUESTS,
                format!("{e}; the event was not applied"),
            )
        }
        Err(EventError::Store(e)) => {
            tracing::error!(error = %e, "cannot record a job state");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot record the event: {e}"),
            )
        }
    }
}

/// Checks a whole body: one JSON object with a non-empty source, key and
/// state, valid labels and a message within the limits.
pub fn parse(body: &[u8], limits: &LimitsConfig) -> Result<JobEvent, String> {
    let p: PostedEvent = serde_json::from_slice(body).map_err(|e| {
        format!("expected a JSON object {{source, key, state, labels?, message?}} ({e})")
    })?;
    let source = required("source", &p.source, limits)?;
    let key = required("key", &p.key, limits)?;
    let state = required("state", &p.state, limits)?;
    // An empty value is an absent label (Prometheus semantics).
    let labels: BTreeMap<String, String> = p
        .labels
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    check_labels(&labels, limits).map_err(|e| format!("labels: {e}"))?;
    if let Some(bad) = labels.keys().find(|k| !valid_label_name(k)) {
        return Err(format!(
            "labels: label name {:?} is not valid (expected [a-zA-Z_][a-zA-Z0-9_]*)",
            shorten(bad)
        ));
    }
    if let Some(r) = labels.keys().find(|k| RESERVED.contains(&k.as_str())) {
        return Err(format!(
            "labels: {r:?} is set by tocsin from the event (source, key, state and events.states)"
        ));
    }
    let message = p.message.unwrap_or_default();
    if message.len() > limits.annotation_bytes.value {
        return Err(format!(
            "message has {} bytes; at most {} (limits.annotation_bytes)",
            message.len(),
            limits.annotation_bytes.value
        ));
    }
    Ok(JobEvent {
        source,
        key,
        state,
        labels,
        message: message.trim().to_string(),
    })
}

/// A field that names something: not empty, as long as a label may be.
fn required(name: &str, v: &str, limits: &LimitsConfig) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if name.len() + v.len() > limits.label_bytes.value {
        return Err(format!(
            "{name} has {} bytes; at most {} (limits.label_bytes)",
            v.len(),
            limits.label_bytes.value
        ));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8]) -> Result<JobEvent, String> {
        super::parse(body, &LimitsConfig::default())
    }

    #[test]
    fn good_event_parses() {
        let e = parse(br#"{"source":"dinky","key":" etl ","state":"CANCEL","labels":{"team":"data","empty":""},"message":"by admin"}"#).unwrap();
        assert_eq!((e.source.as_str(), e.key.as_str()), ("dinky", "etl"));
        assert_eq!(e.state, "CANCEL");
        assert_eq!(e.labels.len(), 1, "empty label dropped: {:?}", e.labels);
        assert_eq!(e.message, "by admin");
        let e = parse(br#"{"source":"dinky","key":"etl","state":"unknown"}"#).unwrap();
        assert!(e.labels.is_empty() && e.message.is_empty());
    }

    #[test]
    fn bad_events_say_why() {
        let long = format!(
            r#"{{"source":"s","key":"{}","state":"stop"}}"#,
            "k".repeat(3000)
        );
        let cases: &[(&[u8], &str)] = &[
            (
                b"[",
                "expected a JSON object {source, key, state, labels?, message?}",
            ),
            (
                br#"[{"source":"s","key":"k","state":"stop"}]"#,
                "expected a JSON object",
            ),
            (
                br#"{"source":"s","state":"stop"}"#,
                "expected a JSON object {source, key, state, labels?, message?} (missing field `key`",
            ),
            (
                br#"{"source":"s","key":"k","state":"stop","endsAt":"x"}"#,
                "expected a JSON object {source, key, state, labels?, message?} (unknown field `endsAt`",
            ),
            (
                br#"{"source":" ","key":"k","state":"stop"}"#,
                "source is empty",
            ),
            (br#"{"source":"s","key":"k","state":""}"#, "state is empty"),
            (
                br#"{"source":"s","key":"k","state":"stop","labels":{"1x":"v"}}"#,
                "labels: label name \"1x\" is not valid",
            ),
            (
                br#"{"source":"s","key":"k","state":"stop","labels":{"severity":"error"}}"#,
                "labels: \"severity\" is set by tocsin",
            ),
            (
                br#"{"source":"s","key":"k","state":"stop","labels":{"job":"other"}}"#,
                "labels: \"job\" is set by tocsin",
            ),
            (
                br#"{"source":"s","key":"k","state":"stop","labels":{"a":1}}"#,
                "expected a JSON object",
            ),
            (
                long.as_bytes(),
                "key has 3000 bytes; at most 2048 (limits.label_bytes)",
            ),
        ];
        for (body, want) in cases {
            let got = parse(body).err().unwrap_or_default();
            assert!(got.starts_with(want), "\n got: {got}\nwant: {want}");
        }
    }
}
