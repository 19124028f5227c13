//! The operator console: server-rendered pages (no scripts, no external
//! assets) to see, acknowledge, silence and explain, from a browser or a
//! phone, in English or Chinese, times in the configured `timezone`.
//!
//! - [`alerts`]: firing and pending alerts, grouped and filtered, with their
//!   marks (silenced, inhibited, acknowledged); recent resolutions.
//! - [`alert`]: one alert: labels, history, notifications, its route and
//!   why; acknowledge and silence it.
//! - [`checks`]: heartbeat checks and one check's ping log; pause, resume.
//! - [`silences`]: silences in force; expire one.
//! - [`targets`]: every target and its deliveries; send a test message.
//! - [`explain`]: "who would receive this?" (`tocsin route explain` on the CLI).
//! - [`login`]: the login form and logout.
//! - [`links`]: signed acknowledge links carried by notifications.
//! - [`session`], [`page`], [`words`]: the session cookie and form tokens,
//!   the page frame, the texts in both languages.
//!
//! Pages are open to whoever may read the API (`api_token_reads` applies,
//! a session cookie counting as the token); forms (`POST /ui/...`) need a
//! session when `api_token` is set, a form token always, and are refused
//! from other sites by [`crate::http::auth::browser_guard`].

pub mod alert;
pub mod alerts;
pub mod checks;
pub mod explain;
pub mod links;
pub mod login;
pub mod page;
pub mod session;
pub mod silences;
pub mod targets;
pub mod words;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::AppState;
use page::{Viewer, message_page};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(alerts::page))
        .route("/alert/{fingerprint}", get(alert::page))
        .route("/checks", get(checks::list))
        .route("/checks/{id}", get(checks::page))
        .route("/silences", get(silences::page))
        .route("/targets", get(targets::page))
        .route("/explain", get(explain::page))
        .route("/login", get(login::page))
        .route("/ack/{fingerprint}", get(links::page))
        .route("/ui/login", post(login::login))
        .route("/ui/logout", post(login::logout))
        .route("/ui/alert/{fingerprint}/ack", post(alert::acknowledge))
        .route("/ui/alert/{fingerprint}/unack", post(alert::give_back))
        .route("/ui/silence", post(silences::create))
        .route("/ui/silences/{id}/expire", post(silences::expire))
        .route("/ui/checks/{id}/pause", post(checks::pause))
        .route("/ui/checks/{id}/resume", post(checks::resume))
        .route("/ui/targets/{name}/test", post(targets::test))
        .route("/ui/link/{fingerprint}", post(links::act))
}

/// What every console form carries.
#[derive(Debug, Deserialize)]
pub struct FormBase {
    #[serde(default)]
    pub form_token: String,
    #[serde(default)]
    pub back: String,
}

/// Lets a form post through: the viewer may act (logged in, or no token is
/// set) and the form token is theirs. Otherwise the page that says why.
pub fn admit(
    s: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    form: &FormBase,
) -> Result<Admitted, Box<Response>> {
    let viewer = Viewer::of(s, headers);
    let w = page::Page::new(s, headers, uri).w;
    if !viewer.may_act {
        tracing::warn!(path = %uri.path(), "console form refused: not logged in");
        return Err(Box::new(message_page(
            s,
            headers,
            uri,
            StatusCode::UNAUTHORIZED,
            w.need_login(),
        )));
    }
    if !crate::signing::constant_time_eq(form.form_token.as_bytes(), viewer.form_token.as_bytes()) {
        tracing::warn!(path = %uri.path(), "console form refused: wrong form token");
        return Err(Box::new(message_page(
            s,
            headers,
            uri,
            StatusCode::FORBIDDEN,
            w.form_expired(),
        )));
    }
    Ok(Admitted { viewer, w })
}

/// A form let through: who posted it, and the words of their pages.
pub struct Admitted {
    pub viewer: Viewer,
    pub w: words::Words,
}
