//! What crosses the database boundary: a parameter ([`Param`], turned into
//! a [`Value`] that both SQLite and PostgreSQL bind) and a column read back
//! ([`FromColumn`]). Integers are bound as 64-bit (the PostgreSQL schema
//! uses BIGINT throughout); booleans as 0/1 where the column is an integer.

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use rusqlite::types::{ToSqlOutput, ValueRef};

use super::DbError;

/// One bound parameter.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Something that can be bound as a parameter.
pub trait Param {
    fn value(&self) -> Value<'_>;
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                // Wider than i64 (u64, usize beyond i64::MAX) saturates.
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_param!(i64, i32, i16, u8, u16, u32, u64, usize);

impl Param for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}
impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Bool(*self)
    }
}
impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}
impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}
impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}
impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}
impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}
impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

/// A statement's parameters: `params![a, b]`, `[x]`, or `[]`.
pub trait Params {
    fn values(&self) -> Vec<Value<'_>>;
}

impl Params for [&dyn Param; 0] {
    fn values(&self) -> Vec<Value<'_>> {
        Vec::new()
    }
}
impl Params for &[&dyn Param] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|p| p.value()).collect()
    }
}
impl Params for &[Box<dyn Param + '_>] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|p| p.value()).collect()
    }
}
macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: Param> Params for [T; $n] {
            fn values(&self) -> Vec<Value<'_>> {
                self.iter().map(Param::value).collect()
            }
        }
    )*};
}
array_params!(
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24
);

impl Params for Vec<Value<'_>> {
    fn values(&self) -> Vec<Value<'_>> {
        self.clone()
    }
}

