//! Builds the benchmark pair: two SQLite files holding the same table of N
//! rows, the target drifted by one difference every `every` rows (a third
//! missing, a third changed, a third extra), spread evenly over the keys.
//!
//! cargo run --release --example bench_sqlite_pair -- DIR ROWS EVERY

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, rows, every] = &args[..] else {
        return Err("usage: bench_sqlite_pair DIR ROWS EVERY".into());
    };
    let rows: u64 = rows.parse()?;
    let every: u64 = every.parse()?;
    let source = format!("{dir}/source.db");
    let target = format!("{dir}/target.db");
    for f in [&source, &target] {
        let _ = std::fs::remove_file(f);
    }
    let mut conn = SqliteConnectOptions::from_str(&source)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Off)
        .synchronous(SqliteSynchronous::Off)
        .connect()
        .await?;
    // Even ids only, so extra rows can sit between two source rows.
    let fill = format!(
        "CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            amount REAL,
            qty INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            payload TEXT
        );
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
        INSERT INTO events
        SELECT 2 * i,
               'acct-' || (i * 7919 % 100000),
               CASE WHEN i % 17 = 0 THEN NULL ELSE (i * 31 % 100000) / 100.0 END,
               i % 1000,
               strftime('%Y-%m-%dT%H:%M:%SZ', 1700000000 + i * 13, 'unixepoch'),
               CASE WHEN i % 5 = 0 THEN NULL ELSE printf('event %d of a benchmark with a payload of some length', i) END
        FROM n;"
    );
    sqlx::raw_sql(AssertSqlSafe(fill)).execute(&mut conn).await?;
    conn.close().await?;
    std::fs::copy(&source, &target)?;
    let mut conn = SqliteConnectOptions::from_str(&target)?.connect().await?;
    let mut tx = conn.begin().await?;
    let mut k = 0u64;
    let mut i = every / 2;
    while i <= rows {
        let id = (2 * i) as i64;
        let sql = match k % 3 {
            0 => "DELETE FROM events WHERE id = ?",
            1 => "UPDATE events SET qty = qty + 1 WHERE id = ?",
            _ => "INSERT INTO events VALUES (? + 1, 'acct-extra', 1.0, 1, '2024-01-01T00:00:00Z', 'extra')",
        };
        sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        k += 1;
        i += every;
    }
    tx.commit().await?;
    println!("{k}");
    Ok(())
}
