//! `GET /alerts`: firing and pending alerts, filtered by matchers and free
//! text, grouped by a chosen label, paginated; each one line or two with
//! its marks (silenced by which silence, inhibited by what, acknowledged by
//! whom) and recipients; then the alerts resolved in the last days.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::page::{Page, cut, esc, with_param};
use crate::alert::text::pick;
use crate::alert::{Acknowledgement, AlertInstance, AlertState, Fingerprint, Labels, Matcher};
use crate::http::AppState;
use crate::notify::Router;

/// Alerts per page.
pub const PAGE_SIZE: usize = 50;
/// Resolutions shown at most.
const RESOLVED_MAX: usize = 100;

#[derive(Debug, Default, Deserialize)]
pub struct AlertsQuery {
    /// Label matchers: `{a="b", c=~"d.*"}` or `a=b, c!=d`.
    #[serde(default)]
    pub filter: String,
    /// Free text, in the name, labels, message and hint.
    #[serde(default)]
    pub q: String,
    /// A label to group by.
    #[serde(default)]
    pub group: String,
    /// firing | pending | (empty: both)
    #[serde(default)]
    pub state: String,
    /// 1-based.
    pub page: Option<usize>,
    /// Resolved alerts of how many days (default 2, at most 30).
    pub days: Option<u32>,
    /// What a form just did.
    #[serde(default)]
    pub done: String,
}

pub async fn page(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<AlertsQuery>,
) -> Response {
    let mut p = Page::new(&s, &headers, &uri);
    let w = p.w;
    p.start_after(w.alerts_title(), &q.done);
    let router = s.router();
    let acks = acknowledgements(&s).await;
    let matchers = match Matcher::parse_list(&q.filter) {
        Ok(m) => m,
        Err(e) => {
            let _ = write!(
                p.html,
                "<p class=problem>{}: {}</p>",
                w.bad_matchers(),
                esc(&e)
            );
            Vec::new()
        }
    };
    filters_form(&mut p, &q);

    let text = q.q.to_lowercase();
    let lang = p.lang();
    let keep = |a: &AlertInstance| {
        a.is_active()
            && match q.state.as_str() {
                "firing" => a.state == AlertState::Firing,
                "pending" => a.state == AlertState::Pending,
                _ => true,
            }
            && a.matches_all(&matchers)
            && (text.is_empty() || mentions(a, &text, lang))
    };
    let wanted = q.page.unwrap_or(1).max(1);
    let (total, mut shown) = s
        .engine
        .select_alerts(keep, (wanted - 1) * PAGE_SIZE..wanted * PAGE_SIZE);
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page_no = wanted.min(pages);
    if page_no < wanted {
        // Asked past the end: the last page.
        shown = s
            .engine
            .select_alerts(keep, (page_no - 1) * PAGE_SIZE..page_no * PAGE_SIZE)
            .1;
    }
    let shown = &shown[..];
    let _ = write!(
        p.html,
        "<p class=mut>{total} · {} {page_no}/{pages}</p>",
        w.page_of()
    );
    if shown.is_empty() {
        let _ = write!(p.html, "<p class=mut>{}</p>", w.no_alerts());
    }
    // Groups in order of their label's value; alerts keep their order.
    let mut groups: BTreeMap<String, Vec<&AlertInstance>> = BTreeMap::new();
    for a in shown {
        let key = if q.group.is_empty() {
            String::new()
        } else {
            a.output_labels().get(&q.group).cloned().unwrap_or_default()
        };
        groups.entry(key).or_default().push(a);
    }
    for (key, alerts) in &groups {
        if !q.group.is_empty() {
            let _ = write!(
                p.html,
                "<h2>{}=\"{}\" <span class=mut>({})</span></h2>",
                esc(&q.group),
                esc(key),
                alerts.len()
            );
        }
        p.html.push_str("<ul class=alerts>");
        for a in alerts {
            let item = alert_item(&p, a, &router, &acks);
            p.html.push_str(&item);
        }
        p.html.push_str("</ul>");
    }
    if pages > 1 {
        p.html.push_str("<p>");
        if page_no > 1 {
            let _ = write!(
                p.html,
                "<a rel=prev href=\"{}\">{}</a> ",
                esc(&with_param(&p.here, "page", &(page_no - 1).to_string())),
                w.previous()
            );
        }
        if page_no < pages {
            let _ = write!(
                p.html,
                "<a rel=next href=\"{}\">{}</a>",
                esc(&with_param(&p.here, "page", &(page_no + 1).to_string())),
                w.next()
            );
        }
        p.html.push_str("</p>");
    }
    resolved(&s, &mut p, &q, &matchers, &text).await;
    p.finish()
}

