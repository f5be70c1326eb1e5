//! Ranges the target holds nothing of are copied, not narrowed: each source
//! row is read once (`rows_fetched`), no (key, hash) pair is read for them
//! (`hashes_fetched`), and they are written through the target's bulk path
//! (PostgreSQL `COPY`), checked by one fingerprint per range. Checked with
//! each server's own rendering of both tables.

mod common;

use common::{my, pg, rangesync};
use tempfile::TempDir;

/// 25,000 rows whose text holds what COPY's text format escapes (tab,
/// newline, carriage return, backslash, a literal `\N`), NULLs, unicode.
const PG_ROWS: &str = r#"
CREATE TABLE b (id int8 PRIMARY KEY, s text, x bytea, f float8, n numeric(12,3), ts timestamptz);
INSERT INTO b SELECT i,
    CASE i % 7 WHEN 0 THEN NULL WHEN 1 THEN E'tab\there' WHEN 2 THEN E'line\nbreak\r' WHEN 3 THEN E'back\\slash \\N' WHEN 4 THEN '' WHEN 5 THEN 'Zoë 日本 🚀' ELSE 'plain ' || i END,
    CASE WHEN i % 5 = 0 THEN NULL ELSE decode(lpad(to_hex(i), 8, '0'), 'hex') END,
    CASE i % 4 WHEN 0 THEN 'NaN' WHEN 1 THEN '-Infinity' WHEN 2 THEN i / 3.0 ELSE NULL END,
    i / 7.0,
    timestamptz '2024-01-01 00:00:00.123456+00' + i * interval '1 second'
FROM generate_series(1, 25000) i;
"#;

fn counts(run: &common::Run) -> (u64, u64, u64, u64) {
    let d = &run.json()["datasets"][0];
    let n = |k: &str| d[k].as_u64().unwrap_or_else(|| panic!("{k} in {d}"));
    (n("missing"), n("inserted"), n("rows_fetched"), n("hashes_fetched"))
}

