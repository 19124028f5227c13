//! `GET /explain?labels=...&severity=...`: "who would receive this?" — a
//! form that takes labels and a severity and shows the route, why, the
//! recipients and whether anything mutes it now (the same answer as
//! `tocsin route explain`, [`crate::notify::explain`]).

use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::page::{Page, esc};
use crate::alert::Severity;
use crate::http::AppState;
use crate::notify::explain::{explain, labels_from_text};

#[derive(Debug, Default, Deserialize)]
pub struct ExplainQuery {
    #[serde(default)]
    pub labels: String,
    #[serde(default)]
    pub severity: String,
}

pub async fn page(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ExplainQuery>,
) -> Response {
    let mut p = Page::new(&s, &headers, &uri);
    let w = p.w;
    p.start(w.explain_title());
    let severity = if q.severity == "error" {
        Severity::Error
    } else {
        Severity::Warning
    };
    let option = |v: Severity| {
        format!(
            "<option value={0}{1}>{2}</option>",
            v.as_str(),
            if v == severity { " selected" } else { "" },
            esc(&w.term(v.as_str()))
        )
    };
    let _ = write!(
        p.html,
        "<form method=get action=/explain><label for=l>{}</label>\
         <textarea id=l name=labels rows=4 placeholder=\"alertname=BackupFailed&#10;vault=v-prod\">{}</textarea>\
         <label for=sv>{}</label><select id=sv name=severity>{}{}</select> <button id=explain>{}</button></form>",
        w.explain_labels(),
        esc(&q.labels),
        w.explain_severity(),
        option(Severity::Warning),
        option(Severity::Error),
        w.explain()
    );
    if q.labels.trim().is_empty() {
        return p.finish();
    }
    let labels = match labels_from_text(&q.labels) {
        Ok(l) => l,
        Err(e) => {
            let _ = write!(
                p.html,
                "<p class=problem>{}: {}</p>",
                w.bad_matchers(),
                esc(&e)
            );
            return p.finish();
        }
    };
    let e = explain(&s.router(), &labels, severity, p.now);
    let why = match e.scope.as_str() {
        "default" => w.route_why_default(),
        "all" => w.route_why_all(),
        _ => w.route_why_scope(),
    };
    let _ = write!(
        p.html,
        "<section id=explanation><h2>{}</h2><dl><dt>{}</dt><dd><code>{}</code> — {}</dd><dt>{}</dt><dd id=explain-recipients>{}</dd>\
         <dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt></dt><dd>{}</dd></dl>",
        w.route(),
        w.route_scope(),
        esc(&e.scope),
        why,
        w.recipients(),
        if e.recipients.is_empty() {
            format!("<i>{}</i>", w.nobody())
        } else {
            esc(&e.recipients.join(", "))
        },
        w.silence(),
        match &e.silenced_by {
            Some(id) => format!(
                "{} <a href=\"/silences#s-{id}\">{id}</a>",
                w.silenced_now(),
                id = esc(id)
            ),
            None => w.not_silenced().to_string(),
        },
        w.repeat_every(),
        e.repeat_interval_seconds
            .map(|d| esc(&crate::template::format_duration_secs(d as f64)))
            .unwrap_or_else(|| w.no_repeat().to_string()),
        if e.window_open {
            w.window_open()
        } else {
            w.window_closed()
        },
    );
    if let Some(by) = &e.inhibited_by {
        let _ = write!(p.html, "<p class=mark>{} {}</p>", w.inhibited_by(), esc(by));
    }
    let args: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("--label {}", shell_quote(&format!("{k}={v}"))))
        .collect();
    let _ = write!(
        p.html,
        "<p class=mut>{}</p><pre>tocsin route explain {} --severity {}</pre></section>",
        w.explain_cli(),
        esc(&args.join(" ")),
        severity.as_str()
    );
    p.finish()
}

/// `s` in single quotes for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
