//! The notification outbox. Rows are written with the transition that causes
//! them, picked up per target when due, and end as `sent` or `failed` with
//! the reason; a retry moves `next_attempt_at` forward.

use std::collections::HashMap;

use super::bulk::BulkRows;
use super::db::{DbError, OptionalExtension, Param, Row, Transaction, params};
use chrono::{DateTime, Utc};

use super::{Store, StoreError, from_millis, to_millis};
use crate::alert::Fingerprint;

/// A notification to put in the outbox with the transition that caused it.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub target: String,
    pub fingerprint: Fingerprint,
    pub kind: String,
    pub payload: String,
    /// The route group the alert belongs to (see `notify::route_table::Grouping`).
    pub group_key: String,
    /// The group's timing: a new group's first message waits `group_wait`,
    /// later ones go `group_interval` after the previous one.
    pub group_wait: std::time::Duration,
    pub group_interval: std::time::Duration,
    /// Written only if the target was told of this alert's firing since
    /// then (a silenced alert's resolution reaches those who heard of it).
    pub only_if_notified_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// Writes outbox rows inside the caller's transaction. A row's first
/// attempt is due when its group's next message is: with a message of the
/// group already planned, then; within `group_interval` of the group's last
/// message, when that interval ends; otherwise (a new or long quiet group)
/// after `group_wait`. Without grouping times, at once.
pub(crate) fn insert_notifications(
    tx: &Transaction,
    rows: &[NewNotification],
    now: i64,
) -> Result<(), StoreError> {
    let mut due_of: HashMap<(&str, &str), i64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for n in rows {
        if let Some(since) = n.only_if_notified_since {
            // What this batch wrote so far counts as notified.
            write_rows(tx, std::mem::take(&mut out))?;
            if !was_notified(tx, n, to_millis(since))? {
                continue;
            }
        }
        let due = if n.group_wait.is_zero() && n.group_interval.is_zero() {
            now
        } else if let Some(&due) = due_of.get(&(n.target.as_str(), n.group_key.as_str())) {
            due
        } else {
            let due = group_due(tx, n, now)?;
            due_of.insert((n.target.as_str(), n.group_key.as_str()), due);
            due
        };
        let row: Vec<Box<dyn Param + '_>> = vec![
            Box::new(n.target.as_str()),
            Box::new(n.fingerprint.to_string()),
            Box::new(n.kind.as_str()),
            Box::new(n.payload.as_str()),
            Box::new(n.group_key.as_str()),
            Box::new(due),
            Box::new(now),
        ];
        out.push(row);
    }
    write_rows(tx, out)
}

/// Inserts outbox rows (`target, fingerprint, kind, payload, group_key,
/// next_attempt_at, created_at`): one prepared statement a row on SQLite,
/// multi-row statements on PostgreSQL.
fn write_rows(tx: &Transaction, out: Vec<Vec<Box<dyn Param + '_>>>) -> Result<(), StoreError> {
    const INSERT: &str = "INSERT INTO notifications (target, fingerprint, kind, payload, group_key, next_attempt_at, created_at)";
    if out.is_empty() {
        return Ok(());
    }
    if tx.is_postgres() {
        let mut rows = BulkRows::new("text text text text text int8 int8");
        for row in out {
            rows.push(row);
        }
        rows.run(tx, &format!("{INSERT} VALUES {{rows}}"))?;
    } else {
        let mut insert =
            tx.prepare_cached(&format!("{INSERT} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"))?;
        for row in &out {
            insert.execute(row.as_slice())?;
        }
    }
    Ok(())
}

/// Whether `n`'s target has a firing message of `n`'s alert since `since`
/// (sent, or still on its way).
fn was_notified(tx: &Transaction, n: &NewNotification, since: i64) -> Result<bool, DbError> {
    tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM notifications
           WHERE fingerprint = ?1 AND target = ?2 AND kind != 'resolved'
             AND status != 'failed' AND created_at >= ?3)",
    )?
    .query_row(params![n.fingerprint.to_string(), n.target, since], |r| {
        r.get(0)
    })
}

