//! For tests: the store on each backend. SQLite in a temporary folder, and
//! PostgreSQL in a database of its own on the test run's server
//! (`TOCSIN_TEST_POSTGRES_URL`, which `scripts/test.sh` sets). With
//! `CI=true` a missing server fails the test instead of leaving it out.

use std::path::Path;

use super::{Database, PgTarget, Store};

/// A new, empty PostgreSQL database on the test server, or `None` outside
/// CI when there is no server.
pub fn fresh_postgres() -> Option<PgTarget> {
    let Ok(url) = std::env::var("TOCSIN_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and no TOCSIN_TEST_POSTGRES_URL: start the test servers with scripts/testenv.sh"
        );
        return None;
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = PgTarget::parse(&url, None).expect("TOCSIN_TEST_POSTGRES_URL");
    // The client blocks, which an async test's thread must not do.
    std::thread::scope(|s| {
        s.spawn(|| {
            let conn = super::Conn::Postgres(Box::new(
                admin.connect().expect("connect to the test PostgreSQL"),
            ));
            conn.execute_batch(&format!("CREATE DATABASE {name}"))
                .expect("CREATE DATABASE");
        })
        .join()
        .expect("CREATE DATABASE thread")
    });
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    Some(PgTarget::parse(&format!("{base}/{name}"), None).expect("test database URL"))
}

/// The databases a store test runs on: SQLite under `dir`, and a fresh
/// PostgreSQL database when there is a server.
pub fn databases(dir: &Path) -> Vec<Database> {
    let mut out = vec![Database::Sqlite(dir.join("t.db"))];
    if let Some(t) = fresh_postgres() {
        out.push(Database::Postgres(t));
    }
    out
}

/// [`databases`], opened.
pub fn stores(dir: &Path) -> Vec<Store> {
    databases(dir)
        .iter()
        .map(|d| Store::open_database(d).expect("open the test store"))
        .collect()
}

/// Two stores (two replicas' connections) on one fresh PostgreSQL
/// database, when there is a server.
pub fn two_replicas() -> Option<(Store, Store)> {
    let target = fresh_postgres()?;
    let open = || Store::open_postgres(&target).expect("open the test store");
    Some((open(), open()))
}
