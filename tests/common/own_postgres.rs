//! A PostgreSQL server of one test's own (started by `scripts/testenv.sh
//! postgres` in a temp dir, as an unprivileged user, on loopback), so the
//! test can stop and start it without disturbing any other test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A PostgreSQL server of this test's own, stopped when dropped.
pub struct OwnPostgres {
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl OwnPostgres {
    pub fn start() -> OwnPostgres {
        if std::env::var("TOCSIN_TEST_POSTGRES_URL").is_err()
            && std::env::var("CI").as_deref() == Ok("true")
        {
            panic!("CI=true but no PostgreSQL: run the suite with scripts/test.sh");
        }
        let dir = tempfile::Builder::new()
            .prefix("tocsin-test-pg-")
            .tempdir()
            .unwrap()
            .keep();
        let status = std::process::Command::new("bash")
            .arg(super::repo().join("scripts/testenv.sh"))
            .arg("postgres")
            .arg(&dir)
            .arg(std::process::id().to_string())
            .status()
            .expect("run scripts/testenv.sh postgres");
        assert!(status.success(), "scripts/testenv.sh postgres failed");
        let env = std::fs::read_to_string(dir.join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OwnPostgres { dir, env }
    }

    fn var(&self, k: &str) -> &str {
        self.env
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{k} missing from testenv"))
    }

    pub fn url(&self) -> &str {
        self.var("TOCSIN_TEST_POSTGRES_URL")
    }

    /// `pg_ctl ACTION` as the server's user (fast shutdown: sessions end).
    pub fn pg_ctl(&self, action: &str) {
        let bin = Path::new(self.var("TOCSIN_TEST_POSTGRES_BIN")).join("pg_ctl");
        let user = self.var("TOCSIN_TEST_POSTGRES_USER");
        let mut cmd = if user.is_empty() {
            std::process::Command::new(bin)
        } else {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", user, "--"]).arg(bin);
            c
        };
        let status = cmd
            .args(["-D", self.var("TOCSIN_TEST_POSTGRES_DATA")])
            .args(["-l", self.var("TOCSIN_TEST_POSTGRES_LOG")])
            .args(["-m", "fast", "-w", "-t", "30", action])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run pg_ctl");
        assert!(status.success(), "pg_ctl {action} failed");
    }

    /// Runs one query on the server and returns the first column of the
    /// first row (off the async threads: the client blocks).
    pub fn count(&self, sql: &str) -> i64 {
        let url = self.url().to_string();
        let sql = sql.to_string();
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.query_one(sql.as_str(), &[]).unwrap().get::<_, i64>(0)
        })
        .join()
        .unwrap()
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(super::repo().join("scripts/testenv.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
