//! `rangesync watch`: the daemon against real stores, checked with the
//! stores' own queries and its HTTP API.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_one_sentence, exec, rangesync, url};
use tempfile::TempDir;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn daemon(profile: &Path, token: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rangesync"))
        .args(["watch", "--profile", &profile.display().to_string(), "--log-format", "json"])
        .env("RS_WATCH_TOKEN", token)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// GET or POST on the daemon: (status, body).
fn http(port: u16, method: &str, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    http_with_body(port, method, path, token, "")
}

fn http_with_body(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n{body}", body.len()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

fn health(port: u16) -> Option<(u16, serde_json::Value)> {
    let (status, body) = http(port, "GET", "/api/health", None)?;
    Some((status, serde_json::from_str(&body).ok()?))
}

/// Polls until `ok` holds (or fails the test after `secs`).
async fn wait_for(what: &str, secs: u64, mut ok: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok().await {
        assert!(Instant::now() < deadline, "waited {secs} s for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stop(mut child: Child) -> i32 {
    // SIGTERM: the cycle in hand finishes, then exit 0.
    unsafe { libc_kill(child.id() as i32, 15) };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "the daemon did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[tokio::test]
async fn watch_repairs_what_is_deleted_on_the_target_and_serves_its_api() {
    let a = common::pg::fresh_db("rs_watch_a").await;
    let b = common::pg::fresh_db("rs_watch_b").await;
    common::pg::exec(&a, "CREATE TABLE t (id int8 PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 2000) i").await;
    common::pg::exec(&b, "CREATE TABLE t (id int8 PRIMARY KEY, v text)").await;
    let dir = TempDir::new().unwrap();
    let port = free_port();
    let profile = dir.path().join("w.toml");
    std::fs::write(&profile, format!("source = \"{a}\"\ntarget = \"{b}\"\ndelete = true\n\n[watch]\ninterval = \"1s\"\nlisten = \"127.0.0.1:{port}\"\ntoken_env = \"RS_WATCH_TOKEN\"\n")).unwrap();
    let child = daemon(&profile, "s3cret");
    let rows = "SELECT t::text FROM t";
    let same = async || common::pg::rows_as_text(&a, "t", "id").await == common::pg::rows_as_text(&b, "t", "id").await;
    wait_for("the first cycle", 60, async || health(port).is_some_and(|(s, h)| s == 200 && h["cycles"].as_u64() >= Some(1))).await;
    assert!(same().await, "{rows}");

    // Rows deleted (and one changed) on the target while both are up come back.
    common::pg::exec(&b, "DELETE FROM t WHERE id % 100 = 7; UPDATE t SET v = 'x' WHERE id = 1").await;
    wait_for("the repair", 30, async || same().await).await;

    // The cycle's counts are recorded once it has ended.
    let written = |metrics: &str| -> f64 {
        metrics.lines().find(|l| l.starts_with("rangesync_rows_written_total ")).and_then(|l| l.rsplit_once(' ')?.1.parse().ok()).unwrap_or(0.0)
    };
    wait_for("the written total", 30, async || http(port, "GET", "/metrics", None).is_some_and(|(_, m)| written(&m) >= 2000.0 + 21.0)).await;
    let (status, metrics) = http(port, "GET", "/metrics", None).unwrap();
    assert_eq!(status, 200);
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(name.chars().next().unwrap().is_ascii_alphabetic() && name.split('{').next().unwrap().chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
    }
    assert!(metrics.contains("rangesync_state{state=\"OK\"} 1"), "{metrics}");

    assert_eq!(http(port, "POST", "/api/sync", None).unwrap().0, 401, "no token");
    assert_eq!(http(port, "POST", "/api/sync", Some("wrong")).unwrap().0, 401);
    assert_eq!(http(port, "POST", "/api/sync", Some("s3cret")).unwrap().0, 202);
    let (status, runs) = http(port, "GET", "/api/runs", None).unwrap();
    assert_eq!(status, 200);
    let runs: serde_json::Value = serde_json::from_str(&runs).unwrap();
    assert!(runs.as_array().unwrap().len() >= 2, "{runs}");
    assert_eq!(runs[0]["state"], "OK");

    // A second daemon of the profile is refused.
    let second = Command::new(env!("CARGO_BIN_EXE_rangesync")).args(["watch", "--profile", &profile.display().to_string()]).env("RS_WATCH_TOKEN", "x").output().unwrap();
    assert_eq!(second.status.code(), Some(4), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another run of this profile is going on"), "{}", String::from_utf8_lossy(&second.stderr));
    let logs = stop_with_logs(child);
    assert!(logs.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "--log-format json: {logs}");
    assert!(logs.contains("stopping: the last cycle finished"), "{logs}");

    // The cycles are kept in the state store: a restarted daemon serves
    // its predecessor's at once, the newest first.
    let before: Vec<String> = runs.as_array().unwrap().iter().map(|r| r["started"].as_str().unwrap().to_string()).collect();
    let again = daemon(&profile, "s3cret");
    wait_for("the restarted API", 30, async || http(port, "GET", "/api/runs", None).is_some()).await;
    let (_, after) = http(port, "GET", "/api/runs", None).unwrap();
    let after: Vec<String> = serde_json::from_str::<serde_json::Value>(&after).unwrap().as_array().unwrap().iter().map(|r| r["started"].as_str().unwrap().to_string()).collect();
    let kept: Vec<&String> = after.iter().filter(|s| before.contains(s)).collect();
    assert_eq!(kept, before.iter().collect::<Vec<_>>(), "the earlier cycles, in order: {after:?}");
    stop(again);
}

/// Stops the daemon (SIGTERM) and returns what it logged.
fn stop_with_logs(mut child: Child) -> String {
    use std::io::Read;
    let mut stderr = child.stderr.take().unwrap();
    let code = stop(child);
    assert_eq!(code, 0, "exit code on SIGTERM");
    let mut logs = String::new();
    stderr.read_to_string(&mut logs).unwrap();
    logs
}

/// The target's server stops: TARGET_DOWN and 503; writes reach the source
/// meanwhile; the server starts again: RECOVERING, then OK, the data equal.
#[tokio::test]
async fn a_target_that_goes_down_is_caught_up_when_it_returns() {
    use common::ts::*;
    let dir = TempDir::new().unwrap();
    let influx_port = free_port();
    let server = PrivateInflux::start(dir.path(), influx_port);
    let src = "rs_watch_src";
    fresh_influx(src).await;
    influx_write(src, &format!("cpu,host=a v=1 {BASE}\ncpu,host=a v=2 {}\n", BASE + MINUTE)).await;
    let target = format!("influxdb://127.0.0.1:{influx_port}/mirror");
    let port = free_port();
    let profile = dir.path().join("w.toml");
    std::fs::write(&profile, format!("source = \"{}\"\ntarget = \"{target}\"\n\n[watch]\ninterval = \"1s\"\nlisten = \"127.0.0.1:{port}\"\n", influx_url(src))).unwrap();
    let child = daemon(&profile, "");
    wait_for("OK", 60, async || health(port).is_some_and(|(s, h)| s == 200 && h["cycles"].as_u64() >= Some(1))).await;
    assert_eq!(rangesync(&["diff", &influx_url(src), &target]).code, 0);
    // Points deleted on the target while both are up come back.
    let private = |q: &str| {
        let q = q.to_string();
        async move {
            reqwest_free_get(influx_port, &format!("/query?db=mirror&q={}", q.replace(' ', "%20")))
        }
    };
    private("DELETE FROM cpu WHERE time = 1704067260000000000").await;
    wait_for("the deleted point", 30, async || rangesync(&["diff", &influx_url(src), &target]).code == 0).await;
    // Recent cycles of time series report the lag of TARGET's newest point.
    wait_for("the lag metric", 30, async || http(port, "GET", "/metrics", None).is_some_and(|(_, m)| m.contains("rangesync_newest_point_lag_seconds "))).await;

    server.stop();
    wait_for("TARGET_DOWN", 60, async || health(port).is_some_and(|(s, h)| s == 503 && h["state"] == "TARGET_DOWN")).await;
    influx_write(src, &format!("cpu,host=a v=3 {}\ncpu,host=b v=4 {}\n", BASE + 2 * MINUTE, BASE + 3 * MINUTE)).await;
    let server = PrivateInflux::start(dir.path(), influx_port);
    wait_for("OK again", 90, async || health(port).is_some_and(|(s, h)| s == 200 && h["recoveries"].as_u64() == Some(1))).await;
    let (_, h) = health(port).unwrap();
    let states: Vec<&str> = h["transitions"].as_array().unwrap().iter().map(|t| t[1].as_str().unwrap()).collect();
    assert!(states.ends_with(&["TARGET_DOWN", "RECOVERING", "OK"]), "{h}");
    assert!(h["target_last_healthy"].is_string(), "{h}");
    assert_eq!(rangesync(&["diff", &influx_url(src), &target]).code, 0, "caught up without a restart");
    assert_eq!(stop(child), 0);
    server.stop();
    drop_influx(src).await;
}

/// The source's server stops: SOURCE_DOWN (the failure is told apart by
/// the endpoint it names) and 503; back, the pair is OK again.
#[tokio::test]
async fn a_source_that_goes_down_is_told_apart() {
    use common::ts::*;
    let dir = TempDir::new().unwrap();
    let influx_port = free_port();
    let server = PrivateInflux::start(dir.path(), influx_port);
    let source = format!("influxdb://127.0.0.1:{influx_port}/origin");
    reqwest_free_get(influx_port, "/query?q=CREATE%20DATABASE%20origin");
    let (status, said) = http_with_body(influx_port, "POST", "/write?db=origin&precision=ns", None, &format!("cpu,host=a v=1 {BASE}\n")).unwrap();
    assert_eq!(status, 204, "{said}");
    let tgt = "rs_watch_tgt";
    drop_influx(tgt).await;
    let port = free_port();
    let profile = dir.path().join("w.toml");
    std::fs::write(&profile, format!("source = \"{source}\"\ntarget = \"{}\"\n\n[watch]\ninterval = \"1s\"\nlisten = \"127.0.0.1:{port}\"\n", influx_url(tgt))).unwrap();
    let child = daemon(&profile, "");
    wait_for("OK", 60, async || health(port).is_some_and(|(s, h)| s == 200 && h["cycles"].as_u64() >= Some(1))).await;
    server.stop();
    wait_for("SOURCE_DOWN", 60, async || health(port).is_some_and(|(s, h)| s == 503 && h["state"] == "SOURCE_DOWN")).await;
    let (_, h) = health(port).unwrap();
    assert!(h["last_error"].as_str().unwrap().contains(&format!("127.0.0.1:{influx_port}")), "{h}");
    let _server = PrivateInflux::start(dir.path(), influx_port);
    wait_for("OK again", 90, async || health(port).is_some_and(|(s, h)| s == 200 && h["recoveries"].as_u64() == Some(1))).await;
    assert_eq!(stop(child), 0);
    drop_influx(tgt).await;
}

/// A GET on the private InfluxDB (its /query takes DELETE as GET in 1.x
/// only by POST; this sends POST).
fn reqwest_free_get(port: u16, path_and_query: &str) {
    let (status, body) = http(port, "POST", path_and_query, None).unwrap();
    assert_eq!(status, 200, "{body}");
}

/// An InfluxDB of the test's own, on its own port and directories, that it
/// stops and starts.
struct PrivateInflux {
    child: std::cell::RefCell<Option<Child>>,
    port: u16,
}

impl PrivateInflux {
    fn start(dir: &Path, port: u16) -> PrivateInflux {
        let conf = dir.join("influxdb.conf");
        let d = dir.join("influx");
        std::fs::write(
            &conf,
            format!(
                "reporting-disabled = true\nbind-address = \"127.0.0.1:{}\"\n[meta]\n  dir = \"{d}/meta\"\n[data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n[monitor]\n  store-enabled = false\n[http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n[continuous_queries]\n  enabled = false\n",
                free_port(),
                d = d.display()
            ),
        )
        .unwrap();
        let child = Command::new("influxd").args(["-config", &conf.display().to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("influxd (scripts/services.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(port, "GET", "/ping", None).is_none_or(|(s, _)| s != 204) {
            assert!(Instant::now() < deadline, "the private InfluxDB did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        PrivateInflux { child: std::cell::RefCell::new(Some(child)), port }
    }

    fn stop(&self) {
        if let Some(mut c) = self.child.borrow_mut().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while http(self.port, "GET", "/ping", None).is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PrivateInflux {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn bad_watch_input_gets_one_sentence() {
    let dir = TempDir::new().unwrap();
    let a = dir.path().join("a.db");
    exec(&a, "CREATE TABLE t (id INTEGER PRIMARY KEY)").await;
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let zero = write("zero.toml", format!("source = \"{}\"\ntarget = \"sqlite://b.db\"\n[watch]\ninterval = \"0s\"\n", url(&a)));
    assert_one_sentence(&rangesync(&["watch", "--profile", &zero]), 2, "line 4, key interval: '0s' is not a positive duration");
    let no_target = write("half.toml", format!("source = \"{}\"\n[watch]\ninterval = \"1m\"\n", url(&a)));
    assert_one_sentence(&rangesync(&["watch", "--profile", &no_target]), 2, "no TARGET");
    let no_watch = write("plain.toml", format!("source = \"{}\"\ntarget = \"sqlite://b.db\"\n", url(&a)));
    assert_one_sentence(&rangesync(&["watch", "--profile", &no_watch]), 2, "has no [watch] section");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let busy = write("busy.toml", format!("source = \"{}\"\ntarget = \"{}\"\n[watch]\ninterval = \"1m\"\nlisten = \"127.0.0.1:{port}\"\n", url(&a), url(&dir.path().join("b.db"))));
    assert_one_sentence(&rangesync(&["watch", "--profile", &busy]), 2, &format!("cannot listen on 127.0.0.1:{port}"));
    let left: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("busy.state")).collect();
    assert!(left.is_empty(), "a refused daemon left {left:?}");
}

/// A profile mirroring several InfluxDB databases: one failing (its copy
/// types a field apart) leaves the others mirrored; `sync` exits 2 with
/// the report of all, and `watch` shows each database's health.
#[tokio::test]
async fn one_database_failing_leaves_the_others_mirrored_and_its_health_apart() {
    use common::ts::*;
    let (a, b) = ("rs_wdb_a", "rs_wdb_b");
    for db in [a, b] {
        fresh_influx(db).await;
        influx_write(db, &format!("rs_wdb_cpu,host=x v=1.5 {BASE}\nrs_wdb_cpu,host=x v=2.5 {}\n", BASE + HOUR)).await;
    }
    drop_influx("rs_wdb_a_copy").await;
    // b's copy holds v as an integer: no sync can settle that.
    fresh_influx("rs_wdb_b_copy").await;
    influx_write("rs_wdb_b_copy", &format!("rs_wdb_cpu,host=x v=1i {BASE}\n")).await;
    let dir = TempDir::new().unwrap();
    let server = influx_url("");
    let port = free_port();
    let profile = dir.path().join("dbs.toml");
    std::fs::write(
        &profile,
        format!("source = \"{server}\"\ntarget = \"{server}\"\ndatabase = \"^rs_wdb_[ab]$\"\ntarget_db = \"{{db}}_copy\"\n\n[watch]\ninterval = \"1s\"\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let p = profile.display().to_string();
    let run = rangesync(&["sync", "--profile", &p, "--format", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("database rs_wdb_b: ") && run.stderr.contains("field v"), "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["databases"][0], serde_json::json!({"name": "rs_wdb_a"}), "{r}");
    assert_eq!(r["databases"][1]["name"], "rs_wdb_b");
    assert_eq!(r["in_sync"], false);
    assert_eq!(r["datasets"][0]["inserted"], 2, "{r}");
    assert_eq!(influx_dump("rs_wdb_a_copy").await, influx_dump(a).await, "the database that could be mirrored was");

    let child = daemon(&profile, "t");
    wait_for("a cycle", 60, async || health(port).is_some_and(|(_, h)| h["cycles"].as_u64() >= Some(1))).await;
    let (status, h) = health(port).unwrap();
    assert_eq!((status, h["state"].as_str()), (503, Some("DEGRADED")), "{h}");
    assert_eq!(h["databases"]["rs_wdb_a"]["state"], "OK", "{h}");
    assert_eq!(h["databases"]["rs_wdb_b"]["state"], "FAILED", "{h}");
    assert!(h["databases"]["rs_wdb_b"]["last_error"].as_str().unwrap().contains("field v"), "{h}");
    let (_, metrics) = http(port, "GET", "/metrics", None).unwrap();
    assert!(metrics.contains("rangesync_database_ok{database=\"rs_wdb_a\"} 1") && metrics.contains("rangesync_database_ok{database=\"rs_wdb_b\"} 0"), "{metrics}");
    assert!(metrics.contains("rangesync_state{state=\"DEGRADED\"} 1"), "{metrics}");
    stop(child);
    for db in [a, b, "rs_wdb_a_copy", "rs_wdb_b_copy"] {
        drop_influx(db).await;
    }
}
