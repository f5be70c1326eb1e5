//! Sync profiles (`--profile`), `--max-delete` and `--until-consistent`,
//! against real stores and checked with the stores' own queries.

mod common;

use std::path::Path;

use common::{assert_one_sentence, exec, pg, rangesync, scalar, url};
use rangesync::cli::profile::Profile;
use rangesync::engine::series::TimeZoom;
use rangesync::engine::zoom::Zoom;
use tempfile::TempDir;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Every row of a SQLite table as text, in key order.
async fn sqlite_rows(path: &Path, sql: &str) -> Vec<String> {
    use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};
    use std::str::FromStr;
    let mut c = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display())).unwrap().connect().await.unwrap();
    let rows = sqlx::query(AssertSqlSafe(sql.to_string())).fetch_all(&mut c).await.unwrap();
    c.close().await.unwrap();
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

/// The slice of production a dev database needs: a profile picks the
/// recent orders of one region with a `where`, leaves a table out and a
/// column behind; the SQLite file then holds exactly that subset, as
/// PostgreSQL's own query of the subset shows, and follows it when rows
/// move into and out of it.
#[tokio::test]
async fn a_profile_syncs_a_subset_of_postgres_into_sqlite() {
    let src = pg::fresh_db("rs_profile_subset").await;
    pg::exec(
        &src,
        "CREATE TABLE orders (id int8 PRIMARY KEY, region text NOT NULL, placed date NOT NULL, total numeric(12,2), note text, secret bytea);
         INSERT INTO orders SELECT i, CASE WHEN i % 3 = 0 THEN 'eu' ELSE 'us' END, date '2024-01-01' + (i % 400), i * 1.5, 'order ' || i, '\\x00ff'
           FROM generate_series(1, 3000) i;
         CREATE TABLE audit_log (id int8 PRIMARY KEY, what text);
         INSERT INTO audit_log SELECT i, 'event ' || i FROM generate_series(1, 100) i;
         CREATE TABLE customers (id int8 PRIMARY KEY, name text);
         INSERT INTO customers VALUES (1, 'Zoë'), (2, '');",
    )
    .await;
    let dir = TempDir::new().unwrap();
    let dev = dir.path().join("dev.db");
    let profile = write(
        dir.path(),
        "dev.toml",
        &format!(
            r#"# a slice of production for a dev database
source = "{src}"
target = "sqlite://{dev}"

[[tables]]
name = "orders"
where = "region = 'eu' AND placed >= '2024-06-01'"
exclude = ["secret"]
zoom = "500,10,1"

[[tables]]
pattern = "^audit_"
skip = true
"#,
            dev = dev.display()
        ),
    );
    let run = rangesync(&["sync", "--profile", &profile, "--create-tables", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let wanted = "SELECT id::text || '|' || region || '|' || placed::text || '|' || total::text || '|' || note FROM orders \
                  WHERE region = 'eu' AND placed >= DATE '2024-06-01' ORDER BY id";
    let dev_rows = "SELECT id || '|' || region || '|' || placed || '|' || printf('%.2f', total) || '|' || note FROM orders ORDER BY id";
    let subset = pg_strings(&src, wanted).await;
    assert!(subset.len() > 100 && subset.len() < 1000, "{}", subset.len());
    assert_eq!(sqlite_rows(&dev, dev_rows).await, subset);
    let tables = sqlite_rows(&dev, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").await;
    assert_eq!(tables, ["customers", "orders"], "audit_log skipped");
    let columns = sqlite_rows(&dev, "SELECT name FROM pragma_table_info('orders') ORDER BY cid").await;
    assert!(!columns.contains(&"secret".to_string()), "{columns:?}");

    // Rows move into the subset (region changed), out of it (placed
    // earlier) and change inside it; the next run follows, and only the
    // subset is compared: a row outside it on the dev side is left alone
    // without delete.
    pg::exec(&src, "UPDATE orders SET region = 'eu' WHERE id = 1000; UPDATE orders SET placed = DATE '2024-01-01' WHERE id = 999; UPDATE orders SET note = 'changed' WHERE id = 1002").await;
    let again = rangesync(&["sync", "--profile", &profile, "--format", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let d = &again.json()["datasets"];
    let orders = d.as_array().unwrap().iter().find(|d| d["name"] == "orders").unwrap();
    assert_eq!((orders["missing"].as_u64(), orders["changed"].as_u64(), orders["extra"].as_u64()), (Some(1), Some(1), Some(1)), "{orders}");
    let dev_has = sqlite_rows(&dev, "SELECT group_concat(id) FROM (SELECT id FROM orders WHERE id IN (999, 1000, 1002) ORDER BY id)").await;
    assert_eq!(dev_has, ["999,1000,1002"], "999 left out of the subset but kept without delete");
    assert_eq!(rangesync(&["diff", "--profile", &profile]).code, 1, "999 is extra on the dev side");
    // A rule's delete = true alone deletes nothing: deletes need --delete
    // (or delete = true at the top of the profile).
    let rule_only = profile.replace("dev.toml", "dev-rule.toml");
    std::fs::write(&rule_only, std::fs::read_to_string(&profile).unwrap().replace("zoom = \"500,10,1\"", "zoom = \"500,10,1\"\ndelete = true")).unwrap();
    assert_eq!(rangesync(&["sync", "--profile", &rule_only]).code, 0);
    assert_eq!(rangesync(&["diff", "--profile", &profile]).code, 1, "999 still extra");
    // With delete = true at the top the extra row goes; a rule keeps
    // customers from deletes.
    let deleting = profile.replace("dev.toml", "dev-delete.toml");
    let text = std::fs::read_to_string(&profile).unwrap().replace("[[tables]]\npattern", "[[tables]]\nname = \"customers\"\ndelete = false\n\n[[tables]]\npattern");
    std::fs::write(&deleting, format!("delete = true\n{text}")).unwrap();
    pg::exec(&src, "DELETE FROM customers WHERE id = 2").await;
    assert_eq!(rangesync(&["sync", "--profile", &deleting]).code, 0);
    assert_eq!(sqlite_rows(&dev, "SELECT group_concat(id) FROM customers").await, ["1,2"], "customers kept from deletes");
    assert_eq!(sqlite_rows(&dev, dev_rows).await, pg_strings(&src, wanted).await);
    assert_eq!(rangesync(&["diff", "--profile", &profile, "--table", "orders"]).code, 0);
    assert_eq!(rangesync(&["diff", "--profile", &profile]).code, 1, "the customer kept in dev.db is extra");
}

async fn pg_strings(url: &str, sql: &str) -> Vec<String> {
    use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};
    use std::str::FromStr;
    let mut c = sqlx::postgres::PgConnectOptions::from_str(url).unwrap().connect().await.unwrap();
    let rows = sqlx::query(AssertSqlSafe(sql.to_string())).fetch_all(&mut c).await.unwrap();
    c.close().await.unwrap();
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

#[tokio::test]
async fn bad_profiles_get_one_sentence_naming_file_line_and_key() {
    let dir = TempDir::new().unwrap();
    let unknown = write(dir.path(), "unknown.toml", "source = \"sqlite://a.db\"\ntarget = \"sqlite://b.db\"\n\n[[tables]]\nname = \"t\"\nwehre = \"x > 1\"\n");
    assert_one_sentence(&rangesync(&["diff", "--profile", &unknown]), 2, &format!("profile {unknown} line 6, key wehre: unknown field `wehre`"));
    let typed = write(dir.path(), "typed.toml", "source = \"sqlite://a.db\"\ntarget = \"sqlite://b.db\"\ndelete = 1\n");
    assert_one_sentence(&rangesync(&["sync", "--profile", &typed]), 2, "line 3, key delete: invalid type: integer `1`, expected a boolean");
    let no_target = write(dir.path(), "half.toml", "source = \"sqlite://a.db\"\n");
    assert_one_sentence(&rangesync(&["diff", "--profile", &no_target]), 2, "no TARGET: give it on the command line or as target = \"URL\" in profile");
    let env = write(dir.path(), "env.toml", "source = \"sqlite://a.db\"\ntarget = \"postgres://app:${RS_TEST_UNSET_PASSWORD}@127.0.0.1/x\"\n");
    assert_one_sentence(&rangesync(&["diff", "--profile", &env]), 2, "line 2, key target: environment variable RS_TEST_UNSET_PASSWORD is not set");
    assert_one_sentence(&rangesync(&["diff", "--profile", "/nonexistent/p.toml"]), 2, "profile /nonexistent/p.toml: cannot be read");
    let family = write(dir.path(), "family.toml", "source = \"sqlite://a.db\"\ntarget = \"sqlite://b.db\"\n[[measurements]]\nname = \"cpu\"\n");
    assert_one_sentence(&rangesync(&["diff", "--profile", &family]), 2, &format!("profile {family} line 4: [[measurements]] rules are for time series"));
    // Values are blamed on the profile's line and key, not on a flag.
    let zoom = write(dir.path(), "zoom.toml", "source = \"sqlite://a.db\"\ntarget = \"sqlite://b.db\"\nzoom = \"abc\"\n");
    assert_one_sentence(&rangesync(&["diff", "--profile", &zoom]), 2, &format!("profile {zoom} line 3, key zoom: zoom level 'abc'"));
    let rule_zoom = write(dir.path(), "rule_zoom.toml", "source = \"sqlite://a.db\"\ntarget = \"sqlite://b.db\"\n[[tables]]\nname = \"t\"\nzoom = \"10,100\"\n");
    assert_one_sentence(&rangesync(&["diff", "--profile", &rule_zoom]), 2, &format!("profile {rule_zoom} line 5, key zoom: "));
    let lookback = write(dir.path(), "lookback.toml", "source = \"influxdb://127.0.0.1:1/a\"\ntarget = \"influxdb://127.0.0.1:1/b\"\nlookback = \"1x\"\n");
    assert_one_sentence(&rangesync(&["diff", "--profile", &lookback]), 2, &format!("profile {lookback} line 3, key lookback: "));
    let series_zoom = write(dir.path(), "series_zoom.toml", "source = \"influxdb://127.0.0.1:1/a\"\ntarget = \"influxdb://127.0.0.1:1/b\"\nzoom = \"10,100\"\n");
    assert_one_sentence(&rangesync(&["diff", "--profile", &series_zoom]), 2, &format!("profile {series_zoom} line 3, key zoom: "));
    assert_one_sentence(&rangesync(&["diff", "sqlite://a.db", "sqlite://b.db", "--zoom", "abc"]), 2, "--zoom: zoom level 'abc'");
    let a = dir.path().join("a.db");
    exec(&a, "CREATE TABLE t (id INTEGER PRIMARY KEY)").await;
    let column = write(dir.path(), "column.toml", &format!("source = \"{}\"\ntarget = \"sqlite://b.db\"\n[[tables]]\nname = \"t\"\ncolumns = [\"nope\"]\n", url(&a)));
    assert_one_sentence(&rangesync(&["sync", "--profile", &column]), 2, "names column nope, which t does not have");
}

/// Every example profile shipped in sync-profiles/ is a valid profile.
#[test]
fn every_example_profile_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sync-profiles");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let env = |name: &str| Some(format!("value-of-{name}"));
        let p = Profile::parse(&text, &path.display().to_string(), &env).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.source.is_some() && p.target.is_some(), "{} names both endpoints", path.display());
        // The rules' zoom levels were parsed with the profile (rows for
        // tables, durations for measurements); the top-level one is read
        // as the family of the endpoints says.
        let sql = p.source.as_deref().unwrap().starts_with("postgres") || p.source.as_deref().unwrap().starts_with("sqlite");
        if let Some(zoom) = &p.zoom {
            let parsed = if sql { zoom.value.parse::<Zoom>().map(drop) } else { zoom.value.parse::<TimeZoom>().map(drop) };
            parsed.unwrap_or_else(|e| panic!("{}: zoom {}: {e}", path.display(), zoom.value));
        }
        assert!(sql || p.tables.is_empty(), "{}: [[tables]] in a time-series profile", path.display());
        assert!(!sql || p.measurements.is_empty(), "{}: [[measurements]] in a SQL profile", path.display());
        seen += 1;
    }
    assert!(seen >= 4, "the four examples of the issue: {seen}");
}

/// A source emptied by mistake: --max-delete stops the sync before any
/// delete (exit 4), --force lets it go on.
#[tokio::test]
async fn max_delete_stops_a_sync_that_would_empty_the_target() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    for p in [&a, &b] {
        exec(p, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO t SELECT i, 'v' || i FROM n").await;
    }
    exec(&a, "DELETE FROM t WHERE id > 150; UPDATE t SET v = 'new' WHERE id = 1").await;
    let stopped = rangesync(&["sync", &url(&a), &url(&b), "--delete", "--max-delete", "10"]);
    assert_one_sentence(&stopped, 4, "table t: the sync would delete 50 of the 200 rows");
    assert_eq!(scalar(&b, "SELECT count(*) FROM t").await, 200);
    assert_eq!(scalar(&b, "SELECT count(*) FROM t WHERE v = 'new'").await, 0, "nothing written");
    // --lite with no column for t compares it whole, deletes included: the
    // limit holds there too.
    let lite = rangesync(&["sync", &url(&a), &url(&b), "--delete", "--max-delete", "10", "--lite"]);
    assert_one_sentence(&lite, 4, "table t: the sync would delete 50 of the 200 rows");
    assert_eq!(scalar(&b, "SELECT count(*) FROM t").await, 200);
    let within = rangesync(&["sync", &url(&a), &url(&b), "--delete", "--max-delete", "30", "--format", "json"]);
    assert_eq!(within.code, 0, "{}", within.stderr);
    assert_eq!(within.json()["datasets"][0]["deleted"], 50);
    exec(&a, "DELETE FROM t WHERE id > 10").await;
    assert_eq!(rangesync(&["sync", &url(&a), &url(&b), "--delete", "--max-delete", "10"]).code, 4);
    let forced = rangesync(&["sync", &url(&a), &url(&b), "--delete", "--max-delete", "10", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(scalar(&b, "SELECT count(*) FROM t").await, 10);
    assert_one_sentence(&rangesync(&["sync", &url(&a), &url(&b), "--max-delete", "10"]), 2, "--max-delete limits deletes");
    assert_eq!(rangesync(&["sync", &url(&a), &url(&b), "--delete", "--max-delete", "150"]).code, 2);
}

/// A drifted pair: the first pass repairs, the second finds nothing and
/// the run stops there.
#[tokio::test]
async fn until_consistent_stops_at_the_first_pass_finding_nothing() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    exec(&a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO t SELECT i, 'v' || i FROM n").await;
    exec(&b, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'old'), (9999, 'extra')").await;
    let run = rangesync(&["sync", &url(&a), &url(&b), "--until-consistent", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["passes"], 2, "{r}");
    let d = &r["datasets"][0];
    assert_eq!((d["inserted"].as_u64(), d["updated"].as_u64(), d["changed_during_run"].as_u64()), (Some(499), Some(1), Some(0)), "{d}");
    // The extra row is kept without --delete and does not call for passes.
    assert_eq!(d["remaining"], 1);
    let (only_a, only_b) = common::independent_diff(&a, &b, "t").await;
    assert_eq!((only_a, only_b), (0, 1));
}

/// A writer keeps inserting into SOURCE while the run goes on: every pass
/// finds new rows, the run stops at --max-passes and says why, and a
/// later run (the writer stopped) ends consistent.
#[tokio::test]
async fn until_consistent_reports_rows_that_kept_changing() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    exec(&a, "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) INSERT INTO t SELECT i, hex(randomblob(40)) FROM n").await;
    exec(&b, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, a) = (stop.clone(), a.clone());
        tokio::spawn(async move {
            let mut id = 1_000_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                exec(&a, &format!("INSERT INTO t VALUES ({id}, 'live')")).await;
                id += 1;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
    };
    let b_url = url(&b);
    let a_url = url(&a);
    let run = tokio::task::spawn_blocking(move || rangesync(&["sync", &a_url, &b_url, "--until-consistent", "--max-passes", "3", "--format", "json"])).await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["passes"], 3, "{r}");
    assert!(r["datasets"][0]["changed_during_run"].as_u64().unwrap() > 0, "{r}");
    assert!(r["notes"].to_string().contains("pass 3 of --max-passes 3 still found"), "{r}");
    assert_eq!(r["in_sync"], false);
    let done = rangesync(&["sync", &url(&a), &url(&b), "--until-consistent"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(common::independent_diff(&a, &b, "t").await, (0, 0));
}

/// --lite without a state store: rows whose updated_at reached TARGET's
/// largest are compared, nothing else; a row changed without moving
/// updated_at is left to a full run, which finds it.
#[tokio::test]
async fn lite_compares_only_rows_updated_since_the_targets_newest() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    for p in [&a, &b] {
        exec(
            p,
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, updated_at TEXT NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             INSERT INTO items SELECT i, 'item ' || i, printf('2024-01-01 00:%02d:%02d', (i / 60) % 60, i % 60) FROM n",
        )
        .await;
    }
    exec(&a, "UPDATE items SET name = 'renamed', updated_at = '2024-02-01 10:00:00' WHERE id IN (3, 5000, 19999);
              INSERT INTO items VALUES (20001, 'new', '2024-02-01 10:00:01');
              UPDATE items SET name = 'silent' WHERE id = 7").await;
    let lite = rangesync(&["sync", &url(&a), &url(&b), "--lite", "--lite-column", "updated_at", "--format", "json"]);
    assert_eq!(lite.code, 0, "{}", lite.stderr);
    let r = lite.json();
    let d = &r["datasets"][0];
    // An updated row's old copy on TARGET is below the watermark: the row
    // counts as missing there, and is written (an upsert) all the same.
    assert_eq!((d["missing"].as_u64(), d["changed"].as_u64()), (Some(4), Some(0)), "{r}");
    assert!(d["hashes_fetched"].as_u64().unwrap() < 100, "only the recent rows were read: {d}");
    assert!(r["notes"].to_string().contains("whose updated_at is"), "{r}");
    assert_eq!(scalar(&b, "SELECT count(*) FROM items WHERE name = 'renamed'").await, 3);
    // The silent change is beyond --lite; a full run catches it.
    assert_eq!(common::independent_diff(&a, &b, "items").await, (1, 1));
    let full = rangesync(&["sync", &url(&a), &url(&b), "--format", "json"]);
    assert_eq!(full.json()["datasets"][0]["changed"], 1);
    assert_eq!(common::independent_diff(&a, &b, "items").await, (0, 0));
    assert_one_sentence(&rangesync(&["sync", &url(&a), &url(&b), "--lite", "--lite-column", "nope"]), 2, "table items has no column nope");
    // --lite never deletes: a row outside SOURCE's recent rows may still be
    // there, older.
    exec(&b, "UPDATE items SET updated_at = '2030-01-01 00:00:00' WHERE id = 10").await;
    let kept = rangesync(&["sync", &url(&a), &url(&b), "--lite", "--lite-column", "updated_at", "--delete", "--format", "json"]);
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    assert_eq!((kept.json()["datasets"][0]["extra"].as_u64(), kept.json()["datasets"][0]["deleted"].as_u64()), (Some(1), Some(0)), "{}", kept.stdout);
    assert!(kept.json()["notes"].to_string().contains("--lite does not delete"), "{}", kept.stdout);
    assert_eq!(scalar(&b, "SELECT count(*) FROM items WHERE id = 10").await, 1);
}

/// --lite with a profile's state store, PostgreSQL into SQLite: the first
/// run compares everything and keeps PostgreSQL's largest updated_at; after
/// updates, the next run reads only the rows updated since.
#[tokio::test]
async fn lite_with_a_state_store_moves_only_the_updated_rows() {
    let src = pg::fresh_db("rs_profile_lite").await;
    pg::exec(
        &src,
        "CREATE TABLE items (id int8 PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
         INSERT INTO items SELECT i, 'item ' || i, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' FROM generate_series(1, 20000) i;",
    )
    .await;
    let dir = TempDir::new().unwrap();
    let dev = dir.path().join("dev.db");
    let profile = write(dir.path(), "lite.toml", &format!("source = \"{src}\"\ntarget = \"sqlite://{}\"\nlite_column = \"updated_at\"\n", dev.display()));
    let first = rangesync(&["sync", "--profile", &profile, "--lite", "--create-tables", "--format", "json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.json()["notes"].to_string().contains("no watermark yet"), "{}", first.stdout);
    assert_eq!(first.json()["datasets"][0]["inserted"], 20000);
    pg::exec(&src, "UPDATE items SET name = 'renamed', updated_at = now() WHERE id % 1000 = 0; INSERT INTO items VALUES (30000, 'new', now())").await;
    let second = rangesync(&["sync", "--profile", &profile, "--lite", "--format", "json"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let d = &second.json()["datasets"][0];
    // 20 updated and 1 new below TARGET's copies' watermark (missing); the
    // row at the old watermark itself, updated too, is compared on both
    // sides (changed).
    assert_eq!((d["missing"].as_u64(), d["changed"].as_u64(), d["inserted"].as_u64(), d["updated"].as_u64()), (Some(20), Some(1), Some(20), Some(1)), "{d}");
    // Rows at the watermark or later, on both sides: the 20000th (the old
    // largest) and the 21 new or updated ones, and no more.
    assert!(d["hashes_fetched"].as_u64().unwrap() <= 2 * 22 + 20, "{d}");
    let wanted = pg_strings(&src, "SELECT id::text || '|' || name FROM items ORDER BY id").await;
    assert_eq!(sqlite_rows(&dev, "SELECT id || '|' || name FROM items ORDER BY id").await, wanted);
    assert_eq!(rangesync(&["diff", "--profile", &profile]).code, 0);
}

/// `sync --dry-run --print`: the statements the sync would send, with
/// their parameters, on stdout; nothing written; the summary on stderr.
#[tokio::test]
async fn dry_run_print_writes_the_statements_and_sends_none() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    exec(&a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB); INSERT INTO t VALUES (1, 'it''s', x'00ff'), (2, NULL, NULL), (3, 'same', NULL)").await;
    exec(&b, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB); INSERT INTO t VALUES (1, 'old', x'00ff'), (3, 'same', NULL), (9, 'extra', NULL)").await;
    let run = rangesync(&["sync", &url(&a), &url(&b), "--dry-run", "--print", "--delete"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected = "DELETE FROM \"t\" WHERE \"id\" IN (?);\n-- parameters: '9'\n\
                    INSERT INTO \"t\" (\"id\", \"v\", \"b\") VALUES (?, ?, ?), (?, ?, ?) ON CONFLICT (\"id\") DO UPDATE SET \"id\" = excluded.\"id\", \"v\" = excluded.\"v\", \"b\" = excluded.\"b\";\n\
                    -- parameters: '1', 'it''s', 'x''00ff''', '2', NULL, NULL\n";
    assert_eq!(run.stdout, expected);
    assert!(run.stderr.contains("MISSING") && run.stderr.contains("extra key 9"), "the summary is on stderr: {}", run.stderr);
    assert_eq!(common::independent_diff(&a, &b, "t").await, (2, 2), "nothing written");
    // Without --delete no delete is printed.
    let kept = rangesync(&["sync", &url(&a), &url(&b), "--dry-run", "--print"]);
    assert!(!kept.stdout.contains("DELETE"), "{}", kept.stdout);
    assert_eq!(rangesync(&["sync", &url(&a), &url(&b), "--print"]).code, 2, "--print needs --dry-run");
    assert_one_sentence(&rangesync(&["sync", &url(&a), &url(&b), "--dry-run", "--print", "--format", "json"]), 2, "--print writes the statements on stdout");
}

/// The same for a PostgreSQL target: its placeholders and casts, the
/// parameters as the text sent.
#[tokio::test]
async fn dry_run_print_for_postgres() {
    let a = pg::fresh_db("rs_print_a").await;
    let b = pg::fresh_db("rs_print_b").await;
    pg::exec(&a, "CREATE TABLE t (id int8 PRIMARY KEY, v text, at timestamptz); INSERT INTO t VALUES (1, 'x', '2024-01-01 00:00:00+00'), (2, NULL, NULL)").await;
    pg::exec(&b, "CREATE TABLE t (id int8 PRIMARY KEY, v text, at timestamptz); INSERT INTO t VALUES (1, 'x', '2024-01-01 00:00:00+00'), (7, 'gone', NULL)").await;
    let run = rangesync(&["sync", &a, &b, "--dry-run", "--print", "--delete"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("DELETE FROM \"t\" WHERE"), "{}", run.stdout);
    assert!(run.stdout.contains("INSERT INTO \"t\" (\"id\", \"v\", \"at\") VALUES ($1::pg_catalog.int8, $2::pg_catalog.text, $3::pg_catalog.timestamptz)"), "{}", run.stdout);
    assert!(run.stdout.contains("-- parameters: '7'\n"), "{}", run.stdout);
    assert!(run.stdout.contains("-- parameters: '2', NULL, NULL"), "{}", run.stdout);
    assert_eq!(pg::scalar(&b, "SELECT count(*) FROM t").await, 2, "nothing written");
}

/// A table without a primary key, matched by a unique key the profile
/// names; without the rule it is refused.
#[tokio::test]
async fn a_profile_key_matches_rows_of_a_table_without_a_primary_key() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    for p in [&a, &b] {
        exec(p, "CREATE TABLE codes (code TEXT NOT NULL UNIQUE, label TEXT, n INTEGER)").await;
    }
    exec(&a, "INSERT INTO codes VALUES ('a', 'A', 1), ('b', 'B', 2), ('ü', 'U', 3), ('d', NULL, 4)").await;
    exec(&b, "INSERT INTO codes VALUES ('a', 'old', 1), ('z', 'gone', 9), ('d', NULL, 4)").await;
    assert_one_sentence(&rangesync(&["sync", &url(&a), &url(&b)]), 2, "has no primary key");
    let profile = write(dir.path(), "codes.toml", &format!("source = \"{}\"\ntarget = \"{}\"\ndelete = true\n\n[[tables]]\nname = \"codes\"\nkey = [\"code\"]\n", url(&a), url(&b)));
    let run = rangesync(&["sync", "--profile", &profile, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = &run.json()["datasets"][0];
    assert_eq!((d["missing"].as_u64(), d["changed"].as_u64(), d["extra"].as_u64()), (Some(2), Some(1), Some(1)), "{d}");
    assert_eq!(common::independent_diff(&a, &b, "codes").await, (0, 0));
    let wrong = write(dir.path(), "wrong.toml", &format!("source = \"{}\"\ntarget = \"{}\"\n\n[[tables]]\nname = \"codes\"\nkey = [\"kode\"]\n", url(&a), url(&b)));
    assert_one_sentence(&rangesync(&["diff", "--profile", &wrong]), 2, "the profile's key for table codes names column kode");
}

/// Columns renamed on the way: a new target table is created with
/// TARGET's names, filled, and then compared by them.
#[tokio::test]
async fn a_profile_renames_columns() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    exec(&a, "CREATE TABLE people (id INTEGER PRIMARY KEY, full_name TEXT, email TEXT, age INTEGER); INSERT INTO people VALUES (1, 'Zoë', 'z@x', 30), (2, '', NULL, NULL)").await;
    let profile = write(
        dir.path(),
        "rename.toml",
        &format!("source = \"{}\"\ntarget = \"{}\"\n\n[[tables]]\nname = \"people\"\nrename = {{ full_name = \"name\", email = \"mail\" }}\n", url(&a), url(&b)),
    );
    let run = rangesync(&["sync", "--profile", &profile, "--create-tables", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let columns = sqlite_rows(&b, "SELECT group_concat(name, ',') FROM pragma_table_info('people')").await;
    assert_eq!(columns, ["id,name,mail,age"]);
    let rows = "SELECT id || '|' || quote(name) || '|' || quote(mail) || '|' || quote(age) FROM people ORDER BY id";
    assert_eq!(sqlite_rows(&b, rows).await, ["1|'Zoë'|'z@x'|30", "2|''|NULL|NULL"]);
    exec(&a, "UPDATE people SET email = 'new@x' WHERE id = 2").await;
    let again = rangesync(&["sync", "--profile", &profile, "--format", "json"]);
    assert_eq!(again.json()["datasets"][0]["changed"], 1, "{}", again.stdout);
    assert_eq!(sqlite_rows(&b, rows).await, ["1|'Zoë'|'z@x'|30", "2|''|'new@x'|NULL"]);
    assert_eq!(rangesync(&["diff", "--profile", &profile]).code, 0);
    let wrong = write(dir.path(), "wrong.toml", &format!("source = \"{}\"\ntarget = \"{}\"\n\n[[tables]]\nname = \"people\"\nrename = {{ full_name = \"nom\" }}\n", url(&a), url(&b)));
    assert_one_sentence(&rangesync(&["diff", "--profile", &wrong]), 2, "renames column full_name of table people to nom, which people does not have");
}

/// A whole custom query in place of a PostgreSQL table: the order lines of
/// the EU customers, a subset a WHERE on the table alone cannot express
/// without a subquery. The SQLite file holds exactly what the query
/// returns, and follows it.
#[tokio::test]
async fn a_profile_query_syncs_exactly_its_rows() {
    let src = pg::fresh_db("rs_profile_query").await;
    pg::exec(
        &src,
        "CREATE TABLE customers (id int8 PRIMARY KEY, region text NOT NULL);
         CREATE TABLE lines (id int8 PRIMARY KEY, customer_id int8 NOT NULL, item text, qty int4);
         INSERT INTO customers SELECT i, CASE WHEN i % 4 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 100) i;
         INSERT INTO lines SELECT i, 1 + i % 100, 'item ' || i, i % 7 FROM generate_series(1, 5000) i;",
    )
    .await;
    let dir = TempDir::new().unwrap();
    let dev = dir.path().join("dev.db");
    let profile = write(
        dir.path(),
        "query.toml",
        &format!(
            "source = \"{src}\"\ntarget = \"sqlite://{}\"\ndelete = true\n\n[[tables]]\nname = \"lines\"\nquery = \"SELECT l.* FROM lines l JOIN customers c ON c.id = l.customer_id WHERE c.region = 'eu'\"\n\n[[tables]]\nname = \"customers\"\nskip = true\n",
            dev.display()
        ),
    );
    let wanted = "SELECT l.id::text || '|' || l.customer_id || '|' || l.item || '|' || l.qty FROM lines l JOIN customers c ON c.id = l.customer_id WHERE c.region = 'eu' ORDER BY l.id";
    let held = "SELECT id || '|' || customer_id || '|' || item || '|' || qty FROM lines ORDER BY id";
    let run = rangesync(&["sync", "--profile", &profile, "--create-tables", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["datasets"][0]["inserted"], 1250, "{}", run.stdout);
    assert_eq!(sqlite_rows(&dev, held).await, pg_strings(&src, wanted).await);
    // A customer moves to the EU, another leaves it: their lines follow.
    pg::exec(&src, "UPDATE customers SET region = 'eu' WHERE id = 1; UPDATE customers SET region = 'us' WHERE id = 4").await;
    let again = rangesync(&["sync", "--profile", &profile, "--format", "json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let d = &again.json()["datasets"][0];
    assert_eq!((d["missing"].as_u64(), d["extra"].as_u64(), d["deleted"].as_u64()), (Some(50), Some(50), Some(50)), "{d}");
    assert_eq!(sqlite_rows(&dev, held).await, pg_strings(&src, wanted).await);
    assert_eq!(rangesync(&["diff", "--profile", &profile]).code, 0);
    let bad = write(dir.path(), "bad.toml", &format!("source = \"{src}\"\ntarget = \"sqlite://{}\"\n\n[[tables]]\nname = \"lines\"\nquery = \"DELETE FROM lines\"\n", dev.display()));
    assert_one_sentence(&rangesync(&["diff", "--profile", &bad]), 2, "line 6, key query: write a SELECT");
}

/// A condition the server refuses: its own message, without the server's
/// source line sqlx appends ("at line 3651").
#[tokio::test]
async fn a_where_the_server_refuses_gets_its_message_alone() {
    let db = pg::fresh_db("rs_test_profile_bad_where").await;
    pg::exec(&db, "CREATE TABLE t (id int PRIMARY KEY, v text)").await;
    let dir = TempDir::new().unwrap();
    let profile = write(dir.path(), "where.toml", &format!("source = \"{db}\"\ntarget = \"{db}\"\n[[tables]]\nname = \"t\"\nwhere = \"nope > 1\"\n"));
    let run = rangesync(&["diff", "--profile", &profile]);
    assert_one_sentence(&run, 3, "failed: column \"nope\" does not exist");
    assert!(!run.stderr.contains(" at line "), "{}", run.stderr);
}

/// A rule's `target_query`: TARGET is read through it, so rows it leaves
/// out (a dev database's own rows) are never compared, deleted or counted;
/// rows SOURCE has are still written into the table. Checked with SQLite.
#[tokio::test]
async fn target_query_hides_the_targets_own_rows() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    exec(&a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) INSERT INTO t SELECT i, 'v' || i FROM n;").await;
    exec(&b, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150) INSERT INTO t SELECT i, 'v' || i FROM n; UPDATE t SET v = 'x' WHERE id = 50; INSERT INTO t VALUES (-1, 'local'), (-2, 'local');").await;
    let profile = write(dir.path(), "q.toml", &format!("source = \"{}\"\ntarget = \"{}\"\ndelete = true\n\n[[tables]]\nname = \"t\"\ntarget_query = \"SELECT id, v FROM t WHERE id > 0\"\n", url(&a), url(&b)));
    let run = rangesync(&["sync", "--profile", &profile, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = &run.json()["datasets"][0];
    assert_eq!((d["inserted"].as_i64(), d["updated"].as_i64(), d["deleted"].as_i64()), (Some(50), Some(1), Some(0)), "{d}");
    assert_eq!(scalar(&b, "SELECT count(*) FROM t WHERE v = 'local'").await, 2, "the target's own rows are kept, --delete or not");
    assert_eq!(scalar(&b, "SELECT count(*) FROM t WHERE id > 0").await, 200);
    assert_eq!(rangesync(&["diff", "--profile", &profile]).code, 0);
    assert_eq!(rangesync(&["diff", &url(&a), &url(&b)]).code, 1, "without the rule, the local rows are extra");
    let bad = write(dir.path(), "bad.toml", &format!("source = \"{}\"\ntarget = \"{}\"\n[[tables]]\nname = \"t\"\ntarget_query = \"t\"\n", url(&a), url(&b)));
    assert_one_sentence(&rangesync(&["diff", "--profile", &bad]), 2, "line 5, key target_query: write a SELECT");
}
