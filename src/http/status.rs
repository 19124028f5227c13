//! `GET /`: one server-rendered HTML page (no scripts, no external assets)
//! with what an operator looks for first: firing and pending alerts,
//! heartbeat checks (problems first), rule health with the last error, and
//! delivery per target; times in the config's `timezone`, fixed texts in its
//! `language` (en, zh). Readable on a phone;
//! refreshes itself every 15 seconds.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Html;
use chrono::{DateTime, Utc};

use super::AppState;
use super::console::page::{ago, esc};
use crate::alert::AlertState;
use crate::alert::text::pick;
use crate::config::Language;
use crate::notify::render::format_time_in;

/// Text of a table cell: at most 500 characters.
fn cut(s: &str) -> std::borrow::Cow<'_, str> {
    super::console::page::cut(s, 500)
}

pub async fn page(State(s): State<AppState>) -> Html<String> {
    let acks = super::console::alerts::acknowledgements(&s).await;
    Html(render(&s, &acks))
}

/// The page's fixed texts in one language (`language:` of the config).
struct Words {
    lang: &'static str,
    title: &'static str,
    /// Summary pills: `{n} firing` / `告警中 {n}`.
    number_first: bool,
    firing: &'static str,
    pending: &'static str,
    failing_rules: &'static str,
    alerts: &'static str,
    no_alerts: &'static str,
    /// Columns of the alerts table.
    alert_cols: [&'static str; 6],
    value: &'static str,
    nobody: &'static str,
    heartbeats: &'static str,
    check_cols: [&'static str; 4],
    never: &'static str,
    rules: &'static str,
    rule_cols: [&'static str; 5],
    delivery: &'static str,
    delivery_cols: [&'static str; 4],
    /// `{n} more not shown ...; all of them:`
    more: (&'static str, &'static str),
    links: [&'static str; 3],
    /// Shown for the values of state, severity, heartbeat state and health.
    terms: &'static [(&'static str, &'static str)],
}

const EN: Words = Words {
    lang: "en",
    title: "tocsin status",
    number_first: true,
    firing: "firing",
    pending: "pending",
    failing_rules: "failing rules",
    alerts: "Alerts",
    no_alerts: "No alerts are firing or pending.",
    alert_cols: [
        "Alert",
        "Severity",
        "State",
        "Message",
        "Since",
        "Recipients",
    ],
    value: "value",
    nobody: "nobody",
    heartbeats: "Heartbeats",
    check_cols: ["Check", "State", "Last ping", "Last run"],
    never: "never",
    rules: "Rules",
    rule_cols: ["Group", "Rule", "Health", "Last evaluation", "Last error"],
    delivery: "Delivery",
    delivery_cols: ["Target", "Sent", "Retried", "Failed"],
    more: (" more not shown (limits.page_rows); all of them: ", ""),
    links: ["alerts JSON", "rules JSON", "metrics"],
    terms: &[],
};

const ZH: Words = Words {
    lang: "zh-CN",
    title: "tocsin 状态",
    number_first: false,
    firing: "告警中",
    pending: "待确认",
    failing_rules: "出错规则",
    alerts: "告警",
    no_alerts: "当前没有告警中或待确认的告警。",
    alert_cols: ["告警", "级别", "状态", "告警内容", "开始时间", "接收人"],
    value: "当前值",
    nobody: "无人接收",
    heartbeats: "心跳检查",
    check_cols: ["检查", "状态", "最近一次 ping", "最近一次运行"],
    never: "从未",
    rules: "规则",
    rule_cols: ["分组", "规则", "健康", "最近一次评估", "最近一次错误"],
    delivery: "发送",
    delivery_cols: ["目标", "已发送", "重试", "失败"],
    more: ("另有 ", " 条未显示（limits.page_rows）；全部见："),
    links: ["告警 JSON", "规则 JSON", "指标"],
    terms: &[
        ("firing", "告警中"),
        ("pending", "待确认"),
        ("error", "严重"),
        ("warning", "警告"),
        ("new", "未开始"),
        ("up", "正常"),
        ("late", "迟到"),
        ("down", "失联"),
        ("failed", "失败"),
        ("running", "运行中"),
        ("paused", "已暂停"),
        ("ok", "正常"),
        ("err", "出错"),
    ],
};

impl Words {
    fn of(language: Language) -> &'static Words {
        match language {
            Language::En => &EN,
            Language::Zh => &ZH,
        }
    }

    /// A state, severity or health as the page shows it.
    fn term<'a>(&self, value: &'a str) -> &'a str {
        self.terms
            .iter()
            .find(|(k, _)| *k == value)
            .map_or(value, |(_, v)| v)
    }

    fn count(&self, n: usize, what: &str) -> String {
        if self.number_first {
            format!("{n} {what}")
        } else {
            format!("{what} {n}")
        }
    }

    /// `<thead>` with these columns.
    fn head(&self, cols: &[&str]) -> String {
        let cells: String = cols.iter().map(|c| format!("<th>{c}</th>")).collect();
        format!("<table><thead><tr>{cells}</tr></thead><tbody>")
    }
}

/// The page; `acks`: who took which alert.
pub fn render(
    s: &AppState,
    acks: &std::collections::HashMap<crate::alert::Fingerprint, crate::alert::Acknowledgement>,
) -> String {
    let now = Utc::now();
    let config = s.targets.config();
    let (tz, w) = (config.timezone, Words::of(config.language));
    let cw = super::console::words::of(config.language);
    // A time as the page shows it: how long ago, then in the configured zone.
    let at = |t: DateTime<Utc>| {
        format!(
            "{}<div class=labels>{}</div>",
            esc(&ago(now, t, config.language)),
            esc(&format_time_in(t, tz, "%Y-%m-%d %H:%M:%S"))
        )
    };
    let rules = s.engine.rule_statuses();
    let failing = rules.iter().filter(|r| r.health == "err").count();

    // Each table shows at most `limits.page_rows` rows, each text cut short:
    // the page stays small however many alerts and checks there are (and
    // only the alerts shown are copied).
    let rows_max = s.limits.get().page_rows.value;
    let (active_total, active) = s.engine.select_alerts(|a| a.is_active(), 0..rows_max);
    let (firing, _) = s
        .engine
        .select_alerts(|a| a.state == AlertState::Firing, 0..0);
    let mut h = String::with_capacity(8192);
    let _ = write!(
        h,
        "{}",
        HEAD.replace("{lang}", w.lang).replace("{title}", w.title)
    );
    let _ = write!(
        h,
        "<header><h1>tocsin</h1><nav class=console><a href=/alerts>{}</a> · <a href=/checks>{}</a> · \
         <a href=/silences>{}</a> · <a href=/targets>{}</a> · <a href=/explain>{}</a></nav><p class=summary><span class=\"pill {}\">{}</span> \
         <span class=pill>{}</span> <span class=\"pill {}\">{}</span></p></header>",
        cw.nav_alerts(),
        cw.nav_checks(),
        cw.nav_silences(),
        cw.nav_targets(),
        cw.nav_explain(),
        if firing > 0 { "bad" } else { "good" },
        w.count(firing, w.firing),
        w.count(active_total - firing, w.pending),
        if failing > 0 { "bad" } else { "good" },
        w.count(failing, w.failing_rules),
    );

    let [c_alert, c_sev, c_state, c_message, c_since, c_recipients] = w.alert_cols;
    let _ = write!(h, "<section><h2>{}</h2>", w.alerts);
    if active.is_empty() {
        let _ = write!(h, "<p class=empty>{}</p>", w.no_alerts);
    } else {
        h.push_str(&w.head(&w.alert_cols));
        for a in &active {
            let since = a.fired_at.unwrap_or(a.active_at);
            // The rule's texts in the page's language (falling back to the other).
            let message = pick(config.language, &a.message, &a.texts.message_zh);
            let resolution = pick(config.language, &a.resolution, &a.texts.resolution_zh);
            let labels: Vec<String> = a
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "alertname")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let router = s.router();
            let labels_out = a.output_labels();
            // What holds its notifications back, instead of who would hear it.
            let held = router
                .silenced_by(&labels_out)
                .map(|id| {
                    format!(
                        "{} {}",
                        cw.silenced_by(),
                        id.chars().take(8).collect::<String>()
                    )
                })
                .or_else(|| {
                    (a.state == AlertState::Firing)
                        .then(|| router.inhibited_by(a.fingerprint, &labels_out))
                        .flatten()
                        .map(|by| format!("{} {by}", cw.inhibited_by()))
                });
            let taken = acks
                .get(&a.fingerprint)
                .filter(|k| k.holds(a.severity))
                .map(|k| {
                    format!(
                        "<div class=labels>{} {}</div>",
                        cw.acknowledged_by(),
                        esc(&k.by)
                    )
                })
                .unwrap_or_default();
            let recipients = router.recipients(a);
            let _ = write!(
                h,
                "<tr class=\"{sev}\"><td data-label=\"{c_alert}\"><a href=\"/alert/{fp}\"><b>{name}</b></a><div class=labels>{labels}</div></td>\
                 <td data-label=\"{c_sev}\"><span class=\"sev {sev}\">{sev_text}</span></td>\
                 <td data-label=\"{c_state}\">{state}</td>\
                 <td data-label=\"{c_message}\">{message}{resolution}</td>\
                 <td data-label=\"{c_since}\">{since}</td>\
                 <td data-label=\"{c_recipients}\">{recipients}{taken}</td></tr>",
                sev = a.severity.as_str(),
                fp = a.fingerprint,
                sev_text = w.term(a.severity.as_str()),
                name = esc(&a.alert),
                labels = esc(&cut(&labels.join(" "))),
                state = w.term(a.state.as_str()),
                message = esc(&cut(&if message.is_empty() {
                    format!("{} {}", w.value, a.value)
                } else {
                    message.to_string()
                })),
                resolution = if resolution.is_empty() {
                    String::new()
                } else {
                    format!("<div class=hint>{}</div>", esc(&cut(resolution)))
                },
                since = at(since),
                recipients = if let Some(h) = &held {
                    format!("<i class=held>{}</i>", esc(h))
                } else if recipients.is_empty() {
                    format!("<i>{}</i>", w.nobody)
                } else {
                    esc(&recipients.join(", "))
                },
            );
        }
        h.push_str("</tbody></table>");
        more(&mut h, active_total, rows_max, "/api/v1/alerts", w);
    }
    h.push_str("</section>");

    let checks = s.heartbeats.checks();
    if !checks.is_empty() {
        let [c_check, c_state, c_ping, c_run] = w.check_cols;
        let _ = write!(
            h,
            "<section><h2>{}</h2>{}",
            w.heartbeats,
            w.head(&w.check_cols)
        );
        let rows = super::console::checks::problems_first(checks, now);
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
                "<tr><td data-label=\"{c_check}\"><a href=\"/checks/{}\"><b>{}</b></a><div class=labels>{}</div></td><td data-label=\"{c_state}\"><span class=\"hb {}\">{}</span></td>\
                 <td data-label=\"{c_ping}\">{}</td><td data-label=\"{c_run}\">{}</td></tr>",
                c.def.id,
                esc(&cut(&c.def.name)),
                esc(&cut(&labels.join(" "))),
                esc(&state),
                esc(w.term(&state)),
                // A run in progress says when it started.
                match (c.state.last_start, c.state.last_ping) {
                    (Some(start), ping) if ping.is_none_or(|p| p < start) =>
                        format!("{} {}", cw.started(), at(start)),
                    (_, Some(ping)) => at(ping),
                    _ => w.never.into(),
                },
                c.state
                    .last_duration
                    .map(|d| esc(&crate::template::format_duration_secs(
                        d.as_secs_f64().round()
                    )))
                    .unwrap_or_default(),
            );
        }
        h.push_str("</tbody></table>");
        more(&mut h, total, rows_max, "/api/v1/heartbeats", w);
        h.push_str("</section>");
    }

    let [c_group, c_rule, c_health, c_eval, c_error] = w.rule_cols;
    let _ = write!(h, "<section><h2>{}</h2>{}", w.rules, w.head(&w.rule_cols));
    for r in rules.iter().take(rows_max) {
        let _ = write!(
            h,
            "<tr><td data-label=\"{c_group}\">{}</td><td data-label=\"{c_rule}\">{}</td><td data-label=\"{c_health}\"><span class=\"health {}\">{}</span></td>\
             <td data-label=\"{c_eval}\">{}</td><td data-label=\"{c_error}\" class=err>{}</td></tr>",
            esc(&r.group),
            esc(&r.alert),
            r.health,
            w.term(r.health),
            r.last_evaluation.map(at).unwrap_or_else(|| w.never.into()),
            esc(&cut(r.last_error.as_deref().unwrap_or(""))),
        );
    }
    h.push_str("</tbody></table>");
    more(&mut h, rules.len(), rows_max, "/api/v1/rules", w);
    h.push_str("</section>");

    let delivery = s.delivery.snapshot();
    if !delivery.is_empty() {
        let [c_target, c_sent, c_retried, c_failed] = w.delivery_cols;
        let _ = write!(
            h,
            "<section><h2>{}</h2>{}",
            w.delivery,
            w.head(&w.delivery_cols)
        );
        for (target, st) in &delivery {
            let _ = write!(
                h,
                "<tr><td data-label=\"{c_target}\">{}</td><td data-label=\"{c_sent}\">{}</td><td data-label=\"{c_retried}\">{}</td><td data-label=\"{c_failed}\">{}</td></tr>",
                esc(target),
                st.sent,
                st.retried,
                st.failed
            );
        }
        h.push_str("</tbody></table></section>");
    }
    let [l_alerts, l_rules, l_metrics] = w.links;
    let _ = write!(
        h,
        "<footer>tocsin {} · {} · <a href=/api/v1/alerts>{l_alerts}</a> · <a href=/api/v1/rules>{l_rules}</a> · <a href=/metrics>{l_metrics}</a></footer></body></html>",
        env!("CARGO_PKG_VERSION"),
        esc(&format_time_in(now, tz, "%Y-%m-%d %H:%M:%S"))
    );
    h
}

/// Says how many rows a table left out, and where to find them all.
fn more(h: &mut String, total: usize, shown: usize, api: &str, w: &Words) {
    if total > shown {
        let (before, after) = w.more;
        let n = total - shown;
        let said = if w.number_first {
            format!("{n}{before}{after}")
        } else {
            format!("{before}{n}{after}")
        };
        let _ = write!(h, "<p class=empty>{said}<a href={api}>{api}</a></p>");
    }
}

const HEAD: &str = r#"<!doctype html><html lang={lang}><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<meta http-equiv=refresh content=15>
<title>{title}</title>
<style>
:root{--bad:#c62828;--warn:#ef6c00;--good:#2e7d32;--fg:#1c1c1c;--mut:#666;--bg:#fafafa}
body{font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:0 12px 24px}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:12px}nav.console{font-size:14px}
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
