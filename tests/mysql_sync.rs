//! diff and sync against a real MariaDB (or MySQL) server: MySQL ↔ MySQL,
//! and MySQL ↔ PostgreSQL with fingerprints computed in both servers.

mod common;

use common::{my, pg, rangesync};

const COLUMNS: &[&str] = &["id", "name", "price", "ok", "d", "ts", "tz", "b", "tm", "score"];

const TABLE: &str = "CREATE TABLE `Order Lines` (
    id bigint PRIMARY KEY, name varchar(40), price decimal(12,3), ok tinyint(1), d date, ts datetime(6),
    tz timestamp(6) NULL, b blob, tm time(6), score double
) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;";

const ROWS: &str = "INSERT INTO `Order Lines` VALUES
 (1, 'plain', 123456.789, 1, '2024-02-29', '2024-01-01 00:00:00.000001', '2024-01-01 00:00:00', X'00FF', '23:59:59.999999', 0.1),
 (2, '', -0.001, 0, '1969-12-31', '1969-12-31 23:59:59.999999', '1970-01-01 00:00:01', X'', '00:00:00', -1e300),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 'Zoë 日本 🚀', 0, 1, '1000-01-01', '2038-01-19 03:14:08', '2038-01-19 03:14:07.999999', X'0102', '12:00:00.5', 1.7976931348623157e308),
 (5, 'quote''s', 1.5, 0, '9999-12-31', '2000-01-01 12:00:00', '2000-01-01 20:00:00', X'DEADBEEF', '00:00:00.000001', 5e-324),
 (-9223372036854775808, 'min', 1, 1, NULL, NULL, NULL, NULL, NULL, 2.5);";

