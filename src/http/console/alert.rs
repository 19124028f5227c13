//! `GET /alert/{fingerprint}`: one alert — its labels and annotations, value,
//! marks, history (every transition in `alert_events`), every notification
//! with the channel's answer, the route that chose its recipients and why,
//! and a link to its query on the datasource's graph page; the forms to
//! acknowledge it and to silence alerts like it.

use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::alerts::{acknowledgements, marks};
use super::page::{Page, TABLE_END, back_to, cell, cut, esc, message_page, table_head};
use super::words::columns;
use super::{Admitted, FormBase, admit};
use crate::alert::text::pick;
use crate::alert::{Acknowledgement, AlertInstance, AlertState, Fingerprint};
use crate::http::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    pub done: String,
}

/// The alert with this fingerprint: in memory, else as stored (resolved).
pub async fn find(s: &AppState, fingerprint: &str) -> Option<AlertInstance> {
    let fp = Fingerprint::try_from(fingerprint.to_string()).ok()?;
    if let Some(a) = s
        .engine
        .select_alerts(|a| a.fingerprint == fp, 0..1)
        .1
        .pop()
    {
        return Some(a);
    }
    s.engine.store().alert(fp).await.ok().flatten()
}

pub async fn page(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(fingerprint): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let Some(a) = find(&s, &fingerprint).await else {
        let w = Page::new(&s, &headers, &uri).w;
        return message_page(
            &s,
            &headers,
            &uri,
            StatusCode::NOT_FOUND,
            w.alert_not_found(),
        );
    };
    let mut p = Page::new(&s, &headers, &uri);
    let w = p.w;
    let lang = p.lang();
    p.start_after(&a.alert, &q.done);
    let router = s.router();
    let acks = acknowledgements(&s).await;
    let message = pick(lang, &a.message, &a.texts.message_zh);
    let resolution = pick(lang, &a.resolution, &a.texts.resolution_zh);
    let since = p.time(a.fired_at.unwrap_or(a.active_at));
    // Rows with nothing to say (no value, no hint) are left out.
    let row = |term: &str, value: String| {
        if value.is_empty() {
            String::new()
        } else {
            format!("<dt>{term}</dt><dd>{value}</dd>")
        }
    };
    let rows = [
        row(
            w.severity(),
            format!(
                "<span class=\"sev {}\">{}</span>",
                a.severity.as_str(),
                esc(&w.term(a.severity.as_str()))
            ),
        ),
        row(w.state(), esc(&w.term(a.state.as_str()))),
        row(w.since(), since),
        row(
            w.value(),
            if a.value.is_finite() {
                esc(&crate::template::humanize(a.value))
            } else {
                String::new()
            },
        ),
        row(
            w.message(),
            if message.is_empty() {
                String::new()
            } else {
                format!("<span class=text>{}</span>", esc(message))
            },
        ),
        row(w.resolution(), esc(resolution)),
        row("fingerprint", format!("<code>{}</code>", a.fingerprint)),
    ];
    let _ = write!(
        p.html,
        "<dl>{}</dl><p>{}</p>",
        rows.concat(),
        marks(&p, &a, &router, &acks)
    );
    if !a.generator_url.is_empty() {
        let _ = write!(
            p.html,
            "<p><a href=\"{}\" rel=noreferrer>{}</a></p>",
            esc(&a.generator_url),
            w.graph()
        );
    }
    if a.is_active() && p.viewer.may_act {
        actions(&mut p, &a, acks.get(&a.fingerprint));
    }

    let _ = write!(p.html, "<h2>{}</h2><dl>", w.labels());
    for (k, v) in a.output_labels() {
        let _ = write!(p.html, "<dt>{}</dt><dd>{}</dd>", esc(&k), esc(&v));
    }
    p.html.push_str("</dl>");
    if !a.annotations.is_empty() {
        let _ = write!(p.html, "<h2>{}</h2><dl>", w.annotations());
        for (k, v) in &a.annotations {
            let _ = write!(p.html, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
        }
        p.html.push_str("</dl>");
    }

    route(&mut p, &s, &a);
    history(&mut p, &s, a.fingerprint).await;
    notifications(&mut p, &s, a.fingerprint).await;
    p.finish()
}

/// Acknowledge (or give back) and silence.
fn actions(p: &mut Page, a: &AlertInstance, ack: Option<&Acknowledgement>) {
    let w = p.w;
    let name = esc(p.viewer.name());
    let fp = a.fingerprint;
    let ack_form = match ack.filter(|k| k.holds(a.severity)) {
        Some(_) => p.form(
            &format!("/ui/alert/{fp}/unack"),
            &format!("<button id=unack>{}</button>", w.unacknowledge()),
        ),
        None if a.state == AlertState::Firing => p.form(
            &format!("/ui/alert/{fp}/ack"),
            &format!(
                "<label for=ack-by>{}</label><input type=text id=ack-by name=by value=\"{name}\" required>\
                 <label for=ack-comment>{}</label><input type=text id=ack-comment name=comment>\
                 <button id=ack>{}</button>",
                w.your_name(),
                w.ack_comment(),
                w.acknowledge()
            ),
        ),
        None => String::new(),
    };
    let matchers: Vec<String> = a
        .output_labels()
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    let silence_form = p.form(
        "/ui/silence",
        &format!(
            "<label for=sil-m>{}</label><textarea id=sil-m name=matchers rows={}>{}</textarea>\
             <label for=sil-d>{}</label><select id=sil-d name=duration>\
             <option>1h</option><option>2h</option><option>4h</option><option>8h</option><option>1d</option><option>7d</option></select>\
             <label for=sil-by>{}</label><input type=text id=sil-by name=by value=\"{name}\" required>\
             <label for=sil-c>{}</label><input type=text id=sil-c name=comment required>\
             <button id=silence>{}</button>",
            w.silence_matchers(),
            matchers.len().clamp(2, 8),
            esc(&matchers.join("\n")),
            w.duration(),
            w.your_name(),
            w.comment(),
            w.create_silence()
        ),
    );
    let _ = write!(
        p.html,
        "<section class=actions><h2>{}</h2>{ack_form}<details><summary>{}</summary>{silence_form}</details></section>",
        w.acknowledge(),
        w.silence_this()
    );
}

/// A matcher value in double quotes, as Alertmanager writes them.
fn quote(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| format!("\"{v}\""))
}

