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

use super::console::session::{self, SigningKey};
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

    /// Runs `f` with the token in force (never to be logged or shown).
    pub fn with_exposed<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        f(guard.as_ref().map(Secret::expose))
    }

    /// Whether `given` is the token (constant time); None when none is set.
    pub fn matches(&self, given: &str) -> Option<bool> {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        let token = guard.as_ref()?;
        Some(crate::signing::constant_time_eq(
            given.as_bytes(),
            token.expose().as_bytes(),
        ))
    }

    /// Whether `presented` (the `Authorization` header) is acceptable.
    pub(crate) fn admits(&self, presented: Option<&HeaderValue>) -> Result<(), &'static str> {
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
        if crate::signing::constant_time_eq(given.trim().as_bytes(), token.expose().as_bytes()) {
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
    // The console's forms (`/ui/`) check their session and form token themselves.
    if read
        || path.starts_with("/ping/")
        || path.starts_with("/api/v3/")
        || path.starts_with("/ui/")
    {
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

/// Whether the request carried the configured token (or none is configured):
/// put into every request's extensions by [`browser_guard`]; ping keys are
/// shown only to authenticated readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated(pub bool);

impl ApiToken {
    /// Whether a token is configured.
    pub fn is_set(&self) -> bool {
        self.0.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }
}

/// What [`browser_guard`] enforces besides the token (reload replaces it).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `http.allowed_hosts`: `Host` names accepted besides IP addresses and
    /// `localhost` (any when `api_token` is set and this is empty).
    pub allowed_hosts: Vec<String>,
    /// `api_token_reads`: reads need the token too.
    pub token_reads: bool,
}

/// The token and the policy, shared with the control task.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    pub token: ApiToken,
    policy: Arc<RwLock<Arc<Policy>>>,
    /// Signs the console's session cookies and form tokens.
    pub key: SigningKey,
}

impl Guard {
    pub fn new(token: ApiToken, policy: Policy, key: SigningKey) -> Guard {
        Guard {
            token,
            policy: Arc::new(RwLock::new(Arc::new(policy))),
            key,
        }
    }

    pub fn set_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
    }

    fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.policy.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The host part of a `Host` header or an origin's authority (no port, no brackets).
fn host_name(authority: &str) -> &str {
    let a = authority.trim();
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match a.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => a,
    }
}

/// Whether `Host` may be served: an IP address or `localhost` always (DNS
/// rebinding needs a name), a listed name, or any when a token protects the
/// API and no list is given.
pub fn host_allowed(host: &str, policy: &Policy, token_set: bool) -> bool {
    let name = host_name(host).to_ascii_lowercase();
    if name.parse::<std::net::IpAddr>().is_ok() || name == "localhost" {
        return true;
    }
    if policy.allowed_hosts.is_empty() {
        return token_set;
    }
    policy.allowed_hosts.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == host.to_ascii_lowercase() || a == name
    })
}

/// A browser's cross-site request, by `Sec-Fetch-Site` or an `Origin` that is
/// not this server.
fn cross_site(headers: &axum::http::HeaderMap, host: &str) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!(
            "cross-site request refused (Sec-Fetch-Site: {site})"
        ));
    }
    let origin = headers.get(header::ORIGIN)?.to_str().unwrap_or("null");
    let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or("");
    if authority.is_empty() || !authority.eq_ignore_ascii_case(host) {
        return Some(format!(
            "cross-site request refused (Origin {origin:?} is not this server)"
        ));
    }
    None
}

/// Whether the body is JSON (`application/json`, `application/*+json`).
fn json_body(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|t| {
            t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
        })
}

fn has_body(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// Keeps browsers from being used against the daemon:
/// - `Host` must be an IP address, `localhost`, or in `http.allowed_hosts`
///   (any name when `api_token` is set and no list is given): DNS rebinding.
/// - A state-changing request must not come from another site (`Origin`,
///   `Sec-Fetch-Site`), and a body must be JSON unless the request carries
///   the token or an `X-Api-Key` (a form or `text/plain` post is what a page
///   on any site can send without asking).
/// - With `api_token_reads`, reads need the token too.
///
/// The ping endpoints (any method, any body, any client) and `/healthz` are
/// left alone.
pub async fn browser_guard(State(g): State<Guard>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let ping = path.starts_with("/ping/");
    let health = matches!(path, "/healthz" | "/leader" | "/-/healthy" | "/-/ready");
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let token_set = g.token.is_set();
    let authed = token_set
        && (g
            .token
            .admits(req.headers().get(header::AUTHORIZATION))
            .is_ok()
            || g.token.with_exposed(|t| {
                session::session(&g.key, t, req.headers(), chrono::Utc::now()).is_some()
            }));
    let policy = g.policy();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_string();
    let refuse = |status: StatusCode, why: String| {
        tracing::warn!(path = %req.uri().path(), method = %req.method(), reason = %why, "request refused");
        (
            status,
            axum::Json(serde_json::json!({"status": "error", "error": why})),
        )
            .into_response()
    };
    if !ping && !health {
        if !host_allowed(&host, &policy, token_set) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "Host {host:?} is not allowed: add it to http.allowed_hosts (or set api_token)"
                ),
            );
        }
        let login_page = matches!(path, "/login" | "/favicon.ico");
        if read
            && policy.token_reads
            && token_set
            && !authed
            && !path.starts_with("/api/v3/")
            && !login_page
        {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "reads need `Authorization: Bearer <api_token>` (api_token_reads)".into(),
            );
        }
        if !read {
            if let Some(why) = cross_site(req.headers(), &host) {
                return refuse(StatusCode::FORBIDDEN, why);
            }
            // A console form (`/ui/`) carries its form token instead.
            let keyed =
                authed || req.headers().contains_key("x-api-key") || path.starts_with("/ui/");
            let typed = req.headers().contains_key(header::CONTENT_TYPE);
            if !keyed && (typed || has_body(req.headers())) && !json_body(req.headers()) {
                return refuse(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "expected `Content-Type: application/json`".into(),
                );
            }
        }
    }
    req.extensions_mut()
        .insert(Authenticated(!token_set || authed));
    next.run(req).await
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

    #[test]
    fn hosts_that_dns_rebinding_could_use_are_refused() {
        let open = Policy::default();
        for ok in [
            "127.0.0.1:9750",
            "[::1]:9750",
            "localhost:9750",
            "10.1.2.3",
            "LOCALHOST",
        ] {
            assert!(host_allowed(ok, &open, false), "{ok}");
        }
        assert!(!host_allowed("evil.example:9750", &open, false));
        assert!(
            host_allowed("evil.example:9750", &open, true),
            "a token protects"
        );
        let listed = Policy {
            allowed_hosts: vec!["tocsin.corp".into()],
            token_reads: false,
        };
        assert!(host_allowed("tocsin.corp:9750", &listed, false));
        assert!(!host_allowed("evil.example", &listed, true));
    }

    #[test]
    fn cross_site_and_form_posts_are_told() {
        use axum::http::HeaderMap;
        let mut h = HeaderMap::new();
        assert!(
            cross_site(&h, "127.0.0.1:9750").is_none(),
            "curl sends neither"
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:9750"),
        );
        assert!(cross_site(&h, "127.0.0.1:9750").is_none());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(cross_site(&h, "127.0.0.1:9750").is_some());
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(cross_site(&h, "127.0.0.1:9750").is_some());
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(json_body(&h));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!json_body(&h));
    }
}
