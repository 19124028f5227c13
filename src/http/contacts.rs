//! Contact verification over HTTP: `GET /api/v1/contacts` (each contact's
//! email and phone and whether each is verified), `POST
//! /api/v1/contacts/{name}/verify?via=email|phone` (sends a six-digit code;
//! without `via`, to every address) and `POST
//! /api/v1/contacts/{name}/confirm` with `{"code": "123456"}`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use crate::notify::verify::{ContactVerifier, VerifyError, Via};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/contacts", get(list))
        .route("/api/v1/contacts/{name}/verify", post(verify))
        .route("/api/v1/contacts/{name}/confirm", post(confirm))
}

fn verifier(s: &AppState) -> ContactVerifier {
    ContactVerifier::new(
        s.targets.config(),
        s.engine.store().clone(),
        s.engine.router().shared().verified,
    )
}

fn error(e: VerifyError) -> (StatusCode, Json<Value>) {
    let status = match &e {
        VerifyError::UnknownContact(_) => StatusCode::NOT_FOUND,
        VerifyError::Send { .. } => StatusCode::BAD_GATEWAY,
        VerifyError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, Json(json!({"error": e.to_string()})))
}

async fn list(State(s): State<AppState>) -> (StatusCode, Json<Value>) {
    match verifier(&s).status().await {
        Ok(v) => (StatusCode::OK, Json(json!(v))),
        Err(e) => error(e),
    }
}

#[derive(Debug, Deserialize)]
struct VerifyParams {
    #[serde(default)]
    via: Option<Via>,
}

async fn verify(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(p): Query<VerifyParams>,
) -> (StatusCode, Json<Value>) {
    match verifier(&s).start(&name, p.via).await {
        Ok(sent) => (StatusCode::OK, Json(json!(sent))),
        Err(e) => error(e),
    }
}

#[derive(Debug, Deserialize)]
struct ConfirmBody {
    code: String,
}

async fn confirm(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Json(b): Json<ConfirmBody>,
) -> (StatusCode, Json<Value>) {
    match verifier(&s).confirm(&name, &b.code).await {
        Ok(a) => (
            StatusCode::OK,
            Json(
                json!({"contact": a.contact, "type": a.kind, "address": a.address, "verified": true}),
            ),
        ),
        Err(e) => error(e),
    }
}