/// The filter form, holding what the page was asked for.
fn filters_form(p: &mut Page, q: &AlertsQuery) {
    let w = p.w;
    let state = |v: &str, label: &str| {
        format!(
            "<option value=\"{v}\"{}>{label}</option>",
            if q.state == v { " selected" } else { "" }
        )
    };
    let _ = write!(
        p.html,
        "<form method=get action=/alerts class=filters>\
         <div><label for=f>{}</label><input type=text id=f name=filter value=\"{}\" placeholder='severity=\"error\"'></div>\
         <div><label for=q>{}</label><input type=text id=q name=q value=\"{}\"></div>\
         <div><label for=g>{}</label><input type=text id=g name=group value=\"{}\" size=10 placeholder=vault></div>\
         <div><label for=s>{}</label><select id=s name=state>{}{}{}</select></div>\
         <div><button>{}</button></div></form>",
        w.filter_matchers(),
        esc(&q.filter),
        w.filter_text(),
        esc(&q.q),
        w.group_by(),
        esc(&q.group),
        w.state_filter(),
        state("", w.all_states()),
        state("firing", &p.w.term("firing")),
        state("pending", &p.w.term("pending")),
        w.apply(),
    );
}

/// Whether `text` (lower case) is in the alert's name, labels, message or hint.
fn mentions(a: &AlertInstance, text: &str, lang: crate::alert::Language) -> bool {
    // ASCII text (most searches) needs no lowered copy of every string.
    let has = |s: &str| {
        if text.is_ascii() {
            s.as_bytes()
                .windows(text.len().max(1))
                .any(|w| w.eq_ignore_ascii_case(text.as_bytes()))
        } else {
            s.to_lowercase().contains(text)
        }
    };
    has(&a.alert)
        || a.labels.iter().any(|(k, v)| has(k) || has(v))
        || has(a.severity.as_str())
        || has(pick(lang, &a.message, &a.texts.message_zh))
        || has(&a.message)
        || has(&a.texts.message_zh)
        || has(&a.resolution)
}

/// Acknowledgements in force (none when the database cannot say).
pub async fn acknowledgements(s: &AppState) -> HashMap<Fingerprint, Acknowledgement> {
    s.engine
        .store()
        .acknowledgements()
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read acknowledgements");
            HashMap::new()
        })
}

/// One alert of the list: one line of name, severity, state and since,
/// one of its message, one of its labels and marks.
fn alert_item(
    p: &Page,
    a: &AlertInstance,
    router: &Router,
    acks: &HashMap<Fingerprint, Acknowledgement>,
) -> String {
    let w = p.w;
    let lang = p.lang();
    let message = pick(lang, &a.message, &a.texts.message_zh);
    let labels: Vec<String> = a
        .output_labels()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let recipients = router.recipients(a);
    format!(
        "<li class=\"{sev} {state}\" data-fingerprint=\"{fp}\"><div class=line>\
         <a href=\"/alert/{fp}\"><b>{name}</b></a> <span class=\"sev {sev}\">{sev_word}</span>\
         <span class=mut>{state_word} · {since} {at}</span></div>\
         <span class=msg title=\"{message_full}\">{message}</span>\
         <div class=labels>{marks}{labels}{rec_word}: {recipients}</div></li>",
        sev = a.severity.as_str(),
        state = a.state.as_str(),
        fp = a.fingerprint,
        name = esc(&a.alert),
        sev_word = esc(&w.term(a.severity.as_str())),
        state_word = esc(&w.term(a.state.as_str())),
        since = w.since(),
        at = p.short_time(a.fired_at.unwrap_or(a.active_at)),
        message_full = esc(&cut(message, 500)),
        message = esc(&cut(
            if message.is_empty() {
                &a.alert
            } else {
                message
            },
            200
        )),
        labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{} · ", esc(&cut(&labels.join(" "), 300)))
        },
        marks = marks(p, a, router, acks),
        rec_word = w.recipients(),
        recipients = if recipients.is_empty() {
            format!("<i>{}</i>", w.nobody())
        } else {
            esc(&cut(&recipients.join(", "), 200))
        },
    )
}

