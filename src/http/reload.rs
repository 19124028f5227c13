//! Reloads asked for over HTTP (`POST /-/reload`) or by SIGHUP: a request
//! goes to the daemon's control task, which answers with what changed or why
//! nothing did.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use tokio::sync::{mpsc, oneshot};

use super::AppState;
use crate::eval::engine::ReloadSummary;

/// Asks the control task to reload; the answer says what changed or why not.
pub type ReloadRequest = oneshot::Sender<Result<ReloadSummary, String>>;

/// Sends a reload request and waits for its answer.
pub async fn request_reload(tx: &mpsc::Sender<ReloadRequest>) -> Result<ReloadSummary, String> {
    let (answer_tx, answer_rx) = oneshot::channel();
    tx.send(answer_tx)
        .await
        .map_err(|_| "the daemon is stopping".to_string())?;
    answer_rx
        .await
        .map_err(|_| "the daemon is stopping".to_string())?
}

/// `POST /-/reload`: 200 with what changed, or 400 with every error (the
/// running config and rules stay in force).
pub(super) async fn reload(State(s): State<AppState>) -> impl IntoResponse {
    match request_reload(&s.reload).await {
        Ok(summary) => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "reloaded", "summary": summary})),
        ),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"status": "failed", "error": error})),
        ),
    }
}
