//! JSON API: `GET /api/v1/alerts` (with each alert's route, recipients and
//! last notification; its texts in the config's `language`, and in both
//! under `texts`) and `GET /api/v1/rules`.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::limits::PageQuery;
use crate::alert::text::pick;
use crate::alert::{AlertInstance, Labels, Language};
use crate::eval::{GroupStatus, RuleStatus};
use crate::notify::route_table::Route;
use crate::store::outbox::NotificationRecord;
use axum::response::{IntoResponse, Response};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/route/explain", get(explain))
}

#[derive(Debug, Deserialize)]
pub struct ExplainQuery {
    /// `name=value` pairs, comma-separated or one per line.
    #[serde(default)]
    pub labels: String,
    /// warning (default) or error.
    #[serde(default)]
    pub severity: String,
}

/// `GET /api/v1/route/explain?labels=alertname=X,vault=v-prod&severity=error`:
/// who would receive an alert with these labels, and what holds it back now
/// (`tocsin route explain` and the console's form give the same answer).
async fn explain(State(s): State<AppState>, Query(q): Query<ExplainQuery>) -> Response {
    let bad = |why: String| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"status": "error", "error": why})),
        )
            .into_response()
    };
    let labels = match crate::notify::explain::labels_from_text(&q.labels) {
        Ok(l) if !l.is_empty() => l,
        Ok(_) => {
            return bad(
                "labels: expected name=value pairs, e.g. labels=alertname=X,vault=v-prod".into(),
            );
        }
        Err(e) => return bad(format!("labels: {e}")),
    };
    let severity = match q.severity.as_str() {
        "" | "warning" => crate::alert::Severity::Warning,
        "error" => crate::alert::Severity::Error,
        other => return bad(format!("severity: {other:?}; expected warning or error")),
    };
    Json(crate::notify::explain::explain(
        &s.router(),
        &labels,
        severity,
        Utc::now(),
    ))
    .into_response()
}

/// One alert as the API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct AlertView {
    pub alert: String,
    pub group: String,
    pub fingerprint: String,
    pub state: String,
    pub severity: String,
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub value: Option<f64>,
    /// The message in `language` (falling back to the other language).
    pub message: String,
    /// The resolution hint in `language`.
    pub resolution: String,
    /// The config's `language`: that of `message` and `resolution`.
    #[serde(default)]
    pub language: Language,
    /// The texts in each language, as a target of that language is sent
    /// them (a text the rule wrote in one language only is in both).
    #[serde(default)]
    pub texts: TextsView,
    /// Since when it is what it is: when it fired (pending alerts: when
    /// they became pending). Messages and the console say the same.
    pub since: DateTime<Utc>,
    /// When it became pending (Prometheus's `activeAt`).
    #[serde(default = "Utc::now")]
    pub active_at: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The routing scope that decided (`{vault=v-prod}`), `default` or `all`.
    #[serde(default)]
    pub route: String,
    pub recipients: Vec<String>,
    pub silenced: bool,
    /// The id of the active silence that holds its notifications back.
    #[serde(default)]
    pub silenced_by: Option<String>,
    pub inhibited: bool,
    /// The firing alert that inhibits it: `alertname (fingerprint)`.
    #[serde(default)]
    pub inhibited_by: Option<String>,
    /// The newest outbox row of the alert (any target).
    #[serde(default)]
    pub last_notification: Option<NotificationRecord>,
}

/// An alert's texts in English and Chinese.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextsView {
    pub en: TextView,
    pub zh: TextView,
}

/// An alert's texts in one language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextView {
    pub message: String,
    pub resolution: String,
    /// The rule's `resolved_message` once the alert resolved (absent before
    /// or without one).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resolved_message: String,
}

impl TextsView {
    pub fn of(a: &AlertInstance) -> TextsView {
        let t = &a.texts;
        let one = |lang| TextView {
            message: pick(lang, &a.message, &t.message_zh).to_string(),
            resolution: pick(lang, &a.resolution, &t.resolution_zh).to_string(),
            resolved_message: t.resolved_in(lang).to_string(),
        };
        TextsView {
            en: one(Language::En),
            zh: one(Language::Zh),
        }
    }

