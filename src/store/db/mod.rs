//! One connection to either database the store can live in: SQLite (a
//! file under `data_dir`, the default) or PostgreSQL (`database:
//! postgres://…`). The store's SQL is written once, in the dialect both
//! understand, with `?N` placeholders (rewritten to `$N` for PostgreSQL);
//! the few statements that differ ask [`Conn::is_postgres`].
//!
//! The calls mirror rusqlite's (`execute`, `query_row`, `prepare_cached`,
//! `query_map`, `transaction`) so that a store function reads the same for
//! both. Every call blocks: the store runs them on blocking threads.

mod postgres;
mod value;

use std::ops::Deref;

pub use self::postgres::{PgConn, PgTarget};
pub use value::{FromColumn, Param, Params, Value};

pub use crate::db_params as params;

/// What a database call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", postgres::describe(.0))]
    Postgres(#[from] ::postgres::Error),
    #[error("query returned no rows")]
    NoRows,
    #[error("{0}")]
    Type(String),
}

impl DbError {
    /// Whether the database could not be reached (as opposed to refusing
    /// one statement).
    pub fn is_unreachable(&self) -> bool {
        match self {
            DbError::Postgres(e) => postgres::is_connection_error(e),
            _ => false,
        }
    }
}

/// `.optional()` on a single-row query: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>, DbError>;
}

impl<T> OptionalExtension<T> for Result<T, DbError> {
    fn optional(self) -> Result<Option<T>, DbError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) | Err(DbError::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// A connection to one of the two databases.
pub enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

fn no_rows(e: rusqlite::Error) -> DbError {
    match e {
        rusqlite::Error::QueryReturnedNoRows => DbError::NoRows,
        e => DbError::Sqlite(e),
    }
}

impl Conn {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }

    /// The SQLite connection, for what only SQLite has (pragmas, checkpoints).
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Conn::Sqlite(c) => Some(c),
            Conn::Postgres(_) => None,
        }
    }

    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize, DbError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute(sql, rusqlite::params_from_iter(params.values()))?),
            Conn::Postgres(c) => c.execute(sql, &params.values()),
        }
    }

    /// Runs statements without parameters, separated by `;`.
    pub fn execute_batch(&self, sql: &str) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => c.execute_batch(sql),
        }
    }

    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T, DbError>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T, DbError>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// A statement prepared once per connection and kept.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>, DbError> {
        match self {
            Conn::Sqlite(c) => Ok(Statement::SqliteCached(c.prepare_cached(sql)?)),
            Conn::Postgres(c) => Ok(Statement::Postgres(c, c.prepare_cached(sql)?)),
        }
    }

    /// A statement prepared for this use only (its SQL is built at run time).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>, DbError> {
        match self {
            Conn::Sqlite(c) => Ok(Statement::Sqlite(c.prepare(sql)?)),
            Conn::Postgres(c) => Ok(Statement::Postgres(c, c.prepare(sql)?)),
        }
    }

    /// Starts a transaction; it rolls back unless committed.
    pub fn transaction(&mut self) -> Result<Transaction<'_>, DbError> {
        self.execute_batch("BEGIN")?;
        Ok(Transaction {
            conn: self,
            open: true,
        })
    }
}

/// An open transaction: every call of [`Conn`] through it, then `commit`.
pub struct Transaction<'c> {
    conn: &'c Conn,
    open: bool,
}

