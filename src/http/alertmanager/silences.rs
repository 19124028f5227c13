//! Silences through Alertmanager's API: `GET /api/v2/silences` (`filter`,
//! `active`, `pending`, `expired`), `POST /api/v2/silences` (create, or
//! update when `id` is given), `GET /api/v2/silence/{id}` and `DELETE
//! /api/v2/silence/{id}` (expire now). They are tocsin's one set of
//! silences: the ones `/api/v1/silences` and `tocsin silence` show and make.
//!
//! An update follows Alertmanager: a silence keeps its id when only its
//! end, author or comment change (or a pending one's start); otherwise the
//! old one is expired and a new one, with a new id, replaces it. Expired
//! silences are listed for [`EXPIRED_KEPT`], like Alertmanager's default
//! retention.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Params, am_time, failure};
use crate::alert::Silence;
use crate::alert::matcher::{Matcher, MatcherJson};
use crate::http::AppState;
use crate::http::limits::read_body;
use crate::http::silences::{expire_now, put_changed, put_new};
use crate::notify::silence::{MatcherInput, NewSilence, SilenceBounds};

/// How long expired silences stay listed.
pub const EXPIRED_KEPT: chrono::Duration = chrono::Duration::hours(120);

/// `gettableSilence`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableSilence {
    pub id: String,
    pub status: SilenceStatus,
    pub updated_at: String,
    pub matchers: Vec<MatcherJson>,
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SilenceStatus {
    /// active | pending | expired
    pub state: String,
}

impl GettableSilence {
    pub fn new(s: &Silence, now: DateTime<Utc>) -> GettableSilence {
        GettableSilence {
            id: s.id.clone(),
            status: SilenceStatus {
                state: s.state(now).to_string(),
            },
            updated_at: am_time(s.updated_at),
            matchers: s.matchers.iter().map(MatcherJson::from).collect(),
            starts_at: am_time(s.starts_at),
            ends_at: am_time(s.ends_at),
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
            annotations: BTreeMap::new(),
        }
    }
}

/// `postableSilence`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<MatcherJson>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: DateTime<Utc>,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    #[allow(dead_code)]
    annotations: BTreeMap<String, String>,
}

/// `GET /api/v2/silences`: active first (soonest end first), then pending
/// (soonest start first), then expired (latest end first).
pub async fn list(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let parsed = (|| -> Result<_, String> {
        Ok((
            p.filter()?,
            p.flag("active", true)?,
            p.flag("pending", true)?,
            p.flag("expired", true)?,
        ))
    })();
    let (filter, active, pending, expired) = match parsed {
        Ok(x) => x,
        Err(why) => return failure(StatusCode::BAD_REQUEST, why),
    };
    let now = Utc::now();
    let all = match s.engine.store().silences(now - EXPIRED_KEPT).await {
        Ok(all) => all,
        Err(e) => return failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let mut out: Vec<&Silence> = all
        .iter()
        .filter(|x| match x.state(now) {
            "active" => active,
            "pending" => pending,
            _ => expired,
        })
        .filter(|x| has_matchers(x, &filter))
        .collect();
    out.sort_by(|a, b| {
        let rank = |x: &Silence| match x.state(now) {
            "active" => 0,
            "pending" => 1,
            _ => 2,
        };
        rank(a).cmp(&rank(b)).then_with(|| match a.state(now) {
            "active" => a.ends_at.cmp(&b.ends_at),
            "pending" => a.starts_at.cmp(&b.starts_at),
            _ => b.ends_at.cmp(&a.ends_at),
        })
    });
    let views: Vec<GettableSilence> = out.iter().map(|x| GettableSilence::new(x, now)).collect();
    let max = s.limits.get().list_items.value;
    crate::http::limits::page(views, crate::http::limits::PageQuery::default(), max)
}

/// Alertmanager's silence filter: every filter matcher is one of the
/// silence's matchers (same name, operator and value).
fn has_matchers(s: &Silence, filter: &[Matcher]) -> bool {
    filter.iter().all(|f| s.matchers.iter().any(|m| m == f))
}

/// `GET /api/v2/silence/{id}`
pub async fn get_one(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    match s.engine.store().silence(id).await {
        Ok(Some(x)) => Json(GettableSilence::new(&x, Utc::now())).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `DELETE /api/v2/silence/{id}`: expires it now (200 also when it had
/// already expired, as Alertmanager answers).
pub async fn delete(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    match expire_now(&s, &id, Utc::now()).await {
        Ok(Some(_)) => StatusCode::OK.into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `POST /api/v2/silences`: `{"silenceID": id}`. The same limits as
/// `/api/v1/silences`: body size, silences in force, duration, matchers.
pub async fn post(State(s): State<AppState>, body: Body) -> Response {
    let limits = s.limits.get();
    let body = match read_body(body, limits.api_body_bytes.value, "api_body_bytes").await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let now = Utc::now();
    let posted: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return failure(
                StatusCode::BAD_REQUEST,
                format!(
                    "expected a silence {{matchers, startsAt, endsAt, createdBy, comment}} ({e})"
                ),
            );
        }
    };
    let id = posted.id.clone().filter(|i| !i.is_empty());
    let new = NewSilence {
        matchers: posted
            .matchers
            .into_iter()
            .map(MatcherInput::Json)
            .collect(),
        starts_at: posted.starts_at,
        ends_at: Some(posted.ends_at),
        duration: None,
        created_by: posted.created_by,
        comment: posted.comment,
    };
    let mut silence = match new.check_within(now, &SilenceBounds::from(&*limits)) {
        Ok(x) => x,
        Err(why) => return failure(StatusCode::BAD_REQUEST, why),
    };
    let previous = match id {
        None => None,
        Some(id) => match s.engine.store().silence(id.clone()).await {
            Ok(Some(p)) => Some(p),
            Ok(None) => {
                return failure(StatusCode::NOT_FOUND, format!("silence {id:?} not found"));
            }
            Err(e) => return failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
    };
    let replaces = previous.as_ref().is_some_and(|p| p.state(now) != "expired");
    let in_force = s.router().silences().in_force(now);
    if !replaces && in_force >= limits.silences.value {
        return failure(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{in_force} silences are active or pending; at most {} (limits.silences): expire some first",
                limits.silences.value
            ),
        );
    }
    let outcome = match previous {
        Some(prev) if prev.can_update_to(&silence, now) => {
            silence.id = prev.id.clone();
            put_changed(&s, silence.clone()).await
        }
        prev => {
            silence.starts_at = silence.starts_at.max(now);
            let expired = match prev.filter(|p| p.state(now) != "expired") {
                Some(p) => expire_now(&s, &p.id, now).await.map(|_| ()),
                None => Ok(()),
            };
            match expired {
                Ok(()) => put_new(&s, silence.clone()).await,
                Err(e) => Err(e),
            }
        }
    };
    match outcome {
        Ok(()) => Json(serde_json::json!({"silenceID": silence.id})).into_response(),
        Err(e) => failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