    /// The texts in `lang`.
    pub fn get(&self, lang: Language) -> &TextView {
        match lang {
            Language::En => &self.en,
            Language::Zh => &self.zh,
        }
    }
}

impl AlertView {
    /// The alert as the API shows it, its main texts in `language`.
    pub fn new(a: &AlertInstance, route: Route, language: Language) -> AlertView {
        let texts = TextsView::of(a);
        let main = texts.get(language).clone();
        AlertView {
            alert: a.alert.clone(),
            group: a.group.clone(),
            fingerprint: a.fingerprint.to_string(),
            state: a.state.as_str().to_string(),
            severity: a.severity.as_str().to_string(),
            labels: a.output_labels(),
            annotations: a.annotations.clone(),
            value: a.value.is_finite().then_some(a.value),
            message: main.message,
            resolution: main.resolution,
            language,
            texts,
            since: a.fired_at.unwrap_or(a.active_at),
            active_at: a.active_at,
            fired_at: a.fired_at,
            resolved_at: a.resolved_at,
            recipients: route.recipient_names(),
            route: route.scope,
            silenced: false,
            silenced_by: None,
            inhibited: false,
            inhibited_by: None,
            last_notification: None,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct AlertFilter {
    /// pending | firing | resolved
    pub state: Option<String>,
    pub alert: Option<String>,
    /// Paging: at most `limits.list_items` per answer (`X-Total-Count` says how many in all).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

async fn alerts(State(s): State<AppState>, Query(f): Query<AlertFilter>) -> Response {
    let router = s.router();
    let language = s.targets.config().language;
    let max = s.limits.get().list_items.value;
    let page = PageQuery {
        limit: f.limit,
        offset: f.offset,
    };
    // Only the page is copied out of the engine.
    let offset = page.offset.unwrap_or(0);
    let take = page.limit.unwrap_or(max).min(max);
    let (total, selected) = s.engine.select_alerts(
        |a| {
            f.state.as_deref().is_none_or(|st| a.state.as_str() == st)
                && f.alert.as_deref().is_none_or(|n| a.alert == n)
        },
        offset..offset.saturating_add(take),
    );
    let mut last = match s
        .engine
        .store()
        .last_notifications(selected.iter().map(|a| a.fingerprint.to_string()).collect())
        .await
    {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the last notifications");
            Default::default()
        }
    };
    let views: Vec<AlertView> = selected
        .iter()
        .map(|a| {
            let mut v = AlertView::new(a, router.route(a), language);
            v.silenced_by = router.silenced_by(&a.output_labels());
            v.silenced = v.silenced_by.is_some();
            if a.state == crate::alert::AlertState::Firing {
                v.inhibited_by = router.inhibited_by(a.fingerprint, &a.output_labels());
            }
            v.inhibited = v.inhibited_by.is_some();
            v.last_notification = last.remove(&v.fingerprint);
            v
        })
        .collect();
    let mut r = Json(views).into_response();
    r.headers_mut()
        .insert("X-Total-Count", axum::http::HeaderValue::from(total));
    r
}

#[derive(Debug, Serialize)]
pub struct GroupView {
    #[serde(flatten)]
    pub group: GroupStatus,
    pub rules: Vec<RuleStatus>,
}

async fn rules(State(s): State<AppState>, Query(q): Query<PageQuery>) -> Response {
    let mut rules = s.engine.rule_statuses();
    let groups = s
        .engine
        .group_statuses()
        .into_iter()
        .map(|g| {
            let (mine, rest): (Vec<_>, Vec<_>) = rules.drain(..).partition(|r| r.group == g.name);
            rules = rest;
            GroupView {
                group: g,
                rules: mine,
            }
        })
        .collect();
    super::limits::page::<GroupView>(groups, q, s.limits.get().list_items.value)
}
