//! Silences in SQLite: added, listed, expired early (the end moves to now).
//! Matchers are stored in Alertmanager's JSON form.

use super::db::{DbError, OptionalExtension, Row, params};
use chrono::{DateTime, Utc};

use super::{Store, StoreError, from_millis, to_millis};
use crate::alert::matcher::{Matcher, MatcherJson};
use crate::alert::{Fingerprint, Silence};

impl Store {
    pub async fn add_silence(&self, s: Silence) -> Result<(), StoreError> {
        self.run(move |c| {
            let matchers: Vec<MatcherJson> = s.matchers.iter().map(MatcherJson::from).collect();
            let now = to_millis(s.updated_at);
            c.execute(
                "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    s.id,
                    serde_json::to_string(&matchers).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    to_millis(s.starts_at),
                    to_millis(s.ends_at),
                    s.created_by,
                    s.comment,
                    now
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Silences that end after `since`, soonest end first.
    pub async fn silences(&self, since: DateTime<Utc>) -> Result<Vec<Silence>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > ?1 ORDER BY ends_at, id"
            ))?;
            let rows = stmt.query_map([to_millis(since)], silence_row)?;
            rows.map(|r| r?).collect()
        })
        .await
    }

    /// One silence, whatever its state.
    pub async fn silence(&self, id: String) -> Result<Option<Silence>, StoreError> {
        self.run(move |c| {
            let found = c
                .query_row(
                    &format!("SELECT {SILENCE_COLUMNS} FROM silences WHERE id = ?1"),
                    [&id],
                    silence_row,
                )
                .optional()?;
            found.transpose()
        })
        .await
    }

    /// Changes a silence in place (same id): its times, author and comment.
    pub async fn update_silence(&self, s: Silence) -> Result<(), StoreError> {
        self.run(move |c| {
            c.execute(
                "UPDATE silences SET starts_at = ?2, ends_at = ?3, created_by = ?4, comment = ?5, updated_at = ?6
                 WHERE id = ?1",
                params![
                    s.id,
                    to_millis(s.starts_at),
                    to_millis(s.ends_at),
                    s.created_by,
                    s.comment,
                    to_millis(s.updated_at)
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Ends a silence at `now` (if it has not ended yet); None if there is no
    /// such silence.
    pub async fn expire_silence(
        &self,
        id: String,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.run(move |c| {
            let at = to_millis(now);
            let ends: Option<i64> = c
                .query_row("SELECT ends_at FROM silences WHERE id = ?1", [&id], |r| {
                    r.get(0)
                })
                .optional()?;
            let Some(ends) = ends else { return Ok(None) };
            if ends <= at {
                return Ok(Some(from_millis(ends)));
            }
            c.execute(
                "UPDATE silences SET ends_at = ?2, starts_at = CASE WHEN starts_at < ?2 THEN starts_at ELSE ?2 END, updated_at = ?2 WHERE id = ?1",
                params![id, at],
            )?;
            Ok(Some(now))
        })
        .await
    }

    /// Targets that got an outbox row for an alert since `since` (its firing).
    pub async fn notified_targets_since(
        &self,
        fingerprint: Fingerprint,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT target FROM notifications WHERE fingerprint = ?1 AND created_at >= ?2",
            )?;
            let rows = stmt.query_map(params![fingerprint.to_string(), to_millis(since)], |r| {
                r.get::<_, String>(0)
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// For each alert (fingerprint, since when), in the order asked: per
    /// target, the rows written for it since then other than resolved
    /// notices, and when the last was written. One visit to the database.
    #[allow(clippy::type_complexity)]
    pub async fn notifications_per_target_since_each(
        &self,
        firings: Vec<(Fingerprint, DateTime<Utc>)>,
    ) -> Result<Vec<Vec<(String, u32, DateTime<Utc>)>>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT target, COUNT(*), MAX(created_at) FROM notifications
                 WHERE fingerprint = ?1 AND created_at >= ?2 AND kind != 'resolved' GROUP BY target",
            )?;
            let mut out = Vec::with_capacity(firings.len());
            for (fingerprint, since) in firings {
                let rows =
                    stmt.query_map(params![fingerprint.to_string(), to_millis(since)], |r| {
                        Ok((r.get(0)?, r.get(1)?, from_millis(r.get(2)?)))
                    })?;
                out.push(rows.collect::<Result<Vec<_>, _>>()?);
            }
            Ok(out)
        })
        .await
    }
}

const SILENCE_COLUMNS: &str = "id, matchers, starts_at, ends_at, created_by, comment, updated_at";

/// A row of [`SILENCE_COLUMNS`]; a row that does not make a silence is
/// [`StoreError::Corrupt`] naming it.
fn silence_row(r: &Row) -> Result<Result<Silence, StoreError>, DbError> {
    let id: String = r.get(0)?;
    let matchers: String = r.get(1)?;
    let corrupt = |e: String| StoreError::Corrupt(format!("silence {id}: {e}"));
    let json: Vec<MatcherJson> = match serde_json::from_str(&matchers) {
        Ok(j) => j,
        Err(e) => return Ok(Err(corrupt(e.to_string()))),
    };
    let matchers = match json
        .iter()
        .map(Matcher::try_from)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(m) => m,
        Err(e) => return Ok(Err(corrupt(e))),
    };
    Ok(Ok(Silence {
        matchers,
        starts_at: from_millis(r.get(2)?),
        ends_at: from_millis(r.get(3)?),
        created_by: r.get(4)?,
        comment: r.get(5)?,
        updated_at: from_millis(r.get(6)?),
        id,
    }))
}
