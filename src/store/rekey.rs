//! The hook of migration `07-identity`: recomputes every stored alert
//! fingerprint with today's identity (group + every label, `severity`
//! included). Releases before it left `severity` out of the fingerprint, so
//! a Prometheus-format alert with a `severity` label, or a posted one, had a
//! different key. Every table that names an alert by fingerprint is moved to
//! the new key in the migration's transaction: state, `for` timers, history
//! and the outbox (which decides who hears the resolve) stay with the alert.

use std::collections::HashMap;

use rusqlite::{Transaction, params};

use crate::alert::{Fingerprint, Labels};

/// Moves every alert whose stored fingerprint differs from its identity.
pub(super) fn rekey_alerts(tx: &Transaction) -> rusqlite_migration::HookResult {
    // old fingerprint -> new, from the alerts and from the history (alerts
    // no longer active still have history and sent notifications).
    let mut moves: HashMap<String, String> = HashMap::new();
    for table in ["alerts", "alert_events"] {
        let mut stmt = tx.prepare(&format!(
            "SELECT DISTINCT fingerprint, rule_group, labels FROM {table}"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (old, group, labels) = row?;
            // A row whose labels cannot be read keeps its key (the daemon
            // reports it as corrupt when it loads it, as before).
            let Ok(labels) = serde_json::from_str::<Labels>(&labels) else {
                continue;
            };
            let new = Fingerprint::of_alert(&group, &labels).to_string();
            if new != old {
                moves.entry(old).or_insert(new);
            }
        }
    }
    let statements = [
        "UPDATE alerts SET fingerprint = ?2 WHERE fingerprint = ?1",
        "UPDATE alert_events SET fingerprint = ?2 WHERE fingerprint = ?1",
        "UPDATE external_alerts SET fingerprint = ?2 WHERE fingerprint = ?1",
        "UPDATE notifications SET fingerprint = ?2,
             payload = CASE WHEN json_valid(payload)
                 THEN json_set(payload, '$.fingerprint', ?2) ELSE payload END
         WHERE fingerprint = ?1",
    ];
    for sql in statements {
        let mut stmt = tx.prepare(sql)?;
        for (old, new) in &moves {
            stmt.execute(params![old, new])?;
        }
    }
    tracing::info!(
        moved = moves.len(),
        "alert fingerprints now include every label (severity too)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use crate::alert::{Fingerprint, Labels};

    /// The fingerprint releases before `07-identity` gave an alert.
    fn old_fingerprint(group: &str, labels: &Labels) -> Fingerprint {
        let mut without = labels.clone();
        without.remove("severity");
        Fingerprint::of_alert(group, &without)
    }

    #[test]
    fn moves_prometheus_alerts_and_keeps_native_ones() {
        let mut conn = Connection::open_in_memory().unwrap();
        let migrations = super::super::migrate::sqlite().unwrap();
        migrations.to_version(&mut conn, 6).unwrap();
        let labelled: Labels = [("alertname", "Disk"), ("severity", "critical")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let native: Labels = [("alertname", "Conn"), ("deployment", "d1")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let old = old_fingerprint("g", &labelled).to_string();
        let kept = old_fingerprint("g", &native).to_string();
        for (fp, labels) in [(&old, &labelled), (&kept, &native)] {
            let labels = serde_json::to_string(labels).unwrap();
            conn.execute(
                "INSERT INTO alerts (fingerprint, rule_group, alert, labels, state, severity,
                     active_at, fired_at, updated_at)
                 VALUES (?1, 'g', 'A', ?2, 'firing', 'error', 1, 2, 3)",
                rusqlite::params![fp, labels],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO notifications (target, fingerprint, kind, payload, status,
                     next_attempt_at, created_at)
                 VALUES ('t', ?1, 'firing', json_object('fingerprint', ?1), 'sent', 0, 0)",
                [fp],
            )
            .unwrap();
        }
        migrations.to_latest(&mut conn).unwrap();

        let new = Fingerprint::of_alert("g", &labelled).to_string();
        assert_ne!(new, old, "severity is part of the identity now");
        let rows: Vec<(String, String, i64)> = conn
            .prepare(
                "SELECT a.fingerprint, a.format, (SELECT count(*) FROM notifications AS n
                     WHERE n.fingerprint = a.fingerprint
                       AND json_extract(n.payload, '$.fingerprint') = a.fingerprint)
                 FROM alerts AS a ORDER BY a.alert, a.fingerprint",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut want = vec![
            (new, "prometheus".to_string(), 1),
            (kept, "native".to_string(), 1),
        ];
        want.sort();
        let mut got = rows;
        got.sort();
        assert_eq!(got, want);
    }
}
