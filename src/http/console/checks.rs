//! `GET /checks`: every heartbeat check with its state, schedule, last ping
//! (or the run in progress), last exit code and duration, problems first;
//! `GET /checks/{id}`: one check with its ping log and the bodies clients
//! sent (log tails), and the forms to pause and resume it.

use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::alert::DoneQuery;
use super::page::{Page, TABLE_END, back_to, cell, cut, esc, message_page, table_head};
use super::words::columns;
use super::{FormBase, admit};
use crate::heartbeat::registry::Check;
use crate::http::AppState;

/// Pings shown on a check's page.
const PINGS_SHOWN: usize = 100;

/// The check's schedule as people write it: `every 1h` or the cron line and zone.
fn schedule(c: &Check) -> String {
    match c.def.schedule.cron() {
        Some((expr, tz)) => format!("cron {expr} ({})", tz.name()),
        None => format!(
            "every {}",
            crate::template::format_duration_secs(c.def.schedule.period_seconds().unwrap_or(0.0))
        ),
    }
}

/// Last ping, or the run that started and has not ended.
fn last_signal(p: &Page, c: &Check) -> String {
    match (c.state.last_start, c.state.last_ping) {
        (Some(start), ping) if ping.is_none_or(|p| p < start) => {
            format!("{} {}", p.w.started(), p.time(start))
        }
        (_, Some(ping)) => p.time(ping),
        _ => p.w.never().to_string(),
    }
}

