//! MySQL / MariaDB helpers: each test owns a database it creates. The
//! server comes from RANGESYNC_MYSQL_URL (default:
//! mysql://root@127.0.0.1:3306/mysql); scripts/services.sh starts one when
//! none answers.

use std::str::FromStr;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

pub fn server_url() -> String {
    std::env::var("RANGESYNC_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into())
}

pub fn url(name: &str) -> String {
    super::with_database(&server_url(), name)
}

async fn connect(url: &str) -> MySqlConnection {
    MySqlConnectOptions::from_str(url)
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("MySQL at {url} must answer (scripts/services.sh starts it): {e}"))
}

pub async fn fresh_db(name: &str) -> String {
    let mut c = connect(&server_url()).await;
    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4")))
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    url(name)
}

pub async fn exec(url: &str, sql: &str) {
    let mut c = connect(url).await;
    sqlx::raw_sql(AssertSqlSafe(sql.to_string())).execute(&mut c).await.unwrap_or_else(|e| panic!("{e}: {sql}"));
    c.close().await.unwrap();
}

/// Every row of `table` rendered by the server (each column cast to text,
/// binary as hex), in key order: an independent view of the contents.
pub async fn rows_as_text(url: &str, table: &str, columns: &[&str], order: &str) -> Vec<String> {
    let mut c = connect(url).await;
    sqlx::raw_sql(AssertSqlSafe("SET time_zone = '+00:00'".to_string())).execute(&mut c).await.unwrap();
    let cols: Vec<String> = columns.iter().map(|col| format!("COALESCE(HEX(CAST(`{col}` AS BINARY)), 'NULL')")).collect();
    let sql = format!("SELECT CONCAT_WS('|', {}) FROM `{table}` ORDER BY {order}", cols.join(", "));
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut c).await.unwrap();
    c.close().await.unwrap();
    rows.iter().map(|r| r.try_get_unchecked::<String, _>(0).unwrap()).collect()
}
