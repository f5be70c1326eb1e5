//! PostgreSQL.
//!
//! Fingerprints and row hashes are computed inside PostgreSQL: each column
//! is turned into rangesync's canonical encoding by SQL expressions
//! ([`types`]), the row's bytes are hashed with the server's `md5()`, and
//! ranges are summed in 64-bit lanes. Only counts and sums leave the server
//! for equal ranges. Values travel as text (exact with the session settings
//! below) and are written back as text cast to the column's type.

pub mod dialect;

use std::str::FromStr;

use async_trait::async_trait;
use futures_util::FutureExt;
use sqlx::postgres::{PgConnectOptions, PgPool};

use crate::engine::error::StoreError;
use crate::engine::fingerprint::HashScheme;
use crate::engine::retry::RetryPolicy;
use crate::engine::store::{Capabilities, Column, Dataset, Projection, Store, StoreResult, TableSchema};

use super::pg_mysql::{create_table, lazy_pool, first_connection, open_dataset, pool, ServerColumn, ServerPool};
use super::typemap::{create_statements, Engine};
use dialect::{class_of, PgDialect};


/// Session settings that make every text rendering exact and stable, and
/// two that keep rangesync's generated statements fast, set only where the
/// server knows them (PostgreSQL 11 and 12 added them):
/// - `jit = off`: a bucket statement is a few thousand `CASE`s, and LLVM
///   spent 1.8 s compiling one that runs in 0.05 s (measured on 200,000 rows);
/// - `plan_cache_mode = force_custom_plan`: every bound value is text cast
///   to the column's type; planned with the values, the casts are folded
///   once instead of evaluated on every row.
const SESSION: &str = "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; \
     SET bytea_output = 'hex'; SET IntervalStyle = 'iso_8601'; SET client_encoding = 'UTF8'; \
     SELECT set_config(name, CASE name WHEN 'jit' THEN 'off' ELSE 'force_custom_plan' END, false) \
     FROM pg_settings WHERE name IN ('jit', 'plan_cache_mode')";

pub struct PgStore {
    pool: PgPool,
    url: String,
    /// The database stores text as UTF-8 (see `ServerColumn::utf8`).
    utf8: bool,
    /// `hash_record_extended` exists (PostgreSQL 14+): the fast checksum.
    record_hash: bool,
}

impl PgStore {
    /// Connects, retrying transient failures (refused, reset, timed out)
    /// with backoff; a wrong password or unknown database fails at once.
    pub async fn open(full_url: &str, shown: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(full_url)
            .map_err(|e| StoreError::Invalid(format!("{shown}: {}", pool::reason(&e))))?;
        // One direct connection first, so the user sees the server's own
        // reason (refused, unknown database) rather than a pool timeout,
        // retried with backoff when it is transient.
        first_connection(&options, shown).await?;
        let pool = lazy_pool(options, SESSION);
        let context = format!("the encoding of {shown}");
        let (utf8, record_hash): (bool, bool) = sqlx::query_as(
            "SELECT current_setting('server_encoding') = 'UTF8', current_setting('server_version_num')::int >= 140000",
        )
        .fetch_one(&mut *pool::read_conn(&pool, &context).await?)
        .await
        .map_err(|e| pool::read_error(&context, e))?;
        Ok(PgStore { pool, url: shown.to_string(), utf8, record_hash })
    }

    /// The table's columns, their server types and its key, `None` when
    /// the table does not exist; retried when the server drops away.
    async fn columns(&self, table: &str) -> StoreResult<Option<(Vec<Column>, Vec<ServerColumn>, Vec<String>)>> {
        let context = format!("the schema of table {table} in {}", self.url);
        RetryPolicy::default().run(&context, || self.columns_once(table, &context)).await
    }