pub async fn list(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> Response {
    let mut p = Page::new(&s, &headers, &uri);
    let w = p.w;
    p.start_after(w.checks_title(), &q.done);
    let rows = problems_first(s.heartbeats.checks(), p.now);
    if rows.is_empty() {
        let _ = write!(p.html, "<p class=mut>{}</p>", w.no_checks());
        return p.finish();
    }
    let cols = columns(w.check_cols());
    p.html.push_str(&table_head(w.check_cols()));
    for (state, c) in rows.iter().take(1000) {
        let labels: Vec<String> = c
            .def
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let row = format!(
            "<tr>{}{}{}{}{}{}</tr>",
            cell(
                cols[0],
                &format!(
                    "<a href=\"/checks/{}\"><b>{}</b></a><div class=labels>{}</div>",
                    c.def.id,
                    esc(&cut(&c.def.name, 200)),
                    esc(&cut(&labels.join(" "), 200))
                )
            ),
            cell(
                cols[1],
                &format!(
                    "<span class=\"hb {}\">{}</span>",
                    esc(state),
                    esc(&w.term(state))
                )
            ),
            cell(cols[2], &esc(&schedule(c))),
            cell(cols[3], &last_signal(&p, c)),
            cell(
                cols[4],
                &c.state
                    .last_exit_code
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            ),
            cell(
                cols[5],
                &c.state
                    .last_duration
                    .map(|d| esc(&crate::template::format_duration_secs(
                        d.as_secs_f64().round()
                    )))
                    .unwrap_or_default()
            ),
        );
        p.html.push_str(&row);
    }
    p.html.push_str(TABLE_END);
    p.finish()
}

/// Checks with their state (`down`, `late`, ...), problems first, then by name.
pub fn problems_first(
    checks: Vec<Check>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, Check)> {
    let mut rows: Vec<(String, Check)> = checks
        .into_iter()
        .map(|c| (crate::http::metrics::heartbeat_state(&c, now), c))
        .collect();
    let rank = |st: &str| match st {
        "down" | "failed" => 0,
        "late" | "running" => 1,
        _ => 2,
    };
    rows.sort_by(|a, b| (rank(&a.0), &a.1.def.name).cmp(&(rank(&b.0), &b.1.def.name)));
    rows
}

fn by_id(s: &AppState, id: &str) -> Option<Check> {
    let id: i64 = id.parse().ok()?;
    s.heartbeats.registry().read().get(id).cloned()
}

pub async fn page(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let Some(c) = by_id(&s, &id) else {
        let w = Page::new(&s, &headers, &uri).w;
        return message_page(
            &s,
            &headers,
            &uri,
            StatusCode::NOT_FOUND,
            w.check_not_found(),
        );
    };
    let mut p = Page::new(&s, &headers, &uri);
    let w = p.w;
    p.start_after(&c.def.name, &q.done);
    let state = crate::http::metrics::heartbeat_state(&c, p.now);
    let labels: Vec<String> = c
        .def
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let cols = columns(w.check_cols());
    let _ = write!(
        p.html,
        "<dl><dt>{}</dt><dd><span class=\"hb {st}\">{}</span></dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd>\
         <dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>",
        cols[1],
        esc(&w.term(&state)),
        w.schedule(),
        esc(&schedule(&c)),
        w.grace(),
        esc(&crate::template::format_duration_secs(
            c.def.grace.as_secs_f64()
        )),
        cols[3],
        last_signal(&p, &c),
        cols[4],
        c.state
            .last_exit_code
            .map(|e| e.to_string())
            .unwrap_or_default(),
        cols[5],
        c.state
            .last_duration
            .map(|d| esc(&crate::template::format_duration_secs(
                d.as_secs_f64().round()
            )))
            .unwrap_or_default(),
        w.labels(),
        esc(&labels.join(" ")),
        st = esc(&state),
    );
    if p.viewer.may_act {
        let form = if c.state.paused {
            p.form(
                &format!("/ui/checks/{}/resume", c.def.id),
                &format!("<button id=resume>{}</button>", w.resume()),
            )
        } else {
            p.form(
                &format!("/ui/checks/{}/pause", c.def.id),
                &format!("<button id=pause>{}</button>", w.pause()),
            )
        };
        p.html.push_str(&form);
    }
    let _ = write!(p.html, "<h2>{}</h2>", w.ping_log());
    match p.or_problem(s.heartbeats.pings_of(c.def.id, PINGS_SHOWN).await) {
        None => {}
        Some(pings) if pings.is_empty() => {
            let _ = write!(p.html, "<p class=mut>{}</p>", w.no_pings());
        }
        Some(pings) => {
            let cols = columns(w.ping_cols());
            p.html.push_str(&table_head(w.ping_cols()));
            for ping in &pings {
                let body = if ping.body.is_empty() {
                    String::new()
                } else {
                    format!("<pre>{}</pre>", esc(&ping.body))
                };
                let row = format!(
                    "<tr class=\"ping-{}\">{}{}{}{}{}{}{}</tr>",
                    esc(&ping.kind),
                    cell(cols[0], &ping.n.to_string()),
                    cell(cols[1], &p.time(ping.at)),
                    cell(cols[2], &esc(&w.term(&ping.kind))),
                    cell(
                        cols[3],
                        &ping.exit_code.map(|e| e.to_string()).unwrap_or_default()
                    ),
                    cell(
                        cols[4],
                        &ping
                            .duration_seconds
                            .map(|d| esc(&crate::template::format_duration_secs(d.round())))
                            .unwrap_or_default()
                    ),
                    cell(
                        cols[5],
                        &esc(&format!(
                            "{} {}",
                            ping.method,
                            ping.remote_addr.as_deref().unwrap_or("")
                        ))
                    ),
                    cell(cols[6], &body),
                );
                p.html.push_str(&row);
            }
            p.html.push_str(TABLE_END);
        }
    }
    p.finish()
}

/// `POST /ui/checks/{id}/pause` and `.../resume`.
async fn set_paused(
    s: AppState,
    headers: HeaderMap,
    uri: Uri,
    id: String,
    form: FormBase,
    pause: bool,
) -> Response {
    let w = match admit(&s, &headers, &uri, &form) {
        Ok(a) => a.w,
        Err(r) => return *r,
    };
    let Some(c) = by_id(&s, &id) else {
        return message_page(
            &s,
            &headers,
            &uri,
            StatusCode::NOT_FOUND,
            w.check_not_found(),
        );
    };
    let done = if pause {
        s.heartbeats.pause_id(c.def.id).await
    } else {
        s.heartbeats.resume_id(c.def.id).await
    };
    match done {
        Ok(()) => {
            tracing::info!(check = %c.def.name, paused = pause, "check paused or resumed from the console");
            back_to(
                &form.back,
                if pause {
                    w.done_pause()
                } else {
                    w.done_resume()
                },
            )
        }
        Err(e) => message_page(&s, &headers, &uri, StatusCode::CONFLICT, &e.to_string()),
    }
}

pub async fn pause(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Form(f): Form<FormBase>,
) -> Response {
    set_paused(s, headers, uri, id, f, true).await
}

pub async fn resume(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Form(f): Form<FormBase>,
) -> Response {
    set_paused(s, headers, uri, id, f, false).await
}
