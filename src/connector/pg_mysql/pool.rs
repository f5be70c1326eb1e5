//! Running statements on either server, every result column read as text.

use sqlx::mysql::{MySqlPool, MySqlRow};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;

use std::time::Duration;

use super::Params;
use crate::engine::error::{boxed, StoreError};
use crate::engine::store::StoreResult;

pub type TextRow = Vec<Option<String>>;

#[derive(Clone)]
pub enum ServerPool {
    Postgres(PgPool),
    Mysql(MySqlPool),
}

pub use crate::engine::error::first_line;

/// How long a statement waits for a connection before rangesync asks the
/// server directly why none came. sqlx retries a refused connection
/// silently and reports only that the pool timed out; asking after 2 s,
/// with 5 attempts of the retry policy, ends a run against a server that
/// went away in about 12 s, naming the cause, and one back within that
/// time is used again.
pub const QUICK_ACQUIRE: Duration = Duration::from_secs(2);
/// How long one direct connection attempt may take: a server that is
/// slow to accept (TLS, a loaded host) but answers is not a dead one.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a statement waits for the pool once the server has shown it
/// accepts connections: the pool is busy (every connection held by
/// readers of a snapshot) or opening a connection is slow.
pub const BUSY_ACQUIRE: Duration = Duration::from_secs(30);

/// A connection of `pool`. When none comes within [`QUICK_ACQUIRE`], a
/// direct connection attempt tells a dead server (its reason: connection
/// refused, the database starting up, returned at once) from a busy pool
/// or a slow server, for which the pool is waited on again, up to its own
/// timeout ([`BUSY_ACQUIRE`]).
pub async fn acquire<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Result<sqlx::pool::PoolConnection<DB>, sqlx::Error> {
    use sqlx::{ConnectOptions, Connection};
    match tokio::time::timeout(QUICK_ACQUIRE, pool.acquire()).await {
        Ok(acquired) => acquired,
        Err(_) => match tokio::time::timeout(CONNECT_TIMEOUT, pool.connect_options().connect()).await {
            Ok(Err(cause)) => Err(cause),
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                pool.acquire().await
            }
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        },
    }
}

/// Connection trouble, deadlocks, serialization failures and a server
/// out of connections are worth a retry; SQL errors (a missing table, a
/// value out of range) are not.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            // MySQL's SQLSTATE is a coarse class (HY000 for most); its
            // error number tells: 1040 too many connections, 1205 lock
            // wait timeout, 1213 deadlock, 1927 connection killed
            // (MariaDB), 2006/2013 server gone or lost.
            if let Some(number) = mysql_number(e) {
                return matches!(number, 1040 | 1205 | 1213 | 1927 | 2006 | 2013);
            }
            // PostgreSQL SQLSTATEs: 08xxx connection, 40001 serialization,
            // 40P01 deadlock, 53300 too many connections, 57P0x shutdown,
            // 25P03 idle-in-transaction timeout (a snapshot held while the
            // other side was written).
            let code = db.code().unwrap_or_default();
            code.starts_with("08") || matches!(code.as_ref(), "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03" | "25P03")
        }
        _ => false,
    }
}

/// MySQL's error number of `e`, if it is a MySQL server error.
pub fn mysql_number(e: &sqlx::Error) -> Option<u16> {
    match e {
        sqlx::Error::Database(db) => db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|my| my.number()),
        _ => None,
    }
}

/// A pooled connection for one read of `context` (a catalog query, the
/// server's version), the cause named when none comes.
pub async fn read_conn<DB: sqlx::Database>(pool: &sqlx::Pool<DB>, context: &str) -> StoreResult<sqlx::pool::PoolConnection<DB>> {
    acquire(pool).await.map_err(|e| read_error(context, e))
}

/// A read on one pooled connection (a catalog query), retried while the
/// server drops away: `op` runs again on a fresh connection each time.
pub async fn read_retried<DB, T, F>(pool: &sqlx::Pool<DB>, context: &str, op: F) -> StoreResult<T>
where
    DB: sqlx::Database,
    F: for<'c> Fn(&'c mut DB::Connection) -> futures_util::future::BoxFuture<'c, Result<T, sqlx::Error>>,
{
    crate::engine::retry::RetryPolicy::default()
        .run(context, || async {
            let mut conn = read_conn(pool, context).await?;
            op(&mut conn).await.map_err(|e| read_error(context, e))
        })
        .await
}

pub fn read_error(context: &str, e: sqlx::Error) -> StoreError {
    StoreError::Read { context: context.to_string(), retryable: is_transient(&e), reason: reason(&e), cause: boxed(e) }
}

pub fn write_error(context: &str, e: sqlx::Error) -> StoreError {
    StoreError::Write { context: context.to_string(), retryable: is_transient(&e), reason: reason(&e), cause: boxed(e) }
}

/// The driver's error as the user reads it: the server's own message,
/// without what only a driver developer needs (sqlx appends PostgreSQL's
/// source line, "at line 948", to server errors and its own module and
/// line, "(sqlx_postgres::connection::tls:95)", to protocol errors).
pub fn reason(e: &sqlx::Error) -> String {
    // PostgreSQL's message alone (its Display adds the server's source
    // line); MySQL's Display keeps the error number users search for.
    let text = match e {
        sqlx::Error::Database(db) if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() => db.message().to_string(),
        other => other.to_string(),
    };
    let line = first_line(&text);
    match line.rsplit_once(" (") {
        Some((message, place)) if is_source_place(place) => message.to_string(),
        _ => line,
    }
}

