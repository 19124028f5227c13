//! Pings a standby took while no leader answered it (PostgreSQL only,
//! table `ping_inbox`). The standby writes one row before it answers the
//! client; the next leader reads them in order, replays each through its
//! ping writer, and deletes those it has replayed.

use chrono::{DateTime, Utc};

use super::db::{Row, params};
use super::{Store, StoreError, from_millis, to_millis};

/// One ping as the standby received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedPing {
    /// Set by the database (0 before it is queued).
    pub id: i64,
    pub received_at: DateTime<Utc>,
    /// The standby's name in the lease.
    pub received_by: String,
    pub method: String,
    /// Path and query, as the client sent them.
    pub path: String,
    pub remote_addr: Option<String>,
    pub user_agent: Option<String>,
    /// The kept part of the body (at most `heartbeat.ping_body_limit`).
    pub body: Vec<u8>,
    /// Bytes received.
    pub body_size: u64,
}

fn read_queued(r: &Row<'_>) -> Result<QueuedPing, super::DbError> {
    Ok(QueuedPing {
        id: r.get(0)?,
        received_at: from_millis(r.get(1)?),
        received_by: r.get(2)?,
        method: r.get(3)?,
        path: r.get(4)?,
        remote_addr: r.get(5)?,
        user_agent: r.get(6)?,
        body: r.get(7)?,
        body_size: u64::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
    })
}

impl Store {
    /// Queues `ping` (its `id` is ignored); returns once it is committed.
    pub async fn queue_ping(&self, ping: QueuedPing) -> Result<(), StoreError> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO ping_inbox (received_at, received_by, method, path, remote_addr, user_agent, body, body_size)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    to_millis(ping.received_at),
                    ping.received_by,
                    ping.method,
                    ping.path,
                    ping.remote_addr,
                    ping.user_agent,
                    ping.body,
                    i64::try_from(ping.body_size).unwrap_or(i64::MAX),
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// The oldest `limit` queued pings, oldest first.
    pub async fn queued_pings(&self, limit: usize) -> Result<Vec<QueuedPing>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, received_at, received_by, method, path, remote_addr, user_agent, body, body_size
                 FROM ping_inbox ORDER BY id LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit], read_queued)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Deletes the queued pings up to `last_id`, once they are replayed.
    pub async fn forget_queued_pings(&self, last_id: i64) -> Result<u64, StoreError> {
        self.run(move |c| {
            Ok(c.execute("DELETE FROM ping_inbox WHERE id <= ?1", params![last_id])? as u64)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping(path: &str, at: DateTime<Utc>) -> QueuedPing {
        QueuedPing {
            id: 0,
            received_at: at,
            received_by: "standby".into(),
            method: "POST".into(),
            path: path.into(),
            remote_addr: Some("192.0.2.7".into()),
            user_agent: None,
            body: b"output".to_vec(),
            body_size: 6000,
        }
    }

    #[tokio::test]
    async fn queued_pings_come_back_in_order_until_forgotten() {
        let Some(target) = crate::store::testing::fresh_postgres() else {
            return;
        };
        let store = Store::open_postgres(&target).unwrap();
        let at = from_millis(to_millis(Utc::now()));
        for i in 0..3 {
            store
                .queue_ping(ping(&format!("/ping/{i}?rid=x"), at))
                .await
                .unwrap();
        }
        let queued = store.queued_pings(2).await.unwrap();
        let paths: Vec<_> = queued.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/ping/0?rid=x", "/ping/1?rid=x"]);
        assert_eq!(
            QueuedPing {
                id: 0,
                ..queued[0].clone()
            },
            ping("/ping/0?rid=x", at),
            "stored as given"
        );
        assert_eq!(store.forget_queued_pings(queued[1].id).await.unwrap(), 2);
        let left = store.queued_pings(10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].path, "/ping/2?rid=x");
    }
}
