//! `GET /api/v2/status`, `GET /api/v2/receivers`, `/-/healthy` and
//! `/-/ready`. tocsin is one process (no gossip cluster), so the cluster
//! status is `disabled`, as for an Alertmanager started without peers.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{Params, am_time, config_yaml, failure};
use crate::http::AppState;

/// `alertmanagerStatus`
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub cluster: ClusterStatus,
    pub version_info: VersionInfo,
    pub config: ConfigText,
    pub uptime: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// `disabled`: no peers.
    pub status: String,
    pub peers: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    /// What built it: tocsin is written in Rust.
    pub go_version: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConfigText {
    pub original: String,
}

pub async fn status(State(s): State<AppState>) -> Json<Status> {
    let version = env!("CARGO_PKG_VERSION");
    Json(Status {
        cluster: ClusterStatus {
            status: "disabled".into(),
            peers: Vec::new(),
        },
        version_info: VersionInfo {
            version: version.into(),
            revision: "unknown".into(),
            branch: "unknown".into(),
            build_user: "tocsin".into(),
            build_date: "unknown".into(),
            go_version: "none (tocsin is written in Rust)".into(),
        },
        config: ConfigText {
            original: config_yaml::render(&s.router(), version),
        },
        uptime: am_time(s.started_at),
    })
}

/// `GET /api/v2/receivers`: every name an alert can be routed to.
/// `receiver_matchers` filters by receiver labels; tocsin's receivers have
/// none, so any matcher that needs a label leaves none.
pub async fn receivers(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let matchers = match p
        .all("receiver_matchers")
        .map(crate::alert::matcher::Matcher::parse)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(m) => m,
        Err(e) => {
            return failure(
                StatusCode::BAD_REQUEST,
                format!("failed to parse receiver_matchers param: {e}"),
            );
        }
    };
    let none = crate::alert::Labels::new();
    if !matchers.iter().all(|m| m.matches(&none)) {
        return Json(Vec::<serde_json::Value>::new()).into_response();
    }
    let list: Vec<serde_json::Value> = config_yaml::receivers(&s.router())
        .into_iter()
        .map(|name| serde_json::json!({"name": name}))
        .collect();
    Json(list).into_response()
}

/// `/-/healthy`: the process serves.
pub async fn healthy() -> &'static str {
    "OK"
}

/// `/-/ready`: rules are loaded and state restored (the server only
/// starts listening once both are done).
pub async fn ready() -> &'static str {
    "OK"
}
