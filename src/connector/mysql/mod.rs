//! MySQL and MariaDB.
//!
//! Like PostgreSQL, fingerprints and row hashes are computed in the server
//! (canonical encoding built with SQL string functions, hashed with `MD5()`,
//! summed in exact DECIMAL), except for tables holding a floating-point
//! column, whose rows are read as exact text and hashed by rangesync.
//! Sessions run in UTC with utf8mb4, so text and instants read back exactly.

pub mod dialect;

use std::str::FromStr;

use async_trait::async_trait;
use futures_util::FutureExt;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::{AssertSqlSafe, Row};

use super::pg_mysql::{create_table, lazy_pool, first_connection, open_dataset, pool, ServerColumn, ServerPool};
use crate::engine::error::StoreError;
use crate::engine::fingerprint::HashScheme;
use crate::engine::retry::RetryPolicy;
use crate::engine::store::{Capabilities, Column, Dataset, Projection, Store, StoreResult, TableSchema};
use super::typemap::{create_statements, Engine};
use dialect::{class_of, MyDialect};

const SESSION: &str = "SET time_zone = '+00:00', NAMES utf8mb4";

pub struct MyStore {
    pool: MySqlPool,
    url: String,
    /// The `--checksum fast` scheme this server can compute.
    fast: HashScheme,
}

/// MariaDB 10.8 added `CRC32C`; MySQL has only `CRC32`, so its fast
/// scheme hashes the same rendering with `MD5`.
fn fast_scheme(version: &str) -> HashScheme {
    let mut numbers = version.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u32>().ok());
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    if version.to_ascii_lowercase().contains("mariadb") && (major, minor) >= (10, 8) {
        HashScheme::MyCrc
    } else {
        HashScheme::MyMd5
    }
}