/// An alert's marks: silenced (by which silence), inhibited (by what),
/// acknowledged (by whom, or escalated since).
pub fn marks(
    p: &Page,
    a: &AlertInstance,
    router: &Router,
    acks: &HashMap<Fingerprint, Acknowledgement>,
) -> String {
    let w = p.w;
    let labels = a.output_labels();
    let mut out = String::new();
    if let Some(id) = router.silenced_by(&labels) {
        let _ = write!(
            out,
            "<span class=\"mark silenced\">{} <a href=\"/silences#s-{id}\">{}</a></span>",
            w.silenced_by(),
            esc(&cut(&id, 8)),
            id = esc(&id)
        );
    }
    if a.state == AlertState::Firing
        && let Some(by) = router.inhibited_by(a.fingerprint, &labels)
    {
        let _ = write!(
            out,
            "<span class=\"mark inhibited\">{} {}</span>",
            w.inhibited_by(),
            esc(&by)
        );
    }
    if let Some(ack) = acks.get(&a.fingerprint) {
        let (class, said) = if ack.holds(a.severity) {
            ("acked", w.acknowledged_by())
        } else {
            ("", w.escalated_since_ack())
        };
        let _ = write!(
            out,
            "<span class=\"mark {class}\">{said} {} · {}</span>",
            esc(if ack.by.is_empty() { "—" } else { &ack.by }),
            p.short_time(ack.at)
        );
    }
    out
}

/// The alerts resolved in the last `days`, by the same filters.
async fn resolved(s: &AppState, p: &mut Page, q: &AlertsQuery, matchers: &[Matcher], text: &str) {
    let w = p.w;
    let days = q.days.unwrap_or(2).clamp(1, 30);
    let since = p.now - chrono::Duration::days(i64::from(days));
    let _ = write!(
        p.html,
        "<h2>{} {days} {}</h2>",
        w.resolved_recently(),
        w.days()
    );
    let Some(list) = p.or_problem(
        s.engine
            .store()
            .resolutions_since(since, RESOLVED_MAX)
            .await,
    ) else {
        return;
    };
    let list: Vec<_> = list
        .into_iter()
        .filter(|r| {
            matchers
                .iter()
                .all(|m| m.matches(&with_name(&r.labels, &r.alert)))
        })
        .filter(|r| {
            text.is_empty()
                || r.alert.to_lowercase().contains(text)
                || r.labels.iter().any(|(k, v)| {
                    k.to_lowercase().contains(text) || v.to_lowercase().contains(text)
                })
        })
        .collect();
    if list.is_empty() {
        let _ = write!(p.html, "<p class=mut>{}</p>", w.no_resolved());
        return;
    }
    p.html.push_str("<ul class=alerts>");
    for r in &list {
        let labels: Vec<String> = r
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "alertname")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let at = p.short_time(r.at);
        let _ = write!(
            p.html,
            "<li class=resolved><div class=line><a href=\"/alert/{}\"><b>{}</b></a>\
             <span class=mut>{} {}</span></div><div class=labels>{}</div></li>",
            r.fingerprint,
            esc(&r.alert),
            esc(&p.w.term("resolved")),
            at,
            esc(&cut(&labels.join(" "), 300)),
        );
    }
    p.html.push_str("</ul>");
}

fn with_name(labels: &Labels, alert: &str) -> Labels {
    let mut l = labels.clone();
    l.entry("alertname".into()).or_insert_with(|| alert.into());
    l
}
