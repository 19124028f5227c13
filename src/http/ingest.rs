//! `POST /api/v2/alerts`: Alertmanager-compatible ingestion of external
//! events (Prometheus `alerting.alertmanagers`, vmalert, job systems). The
//! whole batch is checked first; one bad alert makes it a 400 naming the
//! alert and the reason, and nothing of the batch is applied. A good batch
//! is applied in one transaction.
//!
//! Limits (`limits:`): the body's size (413), alerts per post, labels and
//! annotations per alert and their sizes (400), active posted alerts in all
//! (429, nothing of the batch applied).

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;

use super::AppState;
use super::limits::{read_body, refuse};
use crate::config::LimitsConfig;
use crate::eval::external::{ExternalAlert, IngestError};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v2/alerts", post(post_alerts))
}

/// One alert as Alertmanager's API takes it.
#[derive(Debug, Deserialize)]
struct PostedAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default, rename = "startsAt")]
    starts_at: Option<String>,
    #[serde(default, rename = "endsAt")]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
}

async fn post_alerts(State(s): State<AppState>, body: Body) -> Response {
    let limits = s.limits.get();
    let body = match read_body(body, limits.alerts_body_bytes.value, "alerts_body_bytes").await {
        Ok(b) => b,
        Err(r) => {
            tracing::warn!(
                limit = limits.alerts_body_bytes.value,
                "rejected POST /api/v2/alerts: body too large"
            );
            return r;
        }
    };
    let alerts = match parse_limited(&body, &limits) {
        Ok(a) => a,
        Err(reason) => {
            tracing::warn!(%reason, "rejected POST /api/v2/alerts");
            return refuse(StatusCode::BAD_REQUEST, reason);
        }
    };
    match s
        .engine
        .ingest_external_limited(alerts, Utc::now(), limits.external_alerts.value)
        .await
    {
        Ok(summary) => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "success", "summary": summary})),
        )
            .into_response(),
        Err(IngestError::TooMany { active, max }) => {
            tracing::warn!(
                active,
                max,
                "rejected POST /api/v2/alerts: too many active external alerts"
            );
            refuse(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{active} posted alerts are active; at most {max} (limits.external_alerts); nothing of this batch was applied"
                ),
            )
        }
        Err(IngestError::Store(e)) => {
            tracing::error!(error = %e, "cannot record external alerts");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot record the alerts: {e}"),
            )
        }
    }
}

/// Checks a whole body with the default limits: a JSON array of alerts, each valid.
pub fn parse(body: &[u8]) -> Result<Vec<ExternalAlert>, String> {
    parse_limited(body, &LimitsConfig::default())
}

/// Checks a whole body: a JSON array of at most `alerts_per_post` alerts,
/// each valid and within the label and annotation limits.
pub fn parse_limited(body: &[u8], limits: &LimitsConfig) -> Result<Vec<ExternalAlert>, String> {
    let posted: Vec<PostedAlert> = serde_json::from_slice(body)
        .map_err(|e| format!("expected a JSON array of alerts ({e})"))?;
    let max = limits.alerts_per_post.value;
    if posted.len() > max {
        return Err(format!(
            "{} alerts in one post; at most {max} (limits.alerts_per_post)",
            posted.len()
        ));
    }
    let mut out = Vec::with_capacity(posted.len());
    for (i, p) in posted.into_iter().enumerate() {
        out.push(check(p, limits).map_err(|e| format!("alerts[{i}]: {e}"))?);
    }
    Ok(out)
}

/// The count and sizes of one alert's labels; their bytes in all.
pub(super) fn check_labels(
    labels: &BTreeMap<String, String>,
    l: &LimitsConfig,
) -> Result<usize, String> {
    let per = l.labels_per_alert.value;
    if labels.len() > per {
        return Err(format!(
            "{} labels; at most {per} (limits.labels_per_alert)",
            labels.len()
        ));
    }
    let mut total = 0usize;
    for (k, v) in labels {
        let n = k.len() + v.len();
        if n > l.label_bytes.value {
            return Err(format!(
                "label {:?} has {n} bytes; at most {} (limits.label_bytes)",
                shorten(k),
                l.label_bytes.value
            ));
        }
        total += n;
    }
    Ok(total)
}

