//! Builds a SQLite file from SQL scripts (the demo uses it on
//! test-fixtures/, so no sqlite3 shell is needed).
//!
//! cargo run --example load_sql -- DB.db SCRIPT.sql [SCRIPT.sql ...]

use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((db, scripts)) = args.split_first() else {
        return Err("usage: load_sql DB.db SCRIPT.sql [SCRIPT.sql ...]".into());
    };
    let _ = std::fs::remove_file(db);
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{db}"))?.create_if_missing(true).connect().await?;
    for script in scripts {
        let sql = std::fs::read_to_string(script).map_err(|e| format!("{script}: {e}"))?;
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.map_err(|e| format!("{script}: {e}"))?;
    }
    conn.close().await?;
    Ok(())
}
