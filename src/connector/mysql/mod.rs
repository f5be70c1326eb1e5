//! MySQL and MariaDB.
//!
//! Like PostgreSQL, fingerprints and row hashes are computed in the server
//! (canonical encoding built with SQL string functions, hashed with `MD5()`,
//! summed in exact DECIMAL), except for tables holding a floating-point
//! column, whose rows are read as exact text and hashed by rangesync.
//! Sessions run in UTC with utf8mb4, so text and instants read back exactly.

pub mod dialect;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, Executor, Row};

use super::sqlserver::{create_same_engine, first_connection, open_dataset, pool, ServerColumn, ServerPool};
use crate::engine::error::StoreError;
use crate::engine::fingerprint::HashScheme;
use crate::engine::store::{Capabilities, Column, Dataset, Projection, Store, StoreResult, TableSchema};
use dialect::{class_of, MyDialect};

const SESSION: &str = "SET time_zone = '+00:00', NAMES utf8mb4";

pub struct MyStore {
    pool: MySqlPool,
    url: String,
}

/// Quotes an identifier: ``my `odd` name`` → ``` `my ``odd`` name` ```.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Reads a text cell whatever type the server labels it with
/// (information_schema columns come back as binary strings on some versions).
fn text(row: &sqlx::mysql::MySqlRow, i: usize) -> Result<String, sqlx::Error> {
    row.try_get_unchecked::<Option<String>, _>(i).map(|v| v.unwrap_or_default())
}

impl MyStore {
    /// Connects once directly (retrying transient failures with backoff) so
    /// that the server's own reason reaches the user, then opens a pool.
    pub async fn open(full_url: &str, shown: &str) -> StoreResult<Self> {
        let options = MySqlConnectOptions::from_str(full_url)
            .map_err(|e| StoreError::Invalid(format!("{shown}: {}", first_line(&e.to_string()))))?;
        first_connection(&options, shown).await?;
        let pool = MySqlPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SESSION).await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(MyStore { pool, url: shown.to_string() })
    }

    async fn columns(&self, table: &str) -> StoreResult<Option<(Vec<Column>, Vec<ServerColumn>, Vec<String>)>> {
        let context = format!("the schema of table {table} in {}", self.url);
        let rows = sqlx::query(
            "SELECT column_name, column_type, is_nullable, data_type FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? AND extra NOT LIKE '%GENERATED%' \
             ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| pool::read_error(&context, e))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let key_rows = sqlx::query(
            "SELECT column_name FROM information_schema.key_column_usage \
             WHERE table_schema = DATABASE() AND table_name = ? AND constraint_name = 'PRIMARY' ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| pool::read_error(&context, e))?;
        let mut columns = Vec::new();
        let mut server = Vec::new();
        for row in &rows {
            let get = |i| text(row, i).map_err(|e| pool::read_error(&context, e));
            let (name, column_type, nullable, data_type) = (get(0)?, get(1)?, get(2)?, get(3)?);
            let class = class_of(&data_type.to_ascii_lowercase(), &column_type.to_ascii_lowercase());
            server.push(ServerColumn {
                name: name.clone(),
                ident: ident(&name),
                sql_type: column_type.clone(),
                class,
                single: data_type.eq_ignore_ascii_case("float"),
            });
            columns.push(Column { name, declared_type: column_type, class, not_null: nullable == "NO" });
        }
        let key = key_rows
            .iter()
            .map(|r| text(r, 0).map_err(|e| pool::read_error(&context, e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((columns, server, key)))
    }
}

#[async_trait]
impl Store for MyStore {
    fn describe(&self) -> &str {
        &self.url
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { can_delete: true, can_create_tables: true, fingerprint_pushdown: true, native_hash: HashScheme::Md5 }
    }

    async fn list_tables(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| pool::read_error(&format!("the table list of {}", self.url), e))?;
        rows.iter().map(|r| text(r, 0).map_err(|e| pool::read_error("the table list", e))).collect()
    }

    async fn table_schema(&self, name: &str) -> StoreResult<Option<TableSchema>> {
        let Some((columns, _, key)) = self.columns(name).await? else { return Ok(None) };
        let context = format!("the definition of table {name} in {}", self.url);
        let create = sqlx::query(AssertSqlSafe(format!("SHOW CREATE TABLE {}", ident(name))))
            .fetch_one(&self.pool)
            .await
            .map_err(|e| pool::read_error(&context, e))?;
        let definition = vec![text(&create, 1).map_err(|e| pool::read_error(&context, e))?];
        Ok(Some(TableSchema { name: name.to_string(), columns, key, definition, dialect: "mysql" }))
    }

    async fn create_table(&self, schema: &TableSchema) -> StoreResult<()> {
        create_same_engine(&ServerPool::Mysql(self.pool.clone()), "mysql", schema, &self.url).await
    }

    async fn dataset(&self, projection: &Projection) -> StoreResult<Box<dyn Dataset>> {
        let all = self.columns(&projection.table).await?.map(|(_, server, _)| server);
        open_dataset(
            ServerPool::Mysql(self.pool.clone()),
            Box::new(MyDialect),
            all,
            projection,
            ident(&projection.table),
            &self.url,
        )
    }
}
