//! A server that goes away mid-run (the target, then the source): the run
//! ends with exit 3 within 15 seconds and one sentence naming the cause
//! (the connection refused), not the pool's timeout after minutes; a server
//! back within a second or two is used again, and the run's report is the
//! one an undisturbed run gives. The server is reached through a relay
//! (tests/common/proxy.rs) that drops every connection partway through the
//! run's answers and then refuses new ones.

mod common;

use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::{assert_one_sentence, my, pg, rangesync};

/// Windows of 2,000 rows: the run reads answers all along.
const ZOOM: [&str; 2] = ["--zoom", "1000,10,1"];

fn report(run: &common::Run) -> serde_json::Value {
    let mut d = run.json()["datasets"][0].clone();
    for k in ["elapsed_ms", "round_trips"] {
        d.as_object_mut().unwrap().remove(k);
    }
    d
}

fn diff(src: &str, tgt: &str) -> common::Run {
    rangesync(&[&["diff", src, tgt, "--format", "json"][..], &ZOOM[..]].concat())
}

fn dies_then_comes_back(src: &str, tgt: &str) {
    let (template, upstream) = Proxy::split(tgt);
    let calm = Proxy::start(&upstream, u64::MAX, None);
    let undisturbed = diff(src, &calm.url(&template));
    assert_eq!(undisturbed.code, 1, "{}", undisturbed.stderr);
    let half = calm.answered() / 2;

    let dead = Proxy::start(&upstream, half, None);
    let started = Instant::now();
    let run = diff(src, &dead.url(&template));
    let took = started.elapsed();
    assert!(dead.died(), "the relay never dropped the connections: {}", run.stderr);
    assert_one_sentence(&run, 3, "refused");
    assert!(took < Duration::from_secs(15), "a dead server took {took:?} to end the run: {}", run.stderr);
    assert!(!run.stderr.contains("pool timed out"), "{}", run.stderr);

    // The source going away ends the run the same way.
    let (src_template, src_upstream) = Proxy::split(src);
    let calm = Proxy::start(&src_upstream, u64::MAX, None);
    assert_eq!(diff(&calm.url(&src_template), tgt).code, 1);
    let dead = Proxy::start(&src_upstream, calm.answered() / 2, None);
    let started = Instant::now();
    let run = diff(&dead.url(&src_template), tgt);
    let took = started.elapsed();
    assert!(dead.died(), "the relay never dropped the connections: {}", run.stderr);
    assert_one_sentence(&run, 3, "refused");
    assert!(took < Duration::from_secs(15), "a dead source took {took:?} to end the run: {}", run.stderr);

    // Later in the run (inside the windows' reads), and back in 1.5 s.
    let blip = Proxy::start(&upstream, half + half / 2, Some(Duration::from_millis(1500)));
    let run = diff(src, &blip.url(&template));
    assert!(blip.died(), "the relay never dropped the connections: {}", run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(report(&run), report(&undisturbed));
}

/// A server that takes longer than the pool's quick wait (2 s) to answer
/// each new connection is slow, not dead: the run ends as an undisturbed
/// one does.
fn slow_to_connect(src: &str, tgt: &str) {
    let (template, upstream) = Proxy::split(tgt);
    let undisturbed = diff(src, tgt);
    assert_eq!(undisturbed.code, 1, "{}", undisturbed.stderr);
    let slow = Proxy::slow(&upstream, Duration::from_millis(2500));
    let run = diff(src, &slow.url(&template));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(report(&run), report(&undisturbed));
}

#[tokio::test]
async fn postgres_server_that_goes_away() {
    let src = pg::fresh_db("rs_test_dead_pg_src").await;
    let tgt = pg::fresh_db("rs_test_dead_pg_tgt").await;
    let table = "CREATE TABLE d (id int8 PRIMARY KEY, v text); \
                 INSERT INTO d SELECT g, 'v' || g FROM generate_series(1, 40000) g;";
    pg::exec(&src, table).await;
    pg::exec(&tgt, table).await;
    pg::exec(&tgt, "UPDATE d SET v = 'changed' WHERE id % 5000 = 0; DELETE FROM d WHERE id % 7001 = 0;").await;
    dies_then_comes_back(&src, &tgt);
    slow_to_connect(&src, &tgt);
}

#[tokio::test]
async fn mysql_server_that_goes_away() {
    let src = my::fresh_db("rs_test_dead_my_src").await;
    let tgt = my::fresh_db("rs_test_dead_my_tgt").await;
    let table = "CREATE TABLE d (id bigint PRIMARY KEY, v varchar(20)); \
                 INSERT INTO d SELECT seq, concat('v', seq) FROM seq_1_to_40000;";
    my::exec(&src, table).await;
    my::exec(&tgt, table).await;
    my::exec(&tgt, "UPDATE d SET v = 'changed' WHERE id % 5000 = 0; DELETE FROM d WHERE id % 7001 = 0;").await;
    dies_then_comes_back(&src, &tgt);
    slow_to_connect(&src, &tgt);
}
