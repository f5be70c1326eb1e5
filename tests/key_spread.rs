//! Integer keys spread unevenly: the one-scan pass cuts each window's key
//! span evenly (no read of the source's index), so a window whose keys
//! bunch on one side of a huge gap puts a thousand rows into one bucket,
//! and keys past the source's first and last ones fall into the first and
//! last buckets. Every difference is still found, and a sync leaves the
//! target equal to the source as each server renders both tables.

mod common;

use common::{my, pg, rangesync};

/// Windows of 2,000 rows, buckets of one row where the keys are dense.
const ZOOM: [&str; 2] = ["--zoom", "1000,10,1"];

fn diff_then_sync(src: &str, tgt: &str, expected: (u64, u64, u64)) {
    for jobs in ["1", "2"] {
        let run = rangesync(&[&["diff", src, tgt, "--format", "json", "--jobs", jobs][..], &ZOOM[..]].concat());
        assert_eq!(run.code, 1, "{}", run.stderr);
        let d = &run.json()["datasets"][0];
        let n = |k: &str| d[k].as_u64().unwrap();
        assert_eq!((n("missing"), n("extra"), n("changed")), expected, "--jobs {jobs}: {d}");
    }
    let run = rangesync(&[&["sync", src, tgt, "--delete", "--format", "json"][..], &ZOOM[..]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = rangesync(&[&["diff", src, tgt][..], &ZOOM[..]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[tokio::test]
async fn postgres_keys_around_a_gap_and_at_the_ends_of_int8() {
    let src = pg::fresh_db("rs_test_spread_pg_src").await;
    let tgt = pg::fresh_db("rs_test_spread_pg_tgt").await;
    let table = "CREATE TABLE s (id int8 PRIMARY KEY, v text); \
                 INSERT INTO s SELECT g, 'v' || g FROM generate_series(1, 20000) g; \
                 INSERT INTO s SELECT 1000000000000 + g, 'w' || g FROM generate_series(1, 20000) g; \
                 INSERT INTO s VALUES (-9000000000000000000, 'low'), (9000000000000000000, 'high');";
    pg::exec(&src, table).await;
    pg::exec(&tgt, table).await;
    pg::exec(
        &tgt,
        "DELETE FROM s WHERE id IN (-9000000000000000000, 19990, 1000000020000); \
         UPDATE s SET v = 'changed' WHERE id IN (19500, 19999, 1000000000001, 1000000000500, 9000000000000000000); \
         INSERT INTO s VALUES (500000000000, 'gap'), (-9223372036854775808, 'min'), (9223372036854775807, 'max'), (0, 'zero');",
    )
    .await;
    diff_then_sync(&src, &tgt, (3, 4, 5));
    assert_eq!(pg::rows_as_text(&src, "s", "id").await, pg::rows_as_text(&tgt, "s", "id").await);
}

#[tokio::test]
async fn mysql_unsigned_keys_past_the_signed_range() {
    let src = my::fresh_db("rs_test_spread_my_src").await;
    let tgt = my::fresh_db("rs_test_spread_my_tgt").await;
    let table = "CREATE TABLE s (id bigint unsigned PRIMARY KEY, v varchar(20)); \
                 INSERT INTO s SELECT seq, concat('v', seq) FROM seq_1_to_20000; \
                 INSERT INTO s SELECT 1000000000000 + seq, concat('w', seq) FROM seq_1_to_20000; \
                 INSERT INTO s SELECT 18446744073709550000 + seq, concat('u', seq) FROM seq_1_to_1000;";
    my::exec(&src, table).await;
    my::exec(&tgt, table).await;
    my::exec(
        &tgt,
        "DELETE FROM s WHERE id IN (1, 1000000010000, 18446744073709551000); \
         UPDATE s SET v = 'changed' WHERE id IN (19500, 1000000000500, 18446744073709550001, 18446744073709550999); \
         INSERT INTO s VALUES (0, 'zero'), (9223372036854775807, 'i64 max'), (9223372036854775808, 'past it'), (18446744073709551615, 'max');",
    )
    .await;
    diff_then_sync(&src, &tgt, (3, 4, 4));
    let cols = ["id", "v"];
    assert_eq!(my::rows_as_text(&src, "s", &cols, "id").await, my::rows_as_text(&tgt, "s", &cols, "id").await);
}
