//! Write endpoints need `Authorization: Bearer <api_token>` when the config
//! sets `api_token`. Reads (GET, HEAD) stay open, and so do the ping
//! endpoints, whose check key already is their secret (Healthchecks
//! clients cannot send a header), and the Healthchecks API (`/api/v3/`),
//! which checks its own `X-Api-Key`. The token can change on reload; it is
//! compared in constant time and never echoed.

use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::Secret;

/// The configured token, shared with the control task (reload replaces it).
#[derive(Debug, Clone, Default)]
pub struct ApiToken(Arc<RwLock<Option<Secret>>>);

impl ApiToken {
    pub fn new(token: Option<Secret>) -> ApiToken {
        ApiToken(Arc::new(RwLock::new(token)))
    }

    pub fn set(&self, token: Option<Secret>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = token;
    }

    /// Whether `given` is the token (constant time); None when none is set.
    pub fn matches(&self, given: &str) -> Option<bool> {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        let token = guard.as_ref()?;
        Some(crate::heartbeat::constant_time_eq(
            given.as_bytes(),
            token.expose().as_bytes(),
        ))
    }

    /// Whether `presented` (the `Authorization` header) is acceptable.
    fn admits(&self, presented: Option<&HeaderValue>) -> Result<(), &'static str> {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        let Some(token) = guard.as_ref() else {
            return Ok(());
        };
        let Some(value) = presented.and_then(|v| v.to_str().ok()) else {
            return Err("this endpoint needs `Authorization: Bearer <api_token>`");
        };
        let Some(given) = value.strip_prefix("Bearer ") else {
            return Err("expected `Authorization: Bearer <api_token>`");
        };
        if crate::heartbeat::constant_time_eq(given.trim().as_bytes(), token.expose().as_bytes()) {
            Ok(())
        } else {
            Err("the bearer token is not this daemon's api_token")
        }
    }
}

/// Needs a write request to carry the token; lets everything else through.
pub async fn require_token(State(token): State<ApiToken>, req: Request, next: Next) -> Response {
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path();
    if read || path.starts_with("/ping/") || path.starts_with("/api/v3/") {
        return next.run(req).await;
    }
    match token.admits(req.headers().get(header::AUTHORIZATION)) {
        Ok(()) => next.run(req).await,
        Err(why) => {
            tracing::warn!(path = %req.uri().path(), method = %req.method(), reason = why, "write request refused");
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(serde_json::json!({"status": "error", "error": why})),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_bearer_token_is_admitted() {
        let open = ApiToken::new(None);
        assert!(open.admits(None).is_ok());
        let t = ApiToken::new(Some(Secret::new("s3cret")));
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert!(t.admits(Some(&h("Bearer s3cret"))).is_ok());
        assert!(t.admits(None).unwrap_err().contains("needs"));
        assert!(t.admits(Some(&h("Basic s3cret"))).is_err());
        let wrong = t.admits(Some(&h("Bearer s3cre"))).unwrap_err();
        assert!(!wrong.contains("s3cre"), "{wrong}");
        t.set(None);
        assert!(t.admits(None).is_ok());
    }
}
