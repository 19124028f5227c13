//! Limits on what clients send (`limits:` in the config; a reload changes
//! them): request bodies read up to a size, API lists paged, and the answers
//! that say which limit was hit and which key raises it.

use std::sync::{Arc, RwLock};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::config::LimitsConfig;

/// The limits in force, shared with the control task (reload replaces them).
#[derive(Debug, Clone, Default)]
pub struct Limits(Arc<RwLock<Arc<LimitsConfig>>>);

impl Limits {
    pub fn new(config: LimitsConfig) -> Limits {
        Limits(Arc::new(RwLock::new(Arc::new(config))))
    }

    pub fn set(&self, config: LimitsConfig) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
    }

    pub fn get(&self) -> Arc<LimitsConfig> {
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A JSON error answer: `{"status": "error", "error": why}`.
pub fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    let why = why.into();
    (
        status,
        Json(serde_json::json!({"status": "error", "error": why})),
    )
        .into_response()
}

/// Reads a whole body of at most `limit` bytes; a longer one is a 413 naming
/// the config key (`limits.{key}`).
pub async fn read_body(body: Body, limit: usize, key: &str) -> Result<Bytes, Response> {
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b),
        Err(e) => {
            let too_long = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if too_long {
                Err(refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body larger than {limit} bytes (limits.{key})"),
                ))
            } else {
                Err(refuse(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {e}"),
                ))
            }
        }
    }
}

/// `?limit=N&offset=M` of a list endpoint.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct PageQuery {
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// One page of a list: at most `min(limit, max)` items from `offset`; the
/// total before paging goes into `X-Total-Count`.
pub fn page<T: serde::Serialize>(items: Vec<T>, q: PageQuery, max: usize) -> Response {
    let total = items.len();
    let limit = q.limit.unwrap_or(max).min(max);
    let offset = q.offset.unwrap_or(0).min(total);
    let page: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
    let mut r = Json(page).into_response();
    r.headers_mut()
        .insert("X-Total-Count", HeaderValue::from(total));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_long_body_is_a_413_naming_the_key() {
        let r = read_body(Body::from(vec![b'x'; 11]), 10, "api_body_bytes")
            .await
            .unwrap_err();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let b = axum::body::to_bytes(r.into_body(), 1000).await.unwrap();
        assert!(
            String::from_utf8_lossy(&b).contains("limits.api_body_bytes"),
            "{b:?}"
        );
        let ok = read_body(Body::from(vec![b'x'; 10]), 10, "k")
            .await
            .unwrap();
        assert_eq!(ok.len(), 10);
    }

    #[test]
    fn pages_are_capped() {
        let r = page(
            (0..10).collect::<Vec<_>>(),
            PageQuery {
                limit: Some(100),
                offset: Some(8),
            },
            5,
        );
        assert_eq!(r.headers()["X-Total-Count"], "10");
    }
}