#[tokio::test]
async fn mysql_to_mysql_every_type_with_drift_converges() {
    let src = my::fresh_db("rs_test_my_src").await;
    let tgt = my::fresh_db("rs_test_my_tgt").await;
    my::exec(&src, &format!("{TABLE}{ROWS}")).await;
    my::exec(
        &tgt,
        &format!(
            "{TABLE}{ROWS} DELETE FROM `Order Lines` WHERE id IN (1, 5); UPDATE `Order Lines` SET price = 1.5001 WHERE id = 4;
             UPDATE `Order Lines` SET name = 'x', tz = '2024-01-01 00:00:00.000001' WHERE id = 3; UPDATE `Order Lines` SET score = 0.30000000000000004 WHERE id = 2;
             INSERT INTO `Order Lines` (id, name) VALUES (7, 'extra'), (9223372036854775807, 'extra');"
        ),
    )
    .await;
    let run = rangesync(&["diff", &src, &tgt, "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let d = &run.json()["datasets"][0];
    assert_eq!((d["missing"].as_i64(), d["extra"].as_i64(), d["changed"].as_i64()), (Some(2), Some(2), Some(3)), "{d}");
    let run = rangesync(&["sync", &src, &tgt, "--delete"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let order = "id";
    assert_eq!(
        my::rows_as_text(&src, "Order Lines", COLUMNS, order).await,
        my::rows_as_text(&tgt, "Order Lines", COLUMNS, order).await
    );
    assert_eq!(rangesync(&["diff", &src, &tgt]).code, 0);
}

#[tokio::test]
async fn mysql_and_postgres_agree_on_every_shared_type_both_ways() {
    // No double column here: MySQL cannot render its bits, and the point is
    // that both servers compute the fingerprints themselves.
    let my_ddl = "CREATE TABLE t (id bigint PRIMARY KEY, k varchar(20) NOT NULL, name varchar(40), price decimal(12,3),
        ok tinyint(1), d date, ts datetime(6), tz timestamp(6) NULL, b blob, tm time(6), UNIQUE (k)) CHARACTER SET utf8mb4;";
    let pg_ddl = "CREATE TABLE t (id int8 PRIMARY KEY, k varchar(20) NOT NULL UNIQUE, name varchar(40), price numeric(12,3),
        ok bool, d date, ts timestamp(6), tz timestamptz, b bytea, tm time);";
    let my_url = my::fresh_db("rs_test_my_cross").await;
    let pg_url = pg::fresh_db("rs_test_pg_cross").await;
    my::exec(
        &my_url,
        &format!(
            "{my_ddl} INSERT INTO t SELECT CAST(seq AS SIGNED) - 500, CONCAT('k', seq), IF(seq % 9 = 0, NULL, CONCAT('név ', seq)), seq * 1.25 - 100,
             seq % 2, DATE('1969-06-01') + INTERVAL seq DAY, TIMESTAMP('1969-12-31 23:00:00.25') + INTERVAL seq MINUTE,
             IF(seq % 7 = 0, NULL, TIMESTAMP('2024-01-01 00:00:00') + INTERVAL seq SECOND), IF(seq % 5 = 0, X'', UNHEX(MD5(seq))),
             TIME('08:00:00.125') + INTERVAL seq SECOND FROM seq_1_to_3000;"
        ),
    )
    .await;
    pg::exec(&pg_url, pg_ddl).await;
    let run = rangesync(&["sync", &my_url, &pg_url, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["datasets"][0]["inserted"], 3000);
    assert_eq!(rangesync(&["diff", &my_url, &pg_url]).code, 0, "equal values hash alike in both servers");
    assert_eq!(rangesync(&["diff", &pg_url, &my_url]).code, 0);

    pg::exec(&pg_url, "UPDATE t SET ts = ts + interval '1 microsecond' WHERE id = 7; DELETE FROM t WHERE id = 8; UPDATE t SET price = NULL WHERE id = -499;").await;
    let run = rangesync(&["sync", &pg_url, &my_url, "--delete", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = &run.json()["datasets"][0];
    assert_eq!((d["missing"].as_i64(), d["extra"].as_i64(), d["changed"].as_i64()), (Some(0), Some(1), Some(2)), "{d}");
    assert_eq!(rangesync(&["diff", &my_url, &pg_url]).code, 0);
    assert_eq!(pg::scalar(&pg_url, "SELECT count(*) FROM t").await, 2999);
}

#[tokio::test]
async fn mysql_bad_input_gets_one_sentence() {
    let url = my::fresh_db("rs_test_my_bad").await;
    my::exec(&url, "CREATE TABLE logs (at datetime, line text);").await;
    let run = rangesync(&["diff", &url, &url, "--table", "logs"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("has no primary key"), "{}", run.stderr);
    let run = rangesync(&["diff", &my::url("rs_test_no_such_database"), &url]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("rs_test_no_such_database"), "{}", run.stderr);
}

#[tokio::test]
async fn a_wrong_password_is_one_sentence_and_never_shown() {
    let url = my::fresh_db("rs_test_my_password").await;
    my::exec(
        &url,
        "DROP USER IF EXISTS 'rs_test_pw'@'%'; CREATE USER 'rs_test_pw'@'%' IDENTIFIED BY 'right-secret';
         GRANT ALL ON rs_test_my_password.* TO 'rs_test_pw'@'%'; CREATE TABLE t (id int PRIMARY KEY);",
    )
    .await;
    let with_user = |user: &str| url.replacen("root", user, 1);
    common::assert_password_refused_then_accepted(&with_user("rs_test_pw:wrong-secret"), &with_user("rs_test_pw"), &url, "Access denied for user 'rs_test_pw'");
}

#[tokio::test]
async fn a_value_the_target_cannot_hold_stops_with_one_sentence() {
    let my_url = my::fresh_db("rs_test_my_unsigned").await;
    let pg_url = pg::fresh_db("rs_test_pg_unsigned").await;
    my::exec(&my_url, "CREATE TABLE big (id bigint unsigned PRIMARY KEY, v int); INSERT INTO big VALUES (1, 1), (18446744073709551615, 2);")
        .await;
    // PostgreSQL has no unsigned 64-bit type: the table is created with
    // bigint, and the row that does not fit stops the run.
    let run = rangesync(&["sync", &my_url, &pg_url, "--create-tables"]);
    common::assert_one_sentence(&run, 3, "18446744073709551615");
    assert!(run.stderr.contains("table big") && run.stderr.contains("out of range"), "{}", run.stderr);
    // SQLite cannot even declare it: refused before anything is created.
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("big.db");
    let run = rangesync(&["sync", &my_url, &common::url(&file), "--create-tables"]);
    common::assert_one_sentence(&run, 2, "column id (bigint(20) unsigned in mysql) is an unsigned 64-bit integer");
    assert!(!file.exists());
}

/// The one-scan first pass on MariaDB/MySQL (see the PostgreSQL test of the
/// same name): three windows, several bucket statements per window, drift
/// on window edges and table ends, and a bucket the target overfills.
#[tokio::test]
async fn one_scan_windows_find_drift_at_their_edges_and_in_an_overfilled_bucket() {
    let ddl = "CREATE TABLE big (id bigint PRIMARY KEY, v varchar(20)); \
               INSERT INTO big SELECT 10 * seq, concat('v', seq) FROM seq_1_to_120000;";
    let src = my::fresh_db("rs_test_my_one_scan_src").await;
    let tgt = my::fresh_db("rs_test_my_one_scan_tgt").await;
    my::exec(&src, ddl).await;
    my::exec(
        &tgt,
        &format!(
            "{ddl} DELETE FROM big WHERE id IN (10, 500010, 1200000); \
             UPDATE big SET v = concat(v, 'x') WHERE id IN (20, 499990, 1000020, 777770); \
             INSERT INTO big SELECT seq, 'extra' FROM seq_600001_to_600009; \
             INSERT INTO big VALUES (15, 'extra'), (1200005, 'extra');"
        ),
    )
    .await;
    common::diff_and_sync_the_one_scan_drift(&src, &tgt);
    let (a, b) = (my::rows_as_text(&src, "big", &["id", "v"], "id").await, my::rows_as_text(&tgt, "big", &["id", "v"], "id").await);
    assert_eq!(a.len(), 120_000);
    assert!(a == b, "the tables differ after sync");
}

#[tokio::test]
async fn composite_integer_keys_are_cut_by_skipping_and_read_by_ranges() {
    // 130,000 rows, windows of 60,000 (zoom 1000,30): the window cuts come
    // from skipping index entries of (a, b), every range spelled out
    // column by column. Drift on both sides of the cuts and within one a.
    let ddl = "CREATE TABLE pairs (a int, b int, v varchar(20), PRIMARY KEY (a, b)); \
               INSERT INTO pairs SELECT seq DIV 100, seq MOD 100, concat('v', seq) FROM seq_0_to_129999;";
    let src = my::fresh_db("rs_test_my_composite_src").await;
    let tgt = my::fresh_db("rs_test_my_composite_tgt").await;
    my::exec(&src, ddl).await;
    my::exec(&tgt, &format!("{ddl} {}", common::COMPOSITE_DRIFT)).await;
    common::diff_and_sync_the_composite_drift(&src, &tgt);
    let columns = ["a", "b", "v"];
    let (a, b) = (my::rows_as_text(&src, "pairs", &columns, "a, b").await, my::rows_as_text(&tgt, "pairs", &columns, "a, b").await);
    assert_eq!(a.len(), 130_000);
    assert!(a == b, "the tables differ after sync");
}