/// `sqlx_postgres::connection::tls:95)`: a Rust module path and a line.
fn is_source_place(place: &str) -> bool {
    let Some((path, line)) = place.strip_suffix(')').and_then(|p| p.rsplit_once(':')) else { return false };
    // A path starts with a name: "(::1:5432)" is an address, kept.
    path.starts_with(|c: char| c.is_ascii_alphabetic()) && path.contains("::") && !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn driver_places_are_left_out_of_reasons() {
        let e = sqlx::Error::Protocol("server does not support TLS (sqlx_postgres::connection::tls:95)".into());
        assert_eq!(reason(&e), "encountered unexpected or invalid data: server does not support TLS");
        let e = sqlx::Error::Protocol("unexpected (parenthesis) here".into());
        assert!(reason(&e).ends_with("unexpected (parenthesis) here"));
        let e = sqlx::Error::Protocol("two\nlines".into());
        assert!(reason(&e).ends_with("two"));
    }
}

pub fn pg_text(row: &PgRow) -> StoreResult<TextRow> {
    (0..row.len())
        .map(|i| row.try_get::<Option<String>, _>(i).map_err(|e| read_error("a result column", e)))
        .collect()
}

/// MySQL types some text results as binary strings; they are UTF-8 text
/// by construction (casts, HEX(), MD5()), so they are read unchecked.
pub fn my_text(row: &MySqlRow) -> StoreResult<TextRow> {
    (0..row.len())
        .map(|i| row.try_get_unchecked::<Option<String>, _>(i).map_err(|e| read_error("a result column", e)))
        .collect()
}

/// A query with every parameter bound as text (or NULL).
macro_rules! bound {
    ($sql:expr, $params:expr) => {{
        let mut q = sqlx::query(sqlx::AssertSqlSafe($sql));
        for v in $params.values {
            q = q.bind(v);
        }
        q
    }};
}

/// Runs statements in one transaction on a pool of either engine.
macro_rules! in_transaction {
    ($pool:expr, $statements:expr, $what:expr) => {{
        let mut affected = 0;
        let mut conn = acquire($pool).await.map_err(|e| write_error($what, e))?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(|e| write_error($what, e))?;
        for (sql, params) in $statements {
            affected += bound!(sql, params).execute(&mut *tx).await.map_err(|e| write_error($what, e))?.rows_affected();
        }
        tx.commit().await.map_err(|e| write_error($what, e))?;
        affected
    }};
}

impl ServerPool {
    pub async fn fetch_text(&self, sql: String, params: Params, what: &str) -> StoreResult<Vec<TextRow>> {
        match self {
            ServerPool::Postgres(pool) => {
                let mut c = read_conn(pool, what).await?;
                let rows = bound!(sql, params).fetch_all(&mut *c).await.map_err(|e| read_error(what, e))?;
                rows.iter().map(pg_text).collect()
            }
            ServerPool::Mysql(pool) => {
                let mut c = read_conn(pool, what).await?;
                let rows = bound!(sql, params).fetch_all(&mut *c).await.map_err(|e| read_error(what, e))?;
                rows.iter().map(my_text).collect()
            }
        }
    }

    /// PostgreSQL's `COPY ... FROM STDIN` (`sql`) of `data`, in COPY's text
    /// format, one statement and so one transaction; returns the rows
    /// copied, `None` on MySQL. The driver's error is returned as is, for
    /// the caller to tell a key conflict from the rest.
    pub async fn copy_in(&self, sql: &str, data: &[u8]) -> Option<Result<u64, sqlx::Error>> {
        let ServerPool::Postgres(pool) = self else { return None };
        Some(async {
            let mut c = acquire(pool).await?;
            let mut copy = c.copy_in_raw(sql).await?;
            if let Err(e) = copy.send(data).await {
                let _ = copy.abort("rangesync stopped the copy").await;
                return Err(e);
            }
            copy.finish().await
        }
        .await)
    }

    /// Runs one statement whose parameters are text arrays (PostgreSQL);
    /// returns the rows affected.
    pub async fn execute_with_arrays(&self, sql: &str, arrays: Vec<Vec<Option<String>>>, what: &str) -> StoreResult<u64> {
        let ServerPool::Postgres(pool) = self else {
            return Err(StoreError::Invalid(format!("{what}: MySQL has no array parameters")));
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
        for array in arrays {
            q = q.bind(array);
        }
        let mut c = acquire(pool).await.map_err(|e| write_error(what, e))?;
        Ok(q.execute(&mut *c).await.map_err(|e| write_error(what, e))?.rows_affected())
    }

    /// Runs the statements in one transaction; returns the rows affected.
    pub async fn execute_in_transaction(&self, statements: Vec<(String, Params)>, what: &str) -> StoreResult<u64> {
        Ok(match self {
            ServerPool::Postgres(pool) => in_transaction!(pool, statements, what),
            ServerPool::Mysql(pool) => in_transaction!(pool, statements, what),
        })
    }
}
