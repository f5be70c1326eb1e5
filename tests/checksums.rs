//! The two checksums (`--checksum fast|exact`) on every engine: a value
//! swapped between two rows, or moved between two columns of one row, is
//! found by both (a sum of per-column hashes would miss it); and the values
//! each mode treats as equal are pinned, as docs/hashing.md ("Which values
//! are equal") lists them, for `diff` and for `sync` alike.

mod common;

use std::collections::BTreeSet;

use common::{my, pg, rangesync};
use tempfile::TempDir;

const MODES: [&str; 2] = ["fast", "exact"];

/// `INSERT` rows `(id, a, b, s, u)` for ids 1..=300.
fn swap_rows() -> String {
    let rows: Vec<String> = (1..=300).map(|i| format!("({i}, {}, {}, 's{i}', 'u{i}')", i * 10, i * 10 + 1)).collect();
    format!("INSERT INTO t VALUES {};", rows.join(", "))
}

/// Two rows trade a value of one column; one row trades values between
/// two integer columns, another between two text columns. The values of
/// each column, as a multiset, stay the same.
const SWAPS: &str = "UPDATE t SET a = 110 WHERE id = 10; UPDATE t SET a = 100 WHERE id = 11; \
     UPDATE t SET a = 201, b = 200 WHERE id = 20; UPDATE t SET s = 'u30', u = 's30' WHERE id = 30;";

/// The changed keys `diff` reports in `mode` (its sample holds up to five).
fn changed_keys(src: &str, tgt: &str, mode: &str) -> BTreeSet<String> {
    let run = rangesync(&["diff", src, tgt, "--checksum", mode, "--format", "json"]);
    assert!(run.code <= 1, "{mode}: {}", run.stderr);
    let d = &run.json()["datasets"][0];
    assert_eq!((d["missing"].as_u64(), d["extra"].as_u64()), (Some(0), Some(0)), "{mode}: {d}");
    let keys: BTreeSet<String> = d["sample"].as_array().into_iter().flatten().map(|s| s["key"].as_str().unwrap().to_string()).collect();
    assert_eq!(d["changed"].as_u64(), Some(keys.len() as u64), "{mode}: {d}");
    keys
}

fn keys(ids: &[i32]) -> BTreeSet<String> {
    ids.iter().map(|i| i.to_string()).collect()
}

/// Both modes find every swap; after a sync in either mode both agree.
fn swaps_are_found(src: &str, tgt: &str) {
    for mode in MODES {
        assert_eq!(changed_keys(src, tgt, mode), keys(&[10, 11, 20, 30]), "{mode}");
    }
}

/// The pinned cases: `diff` in each mode reports exactly `fast` and
/// `exact` as changed; `sync` in the fast mode leaves nothing the fast
/// `diff` sees, and `sync` in the exact mode nothing either mode sees.
fn equal_values_are_pinned(src: &str, tgt: &str, fast: &[i32], exact: &[i32]) {
    assert_eq!(changed_keys(src, tgt, "fast"), keys(fast), "fast");
    assert_eq!(changed_keys(src, tgt, "exact"), keys(exact), "exact");
    assert_eq!(rangesync(&["sync", src, tgt, "--checksum", "fast"]).code, 0);
    assert_eq!(changed_keys(src, tgt, "fast"), keys(&[]), "a fast sync settles what a fast diff sees");
    assert_eq!(rangesync(&["sync", src, tgt, "--checksum", "exact"]).code, 0);
    for mode in MODES {
        assert_eq!(changed_keys(src, tgt, mode), keys(&[]), "{mode} after an exact sync");
    }
}

#[tokio::test]
async fn sqlite_swaps_and_equal_values() {
    let dir = TempDir::new().unwrap();
    let (src, tgt) = (dir.path().join("s.db"), dir.path().join("t.db"));
    let ddl = "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, s TEXT, u TEXT);";
    common::exec(&src, &format!("{ddl} {}", swap_rows())).await;
    common::exec(&tgt, &format!("{ddl} {} {SWAPS}", swap_rows())).await;
    swaps_are_found(&common::url(&src), &common::url(&tgt));
    common::exec(&src, "DROP TABLE t;").await;
    common::exec(&tgt, "DROP TABLE t;").await;

    let ddl = "CREATE TABLE e (id INTEGER PRIMARY KEY, f REAL, s TEXT, v);";
    common::exec(&src, &format!("{ddl} INSERT INTO e VALUES (1, -0.0, 'a', 1), (2, 1, 'a', 1), (3, 1, 'a', 1), (4, 1, 'a', 1);")).await;
    // 1: SQLite stores -0.0 as 0; 2: an integer is not its text; 3: an
    // integer is not a real; 4: a trailing space counts.
    common::exec(&tgt, &format!("{ddl} INSERT INTO e VALUES (1, 0.0, 'a', 1), (2, 1, 'a', '1'), (3, 1, 'a', 1.0), (4, 1, 'a ', 1);")).await;
    equal_values_are_pinned(&common::url(&src), &common::url(&tgt), &[2, 3, 4], &[2, 3, 4]);
}