/// Counts and sizes of one alert's labels and annotations.
fn check_sizes(p: &PostedAlert, l: &LimitsConfig) -> Result<(), String> {
    let per = l.labels_per_alert.value;
    let mut total = check_labels(&p.labels, l)?;
    if p.annotations.len() > per {
        return Err(format!(
            "{} annotations; at most {per} (limits.labels_per_alert)",
            p.annotations.len()
        ));
    }
    for (k, v) in &p.annotations {
        if k.len() > l.label_bytes.value {
            return Err(format!(
                "annotation name {:?} has {} bytes; at most {} (limits.label_bytes)",
                shorten(k),
                k.len(),
                l.label_bytes.value
            ));
        }
        if v.len() > l.annotation_bytes.value {
            return Err(format!(
                "annotation {:?} has {} bytes; at most {} (limits.annotation_bytes)",
                shorten(k),
                v.len(),
                l.annotation_bytes.value
            ));
        }
        total += k.len() + v.len();
    }
    total += p.generator_url.as_deref().map_or(0, str::len);
    if total > l.alert_bytes.value {
        return Err(format!(
            "labels, annotations and generatorURL have {total} bytes; at most {} (limits.alert_bytes)",
            l.alert_bytes.value
        ));
    }
    Ok(())
}

/// A name for an error message: at most 64 characters.
pub(super) fn shorten(s: &str) -> String {
    if s.chars().count() <= 64 {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(64).collect::<String>())
    }
}

fn check(p: PostedAlert, limits: &LimitsConfig) -> Result<ExternalAlert, String> {
    check_sizes(&p, limits)?;
    // An empty value is an absent label (Prometheus semantics).
    let labels: BTreeMap<String, String> = p
        .labels
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if let Some(bad) = labels.keys().find(|k| !valid_label_name(k)) {
        return Err(format!(
            "label name {bad:?} is not valid (expected [a-zA-Z_][a-zA-Z0-9_]*)"
        ));
    }
    if !labels.contains_key("alertname") {
        return Err("labels.alertname is missing".into());
    }
    let starts_at = time("startsAt", p.starts_at.as_deref())?;
    let ends_at = time("endsAt", p.ends_at.as_deref())?;
    if let (Some(s), Some(e)) = (starts_at, ends_at)
        && e < s
    {
        return Err(format!("endsAt {e} is before startsAt {s}"));
    }
    let generator_url = p.generator_url.unwrap_or_default();
    if !generator_url.is_empty() && reqwest::Url::parse(&generator_url).is_err() {
        return Err(format!("generatorURL {generator_url:?} is not a URL"));
    }
    Ok(ExternalAlert {
        labels,
        annotations: p.annotations,
        starts_at,
        ends_at,
        generator_url,
    })
}

/// An RFC 3339 time; absent, empty or Go's zero time means unset.
fn time(field: &str, v: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let t = DateTime::parse_from_rfc3339(v)
        .map_err(|e| format!("{field} {v:?} is not an RFC 3339 time ({e})"))?
        .with_timezone(&Utc);
    Ok((t.year() > 1).then_some(t))
}

pub(super) fn valid_label_name(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_batch_parses() {
        let body = br#"[{"labels":{"alertname":"JobStopped","job_name":"etl","severity":"error","empty":""},
            "annotations":{"summary":"etl stopped"},"startsAt":"2026-01-02T03:04:05Z",
            "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph"}]"#;
        let a = parse(body).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[0].labels.len(),
            3,
            "empty label dropped: {:?}",
            a[0].labels
        );
        assert!(a[0].ends_at.is_none());
        assert_eq!(
            a[0].starts_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-01-02T03:04:05+00:00")
        );
    }

    #[test]
    fn bad_bodies_say_why_and_where() {
        let cases: &[(&[u8], &str)] = &[
            (b"{", "expected a JSON array of alerts"),
            (b"{\"labels\":{}}", "expected a JSON array of alerts"),
            (br#"[{"labels":{"alertname":"A"}},{"labels":{"x":"1"}}]"#, "alerts[1]: labels.alertname is missing"),
            (br#"[{"labels":{"alertname":"A","1x":"1"}}]"#, "alerts[0]: label name \"1x\" is not valid"),
            (br#"[{"labels":{"alertname":"A"},"startsAt":"yesterday"}]"#, "alerts[0]: startsAt \"yesterday\" is not an RFC 3339 time"),
            (br#"[{"labels":{"alertname":"A"},"startsAt":"2026-01-02T00:00:00Z","endsAt":"2026-01-01T00:00:00Z"}]"#, "alerts[0]: endsAt 2026-01-01 00:00:00 UTC is before startsAt"),
            (br#"[{"annotations":{}}]"#, "expected a JSON array of alerts (missing field `labels`"),
        ];
        for (body, want) in cases {
            let got = parse(body).err().unwrap_or_default();
            assert!(got.starts_with(want), "\n got: {got}\nwant: {want}");
        }
    }
}
