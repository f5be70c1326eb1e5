//! The state store: a sync killed with SIGKILL resumes without comparing
//! again what it finished, and ends consistent; two runs of one profile
//! are kept apart by its lock, which a dead process's run leaves free.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::{exec, independent_diff, rangesync, url};
use sqlx::{ConnectOptions, Connection, Row};
use tempfile::TempDir;

fn start(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rangesync")).args(args).env_remove("RUST_LOG").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Ranges the state store holds as finished for pass 1 of the latest run,
/// and how many distinct ones.
async fn finished_ranges(state: &Path) -> (i64, i64) {
    if !state.exists() {
        return (0, 0);
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", state.display())).unwrap().read_only(true);
    let Ok(mut c) = options.connect().await else { return (0, 0) };
    let row = sqlx::query(
        "SELECT count(*), count(DISTINCT quote(lo_kind) || quote(lo) || quote(hi)) FROM finished_ranges WHERE run = (SELECT max(id) FROM runs) AND pass = 1",
    )
    .fetch_one(&mut c)
    .await;
    let counts = row.map(|r| (r.get(0), r.get(1))).unwrap_or((0, 0));
    c.close().await.unwrap();
    counts
}

/// Waits until the state store holds at least `n` finished ranges, then
/// kills the run with SIGKILL; returns how many it had finished.
async fn kill_after(mut child: Child, state: &Path, n: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (done, _) = finished_ranges(state).await;
        if done >= n {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return finished_ranges(state).await.0;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before it finished {n} ranges");
        }
        assert!(Instant::now() < deadline, "no progress in the state store");
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

async fn table(path: &Path, rows: u32) {
    exec(
        path,
        &format!(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n REAL);
             WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows})
             INSERT INTO t SELECT i, hex(randomblob(24)), i * 0.5 FROM s"
        ),
    )
    .await;
}

#[tokio::test]
async fn a_sync_killed_twice_resumes_without_redoing_finished_ranges() {
    let dir = TempDir::new().unwrap();
    let (a, b, state) = (dir.path().join("a.db"), dir.path().join("b.db"), dir.path().join("run.state"));
    table(&a, 150_000).await;
    exec(&b, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n REAL)").await;
    let (a_url, b_url, state_arg) = (url(&a), url(&b), state.display().to_string());
    let args = ["sync", a_url.as_str(), b_url.as_str(), "--state", state_arg.as_str(), "--zoom", "1000,10,1", "--format", "json"];

    let first = kill_after(start(&args), &state, 5).await;
    let second = kill_after(start(&args), &state, first + 10).await;
    assert!(second > first, "the second run went on from the first: {first} then {second}");
    let last = rangesync(&args);
    assert_eq!(last.code, 0, "{}", last.stderr);
    let r = last.json();
    let d = &r["datasets"][0];
    // Every range the killed runs finished was skipped, none compared again.
    assert_eq!(d["ranges_skipped"].as_i64(), Some(second), "{r}");
    assert!(r["notes"].to_string().contains("was resumed"), "{r}");
    let (recorded, distinct) = finished_ranges(&state).await;
    assert_eq!(recorded, distinct, "no range was finished twice");
    assert_eq!(recorded, 150, "every first-level range finished once");
    // Consistent, by rangesync and by SQLite itself.
    assert_eq!(rangesync(&["diff", &url(&a), &url(&b)]).code, 0);
    assert_eq!(independent_diff(&a, &b, "t").await, (0, 0));
    // The next run is a new one: nothing skipped.
    let fresh = rangesync(&args);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert!(fresh.json()["datasets"][0].get("ranges_skipped").is_none(), "{}", fresh.stdout);
}

