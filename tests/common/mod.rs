//! Helpers shared by the integration tests: run the real binary, build
//! SQLite files with plain SQL, and compare two files independently of
//! rangesync (SQLite's own EXCEPT over every column and its type).
#![allow(dead_code)]

pub mod my;
pub mod ts;
pub mod pg;
pub mod proxy;
pub mod recorded;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

pub fn rangesync(args: &[&str]) -> Run {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rangesync"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    // A run that hangs fails its test instead of the whole suite's time.
    let deadline = std::time::Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rangesync {args:?} ran over {RUN_TIMEOUT:?} and was killed; it said: {}", stderr.join().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    Run { code: status.code().expect("exited, not killed"), stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// Longer than any run of the suite takes (the slowest take seconds).
const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

pub fn url(p: &Path) -> String {
    format!("sqlite://{}", p.display())
}

/// Runs SQL statements on a SQLite file, creating it if needed.
pub async fn exec(path: &Path, sql: &str) {
    let mut c = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .unwrap()
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql.to_string())).execute(&mut c).await.unwrap_or_else(|e| panic!("{e}: {sql}"));
    c.close().await.unwrap();
}

pub async fn scalar(path: &Path, sql: &str) -> i64 {
    let mut c = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display())).unwrap().connect().await.unwrap();
    let v: i64 = sqlx::query(AssertSqlSafe(sql.to_string())).fetch_one(&mut c).await.unwrap().get(0);
    c.close().await.unwrap();
    v
}

/// Rows of `table` present in `a` and not in `b`, and the other way round,
/// compared by SQLite itself on every column plus each column's type (so
/// 1 and 1.0, or '' and NULL, are told apart).
pub async fn independent_diff(a: &Path, b: &Path, table: &str) -> (i64, i64) {
    let mut c = SqliteConnectOptions::from_str(&format!("sqlite://{}", a.display())).unwrap().connect().await.unwrap();
    sqlx::query(AssertSqlSafe(format!("ATTACH DATABASE '{}' AS other", b.display())))
        .execute(&mut c)
        .await
        .unwrap();
    let cols: Vec<String> = sqlx::query(AssertSqlSafe(format!("SELECT name FROM pragma_table_info('{table}')")))
        .fetch_all(&mut c)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    let select = cols
        .iter()
        .map(|c| format!("\"{c}\", typeof(\"{c}\")"))
        .collect::<Vec<_>>()
        .join(", ");
    let count = |x: &str, y: &str| {
        format!("SELECT count(*) FROM (SELECT {select} FROM {x}.\"{table}\" EXCEPT SELECT {select} FROM {y}.\"{table}\")")
    };
    let only_a: i64 = sqlx::query(AssertSqlSafe(count("main", "other"))).fetch_one(&mut c).await.unwrap().get(0);
    let only_b: i64 = sqlx::query(AssertSqlSafe(count("other", "main"))).fetch_one(&mut c).await.unwrap().get(0);
    c.close().await.unwrap();
    (only_a, only_b)
}

/// Key-level truth for `table` with key column list `key` (SQL):
/// (missing from b, extra in b, changed) counted by SQLite.
pub async fn independent_counts(a: &Path, b: &Path, table: &str, key: &[&str]) -> (i64, i64, i64) {
    let mut c = SqliteConnectOptions::from_str(&format!("sqlite://{}", a.display())).unwrap().connect().await.unwrap();
    sqlx::query(AssertSqlSafe(format!("ATTACH DATABASE '{}' AS other", b.display())))
        .execute(&mut c)
        .await
        .unwrap();
    let keys = key.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ");
    let q = |x: &str, y: &str| {
        format!("SELECT count(*) FROM (SELECT {keys} FROM {x}.\"{table}\" EXCEPT SELECT {keys} FROM {y}.\"{table}\")")
    };
    let missing: i64 = sqlx::query(AssertSqlSafe(q("main", "other"))).fetch_one(&mut c).await.unwrap().get(0);
    let extra: i64 = sqlx::query(AssertSqlSafe(q("other", "main"))).fetch_one(&mut c).await.unwrap().get(0);
    c.close().await.unwrap();
    let (only_a, _) = independent_diff(a, b, table).await;
    (missing, extra, only_a - missing)
}

pub fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-fixtures").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The shop fixture: a source file and its drifted target.
pub async fn shop_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let s = dir.join("source.db");
    let t = dir.join("target.db");
    exec(&s, &fixture("shop_source.sql")).await;
    exec(&t, &(fixture("shop_source.sql") + &fixture("shop_target_drift.sql"))).await;
    (s, t)
}

