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
use crate::notify::silence::{NewSilence, Silence, SilenceView};
use crate::store::StoreError;

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
    let view = SilenceView::new(&silence, now);
    if let Err(e) = put_new(&s, silence).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    (StatusCode::OK, Json(serde_json::json!(view)))
}

/// Records a new silence and puts it in force (both APIs add silences
/// through here, so there is one set of them).
pub(super) async fn put_new(s: &AppState, silence: Silence) -> Result<(), StoreError> {
    s.engine.store().add_silence(silence.clone()).await?;
    tracing::info!(silence = %silence.id, author = %silence.created_by, "silence added");
    s.engine.router().silences().put(silence);
    Ok(())
}

/// Changes a silence in place (same id) and puts the change in force.
pub(super) async fn put_changed(s: &AppState, silence: Silence) -> Result<(), StoreError> {
    s.engine.store().update_silence(silence.clone()).await?;
    tracing::info!(silence = %silence.id, author = %silence.created_by, "silence updated");
    s.engine.router().silences().put(silence);
    Ok(())
}

/// Ends a silence now (what it held back and still fires is then
/// notified); None if there is no such silence. Gives the silence as it is
/// afterwards.
pub(super) async fn expire_now(
    s: &AppState,
    id: &str,
    now: chrono::DateTime<Utc>,
) -> Result<Option<Silence>, StoreError> {
    if s.engine
        .store()
        .expire_silence(id.to_string(), now)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let Some(silence) = s.engine.store().silence(id.to_string()).await? else {
        return Ok(None);
    };
    tracing::info!(silence = %id, "silence expired");
    s.engine.router().silences().put(silence.clone());
    Ok(Some(silence))
}

async fn expire(State(s): State<AppState>, Path(id): Path<String>) -> impl IntoResponse {
    let now = Utc::now();
    match expire_now(&s, &id, now).await {
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no silence has id {id:?}")),
        Ok(Some(x)) => (
            StatusCode::OK,
            Json(serde_json::json!(SilenceView::new(&x, now))),
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
