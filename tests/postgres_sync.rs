//! diff and sync against a real PostgreSQL server, PostgreSQL ↔ PostgreSQL
//! and SQLite ↔ PostgreSQL, checked with PostgreSQL's own rendering of the
//! rows (not with rangesync's hashes).

mod common;

use common::{pg, rangesync};
use rangesync::connector::{self, Access, Endpoint};
use rangesync::engine::fingerprint::{Fingerprint, HashScheme, RowHash, RustHash};
use rangesync::engine::store::Projection;
use rangesync::engine::KeyRange;
use tempfile::TempDir;

/// Every type of the contract, NULL in every column of some row, and the
/// values that trip canonical encodings up.
const ALL_TYPES: &str = r#"
CREATE TABLE "All Types" (
    id int8 PRIMARY KEY,
    i2 int2, i4 int4, big int8, dec numeric(20,6), f8 float8, f4 real,
    "select" text, vc varchar(30), ch char(4), ok bool, d date, tm time,
    ts timestamp, tz timestamptz, u uuid, j jsonb, js json, b bytea
);
INSERT INTO "All Types" VALUES
 (1, 1, 1, 9223372036854775807, 123456.789, 0.1, 0.1, 'plain', 'v', 'ab', true, '2024-02-29', '23:59:59.999999',
  '2024-01-01 00:00:00.000001', '2024-01-01 00:00:00+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1, "a": [1, 2]}', '{"b":1,  "a":2}', '\x00ff'),
 (2, -32768, -2147483648, -9223372036854775808, -0.000001, '-0.0', 'NaN', '', '', '', false, '1969-12-31', '00:00:00',
  '1969-12-31 23:59:59.999999', '1900-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000', 'null', '[]', '\x'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 0, 0, 0, 0, 'Infinity', '-Infinity', 'NULL', 'Zoë 日本 🚀', 'é', true, '0001-01-01', '12:00:00.5',
  '2038-01-19 03:14:08', '2262-04-11 23:47:16.854775+00', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '"x"', '"x"', '\x0102'),
 (5, 5, 5, 5, 1.50, 1e308, 3.4e38, 'line
break	tab', 'quote''s', 'x', false, '9999-12-31', '00:00:00.000001', '2000-01-01 12:00:00', '2000-01-01 12:00:00-08',
  '12345678-1234-1234-1234-123456789abc', '{}', '{}', '\xdeadbeef');
"#;

const ORDER: &str = "id";

async fn all_types_db(name: &str) -> String {
    let url = pg::fresh_db(name).await;
    pg::exec(&url, ALL_TYPES).await;
    url
}

#[tokio::test]
async fn postgres_hashes_every_type_exactly_as_rangesync_does() {
    // The in-server canonical encoding (SQL) against the Rust one, on the
    // values the server hands out: any disagreement is a type rendered
    // differently in the two places.
    let url = all_types_db("rs_test_pg_hash_types").await;
    let endpoint = Endpoint::parse(&url).unwrap();
    let store = connector::open(&endpoint, Access::Read).await.unwrap();
    let schema = store.table_schema("All Types").await.unwrap().unwrap();
    let projection = Projection {
        table: "All Types".into(),
        columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
        key: schema.key.clone(),
        hash: HashScheme::Md5,
        filter: None,
        since: None,
        query: None,
    };
    let ds = store.dataset(&projection).await.unwrap();
    use futures_util::StreamExt;
    let pairs: Vec<_> = ds.row_hashes(&KeyRange::full()).map(|r| r.unwrap()).collect().await;
    assert_eq!(pairs.len(), 5);
    let rows = ds.fetch_rows(&pairs.iter().map(|p| p.0.clone()).collect::<Vec<_>>()).await.unwrap();
    let mut by_rust = Fingerprint::EMPTY;
    for (key, server_hash) in &pairs {
        let row = rows.iter().find(|r| r[0] == key.0[0]).unwrap();
        let rust_hash = RowHash::of_values_with(RustHash::Md5, row);
        assert_eq!(*server_hash, rust_hash, "row {key}: {row:?}");
        by_rust.add_row(rust_hash);
    }
    assert_eq!(ds.fingerprints(&[KeyRange::full()]).await.unwrap()[0], by_rust);
}

