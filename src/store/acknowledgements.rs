//! Acknowledgements (who took a firing alert), recent resolutions for the
//! console, and the keys the daemon makes for itself.

use std::collections::HashMap;

use super::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};

use super::{Store, StoreError, from_millis, to_millis};
use crate::alert::{Acknowledgement, Fingerprint, Labels, Severity};

/// One alert that resolved, from the transition log.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub at: DateTime<Utc>,
    pub fingerprint: Fingerprint,
    pub group: String,
    pub alert: String,
    pub labels: Labels,
    /// The severity it had.
    pub severity: Option<String>,
    pub value: Option<f64>,
}

impl Store {
    /// Records who took an alert (replacing an earlier acknowledgement).
    pub async fn acknowledge(&self, a: Acknowledgement) -> Result<(), StoreError> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO acknowledgements (fingerprint, acknowledged_by, at, severity, comment)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (fingerprint) DO UPDATE SET acknowledged_by = excluded.acknowledged_by,
                     at = excluded.at, severity = excluded.severity, comment = excluded.comment",
                params![
                    a.fingerprint.to_string(),
                    a.by,
                    to_millis(a.at),
                    a.severity.as_str(),
                    a.comment
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Gives an alert back: nobody has taken it. Whether it had been taken.
    pub async fn unacknowledge(&self, fingerprint: Fingerprint) -> Result<bool, StoreError> {
        self.run(move |c| {
            Ok(c.execute(
                "DELETE FROM acknowledgements WHERE fingerprint = ?1",
                [fingerprint.to_string()],
            )? > 0)
        })
        .await
    }

    /// Every acknowledgement in force, by fingerprint.
    pub async fn acknowledgements(
        &self,
    ) -> Result<HashMap<Fingerprint, Acknowledgement>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT fingerprint, acknowledged_by, at, severity, comment FROM acknowledgements",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            let mut out = HashMap::new();
            for row in rows {
                let (fp, by, at, severity, comment) = row?;
                let fingerprint = Fingerprint::try_from(fp).map_err(StoreError::Corrupt)?;
                let severity = Severity::parse_native(&severity).map_err(StoreError::Corrupt)?;
                out.insert(
                    fingerprint,
                    Acknowledgement {
                        fingerprint,
                        by,
                        at: from_millis(at),
                        severity,
                        comment,
                    },
                );
            }
            Ok(out)
        })
        .await
    }

    /// Alerts that resolved after `since`, newest first, at most `limit`.
    pub async fn resolutions_since(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Resolution>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT at, fingerprint, rule_group, alert, labels, from_severity, to_severity, value
                 FROM alert_events WHERE to_state = 'resolved' AND at > ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![to_millis(since), limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<f64>>(7)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (at, fp, group, alert, labels, from_sev, to_sev, value) = row?;
                out.push(Resolution {
                    at: from_millis(at),
                    fingerprint: Fingerprint::try_from(fp).map_err(StoreError::Corrupt)?,
                    group,
                    alert,
                    labels: serde_json::from_str(&labels)
                        .map_err(|e| StoreError::Corrupt(format!("alert_events.labels: {e}")))?,
                    severity: to_sev.or(from_sev),
                    value,
                });
            }
            Ok(out)
        })
        .await
    }

    /// The key named `name`, made from 32 random bytes the first time it is
    /// asked for and kept from then on (every replica on one database
    /// shares it).
    pub async fn daemon_key(&self, name: &'static str) -> Result<[u8; 32], StoreError> {
        self.run(move |c| {
            // Two random (v4) UUIDs: 244 random bits from the OS's generator.
            let mut fresh = [0u8; 32];
            fresh[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            fresh[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            c.execute(
                "INSERT INTO daemon_keys (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![name, fresh.as_slice()],
            )?;
            let value: Option<Vec<u8>> = c
                .query_row(
                    "SELECT value FROM daemon_keys WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?;
            value
                .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
                .ok_or_else(|| StoreError::Corrupt(format!("daemon_keys.{name} is not 32 bytes")))
        })
        .await
    }
}
