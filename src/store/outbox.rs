//! The notification outbox. Rows are written with the transition that causes
//! them, picked up per target when due, and end as `sent` or `failed` with
//! the reason; a retry moves `next_attempt_at` forward.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Store, StoreError, from_millis, to_millis};
use crate::labels::Fingerprint;

/// A row waiting to be sent.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub target: String,
    pub fingerprint: String,
    pub kind: String,
    pub payload: String,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// A row as recorded, for the API, the CLI and tests.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NotificationRecord {
    pub id: i64,
    pub target: String,
    pub fingerprint: String,
    pub kind: String,
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Pending rows of `target` due at `now`, oldest first.
    pub async fn due_notifications(
        &self,
        target: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let target = target.to_string();
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, target, fingerprint, kind, payload, attempts, created_at FROM notifications
                 WHERE target = ?1 AND status = 'pending' AND next_attempt_at <= ?2
                 ORDER BY id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![target, to_millis(now), limit as i64], |r| {
                Ok(OutboxRow {
                    id: r.get(0)?,
                    target: r.get(1)?,
                    fingerprint: r.get(2)?,
                    kind: r.get(3)?,
                    payload: r.get(4)?,
                    attempts: r.get(5)?,
                    created_at: from_millis(r.get(6)?),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// When the next pending row of `target` becomes due.
    pub async fn next_due_at(&self, target: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let target = target.to_string();
        self.run(move |c| {
            let at: Option<i64> = c.query_row(
                "SELECT MIN(next_attempt_at) FROM notifications WHERE target = ?1 AND status = 'pending'",
                [target],
                |r| r.get(0),
            )?;
            Ok(at.map(from_millis))
        })
        .await
    }

    pub async fn mark_sent(&self, ids: Vec<i64>, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_rows(ids, move |tx, id| {
            tx.execute(
                "UPDATE notifications SET status = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL WHERE id = ?1",
                params![id, to_millis(now)],
            )
        })
        .await
    }

    pub async fn mark_retry(
        &self,
        ids: Vec<i64>,
        next_attempt_at: DateTime<Utc>,
        error: String,
    ) -> Result<(), StoreError> {
        self.update_rows(ids, move |tx, id| {
            tx.execute(
                "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                params![id, to_millis(next_attempt_at), error],
            )
        })
        .await
    }

    pub async fn mark_failed(&self, ids: Vec<i64>, error: String) -> Result<(), StoreError> {
        self.update_rows(ids, move |tx, id| {
            tx.execute(
                "UPDATE notifications SET status = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![id, error],
            )
        })
        .await
    }

    async fn update_rows(
        &self,
        ids: Vec<i64>,
        f: impl Fn(&rusqlite::Transaction, i64) -> rusqlite::Result<usize> + Send + 'static,
    ) -> Result<(), StoreError> {
        self.run(move |c| {
            let tx = c.transaction()?;
            for id in ids {
                f(&tx, id)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Pending rows for targets no longer configured are given up, with that reason.
    pub async fn fail_unknown_targets(&self, known: Vec<String>) -> Result<usize, StoreError> {
        self.run(move |c| {
            let tx = c.transaction()?;
            let targets: Vec<String> = {
                let mut stmt =
                    tx.prepare("SELECT DISTINCT target FROM notifications WHERE status = 'pending'")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut n = 0;
            for t in targets.iter().filter(|t| !known.contains(t)) {
                n += tx.execute(
                    "UPDATE notifications SET status = 'failed', last_error = 'target is no longer configured'
                     WHERE target = ?1 AND status = 'pending'",
                    [t],
                )?;
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    /// Outbox rows of one alert, oldest first.
    pub async fn notifications_for(
        &self,
        fingerprint: Fingerprint,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, target, fingerprint, kind, status, attempts, last_error, created_at, sent_at
                 FROM notifications WHERE fingerprint = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([fingerprint.to_string()], |r| {
                Ok(NotificationRecord {
                    id: r.get(0)?,
                    target: r.get(1)?,
                    fingerprint: r.get(2)?,
                    kind: r.get(3)?,
                    status: r.get(4)?,
                    attempts: r.get(5)?,
                    last_error: r.get(6)?,
                    created_at: from_millis(r.get(7)?),
                    sent_at: r.get::<_, Option<i64>>(8)?.map(from_millis),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// The newest outbox row of every alert that has one, by fingerprint.
    pub async fn last_notifications(
        &self,
    ) -> Result<std::collections::HashMap<String, NotificationRecord>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, target, fingerprint, kind, status, attempts, last_error, created_at, sent_at
                 FROM notifications WHERE id IN (SELECT MAX(id) FROM notifications GROUP BY fingerprint)",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(NotificationRecord {
                    id: r.get(0)?,
                    target: r.get(1)?,
                    fingerprint: r.get(2)?,
                    kind: r.get(3)?,
                    status: r.get(4)?,
                    attempts: r.get(5)?,
                    last_error: r.get(6)?,
                    created_at: from_millis(r.get(7)?),
                    sent_at: r.get::<_, Option<i64>>(8)?.map(from_millis),
                })
            })?;
            let mut out = std::collections::HashMap::new();
            for r in rows {
                let r = r?;
                out.insert(r.fingerprint.clone(), r);
            }
            Ok(out)
        })
        .await
    }

    /// Per target: pending rows and when the oldest was created (for `/metrics`).
    pub async fn outbox_pending(&self) -> Result<Vec<(String, i64, DateTime<Utc>)>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT target, COUNT(*), MIN(created_at) FROM notifications WHERE status = 'pending' GROUP BY target",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, from_millis(r.get(2)?))))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Counts of outbox rows by status (for the API and tests).
    pub async fn outbox_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare(
                "SELECT target, status, COUNT(*) FROM notifications GROUP BY target, status ORDER BY target, status",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}
