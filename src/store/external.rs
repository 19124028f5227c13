//! Expiry of external alerts (`POST /api/v2/alerts`): each active one has a
//! row saying when it resolves unless posted again. Rows are written in the
//! transaction that records the alerts' transitions and outbox rows.

use super::db::params;
use chrono::{DateTime, Utc};

use super::alerts::write_changes;
use super::outbox::NewNotification;
use super::{Store, StoreError, to_millis};
use crate::alert::{Fingerprint, StateChanges};

/// When one external alert expires.
#[derive(Debug, Clone)]
pub struct Expiry {
    pub fingerprint: Fingerprint,
    pub expires_at: DateTime<Utc>,
    pub generator_url: String,
}

/// What the API shows of an active external alert.
#[derive(Debug, Clone)]
pub struct ExternalMeta {
    pub expires_at: DateTime<Utc>,
    pub generator_url: String,
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Records a batch of external alerts: their state, transitions and
    /// outbox rows, new expiry times, and expiries that no longer apply —
    /// all or nothing.
    pub async fn commit_external(
        &self,
        changes: StateChanges,
        notifications: Vec<NewNotification>,
        expiries: Vec<Expiry>,
        finished: Vec<Fingerprint>,
    ) -> Result<(), StoreError> {
        self.run(move |c| {
            let now = to_millis(Utc::now());
            let tx = c.transaction()?;
            write_changes(&tx, &changes, &notifications)?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO external_alerts (fingerprint, expires_at, generator_url, updated_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (fingerprint) DO UPDATE SET expires_at = excluded.expires_at,
                         generator_url = excluded.generator_url, updated_at = excluded.updated_at",
                )?;
                for e in &expiries {
                    upsert.execute(params![
                        e.fingerprint.to_string(),
                        to_millis(e.expires_at),
                        e.generator_url,
                        now
                    ])?;
                }
                let mut delete =
                    tx.prepare_cached("DELETE FROM external_alerts WHERE fingerprint = ?1")?;
                for fp in &finished {
                    delete.execute([fp.to_string()])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// External alerts whose time is up at `now`, with when it was.
    pub async fn expired_external(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Fingerprint, DateTime<Utc>)>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT fingerprint, expires_at FROM external_alerts WHERE expires_at <= ?1 ORDER BY expires_at",
            )?;
            let rows = stmt.query_map([to_millis(now)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (fp, at) = r?;
                let fp = Fingerprint::try_from(fp.clone()).map_err(|e| {
                    StoreError::Corrupt(format!("external alert fingerprint {fp:?}: {e}"))
                })?;
                out.push((fp, super::from_millis(at)));
            }
            Ok(out)
        })
        .await
    }

    /// Every active external alert's expiry, generator URL and last post,
    /// by fingerprint (what Alertmanager's API shows as `endsAt`,
    /// `generatorURL` and `updatedAt`).
    pub async fn external_meta(
        &self,
    ) -> Result<std::collections::HashMap<Fingerprint, ExternalMeta>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT fingerprint, expires_at, generator_url, updated_at FROM external_alerts",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            let mut out = std::collections::HashMap::new();
            for r in rows {
                let (fp, expires, url, updated) = r?;
                let fp = Fingerprint::try_from(fp.clone()).map_err(|e| {
                    StoreError::Corrupt(format!("external alert fingerprint {fp:?}: {e}"))
                })?;
                out.insert(
                    fp,
                    ExternalMeta {
                        expires_at: super::from_millis(expires),
                        generator_url: url,
                        updated_at: super::from_millis(updated),
                    },
                );
            }
            Ok(out)
        })
        .await
    }
}
