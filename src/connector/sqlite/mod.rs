//! SQLite, the embedded default store.
//!
//! Fingerprints are computed inside SQLite by rangesync's own functions
//! (see [`functions`]), so equal ranges never leave the database engine.
//! Keys are ordered and compared with binary collation. The source file is
//! opened read-only: a `sync` can never write to it by mistake.

mod convert;
mod dataset;
pub mod functions;
mod schema;
pub mod sql;
pub mod typed;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions};

use super::typemap;
use crate::engine::error::{boxed, StoreError};
use crate::engine::fingerprint::HashScheme;
use crate::engine::store::{Capabilities, Dataset, Projection, Store, StoreResult, TableSchema};

pub use dataset::SqliteDataset;

/// How a SQLite file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Reads only; the file must exist.
    ReadOnly,
    /// Reads and writes; the file must exist.
    ReadWrite,
    /// Reads and writes; a missing file is created.
    Create,
}

/// Where the database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    /// A private in-memory database (tests).
    Memory,
}

pub struct SqliteStore {
    pool: SqlitePool,
    url: String,
}

impl SqliteStore {
    pub async fn open(location: &Location, mode: OpenMode, url: &str) -> StoreResult<Self> {
        match Self::open_once(location, mode, url).await {
            // A writer killed mid-transaction (an earlier sync, another
            // program) left a hot journal, which a read-only connection
            // cannot roll back. SQLite rolls it back on the first
            // read-write access, as any client would: the committed state
            // is restored, nothing else is written. Then read-only again.
            Err(Opening::HotJournal) => {
                if let Location::File(path) = location {
                    recover_hot_journal(path, url).await?;
                }
                Self::open_once(location, mode, url).await.map_err(|e| e.into_store_error(url))
            }
            other => other.map_err(|e| e.into_store_error(url)),
        }
    }

    async fn open_once(location: &Location, mode: OpenMode, url: &str) -> Result<Self, Opening> {
        let options = match location {
            Location::Memory => SqliteConnectOptions::from_str("sqlite::memory:")
                .map_err(|e| connect_error(url, e.to_string()))?,
            Location::File(path) => {
                check_file(path, mode, url)?;
                SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(mode == OpenMode::ReadOnly)
                    .create_if_missing(mode == OpenMode::Create)
            }
        }
        .busy_timeout(Duration::from_secs(10))
        // rangesync's own tracing reports slow phases; sqlx's per-statement
        // warnings would flood stderr on every large range.
        .log_statements(log::LevelFilter::Trace)
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(10));
        // One connection per side is all the engine uses at once; a second
        // lets a write batch run while nothing else waits on the first.
        let max = if *location == Location::Memory { 1 } else { 2 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(if *location == Location::Memory { 1 } else { 0 })
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    let mut handle = conn.lock_handle().await?;
                    functions::register(handle.as_raw_handle()).map_err(|e| sqlx::Error::Configuration(e.into()))
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| Opening::failed(url, e))?;
        // Fail now, with the path in the message, if the file is not a database.
        sqlx::query("SELECT count(*) FROM sqlite_schema").fetch_one(&pool).await.map_err(|e| Opening::failed(url, e))?;
        // Text keys are ordered byte-wise as UTF-8; a UTF-16 database would
        // order them by its own bytes and the merge would stop midway.
        let (encoding,): (String,) =
            sqlx::query_as("PRAGMA encoding").fetch_one(&pool).await.map_err(|e| connect_error(url, e.to_string()))?;
        if encoding != "UTF-8" {
            return Err(Opening::Failed(StoreError::Invalid(format!(
                "{url} is a {encoding} database; rangesync compares text as UTF-8 and reads UTF-8 SQLite databases only"
            ))));
        }
        Ok(SqliteStore { pool, url: url.to_string() })
    }
}

/// Why opening failed: a hot journal a read-only connection cannot roll
/// back, or anything else.
enum Opening {
    HotJournal,
    Failed(StoreError),
}