/// `params![a, b, ...]`: parameters of different types, by reference.
#[macro_export]
macro_rules! db_params {
    () => { [] as [&dyn $crate::store::db::Param; 0] };
    ($($p:expr),+ $(,)?) => { [$(&$p as &dyn $crate::store::db::Param),+] };
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(n) => ValueRef::Integer(n),
            Value::Real(x) => ValueRef::Real(x),
            Value::Bool(b) => ValueRef::Integer(i64::from(b)),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// PostgreSQL decides each parameter's type from the statement; a value is
/// written as that type when it fits (an integer into INT4, a boolean into
/// BIGINT, a number into TEXT).
impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = || -> Box<dyn std::error::Error + Sync + Send> {
            format!("cannot bind {self:?} as {ty}").into()
        };
        let int = match *self {
            Value::Null => return Ok(IsNull::Yes),
            Value::Int(n) => Some(n),
            Value::Bool(b) => Some(i64::from(b)),
            _ => None,
        };
        match (ty, *self) {
            (&Type::INT8, _) if int.is_some() => int.unwrap_or_default().to_sql(ty, out),
            (&Type::INT4, _) if int.is_some() => i32::try_from(int.unwrap_or_default())
                .map_err(|_| mismatch())?
                .to_sql(ty, out),
            (&Type::INT2, _) if int.is_some() => i16::try_from(int.unwrap_or_default())
                .map_err(|_| mismatch())?
                .to_sql(ty, out),
            (&Type::BOOL, _) if int.is_some() => (int != Some(0)).to_sql(ty, out),
            (&Type::FLOAT8, Value::Real(x)) => x.to_sql(ty, out),
            (&Type::FLOAT8, _) if int.is_some() => (int.unwrap_or_default() as f64).to_sql(ty, out),
            (&Type::FLOAT4, Value::Real(x)) => (x as f32).to_sql(ty, out),
            (&Type::BYTEA, Value::Blob(b)) => b.to_sql(ty, out),
            (&Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME | &Type::UNKNOWN, v) => {
                match v {
                    Value::Text(s) => s.to_sql(&Type::TEXT, out),
                    Value::Int(n) => n.to_string().as_str().to_sql(&Type::TEXT, out),
                    Value::Real(x) => x.to_string().as_str().to_sql(&Type::TEXT, out),
                    _ => Err(mismatch()),
                }
            }
            (&Type::JSON, Value::Text(s)) => s.to_sql(&Type::TEXT, out),
            (&Type::JSONB, Value::Text(s)) => {
                // The binary form of jsonb is a version byte and the text.
                out.extend_from_slice(&[1]);
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            _ => Err(mismatch()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column read back, from either database.
pub trait FromColumn: rusqlite::types::FromSql + Sized {
    /// `None` for SQL NULL.
    fn from_pg(row: &postgres::Row, i: usize) -> Result<Option<Self>, DbError>;
    /// What a NULL becomes (an error unless this is an `Option`).
    fn null(i: usize) -> Result<Self, DbError> {
        Err(DbError::Type(format!("column {i} is NULL")))
    }
}

fn pg<'a, T: postgres::types::FromSql<'a>>(
    row: &'a postgres::Row,
    i: usize,
) -> Result<Option<T>, DbError> {
    row.try_get::<_, Option<T>>(i).map_err(DbError::Postgres)
}

fn pg_int(row: &postgres::Row, i: usize) -> Result<Option<i64>, DbError> {
    Ok(match column_type(row, i)? {
        Type::INT8 => pg::<i64>(row, i)?,
        Type::INT4 => pg::<i32>(row, i)?.map(i64::from),
        Type::INT2 => pg::<i16>(row, i)?.map(i64::from),
        Type::BOOL => pg::<bool>(row, i)?.map(i64::from),
        other => {
            return Err(DbError::Type(format!(
                "column {i} is a {other}, not a number (cast it with ::double precision or ::bigint)"
            )));
        }
    })
}

/// A PostgreSQL column as label text (see `Row::label`).
pub(super) fn pg_label(row: &postgres::Row, i: usize) -> Result<Option<String>, DbError> {
    let ty = column_type(row, i)?;
    Ok(match ty {
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => pg::<String>(row, i)?,
        Type::BOOL => pg::<bool>(row, i)?.map(|b| b.to_string()),
        Type::FLOAT8 | Type::FLOAT4 => f64::from_pg(row, i)?.map(|x| x.to_string()),
        Type::INT8 | Type::INT4 | Type::INT2 => pg_int(row, i)?.map(|n| n.to_string()),
        other => {
            return Err(DbError::Type(format!(
                "a {other}; labels must be text or numbers (cast it with ::text)"
            )));
        }
    })
}

fn column_type(row: &postgres::Row, i: usize) -> Result<Type, DbError> {
    Ok(row
        .columns()
        .get(i)
        .ok_or_else(|| DbError::Type(format!("no column {i}")))?
        .type_()
        .clone())
}

macro_rules! int_column {
    ($($t:ty),*) => {$(
        impl FromColumn for $t {
            fn from_pg(row: &postgres::Row, i: usize) -> Result<Option<Self>, DbError> {
                pg_int(row, i)?
                    .map(|n| <$t>::try_from(n).map_err(|_| DbError::Type(format!("column {i}: {n} out of range"))))
                    .transpose()
            }
        }
    )*};
}
int_column!(i64, i32, u8, u16, u32);

impl FromColumn for bool {
    fn from_pg(row: &postgres::Row, i: usize) -> Result<Option<Self>, DbError> {
        Ok(pg_int(row, i)?.map(|n| n != 0))
    }
}

impl FromColumn for f64 {
    fn from_pg(row: &postgres::Row, i: usize) -> Result<Option<Self>, DbError> {
        match row.columns().get(i).map(|c| c.type_().clone()) {
            Some(Type::FLOAT8) => pg::<f64>(row, i),
            Some(Type::FLOAT4) => Ok(pg::<f32>(row, i)?.map(f64::from)),
            _ => Ok(pg_int(row, i)?.map(|n| n as f64)),
        }
    }
}

impl FromColumn for String {
    fn from_pg(row: &postgres::Row, i: usize) -> Result<Option<Self>, DbError> {
        pg::<String>(row, i)
    }
}

impl FromColumn for Vec<u8> {
    fn from_pg(row: &postgres::Row, i: usize) -> Result<Option<Self>, DbError> {
        pg::<Vec<u8>>(row, i)
    }
}

impl<T: FromColumn> FromColumn for Option<T> {
    fn from_pg(row: &postgres::Row, i: usize) -> Result<Option<Self>, DbError> {
        Ok(Some(T::from_pg(row, i)?))
    }
    fn null(_: usize) -> Result<Self, DbError> {
        Ok(None)
    }
}
