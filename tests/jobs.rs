//! `--jobs N`: each side's windows are fingerprinted N at a time over N
//! connections of one snapshot. The report is the one `--jobs 1` gives,
//! and a sync with `--jobs 4` leaves the target equal to the source as
//! each server renders both tables.

mod common;

use common::{my, pg, rangesync};

/// The dataset's report without what varies between runs.
fn report(run: &common::Run) -> serde_json::Value {
    let mut d = run.json()["datasets"][0].clone();
    d.as_object_mut().unwrap().remove("elapsed_ms");
    d
}

/// 60,000 rows cut into three windows by `--zoom 1000,10,1`; drift in each
/// window and at keys next to the window boundaries.
fn same_report_and_sync(src: &str, tgt: &str) {
    let zoom = ["--zoom", "1000,10,1"];
    let diff = |jobs: &str| {
        let run = rangesync(&[&["diff", src, tgt, "--format", "json", "--jobs", jobs][..], &zoom[..]].concat());
        assert_eq!(run.code, 1, "{}", run.stderr);
        report(&run)
    };
    let one = diff("1");
    assert_eq!(diff("4"), one);
    assert_eq!(diff("2"), one);
    let n = |k: &str| one[k].as_u64().unwrap();
    assert_eq!((n("missing"), n("extra"), n("changed")), (7, 3, 6), "{one}");
    assert_eq!((n("source_rows"), n("target_rows")), (60_000, 59_996), "{one}");

    let run = rangesync(&[&["sync", src, tgt, "--delete", "--format", "json", "--jobs", "4"][..], &zoom[..]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = report(&run);
    assert_eq!((d["inserted"].as_u64(), d["updated"].as_u64(), d["deleted"].as_u64()), (Some(7), Some(6), Some(3)), "{d}");
}

/// 60 rows changed one in every 997, each in its own bucket: the pairs of
/// all mismatched buckets of a window are read together, so the round
/// trips stay a few per window (133 when each bucket was a statement per
/// side), the same with `--jobs 2`.
fn scattered_changes_cost_few_round_trips(src: &str, tgt: &str) {
    for jobs in ["1", "2"] {
        let run = rangesync(&["diff", src, tgt, "--format", "json", "--zoom", "1000,10,1", "--jobs", jobs]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let d = report(&run);
        assert_eq!(d["changed"].as_u64(), Some(60), "{d}");
        let trips = d["round_trips"].as_u64().unwrap();
        assert!(trips <= 30, "{trips} round trips: {d}");
    }
}

const SCATTER: &str = "UPDATE j SET v = 'scattered' WHERE id % 997 = 0;";

const DRIFT: &str = "DELETE FROM j WHERE id IN (1, 19999, 20000, 20001, 40000, 45000, 60000); \
     UPDATE j SET v = 'changed' WHERE id IN (2, 20002, 39999, 40001, 50000); UPDATE j SET n = NULL WHERE id = 59999; \
     INSERT INTO j VALUES (60001, 'extra', 1), (0, 'extra', 2), (-5, NULL, NULL);";

#[tokio::test]
async fn postgres_jobs_give_the_report_of_one_reader() {
    let src = pg::fresh_db("rs_test_jobs_pg_src").await;
    let tgt = pg::fresh_db("rs_test_jobs_pg_tgt").await;
    let table = "CREATE TABLE j (id int8 PRIMARY KEY, v text, n numeric(10,2)); \
                 INSERT INTO j SELECT g, 'v' || g, g / 8.0 FROM generate_series(1, 60000) g;";
    pg::exec(&src, table).await;
    pg::exec(&tgt, table).await;
    pg::exec(&tgt, DRIFT).await;
    same_report_and_sync(&src, &tgt);
    assert_eq!(pg::rows_as_text(&src, "j", "id").await, pg::rows_as_text(&tgt, "j", "id").await);
    pg::exec(&tgt, SCATTER).await;
    scattered_changes_cost_few_round_trips(&src, &tgt);
}

#[tokio::test]
async fn mysql_jobs_give_the_report_of_one_reader() {
    let src = my::fresh_db("rs_test_jobs_my_src").await;
    let tgt = my::fresh_db("rs_test_jobs_my_tgt").await;
    let table = "CREATE TABLE j (id bigint PRIMARY KEY, v varchar(20), n decimal(10,2)); \
                 INSERT INTO j SELECT seq, concat('v', seq), seq / 8 FROM seq_1_to_60000;";
    my::exec(&src, table).await;
    my::exec(&tgt, table).await;
    my::exec(&tgt, DRIFT).await;
    same_report_and_sync(&src, &tgt);
    let cols = ["id", "v", "n"];
    assert_eq!(my::rows_as_text(&src, "j", &cols, "id").await, my::rows_as_text(&tgt, "j", &cols, "id").await);
    my::exec(&tgt, SCATTER).await;
    scattered_changes_cost_few_round_trips(&src, &tgt);
}
