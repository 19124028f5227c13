//! Multi-row statements for PostgreSQL, where every statement is a round
//! trip to the server: the rows of a batch (pings, check states, trims) go
//! in a few statements of many rows instead of one statement each. SQLite
//! runs in-process, so the store keeps its one-row prepared statements
//! there.

use super::db::{Conn, DbError, Param};

/// At most this many parameters in one statement (PostgreSQL takes 65 535).
const MAX_PARAMS: usize = 30_000;

/// Rows of values for `(...), (...)` lists, each value cast to its column's
/// type (a `VALUES` list alone does not tell PostgreSQL the types).
pub(crate) struct BulkRows<'a> {
    types: Vec<&'static str>,
    values: Vec<Box<dyn Param + 'a>>,
}

impl<'a> BulkRows<'a> {
    /// `types`: the columns' PostgreSQL types, separated by spaces
    /// (`"int8 text float8"`).
    pub fn new(types: &'static str) -> BulkRows<'a> {
        BulkRows {
            types: types.split_whitespace().collect(),
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Box<dyn Param + 'a>>) {
        debug_assert_eq!(row.len(), self.types.len());
        self.values.extend(row);
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `(?1::int8, ?2::text), (?3::int8, ?4::text)`: `rows` rows.
    fn placeholders(&self, rows: usize) -> String {
        let mut out = String::new();
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                out.push_str(", ");
            }
            out.push('(');
            for (i, t) in self.types.iter().enumerate() {
                n += 1;
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&format!("?{n}::{t}"));
            }
            out.push(')');
        }
        out
    }

    /// Runs `sql`, whose `{rows}` becomes the rows, for every chunk of rows;
    /// with `RETURNING` of one BIGINT, the values returned.
    pub fn run(&self, c: &Conn, sql: &str) -> Result<Vec<i64>, DbError> {
        let per_chunk = (MAX_PARAMS / self.types.len()).max(1) * self.types.len();
        let mut out = Vec::new();
        for chunk in self.values.chunks(per_chunk) {
            let text = sql.replace("{rows}", &self.placeholders(chunk.len() / self.types.len()));
            let params: Vec<&dyn Param> = chunk.iter().map(|b| b.as_ref()).collect();
            let mut stmt = c.prepare(&text)?;
            if sql.contains("RETURNING") {
                for id in stmt.query_map(params.as_slice(), |r| r.get::<_, i64>(0))? {
                    out.push(id?);
                }
            } else {
                stmt.execute(params.as_slice())?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_and_cast_every_value() {
        let r = BulkRows::new("int8 text");
        assert_eq!(
            r.placeholders(2),
            "(?1::int8, ?2::text), (?3::int8, ?4::text)"
        );
    }
}
