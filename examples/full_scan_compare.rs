//! The baseline the benchmark measures rangesync against: read every row
//! of both tables in key order, decode every column, and merge-compare.
//! This is what a tool without range fingerprints must do.
//!
//! cargo run --release --example full_scan_compare -- SOURCE.db TARGET.db TABLE KEY

use std::cmp::Ordering;
use std::str::FromStr;

use futures_util::StreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Row, TypeInfo, ValueRef};

#[derive(PartialEq, Debug)]
enum V {
    Null,
    I(i64),
    F(f64),
    T(String),
}

fn values(row: &SqliteRow) -> Vec<V> {
    (0..row.columns().len())
        .map(|i| {
            // Decoded by storage class, as rangesync's connector does.
            let raw = row.try_get_raw(i).unwrap();
            if raw.is_null() {
                return V::Null;
            }
            match raw.type_info().name() {
                "INTEGER" => V::I(row.try_get_unchecked::<i64, _>(i).unwrap()),
                "REAL" => V::F(row.try_get_unchecked::<f64, _>(i).unwrap()),
                _ => V::T(row.try_get_unchecked::<String, _>(i).unwrap()),
            }
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, a, b, table, key] = &args[..] else {
        return Err("usage: full_scan_compare SOURCE TARGET TABLE KEY".into());
    };
    let mut ca = SqliteConnectOptions::from_str(a)?.read_only(true).connect().await?;
    let mut cb = SqliteConnectOptions::from_str(b)?.read_only(true).connect().await?;
    let sql = format!("SELECT * FROM \"{table}\" ORDER BY \"{key}\"");
    let mut sa = sqlx::query(AssertSqlSafe(sql.clone())).fetch(&mut ca);
    let mut sb = sqlx::query(AssertSqlSafe(sql)).fetch(&mut cb);
    let (mut ra, mut rb) = (sa.next().await.transpose()?, sb.next().await.transpose()?);
    let (mut rows, mut diffs) = (0u64, 0u64);
    while ra.is_some() || rb.is_some() {
        let (va, vb) = (ra.as_ref().map(values), rb.as_ref().map(values));
        let order = match (&va, &vb) {
            (Some(x), Some(y)) => match (&x[0], &y[0]) {
                (V::I(p), V::I(q)) => p.cmp(q),
                _ => Ordering::Equal,
            },
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                diffs += 1;
                rows += 1;
                ra = sa.next().await.transpose()?;
            }
            Ordering::Greater => {
                diffs += 1;
                rows += 1;
                rb = sb.next().await.transpose()?;
            }
            Ordering::Equal => {
                if va != vb {
                    diffs += 1;
                }
                rows += 2;
                let (x, y) = tokio::join!(sa.next(), sb.next());
                ra = x.transpose()?;
                rb = y.transpose()?;
            }
        }
    }
    println!("{{\"rows_read\": {rows}, \"differences\": {diffs}}}");
    Ok(())
}
