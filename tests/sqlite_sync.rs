//! diff and sync between real SQLite files, checked against SQLite's own
//! comparison of the two files (not against rangesync's diff alone).

mod common;

use common::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

fn counts(report: &serde_json::Value, table: &str) -> (i64, i64, i64) {
    let d = report["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == table)
        .unwrap_or_else(|| panic!("no dataset {table} in {report}"));
    (d["missing"].as_i64().unwrap(), d["extra"].as_i64().unwrap(), d["changed"].as_i64().unwrap())
}

fn dataset<'a>(report: &'a serde_json::Value, table: &str) -> &'a serde_json::Value {
    report["datasets"].as_array().unwrap().iter().find(|d| d["name"] == table).unwrap()
}

#[tokio::test]
async fn shop_fixture_diff_finds_exactly_the_drift_and_sync_repairs_it() {
    let dir = TempDir::new().unwrap();
    let (s, t) = shop_pair(dir.path()).await;
    let run = rangesync(&["diff", &url(&s), &url(&t), "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["in_sync"], false);
    for (table, key) in [("orders", &["id"][..]), ("customers", &["email"]), ("order_items", &["order_id", "line"])] {
        let truth = independent_counts(&s, &t, table, key).await;
        assert_eq!(counts(&report, table), truth, "table {table}");
        assert!(truth != (0, 0, 0), "the fixture drifts {table}");
        assert_eq!(dataset(&report, table)["rows_fetched"], 0, "diff fetches no full rows");
    }

    let run = rangesync(&["sync", &url(&s), &url(&t), "--delete", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["in_sync"], true);
    let orders = dataset(&report, "orders");
    assert_eq!(orders["inserted"], orders["missing"]);
    assert_eq!(orders["updated"], orders["changed"]);
    assert_eq!(orders["deleted"], orders["extra"]);
    let differing = orders["missing"].as_i64().unwrap() + orders["changed"].as_i64().unwrap();
    // Only differing rows are fetched from the source, and read back once
    // written to check the target holds them exactly.
    assert_eq!(orders["rows_fetched"].as_i64().unwrap(), 2 * differing);

    for table in ["orders", "customers", "order_items"] {
        assert_eq!(independent_diff(&s, &t, table).await, (0, 0), "table {table} equal after sync");
    }
    let again = rangesync(&["diff", &url(&s), &url(&t)]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

/// Builds a table whose integer keys have gaps, then drifts the target at
/// the places a narrowing can get wrong: first and last rows, rows on range
/// boundaries of every zoom level, rows inside gaps, runs of neighbours.
async fn drifted_pair(dir: &std::path::Path, seed: u64, rows: i64, boundaries: &[i64]) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let s = dir.join(format!("s{seed}.db"));
    let t = dir.join(format!("t{seed}.db"));
    let mut keys = Vec::new();
    let mut k = 0i64;
    for _ in 0..rows {
        k += if rng.random_bool(0.1) { rng.random_range(2..50) } else { 1 };
        keys.push(k);
    }
    let mut sql = String::from("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, tag BLOB);\nBEGIN;\n");
    for &k in &keys {
        sql.push_str(&format!("INSERT INTO t VALUES ({k}, 'name {k}', {}, x'{:02x}');\n", k as f64 / 8.0, k % 256));
    }
    sql.push_str("COMMIT;\n");
    exec(&s, &sql).await;

    let mut drift = sql.clone();
    drift.push_str("BEGIN;\n");
    // Positions on every level's boundaries (row number multiples), both
    // neighbours, the first and the last row, and random ones.
    let mut positions: Vec<usize> = vec![0, 1, keys.len() - 1, keys.len() - 2];
    for &b in boundaries {
        let mut p = b as usize;
        while p < keys.len() {
            positions.extend([p - 1, p, (p + 1).min(keys.len() - 1)]);
            p += b as usize * rng.random_range(1..4);
        }
    }
    for _ in 0..rows / 50 {
        positions.push(rng.random_range(0..keys.len()));
    }
    positions.sort();
    positions.dedup();
    for p in positions {
        let k = keys[p];
        match rng.random_range(0..5) {
            0 => drift.push_str(&format!("DELETE FROM t WHERE id = {k};\n")),
            1 => drift.push_str(&format!("UPDATE t SET name = name || '!' WHERE id = {k};\n")),
            2 => drift.push_str(&format!("UPDATE t SET score = NULL WHERE id = {k};\n")),
            3 => drift.push_str(&format!("UPDATE t SET tag = x'' WHERE id = {k};\n")),
            // An extra row inside the gap after k (if there is one) or past the end.
            _ => drift.push_str(&format!("INSERT OR IGNORE INTO t VALUES ({}, 'extra', 0.0, NULL);\n", k + 1)),
        }
    }
    drift.push_str("INSERT INTO t VALUES (-5, 'before the first', 1, NULL);\n");
    drift.push_str(&format!("INSERT INTO t VALUES ({}, 'after the last', 1, NULL);\nCOMMIT;\n", k + 1000));
    exec(&t, &drift).await;
    (s, t)
}

#[tokio::test]
async fn random_drift_at_range_boundaries_is_found_and_repaired_at_every_zoom() {
    let zooms = ["50,7,1", "100,1", "1", "10000,100,1", "400,20,3"];
    for (seed, zoom) in zooms.iter().enumerate() {
        let dir = TempDir::new().unwrap();
        let (s, t) = drifted_pair(dir.path(), seed as u64, 1500, &[50, 7, 100, 20, 3]).await;
        let truth = independent_counts(&s, &t, "t", &["id"]).await;
        let run = rangesync(&["diff", &url(&s), &url(&t), "--zoom", zoom, "--format", "json"]);
        assert_eq!(run.code, 1, "zoom {zoom}: {}", run.stderr);
        assert_eq!(counts(&run.json(), "t"), truth, "zoom {zoom}, seed {seed}");

        let run = rangesync(&["sync", &url(&s), &url(&t), "--zoom", zoom, "--delete", "--format", "json"]);
        assert_eq!(run.code, 0, "zoom {zoom}: {}", run.stderr);
        assert_eq!(independent_diff(&s, &t, "t").await, (0, 0), "zoom {zoom}, seed {seed}");
        let again = rangesync(&["diff", &url(&s), &url(&t), "--zoom", zoom]);
        assert_eq!(again.code, 0, "zoom {zoom}: {}", again.stdout);
    }
}

#[tokio::test]
async fn composite_text_keys_order_bytewise_including_unicode_case_and_empty() {
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("s.db");
    let t = dir.path().join("t.db");
    let words = ["", "A", "B", "a", "b", "é", "e\u{301}", "Z", "z", "日本", "🚀", "NULL", " ", "a b", "ab"];
    let mut sql = String::from(
        "CREATE TABLE kv (region TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL, n INTEGER, v TEXT, PRIMARY KEY (name, region, n));\n",
    );
    for (i, w) in words.iter().enumerate() {
        for (j, r) in words.iter().enumerate().step_by(3) {
            sql.push_str(&format!("INSERT OR IGNORE INTO kv VALUES ('{r}', '{w}', {}, 'v{i}-{j}');\n", (i * j) as i64 - 20));
        }
    }
    exec(&s, &sql).await;
    let drift = format!(
        "{sql}DELETE FROM kv WHERE name = '';\nUPDATE kv SET v = NULL WHERE name = 'é';\nUPDATE kv SET v = '' WHERE name = '🚀';\n\
         INSERT INTO kv VALUES ('x', 'e\u{301}', 999, 'extra');\nDELETE FROM kv WHERE name = 'ab';\n"
    );
    exec(&t, &drift).await;
    let truth = independent_counts(&s, &t, "kv", &["name", "region", "n"]).await;
    for zoom in ["4,2,1", "1", "30,1"] {
        let run = rangesync(&["diff", &url(&s), &url(&t), "--zoom", zoom, "--format", "json"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(counts(&run.json(), "kv"), truth, "zoom {zoom}");
    }
    let run = rangesync(&["sync", &url(&s), &url(&t), "--zoom", "4,2,1", "--delete"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(independent_diff(&s, &t, "kv").await, (0, 0));
    assert_eq!(rangesync(&["diff", &url(&s), &url(&t), "--zoom", "4,2,1"]).code, 0);
}

#[tokio::test]
async fn edge_values_are_told_apart() {
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("s.db");
    let t = dir.path().join("t.db");
    let base = "CREATE TABLE e (id INTEGER PRIMARY KEY, v);\n\
        INSERT INTO e VALUES (1, NULL), (2, ''), (3, 'NULL'), (4, -0.0), (5, 9223372036854775807), \
        (6, -9223372036854775808), (7, x''), (8, x'00'), (9, 'é'), (10, 1), (11, 1.5), (12, '1');\n";
    exec(&s, base).await;
    // Each row of the target holds a look-alike of the source's value.
    let drift = format!(
        "{base}UPDATE e SET v = '' WHERE id = 1; UPDATE e SET v = NULL WHERE id = 2; UPDATE e SET v = NULL WHERE id = 3;\n\
         UPDATE e SET v = 9223372036854775806 WHERE id = 5; UPDATE e SET v = x'' WHERE id = 8; UPDATE e SET v = '' WHERE id = 7;\n\
         UPDATE e SET v = 'e' || char(769) WHERE id = 9; UPDATE e SET v = 1.0 WHERE id = 10; UPDATE e SET v = 1 WHERE id = 12;\n"
    );
    exec(&t, &drift).await;
    let truth = independent_counts(&s, &t, "e", &["id"]).await;
    assert_eq!(truth, (0, 0, 9));
    let run = rangesync(&["diff", &url(&s), &url(&t), "--format", "json"]);
    assert_eq!(counts(&run.json(), "e"), truth);
    assert_eq!(rangesync(&["sync", &url(&s), &url(&t)]).code, 0);
    assert_eq!(independent_diff(&s, &t, "e").await, (0, 0));
}

#[tokio::test]
async fn without_delete_extra_rows_stay_and_are_reported() {
    let dir = TempDir::new().unwrap();
    let (s, t) = shop_pair(dir.path()).await;
    let run = rangesync(&["sync", &url(&s), &url(&t), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["in_sync"], false, "extras remain");
    let orders = dataset(&report, "orders");
    assert_eq!(orders["deleted"], 0);
    assert_eq!(orders["remaining"], orders["extra"]);
    let (missing, extra, changed) = independent_counts(&s, &t, "orders", &["id"]).await;
    assert_eq!((missing, changed), (0, 0));
    assert_eq!(extra, orders["extra"].as_i64().unwrap());
    let text = rangesync(&["sync", &url(&s), &url(&t)]);
    assert!(text.stdout.contains("Extra rows are kept unless --delete is given"), "{}", text.stdout);

    exec(&t, "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, line TEXT); INSERT INTO audit_log VALUES (1, 'kept');").await;
    let run = rangesync(&["sync", &url(&s), &url(&t), "--delete", "--format", "json"]);
    let notes = run.json()["notes"].to_string();
    assert!(notes.contains("table audit_log exists only in"), "{notes}");
    assert_eq!(scalar(&t, "SELECT count(*) FROM audit_log").await, 1, "a target-only table is never touched");
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let (s, t) = shop_pair(dir.path()).await;
    let before = std::fs::read(&t).unwrap();
    let run = rangesync(&["sync", &url(&s), &url(&t), "--delete", "--dry-run", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["dry_run"], true);
    let orders = dataset(&report, "orders");
    assert_eq!((orders["inserted"].as_i64(), orders["deleted"].as_i64()), (Some(0), Some(0)));
    assert!(orders["remaining"].as_i64().unwrap() > 0);
    assert_eq!(std::fs::read(&t).unwrap(), before, "the target file is byte-identical");

    let absent = dir.path().join("absent.db");
    let run = rangesync(&["sync", &url(&s), &url(&absent), "--dry-run", "--format", "json"]);
    assert_eq!(run.code, 2, "a missing table needs --create-tables, in a dry run too");
    assert!(run.stderr.contains("does not exist in sqlite://") && run.stderr.contains("--create-tables"), "{}", run.stderr);
    let run = rangesync(&["sync", &url(&s), &url(&absent), "--dry-run", "--create-tables", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    let orders = dataset(&report, "orders");
    assert_eq!((orders["missing"].as_i64(), orders["created"].as_bool()), (Some(3000), Some(true)));
    assert!(!absent.exists(), "a dry run creates no file");
}

#[tokio::test]
async fn sync_creates_missing_tables_and_files_from_the_source_definition() {
    let dir = TempDir::new().unwrap();
    let (s, _) = shop_pair(dir.path()).await;
    let fresh = dir.path().join("fresh.db");
    let run = rangesync(&["sync", &url(&s), &url(&fresh), "--create-tables", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["in_sync"], true);
    assert_eq!(dataset(&report, "orders")["created"], true);
    for table in ["orders", "customers", "order_items"] {
        assert_eq!(independent_diff(&s, &fresh, table).await, (0, 0), "{table}");
    }
    let idx = scalar(&fresh, "SELECT count(*) FROM sqlite_schema WHERE name = 'orders_by_customer'").await;
    assert_eq!(idx, 1, "indexes come along");
    let without_rowid = scalar(&fresh, "SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_schema WHERE name = 'order_items'").await;
    assert_eq!(without_rowid, 1);
    // A rerun has nothing to do.
    let run = rangesync(&["sync", &url(&s), &url(&fresh), "--format", "json"]);
    let report = run.json();
    assert!(report["datasets"].as_array().unwrap().iter().all(|d| d["inserted"] == 0 && d["updated"] == 0));
}

#[tokio::test]
async fn small_batches_resume_inside_a_range_until_everything_is_applied() {
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("s.db");
    let t = dir.path().join("t.db");
    exec(&s, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (1000, 'z');").await;
    let mut sql = String::from("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'b');");
    for i in 2..600 {
        sql.push_str(&format!("INSERT INTO t VALUES ({i}, 'extra');"));
    }
    exec(&t, &sql).await;
    let run = rangesync(&["sync", &url(&s), &url(&t), "--delete", "--batch-size", "7", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = run.json();
    let d = dataset(&d, "t");
    assert_eq!((d["missing"].as_i64(), d["extra"].as_i64(), d["changed"].as_i64()), (Some(1), Some(598), Some(1)));
    assert_eq!(d["deleted"], 598);
    assert_eq!(independent_diff(&s, &t, "t").await, (0, 0));
}

#[tokio::test]
async fn an_empty_source_table_against_a_full_target() {
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("s.db");
    let t = dir.path().join("t.db");
    exec(&s, "CREATE TABLE t (id TEXT PRIMARY KEY, v INTEGER);").await;
    let mut sql = String::from("CREATE TABLE t (id TEXT PRIMARY KEY, v INTEGER);");
    for i in 0..2500 {
        sql.push_str(&format!("INSERT INTO t VALUES ('k{i:05}', {i});"));
    }
    exec(&t, &sql).await;
    let run = rangesync(&["diff", &url(&s), &url(&t), "--zoom", "100,10,1", "--format", "json"]);
    assert_eq!(counts(&run.json(), "t"), (0, 2500, 0));
    let run = rangesync(&["sync", &url(&s), &url(&t), "--delete"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scalar(&t, "SELECT count(*) FROM t").await, 0);
}

#[tokio::test]
async fn fetches_stay_proportional_to_the_drift() {
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("s.db");
    let t = dir.path().join("t.db");
    let base = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\n\
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) INSERT INTO t SELECT i * 3, 'row ' || i FROM n;\n";
    exec(&s, base).await;
    exec(&t, &format!("{base}UPDATE t SET v = 'changed' WHERE id % 9999 = 0;")).await;
    let run = rangesync(&["sync", &url(&s), &url(&t), "--format", "json"]);
    let report = run.json();
    let d = dataset(&report, "t");
    let changed = d["changed"].as_i64().unwrap();
    assert_eq!(changed, 15);
    assert_eq!(d["rows_fetched"].as_i64().unwrap(), 2 * changed, "fetched from the source, read back from the target");
    // Default zoom: 100-row ranges at the finest level, both sides.
    assert!(d["hashes_fetched"].as_i64().unwrap() <= changed * 2 * 100, "{d}");
    assert_eq!(independent_diff(&s, &t, "t").await, (0, 0));
}

#[tokio::test]
async fn pair_pages_resume_exactly_after_the_last_key() {
    // With zoom 1 the whole table is one range read in pages of 4096 pairs;
    // drift sits on both sides of each page boundary.
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("s.db");
    let t = dir.path().join("t.db");
    let base = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\n\
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) INSERT INTO t SELECT i * 2, 'v' || i FROM n;\n";
    exec(&s, base).await;
    exec(
        &t,
        &format!(
            "{base}DELETE FROM t WHERE id IN (8190, 8194, 16384);\n\
             UPDATE t SET v = 'x' WHERE id IN (8192, 16382, 16386);\n\
             INSERT INTO t VALUES (8191, 'extra'), (8193, 'extra'), (16385, 'extra');\n"
        ),
    )
    .await;
    let truth = independent_counts(&s, &t, "t", &["id"]).await;
    assert_eq!(truth, (3, 3, 3));
    let run = rangesync(&["diff", &url(&s), &url(&t), "--zoom", "1", "--format", "json"]);
    let report = run.json();
    assert_eq!(counts(&report, "t"), truth);
    assert_eq!(dataset(&report, "t")["source_rows"], 10000);
    assert_eq!(dataset(&report, "t")["target_rows"], 10000);
    assert_eq!(rangesync(&["sync", &url(&s), &url(&t), "--zoom", "1", "--delete"]).code, 0);
    assert_eq!(independent_diff(&s, &t, "t").await, (0, 0));
}

#[tokio::test]
async fn a_sync_killed_midway_is_repaired_by_the_next_run() {
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("s.db");
    let t = dir.path().join("t.db");
    exec(
        &s,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, w REAL);\n\
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000) \
         INSERT INTO t SELECT i, printf('row %d with some text to write', i), i / 3.0 FROM n;",
    )
    .await;
    exec(&t, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, w REAL); INSERT INTO t VALUES (0, 'extra', 0);").await;
    for delay_ms in [150u64, 400] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rangesync"))
            .args(["sync", &url(&s), &url(&t), "--delete", "--batch-size", "20", "-q"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL: no cleanup, a transaction may be open
        let _ = child.wait();
    }
    let partial = scalar(&t, "SELECT count(*) FROM t").await;
    assert!(partial < 60000, "the killed runs did not finish ({partial} rows), so the test exercises a repair");
    let run = rangesync(&["sync", &url(&s), &url(&t), "--delete", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(independent_diff(&s, &t, "t").await, (0, 0));
    assert_eq!(rangesync(&["diff", &url(&s), &url(&t)]).code, 0);
}

/// A writer killed mid-transaction leaves a hot journal, which the
/// read-only connection a run checks the target with cannot roll back
/// (SQLITE_READONLY_ROLLBACK). The next run has SQLite roll it back (the
/// committed state restored, as any client would on first access) and
/// repairs the target.
#[tokio::test]
async fn a_hot_journal_left_by_a_killed_writer_is_rolled_back_then_repaired() {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let dir = TempDir::new().unwrap();
    let (s, t, live) = (dir.path().join("s.db"), dir.path().join("t.db"), dir.path().join("live.db"));
    exec(&s, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');").await;
    exec(&live, "PRAGMA journal_mode = DELETE; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');").await;
    // A transaction in progress, big enough to spill into the file, copied
    // as a crash leaves it: the file and its journal, no lock held.
    let opts = |p: &std::path::Path| sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", p.display())).unwrap();
    let mut writer = opts(&live).connect().await.unwrap();
    for statement in ["PRAGMA cache_size = 2", "BEGIN", "INSERT INTO t SELECT 100 + value, printf('%0500d', value) FROM generate_series(1, 2000)"] {
        if sqlx::query(statement).execute(&mut writer).await.is_err() {
            // No generate_series in this SQLite build: a recursive CTE.
            sqlx::query("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t SELECT 100 + i, printf('%0500d', i) FROM n")
                .execute(&mut writer)
                .await
                .unwrap();
        }
    }
    let journal = |p: &std::path::Path| p.with_file_name(format!("{}-journal", p.file_name().unwrap().to_string_lossy()));
    std::fs::copy(&live, &t).unwrap();
    std::fs::copy(journal(&live), journal(&t)).unwrap();
    writer.close().await.unwrap();
    // The precondition: a read-only connection cannot open it.
    let refused = match opts(&t).read_only(true).connect().await {
        Ok(mut c) => sqlx::query("SELECT count(*) FROM sqlite_schema").fetch_one(&mut c).await.err(),
        Err(e) => Some(e),
    };
    assert!(refused.is_some_and(|e| e.to_string().contains("776")), "the copy holds a hot journal");
    let run = rangesync(&["sync", &url(&s), &url(&t), "--delete", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!journal(&t).exists(), "the journal was rolled back");
    assert_eq!(independent_diff(&s, &t, "t").await, (0, 0));
}

#[tokio::test]
async fn keys_equal_under_the_column_collation_but_not_bytewise_converge() {
    // 'Bob' and 'bob' are one key to a NOCASE column and two to rangesync;
    // 2 and 2.0 are one key to SQLite and differ in type. A sync must leave
    // the target holding the source's exact bytes, with or without --delete.
    for delete in [true, false] {
        let dir = TempDir::new().unwrap();
        let s = dir.path().join("s.db");
        let t = dir.path().join("t.db");
        let schema = "CREATE TABLE u (email TEXT COLLATE NOCASE PRIMARY KEY, name TEXT); CREATE TABLE n (id PRIMARY KEY, v TEXT);";
        exec(&s, &format!("{schema} INSERT INTO u VALUES ('Bob@x.com', 'Bob'), ('carol@x.com', 'C'); INSERT INTO n VALUES (2, 'two'), (3, 'three');")).await;
        exec(&t, &format!("{schema} INSERT INTO u VALUES ('bob@x.com', 'Bob'), ('carol@x.com', 'C'); INSERT INTO n VALUES (2.0, 'two'), (3, 'three');")).await;
        let mut args = vec!["sync".to_string(), url(&s), url(&t)];
        if delete {
            args.push("--delete".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = rangesync(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        for table in ["u", "n"] {
            assert_eq!(independent_diff(&s, &t, table).await, (0, 0), "table {table}, delete {delete}");
        }
        assert_eq!(rangesync(&["diff", &url(&s), &url(&t)]).code, 0, "delete {delete}");
    }
}

#[tokio::test]
async fn row_counts_stay_exact_when_a_range_resumes_after_a_full_batch() {
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("s.db");
    let t = dir.path().join("t.db");
    let base = "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER);\
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) INSERT INTO t SELECT i, i FROM n;";
    exec(&s, base).await;
    exec(&t, &format!("{base} UPDATE t SET v = -v WHERE id % 10 = 0;")).await;
    let run = rangesync(&["sync", &url(&s), &url(&t), "--zoom", "1", "--batch-size", "2", "--format", "json"]);
    let report = run.json();
    let d = dataset(&report, "t");
    assert_eq!((d["source_rows"].as_i64(), d["target_rows"].as_i64()), (Some(100), Some(100)), "{d}");
    assert_eq!(d["hashes_fetched"], 200);
    assert_eq!(d["changed"], 10);
}

/// `--format jsonl`: every differing key on its own line with its kind (a
/// range TARGET lacks whole included), the report last; checked against
/// the keys SQLite itself finds differing.
#[tokio::test]
async fn jsonl_lists_every_differing_key_then_the_report() {
    let dir = TempDir::new().unwrap();
    let (s, t) = (dir.path().join("s.db"), dir.path().join("t.db"));
    let fill = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO t SELECT i, 'v' || i FROM n;";
    exec(&s, &format!("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); {fill}")).await;
    exec(&t, &format!("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); {fill}")).await;
    // Missing: a whole stretch (a range TARGET holds nothing of) and single
    // keys; extra; changed.
    exec(&t, "DELETE FROM t WHERE id BETWEEN 1000 AND 1999 OR id IN (5, 2500); INSERT INTO t VALUES (4000, 'x'); UPDATE t SET v = 'changed' WHERE id IN (7, 2999);").await;
    let run = rangesync(&["diff", &url(&s), &url(&t), "--format", "jsonl"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let (report, keys) = lines.split_last().unwrap();
    assert_eq!(report["in_sync"], false, "the report is the last line");
    let mut listed: Vec<(String, i64)> = keys
        .iter()
        .map(|k| {
            assert_eq!(k["dataset"], "t");
            (k["kind"].as_str().unwrap().to_string(), k["key"].as_str().unwrap().trim_matches(|c| c == '(' || c == ')').parse().unwrap())
        })
        .collect();
    listed.sort_by_key(|(_, id)| *id);
    let mut expected: Vec<(String, i64)> = (1000..=1999).chain([5, 2500]).map(|id| ("missing".to_string(), id)).collect();
    expected.extend([("extra".to_string(), 4000), ("changed".to_string(), 7), ("changed".to_string(), 2999)]);
    expected.sort_by_key(|(_, id)| *id);
    assert_eq!(listed, expected);
    // A sync lists what it repairs, and repairs it.
    let sync = rangesync(&["sync", &url(&s), &url(&t), "--delete", "--format", "jsonl"]);
    assert_eq!(sync.code, 0, "{}", sync.stderr);
    assert_eq!(sync.stdout.lines().count(), expected.len() + 1);
    assert_eq!(independent_diff(&s, &t, "t").await, (0, 0));
    let clean = rangesync(&["diff", &url(&s), &url(&t), "--format", "jsonl"]);
    assert_eq!((clean.code, clean.stdout.lines().count()), (0, 1), "in sync: the report alone");
    // --output: the same lines in a file, nothing on stdout.
    exec(&t, "DELETE FROM t WHERE id IN (5, 6);").await;
    let file = dir.path().join("keys.jsonl");
    let to_file = rangesync(&["diff", &url(&s), &url(&t), "--format", "jsonl", "--output", file.to_str().unwrap()]);
    assert_eq!((to_file.code, to_file.stdout.as_str()), (1, ""), "{}", to_file.stderr);
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.lines().count(), 3, "two keys and the report: {written}");
    assert!(written.lines().next().unwrap().contains("\"missing\""), "{written}");
    let nowhere = dir.path().join("no/such/dir/out.json");
    assert_one_sentence(&rangesync(&["diff", &url(&s), &url(&t), "--output", nowhere.to_str().unwrap()]), 2, "--output");
}

/// A NUMERIC primary key (SQLite orders its numbers by value) pairs and
/// syncs as before; its values are read as the decimals they print as.
#[tokio::test]
async fn a_numeric_key_syncs_between_sqlite_files() {
    let dir = TempDir::new().unwrap();
    let (s, t) = (dir.path().join("s.db"), dir.path().join("t.db"));
    let ddl = "CREATE TABLE p (id NUMERIC PRIMARY KEY, price DECIMAL(10,2));";
    exec(&s, &format!("{ddl} INSERT INTO p VALUES (1, 0.99), (2.5, 10), (10, 1.5), (9, NULL);")).await;
    exec(&t, &format!("{ddl} INSERT INTO p VALUES (1, 0.98), (3, 1);")).await;
    let run = rangesync(&["sync", &url(&s), &url(&t), "--delete", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = &run.json()["datasets"][0];
    assert_eq!((d["inserted"].as_i64(), d["updated"].as_i64(), d["deleted"].as_i64()), (Some(3), Some(1), Some(1)), "{d}");
    assert_eq!(independent_diff(&s, &t, "p").await, (0, 0));
}
