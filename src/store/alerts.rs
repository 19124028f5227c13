//! The `alerts` and `alert_events` tables, and the one transaction that
//! records a step's [`StateChanges`]: state rows, transition events and the
//! outbox rows they cause.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::bulk::BulkRows;
use super::db::{Conn, OptionalExtension, Param, Row, Transaction};

use super::outbox::NewNotification;
use super::{Store, StoreError, from_millis, to_millis};
use crate::alert::{
    AlertInstance, AlertState, AlertTexts, Fingerprint, Labels, RuleFormat, Severity, StateChanges,
    Transition,
};

impl Store {
    /// Every stored alert (for the engine's memory at start).
    pub async fn load_alerts(&self) -> Result<Vec<AlertInstance>, StoreError> {
        self.run(load_alerts).await
    }

    /// Writes alert changes and the outbox rows they cause in one transaction.
    pub async fn commit_changes(
        &self,
        changes: StateChanges,
        notifications: Vec<NewNotification>,
    ) -> Result<(), StoreError> {
        if changes.is_empty() && notifications.is_empty() {
            return Ok(());
        }
        self.run(move |c| {
            let tx = c.transaction()?;
            write_changes(&tx, &changes, &notifications)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Deletes resolved alerts resolved before `cutoff`; returns their fingerprints.
    pub async fn purge_resolved(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Fingerprint>, StoreError> {
        self.run(move |c| {
            let tx = c.transaction()?;
            let fps = {
                let mut stmt = tx.prepare(
                    "DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?1 RETURNING fingerprint",
                )?;
                let rows = stmt.query_map([to_millis(cutoff)], |r| r.get::<_, String>(0))?;
                rows.filter_map(|r| r.ok())
                    .filter_map(|s| Fingerprint::try_from(s).ok())
                    .collect()
            };
            tx.commit()?;
            Ok(fps)
        })
        .await
    }

    /// Deletes history older than `cutoff`: transition events and finished
    /// (sent or failed) notifications. Pending notifications are never deleted.
    pub async fn purge_history(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Result<(usize, usize), StoreError> {
        self.run(move |c| {
            let tx = c.transaction()?;
            let events = tx.execute(
                "DELETE FROM alert_events WHERE at < ?1",
                [to_millis(cutoff)],
            )?;
            let notes = tx.execute(
                "DELETE FROM notifications WHERE status IN ('sent', 'failed') AND created_at < ?1",
                [to_millis(cutoff)],
            )?;
            tx.execute(
                "DELETE FROM notification_groups WHERE last_sent_at < ?1",
                [to_millis(cutoff)],
            )?;
            tx.commit()?;
            Ok((events, notes))
        })
        .await
    }

    /// The transition history of one alert, oldest first (for tests and the API).
    pub async fn events_for(
        &self,
        fingerprint: Fingerprint,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT at, from_state, to_state, from_severity, to_severity, value, reason
                 FROM alert_events WHERE fingerprint = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([fingerprint.to_string()], |r| {
                Ok(StoredEvent {
                    at: from_millis(r.get(0)?),
                    from_state: r.get(1)?,
                    to_state: r.get(2)?,
                    from_severity: r.get(3)?,
                    to_severity: r.get(4)?,
                    value: r.get(5)?,
                    reason: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// One stored alert row, if any.
    pub async fn alert(
        &self,
        fingerprint: Fingerprint,
    ) -> Result<Option<AlertInstance>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare(&format!("{SELECT_ALERT} WHERE fingerprint = ?1"))?;
            let row = stmt
                .query_row([fingerprint.to_string()], |r| Ok(read_alert(r)))
                .optional()?;
            row.transpose()
        })
        .await
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub at: chrono::DateTime<chrono::Utc>,
    pub from_state: String,
    pub to_state: String,
    pub from_severity: Option<String>,
    pub to_severity: Option<String>,
    pub value: Option<f64>,
    pub reason: String,
}

const SELECT_ALERT: &str =
    "SELECT fingerprint, rule_group, alert, labels, annotations, message, resolution,
        state, severity, value, active_at, fired_at, keep_firing_since, resolved_at,
        format, generator_url, texts FROM alerts";

fn load_alerts(c: &mut Conn) -> Result<Vec<AlertInstance>, StoreError> {
    let mut stmt = c.prepare(SELECT_ALERT)?;
    let rows = stmt.query_map([], |r| Ok(read_alert(r)))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row??);
    }
    Ok(out)
}

fn read_alert(r: &Row) -> Result<AlertInstance, StoreError> {
    let fp: String = r.get(0)?;
    let labels: String = r.get(3)?;
    let annotations: String = r.get(4)?;
    let state: String = r.get(7)?;
    let severity: String = r.get(8)?;
    let texts: String = r.get(16)?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("alert {fp}: bad {what}"));
    Ok(AlertInstance {
        fingerprint: Fingerprint::try_from(fp.clone()).map_err(|_| corrupt("fingerprint"))?,
        group: r.get(1)?,
        alert: r.get(2)?,
        labels: serde_json::from_str::<Labels>(&labels).map_err(|_| corrupt("labels"))?,
        annotations: serde_json::from_str::<BTreeMap<String, String>>(&annotations)
            .map_err(|_| corrupt("annotations"))?,
        message: r.get(5)?,
        resolution: r.get(6)?,
        texts: serde_json::from_str::<AlertTexts>(&texts).map_err(|_| corrupt("texts"))?,
        state: AlertState::parse(&state).ok_or_else(|| corrupt("state"))?,
        severity: match severity.as_str() {
            "warning" => Severity::Warning,
            "error" => Severity::Error,
            _ => return Err(corrupt("severity")),
        },
        value: r.get::<_, Option<f64>>(9)?.unwrap_or(f64::NAN),
        active_at: from_millis(r.get(10)?),
        fired_at: r.get::<_, Option<i64>>(11)?.map(from_millis),
        keep_firing_since: r.get::<_, Option<i64>>(12)?.map(from_millis),
        resolved_at: r.get::<_, Option<i64>>(13)?.map(from_millis),
        format: RuleFormat::parse(&r.get::<_, String>(14)?).ok_or_else(|| corrupt("format"))?,
        generator_url: r.get(15)?,
    })
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

const ALERT_COLUMNS: &str =
    "fingerprint, rule_group, alert, labels, annotations, message, resolution,
     state, severity, value, active_at, fired_at, keep_firing_since, resolved_at, updated_at,
     format, generator_url, texts";

const ALERT_UPSERT: &str = "ON CONFLICT (fingerprint) DO UPDATE SET
     labels = excluded.labels, annotations = excluded.annotations,
     message = excluded.message, resolution = excluded.resolution,
     state = excluded.state, severity = excluded.severity, value = excluded.value,
     active_at = excluded.active_at, fired_at = excluded.fired_at,
     keep_firing_since = excluded.keep_firing_since, resolved_at = excluded.resolved_at,
     updated_at = excluded.updated_at, format = excluded.format,
     generator_url = excluded.generator_url, texts = excluded.texts";

const EVENT_COLUMNS: &str = "at, fingerprint, rule_group, alert, labels, from_state, to_state,
     from_severity, to_severity, value, reason";

/// One `alerts` row, in [`ALERT_COLUMNS`] order.
fn alert_row(a: &AlertInstance, now: i64) -> Result<Vec<Box<dyn Param + '_>>, StoreError> {
    Ok(vec![
        Box::new(a.fingerprint.to_string()),
        Box::new(a.group.as_str()),
        Box::new(a.alert.as_str()),
        Box::new(json(&a.labels)?),
        Box::new(json(&a.annotations)?),
        Box::new(a.message.as_str()),
        Box::new(a.resolution.as_str()),
        Box::new(a.state.as_str()),
        Box::new(a.severity.as_str()),
        Box::new(finite(a.value)),
        Box::new(to_millis(a.active_at)),
        Box::new(a.fired_at.map(to_millis)),
        Box::new(a.keep_firing_since.map(to_millis)),
        Box::new(a.resolved_at.map(to_millis)),
        Box::new(now),
        Box::new(a.format.as_str()),
        Box::new(a.generator_url.as_str()),
        Box::new(json(&a.texts)?),
    ])
}

/// PostgreSQL: every saved alert in a few multi-row upserts.
fn save_alerts_bulk(tx: &Conn, save: &[Arc<AlertInstance>], now: i64) -> Result<(), StoreError> {
    let mut rows = BulkRows::new(
        "text text text text text text text text text float8 int8 int8 int8 int8 int8 text text text",
    );
    for a in save {
        rows.push(alert_row(a, now)?);
    }
    if !rows.is_empty() {
        rows.run(
            tx,
            &format!("INSERT INTO alerts ({ALERT_COLUMNS}) VALUES {{rows}} {ALERT_UPSERT}"),
        )?;
    }
    Ok(())
}

/// Writes alert changes and their outbox rows inside the caller's transaction.
pub(crate) fn write_changes(
    tx: &Transaction,
    batch: &StateChanges,
    notifications: &[NewNotification],
) -> Result<(), StoreError> {
    let now = to_millis(chrono::Utc::now());
    let at = to_millis(batch.at);
    {
        if tx.is_postgres() {
            save_alerts_bulk(tx, &batch.save, now)?;
        } else {
            let mut upsert = tx.prepare_cached(&format!(
                "INSERT INTO alerts ({ALERT_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                 {ALERT_UPSERT}"
            ))?;
            for a in &batch.save {
                upsert.execute(alert_row(a, now)?.as_slice())?;
            }
        }
        let mut delete = tx.prepare_cached("DELETE FROM alerts WHERE fingerprint = ?1")?;
        // An alert that resolves (or goes) is nobody's any more.
        let mut release =
            tx.prepare_cached("DELETE FROM acknowledgements WHERE fingerprint = ?1")?;
        for fp in &batch.delete {
            delete.execute([fp.to_string()])?;
            release.execute([fp.to_string()])?;
        }
        for e in &batch.events {
            if matches!(e.transition, Transition::Resolved | Transition::Cleared) {
                release.execute([e.alert.fingerprint.to_string()])?;
            }
        }
        let mut events = Vec::with_capacity(batch.events.len());
        for e in &batch.events {
            let a = &e.alert;
            let (from_state, to_state) = e.transition.states(e.before);
            let (from_sev, reason) = match &e.transition {
                Transition::SeverityChanged { from } => (
                    Some(from.as_str()),
                    if a.severity > *from {
                        "escalated"
                    } else {
                        "deescalated"
                    },
                ),
                _ => (e.before.map(|_| a.severity.as_str()), ""),
            };
            let row: Vec<Box<dyn Param + '_>> = vec![
                Box::new(at),
                Box::new(a.fingerprint.to_string()),
                Box::new(a.group.as_str()),
                Box::new(a.alert.as_str()),
                Box::new(json(&a.labels)?),
                Box::new(from_state),
                Box::new(to_state),
                Box::new(from_sev),
                Box::new(a.severity.as_str()),
                Box::new(finite(a.value)),
                Box::new(reason),
            ];
            events.push(row);
        }
        if tx.is_postgres() {
            let mut rows =
                BulkRows::new("int8 text text text text text text text text float8 text");
            for row in events {
                rows.push(row);
            }
            if !rows.is_empty() {
                rows.run(
                    tx,
                    &format!("INSERT INTO alert_events ({EVENT_COLUMNS}) VALUES {{rows}}"),
                )?;
            }
        } else {
            let mut event = tx.prepare_cached(&format!(
                "INSERT INTO alert_events ({EVENT_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))?;
            for row in &events {
                event.execute(row.as_slice())?;
            }
        }
        super::outbox::insert_notifications(tx, notifications, now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertTexts;

    #[tokio::test]
    async fn an_alerts_texts_in_both_languages_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        for database in crate::store::testing::databases(dir.path()) {
            let now = chrono::Utc::now();
            let mut labels = Labels::new();
            labels.insert("alertname".into(), "ConnectionCountHigh".into());
            let alert = AlertInstance {
                fingerprint: Fingerprint::of_alert("emqx", &labels),
                group: "emqx".into(),
                alert: "ConnectionCountHigh".into(),
                labels,
                annotations: BTreeMap::new(),
                message: "Connection count too high: 9000".into(),
                resolution: "Upgrade the plan".into(),
                texts: AlertTexts {
                    message_zh: "部署连接数过高：9000".into(),
                    resolution_zh: "升级部署规格".into(),
                    resolved_message: "back to 7000".into(),
                    resolved_message_zh: "已恢复：7000".into(),
                    output: String::new(),
                    since: String::new(),
                    since_at: None,
                },
                state: AlertState::Resolved,
                severity: Severity::Warning,
                value: 7000.0,
                active_at: now,
                fired_at: Some(now),
                keep_firing_since: None,
                resolved_at: Some(now),
                format: RuleFormat::Native,
                generator_url: String::new(),
            };
            let store = Store::open_database(&database).unwrap();
            let mut changes = StateChanges::at(now);
            changes.save.push(Arc::new(alert.clone()));
            store.commit_changes(changes, Vec::new()).await.unwrap();
            drop(store);
            let store = Store::open_database(&database).unwrap();
            let back = store.alert(alert.fingerprint).await.unwrap().unwrap();
            assert_eq!(back.texts, alert.texts);
            assert_eq!(back.message, alert.message);
            assert_eq!(back, alert_with_millis(&alert), "{database:?}");
        }
    }

    /// `a` as stored: times to the millisecond.
    fn alert_with_millis(a: &AlertInstance) -> AlertInstance {
        let ms = |t: chrono::DateTime<chrono::Utc>| from_millis(to_millis(t));
        AlertInstance {
            active_at: ms(a.active_at),
            fired_at: a.fired_at.map(ms),
            resolved_at: a.resolved_at.map(ms),
            keep_firing_since: a.keep_firing_since.map(ms),
            ..a.clone()
        }
    }
}
