//! Silences over HTTP: `GET /api/v1/silences` (active and pending, and those
//! ended in the last day), `POST /api/v1/silences` (400 naming the field on
//! bad input) and `DELETE /api/v1/silences/{id}` (expire now).

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use chrono::Utc;

use super::AppState;
use super::limits::{PageQuery, page, read_body, refuse};
use crate::alert::Silence;
use crate::notify::silence::{NewSilence, SilenceBounds, SilenceView};
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

async fn list(State(s): State<AppState>, Query(q): Query<PageQuery>) -> axum::response::Response {
    let now = Utc::now();
    let max = s.limits.get().list_items.value;
    match s
        .engine
        .store()
        .silences(now - chrono::Duration::days(1))
        .await
    {
        Ok(list) => {
            let views: Vec<SilenceView> = list.iter().map(|x| SilenceView::new(x, now)).collect();
            page(views, q, max)
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

async fn add(State(s): State<AppState>, body: Body) -> axum::response::Response {
    let limits = s.limits.get();
    let body = match read_body(body, limits.api_body_bytes.value, "api_body_bytes").await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let now = Utc::now();
    let in_force = s.router().silences().in_force(now);
    if in_force >= limits.silences.value {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{in_force} silences are active or pending; at most {} (limits.silences): expire some first",
                limits.silences.value
            ),
        );
    }
    add_checked(&s, &body, now, &SilenceBounds::from(&*limits))
        .await
        .into_response()
}

async fn add_checked(
    s: &AppState,
    body: &[u8],
    now: chrono::DateTime<Utc>,
    bounds: &SilenceBounds,
) -> impl IntoResponse + use<> {
    let new: NewSilence = match serde_json::from_slice(body) {
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
    let silence = match new.check_within(now, bounds) {
        Ok(x) => x,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let view = SilenceView::new(&silence, now);
    if let Err(e) = put_new(s, silence).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    (StatusCode::OK, Json(serde_json::json!(view)))
}

/// Records a new silence and puts it in force (both APIs add silences
/// through here, so there is one set of them).
pub(super) async fn put_new(s: &AppState, silence: Silence) -> Result<(), StoreError> {
    s.engine.store().add_silence(silence.clone()).await?;
    tracing::info!(silence = %silence.id, author = %silence.created_by, "silence added");
    s.router().silences().put(silence);
    Ok(())
}

/// Changes a silence in place (same id) and puts the change in force.
pub(super) async fn put_changed(s: &AppState, silence: Silence) -> Result<(), StoreError> {
    s.engine.store().update_silence(silence.clone()).await?;
    tracing::info!(silence = %silence.id, author = %silence.created_by, "silence updated");
    s.router().silences().put(silence);
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
    s.router().silences().put(silence.clone());
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
