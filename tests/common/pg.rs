//! PostgreSQL helpers: each test owns a database it creates (dropping any
//! leftover of an earlier run first). The server comes from
//! RANGESYNC_PG_URL (default: postgres://postgres@127.0.0.1:5432/postgres);
//! scripts/services.sh starts one when none answers.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

pub fn server_url() -> String {
    std::env::var("RANGESYNC_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The URL of database `name` on the test server.
pub fn url(name: &str) -> String {
    super::with_database(&server_url(), name)
}

async fn connect(url: &str) -> PgConnection {
    PgConnectOptions::from_str(url)
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} must answer (scripts/services.sh starts it): {e}"))
}

/// Creates an empty database `name` (dropped first if it exists) and returns its URL.
pub async fn fresh_db(name: &str) -> String {
    let mut c = connect(&server_url()).await;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).execute(&mut c).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut c).await.unwrap();
    c.close().await.unwrap();
    url(name)
}

pub async fn exec(url: &str, sql: &str) {
    let mut c = connect(url).await;
    sqlx::raw_sql(AssertSqlSafe(sql.to_string())).execute(&mut c).await.unwrap_or_else(|e| panic!("{e}: {sql}"));
    c.close().await.unwrap();
}

/// Every row of `table` as PostgreSQL's own text rendering of the whole
/// row, in key order: an independent view of the table's contents.
pub async fn rows_as_text(url: &str, table: &str, order: &str) -> Vec<String> {
    let mut c = connect(url).await;
    sqlx::raw_sql(AssertSqlSafe("SET extra_float_digits = 3; SET TimeZone = 'UTC'".to_string())).execute(&mut c).await.unwrap();
    let rows = sqlx::query(AssertSqlSafe(format!("SELECT t::text FROM {table} t ORDER BY {order}")))
        .fetch_all(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

pub async fn scalar(url: &str, sql: &str) -> i64 {
    let mut c = connect(url).await;
    let v: i64 = sqlx::query(AssertSqlSafe(sql.to_string())).fetch_one(&mut c).await.unwrap().get(0);
    c.close().await.unwrap();
    v
}

/// The first column of every row a query returns, as text.
pub async fn query_text(url: &str, sql: &str) -> Vec<String> {
    let mut c = connect(url).await;
    let rows = sqlx::query(AssertSqlSafe(sql.to_string())).fetch_all(&mut c).await.unwrap_or_else(|e| panic!("{e}: {sql}"));
    c.close().await.unwrap();
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}
