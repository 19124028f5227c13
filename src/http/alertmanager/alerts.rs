//! `GET /api/v2/alerts` and `GET /api/v2/alerts/groups`: the firing alerts
//! (rule alerts and ingested ones) as Alertmanager shows them. Pending and
//! resolved alerts are left out, as Alertmanager never holds them. Each
//! answer holds at most `limits.list_items` entries (`X-Total-Count` says
//! how many there were).
//!
//! What each field is in tocsin's terms:
//! - `receivers`: the recipients of the alert's route (targets, contacts,
//!   `owner`); a route that is `off` has the one receiver `off`;
//! - `status.state`: `suppressed` while a silence or an inhibit rule holds
//!   the alert (`silencedBy`: silence ids, `inhibitedBy`: the fingerprint
//!   of the inhibiting alert), else `active`; in groups, a route closed by a
//!   time window also mutes (`mutedBy`);
//! - `startsAt`: when it fired; `updatedAt`: its group's last evaluation
//!   (ingested: the last post); `endsAt`: when it resolves unless evaluated
//!   again — 4 × the group's interval (at least a minute) after `updatedAt`,
//!   as Prometheus sends it (ingested: its `endsAt`, or the resolve timeout);
//! - `fingerprint`: Alertmanager's, of the labels shown;
//! - `annotations`: the rule's; a native rule with neither `summary` nor
//!   `description` shows its message as `summary`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Params, am_time, failure};
use crate::alert::{Fingerprint, Labels, matcher::Matcher};
use crate::eval::external::EXTERNAL_GROUP;
use crate::http::AppState;
use crate::notify::route_table::Route;

/// The receiver of routes that notify nobody.
pub const OFF_RECEIVER: &str = "off";

/// One alert (`gettableAlert`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableAlert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub receivers: Vec<ReceiverRef>,
    pub fingerprint: String,
    pub starts_at: String,
    pub updated_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub status: AlertStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReceiverRef {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// active | suppressed | unprocessed
    pub state: String,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    pub muted_by: Vec<String>,
}

/// One group (`alertGroup`): the alerts of one route group and receiver.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertGroup {
    /// The `group_by` labels of the group.
    pub labels: Labels,
    /// The `match` labels of the routing scope that decided.
    pub route_labels: Labels,
    pub receiver: ReceiverRef,
    pub alerts: Vec<GettableAlert>,
}

/// A firing alert with what the filters and groups need.
struct Entry {
    alert: GettableAlert,
    route: Route,
    receivers: Vec<String>,
}

/// The query parameters both endpoints share.
struct Filter {
    matchers: Vec<Matcher>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    unprocessed: bool,
    receiver: Option<regex::Regex>,
}

impl Filter {
    fn parse(p: &Params) -> Result<Filter, String> {
        Ok(Filter {
            matchers: p.filter()?,
            active: p.flag("active", true)?,
            silenced: p.flag("silenced", true)?,
            inhibited: p.flag("inhibited", true)?,
            unprocessed: p.flag("unprocessed", true)?,
            receiver: p.receiver()?,
        })
    }

    /// Alertmanager's `alertFilter`: the matchers, then the state flags.
    fn admits(&self, a: &GettableAlert) -> bool {
        let st = &a.status;
        self.matchers.iter().all(|m| m.matches(&a.labels))
            && (self.active || st.state != "active")
            && (self.unprocessed || st.state != "unprocessed")
            && (self.silenced || st.silenced_by.is_empty())
            && (self.inhibited || st.inhibited_by.is_empty())
    }

    fn admits_receiver(&self, name: &str) -> bool {
        self.receiver.as_ref().is_none_or(|r| r.is_match(name))
    }
}

/// `GET /api/v2/alerts`, sorted by fingerprint.
pub async fn list(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let filter = match Filter::parse(&Params::parse(q.as_deref())) {
        Ok(f) => f,
        Err(why) => return failure(StatusCode::BAD_REQUEST, why),
    };
    let mut out: Vec<GettableAlert> = snapshot(&s, Utc::now())
        .await
        .into_iter()
        .filter(|e| e.receivers.iter().any(|r| filter.admits_receiver(r)))
        .filter(|e| filter.admits(&e.alert))
        .map(|e| e.alert)
        .collect();
    out.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    capped(&s, out)
}

/// At most `limits.list_items` entries (Alertmanager's clients ask for no
/// page), the total in `X-Total-Count`.
fn capped<T: Serialize>(s: &AppState, items: Vec<T>) -> Response {
    let max = s.limits.get().list_items.value;
    crate::http::limits::page(items, crate::http::limits::PageQuery::default(), max)
}

