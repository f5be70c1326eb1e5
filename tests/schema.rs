//! `rangesync schema` and `sync --create-tables`: missing tables are
//! created through the type mapping of docs/schema.md, nothing else is
//! touched, and a type with no counterpart stops the run before any write.

mod common;

use common::{assert_one_sentence, pg, rangesync, scalar, url};
use tempfile::TempDir;

#[tokio::test]
async fn schema_plans_creates_then_leaves_existing_tables_alone() {
    let src = pg::fresh_db("rs_test_schema_src").await;
    pg::exec(
        &src,
        "CREATE TABLE \"Order Lines\" (id bigint PRIMARY KEY, sku varchar(12) NOT NULL, price numeric(10,2), at timestamptz, tags jsonb);
         CREATE TABLE notes (k text, n int, body text, PRIMARY KEY (k, n));
         INSERT INTO \"Order Lines\" VALUES (1, 'A-1', 9.90, '2024-01-01 10:00:00+02', '{\"a\": 1}');",
    )
    .await;
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("dev.db");

    let run = rangesync(&["schema", &src, &url(&file), "--dry-run", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["dry_run"], true);
    let lines = &report["tables"][0];
    assert_eq!((lines["name"].as_str(), lines["action"].as_str()), (Some("Order Lines"), Some("would create")));
    assert_eq!(
        lines["statements"][0],
        "CREATE TABLE \"Order Lines\" (\"id\" INTEGER NOT NULL, \"sku\" TEXT NOT NULL, \"price\" DECIMAL TEXT(10,2), \
         \"at\" TIMESTAMPTZ, \"tags\" JSON TEXT, PRIMARY KEY (\"id\"))"
    );
    assert!(!file.exists(), "a dry run creates no file");

    let run = rangesync(&["schema", &src, &url(&file)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Order Lines: created") && run.stdout.contains("notes: created"), "{}", run.stdout);
    assert_eq!(scalar(&file, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'").await, 2);

    let run = rangesync(&["schema", &src, &url(&file), "--format", "json"]);
    let report = run.json();
    assert!(report["tables"].as_array().unwrap().iter().all(|t| t["action"] == "exists"), "{report}");

    // The created tables pair with the source: a sync fills them exactly.
    let run = rangesync(&["sync", &src, &url(&file)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(rangesync(&["diff", &src, &url(&file)]).code, 0);
    assert_eq!(scalar(&file, "SELECT count(*) FROM \"Order Lines\" WHERE at = '2024-01-01 08:00:00.000000+00:00' AND price = '9.9'").await, 1);
}

#[tokio::test]
async fn a_type_without_counterpart_stops_before_anything_is_created() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("loose.db");
    common::exec(&file, "CREATE TABLE ok (id INTEGER PRIMARY KEY); CREATE TABLE loose (id INTEGER PRIMARY KEY, anything);").await;
    let tgt = pg::fresh_db("rs_test_schema_loose").await;
    let run = rangesync(&["schema", &url(&file), &tgt]);
    assert_one_sentence(&run, 2, "table loose cannot be created in postgres://");
    assert!(run.stderr.contains("column anything") && run.stderr.contains("no declared type"), "{}", run.stderr);
    assert_eq!(pg::scalar(&tgt, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").await, 0, "not even table ok");

    let run = rangesync(&["sync", &url(&file), &tgt, "--table", "ok"]);
    assert_one_sentence(&run, 2, "table ok does not exist in postgres://");
    assert!(run.stderr.contains("--create-tables"), "{}", run.stderr);
    let run = rangesync(&["sync", &url(&file), &tgt, "--table", "ok", "--create-tables"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(pg::scalar(&tgt, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").await, 1);
}

#[tokio::test]
async fn schema_creates_keyless_tables_and_refuses_decimal_keys_in_sqlite() {
    let src = pg::fresh_db("rs_test_schema_keys").await;
    pg::exec(&src, "CREATE TABLE audit (at timestamptz, line text); CREATE TABLE prices (sku numeric(10,2) PRIMARY KEY, p int);").await;
    let tgt = pg::fresh_db("rs_test_schema_keys_tgt").await;
    let run = rangesync(&["schema", &src, &tgt, "--table", "audit"]);
    assert_eq!(run.code, 0, "a table without a primary key can still be created: {}", run.stderr);
    assert_eq!(pg::scalar(&tgt, "SELECT count(*) FROM pg_tables WHERE tablename = 'audit'").await, 1);

    let dir = TempDir::new().unwrap();
    let run = rangesync(&["schema", &src, &url(&dir.path().join("p.db")), "--table", "prices"]);
    assert_one_sentence(&run, 2, "column sku (numeric(10,2) in postgres) is a decimal key");
}

#[tokio::test]
async fn a_sqlite_decimal_text_key_is_refused_rather_than_misordered() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    for f in [&a, &b] {
        common::exec(f, "CREATE TABLE p (sku DECIMAL TEXT(10,2) PRIMARY KEY, v INTEGER); INSERT INTO p VALUES ('9', 1), ('10', 2);").await;
    }
    let run = rangesync(&["diff", &url(&a), &url(&b)]);
    assert_one_sentence(&run, 2, "key column sku is a decimal kept as text");
}
