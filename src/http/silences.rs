//! Silences over HTTP: `GET /api/v1/silences` (active and pending, and those
//! ended in the last day), `POST /api/v1/silences` (400 naming the field on
//! bad input) and `DELETE /api/v1/silences/{id}` (expire now).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use chrono::Utc;

use super::AppState;
use crate::notify::silence::{NewSilence, SilenceView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/silences", get(list).post(add))
        .route("/api/v1/silences/{id}", delete(expire))
}

fn error(status: StatusCode, message: String) -> (StatusCode, Json<serde_json::Value>) {
    (
        status,
        Json(serde_json::json!({"status": "error", "error": message})),
    )
}

async fn list(State(s): State<AppState>) -> impl IntoResponse {
    let now = Utc::now();
    match s
        .engine
        .store()
        .silences(now - chrono::Duration::days(1))
        .await
    {
        Ok(list) => {
            let views: Vec<SilenceView> = list.iter().map(|x| SilenceView::new(x, now)).collect();
            (StatusCode::OK, Json(serde_json::json!(views)))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn add(State(s): State<AppState>, body: Bytes) -> impl IntoResponse {
    let now = Utc::now();
    let new: NewSilence = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "expected a silence {{matchers, endsAt or duration, createdBy, comment}} ({e})"
                ),
            );
        }
    };
    let silence = match new.check(now) {
        Ok(x) => x,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if let Err(e) = s.engine.store().add_silence(silence.clone()).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    tracing::info!(silence = %silence.id, author = %silence.created_by, "silence added");
    let view = SilenceView::new(&silence, now);
    s.engine.router().silences().put(silence);
    (StatusCode::OK, Json(serde_json::json!(view)))
}

async fn expire(State(s): State<AppState>, Path(id): Path<String>) -> impl IntoResponse {
    let now = Utc::now();
    match s.engine.store().expire_silence(id.clone(), now).await {
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no silence has id {id:?}")),
        Ok(Some(_)) => {
            let list = s
                .engine
                .store()
                .silences(now - chrono::Duration::days(1))
                .await
                .unwrap_or_default();
            if let Some(x) = list.into_iter().find(|x| x.id == id) {
                let view = SilenceView::new(&x, now);
                s.engine.router().silences().put(x);
                tracing::info!(silence = %id, "silence expired");
                (StatusCode::OK, Json(serde_json::json!(view)))
            } else {
                (
                    StatusCode::OK,
                    Json(serde_json::json!({"id": id, "state": "expired"})),
                )
            }
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
