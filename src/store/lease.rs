//! The leader lease (PostgreSQL): one row that says which replica leads and
//! until when, by the database server's clock. A replica takes it when it
//! is free or expired and keeps it by renewing it before it expires; the
//! statement that does either is one atomic upsert, so two replicas can
//! never both get it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::db::{OptionalExtension, Row, params};
use super::{Store, StoreError, from_millis};

/// Who holds the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    /// Grows by one whenever the holder changes.
    pub epoch: i64,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Where the holder takes forwarded requests (`advertise_url`).
    pub address: String,
}

/// This process's name in the lease, once it runs as a replica.
static HOLDER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names this process in the lease: from then on, the outbox claims the
/// rows it sends for it (`outbox.rs`).
pub fn set_holder(name: String) {
    let _ = HOLDER.set(name);
}

/// This process's name in the lease, if it runs as a replica.
pub fn holder() -> Option<String> {
    HOLDER.get().cloned()
}

/// The server's clock in Unix milliseconds.
pub(super) const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

fn read_lease(r: &Row<'_>) -> Result<Lease, super::DbError> {
    Ok(Lease {
        holder: r.get(0)?,
        epoch: r.get(1)?,
        acquired_at: from_millis(r.get(2)?),
        expires_at: from_millis(r.get(3)?),
        address: r.get(4)?,
    })
}

impl Store {
    /// Takes the lease for `holder` if it is free or expired, or renews it
    /// if `holder` has it, for `ttl` from now (the server's now), saying
    /// that it takes forwarded requests at `address`. `Some`: `holder`
    /// leads until `expires_at`; `None`: another replica does.
    pub async fn claim_lease(
        &self,
        holder: String,
        address: String,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4);
        self.run(move |c| {
            let sql = format!(
                "INSERT INTO leader_lease (name, holder, epoch, acquired_at, renewed_at, expires_at, address)
                 VALUES ('leader', ?1, 1, {NOW_MS}, {NOW_MS}, {NOW_MS} + ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET
                     epoch = CASE WHEN leader_lease.holder = excluded.holder
                                  THEN leader_lease.epoch ELSE leader_lease.epoch + 1 END,
                     acquired_at = CASE WHEN leader_lease.holder = excluded.holder
                                  THEN leader_lease.acquired_at ELSE excluded.acquired_at END,
                     holder = excluded.holder,
                     renewed_at = excluded.renewed_at,
                     expires_at = excluded.expires_at,
                     address = excluded.address
                 WHERE leader_lease.holder = excluded.holder
                    OR leader_lease.expires_at <= excluded.renewed_at
                 RETURNING holder, epoch, acquired_at, expires_at, address"
            );
            Ok(c.query_row(&sql, params![holder, ttl, address], read_lease)
                .optional()?)
        })
        .await
    }

    /// Who holds the lease, if anyone took it yet (expired or not).
    pub async fn lease_holder(&self) -> Result<Option<Lease>, StoreError> {
        self.run(|c| {
            Ok(c.query_row(
                "SELECT holder, epoch, acquired_at, expires_at, address FROM leader_lease WHERE name = 'leader'",
                params![],
                read_lease,
            )
            .optional()?)
        })
        .await
    }

    /// Gives the lease up (a clean stop): another replica may take it at
    /// once instead of after it expires.
    pub async fn release_lease(&self, holder: String) -> Result<bool, StoreError> {
        self.run(move |c| {
            Ok(c.execute(
                "UPDATE leader_lease SET expires_at = 0 WHERE name = 'leader' AND holder = ?1",
                params![holder],
            )? > 0)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_the_next_after_expiry_or_release() {
        let Some((a, b)) = crate::store::testing::two_replicas() else {
            return;
        };
        let ttl = Duration::from_millis(600);
        let first = a
            .claim_lease("a".into(), "http://a".into(), ttl)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((first.holder.as_str(), first.epoch), ("a", 1));
        assert_eq!(
            b.claim_lease("b".into(), "http://b".into(), ttl)
                .await
                .unwrap(),
            None
        );
        // Renewing keeps the epoch and the start, moves the end.
        let renewed = a
            .claim_lease("a".into(), "http://a".into(), ttl)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((renewed.epoch, renewed.acquired_at), (1, first.acquired_at));
        assert!(renewed.expires_at >= first.expires_at);
        // Once it expires, the other takes it with the next epoch, and the
        // first one cannot renew.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let taken = b
            .claim_lease("b".into(), "http://b".into(), ttl)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((taken.holder.as_str(), taken.epoch), ("b", 2));
        assert_eq!(
            a.claim_lease("a".into(), "http://a".into(), ttl)
                .await
                .unwrap(),
            None
        );
        let seen = a.lease_holder().await.unwrap().unwrap();
        assert_eq!(
            (seen.holder.as_str(), seen.address.as_str()),
            ("b", "http://b")
        );
        // Released, it is free at once.
        assert!(b.release_lease("b".into()).await.unwrap());
        assert!(!a.release_lease("a".into()).await.unwrap());
        let back = a
            .claim_lease("a".into(), "http://a".into(), ttl)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back.epoch, 3);
    }

    #[tokio::test]
    async fn racing_replicas_get_exactly_one_lease() {
        let Some(target) = crate::store::testing::fresh_postgres() else {
            return;
        };
        let stores: Vec<Store> = (0..6)
            .map(|_| Store::open_postgres(&target).unwrap())
            .collect();
        let mut tasks = Vec::new();
        for (i, s) in stores.iter().enumerate() {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.claim_lease(format!("r{i}"), String::new(), Duration::from_secs(30))
                    .await
                    .unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap().is_some());
        }
        assert_eq!(won, 1);
    }
}
