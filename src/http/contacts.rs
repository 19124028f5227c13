//! Contact verification over HTTP: `GET /api/v1/contacts` (each contact's
//! email and phone, masked since reads need no token, and whether each is
//! verified), `POST
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
        s.router().shared().verified,
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
        Ok(mut v) => {
            for c in &mut v {
                c.email = c.email.as_deref().map(mask_email);
                c.phone = c.phone.as_deref().map(mask_phone);
            }
            (StatusCode::OK, Json(json!(v)))
        }
        Err(e) => error(e),
    }
}

/// `a***@example.com`.
pub fn mask_email(e: &str) -> String {
    match e.split_once('@') {
        Some((user, domain)) => {
            let first: String = user.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// `+86138****0011`: the first six and last four characters.
pub fn mask_phone(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    if chars.len() <= 10 {
        return "****".into();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked() {
        assert_eq!(mask_email("alice@example.com"), "a***@example.com");
        assert_eq!(mask_phone("+8613800000011"), "+86138****0011");
        assert_eq!(mask_phone("+1415"), "****");
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