#[tokio::test]
async fn an_empty_postgres_table_is_filled_by_copy_and_each_row_read_once() {
    let src = pg::fresh_db("rs_test_bulk_pg_src").await;
    let tgt = pg::fresh_db("rs_test_bulk_pg_tgt").await;
    pg::exec(&src, PG_ROWS).await;

    let diff = rangesync(&["diff", &src, &tgt, "--format", "json"]);
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    assert_eq!(counts(&diff), (25_000, 0, 0, 0), "a missing table is counted, not read: {}", diff.stdout);

    let run = rangesync(&["sync", &src, &tgt, "--create-tables", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(counts(&run), (25_000, 25_000, 25_000, 0), "{}", run.stdout);
    // Three ranges of 10,000 rows: the target's first key, the cuts, the
    // source's fingerprints, a page read and a COPY each, the target's
    // fingerprints; no statement per row or per bucket.
    let trips = run.json()["datasets"][0]["round_trips"].as_u64().unwrap();
    assert!((8..=20).contains(&trips), "{trips} round trips: {}", run.stdout);
    assert_eq!(pg::rows_as_text(&src, "b", "id").await, pg::rows_as_text(&tgt, "b", "id").await);
    assert_eq!(rangesync(&["diff", &src, &tgt, "--checksum", "exact"]).code, 0);

    // The target keeps its upper half: the lower half is filled, the rest
    // compared as usual and found equal.
    pg::exec(&tgt, "DELETE FROM b WHERE id <= 12000; UPDATE b SET s = 'changed' WHERE id = 20000;").await;
    let run = rangesync(&["sync", &src, &tgt, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = &run.json()["datasets"][0];
    assert_eq!((d["missing"].as_u64(), d["changed"].as_u64(), d["inserted"].as_u64()), (Some(12_000), Some(1), Some(12_000)), "{d}");
    assert!(d["hashes_fetched"].as_u64().unwrap() < 1000, "only the changed row's bucket is read as pairs: {d}");
    assert_eq!(pg::rows_as_text(&src, "b", "id").await, pg::rows_as_text(&tgt, "b", "id").await);
}

#[tokio::test]
async fn an_empty_table_is_filled_across_engines_and_on_mariadb() {
    // SQLite → PostgreSQL: values rendered by rangesync into COPY's text.
    let dir = TempDir::new().unwrap();
    let lite = dir.path().join("s.db");
    common::exec(
        &lite,
        "CREATE TABLE s (id INTEGER PRIMARY KEY, t TEXT, r REAL, b BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12000)
         INSERT INTO s SELECT i, CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN 'a' || char(9) || 'b\\' || char(10) ELSE 'é' END,
             i * 0.25, CASE WHEN i % 2 = 0 THEN randomblob(4) END FROM n;",
    )
    .await;
    let pg_tgt = pg::fresh_db("rs_test_bulk_lite_to_pg").await;
    let run = rangesync(&["sync", &common::url(&lite), &pg_tgt, "--create-tables", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(counts(&run), (12_000, 12_000, 12_000, 0), "{}", run.stdout);
    assert_eq!(pg::scalar(&pg_tgt, "SELECT count(*) FROM s WHERE t = E'a\\tb\\\\\\n'").await, 4000);
    assert_eq!(rangesync(&["diff", &common::url(&lite), &pg_tgt]).code, 0);

    // MariaDB → MariaDB.
    let src = my::fresh_db("rs_test_bulk_my_src").await;
    let tgt = my::fresh_db("rs_test_bulk_my_tgt").await;
    my::exec(
        &src,
        "CREATE TABLE m (id bigint PRIMARY KEY, t varchar(40), d decimal(12,3), f double, ts datetime(6));
         INSERT INTO m SELECT seq, CASE seq % 3 WHEN 0 THEN NULL WHEN 1 THEN CONCAT('tab\\there\\\\', seq) ELSE 'Zoë 日本' END,
             seq / 7, seq / 3e0, TIMESTAMP'2024-01-01 00:00:00.5' + INTERVAL seq SECOND FROM seq_1_to_15000;",
    )
    .await;
    let run = rangesync(&["sync", &src, &tgt, "--create-tables", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(counts(&run), (15_000, 15_000, 15_000, 0), "{}", run.stdout);
    let cols = ["id", "t", "d", "f", "ts"];
    assert_eq!(my::rows_as_text(&src, "m", &cols, "id").await, my::rows_as_text(&tgt, "m", &cols, "id").await);
}

/// `copy` for tables: a missing table is created and filled without any
/// comparison; a copy that was interrupted (the target holds a prefix of
/// the source, in key order) resumes after the target's largest key; a dry
/// run counts what it would copy. Checked with PostgreSQL's own rendering.
#[tokio::test]
async fn copy_fills_tables_and_resumes_after_the_last_key() {
    let src = pg::fresh_db("rs_test_copy_pg_src").await;
    let tgt = pg::fresh_db("rs_test_copy_pg_tgt").await;
    pg::exec(&src, PG_ROWS).await;
    pg::exec(&src, "CREATE TABLE pair (a int4, b text, v text, PRIMARY KEY (a, b)); \
                    INSERT INTO pair SELECT i % 50, 'k' || i, repeat('x', i % 9) FROM generate_series(1, 3000) i;").await;

    let dry = rangesync(&["copy", &src, &tgt, "--table", "b", "--dry-run", "--format", "json"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(counts(&dry), (25_000, 0, 0, 0), "{}", dry.stdout);
    assert_eq!(pg::scalar(&pg::url("postgres"), "SELECT count(*) FROM pg_database WHERE datname = 'rs_test_copy_pg_tgt'").await, 1);

    let run = rangesync(&["copy", &src, &tgt, "--format", "json", "--batch-size", "4000"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let datasets = run.json()["datasets"].as_array().unwrap().clone();
    let inserted: Vec<(String, u64, u64)> = datasets
        .iter()
        .map(|d| (d["name"].as_str().unwrap().to_string(), d["inserted"].as_u64().unwrap(), d["hashes_fetched"].as_u64().unwrap()))
        .collect();
    assert_eq!(inserted, [("b".to_string(), 25_000, 0), ("pair".to_string(), 3000, 0)], "{}", run.stdout);
    assert_eq!(pg::rows_as_text(&src, "b", "id").await, pg::rows_as_text(&tgt, "b", "id").await);
    assert_eq!(pg::rows_as_text(&src, "pair", "a, b").await, pg::rows_as_text(&tgt, "pair", "a, b").await);

    // Interrupted: the target kept the rows up to a key, in key order. The
    // next copy writes only the rest (no conflict with what is there).
    pg::exec(&tgt, "DELETE FROM b WHERE id > 17321; DELETE FROM pair WHERE (a, b) > (20, 'k1520');").await;
    let left = pg::scalar(&src, "SELECT count(*) FROM pair WHERE (a, b) > (20, 'k1520')").await as u64;
    let run = rangesync(&["copy", &src, &tgt, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = &run.json()["datasets"];
    assert_eq!((d[0]["inserted"].as_u64(), d[1]["inserted"].as_u64()), (Some(25_000 - 17_321), Some(left)), "{}", run.stdout);
    assert_eq!(pg::rows_as_text(&src, "b", "id").await, pg::rows_as_text(&tgt, "b", "id").await);
    assert_eq!(pg::rows_as_text(&src, "pair", "a, b").await, pg::rows_as_text(&tgt, "pair", "a, b").await);
    assert_eq!(rangesync(&["diff", &src, &tgt, "--checksum", "exact"]).code, 0);

    // Copied whole: nothing left to copy.
    let run = rangesync(&["copy", &src, &tgt, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["datasets"][0]["inserted"].as_u64(), Some(0), "{}", run.stdout);

    // Flags of the other family are one sentence, exit 2.
    common::assert_one_sentence(&rangesync(&["copy", &src, &tgt, "--chunk", "6h"]), 2, "--chunk and --order are for copying time series");
}

/// `copy` into SQLite files: a new file is created, filled, and a copy cut
/// short resumes after its largest (composite, text) key.
#[tokio::test]
async fn copy_into_sqlite_creates_the_file_and_resumes() {
    let dir = TempDir::new().unwrap();
    let (src, tgt) = (dir.path().join("s.db"), dir.path().join("t.db"));
    common::exec(
        &src,
        "CREATE TABLE c (k TEXT, n INTEGER, v REAL, PRIMARY KEY (k, n));
         WITH RECURSIVE q(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM q WHERE i < 9000)
         INSERT INTO c SELECT CASE i % 3 WHEN 0 THEN 'é' || (i % 7) WHEN 1 THEN 'A' || (i % 11) ELSE '' END, i, i / 4.0 FROM q;",
    )
    .await;
    let run = rangesync(&["copy", &common::url(&src), &common::url(&tgt), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["datasets"][0]["inserted"].as_u64(), Some(9000), "{}", run.stdout);
    assert_eq!(common::independent_diff(&src, &tgt, "c").await, (0, 0));

    common::exec(&tgt, "DELETE FROM c WHERE (k, n) > ('A3', 5000)").await;
    let left = 9000 - common::scalar(&tgt, "SELECT count(*) FROM c").await as u64;
    let run = rangesync(&["copy", &common::url(&src), &common::url(&tgt), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["datasets"][0]["inserted"].as_u64(), Some(left), "{}", run.stdout);
    assert_eq!(common::independent_diff(&src, &tgt, "c").await, (0, 0));
}