impl Deref for Transaction<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Transaction<'_> {
    pub fn commit(mut self) -> Result<(), DbError> {
        self.open = false;
        let done = self.conn.execute_batch("COMMIT");
        if done.is_err() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        done
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// A prepared statement.
pub enum Statement<'c> {
    SqliteCached(rusqlite::CachedStatement<'c>),
    Sqlite(rusqlite::Statement<'c>),
    Postgres(&'c PgConn, ::postgres::Statement),
}

impl<'c> Statement<'c> {
    fn sqlite(&mut self) -> Option<&mut rusqlite::Statement<'c>> {
        match self {
            Statement::SqliteCached(s) => Some(s),
            Statement::Sqlite(s) => Some(s),
            Statement::Postgres(..) => None,
        }
    }

    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize, DbError> {
        let values = params.values();
        if let Statement::Postgres(c, s) = self {
            return c.execute_prepared(s, &values);
        }
        let s = self.sqlite().ok_or(DbError::NoRows)?;
        Ok(s.execute(rusqlite::params_from_iter(values))?)
    }

    pub fn query_row<T, P, F>(&mut self, params: P, f: F) -> Result<T, DbError>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T, DbError>,
    {
        let values = params.values();
        if let Statement::Postgres(c, s) = self {
            let row = c
                .query(s, &values)?
                .into_iter()
                .next()
                .ok_or(DbError::NoRows)?;
            return f(&Row::Postgres(&row));
        }
        let s = self.sqlite().ok_or(DbError::NoRows)?;
        let mut rows = s.query(rusqlite::params_from_iter(values))?;
        match rows.next().map_err(no_rows)? {
            Some(r) => f(&Row::Sqlite(r)),
            None => Err(DbError::NoRows),
        }
    }

    /// Every row, each through `f`.
    pub fn query_map<T, P, F>(
        &mut self,
        params: P,
        mut f: F,
    ) -> Result<std::vec::IntoIter<Result<T, DbError>>, DbError>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T, DbError>,
    {
        let mut out = Vec::new();
        let mut rows = self.query(params)?;
        while let Some(r) = rows.next()? {
            out.push(f(&r));
        }
        Ok(out.into_iter())
    }

    /// The rows one at a time (SQLite reads them as they are asked for).
    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows<'_>, DbError> {
        let values = params.values();
        if let Statement::Postgres(c, s) = self {
            let rows = c.query(s, &values)?;
            return Ok(Rows::Postgres {
                rows: rows.into_iter(),
                current: None,
            });
        }
        let s = self.sqlite().ok_or(DbError::NoRows)?;
        Ok(Rows::Sqlite(s.query(rusqlite::params_from_iter(values))?))
    }
}

/// The rows of a query.
pub enum Rows<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres {
        rows: std::vec::IntoIter<::postgres::Row>,
        current: Option<::postgres::Row>,
    },
}

impl Rows<'_> {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>, DbError> {
        match self {
            Rows::Sqlite(rows) => Ok(rows.next()?.map(Row::Sqlite)),
            Rows::Postgres { rows, current } => {
                *current = rows.next();
                Ok(current.as_ref().map(Row::Postgres))
            }
        }
    }
}

/// One row of a result.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r ::postgres::Row),
}

/// A column's position (rusqlite's `get::<_, T>(i)` spelling).
pub trait ColumnIndex {
    fn index(self) -> usize;
}
impl ColumnIndex for usize {
    fn index(self) -> usize {
        self
    }
}

impl Row<'_> {
    pub fn get<I: ColumnIndex, T: FromColumn>(&self, i: I) -> Result<T, DbError> {
        let i = i.index();
        match self {
            Row::Sqlite(r) => Ok(r.get::<usize, T>(i)?),
            Row::Postgres(r) => match T::from_pg(r, i)? {
                Some(v) => Ok(v),
                None => T::null(i),
            },
        }
    }

    /// A text column without copying it; `None` for NULL.
    pub fn text(&self, i: usize) -> Result<Option<&str>, DbError> {
        match self {
            Row::Sqlite(r) => r
                .get_ref(i)?
                .as_str_or_null()
                .map_err(|e| DbError::Type(format!("column {i}: {e}"))),
            Row::Postgres(r) => r.try_get::<_, Option<&str>>(i).map_err(DbError::Postgres),
        }
    }

    /// A number column (integer or float) as f64; `None` for NULL.
    pub fn number(&self, i: usize) -> Result<Option<f64>, DbError> {
        self.get::<_, Option<f64>>(i)
    }

    /// A column as label text: text as it is, numbers and booleans written
    /// out; `None` for NULL; a blob is an error.
    pub fn label(&self, i: usize) -> Result<Option<String>, DbError> {
        match self {
            Row::Sqlite(r) => Ok(match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => None,
                rusqlite::types::ValueRef::Integer(n) => Some(n.to_string()),
                rusqlite::types::ValueRef::Real(x) => Some(x.to_string()),
                rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                rusqlite::types::ValueRef::Blob(_) => {
                    return Err(DbError::Type(
                        "a blob; labels must be text or numbers".into(),
                    ));
                }
            }),
            Row::Postgres(r) => value::pg_label(r, i),
        }
    }

    /// The column names of the row.
    pub fn column_names(&self) -> Vec<String> {
        match self {
            Row::Sqlite(r) => r
                .as_ref()
                .column_names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            Row::Postgres(r) => r.columns().iter().map(|c| c.name().to_string()).collect(),
        }
    }
}