/// The route: scope, why, recipients, timing, time windows now.
fn route(p: &mut Page, s: &AppState, a: &AlertInstance) {
    let w = p.w;
    let router = s.router();
    let route = router.route(a);
    let why = match route.scope.as_str() {
        "default" => w.route_why_default(),
        "all" => w.route_why_all(),
        _ => w.route_why_scope(),
    };
    let recipients = route.recipient_names();
    let _ = write!(
        p.html,
        "<h2>{}</h2><dl><dt>{}</dt><dd><code>{}</code> — {}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt></dt><dd>{}</dd></dl>",
        w.route(),
        w.route_scope(),
        esc(&route.scope),
        why,
        w.recipients(),
        if recipients.is_empty() {
            format!("<i>{}</i>", w.nobody())
        } else {
            esc(&recipients.join(", "))
        },
        w.repeat_every(),
        route
            .timing
            .repeat_interval
            .map(|d| esc(&crate::template::format_duration_secs(d.as_secs_f64())))
            .unwrap_or_else(|| w.no_repeat().to_string()),
        if route.timing.is_open(p.now) {
            w.window_open()
        } else {
            w.window_closed()
        },
    );
}

async fn history(p: &mut Page, s: &AppState, fp: Fingerprint) {
    let w = p.w;
    let _ = write!(p.html, "<h2>{}</h2>", w.history());
    let Some(events) = p.or_problem(s.engine.store().events_for(fp).await) else {
        return;
    };
    let cols = columns(w.history_cols());
    p.html.push_str(&table_head(w.history_cols()));
    // The newest hundred, newest first.
    for e in events.iter().rev().take(100) {
        let row = format!(
            "<tr>{}{}{}{}{}{}</tr>",
            cell(cols[0], &p.time(e.at)),
            cell(cols[1], &esc(&w.term(&e.from_state))),
            cell(cols[2], &esc(&w.term(&e.to_state))),
            cell(
                cols[3],
                &esc(&w.term(e.to_severity.as_deref().unwrap_or("")))
            ),
            cell(
                cols[4],
                &e.value
                    .map(|v| esc(&crate::template::humanize(v)))
                    .unwrap_or_default()
            ),
            cell(cols[5], &esc(&w.term(&e.reason))),
        );
        p.html.push_str(&row);
    }
    p.html.push_str(TABLE_END);
}

