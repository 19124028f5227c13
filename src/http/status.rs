//! `GET /`: one server-rendered HTML page (no scripts, no external assets)
//! with what an operator looks for first: firing and pending alerts,
//! heartbeat checks (problems first), rule health with the last error, and
//! delivery per target; times in the config's `timezone`. Readable on a phone;
//! refreshes itself every 15 seconds.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Html;
use chrono::{DateTime, Utc};

use super::AppState;
use crate::alert::AlertState;
use crate::notify::render::format_time_in;

pub async fn page(State(s): State<AppState>) -> Html<String> {
    Html(render(&s))
}

pub fn render(s: &AppState) -> String {
    let now = Utc::now();
    let tz = s.targets.config().timezone;
    // A time as the page shows it: in the configured zone, then how long ago.
    let at = |t: DateTime<Utc>| {
        format!(
            "{}<div class=labels>{}</div>",
            esc(&ago(now, t)),
            esc(&format_time_in(t, tz, "%Y-%m-%d %H:%M:%S"))
        )
    };
    let alerts = s.engine.alerts();
    let active: Vec<_> = alerts.iter().filter(|a| a.is_active()).collect();
    let firing = active
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .count();
    let rules = s.engine.rule_statuses();
    let failing = rules.iter().filter(|r| r.health == "err").count();

    // Each table shows at most `limits.page_rows` rows, each text cut short:
    // the page stays small however many alerts and checks there are.
    let rows_max = s.limits.get().page_rows.value;
    let mut h = String::with_capacity(8192);
    h.push_str(HEAD);
    let _ = write!(
        h,
        "<header><h1>tocsin</h1><p class=summary><span class=\"pill {}\">{firing} firing</span> \
         <span class=pill>{} pending</span> <span class=\"pill {}\">{failing} failing rules</span></p></header>",
        if firing > 0 { "bad" } else { "good" },
        active.len() - firing,
        if failing > 0 { "bad" } else { "good" },
    );

    h.push_str("<section><h2>Alerts</h2>");
    if active.is_empty() {
        h.push_str("<p class=empty>No alerts are firing or pending.</p>");
    } else {
        h.push_str("<table><thead><tr><th>Alert</th><th>Severity</th><th>State</th><th>Message</th><th>Since</th><th>Recipients</th></tr></thead><tbody>");
        for a in active.iter().take(rows_max) {
            let since = a.fired_at.unwrap_or(a.active_at);
            let labels: Vec<String> = a
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "alertname")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let recipients = s.router().recipients(a);
            let _ = write!(
                h,
                "<tr class=\"{sev}\"><td data-label=Alert><b>{name}</b><div class=labels>{labels}</div></td>\
                 <td data-label=Severity><span class=\"sev {sev}\">{sev}</span></td>\
                 <td data-label=State>{state}</td>\
                 <td data-label=Message>{message}{resolution}</td>\
                 <td data-label=Since>{since}</td>\
                 <td data-label=Recipients>{recipients}</td></tr>",
                sev = a.severity.as_str(),
                name = esc(&a.alert),
                labels = esc(&cut(&labels.join(" "))),
                state = a.state.as_str(),
                message = esc(&cut(&if a.message.is_empty() {
                    format!("value {}", a.value)
                } else {
                    a.message.clone()
                })),
                resolution = if a.resolution.is_empty() {
                    String::new()
                } else {
                    format!("<div class=hint>{}</div>", esc(&cut(&a.resolution)))
                },
                since = at(since),
                recipients = if recipients.is_empty() {
                    "<i>nobody</i>".to_string()
                } else {
                    esc(&recipients.join(", "))
                },
            );
        }
        h.push_str("</tbody></table>");
        more(&mut h, active.len(), rows_max, "/api/v1/alerts");
    }
    h.push_str("</section>");

    let checks = s.heartbeats.checks();
    if !checks.is_empty() {
        h.push_str("<section><h2>Heartbeats</h2><table><thead><tr><th>Check</th><th>State</th><th>Last ping</th><th>Last run</th></tr></thead><tbody>");
        let mut rows: Vec<_> = checks
            .iter()
            .map(|c| (super::metrics::heartbeat_state(c, now), c))
            .collect();
        // Problems first.
        let rank = |st: &str| match st {
            "down" | "failed" => 0,
            "late" | "running" => 1,
            _ => 2,
        };
        rows.sort_by(|a, b| (rank(&a.0), &a.1.def.name).cmp(&(rank(&b.0), &b.1.def.name)));
        let total = rows.len();
        for (state, c) in rows.into_iter().take(rows_max) {
            let labels: Vec<String> = c
                .def
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = write!(
                h,
                "<tr><td data-label=Check><b>{}</b><div class=labels>{}</div></td><td data-label=State><span class=\"hb {}\">{}</span></td>\
                 <td data-label=\"Last ping\">{}</td><td data-label=\"Last run\">{}</td></tr>",
                esc(&cut(&c.def.name)),
                esc(&cut(&labels.join(" "))),
                esc(&state),
                esc(&state),
                c.state.last_ping.map(at).unwrap_or_else(|| "never".into()),
                c.state
                    .last_duration
                    .map(|d| esc(&crate::template::format_duration_secs(
                        d.as_secs_f64().round()
                    )))
                    .unwrap_or_default(),
            );
        }
        h.push_str("</tbody></table>");
        more(&mut h, total, rows_max, "/api/v1/heartbeats");
        h.push_str("</section>");
    }

    h.push_str("<section><h2>Rules</h2><table><thead><tr><th>Group</th><th>Rule</th><th>Health</th><th>Last evaluation</th><th>Last error</th></tr></thead><tbody>");
    for r in rules.iter().take(rows_max) {
        let _ = write!(
            h,
            "<tr><td data-label=Group>{}</td><td data-label=Rule>{}</td><td data-label=Health><span class=\"health {}\">{}</span></td>\
             <td data-label=\"Last evaluation\">{}</td><td data-label=\"Last error\" class=err>{}</td></tr>",
            esc(&r.group),
            esc(&r.alert),
            r.health,
            r.health,
            r.last_evaluation.map(at).unwrap_or_else(|| "never".into()),
            esc(&cut(r.last_error.as_deref().unwrap_or(""))),
        );
    }
    h.push_str("</tbody></table>");
    more(&mut h, rules.len(), rows_max, "/api/v1/rules");
    h.push_str("</section>");

    let delivery = s.delivery.snapshot();
    if !delivery.is_empty() {
        h.push_str("<section><h2>Delivery</h2><table><thead><tr><th>Target</th><th>Sent</th><th>Retried</th><th>Failed</th></tr></thead><tbody>");
        for (target, st) in &delivery {
            let _ = write!(
                h,
                "<tr><td data-label=Target>{}</td><td data-label=Sent>{}</td><td data-label=Retried>{}</td><td data-label=Failed>{}</td></tr>",
                esc(target),
                st.sent,
                st.retried,
                st.failed
            );
        }
        h.push_str("</tbody></table></section>");
    }
    let _ = write!(
        h,
        "<footer>tocsin {} · {} · <a href=/api/v1/alerts>alerts JSON</a> · <a href=/api/v1/rules>rules JSON</a> · <a href=/metrics>metrics</a></footer></body></html>",
        env!("CARGO_PKG_VERSION"),
        esc(&format_time_in(now, tz, "%Y-%m-%d %H:%M:%S"))
    );
    h
}