/// When the next message of `n`'s group goes (Unix ms).
fn group_due(tx: &Transaction, n: &NewNotification, now: i64) -> Result<i64, DbError> {
    let planned: Option<i64> = tx
        .prepare_cached(
            "SELECT MIN(next_attempt_at) FROM notifications
             WHERE target = ?1 AND group_key = ?2 AND status = 'pending' AND attempts = 0",
        )?
        .query_row(params![n.target, n.group_key], |r| r.get(0))?;
    if let Some(at) = planned {
        return Ok(at);
    }
    let last: Option<i64> = tx
        .prepare_cached(
            "SELECT last_sent_at FROM notification_groups WHERE target = ?1 AND group_key = ?2",
        )?
        .query_row(params![n.target, n.group_key], |r| r.get(0))
        .optional()?;
    let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4);
    Ok(match last {
        Some(last) if now < last.saturating_add(ms(n.group_interval)) => {
            last + ms(n.group_interval)
        }
        _ => now.saturating_add(ms(n.group_wait)),
    })
}

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
    pub group_key: String,
}

/// Reads a row selected as `id, target, fingerprint, kind, payload,
/// attempts, created_at, group_key`.
fn read_due(r: &Row) -> Result<OutboxRow, DbError> {
    Ok(OutboxRow {
        id: r.get(0)?,
        target: r.get(1)?,
        fingerprint: r.get(2)?,
        kind: r.get(3)?,
        payload: r.get(4)?,
        attempts: r.get(5)?,
        created_at: from_millis(r.get(6)?),
        group_key: r.get(7)?,
    })
}

/// Rows free to claim: pending, due, and not claimed by this replica
/// (`?4`) before its claim ends. Only the lease's holder claims, so
/// another replica's claim is one it made before it lost the lease.
const CLAIMABLE: &str = "target = ?1 AND status = 'pending' AND next_attempt_at <= ?2
     AND (claimed_by IS NULL OR claimed_by <> ?4 OR claimed_until <= ?2)";

/// How long a claim holds: past it, a row whose answer could not be
/// recorded (the database went away after the send) is sent again.
const CLAIM_MS: i64 = 5 * 60 * 1000;

/// [`Store::due_notifications`] on PostgreSQL with replicas.
fn claim_due(
    c: &mut super::db::Conn,
    target: &str,
    now: DateTime<Utc>,
    limit: usize,
    one_group: bool,
    holder: String,
) -> Result<Vec<OutboxRow>, StoreError> {
    let group = if one_group {
        format!(
            " AND group_key = (SELECT group_key FROM notifications WHERE {CLAIMABLE} ORDER BY id LIMIT 1)"
        )
    } else {
        String::new()
    };
    let sql = format!(
        "UPDATE notifications SET claimed_by = ?4, claimed_until = ?5
         WHERE id IN (SELECT id FROM notifications WHERE {CLAIMABLE}{group}
                      ORDER BY id LIMIT ?3 FOR UPDATE SKIP LOCKED)
           AND EXISTS (SELECT 1 FROM leader_lease WHERE name = 'leader' AND holder = ?4
                       AND expires_at > {})
         RETURNING id, target, fingerprint, kind, payload, attempts, created_at, group_key",
        super::lease::NOW_MS
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            target,
            to_millis(now),
            limit as i64,
            holder,
            to_millis(now) + CLAIM_MS
        ],
        read_due,
    )?;
    let mut rows = rows.collect::<Result<Vec<_>, _>>()?;
    // RETURNING keeps no order.
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Reads a row selected as `id, target, fingerprint, kind, status,
/// attempts, last_error, created_at, sent_at, answer`.
fn read_record(r: &Row) -> Result<NotificationRecord, DbError> {
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
        answer: r.get(9)?,
    })
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
    /// What the channel answered when it was sent.
    #[serde(default)]
    pub answer: Option<String>,
}