#[tokio::test]
async fn a_second_run_of_a_profile_is_refused_and_a_dead_runs_lock_taken_over() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    table(&a, 150_000).await;
    exec(&b, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, n REAL)").await;
    let profile = dir.path().join("copy.toml");
    std::fs::write(&profile, format!("source = \"{}\"\ntarget = \"{}\"\nzoom = \"1000,10,1\"\n", url(&a), url(&b))).unwrap();
    let profile = profile.display().to_string();
    let state = dir.path().join("copy.state.sqlite");
    let lock = dir.path().join("copy.state.sqlite.lock");

    let running = start(&["sync", "--profile", &profile]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while finished_ranges(&state).await.0 < 2 {
        assert!(Instant::now() < deadline, "the first run made no progress");
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let second = rangesync(&["sync", "--profile", &profile]);
    common::assert_one_sentence(&second, 4, &format!("another run of this profile is going on (pid {} since", running.id()));
    assert!(second.stderr.contains("copy.state.sqlite.lock"), "{}", second.stderr);

    // Killed, it leaves its pid in the lock file but no lock.
    kill_after(running, &state, 0).await;
    assert!(std::fs::read_to_string(&lock).unwrap().starts_with("pid "));
    let taken = rangesync(&["sync", "--profile", &profile, "--format", "json"]);
    assert_eq!(taken.code, 0, "{}", taken.stderr);
    assert!(taken.stderr.contains("no longer running"), "the takeover is said: {}", taken.stderr);
    assert_eq!(independent_diff(&a, &b, "t").await, (0, 0));
}

/// How far the latest run's time-series sync got, by the state store.
async fn series_until(state: &Path) -> Option<i64> {
    if !state.exists() {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", state.display())).unwrap().read_only(true);
    let mut c = options.connect().await.ok()?;
    let row = sqlx::query("SELECT max(until) FROM series_progress WHERE run = (SELECT max(id) FROM runs)").fetch_one(&mut c).await.ok();
    c.close().await.unwrap();
    row.and_then(|r| r.get::<Option<i64>, _>(0))
}

/// A time-series sync killed with SIGKILL resumes from where it had
/// compared and repaired everything, and ends equal.
#[tokio::test]
async fn a_time_series_sync_killed_resumes_from_where_it_got() {
    use common::ts::*;
    let (src, tgt) = ("rs_state_ts_src", "rs_state_ts_tgt");
    fresh_influx(src).await;
    drop_influx(tgt).await;
    let mut lines = String::new();
    for i in 0..(2 * 24 * 60) {
        for h in 0..10 {
            lines.push_str(&format!("cpu,host=h{h} v={i}.25 {}\n", BASE + i * MINUTE));
        }
    }
    influx_write(src, &lines).await;
    let dir = TempDir::new().unwrap();
    let state = dir.path().join("ts.state");
    let (src_url, tgt_url, state_arg) = (influx_url(src), influx_url(tgt), state.display().to_string());
    let args = ["sync", src_url.as_str(), tgt_url.as_str(), "--state", state_arg.as_str(), "--max-rows", "500", "--format", "json"];
    let mut child = start(&args);
    let deadline = Instant::now() + Duration::from_secs(120);
    let until = loop {
        if let Some(u) = series_until(&state).await.filter(|u| *u > BASE + 6 * HOUR) {
            child.kill().unwrap();
            child.wait().unwrap();
            break u;
        }
        assert!(child.try_wait().unwrap().is_none(), "the sync ended before it could be killed");
        assert!(Instant::now() < deadline, "no progress in the state store");
        tokio::time::sleep(Duration::from_millis(3)).await;
    };
    assert!(until < BASE + 2 * DAY, "killed part way");
    let resumed = rangesync(&args);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let r = resumed.json();
    assert!(r["notes"].to_string().contains("was resumed from"), "{r}");
    // What the killed run finished is not read again.
    assert!(r["datasets"][0]["rows_fetched"].as_u64().unwrap() < 2 * 24 * 60 * 10, "{r}");
    assert_eq!(rangesync(&["diff", &influx_url(src), &influx_url(tgt)]).code, 0);
    assert_eq!(influx_dump(src).await, influx_dump(tgt).await);
    drop_influx(src).await;
    drop_influx(tgt).await;
}