async fn notifications(p: &mut Page, s: &AppState, fp: Fingerprint) {
    let w = p.w;
    let _ = write!(p.html, "<h2>{}</h2>", w.notifications());
    let Some(rows) = p.or_problem(s.engine.store().notifications_for(fp).await) else {
        return;
    };
    if rows.is_empty() {
        let _ = write!(p.html, "<p class=mut>{}</p>", w.no_notifications());
        return;
    }
    let cols = columns(w.notification_cols());
    p.html.push_str(&table_head(w.notification_cols()));
    for n in rows.iter().rev().take(100) {
        let row = format!(
            "<tr class=\"n-{}\">{}{}{}{}{}{}{}</tr>",
            esc(&n.status),
            cell(cols[0], &p.time(n.created_at)),
            cell(cols[1], &esc(&n.target)),
            cell(cols[2], &esc(&n.kind)),
            cell(cols[3], &esc(&w.term(&n.status))),
            cell(cols[4], &n.attempts.to_string()),
            cell(cols[5], &n.sent_at.map(|t| p.time(t)).unwrap_or_default()),
            cell(
                cols[6],
                &esc(&cut(
                    n.last_error
                        .as_deref()
                        .or(n.answer.as_deref())
                        .unwrap_or(""),
                    300
                ))
            ),
        );
        p.html.push_str(&row);
    }
    p.html.push_str(TABLE_END);
}

#[derive(Debug, Deserialize)]
pub struct AckForm {
    #[serde(flatten)]
    pub base: FormBase,
    #[serde(default)]
    pub by: String,
    #[serde(default)]
    pub comment: String,
}

/// `POST /ui/alert/{fingerprint}/ack`: takes a firing alert.
pub async fn acknowledge(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(fingerprint): Path<String>,
    Form(f): Form<AckForm>,
) -> Response {
    let Admitted { viewer, w } = match admit(&s, &headers, &uri, &f.base) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let Some(a) = find(&s, &fingerprint)
        .await
        .filter(|a| a.state == AlertState::Firing)
    else {
        return message_page(
            &s,
            &headers,
            &uri,
            StatusCode::NOT_FOUND,
            w.alert_not_found(),
        );
    };
    let by = pick_name(&f.by, viewer.name());
    match take(&s, &a, &by, f.comment.trim()).await {
        Ok(()) => back_to(&f.base.back, w.done_ack()),
        Err(e) => message_page(&s, &headers, &uri, StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}

/// Records that `by` took `a` (the console's form and the signed links).
pub async fn take(s: &AppState, a: &AlertInstance, by: &str, comment: &str) -> Result<(), String> {
    let ack = Acknowledgement {
        fingerprint: a.fingerprint,
        by: cut(by, 100).into_owned(),
        at: chrono::Utc::now(),
        severity: a.severity,
        comment: cut(comment, 500).into_owned(),
    };
    s.engine
        .store()
        .acknowledge(ack)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(alert = %a.alert, fingerprint = %a.fingerprint, by = %by, "alert acknowledged");
    crate::notify::acknowledged::notify_acknowledged(s.engine.pipeline(), a, by)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// `POST /ui/alert/{fingerprint}/unack`: nobody has it any more.
pub async fn give_back(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(fingerprint): Path<String>,
    Form(f): Form<FormBase>,
) -> Response {
    let w = match admit(&s, &headers, &uri, &f) {
        Ok(a) => a.w,
        Err(r) => return *r,
    };
    let Ok(fp) = Fingerprint::try_from(fingerprint) else {
        return message_page(
            &s,
            &headers,
            &uri,
            StatusCode::NOT_FOUND,
            w.alert_not_found(),
        );
    };
    match s.engine.store().unacknowledge(fp).await {
        Ok(_) => {
            // Its repeats are due again as they were.
            s.engine.pipeline().repeats().look_now();
            tracing::info!(fingerprint = %fp, "acknowledgement given back");
            back_to(&f.back, w.done_unack())
        }
        Err(e) => message_page(
            &s,
            &headers,
            &uri,
            StatusCode::SERVICE_UNAVAILABLE,
            &e.to_string(),
        ),
    }
}

/// The name typed in the form, else the session's.
pub fn pick_name(typed: &str, session: &str) -> String {
    let t = typed.trim();
    if t.is_empty() { session.trim() } else { t }.to_string()
}
