//! The schema: `migrations/sqlite/` (rusqlite_migration, counted in
//! `user_version`) and `migrations/postgres/` (recorded by name in
//! `tocsin_migrations`). Each folder holds an `up.sql`; folders apply in
//! name order, each once. A schema change adds one folder per backend.

use include_dir::{Dir, include_dir};
use rusqlite_migration::Migrations;

use super::db::{Conn, DbError, OptionalExtension, params};

pub(super) static SQLITE: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations/sqlite");
static POSTGRES: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations/postgres");

/// The `up.sql` of every folder of `dir`, in name order.
fn steps(dir: &'static Dir<'static>) -> Result<Vec<(String, &'static str)>, String> {
    let mut dirs: Vec<&'static Dir<'static>> = dir.dirs().collect();
    dirs.sort_by_key(|d| d.path());
    let mut out = Vec::new();
    for d in dirs {
        let name = d
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let up = d
            .get_file(d.path().join("up.sql"))
            .and_then(|f| f.contents_utf8())
            .ok_or_else(|| format!("migration {name} has no up.sql"))?;
        out.push((name, up));
    }
    if out.is_empty() {
        return Err("migrations/ holds no migration".into());
    }
    Ok(out)
}

/// The SQLite migrations. The order is what counts, not consecutive
/// numbers: a number left free for a branch still to be merged is no error.
pub(super) fn sqlite() -> Result<Migrations<'static>, rusqlite_migration::Error> {
    let steps = steps(&SQLITE).map_err(rusqlite_migration::Error::FileLoad)?;
    let mut out = Vec::new();
    for (name, up) in steps {
        let mut m = match name.as_str() {
            "07-identity" => rusqlite_migration::M::up_with_hook(up, super::rekey::rekey_alerts),
            _ => rusqlite_migration::M::up(up),
        };
        if let Some(down) = SQLITE
            .get_file(format!("{name}/down.sql"))
            .and_then(|f| f.contents_utf8())
        {
            m = m.down(down);
        }
        out.push(m);
    }
    Ok(Migrations::new(out))
}

/// Arbitrary, fixed: the advisory lock replicas take to migrate in turn.
const MIGRATION_LOCK: i64 = 0x746f_6373_696e_0001;

/// Brings a PostgreSQL database up to date, in one transaction. Replicas
/// starting together wait for each other's lock, and the later ones find
/// the work done.
pub(super) fn postgres(c: &mut Conn) -> Result<(), DbError> {
    let steps = steps(&POSTGRES).map_err(DbError::Type)?;
    let tx = c.transaction()?;
    tx.query_row(
        "SELECT pg_advisory_xact_lock(?1)",
        params![MIGRATION_LOCK],
        |_| Ok(()),
    )?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS tocsin_migrations (
             name TEXT PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )",
    )?;
    let done: Vec<String> = tx
        .prepare("SELECT name FROM tocsin_migrations ORDER BY name")?
        .query_map(params![], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if let Some(unknown) = done.iter().find(|d| !steps.iter().any(|(n, _)| n == *d)) {
        return Err(DbError::Type(format!(
            "the database was migrated by a newer tocsin (migration {unknown}); this one knows up to {}",
            steps.last().map(|s| s.0.as_str()).unwrap_or("")
        )));
    }
    for (name, up) in &steps {
        let applied = tx
            .query_row(
                "SELECT 1 FROM tocsin_migrations WHERE name = ?1",
                params![name],
                |r| r.get::<_, i64>(0),
            )
            .optional()?;
        if applied.is_some() {
            continue;
        }
        tracing::info!(migration = %name, "applying PostgreSQL migration");
        tx.execute_batch(up)
            .map_err(|e| DbError::Type(format!("migration {name}: {e}")))?;
        tx.execute(
            "INSERT INTO tocsin_migrations (name, applied_at) VALUES (?1, ?2)",
            params![name, chrono::Utc::now().timestamp_millis()],
        )?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(sqlite().unwrap().validate().is_ok());
        assert!(!steps(&POSTGRES).unwrap().is_empty());
    }
}