#[tokio::test]
async fn postgres_swaps_and_equal_values() {
    let src = pg::fresh_db("rs_test_checksum_pg_src").await;
    let tgt = pg::fresh_db("rs_test_checksum_pg_tgt").await;
    let ddl = "CREATE TABLE t (id int4 PRIMARY KEY, a int8, b int8, s text, u text);";
    pg::exec(&src, &format!("{ddl} {}", swap_rows())).await;
    pg::exec(&tgt, &format!("{ddl} {} {SWAPS}", swap_rows())).await;
    swaps_are_found(&src, &tgt);
    pg::exec(&src, "DROP TABLE t;").await;
    pg::exec(&tgt, "DROP TABLE t;").await;

    let ddl = "CREATE TABLE e (id int4 PRIMARY KEY, f float8, n numeric, tz timestamptz, s text, j jsonb);";
    let row = |id: i32, f: &str, n: &str, tz: &str, s: &str, j: &str| format!("({id}, {f}, {n}, '{tz}', '{s}', '{j}')");
    let base = ("1", "1", "2024-01-01 00:00:00+00", "a", r#"{"a": 1}"#);
    let both = |id: i32, f: Option<&str>, n: Option<&str>, tz: Option<&str>, s: Option<&str>, j: Option<&str>| {
        row(id, f.unwrap_or(base.0), n.unwrap_or(base.1), tz.unwrap_or(base.2), s.unwrap_or(base.3), j.unwrap_or(base.4))
    };
    let src_rows = [
        both(1, Some("'-0.0'"), None, None, None, None),
        both(2, None, Some("1.5"), None, None, None),
        both(3, None, None, Some("2024-01-01 02:00:00+02"), None, None),
        both(4, None, None, None, Some("a"), None),
        both(5, None, None, None, Some("\u{e9}"), None),
        both(6, None, None, None, None, Some(r#"{"a": 1, "b": 2}"#)),
        both(7, None, Some("1e20"), None, None, None),
        both(8, Some("'NaN'"), None, None, Some("A"), None),
    ];
    let tgt_rows = [
        both(1, Some("'0.0'"), None, None, None, None),
        both(2, None, Some("1.50"), None, None, None),
        both(3, None, None, Some("2024-01-01 00:00:00+00"), None, None),
        both(4, None, None, None, Some("a "), None),
        both(5, None, None, None, Some("e\u{301}"), None),
        both(6, None, None, None, None, Some(r#"{"b": 2,   "a": 1}"#)),
        both(7, None, Some("100000000000000000000.000"), None, None, None),
        both(8, Some("'NaN'"), None, None, Some("a"), None),
    ];
    pg::exec(&src, &format!("{ddl} INSERT INTO e VALUES {};", src_rows.join(", "))).await;
    pg::exec(&tgt, &format!("{ddl} INSERT INTO e VALUES {};", tgt_rows.join(", "))).await;
    // -0.0 and 0.0 are one value to PostgreSQL's float hash (as to its
    // `=`), two to the canonical encoding. Both trim a numeric's scale,
    // take an instant whatever its offset, read jsonb normalised, and see
    // a trailing space, another normalisation and another case.
    equal_values_are_pinned(&src, &tgt, &[4, 5, 8], &[1, 4, 5, 8]);
}

#[tokio::test]
async fn mariadb_swaps_and_equal_values() {
    let src = my::fresh_db("rs_test_checksum_my_src").await;
    let tgt = my::fresh_db("rs_test_checksum_my_tgt").await;
    let ddl = "CREATE TABLE t (id int PRIMARY KEY, a bigint, b bigint, s varchar(20), u varchar(20));";
    my::exec(&src, &format!("{ddl} {}", swap_rows())).await;
    my::exec(&tgt, &format!("{ddl} {} {SWAPS}", swap_rows())).await;
    swaps_are_found(&src, &tgt);
    my::exec(&src, "DROP TABLE t;").await;
    my::exec(&tgt, "DROP TABLE t;").await;

    let ddl = "CREATE TABLE e (id int PRIMARY KEY, f double, n decimal(10,2), ts timestamp(6) NULL, s varchar(10), c char(3));";
    my::exec(
        &src,
        &format!(
            "{ddl} SET time_zone = '+02:00'; INSERT INTO e VALUES (1, -0e0, 1, NULL, 'a', 'a'), (2, 1, 1.5, NULL, 'a', 'a'), \
             (3, 1, 1, '2024-01-01 02:00:00', 'a', 'a'), (4, 1, 1, NULL, 'a', 'a'), (5, 1, 1, NULL, 'A', 'a'), (6, 1, 1, NULL, 'a', 'a');"
        ),
    )
    .await;
    my::exec(
        &tgt,
        &format!(
            "{ddl} SET time_zone = '+00:00'; INSERT INTO e VALUES (1, 0e0, 1, NULL, 'a', 'a'), (2, 1, 1.50, NULL, 'a', 'a'), \
             (3, 1, 1, '2024-01-01 00:00:00', 'a', 'a'), (4, 1, 1, NULL, 'a ', 'a'), (5, 1, 1, NULL, 'a', 'a'), (6, 1, 1, NULL, 'a', 'a  ');"
        ),
    )
    .await;
    // MariaDB prints -0 as 0 (both modes read that text); a decimal's scale
    // is its column's; a TIMESTAMP is an instant; CHAR drops trailing
    // spaces when read. A VARCHAR's trailing space and a case difference
    // count in both modes, though the column's PAD SPACE, case-insensitive
    // collation calls those values equal.
    equal_values_are_pinned(&src, &tgt, &[4, 5], &[4, 5]);
}