    async fn columns_once(&self, table: &str, context: &str) -> StoreResult<Option<(Vec<Column>, Vec<ServerColumn>, Vec<String>)>> {
        let mut conn = pool::read_conn(&self.pool, context).await?;
        let oid: Option<(sqlx::postgres::types::Oid,)> = sqlx::query_as(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relname = $1 AND c.relkind IN ('r', 'p')",
        )
        .bind(table)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| pool::read_error(context, e))?;
        let Some((oid,)) = oid else { return Ok(None) };
        // For domains, classify by the base type.
        // Bound values are cast to the type by its catalog name, without
        // modifiers (pg_catalog.bpchar, pg_catalog.varchar, ...): an explicit
        // cast to varchar(5) or to `character` (char(1)!) silently
        // truncates, while the assignment into the column checks the length
        // and fails loudly.
        let rows: Vec<(String, String, bool, String, String)> = sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                    COALESCE(b.typname, t.typname)::text, format('%I.%I', tn.nspname, t.typname) \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace \
             LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
             ORDER BY a.attnum",
        )
        .bind(oid)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| pool::read_error(context, e))?;
        let key: Vec<(String,)> = sqlx::query_as(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = $1 AND i.indisprimary \
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
        )
        .bind(oid)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| pool::read_error(context, e))?;
        let mut columns = Vec::new();
        let mut pg = Vec::new();
        for (name, sql_type, not_null, typname, base_type) in rows {
            let class = class_of(&typname);
            pg.push(ServerColumn {
                name: name.clone(),
                ident: ident(&name),
                sql_type: base_type,
                declared: sql_type.clone(),
                class,
                single: typname == "float4",
                utf8: self.utf8,
            });
            columns.push(Column { name, declared_type: sql_type, class, not_null });
        }
        Ok(Some((columns, pg, key.into_iter().map(|k| k.0).collect())))
    }
}

/// Quotes an identifier: `my "odd" name` → `"my ""odd"" name"`.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[async_trait]
impl Store for PgStore {
    fn describe(&self) -> &str {
        &self.url
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            can_delete: true,
            can_create_tables: true,
            fingerprint_pushdown: true,
            native_hash: HashScheme::Md5,
            fast_hash: self.record_hash.then_some(HashScheme::PgRecord),
        }
    }

    async fn list_tables(&self) -> StoreResult<Vec<String>> {
        let context = format!("the table list of {}", self.url);
        let rows: Vec<(String,)> = pool::read_retried(&self.pool, &context, |c| {
            sqlx::query_as(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
            )
            .fetch_all(c)
            .boxed()
        })
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    async fn foreign_keys(&self) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
        let context = format!("the foreign keys of {}", self.url);
        let rows: Vec<(String, String)> = pool::read_retried(&self.pool, &context, |c| {
            sqlx::query_as(
                "SELECT DISTINCT c.relname::text, p.relname::text FROM pg_constraint k \
                 JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_class p ON p.oid = k.confrelid \
                 WHERE k.contype = 'f' AND n.nspname = current_schema() AND p.oid <> c.oid ORDER BY 1, 2",
            )
            .fetch_all(c)
            .boxed()
        })
        .await?;
        Ok(crate::connector::parents_by_table(rows))
    }

    async fn table_schema(&self, name: &str) -> StoreResult<Option<TableSchema>> {
        let Some((columns, _, key)) = self.columns(name).await? else { return Ok(None) };
        let mut defs: Vec<String> = columns
            .iter()
            .map(|c| format!("{} {}{}", ident(&c.name), c.declared_type, if c.not_null { " NOT NULL" } else { "" }))
            .collect();
        if !key.is_empty() {
            defs.push(format!("PRIMARY KEY ({})", key.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ")));
        }
        let definition = vec![format!("CREATE TABLE {} ({})", ident(name), defs.join(", "))];
        Ok(Some(TableSchema { name: name.to_string(), columns, key, definition, dialect: "postgres" }))
    }

    async fn create_statements(&self, schema: &TableSchema) -> StoreResult<Vec<String>> {
        create_statements(&Engine::Postgres, schema, &self.url)
    }

    async fn create_table(&self, table: &str, statements: &[String]) -> StoreResult<()> {
        create_table(&ServerPool::Postgres(self.pool.clone()), table, statements, &self.url).await
    }

    async fn dataset(&self, projection: &Projection) -> StoreResult<Box<dyn Dataset>> {
        let all = self.columns(&projection.table).await?.map(|(_, server, _)| server);
        open_dataset(
            ServerPool::Postgres(self.pool.clone()),
            Box::new(PgDialect),
            all,
            projection,
            ident(&projection.table),
            &self.url,
        )
    }
}