#[tokio::test]
async fn postgres_to_postgres_every_type_with_drift_converges() {
    let src = all_types_db("rs_test_pg_src").await;
    let tgt = all_types_db("rs_test_pg_tgt").await;
    pg::exec(
        &tgt,
        r#"DELETE FROM "All Types" WHERE id IN (1, 5);
           UPDATE "All Types" SET f8 = 0.0 WHERE id = 2;
           UPDATE "All Types" SET dec = 1.5000001 WHERE id = 4;
           UPDATE "All Types" SET tz = tz + interval '1 microsecond', "select" = 'x' WHERE id = 3;
           INSERT INTO "All Types" (id, vc) VALUES (-7, 'extra'), (100, 'extra');"#,
    )
    .await;
    // Row 2's `-0.0` against `0.0` is a change for the exact checksum and
    // equal for the fast one (PostgreSQL's float hash, like its `=`, does
    // not tell the zeros apart: docs/hashing.md, "Which values are equal").
    for (checksum, changed) in [("exact", 3), ("fast", 2)] {
        let run = rangesync(&["diff", &src, &tgt, "--checksum", checksum, "--format", "json"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let d = &run.json()["datasets"][0];
        assert_eq!((d["missing"].as_i64(), d["extra"].as_i64(), d["changed"].as_i64()), (Some(2), Some(2), Some(changed)), "{checksum}: {d}");
        assert_eq!(d["rows_fetched"], 0);
    }

    let run = rangesync(&["sync", &src, &tgt, "--delete", "--checksum", "exact", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let q = "\"All Types\"";
    assert_eq!(pg::rows_as_text(&src, q, ORDER).await, pg::rows_as_text(&tgt, q, ORDER).await);
    assert_eq!(rangesync(&["diff", &src, &tgt, "--checksum", "exact"]).code, 0);
    assert_eq!(rangesync(&["diff", &src, &tgt]).code, 0);
}

#[tokio::test]
async fn text_and_composite_keys_compare_bytewise_whatever_the_collation() {
    let ddl = r#"CREATE TABLE kv (region text COLLATE "en_US.utf8", name varchar(40), n int4, v text, PRIMARY KEY (region, name, n));"#;
    let ddl = if pg::scalar(&pg::server_url(), "SELECT count(*) FROM pg_collation WHERE collname = 'en_US.utf8'").await > 0 {
        ddl.to_string()
    } else {
        ddl.replace(r#" COLLATE "en_US.utf8""#, "")
    };
    let words = ["", "A", "a", "B", "b", "é", "e\u{301}", "Z", "日本", "🚀", " ", "a b", "ab", "NULL"];
    let mut rows = String::from("INSERT INTO kv VALUES ");
    let mut first = true;
    for (i, r) in words.iter().enumerate() {
        for (j, n) in words.iter().enumerate().step_by(2) {
            if !first {
                rows.push(',');
            }
            first = false;
            rows.push_str(&format!("('{r}', '{n}', {}, 'v{i}{j}')", (i * j) as i64 - 10));
        }
    }
    let src = pg::fresh_db("rs_test_pg_keys_src").await;
    let tgt = pg::fresh_db("rs_test_pg_keys_tgt").await;
    pg::exec(&src, &format!("{ddl} {rows};")).await;
    pg::exec(
        &tgt,
        &format!(
            "{ddl} {rows}; DELETE FROM kv WHERE region = 'B'; UPDATE kv SET v = NULL WHERE name = 'ab' AND region <> 'B'; \
             INSERT INTO kv VALUES ('b', 'new', 1, 'extra');"
        ),
    )
    .await;
    for zoom in ["5,2,1", "1", "10000,100,1"] {
        let run = rangesync(&["diff", &src, &tgt, "--zoom", zoom, "--format", "json"]);
        assert_eq!(run.code, 1, "zoom {zoom}: {}", run.stderr);
        let d = &run.json()["datasets"][0];
        assert_eq!((d["missing"].as_i64(), d["extra"].as_i64()), (Some(7), Some(1)), "zoom {zoom}: {d}");
        assert_eq!(d["changed"], 13, "zoom {zoom}");
    }
    let run = rangesync(&["sync", &src, &tgt, "--zoom", "5,2,1", "--delete"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let order = "region COLLATE \"C\", name COLLATE \"C\", n";
    assert_eq!(pg::rows_as_text(&src, "kv", order).await, pg::rows_as_text(&tgt, "kv", order).await);
}

#[tokio::test]
async fn sqlite_and_postgres_sync_both_ways() {
    let dir = TempDir::new().unwrap();
    let lite = dir.path().join("m.db");
    common::exec(
        &lite,
        "CREATE TABLE m (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);\n\
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
         INSERT INTO m SELECT i * 7 - 1000, CASE WHEN i % 5 = 0 THEN NULL WHEN i % 5 = 1 THEN '' ELSE 'n' || i END, \
         CASE WHEN i % 4 = 0 THEN NULL ELSE i / 3.0 END, CASE WHEN i % 7 = 0 THEN NULL ELSE zeroblob(i % 3) END FROM n;",
    )
    .await;
    let url = pg::fresh_db("rs_test_pg_lite").await;
    pg::exec(&url, "CREATE TABLE m (id int8 PRIMARY KEY, name text, score float8, data bytea);").await;
    let lite_url = common::url(&lite);

    let run = rangesync(&["sync", &lite_url, &url, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["datasets"][0]["inserted"], 3000);
    assert_eq!(rangesync(&["diff", &lite_url, &url]).code, 0);

    // Independent check: PostgreSQL's rendering against SQLite's values.
    pg::exec(&url, "UPDATE m SET score = score + 1e-12 WHERE id = -993; DELETE FROM m WHERE id = -986; INSERT INTO m VALUES (-5000, 'x', 1, NULL);").await;
    let run = rangesync(&["sync", &url, &lite_url, "--delete", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = &run.json()["datasets"][0];
    // PostgreSQL is the source now: -5000 is missing from SQLite, -986 extra there.
    assert_eq!((d["missing"].as_i64(), d["extra"].as_i64(), d["changed"].as_i64()), (Some(1), Some(1), Some(1)), "{d}");
    assert_eq!(common::scalar(&lite, "SELECT count(*) FROM m").await, pg::scalar(&url, "SELECT count(*) FROM m").await);
    assert_eq!(common::scalar(&lite, "SELECT count(*) FROM m WHERE id = -5000").await, 1);
    assert_eq!(common::scalar(&lite, "SELECT count(*) FROM m WHERE id = -986").await, 0);
    assert_eq!(rangesync(&["diff", &url, &lite_url]).code, 0);
}

#[tokio::test]
async fn postgres_bad_input_gets_one_sentence() {
    let url = pg::fresh_db("rs_test_pg_bad").await;
    pg::exec(&url, "CREATE TABLE logs (at timestamptz, line text); CREATE TABLE t (id int PRIMARY KEY, v text);").await;
    let other = pg::fresh_db("rs_test_pg_bad2").await;
    pg::exec(&other, "CREATE TABLE t (id int PRIMARY KEY, v int);").await;

    let run = rangesync(&["diff", &url, &other, "--table", "logs"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("table logs in") && run.stderr.contains("no primary key"), "{}", run.stderr);

    let run = rangesync(&["diff", &url, &other, "--table", "t"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("column v is text in"), "{}", run.stderr);

    let run = rangesync(&["diff", &pg::url("rs_test_no_such_database"), &url]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("rs_test_no_such_database") && run.stderr.lines().count() == 1, "{}", run.stderr);

    let started = std::time::Instant::now();
    let run = rangesync(&["diff", "postgres://postgres:hunter2@127.0.0.1:1/db", &url]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "bounded retries");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("refused"), "the server's own reason: {}", run.stderr);
    assert!(!run.stderr.contains("hunter2"), "the password is never printed: {}", run.stderr);
    assert!(run.stderr.contains("postgres://postgres:***@127.0.0.1:1/db"), "{}", run.stderr);
}

/// scripts/services.sh makes the role rs_test_pw log in with a password
/// (scram-sha-256), whatever trust the server grants everyone else.
#[tokio::test]
async fn a_wrong_password_is_one_sentence_and_never_shown() {
    let url = pg::fresh_db("rs_test_pg_password").await;
    pg::exec(
        &url,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rs_test_pw') THEN CREATE ROLE rs_test_pw LOGIN; END IF; END $$; \
         ALTER ROLE rs_test_pw PASSWORD 'right-secret'; CREATE TABLE t (id int PRIMARY KEY); GRANT SELECT ON t TO rs_test_pw;",
    )
    .await;
    let with_user = |user: &str| url.replacen("postgres@", &format!("{user}@"), 1);
    common::assert_password_refused_then_accepted(&with_user("rs_test_pw:wrong-secret"), &with_user("rs_test_pw"), &url, "password authentication failed for user \"rs_test_pw\"");
}

#[tokio::test]
async fn a_value_the_target_cannot_hold_stops_with_one_sentence_and_writes_nothing_of_its_batch() {
    let dir = TempDir::new().unwrap();
    let lite = dir.path().join("v.db");
    common::exec(&lite, "CREATE TABLE v (id INTEGER PRIMARY KEY, code TEXT); INSERT INTO v VALUES (1, 'ok'), (2, 'far too long');").await;
    let url = pg::fresh_db("rs_test_pg_too_long").await;
    pg::exec(&url, "CREATE TABLE v (id int8 PRIMARY KEY, code varchar(5));").await;
    let run = rangesync(&["sync", &common::url(&lite), &url]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("table v in") && run.stderr.contains("character varying(5)"), "{}", run.stderr);
    assert_eq!(pg::scalar(&url, "SELECT count(*) FROM v").await, 0, "the batch's transaction was rolled back");
}

#[tokio::test]
async fn a_target_that_stores_something_else_is_caught_by_the_read_back() {
    // numeric(6,2) would round 1.005 without an error: the decimal is
    // checked against the column before the batch is written.
    let src = pg::fresh_db("rs_test_pg_round_src").await;
    let tgt = pg::fresh_db("rs_test_pg_round_tgt").await;
    pg::exec(&src, "CREATE TABLE r (id int8 PRIMARY KEY, amount numeric(10,3)); INSERT INTO r VALUES (1, 2.5), (2, 1.005);").await;
    pg::exec(&tgt, "CREATE TABLE r (id int8 PRIMARY KEY, amount numeric(6,2));").await;
    let run = rangesync(&["sync", &src, &tgt]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("column amount of key 2 holds 1.005, which numeric(6,2) cannot hold"), "{}", run.stderr);
    assert_eq!(pg::scalar(&tgt, "SELECT count(*) FROM r").await, 0, "nothing of the batch was written");
    // timestamp(0) rounds a fraction away, which no check before writing
    // knows of: the read-back stops the run rather than calling it in sync.
    pg::exec(&src, "CREATE TABLE s (id int8 PRIMARY KEY, at timestamp); INSERT INTO s VALUES (1, '2024-01-01 00:00:00'), (2, '2024-01-01 00:00:00.4');").await;
    pg::exec(&tgt, "CREATE TABLE s (id int8 PRIMARY KEY, at timestamp(0));").await;
    let run = rangesync(&["sync", &src, &tgt, "--table", "s"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("column at of key 2 was written as") && run.stderr.contains("but the target stored"), "{}", run.stderr);
}

/// Chinook as usually shipped: SQLite `NUMERIC(10,2)` prices (kept as
/// floats) and `DATETIME` values in SQLite's own `datetime()` spelling
/// (`1962-02-18 00:00:00`). Synced into PostgreSQL with its tables
/// created: prices become numeric(10,2), each value its shortest decimal,
/// instants timestamps; PostgreSQL's own rendering is the independent check.
#[tokio::test]
async fn sqlite_numeric_prices_and_datetime_spellings_sync_into_postgres() {
    let dir = TempDir::new().unwrap();
    let lite = dir.path().join("chinook.db");
    let mut rows = String::new();
    for i in 1..=1000 {
        rows.push_str(&format!("({i}, {}.{:02}, '19{:02}-02-18 00:00:00', 'Track {i}'),", i % 5, i % 100, i % 100));
    }
    common::exec(
        &lite,
        &format!(
            "CREATE TABLE track (id INTEGER PRIMARY KEY, unit_price NUMERIC(10,2), released DATETIME, name NVARCHAR(200)); \
             INSERT INTO track VALUES {}; \
             INSERT INTO track VALUES (1001, 0.99, '2009-01-01T00:00:00', 'T spelling'), (1002, 1.5, '2009-01-02 03:04:05.5', 'fraction'), (1003, NULL, NULL, 'nulls');",
            rows.trim_end_matches(',')
        ),
    )
    .await;
    let url = pg::fresh_db("rs_test_pg_chinook").await;
    let run = rangesync(&["sync", &common::url(&lite), &url, "--create-tables", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["datasets"][0]["inserted"], 1003, "{}", run.stdout);
    let declared = pg::query_text(&url, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'track'::regclass AND attname = 'unit_price'").await;
    assert_eq!(declared, ["numeric(10,2)"]);
    let got = pg::query_text(&url, "SELECT id || ' ' || coalesce(unit_price::text, 'NULL') || ' ' || coalesce(released::text, 'NULL') FROM track WHERE id IN (7, 1001, 1002, 1003) ORDER BY id").await;
    assert_eq!(got, ["7 2.07 1907-02-18 00:00:00", "1001 0.99 2009-01-01 00:00:00", "1002 1.50 2009-01-02 03:04:05.5", "1003 NULL NULL"]);
    assert_eq!(rangesync(&["diff", &common::url(&lite), &url]).code, 0, "in sync, spellings and floats included");
    // A changed price is found and repaired.
    common::exec(&lite, "UPDATE track SET unit_price = 1.99 WHERE id = 500").await;
    let diff = rangesync(&["diff", &common::url(&lite), &url, "--format", "json"]);
    assert_eq!((diff.code, diff.json()["datasets"][0]["changed"].as_i64()), (1, Some(1)), "{}", diff.stdout);
    assert_eq!(rangesync(&["sync", &common::url(&lite), &url]).code, 0);
    assert_eq!(pg::query_text(&url, "SELECT unit_price::text FROM track WHERE id = 500").await, ["1.99"]);
}

/// A decimal the target column cannot hold (three digits after the point
/// into numeric(6,2), which PostgreSQL would round) stops the sync before
/// its batch is written, naming the column and key.
#[tokio::test]
async fn a_decimal_too_fine_for_the_target_stops_before_writing() {
    let dir = TempDir::new().unwrap();
    let lite = dir.path().join("d.db");
    common::exec(&lite, "CREATE TABLE r (id INTEGER PRIMARY KEY, amount DECIMAL TEXT(10,3)); INSERT INTO r VALUES (1, '2.5'), (2, '1.005'), (3, '7');").await;
    let url = pg::fresh_db("rs_test_pg_decimal_fit").await;
    pg::exec(&url, "CREATE TABLE r (id int8 PRIMARY KEY, amount numeric(6,2));").await;
    let run = rangesync(&["sync", &common::url(&lite), &url]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("column amount of key 2 holds 1.005, which numeric(6,2) cannot hold"), "{}", run.stderr);
    assert_eq!(pg::scalar(&url, "SELECT count(*) FROM r").await, 0, "nothing of the batch was written");
}

/// The first pass of a server pair fingerprints the finest level in one
/// scan per window. With `--zoom 50000,2` on 120,000 rows it runs three
/// windows cut by skipping index entries, several bucket statements per
/// window, and meets a bucket the target overfills (nine extra keys
/// between two source keys), which is cut again on the target. Drift sits
/// on the window boundaries and at both ends of the table.
#[tokio::test]
async fn one_scan_windows_find_drift_at_their_edges_and_in_an_overfilled_bucket() {
    let ddl = "CREATE TABLE big (id int8 PRIMARY KEY, v text); \
               INSERT INTO big SELECT 10 * g, 'v' || g FROM generate_series(1, 120000) g;";
    let src = pg::fresh_db("rs_test_pg_one_scan_src").await;
    let tgt = pg::fresh_db("rs_test_pg_one_scan_tgt").await;
    pg::exec(&src, ddl).await;
    pg::exec(
        &tgt,
        &format!(
            "{ddl} DELETE FROM big WHERE id IN (10, 500010, 1200000); \
             UPDATE big SET v = v || 'x' WHERE id IN (20, 499990, 1000020, 777770); \
             INSERT INTO big SELECT id, 'extra' FROM generate_series(600001, 600009) id; \
             INSERT INTO big VALUES (15, 'extra'), (1200005, 'extra');"
        ),
    )
    .await;
    common::diff_and_sync_the_one_scan_drift(&src, &tgt);
    let digest = "SELECT ('x' || substr(md5(string_agg(id || ':' || v, ',' ORDER BY id)), 1, 15))::bit(60)::int8 FROM big";
    assert_eq!(pg::scalar(&src, digest).await, pg::scalar(&tgt, digest).await);
    assert_eq!(pg::scalar(&tgt, "SELECT count(*) FROM big").await, 120_000);
}

#[tokio::test]
async fn composite_integer_keys_are_cut_by_skipping_and_read_by_ranges() {
    // As the MySQL test of the same name: windows of (a, b) cut by skipping.
    let ddl = "CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b)); \
               INSERT INTO pairs SELECT g / 100, g % 100, 'v' || g FROM generate_series(0, 129999) g;";
    let src = pg::fresh_db("rs_test_pg_composite_src").await;
    let tgt = pg::fresh_db("rs_test_pg_composite_tgt").await;
    pg::exec(&src, ddl).await;
    pg::exec(&tgt, &format!("{ddl} {}", common::COMPOSITE_DRIFT)).await;
    common::diff_and_sync_the_composite_drift(&src, &tgt);
    let (a, b) = (pg::rows_as_text(&src, "pairs", "a, b").await, pg::rows_as_text(&tgt, "pairs", "a, b").await);
    assert_eq!(a.len(), 130_000);
    assert!(a == b, "the tables differ after sync");
}
