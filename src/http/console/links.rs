//! Acknowledge links ([`crate::notify::ack_link`]): a notification may
//! carry `EXTERNAL_URL/ack/FINGERPRINT?f=FIRED&e=EXPIRY&s=SIGNATURE`,
//! signed with the daemon's key for one firing of one alert. Opening it shows the alert
//! and two buttons (acknowledge; silence it for 1 hour) that work without
//! logging in, as paging tools do from an email; a GET never changes
//! anything (mail scanners open links). The link stops working when that
//! firing ends (a new firing has another `f`) or at its expiry (7 days).

use std::fmt::Write as _;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::alert::{find, pick_name, take};
use super::page::{Page, back_to, esc, message_page};
use crate::alert::text::pick;
use crate::alert::{AlertInstance, AlertState, Fingerprint};
use crate::http::AppState;
use crate::notify::ack_link::AckLinks;
use crate::notify::silence::{MatcherInput, NewSilence, SilenceBounds};

#[derive(Debug, Default, Deserialize)]
pub struct LinkQuery {
    /// When the firing it was sent for began (Unix ms).
    #[serde(default)]
    pub f: i64,
    /// Until when it works (Unix seconds).
    #[serde(default)]
    pub e: i64,
    #[serde(default)]
    pub s: String,
}

/// The alert a link is for, if the link is genuine and still works at `now`.
async fn redeem(
    s: &AppState,
    fingerprint: &str,
    q: &LinkQuery,
    now: DateTime<Utc>,
) -> Option<AlertInstance> {
    let fp = Fingerprint::try_from(fingerprint.to_string()).ok()?;
    if !AckLinks::genuine(&s.guard.key, fp, q.f, q.e, &q.s, now) {
        return None;
    }
    find(s, fingerprint).await.filter(|alert| {
        alert.state == AlertState::Firing
            && alert.fired_at.map(|t| t.timestamp_millis()) == Some(q.f)
    })
}

/// `GET /ack/{fingerprint}?f&e&s`: the alert and the two buttons.
pub async fn page(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(fingerprint): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Response {
    let mut p = Page::new(&s, &headers, &uri);
    let w = p.w;
    let Some(a) = redeem(&s, &fingerprint, &q, p.now).await else {
        return message_page(&s, &headers, &uri, StatusCode::NOT_FOUND, w.link_invalid());
    };
    p.start(w.link_ack_title());
    let hidden = format!(
        "<input type=hidden name=f value={}><input type=hidden name=e value={}><input type=hidden name=s value=\"{}\">\
         <label for=by>{}</label><input type=text id=by name=by value=\"{}\" required>",
        q.f,
        q.e,
        esc(&q.s),
        w.your_name(),
        esc(p.viewer.name())
    );
    let _ = write!(
        p.html,
        "<p><a href=\"/alert/{fp}\"><b>{}</b></a> <span class=\"sev {sev}\">{}</span></p><p>{}</p>\
         <form method=post action=\"/ui/link/{fp}\">{hidden}<p><button name=action value=ack id=link-ack>{}</button> \
         <button name=action value=silence id=link-silence>{}</button></p></form>",
        esc(&a.alert),
        esc(&w.term(a.severity.as_str())),
        esc(pick(p.lang(), &a.message, &a.texts.message_zh)),
        w.acknowledge(),
        w.link_silence_hour(),
        fp = a.fingerprint,
        sev = a.severity.as_str(),
    );
    p.finish()
}

/// The link's fields and the button pressed (no `flatten`: form values are
/// all text, which a flattened struct cannot turn into numbers).
#[derive(Debug, Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    pub f: i64,
    #[serde(default)]
    pub e: i64,
    #[serde(default)]
    pub s: String,
    #[serde(default)]
    pub by: String,
    #[serde(default)]
    pub action: String,
}

/// `POST /ui/link/{fingerprint}`: acknowledges, or silences for 1 hour.
pub async fn act(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(fingerprint): Path<String>,
    Form(f): Form<LinkForm>,
) -> Response {
    let w = Page::new(&s, &headers, &uri).w;
    let now = Utc::now();
    let link = LinkQuery {
        f: f.f,
        e: f.e,
        s: f.s.clone(),
    };
    let Some(a) = redeem(&s, &fingerprint, &link, now).await else {
        tracing::warn!(fingerprint = %fingerprint, "acknowledge link refused");
        return message_page(&s, &headers, &uri, StatusCode::NOT_FOUND, w.link_invalid());
    };
    let by = pick_name(&f.by, "");
    let back = format!("/alert/{}", a.fingerprint);
    match f.action.as_str() {
        "ack" => match take(&s, &a, &by, "from a notification's link").await {
            Ok(()) => back_to(&back, w.done_ack()),
            Err(e) => message_page(&s, &headers, &uri, StatusCode::SERVICE_UNAVAILABLE, &e),
        },
        "silence" => {
            let new = NewSilence {
                matchers: a
                    .output_labels()
                    .iter()
                    .map(|(k, v)| {
                        MatcherInput::Text(format!("{k}={}", serde_json::Value::from(v.as_str())))
                    })
                    .collect(),
                duration: Some("1h".into()),
                created_by: by,
                comment: format!("{} (from a notification's link)", a.alert),
                ..Default::default()
            };
            let bounds = SilenceBounds::from(&*s.limits.get());
            let silence = match new.check_within(now, &bounds) {
                Ok(x) => x,
                Err(e) => return message_page(&s, &headers, &uri, StatusCode::BAD_REQUEST, &e),
            };
            match crate::http::silences::put_new(&s, silence).await {
                Ok(()) => back_to(&back, w.done_silence()),
                Err(e) => message_page(
                    &s,
                    &headers,
                    &uri,
                    StatusCode::SERVICE_UNAVAILABLE,
                    &e.to_string(),
                ),
            }
        }
        other => message_page(
            &s,
            &headers,
            &uri,
            StatusCode::BAD_REQUEST,
            &format!("unknown action {other:?}: expected ack or silence"),
        ),
    }
}
