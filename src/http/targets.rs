//! `POST /api/v1/targets/{name}/test`: sends a sample message through the
//! target and answers with the channel's reply as JSON (`{target, type,
//! result, answer}`); 200 when sent, 502 when the channel refused or failed,
//! 404 for an unknown target, 409 for a disabled one. Secrets never appear.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use crate::notify::TestOutcome;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/targets/{name}/test", post(test_target))
}

#[derive(Debug, Deserialize)]
pub struct TestParams {
    /// Send the recovery message instead of the firing one.
    #[serde(default)]
    pub resolved: bool,
}

async fn test_target(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(p): Query<TestParams>,
) -> (StatusCode, Json<TestOutcome>) {
    let out = s.targets.send(&name, p.resolved).await;
    let status = match out.result {
        "sent" => StatusCode::OK,
        "unknown" => StatusCode::NOT_FOUND,
        "disabled" => StatusCode::CONFLICT,
        _ => StatusCode::BAD_GATEWAY,
    };
    (status, Json(out))
}
