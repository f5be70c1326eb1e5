//! Between SQLite values and rangesync's [`Value`].

use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};
use sqlx::{Decode, Row, TypeInfo, ValueRef};

use super::typed::{interpret, render, Kind, Stored};
use crate::engine::error::StoreError;
use crate::engine::value::Value;

pub type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

/// Reads column `i` of `row` by its storage class (SQLite types values,
/// not columns), then as the column's declared kind when the stored value is
/// in that kind's form (see [`super::typed`]), exactly as the hash functions
/// read it.
pub fn decode(row: &SqliteRow, i: usize, kind: Kind, what: &str) -> Result<Value, StoreError> {
    let v = decode_raw(row, i, what)?;
    if kind == Kind::Raw {
        return Ok(v);
    }
    let stored = match &v {
        Value::Int(i) => Stored::Int(*i),
        Value::Float(f) => Stored::Real(*f),
        Value::Text(t) => Stored::Text(t.as_bytes()),
        Value::Blob(b) => Stored::Blob(b),
        _ => Stored::Null,
    };
    Ok(interpret(kind, &stored).unwrap_or(v))
}

fn decode_raw(row: &SqliteRow, i: usize, what: &str) -> Result<Value, StoreError> {
    let raw = row.try_get_raw(i).map_err(|e| invalid(what, i, e))?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().name().to_string();
    let v = match kind.as_str() {
        "INTEGER" => Value::Int(<i64 as Decode<Sqlite>>::decode(raw).map_err(|e| invalid(what, i, e))?),
        "REAL" => Value::Float(<f64 as Decode<Sqlite>>::decode(raw).map_err(|e| invalid(what, i, e))?),
        "TEXT" => {
            let bytes = <Vec<u8> as Decode<Sqlite>>::decode(raw).map_err(|e| invalid(what, i, e))?;
            Value::Text(String::from_utf8(bytes).map_err(|_| {
                StoreError::Invalid(format!("{what}: column {} holds text that is not valid UTF-8", i + 1))
            })?)
        }
        _ => Value::Blob(<Vec<u8> as Decode<Sqlite>>::decode(raw).map_err(|e| invalid(what, i, e))?),
    };
    Ok(v)
}

fn invalid(what: &str, i: usize, e: impl std::fmt::Display) -> StoreError {
    StoreError::Read { context: format!("{what}, column {}", i + 1), reason: e.to_string(), retryable: false, cause: None }
}

/// Binds a value as the SQLite storage class that holds it without loss.
/// Values of richer stores are stored the way SQLite applications
/// conventionally keep them, in the one form [`super::typed`] reads back
/// (ISO-8601 text for dates, 0/1 for booleans, hyphenated text for UUIDs).
pub fn bind<'q>(q: SqliteQuery<'q>, v: &Value) -> Result<SqliteQuery<'q>, StoreError> {
    Ok(match v {
        Value::Null => q.bind(None::<i64>),
        Value::Bool(b) => q.bind(*b as i64),
        Value::Int(i) => q.bind(*i),
        Value::UInt(u) => q.bind(i64::try_from(*u).map_err(|_| {
            StoreError::Invalid(format!("the value {u} does not fit SQLite's 64-bit signed integer"))
        })?),
        Value::Float(f) => q.bind(*f),
        Value::Text(s) => q.bind(s.clone()),
        Value::Blob(b) => q.bind(b.clone()),
        Value::Decimal(_)
        | Value::Date(_)
        | Value::Time(_)
        | Value::Timestamp(_)
        | Value::TimestampTz(_)
        | Value::Uuid(_)
        | Value::Json(_) => q.bind(render(v).unwrap_or_else(|| v.display())),
    })
}

/// The text of a value as [`bind`] would store it, for `--print` (a blob
/// as `x'hex'`, a number as written; `None` for NULL).
pub fn as_sql_text(v: &Value) -> Result<Option<String>, StoreError> {
    Ok(Some(match v {
        Value::Null => return Ok(None),
        Value::Bool(b) => (*b as i64).to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => i64::try_from(*u).map_err(|_| StoreError::Invalid(format!("the value {u} does not fit SQLite's 64-bit signed integer")))?.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Text(s) => s.clone(),
        Value::Blob(b) => format!("x'{}'", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        other => render(other).unwrap_or_else(|| other.display()),
    }))
}

/// Binds every value in order.
pub fn bind_all<'q>(mut q: SqliteQuery<'q>, values: &[Value]) -> Result<SqliteQuery<'q>, StoreError> {
    for v in values {
        q = bind(q, v)?;
    }
    Ok(q)
}
