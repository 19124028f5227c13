//! The frame every console page shares: the head (one inline stylesheet,
//! no scripts, no external assets), the navigation with the language
//! switch and the login state, and helpers for times, escaping and forms.

use std::fmt::Write as _;

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};

use super::session::{self, Session};
use super::words::{self, Words};
use crate::alert::Language;
use crate::http::AppState;
use crate::notify::render::format_time_in;

/// The cookie that keeps a chosen language.
const LANG_COOKIE: &str = "tocsin_lang";

/// Who looks at a page, and what they may do.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session: Option<Session>,
    /// May post the console's forms: logged in, or no `api_token` is set.
    pub may_act: bool,
    /// Whether a token is configured (a login form is needed to act).
    pub token_set: bool,
    /// The form token of this viewer's forms.
    pub form_token: String,
}

impl Viewer {
    pub fn of(s: &AppState, headers: &HeaderMap) -> Viewer {
        let session = s
            .token
            .with_exposed(|t| session::session(&s.guard.key, t, headers, Utc::now()));
        let token_set = s.token.is_set();
        Viewer {
            may_act: !token_set || session.is_some(),
            token_set,
            form_token: session::form_token(&s.guard.key, session.as_ref()),
            session,
        }
    }

    /// The name to prefill in "by" fields.
    pub fn name(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.name.as_str())
    }
}

/// A page being written.
pub struct Page {
    pub w: Words,
    pub tz: chrono_tz::Tz,
    pub now: DateTime<Utc>,
    pub viewer: Viewer,
    /// The page's own path and query (where forms send people back to).
    pub here: String,
    pub html: String,
    /// Set when `?lang=` chose a language: kept in a cookie.
    chosen: Option<Language>,
}

impl Page {
    /// Starts a page titled `title` (already in the page's language).
    pub fn new(s: &AppState, headers: &HeaderMap, uri: &Uri) -> Page {
        let config = s.targets.config();
        let chosen = query_param(uri, "lang").and_then(|l| parse_language(&l));
        let lang = chosen
            .or_else(|| session::cookie(headers, LANG_COOKIE).and_then(parse_language))
            .unwrap_or(config.language);
        let here = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        Page {
            w: words::of(lang),
            tz: config.timezone,
            now: Utc::now(),
            viewer: Viewer::of(s, headers),
            here,
            html: String::with_capacity(16 * 1024),
            chosen,
        }
    }

    pub fn lang(&self) -> Language {
        self.w.0
    }

    /// Writes the head and the navigation.
    pub fn start(&mut self, title: &str) {
        let w = self.w;
        let _ = write!(
            self.html,
            "{}",
            HEAD_STR
                .replace("{lang}", w.html_lang())
                .replace("{title}", &esc(title))
        );
        let other = w.other_language_code();
        let switch = with_param(&self.here, "lang", other);
        let who = match (&self.viewer.session, self.viewer.token_set) {
            (Some(s), _) => format!(
                "<span class=who>{} {}</span>{}",
                w.logged_in_as(),
                esc(if s.name.is_empty() { "—" } else { &s.name }),
                self.form(
                    "/ui/logout",
                    &format!("<button class=link>{}</button>", w.log_out())
                )
            ),
            (None, true) => format!(
                "<a href=\"/login?back={}\">{}</a>",
                esc(&urlencode(&self.here)),
                w.log_in()
            ),
            (None, false) => format!(
                "<a href=\"/login?back={}\">{}</a>",
                esc(&urlencode(&self.here)),
                w.your_name()
            ),
        };
        let _ = write!(
            self.html,
            "<nav><a class=brand href=/>tocsin</a> <a href=/alerts>{}</a> <a href=/checks>{}</a> \
             <a href=/silences>{}</a> <a href=/targets>{}</a> <a href=/explain>{}</a>\
             <span class=end><a href=\"{}\" hreflang={other}>{}</a> {who}</span></nav><main><h1>{}</h1>",
            w.nav_alerts(),
            w.nav_checks(),
            w.nav_silences(),
            w.nav_targets(),
            w.nav_explain(),
            esc(&switch),
            w.other_language(),
            esc(title),
        );
    }

    /// A time as pages show it: how long ago, and when in the configured zone.
    pub fn time(&self, t: DateTime<Utc>) -> String {
        format!(
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            esc(&format_time_in(t, self.tz, "%Y-%m-%d %H:%M:%S")),
            esc(&format!(
                "{} ({})",
                format_time_in(t, self.tz, "%m-%d %H:%M:%S"),
                ago(self.now, t, self.lang())
            ))
        )
    }