/// Text of a table cell: at most 500 characters.
fn cut(s: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 500;
    match s.char_indices().nth(MAX) {
        None => std::borrow::Cow::Borrowed(s),
        Some((i, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..i])),
    }
}

/// Says how many rows a table left out, and where to find them all.
fn more(h: &mut String, total: usize, shown: usize, api: &str) {
    if total > shown {
        let _ = write!(
            h,
            "<p class=empty>{} more not shown (limits.page_rows); all of them: <a href={api}>{api}</a></p>",
            total - shown
        );
    }
}

/// "3m ago", "2h 5m ago".
fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds().max(0) as f64;
    let d = crate::template::format_duration_secs(secs.floor());
    let short: Vec<&str> = d.split(' ').take(2).collect();
    format!("{} ago", short.join(" "))
}

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const HEAD: &str = r#"<!doctype html><html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<meta http-equiv=refresh content=15>
<title>tocsin status</title>
<style>
:root{--bad:#c62828;--warn:#ef6c00;--good:#2e7d32;--fg:#1c1c1c;--mut:#666;--bg:#fafafa}
body{font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:0 12px 24px}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:12px}
h1{font-size:22px;margin:12px 0 4px}h2{font-size:17px;margin:20px 0 8px}
.pill{display:inline-block;padding:2px 10px;border-radius:12px;background:#e0e0e0;margin-right:4px;font-weight:600}
.pill.bad{background:var(--bad);color:#fff}.pill.good{background:var(--good);color:#fff}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e5e5;vertical-align:top}
th{font-size:13px;color:var(--mut)}
tr.error td:first-child{border-left:4px solid var(--bad)}tr.warning td:first-child{border-left:4px solid var(--warn)}
.sev{font-weight:700;text-transform:uppercase;font-size:12px}.sev.error{color:var(--bad)}.sev.warning{color:var(--warn)}
.labels,.hint{color:var(--mut);font-size:13px}.hint:before{content:"→ "}
.health.ok{color:var(--good)}.health.err{color:var(--bad);font-weight:700}.err{color:var(--bad);font-size:13px}
.empty{color:var(--good)}
.hb.down,.hb.failed{color:var(--bad);font-weight:700}.hb.late,.hb.running{color:var(--warn)}.hb.up{color:var(--good)}
footer{margin-top:24px;color:var(--mut);font-size:13px}
@media (max-width:640px){thead{display:none}table,tbody,tr,td{display:block;width:auto}
tr{margin-bottom:10px;border:1px solid #e5e5e5}td{border:0;padding:4px 8px}
td:before{content:attr(data-label);display:block;font-size:12px;color:var(--mut)}}
</style></head><body>"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