/// `GET /api/v2/alerts/groups`: one group per receiver and route group.
pub async fn groups(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let params = Params::parse(q.as_deref());
    let (filter, muted) =
        match Filter::parse(&params).and_then(|f| Ok((f, params.flag("muted", true)?))) {
            Ok(x) => x,
            Err(why) => return failure(StatusCode::BAD_REQUEST, why),
        };
    let now = Utc::now();
    let router = s.router();
    let mut groups: BTreeMap<(String, String, Labels), AlertGroup> = BTreeMap::new();
    for e in snapshot(&s, now).await {
        if !filter.admits(&e.alert) {
            continue;
        }
        let group_labels = group_labels(&e.route, &e.alert.labels);
        let route_labels = router
            .table()
            .scopes
            .iter()
            .find(|sc| sc.describe() == e.route.scope)
            .map(|sc| sc.matchers.clone())
            .unwrap_or_default();
        let mut alert = e.alert;
        if !e.route.timing.is_open(now) {
            alert.status.muted_by = vec![format!("time window of route {}", e.route.scope)];
            alert.status.state = "suppressed".into();
        }
        for r in e.receivers.iter().filter(|r| filter.admits_receiver(r)) {
            let key = (r.clone(), e.route.scope.clone(), group_labels.clone());
            groups
                .entry(key)
                .or_insert_with(|| AlertGroup {
                    labels: group_labels.clone(),
                    route_labels: route_labels.clone(),
                    receiver: ReceiverRef { name: r.clone() },
                    alerts: Vec::new(),
                })
                .alerts
                .push(alert.clone());
        }
    }
    let out: Vec<AlertGroup> = groups
        .into_values()
        .filter(|g| muted || g.alerts.iter().any(|a| a.status.state == "active"))
        .map(|mut g| {
            g.alerts.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
            g
        })
        .collect();
    capped(&s, out)
}

/// The `group_by` labels the alert has (Alertmanager leaves absent ones
/// out; `[...]` groups by every label).
fn group_labels(route: &Route, labels: &Labels) -> Labels {
    use crate::notify::route_table::GroupBy;
    match &route.timing.grouping.by {
        GroupBy::Route => Labels::new(),
        GroupBy::Each => labels.clone(),
        GroupBy::Labels(names) => names
            .iter()
            .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
            .filter(|(_, v)| !v.is_empty())
            .collect(),
    }
}

/// The receiver names of a route (`off` when it notifies nobody).
pub fn receiver_names(route: &Route) -> Vec<String> {
    let mut names: Vec<String> = route.recipients.iter().map(|r| r.name.clone()).collect();
    names.dedup();
    if names.is_empty() {
        names.push(OFF_RECEIVER.to_string());
    }
    names
}

/// Every firing alert as Alertmanager shows it.
async fn snapshot(s: &AppState, now: DateTime<Utc>) -> Vec<Entry> {
    let router = s.router();
    let external = match s.engine.store().external_meta().await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the ingested alerts' expiry");
            HashMap::new()
        }
    };
    let rules = s.engine.rules();
    let periods: HashMap<&str, Duration> = rules
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.schedule.nominal_period()))
        .collect();
    let evaluated: HashMap<String, DateTime<Utc>> = s
        .engine
        .group_statuses()
        .into_iter()
        .filter_map(|g| Some((g.name, g.last_evaluation?)))
        .collect();
    s.engine
        .firing_alerts()
        .into_iter()
        .map(|a| {
            let labels = a.output_labels();
            let route = router.route(&a);
            let silenced_by: Vec<String> = router.silenced_by(&labels).into_iter().collect();
            let inhibited_by: Vec<String> = router
                .inhibitor_labels(a.fingerprint, &labels)
                .map(|l| Fingerprint::of_labels(&l).to_string())
                .into_iter()
                .collect();
            let generator_url = a.generator_url.clone();
            let (updated, ends) = match external.get(&a.fingerprint) {
                Some(m) if a.group == EXTERNAL_GROUP => (m.updated_at, m.expires_at),
                _ => {
                    let updated = evaluated.get(&a.group).copied().unwrap_or(now);
                    let period = periods
                        .get(a.group.as_str())
                        .copied()
                        .unwrap_or_default()
                        .max(Duration::from_secs(60));
                    let valid = chrono::Duration::from_std(period * 4).unwrap_or_default();
                    (updated, updated + valid)
                }
            };
            let suppressed = !silenced_by.is_empty() || !inhibited_by.is_empty();
            let receivers = receiver_names(&route);
            let alert = GettableAlert {
                fingerprint: Fingerprint::of_labels(&labels).to_string(),
                annotations: a.sent_annotations(),
                receivers: receivers
                    .iter()
                    .map(|n| ReceiverRef { name: n.clone() })
                    .collect(),
                starts_at: am_time(a.fired_at.unwrap_or(a.active_at)),
                updated_at: am_time(updated),
                ends_at: am_time(ends),
                generator_url,
                status: AlertStatus {
                    state: if suppressed { "suppressed" } else { "active" }.into(),
                    silenced_by,
                    inhibited_by,
                    muted_by: Vec::new(),
                },
                labels,
            };
            Entry {
                alert,
                route,
                receivers,
            }
        })
        .collect()
}