impl Opening {
    fn failed(url: &str, e: sqlx::Error) -> Opening {
        // SQLITE_READONLY_ROLLBACK.
        if matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some("776")) {
            return Opening::HotJournal;
        }
        Opening::Failed(connect_error(url, e.to_string()))
    }

    fn into_store_error(self, url: &str) -> StoreError {
        match self {
            Opening::Failed(e) => e,
            Opening::HotJournal => connect_error(url, "it holds a hot journal (a writer was killed mid-transaction) that could not be rolled back".into()),
        }
    }
}

impl From<StoreError> for Opening {
    fn from(e: StoreError) -> Self {
        Opening::Failed(e)
    }
}

/// Rolls back the hot journal of the database at `path`: one read-write
/// connection reads its schema, which makes SQLite restore the last
/// committed state, and closes.
async fn recover_hot_journal(path: &Path, url: &str) -> StoreResult<()> {
    tracing::warn!("{url}: rolling back the hot journal an interrupted write left");
    let options = SqliteConnectOptions::new().filename(path).read_only(false).create_if_missing(false).busy_timeout(Duration::from_secs(10));
    let mut conn = sqlx::ConnectOptions::connect(&options).await.map_err(|e| connect_error(url, format!("rolling back its hot journal: {e}")))?;
    sqlx::query("SELECT count(*) FROM sqlite_schema")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| connect_error(url, format!("rolling back its hot journal: {e}")))?;
    sqlx::Connection::close(conn).await.map_err(|e| connect_error(url, e.to_string()))
}

fn check_file(path: &Path, mode: OpenMode, url: &str) -> StoreResult<()> {
    if mode != OpenMode::Create && !path.exists() {
        return Err(StoreError::Missing(format!("{url}: no such file {}", path.display())));
    }
    if path.is_dir() {
        return Err(StoreError::Invalid(format!("{url}: {} is a directory, not a SQLite file", path.display())));
    }
    Ok(())
}

fn connect_error(url: &str, reason: String) -> StoreError {
    StoreError::Connect { endpoint: url.to_string(), reason, retryable: false, cause: None }
}

/// Maps a driver error, marking busy/locked databases as worth a retry.
pub(crate) fn store_error(write: bool, context: &str, e: sqlx::Error) -> StoreError {
    let retryable = match &e {
        sqlx::Error::Database(db) => {
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
            db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6))
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
        _ => false,
    };
    let reason = e.to_string();
    if write {
        StoreError::Write { context: context.to_string(), reason, retryable, cause: boxed(e) }
    } else {
        StoreError::Read { context: context.to_string(), reason, retryable, cause: boxed(e) }
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn describe(&self) -> &str {
        &self.url
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            can_delete: true,
            can_create_tables: true,
            fingerprint_pushdown: true,
            native_hash: HashScheme::Blake3,
            fast_hash: Some(HashScheme::Xxh3),
        }
    }

    async fn list_tables(&self) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error(false, &format!("the table list of {}", self.url), e))?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    async fn table_schema(&self, name: &str) -> StoreResult<Option<TableSchema>> {
        schema::read(&self.pool, name, &self.url).await
    }

    async fn foreign_keys(&self) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT m.name, f.\"table\" FROM sqlite_schema m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND f.\"table\" <> m.name ORDER BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error(false, &format!("the foreign keys of {}", self.url), e))?;
        Ok(crate::connector::parents_by_table(rows))
    }

    async fn create_statements(&self, schema: &TableSchema) -> StoreResult<Vec<String>> {
        typemap::create_statements(&typemap::Engine::Sqlite, schema, &self.url)
    }

    async fn create_table(&self, table: &str, statements: &[String]) -> StoreResult<()> {
        let context = format!("the definition of table {table} into {}", self.url);
        let mut tx = self.pool.begin().await.map_err(|e| store_error(true, &context, e))?;
        for stmt in statements {
            sqlx::query(AssertSqlSafe(stmt.clone()))
                .execute(&mut *tx)
                .await
                .map_err(|e| store_error(true, &context, e))?;
        }
        tx.commit().await.map_err(|e| store_error(true, &context, e))
    }

    async fn dataset(&self, projection: &Projection) -> StoreResult<Box<dyn Dataset>> {
        let ds = SqliteDataset::open(self.pool.clone(), projection, &self.url).await?;
        Ok(Box::new(ds))
    }
}