impl Store {
    /// Puts notifications in the outbox that no state change causes
    /// (repeats, alerts held back that may be notified now), in one
    /// transaction.
    pub async fn enqueue(&self, rows: Vec<NewNotification>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.run(move |c| {
            let tx = c.transaction()?;
            insert_notifications(&tx, &rows, to_millis(Utc::now()))?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Pending rows of `target` due at `now`, oldest first; with
    /// `one_group`, only those of the oldest due row's group. With replicas
    /// (PostgreSQL, [`super::lease::holder`] set) the rows are claimed for
    /// this replica in the same statement: `FOR UPDATE SKIP LOCKED`, only
    /// while it holds the lease by the database's clock, never a row
    /// another claim holds (a claim by a replica that lost the lease is
    /// void); the answer's record clears the claim.
    pub async fn due_notifications(
        &self,
        target: &str,
        now: DateTime<Utc>,
        limit: usize,
        one_group: bool,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        if let Some(holder) = super::lease::holder().filter(|_| self.is_postgres()) {
            return self
                .claim_notifications(target, now, limit, one_group, holder)
                .await;
        }
        let target = target.to_string();
        self.run(move |c| {
            let mut stmt = if one_group {
                c.prepare_cached(
                    "SELECT id, target, fingerprint, kind, payload, attempts, created_at, group_key FROM notifications
                     WHERE target = ?1 AND status = 'pending' AND next_attempt_at <= ?2
                       AND group_key = (SELECT group_key FROM notifications
                                        WHERE target = ?1 AND status = 'pending' AND next_attempt_at <= ?2
                                        ORDER BY id LIMIT 1)
                     ORDER BY id LIMIT ?3",
                )?
            } else {
                c.prepare_cached(
                    "SELECT id, target, fingerprint, kind, payload, attempts, created_at, group_key FROM notifications
                     WHERE target = ?1 AND status = 'pending' AND next_attempt_at <= ?2
                     ORDER BY id LIMIT ?3",
                )?
            };
            let rows = stmt.query_map(params![target, to_millis(now), limit as i64], read_due)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// [`Store::due_notifications`] for the replica `holder` (PostgreSQL):
    /// the due rows it may send, claimed for it.
    pub(crate) async fn claim_notifications(
        &self,
        target: &str,
        now: DateTime<Utc>,
        limit: usize,
        one_group: bool,
        holder: String,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let target = target.to_string();
        self.run(move |c| claim_due(c, &target, now, limit, one_group, holder))
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

    /// Marks rows of `target` sent, and their `groups` as sent at `now`
    /// (which holds the groups' next messages back by their `group_interval`).
    pub async fn mark_sent(
        &self,
        target: &str,
        ids: Vec<i64>,
        groups: Vec<String>,
        now: DateTime<Utc>,
        answer: &str,
    ) -> Result<(), StoreError> {
        let target = target.to_string();
        // The answer as the console shows it: its first 500 bytes.
        let mut end = answer.len().min(500);
        while !answer.is_char_boundary(end) {
            end -= 1;
        }
        let answer = answer[..end].to_string();
        self.run(move |c| {
            let tx = c.transaction()?;
            {
                let mut sent = tx.prepare_cached(
                    "UPDATE notifications SET status = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL, answer = ?3, claimed_by = NULL, claimed_until = NULL WHERE id = ?1",
                )?;
                for id in ids {
                    sent.execute(params![id, to_millis(now), answer])?;
                }
                let mut group = tx.prepare_cached(
                    "INSERT INTO notification_groups (target, group_key, last_sent_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (target, group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at",
                )?;
                for g in groups.iter().filter(|g| !g.is_empty()) {
                    group.execute(params![target, g, to_millis(now)])?;
                }
            }
            tx.commit()?;
            Ok(())
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
                "UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3, claimed_by = NULL, claimed_until = NULL WHERE id = ?1",
                params![id, to_millis(next_attempt_at), error],
            )
        })
        .await
    }

    pub async fn mark_failed(&self, ids: Vec<i64>, error: String) -> Result<(), StoreError> {
        self.update_rows(ids, move |tx, id| {
            tx.execute(
                "UPDATE notifications SET status = 'failed', attempts = attempts + 1, last_error = ?2, claimed_by = NULL, claimed_until = NULL WHERE id = ?1",
                params![id, error],
            )
        })
        .await
    }

    async fn update_rows(
        &self,
        ids: Vec<i64>,
        f: impl Fn(&Transaction, i64) -> Result<usize, DbError> + Send + 'static,
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
                "SELECT id, target, fingerprint, kind, status, attempts, last_error, created_at, sent_at, answer
                 FROM notifications WHERE fingerprint = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([fingerprint.to_string()], read_record)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// The newest row of every target that was tried (sent, failed, or
    /// answered with a retry), by target.
    pub async fn last_deliveries(
        &self,
    ) -> Result<std::collections::HashMap<String, NotificationRecord>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, target, fingerprint, kind, status, attempts, last_error, created_at, sent_at, answer
                 FROM notifications WHERE id IN
                     (SELECT MAX(id) FROM notifications WHERE attempts > 0 OR status != 'pending' GROUP BY target)",
            )?;
            let rows = stmt.query_map([], read_record)?;
            let mut out = std::collections::HashMap::new();
            for r in rows {
                let r = r?;
                out.insert(r.target.clone(), r);
            }
            Ok(out)
        })
        .await
    }

    /// The newest outbox row of each of `fingerprints` that has one, by
    /// fingerprint. A short list is looked up one by one (an index read
    /// each); a long one reads the newest row of every alert once.
    pub async fn last_notifications(
        &self,
        fingerprints: Vec<String>,
    ) -> Result<std::collections::HashMap<String, NotificationRecord>, StoreError> {
        const ONE_BY_ONE: usize = 256;
        self.run(move |c| {
            let mut out = std::collections::HashMap::new();
            if fingerprints.len() <= ONE_BY_ONE {
                let mut stmt = c.prepare_cached(
                    "SELECT id, target, fingerprint, kind, status, attempts, last_error, created_at, sent_at, answer
                     FROM notifications WHERE fingerprint = ?1 ORDER BY id DESC LIMIT 1",
                )?;
                for fp in fingerprints {
                    if let Some(r) = stmt.query_row(params![fp], read_record).optional()? {
                        out.insert(fp, r);
                    }
                }
                return Ok(out);
            }
            let wanted: std::collections::HashSet<String> = fingerprints.into_iter().collect();
            let mut stmt = c.prepare(
                "SELECT id, target, fingerprint, kind, status, attempts, last_error, created_at, sent_at, answer
                 FROM notifications WHERE id IN (SELECT MAX(id) FROM notifications GROUP BY fingerprint)",
            )?;
            for r in stmt.query_map([], read_record)? {
                let r = r?;
                if wanted.contains(&r.fingerprint) {
                    out.insert(r.fingerprint.clone(), r);
                }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn row(key: &str, fp: u64, wait: u64, interval: u64) -> NewNotification {
        NewNotification {
            target: "hook".into(),
            fingerprint: Fingerprint(fp),
            kind: "firing".into(),
            payload: "{}".into(),
            group_key: key.into(),
            group_wait: Duration::from_secs(wait),
            group_interval: Duration::from_secs(interval),
            only_if_notified_since: None,
        }
    }

    async fn write(store: &Store, rows: Vec<NewNotification>) {
        store.enqueue(rows).await.unwrap();
    }

    /// Seconds from now until each pending row of `key` is due, by fingerprint.
    async fn due_in(store: &Store, key: &str) -> Vec<(String, i64)> {
        let key = key.to_string();
        let now = to_millis(Utc::now());
        store
            .run_blocking(move |c| {
                let mut stmt = c.prepare(
                    "SELECT fingerprint, next_attempt_at FROM notifications
                     WHERE group_key = ?1 AND status = 'pending' ORDER BY id",
                )?;
                let rows = stmt.query_map([key], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        (r.get::<_, i64>(1)? - now + 500) / 1000,
                    ))
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap()
    }

    #[tokio::test]
    async fn a_group_collects_for_group_wait_then_waits_group_interval() {
        let dir = tempfile::tempdir().unwrap();
        for store in crate::store::testing::stores(dir.path()) {
            // A new group: its first rows wait group_wait (30 s), and a row
            // written later joins the same planned message.
            write(&store, vec![row("g1", 1, 30, 300), row("g1", 2, 30, 300)]).await;
            write(&store, vec![row("g1", 3, 30, 300)]).await;
            let due = due_in(&store, "g1").await;
            assert_eq!(due.iter().map(|d| d.1).collect::<Vec<_>>(), [30, 30, 30]);
            // Another group and a row without grouping times are independent.
            write(&store, vec![row("g2", 4, 10, 300), row("g3", 5, 0, 0)]).await;
            assert_eq!(due_in(&store, "g2").await[0].1, 10);
            assert_eq!(due_in(&store, "g3").await[0].1, 0);

            // Once g1 is sent, its next row waits for group_interval after that.
            let ids: Vec<i64> = store
                .run_blocking(|c| {
                    let mut s = c.prepare("SELECT id FROM notifications WHERE group_key = 'g1'")?;
                    let ids = s.query_map([], |r| r.get(0))?;
                    Ok(ids.collect::<Result<Vec<_>, _>>()?)
                })
                .unwrap();
            store
                .mark_sent("hook", ids, vec!["g1".into()], Utc::now(), "ok")
                .await
                .unwrap();
            write(&store, vec![row("g1", 6, 30, 300)]).await;
            assert_eq!(due_in(&store, "g1").await[0].1, 300);

            // A group quiet for longer than group_interval is new again.
            store
            .run_blocking(|c| {
                c.execute(
                    "UPDATE notification_groups SET last_sent_at = last_sent_at - 600000 WHERE group_key = 'g1'",
                    [],
                )?;
                c.execute("DELETE FROM notifications WHERE group_key = 'g1' AND status = 'pending'", [])?;
                Ok(())
            })
            .unwrap();
            write(&store, vec![row("g1", 7, 30, 300)]).await;
            assert_eq!(due_in(&store, "g1").await[0].1, 30);
        }
    }

    #[tokio::test]
    async fn replicas_claim_each_row_once_and_only_while_they_lead() {
        let Some((a, b)) = crate::store::testing::two_replicas() else {
            return;
        };
        write(&a, (1..=5).map(|fp| row("", fp, 0, 0)).collect()).await;
        let ttl = Duration::from_millis(800);
        let claim = |s: &Store, who: &str, limit: usize| {
            let (s, who) = (s.clone(), who.to_string());
            async move {
                let rows = s
                    .claim_notifications("hook", Utc::now(), limit, false, who)
                    .await
                    .unwrap();
                rows.iter()
                    .map(|r| r.fingerprint.clone())
                    .collect::<Vec<_>>()
            }
        };
        let fp = |n: u64| Fingerprint(n).to_string();
        // Nobody leads yet: nobody gets a row.
        assert!(claim(&a, "a", 10).await.is_empty());
        a.claim_lease("a".into(), String::new(), ttl)
            .await
            .unwrap()
            .unwrap();
        assert!(claim(&b, "b", 10).await.is_empty(), "b does not lead");
        // Two claims of the leader at once split the rows, oldest first.
        let (one, two) = tokio::join!(claim(&a, "a", 2), claim(&a, "a", 2));
        let mut both: Vec<_> = one.iter().chain(&two).cloned().collect();
        assert_eq!(one.len() + two.len(), 4);
        both.sort();
        both.dedup();
        assert_eq!(both.len(), 4, "no row twice: {one:?} {two:?}");
        assert_eq!(claim(&a, "a", 10).await, [fp(5)]);
        assert!(claim(&a, "a", 10).await.is_empty(), "all claimed");
        // A recorded retry frees its row for the next claim.
        let ids: Vec<i64> = a
            .run_blocking(|c| {
                Ok(c.query_row("SELECT MIN(id) FROM notifications", [], |r| r.get(0))?)
            })
            .map(|id: i64| vec![id])
            .unwrap();
        a.mark_retry(ids, Utc::now(), "503".into()).await.unwrap();
        assert_eq!(claim(&a, "a", 10).await, [fp(1)]);
        // b takes over once a's lease ended: a's claims are void for it,
        // and a gets nothing any more.
        tokio::time::sleep(Duration::from_millis(900)).await;
        b.claim_lease("b".into(), String::new(), ttl)
            .await
            .unwrap()
            .unwrap();
        assert!(claim(&a, "a", 10).await.is_empty());
        assert_eq!(claim(&b, "b", 10).await.len(), 5);
    }
}