    /// A time in a list: how long ago (the full time on hover).
    pub fn short_time(&self, t: DateTime<Utc>) -> String {
        format!(
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            esc(&format_time_in(t, self.tz, "%Y-%m-%d %H:%M:%S")),
            esc(&ago(self.now, t, self.lang()))
        )
    }

    /// A form posting to `action` with the viewer's form token and a way back.
    pub fn form(&self, action: &str, fields: &str) -> String {
        format!(
            "<form method=post action=\"{}\"><input type=hidden name=form_token value=\"{}\">\
             <input type=hidden name=back value=\"{}\">{fields}</form>",
            esc(action),
            esc(&self.viewer.form_token),
            esc(&self.here)
        )
    }

    /// Writes the head, the navigation, and what a form just did (`done`).
    pub fn start_after(&mut self, title: &str, done: &str) {
        self.start(title);
        if !done.is_empty() {
            self.notice(done);
        }
    }

    /// `r`'s value, or `None` after writing its error on the page (a
    /// section whose data cannot be read says why and the page goes on).
    pub fn or_problem<T, E: std::fmt::Display>(&mut self, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                let _ = write!(self.html, "<p class=problem>{}</p>", esc(&e.to_string()));
                None
            }
        }
    }

    /// A short notice at the top (`?done=`).
    pub fn notice(&mut self, text: &str) {
        let _ = write!(self.html, "<p class=notice role=status>{}</p>", esc(text));
    }

    pub fn finish(self) -> Response {
        self.finish_with(StatusCode::OK)
    }

    pub fn finish_with(mut self, status: StatusCode) -> Response {
        let _ = write!(
            self.html,
            "</main><footer>tocsin {} · {}</footer></body></html>",
            env!("CARGO_PKG_VERSION"),
            esc(&format_time_in(self.now, self.tz, "%Y-%m-%d %H:%M:%S"))
        );
        let mut r = (status, Html(self.html)).into_response();
        if let Some(lang) = self.chosen {
            let code = match lang {
                Language::En => "en",
                Language::Zh => "zh",
            };
            if let Ok(v) = HeaderValue::from_str(&format!(
                "{LANG_COOKIE}={code}; Path=/; SameSite=Lax; Max-Age=31536000"
            )) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// A page that only says `text` (an error, with its status).
pub fn message_page(
    s: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    status: StatusCode,
    text: &str,
) -> Response {
    let mut p = Page::new(s, headers, uri);
    let title = p.w.error_title();
    p.start(title);
    let _ = write!(p.html, "<p class=problem>{}</p>", esc(text));
    p.finish_with(status)
}

/// After a form: back to the page it came from (only a path of this
/// server), saying what was done.
pub fn back_to(back: &str, done: &str) -> Response {
    let path = if back.starts_with('/') && !back.starts_with("//") && !back.contains('\\') {
        back
    } else {
        "/alerts"
    };
    Redirect::to(&with_param(path, "done", done)).into_response()
}

/// `path` with `name=value` set in its query (replacing an earlier one).
pub fn with_param(path: &str, name: &str, value: &str) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k != name {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair(name, value);
    format!("{base}?{}", out.finish())
}

/// One parameter of the request's query.
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn parse_language(s: &str) -> Option<Language> {
    match s {
        "en" => Some(Language::En),
        "zh" | "zh-CN" | "zh_CN" => Some(Language::Zh),
        _ => None,
    }
}

/// Text of a table cell: at most `max` characters.
pub fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((i, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..i])),
    }
}

