//! The PostgreSQL connection: the blocking `postgres` client (it runs its
//! own small runtime, so it is used only from blocking threads), statements
//! prepared once and kept, `?N` placeholders rewritten to `$N`, and a new
//! connection made on the next call after the server went away (a restart,
//! a failover of a replicated PostgreSQL).

use std::cell::{RefCell, RefMut};
use std::collections::HashMap;

use postgres::types::ToSql;

use super::{DbError, Value};

/// Where a PostgreSQL database is: its URL, which may carry a password. The
/// URL is never shown: [`PgTarget::display`] is what messages say.
#[derive(Clone)]
pub struct PgTarget {
    config: std::sync::Arc<postgres::Config>,
    shown: String,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PgTarget {
    /// Parses a `postgres://user:password@host:port/db?…` URL; `password`,
    /// when given, replaces the URL's (it came from `${ENV}` or a file).
    pub fn parse(url: &str, password: Option<&str>) -> Result<PgTarget, String> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| format!("not a PostgreSQL URL: {}", describe(&e)))?;
        if let Some(p) = password {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        config.application_name("tocsin");
        // The server's NOTICEs ("relation ... already exists, skipping")
        // are not worth a log line; warnings and errors still come.
        if config.get_options().is_none() {
            config.options("-c client_min_messages=warning");
        }
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                postgres::config::Host::Tcp(h) => h.clone(),
                postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .collect();
        let ports = config.get_ports();
        let port = ports.first().copied().unwrap_or(5432);
        let shown = format!(
            "postgres://{}@{}:{}/{}",
            config.get_user().unwrap_or(""),
            hosts.join(","),
            port,
            config.get_dbname().unwrap_or("")
        );
        Ok(PgTarget {
            config: std::sync::Arc::new(config),
            shown,
        })
    }

    /// The URL without its password, for messages and the API.
    pub fn display(&self) -> &str {
        &self.shown
    }

    pub fn connect(&self) -> Result<PgConn, DbError> {
        let client = connect_off_runtime(&self.config)?;
        Ok(PgConn {
            target: self.clone(),
            client: RefCell::new(Some(client)),
            statements: RefCell::new(HashMap::new()),
        })
    }
}

/// The `postgres` client starts a runtime of its own, which tokio refuses
/// inside one of its workers: outside one, connect here; inside, on a
/// thread of its own.
fn connect_off_runtime(config: &postgres::Config) -> Result<postgres::Client, DbError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(config.connect(postgres::NoTls)?);
    }
    std::thread::scope(|s| {
        s.spawn(move || config.connect(postgres::NoTls))
            .join()
            .map_err(|_| DbError::Type("the connecting thread panicked".into()))?
            .map_err(DbError::Postgres)
    })
}

/// One PostgreSQL connection.
pub struct PgConn {
    target: PgTarget,
    /// `None` after a close, until the next call connects again.
    client: RefCell<Option<postgres::Client>>,
    /// Prepared statements by their SQL as written (with `?N`).
    statements: RefCell<HashMap<String, postgres::Statement>>,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Closing runs the client's runtime, which must not happen on an
        // async worker.
        if let Some(client) = self.client.get_mut().take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            std::thread::spawn(move || drop(client));
        }
    }
}

