//! `GET /silences`: silences in force and pending, with what they match and
//! the form to expire one; `POST /ui/silence` creates one from an alert's
//! page (the same checks and bounds as the APIs: `limits:`).

use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;

use super::alert::{DoneQuery, pick_name};
use super::page::{Page, TABLE_END, back_to, cell, esc, message_page, table_head};
use super::words::columns;
use super::{Admitted, FormBase, admit};
use crate::http::AppState;
use crate::notify::silence::{MatcherInput, NewSilence, SilenceBounds};

pub async fn page(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> Response {
    let mut p = Page::new(&s, &headers, &uri);
    let w = p.w;
    p.start_after(w.silences_title(), &q.done);
    let now = p.now;
    let Some(list) = p.or_problem(s.engine.store().silences(now).await) else {
        return p.finish_with(StatusCode::SERVICE_UNAVAILABLE);
    };
    if list.is_empty() {
        let _ = write!(p.html, "<p class=mut>{}</p>", w.no_silences());
        return p.finish();
    }
    let cols = columns(w.silence_cols());
    p.html.push_str(&table_head(w.silence_cols()));
    for x in &list {
        let matchers: Vec<String> = x.matchers.iter().map(|m| m.to_string()).collect();
        let state = if x.is_active(p.now) {
            "active"
        } else {
            "pending"
        };
        let expire = if p.viewer.may_act {
            p.form(
                &format!("/ui/silences/{}/expire", x.id),
                &format!("<button class=expire>{}</button>", w.expire()),
            )
        } else {
            String::new()
        };
        let id = esc(&x.id);
        let row = format!(
            "<tr id=\"s-{id}\">{}{}{}{}{}{}{}</tr>",
            cell(cols[0], &format!("<code>{id}</code>")),
            cell(cols[1], &esc(&matchers.join(", "))),
            cell(cols[2], &p.time(x.starts_at)),
            cell(cols[3], &p.time(x.ends_at)),
            cell(cols[4], &esc(&x.created_by)),
            cell(cols[5], &esc(&x.comment)),
            cell(cols[6], &format!("{}{expire}", esc(&w.term(state)))),
        );
        p.html.push_str(&row);
    }
    p.html.push_str(TABLE_END);
    p.finish()
}

#[derive(Debug, Deserialize)]
pub struct SilenceForm {
    #[serde(flatten)]
    pub base: FormBase,
    #[serde(default)]
    pub matchers: String,
    #[serde(default)]
    pub duration: String,
    #[serde(default)]
    pub by: String,
    #[serde(default)]
    pub comment: String,
}

/// `POST /ui/silence`.
pub async fn create(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Form(f): Form<SilenceForm>,
) -> Response {
    let Admitted { viewer, w } = match admit(&s, &headers, &uri, &f.base) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let refuse = |why: String| message_page(&s, &headers, &uri, StatusCode::BAD_REQUEST, &why);
    let matchers = match crate::alert::Matcher::parse_list(&f.matchers) {
        Ok(m) => m,
        Err(e) => return refuse(format!("{}: {e}", w.bad_matchers())),
    };
    let new = NewSilence {
        matchers: matchers
            .iter()
            .map(|m| MatcherInput::Text(m.to_string()))
            .collect(),
        duration: Some(f.duration.trim().to_string()),
        created_by: pick_name(&f.by, viewer.name()),
        comment: f.comment.trim().to_string(),
        ..Default::default()
    };
    let now = Utc::now();
    let bounds = SilenceBounds::from(&*s.limits.get());
    let silence = match new.check_within(now, &bounds) {
        Ok(x) => x,
        Err(e) => return refuse(e),
    };
    match crate::http::silences::put_new(&s, silence).await {
        Ok(()) => back_to(&f.base.back, w.done_silence()),
        Err(e) => message_page(
            &s,
            &headers,
            &uri,
            StatusCode::SERVICE_UNAVAILABLE,
            &e.to_string(),
        ),
    }
}

/// `POST /ui/silences/{id}/expire`.
pub async fn expire(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Form(f): Form<FormBase>,
) -> Response {
    let w = match admit(&s, &headers, &uri, &f) {
        Ok(a) => a.w,
        Err(r) => return *r,
    };
    match crate::http::silences::expire_now(&s, &id, Utc::now()).await {
        Ok(Some(_)) => back_to(&f.back, w.done_expire()),
        Ok(None) => message_page(
            &s,
            &headers,
            &uri,
            StatusCode::NOT_FOUND,
            &format!("no silence has id {id:?}"),
        ),
        Err(e) => message_page(
            &s,
            &headers,
            &uri,
            StatusCode::SERVICE_UNAVAILABLE,
            &e.to_string(),
        ),
    }
}