/// Quotes an identifier: ``my `odd` name`` → ``` `my ``odd`` name` ```.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
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
            .map_err(|e| StoreError::Invalid(format!("{shown}: {}", pool::reason(&e))))?;
        first_connection(&options, shown).await?;
        let pool = lazy_pool(options, SESSION);
        let context = format!("the version of {shown}");
        let version: String = sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)")
            .fetch_one(&mut *pool::read_conn(&pool, &context).await?)
            .await
            .map_err(|e| pool::read_error(&context, e))?;
        Ok(MyStore { pool, url: shown.to_string(), fast: fast_scheme(&version) })
    }

    /// The utf8mb4 collation that compares byte-wise without padding, so
    /// created key columns hold `'a'`, `'A'` and `'a '` as three keys, as
    /// the other engines do: MariaDB's `utf8mb4_nopad_bin`, MySQL 8's
    /// `utf8mb4_0900_bin`, else the padding `utf8mb4_bin`.
    /// The first column of a catalog statement's rows, as text (MySQL
    /// answers information_schema in binary strings on some versions).
    async fn catalog_texts(&self, context: &str, sql: &'static str) -> StoreResult<Vec<String>> {
        let rows = pool::read_retried(&self.pool, context, |c| sqlx::query(sql).fetch_all(c).boxed()).await?;
        rows.iter().map(|r| text(r, 0).map_err(|e| pool::read_error(context, e))).collect()
    }

    async fn binary_collation(&self) -> StoreResult<String> {
        let sql = "SELECT collation_name FROM information_schema.collations WHERE collation_name IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')";
        let names = self.catalog_texts(&format!("the collations of {}", self.url), sql).await?;
        Ok(names.into_iter().next().unwrap_or_else(|| "utf8mb4_bin".into()))
    }

    /// MariaDB's JSON is a LONGTEXT with a `json_valid()` check; the
    /// catalog shows the check, not the type. (MySQL's own JSON type needs
    /// no lookup.)
    async fn json_columns(conn: &mut sqlx::MySqlConnection, table: &str, context: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT check_clause FROM information_schema.check_constraints \
             WHERE constraint_schema = DATABASE() AND table_name = ? AND check_clause LIKE 'json\\_valid(%'",
        )
        .bind(table)
        .fetch_all(conn)
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            // MySQL before 8.0.16 has no such view (unknown table, 1109):
            // then there is nothing to find.
            Err(e) if pool::mysql_number(&e) == Some(1109) => return Ok(Vec::new()),
            Err(e) => return Err(pool::read_error(context, e)),
        };
        Ok(rows
            .iter()
            .filter_map(|r| text(r, 0).ok())
            .filter_map(|clause| {
                let inner = clause.strip_prefix("json_valid(")?.strip_suffix(')')?;
                let name = inner.strip_prefix('`')?.strip_suffix('`')?;
                Some(name.replace("``", "`"))
            })
            .collect())
    }

    /// The table's columns, their server types and its key, `None` when
    /// the table does not exist; retried when the server drops away.
    async fn columns(&self, table: &str) -> StoreResult<Option<(Vec<Column>, Vec<ServerColumn>, Vec<String>)>> {
        let context = format!("the schema of table {table} in {}", self.url);
        RetryPolicy::default().run(&context, || self.columns_once(table, &context)).await
    }

    async fn columns_once(&self, table: &str, context: &str) -> StoreResult<Option<(Vec<Column>, Vec<ServerColumn>, Vec<String>)>> {
        let mut conn = pool::read_conn(&self.pool, context).await?;
        let rows = sqlx::query(
            "SELECT column_name, column_type, is_nullable, data_type, COALESCE(character_set_name, '') \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? AND extra NOT LIKE '%GENERATED%' \
             ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| pool::read_error(context, e))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let key_rows = sqlx::query(
            "SELECT column_name FROM information_schema.key_column_usage \
             WHERE table_schema = DATABASE() AND table_name = ? AND constraint_name = 'PRIMARY' ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| pool::read_error(context, e))?;
        let json = Self::json_columns(&mut conn, table, context).await?;
        let mut columns = Vec::new();
        let mut server = Vec::new();
        for row in &rows {
            let get = |i| text(row, i).map_err(|e| pool::read_error(context, e));
            let (name, mut column_type, nullable, mut data_type) = (get(0)?, get(1)?, get(2)?, get(3)?);
            // utf8mb3 and ascii text is byte for byte UTF-8 as well. Only
            // string types (MariaDB's JSON is a longtext): others with a
            // charset, MySQL's binary JSON among them, keep the conversion.
            let utf8 = matches!(get(4)?.to_ascii_lowercase().as_str(), "utf8mb4" | "utf8mb3" | "utf8" | "ascii")
                && matches!(
                    data_type.to_ascii_lowercase().as_str(),
                    "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext"
                );
            if json.contains(&name) {
                (column_type, data_type) = ("json".into(), "json".into());
            }
            let class = class_of(&data_type.to_ascii_lowercase(), &column_type.to_ascii_lowercase());
            server.push(ServerColumn {
                name: name.clone(),
                ident: ident(&name),
                sql_type: column_type.clone(),
                declared: column_type.clone(),
                class,
                single: data_type.eq_ignore_ascii_case("float"),
                utf8,
            });
            columns.push(Column { name, declared_type: column_type, class, not_null: nullable == "NO" });
        }
        let key = key_rows
            .iter()
            .map(|r| text(r, 0).map_err(|e| pool::read_error(context, e)))
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
        Capabilities {
            can_delete: true,
            can_create_tables: true,
            fingerprint_pushdown: true,
            native_hash: HashScheme::Md5,
            fast_hash: Some(self.fast),
        }
    }

    async fn list_tables(&self) -> StoreResult<Vec<String>> {
        let sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name";
        self.catalog_texts(&format!("the table list of {}", self.url), sql).await
    }

    async fn foreign_keys(&self) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
        let context = format!("the foreign keys of {}", self.url);
        let rows = pool::read_retried(&self.pool, &context, |c| {
            sqlx::query(
                "SELECT DISTINCT table_name, referenced_table_name FROM information_schema.key_column_usage \
                 WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL \
                 AND referenced_table_name <> table_name ORDER BY 1, 2",
            )
            .fetch_all(c)
            .boxed()
        })
        .await?;
        let pairs = rows.iter().map(|r| Ok((text(r, 0)?, text(r, 1)?))).collect::<Result<Vec<_>, sqlx::Error>>().map_err(|e| pool::read_error(&context, e))?;
        Ok(crate::connector::parents_by_table(pairs))
    }

    async fn table_schema(&self, name: &str) -> StoreResult<Option<TableSchema>> {
        let Some((columns, _, key)) = self.columns(name).await? else { return Ok(None) };
        let context = format!("the definition of table {name} in {}", self.url);
        let statement = format!("SHOW CREATE TABLE {}", ident(name));
        let create = pool::read_retried(&self.pool, &context, |c| sqlx::query(AssertSqlSafe(statement.clone())).fetch_one(c).boxed()).await?;
        let definition = vec![text(&create, 1).map_err(|e| pool::read_error(&context, e))?];
        Ok(Some(TableSchema { name: name.to_string(), columns, key, definition, dialect: "mysql" }))
    }

    async fn create_statements(&self, schema: &TableSchema) -> StoreResult<Vec<String>> {
        let engine = Engine::Mysql { binary_collation: self.binary_collation().await? };
        create_statements(&engine, schema, &self.url)
    }

    async fn create_table(&self, table: &str, statements: &[String]) -> StoreResult<()> {
        create_table(&ServerPool::Mysql(self.pool.clone()), table, statements, &self.url).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_lanes_only_from_mariadb_10_8() {
        assert_eq!(fast_scheme("10.11.19-MariaDB-0+deb12u1"), HashScheme::MyCrc);
        assert_eq!(fast_scheme("10.8.2-MariaDB"), HashScheme::MyCrc);
        assert_eq!(fast_scheme("10.6.12-MariaDB-log"), HashScheme::MyMd5);
        assert_eq!(fast_scheme("8.0.36"), HashScheme::MyMd5);
        assert_eq!(fast_scheme("5.5.5-10.11.6-MariaDB"), HashScheme::MyMd5, "the 5.5.5- prefix of old clients is not MariaDB 10.11's number");
    }
}