/// `base` (a server URL ending in /DATABASE) with another database name.
pub fn with_database(base: &str, name: &str) -> String {
    let cut = base.rfind('/').expect("a database in the server URL");
    format!("{}/{name}", &base[..cut])
}

/// The run failed with `code` and said so in one line naming `needle`,
/// without a panic.
pub fn assert_one_sentence(run: &Run, code: i32, needle: &str) {
    assert_eq!(run.code, code, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr: {:?}", run.stderr);
    assert!(lines[0].starts_with("rangesync: "), "{}", lines[0]);
    assert!(lines[0].contains(needle), "{:?} should mention {needle:?}", lines[0]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// The drift of the `one_scan_windows_...` tests (3 missing, 11 extra, 4
/// changed in 120,000 rows), found at two zooms, then repaired by `sync`.
pub fn diff_and_sync_the_one_scan_drift(src: &str, tgt: &str) {
    // Only the mismatched buckets are read as (key, hash) pairs: buckets
    // assigned wrongly in SQL would still end in the right counts, but
    // would show here.
    // One level ("4"): the overfilled bucket is cut again at level 0,
    // which must not count the rows twice.
    for (zoom, most_pairs) in [("50000,2", 200), ("10000,100,1", 4000), ("4", 300)] {
        let run = rangesync(&["diff", src, tgt, "--zoom", zoom, "--format", "json"]);
        assert_eq!(run.code, 1, "zoom {zoom}: {}", run.stderr);
        let d = &run.json()["datasets"][0];
        let counts = (d["missing"].as_i64(), d["extra"].as_i64(), d["changed"].as_i64());
        assert_eq!(counts, (Some(3), Some(11), Some(4)), "zoom {zoom}: {d}");
        assert_eq!((d["source_rows"].as_i64(), d["target_rows"].as_i64()), (Some(120_000), Some(120_008)), "zoom {zoom}");
        assert!(d["hashes_fetched"].as_i64().unwrap() < most_pairs, "zoom {zoom}: {d}");
    }
    let run = rangesync(&["sync", src, tgt, "--zoom", "50000,2", "--delete"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// The target drift of the `composite_integer_keys_...` tests (4 missing,
/// 2 extra, 3 changed) around the cuts of windows of 60,000 rows and
/// inside one value of `a`, in SQL that PostgreSQL and MySQL both run.
pub const COMPOSITE_DRIFT: &str = "DELETE FROM pairs WHERE (a, b) IN ((0, 0), (600, 0), (599, 99), (1299, 99)); \
     UPDATE pairs SET v = 'changed' WHERE (a, b) IN ((600, 1), (1200, 0), (5, 50)); \
     INSERT INTO pairs VALUES (599, 100, 'extra'), (1300, 0, 'extra');";

/// Finds [`COMPOSITE_DRIFT`] at zoom 1000,30 (windows of 60,000 rows, cut
/// by skipping index entries of the composite key), then repairs it.
pub fn diff_and_sync_the_composite_drift(src: &str, tgt: &str) {
    let run = rangesync(&["diff", src, tgt, "--zoom", "1000,30", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let d = &run.json()["datasets"][0];
    assert_eq!((d["missing"].as_u64(), d["extra"].as_u64(), d["changed"].as_u64()), (Some(4), Some(2), Some(3)), "{d}");
    assert!(d["hashes_fetched"].as_u64().unwrap() < 1000, "{d}");
    assert_eq!(rangesync(&["sync", src, tgt, "--zoom", "1000,30", "--delete"]).code, 0);
    assert_eq!(rangesync(&["diff", src, tgt]).code, 0);
}

/// A wrong password in `wrong` (whose password is `wrong-secret`) stops with
/// one sentence holding `reason`, masked and without retries; the right one
/// (`right-secret`) given by environment to `bare` (the URL without it) works
/// and is not shown either. `other` is the target both runs compare with.
pub fn assert_password_refused_then_accepted(wrong: &str, bare: &str, other: &str, reason: &str) {
    let started = std::time::Instant::now();
    let run = rangesync(&["diff", wrong, other]);
    assert_one_sentence(&run, 3, reason);
    assert!(run.stderr.contains("rs_test_pw:***@"), "{}", run.stderr);
    assert!(!run.stderr.contains("wrong-secret"), "{}", run.stderr);
    assert!(started.elapsed().as_secs() < 5, "a refused password is not retried");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rangesync"))
        .args(["diff", bare, other])
        .env("RANGESYNC_SOURCE_PASSWORD", "right-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("right-secret"));
}
