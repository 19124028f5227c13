//! `GET /login`: the form that takes the `api_token` once (and a name for
//! acknowledgements and silences); `POST /ui/login` checks the token in
//! constant time and sets the session cookie; `POST /ui/logout` ends it.
//! Without `api_token` the form only asks for a name.

use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{Page, esc, message_page};
use super::session;
use super::{FormBase, admit};
use crate::http::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    pub back: String,
}

pub async fn page(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<LoginQuery>,
) -> Response {
    form_page(&s, &headers, &uri, &q.back, None)
}

fn form_page(
    s: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    back: &str,
    problem: Option<&str>,
) -> Response {
    let mut p = Page::new(s, headers, uri);
    let w = p.w;
    p.start(w.login_title());
    if let Some(why) = problem {
        let _ = write!(p.html, "<p class=problem>{}</p>", esc(why));
    }
    let token_field = if p.viewer.token_set {
        format!(
            "<label for=token>{}</label><input type=password id=token name=token autocomplete=current-password required>",
            w.login_token()
        )
    } else {
        format!("<p class=mut>{}</p>", w.login_not_needed())
    };
    let _ = write!(
        p.html,
        "<form method=post action=/ui/login>{token_field}\
         <label for=name>{}</label><input type=text id=name name=name value=\"{}\" autocomplete=name>\
         <input type=hidden name=back value=\"{}\"><p><button id=login>{}</button></p></form>",
        w.login_name(),
        esc(p.viewer.name()),
        esc(back),
        w.log_in()
    );
    let status = if problem.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    p.finish_with(status)
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub back: String,
}

/// Whether the daemon is reached over https (the cookie is then `Secure`).
fn secure(s: &AppState) -> bool {
    s.targets
        .config()
        .external_url
        .as_ref()
        .is_some_and(|u| u.value.starts_with("https://"))
}

/// `POST /ui/login`.
pub async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Form(f): Form<LoginForm>,
) -> Response {
    if s.token.matches(&f.token) == Some(false) {
        tracing::warn!("console login refused: wrong token");
        let w = Page::new(&s, &headers, &uri).w;
        return form_page(&s, &headers, &uri, &f.back, Some(w.login_wrong()));
    }
    let name = super::page::cut(f.name.trim(), 100).into_owned();
    let value = s
        .token
        .with_exposed(|t| session::new_cookie(&s.guard.key, t, &name, chrono::Utc::now()));
    tracing::info!(name = %name, "console login");
    let back = if f.back.starts_with('/') && !f.back.starts_with("//") && !f.back.contains('\\') {
        f.back.as_str()
    } else {
        "/alerts"
    };
    let mut r = Redirect::to(back).into_response();
    match HeaderValue::from_str(&session::set_cookie(&value, secure(&s))) {
        Ok(v) => {
            r.headers_mut().insert(header::SET_COOKIE, v);
            r
        }
        Err(_) => message_page(
            &s,
            &headers,
            &uri,
            StatusCode::BAD_REQUEST,
            "name not usable in a cookie",
        ),
    }
}

/// `POST /ui/logout`.
pub async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Form(f): Form<FormBase>,
) -> Response {
    if let Err(r) = admit(&s, &headers, &uri, &f) {
        return *r;
    }
    let mut r = Redirect::to("/alerts").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