fn params<'a>(values: &'a [Value<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl PgConn {
    pub fn target(&self) -> &PgTarget {
        &self.target
    }

    /// The client, connected again if the last one was lost.
    fn client(&self) -> Result<RefMut<'_, postgres::Client>, DbError> {
        let mut slot = self.client.borrow_mut();
        if slot.as_ref().is_none_or(|c| c.is_closed()) {
            self.statements.borrow_mut().clear();
            *slot = Some(connect_off_runtime(&self.target.config)?);
        }
        RefMut::filter_map(slot, Option::as_mut)
            .map_err(|_| DbError::Type("no PostgreSQL connection".into()))
    }

    /// Forgets a connection that failed, so the next call makes a new one.
    fn after<T>(&self, r: Result<T, postgres::Error>) -> Result<T, DbError> {
        r.map_err(|e| {
            if is_connection_error(&e) {
                if let Ok(mut slot) = self.client.try_borrow_mut() {
                    *slot = None;
                }
                if let Ok(mut s) = self.statements.try_borrow_mut() {
                    s.clear();
                }
            }
            DbError::Postgres(e)
        })
    }

    pub(super) fn prepare(&self, sql: &str) -> Result<postgres::Statement, DbError> {
        let text = placeholders(sql);
        let r = self.client()?.prepare(&text);
        self.after(r)
    }

    pub(super) fn prepare_cached(&self, sql: &str) -> Result<postgres::Statement, DbError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.prepare(sql)?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), s.clone());
        Ok(s)
    }

    pub(super) fn execute(&self, sql: &str, values: &[Value<'_>]) -> Result<usize, DbError> {
        let s = self.prepare_cached(sql)?;
        self.execute_prepared(&s, values)
    }

    pub(super) fn execute_prepared(
        &self,
        s: &postgres::Statement,
        values: &[Value<'_>],
    ) -> Result<usize, DbError> {
        let r = self.client()?.execute(s, &params(values));
        self.after(r).map(|n| n as usize)
    }

    pub(super) fn execute_batch(&self, sql: &str) -> Result<(), DbError> {
        let r = self.client()?.batch_execute(sql);
        self.after(r)
    }

    pub(super) fn query(
        &self,
        s: &postgres::Statement,
        values: &[Value<'_>],
    ) -> Result<Vec<postgres::Row>, DbError> {
        let r = self.client()?.query(s, &params(values));
        self.after(r)
    }

    /// Column names of a statement, without running it.
    pub fn columns(&self, sql: &str) -> Result<Vec<String>, DbError> {
        Ok(self
            .prepare(sql)?
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect())
    }
}

/// `?N` → `$N` and `?` → the next `$N`, outside quotes.
pub(crate) fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 0u32;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    next += 1;
                    out.push_str(&next.to_string());
                } else {
                    out.push_str(&digits);
                }
            }
            None => out.push(c),
        }
    }
    out
}

/// A PostgreSQL error as a message: the server's own words when it
/// answered (severity, message, detail), else the client's.
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            s
        }
        None => {
            let source = std::error::Error::source(e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            format!("{e}{source}")
        }
    }
}

/// Whether `e` means the connection is gone (or never came up), so the
/// next call should make a new one.
pub(crate) fn is_connection_error(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        // Class 08: connection exception; 57P01..57P03: the server shuts
        // down or is starting.
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_outside_quotes() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE b = ?1 AND c = ?12 AND d = '?' AND \"?x\" = ?2"),
            "SELECT a FROM t WHERE b = $1 AND c = $12 AND d = '?' AND \"?x\" = $2"
        );
        assert_eq!(
            placeholders("VALUES (?, ?, 'it''s ?')"),
            "VALUES ($1, $2, 'it''s ?')"
        );
    }

    #[test]
    fn a_target_never_shows_its_password() {
        let t = PgTarget::parse("postgres://tocsin:s3cret@127.0.0.1:5433/alerts", None).unwrap();
        assert_eq!(t.display(), "postgres://tocsin@127.0.0.1:5433/alerts");
        assert!(!format!("{t:?}").contains("s3cret"));
        let t = PgTarget::parse("postgres://tocsin@db/alerts", Some("other")).unwrap();
        assert_eq!(t.display(), "postgres://tocsin@db:5432/alerts");
        let err = PgTarget::parse("postgres://a:b@h:notaport/x", None).unwrap_err();
        assert!(err.contains("not a PostgreSQL URL"), "{err}");
        assert!(!err.contains(":b@"), "{err}");
    }
}
