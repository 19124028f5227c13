//! `GET /targets`: every target (the mail targets of contacts too) with its
//! type, whether it is enabled, its send limits, deliveries since start,
//! rows queued, and its last delivery with the channel's answer;
//! `POST /ui/targets/{name}/test` sends its test message and shows the answer.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::alert::DoneQuery;
use super::page::{Page, TABLE_END, cell, cut, esc, table_head};
use super::words::columns;
use super::{FormBase, admit};
use crate::http::AppState;
use crate::notify::channels::Channel;

pub async fn page(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> Response {
    let mut p = Page::new(&s, &headers, &uri);
    let w = p.w;
    p.start_after(w.targets_title(), &q.done);
    let config = s.targets.config();
    let targets: Vec<_> = config.delivery_targets().collect();
    if targets.is_empty() {
        let _ = write!(p.html, "<p class=mut>{}</p>", w.no_targets());
        return p.finish();
    }
    let stats: HashMap<String, _> = s.delivery.snapshot().into_iter().collect();
    let store = s.engine.store();
    let mut queued: HashMap<String, i64> = HashMap::new();
    for (target, status, n) in store.outbox_counts().await.unwrap_or_default() {
        if status == "pending" {
            *queued.entry(target).or_default() += n;
        }
    }
    let last = store.last_deliveries().await.unwrap_or_default();
    let cols = columns(w.target_cols());
    p.html.push_str(&table_head(w.target_cols()));
    for t in targets {
        let limits = Channel::from_config(t, &config)
            .map(|c| {
                let l: Vec<String> = c
                    .rate_limits()
                    .iter()
                    .map(|r| {
                        format!(
                            "{}/{}",
                            r.count,
                            crate::template::format_duration_secs(r.per.as_secs_f64())
                        )
                    })
                    .collect();
                format!("{} · max {}", l.join(", "), c.max_batch())
            })
            .unwrap_or_default();
        let counts = stats
            .get(t.name())
            .map(|st| format!("{} / {} / {}", st.sent, st.retried, st.failed))
            .unwrap_or_default();
        let last_delivery = last
            .get(t.name())
            .map(|n| {
                format!(
                    "{} {} <a href=\"/alert/{}\">{}</a><div class=mut>{}</div>",
                    esc(&w.term(&n.status)),
                    n.sent_at
                        .or(Some(n.created_at))
                        .map(|t| p.time(t))
                        .unwrap_or_default(),
                    esc(&n.fingerprint),
                    esc(&n.kind),
                    esc(&cut(
                        n.last_error
                            .as_deref()
                            .or(n.answer.as_deref())
                            .unwrap_or(""),
                        300
                    ))
                )
            })
            .unwrap_or_default();
        let test = if p.viewer.may_act && t.enabled {
            p.form(
                &format!("/ui/targets/{}/test", super::page::urlencode(t.name())),
                &format!("<button class=test>{}</button>", w.send_test()),
            )
        } else {
            String::new()
        };
        let name = esc(t.name());
        let row = format!(
            "<tr id=\"t-{name}\">{}{}{}{}{}{}{}</tr>",
            cell(cols[0], &format!("<b>{name}</b>{test}")),
            cell(cols[1], &esc(t.type_name())),
            cell(cols[2], if t.enabled { w.enabled() } else { w.disabled() }),
            cell(cols[3], &esc(&limits)),
            cell(cols[4], &esc(&counts)),
            cell(
                cols[5],
                &queued.get(t.name()).copied().unwrap_or(0).to_string()
            ),
            cell(cols[6], &last_delivery),
        );
        p.html.push_str(&row);
    }
    p.html.push_str(TABLE_END);
    p.finish()
}

/// `POST /ui/targets/{name}/test`: the answer on a page of its own.
pub async fn test(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Form(f): Form<FormBase>,
) -> Response {
    if let Err(r) = admit(&s, &headers, &uri, &f) {
        return *r;
    }
    let out = s.targets.send(&name, false).await;
    tracing::info!(target_name = %name, result = out.result, "test message sent from the console");
    let status = match out.result {
        "sent" => StatusCode::OK,
        "unknown" => StatusCode::NOT_FOUND,
        "disabled" => StatusCode::CONFLICT,
        _ => StatusCode::BAD_GATEWAY,
    };
    let mut p = Page::new(&s, &headers, &uri);
    let w = p.w;
    p.start(&format!("{} · {}", w.test_result(), name));
    let _ = write!(
        p.html,
        "<dl><dt>{}</dt><dd id=test-result>{}</dd><dt></dt><dd><pre>{}</pre></dd></dl><p><a href=/targets>{}</a></p>",
        esc(&out.kind),
        esc(&w.term(out.result)),
        esc(&out.answer),
        w.back()
    );
    p.finish_with(status)
}