/// "3m ago", "2h 5m ago" / "3m 前".
pub fn ago(now: DateTime<Utc>, t: DateTime<Utc>, lang: Language) -> String {
    let secs = (now - t).num_seconds().max(0) as f64;
    let d = crate::template::format_duration_secs(secs.floor());
    let short: Vec<&str> = d.split(' ').take(2).collect();
    match lang {
        Language::En => format!("{} ago", short.join(" ")),
        Language::Zh => format!("{} 前", short.join(" ")),
    }
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

/// `<table>` with these column heads (an `a|b|c` text), open for rows.
pub fn table_head(columns: &str) -> String {
    let cells: String = words::columns(columns)
        .iter()
        .map(|c| format!("<th>{}</th>", esc(c)))
        .collect();
    format!("<div class=scroll><table><thead><tr>{cells}</tr></thead><tbody>")
}

pub const TABLE_END: &str = "</tbody></table></div>";

/// A `<td>` with its column's name for phones (`data-label`).
pub fn cell(label: &str, html: &str) -> String {
    format!("<td data-label=\"{}\">{html}</td>", esc(label))
}

/// The stylesheet the status page and the console share.
pub const STYLE: &str = r#"
:root{--bad:#c62828;--warn:#ef6c00;--good:#2e7d32;--fg:#1c1c1c;--mut:#666;--bg:#fafafa;--line:#e5e5e5}
*{box-sizing:border-box}
body{font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"PingFang SC","Noto Sans CJK SC",sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:0 12px 24px;overflow-wrap:anywhere}
nav{display:flex;flex-wrap:wrap;gap:4px 12px;align-items:center;padding:8px 0;border-bottom:1px solid var(--line)}
nav a{color:var(--fg);text-decoration:none}nav a:hover{text-decoration:underline}.brand{font-weight:700}
nav .end{margin-left:auto;display:flex;gap:8px;align-items:center;flex-wrap:wrap}nav form{display:inline;margin:0}
.who{color:var(--mut);font-size:13px}
h1{font-size:21px;margin:12px 0 6px}h2{font-size:17px;margin:18px 0 8px}
a{color:#1565c0}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:13px;color:var(--mut)}
.scroll{max-width:100%;overflow-x:auto}
pre{white-space:pre-wrap;font-size:13px;margin:0;max-height:16em;overflow:auto;background:#f3f3f3;padding:4px}
.sev{font-weight:700;text-transform:uppercase;font-size:11px}.sev.error{color:var(--bad)}.sev.warning{color:var(--warn)}
.mut,.labels,.hint{color:var(--mut);font-size:13px}.hint:before{content:"→ "}
.mark{display:inline-block;font-size:12px;border-radius:8px;padding:0 6px;margin:2px 4px 0 0;background:#eee}
.mark.silenced{background:#e3f2fd}.mark.inhibited{background:#f3e5f5}.mark.acked{background:#e8f5e9}
.notice{background:#e8f5e9;padding:6px 10px}.problem{background:#ffebee;padding:6px 10px}
ul.alerts{list-style:none;padding:0;margin:0}
ul.alerts li{background:#fff;border:1px solid var(--line);border-left:4px solid #bbb;margin:0 0 6px;padding:4px 8px}
ul.alerts li.error{border-left-color:var(--bad)}ul.alerts li.warning{border-left-color:var(--warn)}
ul.alerts li.pending{opacity:.8}
ul.alerts .line{display:flex;flex-wrap:wrap;gap:0 8px;align-items:baseline}
ul.alerts .msg{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
form{margin:6px 0}label{display:block;font-size:13px;color:var(--mut);margin-top:4px}
input,select,textarea,button{font:inherit;max-width:100%}textarea{width:100%}
button{padding:3px 10px}button.link{border:0;background:none;color:#1565c0;padding:0;cursor:pointer}
.filters{display:flex;flex-wrap:wrap;gap:4px 10px;align-items:end}.filters input[type=text]{width:18em}
.hb.down,.hb.failed{color:var(--bad);font-weight:700}.hb.late,.hb.running{color:var(--warn)}.hb.up{color:var(--good)}
.text{white-space:pre-wrap}dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}dt{color:var(--mut);font-size:13px}dd{margin:0}
footer{margin-top:24px;color:var(--mut);font-size:13px}
@media (max-width:640px){thead{display:none}table,tbody,tr,td{display:block;width:auto}
tr{margin-bottom:8px;border:1px solid var(--line)}td{border:0;padding:2px 8px}
td:before{content:attr(data-label);display:block;font-size:11px;color:var(--mut)}
.filters input[type=text]{width:100%}}
"#;

const HEAD: &str = concat!(
    "<!doctype html><html lang={lang}><head><meta charset=utf-8>",
    "<meta name=viewport content=\"width=device-width, initial-scale=1\">",
    "<meta name=referrer content=same-origin>",
    "<title>{title}</title><link rel=icon href=\"data:,\"><style>"
);

/// `HEAD` with the stylesheet closed.
static HEAD_STR: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{HEAD}{STYLE}</style></head><body>"));

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

    #[test]
    fn forms_only_send_people_back_to_this_server() {
        let to = |back: &str| {
            back_to(back, "ok")
                .headers()
                .get(header::LOCATION)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(to("/alert/00ab?lang=zh"), "/alert/00ab?lang=zh&done=ok");
        assert_eq!(to("//evil.example/x"), "/alerts?done=ok");
        assert_eq!(to("https://evil.example/"), "/alerts?done=ok");
        assert_eq!(to("/\\evil.example"), "/alerts?done=ok");
    }
}
