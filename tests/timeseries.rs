//! Time series against the real servers (InfluxDB 1.x, VictoriaMetrics):
//! every kind of drift found and repaired, checked by reading both
//! servers' own APIs, not by rangesync's diff alone.

mod common;

use common::ts::*;
use common::*;

#[tokio::test]
async fn influx_to_influx_finds_and_repairs_every_kind_of_drift() {
    let (src, tgt) = ("rs_ts_drift_src", "rs_ts_drift_tgt");
    fresh_influx(src).await;
    drop_influx(tgt).await;
    influx_write(src, &dataset("cpu")).await;
    influx_write(src, &dataset("mem")).await;
    assert_eq!(influx_dump(src).await.len() as i64, 2 * point_count(), "the dataset's instants are distinct");

    // A first sync creates the target database and fills it.
    let first = rangesync(&["sync", &influx_url(src), &influx_url(tgt), "--format", "json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.json()["datasets"][0]["inserted"], point_count());
    assert_eq!(influx_dump(src).await, influx_dump(tgt).await);
    assert_eq!(influx_field_types(src).await, influx_field_types(tgt).await, "every field keeps its type");

    // Drift on the target: scattered points gone, a whole hour gone,
    // boundary points gone, a value changed with the count unchanged,
    // extra points and an extra series.
    for (tags, t) in [("\"host\"='a' AND \"dc\"='eu'", BASE + 7 * MINUTE), ("\"host\"='b'", BASE + 30 * 7 * MINUTE), ("\"host\"='b'", BASE + DAY - 1)] {
        influx_query(tgt, &format!("DELETE FROM cpu WHERE {tags} AND time = {t}")).await;
    }
    influx_query(tgt, &format!("DELETE FROM cpu WHERE \"host\"='b' AND time >= {} AND time < {}", BASE + 10 * HOUR, BASE + 11 * HOUR)).await;
    influx_query(tgt, &format!("DELETE FROM cpu WHERE \"host\"='b' AND time = {}", BASE + DAY)).await;
    // 1 ns after the hour boundary, in the series with no tags.
    influx_query(tgt, &format!("DELETE FROM cpu WHERE \"host\"='' AND time = {}", BASE + 5 * HOUR + 1)).await;
    let changed_at = BASE + 40 * HOUR + 7 * MINUTE * 2;
    let changed_at = changed_at - (changed_at - BASE) % (7 * MINUTE);
    influx_write(tgt, &format!("mem,host=a,dc=eu f=0.5 {changed_at}\n")).await;
    influx_write(tgt, &format!("cpu,host=a,dc=eu f=1.5 {}\ncpu,host=new f=2.5 {}\n", BASE + 3 * MINUTE + 1, BASE + HOUR)).await;
    let missing_in_hour = (0..(2 * 24 * 60 / 7)).filter(|i| (10 * 60..11 * 60).contains(&(i * 7))).count() as i64;
    let missing = 3 + missing_in_hour + 2;

    // Counts find what is missing and extra; a changed value with an
    // equal count needs --verify exact.
    let counted = rangesync(&["diff", &influx_url(src), &influx_url(tgt), "--format", "json"]);
    assert_eq!(counted.code, 1, "{}", counted.stderr);
    let d = &counted.json()["datasets"];
    assert_eq!(d[0]["name"], "cpu");
    assert_eq!((d[0]["missing"].as_i64(), d[0]["extra"].as_i64(), d[0]["changed"].as_i64()), (Some(missing), Some(2), Some(0)));
    assert_eq!(d[1]["changed"], 1, "InfluxDB's sums beside the counts see a value changed in place: {d}");
    // cpu's days (about 200 points a series) differ in four series each:
    // the cost model reads them whole, cheaper than counting hours and
    // reading a dozen small windows (tests/scattered_loss.rs checks the
    // narrowing where it pays). mem's one changed value is found by its
    // sums and only its window is read.
    assert!(d[1]["rows_fetched"].as_i64().unwrap() < 100, "only the window of the changed value is read: {d}");

    let exact = rangesync(&["diff", &influx_url(src), &influx_url(tgt), "--verify", "exact", "--format", "json"]);
    assert_eq!(exact.code, 1);
    let d = &exact.json()["datasets"];
    assert_eq!((d[1]["missing"].as_i64(), d[1]["extra"].as_i64(), d[1]["changed"].as_i64()), (Some(0), Some(0), Some(1)));
    assert_eq!(d[0]["missing"].as_i64(), Some(missing));

    // Without --delete the extras stay, and are reported.
    let keep = rangesync(&["sync", &influx_url(src), &influx_url(tgt), "--verify", "exact", "--format", "json"]);
    assert_eq!(keep.code, 0, "{}", keep.stderr);
    let d = &keep.json()["datasets"];
    assert_eq!((d[0]["inserted"].as_i64(), d[0]["deleted"].as_i64(), d[0]["remaining"].as_i64()), (Some(missing), Some(0), Some(2)));
    assert_eq!(d[1]["updated"], 1);

    let fix = rangesync(&["sync", &influx_url(src), &influx_url(tgt), "--delete", "--format", "json"]);
    assert_eq!(fix.code, 0, "{}", fix.stderr);
    assert_eq!(fix.json()["datasets"][0]["deleted"], 2);
    let again = rangesync(&["diff", &influx_url(src), &influx_url(tgt), "--verify", "exact"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert_eq!(influx_dump(src).await, influx_dump(tgt).await, "InfluxDB's own rendering of both agrees");
    drop_influx(src).await;
    drop_influx(tgt).await;
}

#[tokio::test]
async fn a_changed_field_next_to_a_field_only_the_target_has_is_repaired_by_deleting_the_point() {
    let (src, tgt) = ("rs_ts_fields_src", "rs_ts_fields_tgt");
    fresh_influx(src).await;
    fresh_influx(tgt).await;
    influx_write(src, &format!("m,host=a x=1,y=2 {BASE}\nm,host=a x=3 {}\n", BASE + MINUTE)).await;
    // The target holds y at the second instant, which the source lacks.
    influx_write(tgt, &format!("m,host=a x=1,y=2 {BASE}\nm,host=a x=3,y=9 {}\n", BASE + MINUTE)).await;
    let d = rangesync(&["diff", &influx_url(src), &influx_url(tgt), "--format", "json"]);
    assert_eq!(d.code, 1);
    assert_eq!(d.json()["datasets"][0]["changed"], 1);
    let s = rangesync(&["sync", &influx_url(src), &influx_url(tgt), "--delete"]);
    assert_eq!(s.code, 0, "{}", s.stderr);
    assert_eq!(influx_dump(src).await, influx_dump(tgt).await);
    drop_influx(src).await;
    drop_influx(tgt).await;
}

#[tokio::test]
async fn influx_to_victoriametrics_and_back() {
    let (src, back) = ("rs_ts_vm_src", "rs_ts_vm_back");
    let m = "rs_iv_cpu";
    let metrics = "rs_iv_cpu_.*";
    fresh_influx(src).await;
    drop_influx(back).await;
    vm_forget(metrics).await;
    influx_write(src, &dataset(m)).await;

    // A first sync of the first day only, then the rest: the second run
    // reads only what the first did not write.
    let day1 = rangesync(&["sync", &influx_url(src), &vm_url(), "--measurement", "^rs_iv_cpu$", "--end", "2024-01-02T00:00:00Z", "--format", "json"]);
    assert_eq!(day1.code, 0, "{}", day1.stderr);
    let r = day1.json();
    assert!(r["notes"][0].as_str().unwrap().contains("field s holds string values"), "{r}");
    let all = rangesync(&["sync", &influx_url(src), &vm_url(), "--measurement", "^rs_iv_cpu$", "--format", "json"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    let d = &all.json()["datasets"][0];
    let day2 = influx_query(src, &format!("SELECT count(f) FROM {m} WHERE time >= {}", BASE + DAY)).await;
    let day2 = day2["results"][0]["series"][0]["values"][0][1].as_i64().unwrap();
    // BASE+DAY and 1 ns later are one sample at milliseconds, in each of
    // the four series.
    assert_eq!(d["missing"].as_i64(), Some(day2 - 4));
    // Besides the second day, the hours of the first where two instants
    // share a millisecond: InfluxDB counts two samples, VictoriaMetrics
    // one, so they differ at every run (read, nothing written).
    assert!(d["rows_fetched"].as_i64().unwrap() <= day2 + 300, "only the second day is read: {d}");

    // Independently: VictoriaMetrics' export equals InfluxDB's points
    // named as metrics, at milliseconds (two nanosecond instants share a
    // millisecond: one sample).
    let influx_side = influx_as_vm(src, m).await;
    let vm_side = vm_dump(metrics).await;
    assert_eq!(influx_side.len(), vm_side.len());
    assert_eq!(influx_side.keys().collect::<Vec<_>>(), vm_side.keys().collect::<Vec<_>>());
    for (k, v) in &influx_side {
        let got = vm_side[k];
        // Integers above 2^53 are floats in VictoriaMetrics: compared as
        // the float they become.
        assert_eq!(got, *v, "{k:?}");
    }
    let equal = rangesync(&["diff", &influx_url(src), &vm_url(), "--measurement", "^rs_iv_cpu$", "--verify", "exact"]);
    assert_eq!(equal.code, 0, "{}{}", equal.stdout, equal.stderr);

    // Extra samples in VictoriaMetrics cannot be deleted by time: kept,
    // and said so.
    vm_import(&format!("{{\"metric\":{{\"__name__\":\"{m}_f\",\"host\":\"b\"}},\"values\":[7],\"timestamps\":[{}]}}\n", (BASE + 2 * MINUTE) / 1_000_000)).await;
    let extra = rangesync(&["sync", &influx_url(src), &vm_url(), "--measurement", "^rs_iv_cpu$", "--delete", "--format", "json"]);
    assert_eq!(extra.code, 0, "{}", extra.stderr);
    let r = extra.json();
    assert_eq!(r["datasets"][0]["extra"], 1);
    assert_eq!(r["datasets"][0]["remaining"], 1);
    assert!(r["notes"].to_string().contains("not removable"), "{r}");
    assert_eq!(rangesync(&["diff", &influx_url(src), &vm_url(), "--measurement", "^rs_iv_cpu$"]).code, 1);
    vm_forget(&format!("{m}_f")).await;
    let fill = rangesync(&["sync", &influx_url(src), &vm_url(), "--measurement", "^rs_iv_cpu$"]);
    assert_eq!(fill.code, 0, "{}", fill.stderr);

    // And back: metrics rs_iv_cpu_f, _i, _b become fields of rs_iv_cpu.
    let home = rangesync(&["sync", &vm_url(), &influx_url(back), "--measurement", "^rs_iv_cpu$", "--format", "json"]);
    assert_eq!(home.code, 0, "{}", home.stderr);
    assert_eq!(influx_as_vm(back, m).await, vm_dump(metrics).await);
    let equal = rangesync(&["diff", &vm_url(), &influx_url(back), "--measurement", "^rs_iv_cpu$", "--verify", "exact"]);
    assert_eq!(equal.code, 0, "{}{}", equal.stdout, equal.stderr);
    drop_influx(src).await;
    drop_influx(back).await;
    vm_forget(metrics).await;
}

#[tokio::test]
async fn copy_fills_in_windows_and_resumes() {
    let (src, tgt) = ("rs_ts_copy_src", "rs_ts_copy_tgt");
    fresh_influx(src).await;
    drop_influx(tgt).await;
    influx_write(src, &dataset("cpu")).await;
    // Only the first day, oldest first, in windows of 6 hours.
    let part = rangesync(&[
        "copy", &influx_url(src), &influx_url(tgt), "--start", "2024-01-01T00:00:00Z", "--end", "2024-01-02T00:00:00Z", "--chunk", "6h", "--order", "oldest-first",
        "--format", "json",
    ]);
    assert_eq!(part.code, 0, "{}", part.stderr);
    let in_day = influx_query(tgt, &format!("SELECT count(f) FROM cpu WHERE time >= {BASE} AND time < {}", BASE + DAY)).await;
    let total = influx_query(tgt, "SELECT count(f) FROM cpu").await;
    assert_eq!(in_day["results"][0]["series"][0]["values"][0][1], total["results"][0]["series"][0]["values"][0][1], "nothing outside the span");
    // The whole span: the first day's windows are skipped. Three reads
    // and two writes in flight (the source's and target's concurrency=).
    let all = rangesync(&["copy", &format!("{}?concurrency=3", influx_url(src)), &format!("{}?concurrency=2", influx_url(tgt)), "--chunk", "6h", "--max-rows", "100", "--format", "json"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    let r = all.json();
    assert!(r["notes"][0].as_str().unwrap().contains("4 of 8 window(s) already complete"), "{r}");
    assert_eq!(influx_dump(src).await, influx_dump(tgt).await);
    assert_eq!(rangesync(&["diff", &influx_url(src), &influx_url(tgt), "--verify", "exact"]).code, 0);
    drop_influx(src).await;
    drop_influx(tgt).await;
}

#[tokio::test]
async fn bad_time_series_input_gets_one_sentence() {
    let (src, tgt) = ("rs_ts_bad_src", "rs_ts_bad_tgt");
    fresh_influx(src).await;
    fresh_influx(tgt).await;
    influx_write(src, &format!("cpu,host=a v=1.5 {BASE}\n")).await;
    influx_write(tgt, &format!("cpu,host=a v=1i {BASE}\n")).await;
    let none = rangesync(&["diff", &influx_url(src), &influx_url(tgt), "--measurement", "^disk"]);
    assert_one_sentence(&none, 2, "--measurement '^disk' matches no measurement");
    let typed = rangesync(&["sync", &influx_url(src), &influx_url(tgt)]);
    assert_one_sentence(&typed, 2, "field v of measurement cpu is float");
    let missing = rangesync(&["diff", &influx_url(src), &influx_url("rs_ts_no_such_db")]);
    assert_one_sentence(&missing, 2, "database rs_ts_no_such_db does not exist");
    let mixed = rangesync(&["diff", &influx_url(src), "sqlite://x.db"]);
    assert_one_sentence(&mixed, 2, "different families");
    let start = rangesync(&["diff", &influx_url(src), &influx_url(tgt), "--start", "yesterday"]);
    assert_one_sentence(&start, 2, "--start");
    let rp = rangesync(&["sync", &influx_url(src), &format!("{}?rp=autogen", influx_url(tgt)), "--delete"]);
    assert_one_sentence(&rp, 2, "every retention policy");
    let busy = rangesync(&["diff", &format!("{}?concurrency=0", influx_url(src)), &influx_url(tgt)]);
    assert_one_sentence(&busy, 2, "concurrency=0: write a number of requests from 1 to 32");
    let uneven = rangesync(&["diff", &influx_url(src), &influx_url(tgt), "--zoom", "1h,25m"]);
    assert_one_sentence(&uneven, 2, "must divide");
    let zoom = rangesync(&["diff", &influx_url(src), &vm_url(), "--zoom", "1h,500us"]);
    assert_one_sentence(&zoom, 2, "finer than the milliseconds");
    drop_influx(src).await;
    drop_influx(tgt).await;
}

/// A server that answers InfluxDB's listing queries, then fails every
/// other request: with a 500, or by closing the connection in the middle
/// of a response it announced longer.
fn failing_influx(close_mid_response: bool) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = vec![0u8; 65536];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).replace("%20", "+");
            let json = if request.contains("SHOW+DATABASES") {
                Some(r#"{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["db"]]}]}]}"#)
            } else if request.contains("SHOW+FIELD+KEYS") {
                Some(r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["fieldKey","fieldType"],"values":[["v","float"]]}]}]}"#)
            } else {
                None
            };
            let response = match (json, close_mid_response) {
                (Some(j), _) => format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{j}", j.len()),
                (None, false) => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 25\r\nConnection: close\r\n\r\nshard is being compacted\n".to_string(),
                (None, true) => "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\nConnection: close\r\n\r\n{\"results\":[{\"statement_id\":0,\"series\":[".to_string(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

#[tokio::test]
async fn a_server_failing_mid_run_stops_it_with_one_sentence_and_nothing_written() {
    let tgt = "rs_ts_failing_tgt";
    for (close, needle) in [(false, "500 Internal Server Error: shard is being compacted"), (true, "cut off")] {
        fresh_influx(tgt).await;
        let source = format!("influxdb://127.0.0.1:{}/db", failing_influx(close));
        let run = rangesync(&["sync", &source, &influx_url(tgt)]);
        assert_one_sentence(&run, 3, needle);
        assert!(run.stderr.contains("counting cpu"), "{}", run.stderr);
        assert!(influx_dump(tgt).await.is_empty(), "nothing was written");
    }
    drop_influx(tgt).await;
}

#[tokio::test]
async fn schema_creates_the_database_and_its_retention_policies() {
    let (src, tgt) = ("rs_ts_schema_src", "rs_ts_schema_tgt");
    fresh_influx(src).await;
    drop_influx(tgt).await;
    influx_query(src, &format!("CREATE RETENTION POLICY \"week\" ON \"{src}\" DURATION 7d REPLICATION 1 SHARD DURATION 1d DEFAULT")).await;
    influx_query(src, &format!("CREATE RETENTION POLICY \"ever\" ON \"{src}\" DURATION INF REPLICATION 1 SHARD DURATION 30d")).await;
    let policies = |db: &'static str| async move {
        let v = influx_query(db, &format!("SHOW RETENTION POLICIES ON \"{db}\"")).await;
        let mut rows: Vec<String> = v["results"][0]["series"][0]["values"].as_array().unwrap().iter().map(|r| r.to_string()).collect();
        rows.sort();
        rows
    };

    let dry = rangesync(&["schema", &influx_url(src), &influx_url(tgt), "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("CREATE RETENTION POLICY \"week\" ON \"rs_ts_schema_tgt\" DURATION 1w REPLICATION 1 SHARD DURATION 1d DEFAULT"), "{}", dry.stdout);
    let dbs = influx_query(src, "SHOW DATABASES").await.to_string();
    assert!(!dbs.contains(tgt), "a dry run creates nothing");

    let made = rangesync(&["schema", &influx_url(src), &influx_url(tgt)]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert_eq!(policies(src).await, policies(tgt).await, "duration, shard duration, replication and default agree");
    let again = rangesync(&["schema", &influx_url(src), &influx_url(tgt), "--format", "json"]);
    assert!(again.json()["tables"].as_array().unwrap().iter().all(|t| t["action"] == "exists"), "{}", again.stdout);
    drop_influx(src).await;
    drop_influx(tgt).await;
}

#[tokio::test]
async fn databases_picked_by_regex_go_to_renamed_databases_or_apart_under_a_label() {
    let (a, b, ca, cb) = ("rs_tsm_a", "rs_tsm_b", "rs_tsm_a_copy", "rs_tsm_b_copy");
    for db in [a, b] {
        fresh_influx(db).await;
    }
    for db in [ca, cb, "rs_tsm_one"] {
        drop_influx(db).await;
    }
    vm_forget("rs_tsm_.*").await;
    influx_write(a, &format!("rs_tsm_cpu,host=x v=1 {BASE}\nrs_tsm_cpu,host=x v=2 {}\n", BASE + MINUTE)).await;
    influx_write(b, &format!("rs_tsm_cpu,host=x v=10 {BASE}\nrs_tsm_mem,host=y free=3i {}\n", BASE + HOUR)).await;
    let server = influx_url("");
    let pick = ["--database", "^rs_tsm_[ab]$"];

    // InfluxDB to InfluxDB, each database into its renamed copy.
    let mut args = vec!["sync", &server, &server, "--target-db", "{db}_copy", "--format", "json"];
    args.extend(pick);
    let s = rangesync(&args);
    assert_eq!(s.code, 0, "{}", s.stderr);
    let names: Vec<String> = s.json()["datasets"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["rs_tsm_a/rs_tsm_cpu", "rs_tsm_b/rs_tsm_cpu", "rs_tsm_b/rs_tsm_mem"]);
    assert_eq!(influx_dump(a).await, influx_dump(ca).await);
    assert_eq!(influx_dump(b).await, influx_dump(cb).await);
    assert!(!influx_databases().await.contains(&"_internal_copy".to_string()), "_internal is never picked");

    // Two databases into one: refused before anything is written.
    let one = influx_url("rs_tsm_one");
    let mut args = vec!["sync", &server, &one];
    args.extend(pick);
    assert_one_sentence(&rangesync(&args), 2, "would both be written into");
    assert!(!influx_databases().await.contains(&"rs_tsm_one".to_string()));

    // Into VictoriaMetrics: only apart under a label naming the database.
    let vm = vm_url();
    let mut args = vec!["sync", &server, &vm];
    args.extend(pick);
    assert_one_sentence(&rangesync(&args), 2, "--db-label");
    args.extend(["--db-label", "db"]);
    let s = rangesync(&args);
    assert_eq!(s.code, 0, "{}", s.stderr);
    let exported = vm_dump("rs_tsm_.*").await;
    let keys: Vec<String> = exported.keys().map(|(k, t)| format!("{k} {t}")).collect();
    assert_eq!(
        keys,
        [
            format!(r#"rs_tsm_cpu_v{{"db": "rs_tsm_a", "host": "x"}} {}"#, BASE / 1_000_000),
            format!(r#"rs_tsm_cpu_v{{"db": "rs_tsm_a", "host": "x"}} {}"#, (BASE + MINUTE) / 1_000_000),
            format!(r#"rs_tsm_cpu_v{{"db": "rs_tsm_b", "host": "x"}} {}"#, BASE / 1_000_000),
            format!(r#"rs_tsm_mem_free{{"db": "rs_tsm_b", "host": "y"}} {}"#, (BASE + HOUR) / 1_000_000),
        ]
    );
    // One database compared alone sees only its own series: database b's
    // rs_tsm_cpu series is not extra to database a.
    let alone = rangesync(&["diff", &server, &vm, "--database", "^rs_tsm_a$", "--db-label", "db"]);
    assert_eq!(alone.code, 0, "{}{}", alone.stdout, alone.stderr);
    // Without the label, database a's comparison would see b's series.
    let unlabeled = rangesync(&["diff", &influx_url(a), &vm, "--measurement", "^rs_tsm_cpu$", "--format", "json"]);
    assert_eq!(unlabeled.code, 1, "{}", unlabeled.stderr);

    // Retention policies by regex: each into the same-named policy, which
    // must exist on the target first (schema creates it).
    influx_query(a, &format!("CREATE RETENTION POLICY rs_week ON {a} DURATION 0s REPLICATION 1")).await;
    let week_points = format!("rs_tsm_cpu,host=w v=5 {BASE}\nrs_tsm_cpu,host=w v=6 {}\n", BASE + DAY);
    let r = reqwest::Client::new().post(format!("{}/write?db={a}&rp=rs_week&precision=ns", influx_http())).body(week_points).send().await.unwrap();
    assert!(r.status().is_success());
    drop_influx(ca).await;
    let rp_args = ["sync", &influx_url(a), &influx_url(ca), "--rp", "^(autogen|rs_week)$", "--format", "json"];
    assert_one_sentence(&rangesync(&rp_args), 2, "retention policy rs_week does not exist in database rs_tsm_a_copy");
    assert_eq!(rangesync(&["schema", &influx_url(a), &influx_url(ca)]).code, 0);
    let s = rangesync(&rp_args);
    assert_eq!(s.code, 0, "{}", s.stderr);
    let names: Vec<String> = s.json()["datasets"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["rs_tsm_a/autogen/rs_tsm_cpu", "rs_tsm_a/rs_week/rs_tsm_cpu"]);
    let week = |db: &str| {
        let db = db.to_string();
        async move { influx_query(&db, "SELECT * FROM \"rs_week\".\"rs_tsm_cpu\" GROUP BY *").await["results"][0]["series"].clone() }
    };
    assert_eq!(week(a).await, week(ca).await);
    assert_eq!(week(ca).await[0]["values"].as_array().unwrap().len(), 2);

    // Bad input, one sentence each.
    assert_one_sentence(&rangesync(&["diff", &server, &vm, "--database", "^nope$"]), 2, "--database '^nope$' matches no database");
    assert_one_sentence(&rangesync(&["diff", &server, &vm, "--database", "["]), 2, "is not a regular expression: unclosed character class");
    assert_one_sentence(&rangesync(&["sync", &influx_url(a), &influx_url(ca), "--target-rp", "{rp}_x"]), 2, "{rp} stands for the source's retention policy");
    assert_one_sentence(&rangesync(&["sync", &server, &server, "--database", "^rs_tsm_a", "--target-db", "{db}_copy"]), 2, "would be written by this run and read by it");
    assert_one_sentence(&rangesync(&["copy", &influx_url(a), &vm, "--chunk", "7h"]), 2, "must divide a day");
    assert_one_sentence(&rangesync(&["diff", &server, &vm]), 2, "names no database");
    assert_one_sentence(&rangesync(&["diff", &influx_url(a), &vm, "--target-db", "x"]), 2, "--target-db and --target-rp name InfluxDB databases");
    assert_one_sentence(&rangesync(&["diff", &vm, &influx_url(a), "--database", "x"]), 2, "map InfluxDB databases");
    assert_one_sentence(&rangesync(&["diff", &influx_url(a), &vm, "--db-label", "1db"]), 2, "is not a label name");
    for db in [a, b, ca, cb] {
        drop_influx(db).await;
    }
    vm_forget("rs_tsm_.*").await;
}

/// --lite between InfluxDB databases: only points from TARGET's newest
/// minus --lookback are compared; a point missing before that is left to a
/// full run, which finds it.
#[tokio::test]
async fn lite_compares_from_the_targets_newest_point_minus_the_lookback() {
    let (src, tgt) = ("rs_ts_lite_src", "rs_ts_lite_tgt");
    fresh_influx(src).await;
    fresh_influx(tgt).await;
    let mut all = String::new();
    let mut kept = String::new();
    for i in 0..(2 * 24 * 60 / 5) {
        let t = BASE + i * 5 * MINUTE;
        let line = format!("cpu,host=a v={i} {t}\n");
        all.push_str(&line);
        // TARGET lacks one old point and the last 3 (written since).
        if i != 10 && i < 2 * 24 * 60 / 5 - 3 {
            kept.push_str(&line);
        }
    }
    influx_write(src, &all).await;
    influx_write(tgt, &kept).await;
    let lite = rangesync(&["sync", &influx_url(src), &influx_url(tgt), "--lite", "--lookback", "30m", "--format", "json"]);
    assert_eq!(lite.code, 0, "{}", lite.stderr);
    let r = lite.json();
    assert_eq!(r["datasets"][0]["missing"], 3, "{r}");
    assert!(r["notes"].to_string().contains("--lite compared from"), "{r}");
    assert!(r["datasets"][0]["rows_fetched"].as_u64().unwrap() < 30, "only the last half hour is read: {r}");
    let count = |db: &'static str| async move { influx_query(db, "SELECT count(v) FROM cpu").await["results"][0]["series"][0]["values"][0][1].as_i64() };
    assert_eq!(count(tgt).await, Some(2 * 24 * 60 / 5 - 1), "the old point is still missing");
    assert_eq!(rangesync(&["diff", &influx_url(src), &influx_url(tgt)]).code, 1);
    assert_eq!(rangesync(&["sync", &influx_url(src), &influx_url(tgt)]).code, 0);
    assert_eq!(influx_dump(src).await, influx_dump(tgt).await);
    assert_one_sentence(&rangesync(&["diff", &influx_url(src), &influx_url(tgt), "--lite", "--lookback", "soon"]), 2, "--lookback");
    drop_influx(src).await;
    drop_influx(tgt).await;
}

/// A profile's InfluxQL `where` for a measurement: only the points it
/// selects are compared and copied, on both sides; a VictoriaMetrics side
/// refuses it.
#[tokio::test]
async fn a_profile_condition_selects_the_points_of_a_measurement() {
    let (src, tgt) = ("rs_ts_where_src", "rs_ts_where_tgt");
    fresh_influx(src).await;
    drop_influx(tgt).await;
    let mut lines = String::new();
    for i in 0..50 {
        for host in ["web1", "web2", "db1"] {
            lines.push_str(&format!("cpu,host={host} v={i}.5,n={i}i {}\n", BASE + i * MINUTE));
        }
    }
    influx_write(src, &lines).await;
    let dir = tempfile::TempDir::new().unwrap();
    let profile = dir.path().join("web.toml");
    std::fs::write(&profile, format!("source = \"{}\"\ntarget = \"{}\"\n\n[[measurements]]\nname = \"cpu\"\nwhere = \"host =~ /^web/ AND n >= 10\"\n", influx_url(src), influx_url(tgt))).unwrap();
    let profile = profile.display().to_string();
    let run = rangesync(&["sync", "--profile", &profile, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["datasets"][0]["inserted"], 80, "{}", run.stdout);
    let hosts = influx_query(tgt, "SELECT count(v) FROM cpu GROUP BY host").await;
    let series = hosts["results"][0]["series"].as_array().unwrap();
    let counts: Vec<(String, i64)> = series.iter().map(|s| (s["tags"]["host"].as_str().unwrap().to_string(), s["values"][0][1].as_i64().unwrap())).collect();
    assert_eq!(counts, [("web1".to_string(), 40), ("web2".to_string(), 40)]);
    assert_eq!(rangesync(&["diff", "--profile", &profile]).code, 0);
    assert_eq!(rangesync(&["diff", &influx_url(src), &influx_url(tgt)]).code, 1, "db1 and the first points are only in the source");
    let vm = dir.path().join("vm.toml");
    std::fs::write(&vm, format!("source = \"{}\"\ntarget = \"{}\"\n\n[[measurements]]\nname = \"cpu\"\nwhere = \"host = 'web1'\"\n", influx_url(src), vm_url())).unwrap();
    assert_one_sentence(&rangesync(&["diff", "--profile", &vm.display().to_string()]), 2, "cannot select the points of cpu by a condition");
    // Refused for bad input: no state store is left beside the profile.
    assert!(!dir.path().join("vm.state.sqlite").exists() && !dir.path().join("vm.state.sqlite.lock").exists());
    drop_influx(src).await;
    drop_influx(tgt).await;
}

/// `sync --dry-run --print` for time series: the DELETE statements and
/// line-protocol lines for InfluxDB, the import lines for VictoriaMetrics;
/// nothing written.
#[tokio::test]
async fn dry_run_print_writes_the_lines_a_sync_would_send() {
    let (src, tgt) = ("rs_ts_print_src", "rs_ts_print_tgt");
    fresh_influx(src).await;
    fresh_influx(tgt).await;
    influx_write(src, &format!("mem,host=a used=1.5,n=2i {BASE}\nmem,host=a used=2.5,n=3i {}\n", BASE + MINUTE)).await;
    influx_write(tgt, &format!("mem,host=a used=1.5,n=2i {BASE}\nmem,host=b used=9,n=9i {}\n", BASE + 2 * MINUTE)).await;
    let run = rangesync(&["sync", &influx_url(src), &influx_url(tgt), "--dry-run", "--print", "--delete", "--measurement", "^mem$"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("DELETE FROM \"mem\" WHERE (\"host\" = 'b') AND time >= ") && lines[0].ends_with(';'), "{}", lines[0]);
    assert_eq!(lines[1], format!("mem,host=a n=3i,used=2.5 {}", BASE + MINUTE));
    assert!(run.stderr.contains("MISSING"), "the summary is on stderr: {}", run.stderr);
    assert_eq!(influx_dump(tgt).await.len(), 2, "nothing written");
    let vm = rangesync(&["sync", &influx_url(src), &vm_url(), "--dry-run", "--print", "--measurement", "^mem$"]);
    assert_eq!(vm.code, 0, "{}", vm.stderr);
    assert!(vm.stdout.lines().any(|l| l.contains("\"__name__\":\"mem_used\"") && l.contains("\"values\":[1.5,2.5]")), "{}", vm.stdout);
    drop_influx(src).await;
    drop_influx(tgt).await;
}

/// Every time-series flag has its profile key: one profile mirrors several
/// InfluxDB databases from a date (the InfluxDB 2 mirror's BUCKETS and
/// RECOVER_DATA_SINCE_DATE, SyncFlux's many databases), checked against
/// the databases themselves; a flag takes its key's place; a bad key is
/// one sentence naming file, line and key.
#[tokio::test]
async fn a_profile_mirrors_several_databases_from_a_date() {
    let (a, b, ca, cb) = ("rs_tpk_a", "rs_tpk_b", "rs_tpk_a_copy", "rs_tpk_b_copy");
    for db in [a, b] {
        fresh_influx(db).await;
    }
    for db in [ca, cb] {
        drop_influx(db).await;
    }
    // Points the day before the start, at it, and after it.
    for (db, v) in [(a, 1), (b, 10)] {
        influx_write(db, &format!("rs_tpk_cpu,host=x v={v} {}\nrs_tpk_cpu,host=x v={} {BASE}\nrs_tpk_cpu,host=y v={} {}\nother,host=x v=0 {BASE}\n", BASE - DAY, v + 1, v + 2, BASE + HOUR)).await;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let server = influx_url("");
    let profile = dir.path().join("mirror.toml");
    std::fs::write(
        &profile,
        format!(
            "source = \"{server}\"\ntarget = \"{server}\"\ndatabase = \"^rs_tpk_[ab]$\"\ntarget_db = \"{{db}}_copy\"\nmeasurement = \"^rs_tpk_\"\nstart = \"2024-01-01\"\nverify = \"exact\"\nconcurrency = 2\nmax_rows = 1000\n"
        ),
    )
    .unwrap();
    let p = profile.display().to_string();
    let run = rangesync(&["sync", "--profile", &p, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let names: Vec<String> = run.json()["datasets"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["rs_tpk_a/rs_tpk_cpu", "rs_tpk_b/rs_tpk_cpu"], "measurement picked, each database apart");
    // Independently: each copy holds the source's points from the start on,
    // none before, and no other measurement.
    for (src, copy) in [(a, ca), (b, cb)] {
        let from_start: Vec<String> = influx_dump(src).await.into_iter().filter(|l| l.starts_with("rs_tpk_cpu") && !l.contains(&(BASE - DAY).to_string())).collect();
        assert_eq!(influx_dump(copy).await, from_start, "{copy}");
        assert_eq!(from_start.len(), 2);
    }
    assert_eq!(rangesync(&["diff", "--profile", &p]).code, 0);
    // One database under two spellings of its URL is one store.
    assert_one_sentence(&rangesync(&["sync", &format!("{}?timeout=1m&concurrency=2", influx_url(a)), &influx_url(a)]), 2, "are the same store");
    // The flag takes the key's place: from before the day, the copies lack a point each.
    let earlier = rangesync(&["diff", "--profile", &p, "--start", "2023-12-31", "--format", "json"]);
    assert_eq!(earlier.code, 1, "{}", earlier.stderr);
    assert_eq!(earlier.json()["datasets"].as_array().unwrap().iter().map(|d| d["missing"].as_i64().unwrap()).sum::<i64>(), 2);
    // --format jsonl: each of those points on its line, named by its
    // database, then the report.
    let listed = rangesync(&["diff", "--profile", &p, "--start", "2023-12-31", "--format", "jsonl"]);
    assert_eq!(listed.code, 1, "{}", listed.stderr);
    let lines: Vec<serde_json::Value> = listed.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (report, points) = lines.split_last().unwrap();
    assert_eq!(report["in_sync"], false);
    let mut named: Vec<String> = points.iter().map(|p| format!("{} {} {}", p["dataset"].as_str().unwrap(), p["kind"].as_str().unwrap(), p["key"].as_str().unwrap())).collect();
    named.sort();
    assert_eq!(named, [format!("{a}/rs_tpk_cpu missing rs_tpk_cpu{{host=\"x\"}} @ 2023-12-31T00:00:00Z"), format!("{b}/rs_tpk_cpu missing rs_tpk_cpu{{host=\"x\"}} @ 2023-12-31T00:00:00Z")]);
    // Bad keys: one sentence naming file, line and key.
    let bad = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("source = \"{server}\"\ntarget = \"{server}\"\ndatabase = \"^rs_tpk_a$\"\ntarget_db = \"{{db}}_copy\"\n{text}\n")).unwrap();
        (path.display().to_string(), rangesync(&["diff", "--profile", &path.display().to_string()]))
    };
    let (path, verify) = bad("verify.toml", "verify = \"maybe\"");
    assert_one_sentence(&verify, 2, &format!("profile {path} line 5, key verify: 'maybe' is not a way to verify (count, sum or exact)"));
    let (path, pattern) = bad("pattern.toml", "measurement = \"(\"");
    assert_one_sentence(&pattern, 2, &format!("profile {path} line 5, key measurement: '(' is not a regular expression"));
    let (path, start) = bad("start.toml", "start = \"yesterday\"");
    assert_one_sentence(&start, 2, &format!("profile {path} line 5, key start: 'yesterday' is not a time"));
    let (path, rows) = bad("rows.toml", "max_rows = 10");
    assert_one_sentence(&rows, 2, &format!("profile {path} line 5, key max_rows: 10 is not a number of points of 100 or more"));
    // A time-series key in a profile of SQL tables is refused, not ignored.
    let sql = dir.path().join("sql.toml");
    std::fs::write(&sql, format!("source = \"sqlite://{}\"\ntarget = \"sqlite://{}\"\nstart = \"2024-01-01\"\n", dir.path().join("a.db").display(), dir.path().join("b.db").display())).unwrap();
    common::exec(&dir.path().join("a.db"), "CREATE TABLE t (id INTEGER PRIMARY KEY)").await;
    assert_one_sentence(&rangesync(&["diff", "--profile", &sql.display().to_string()]), 2, "line 3, key start: the key applies to time series");
    for db in [a, b, ca, cb] {
        drop_influx(db).await;
    }
}

/// `schema --database` creates each picked database with its policies
/// under its renamed name; `copy --schema` creates them first, then copies
/// into the policy the source wrote: checked with InfluxDB's own listing.
#[tokio::test]
async fn schema_over_several_databases_and_copy_with_its_schema() {
    let (a, b, ca, cb, c) = ("rs_tss_a", "rs_tss_b", "rs_tss_a_copy", "rs_tss_b_copy", "rs_tss_c");
    for db in [a, b] {
        fresh_influx(db).await;
        influx_query(db, &format!("CREATE RETENTION POLICY \"week\" ON \"{db}\" DURATION 7d REPLICATION 1 SHARD DURATION 1d")).await;
    }
    for db in [ca, cb, c] {
        drop_influx(db).await;
    }
    let policies = |db: &'static str| async move {
        let v = influx_query(db, &format!("SHOW RETENTION POLICIES ON \"{db}\"")).await;
        let mut rows: Vec<String> = v["results"][0]["series"][0]["values"].as_array().map(|r| r.iter().map(|r| r.to_string()).collect()).unwrap_or_default();
        rows.sort();
        rows
    };
    let server = influx_url("");
    let made = rangesync(&["schema", &server, &server, "--database", "^rs_tss_[ab]$", "--target-db", "{db}_copy", "--format", "json"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let names: Vec<String> = made.json()["tables"].as_array().unwrap().iter().map(|t| format!("{} {}", t["name"].as_str().unwrap(), t["action"].as_str().unwrap())).collect();
    assert_eq!(
        names,
        [
            "database rs_tss_a_copy created",
            "retention policy rs_tss_a_copy.autogen exists",
            "retention policy rs_tss_a_copy.week created",
            "database rs_tss_b_copy created",
            "retention policy rs_tss_b_copy.autogen exists",
            "retention policy rs_tss_b_copy.week created",
        ]
    );
    assert_eq!(policies(a).await, policies(ca).await);
    assert_eq!(policies(b).await, policies(cb).await);

    // copy --schema: the policy exists before the points written into it.
    influx_write_rp(a, "week", &format!("rs_tss_cpu,host=x v=1 {}\n", chrono::Utc::now().timestamp_nanos_opt().unwrap() / 1_000_000_000 * 1_000_000_000)).await;
    let copy = rangesync(&["copy", &format!("{}?rp=week", influx_url(a)), &format!("{}?rp=week", influx_url(c)), "--schema", "--start", "now-1d", "--format", "json"]);
    assert_eq!(copy.code, 0, "{}", copy.stderr);
    assert!(copy.json()["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().starts_with("retention policy week created first")), "{}", copy.stdout);
    assert_eq!(copy.json()["datasets"][0]["inserted"], 1, "{}", copy.stdout);
    let week = influx_query(c, "SELECT count(v) FROM \"week\".\"rs_tss_cpu\"").await;
    assert_eq!(week["results"][0]["series"][0]["values"][0][1], 1);
    for db in [a, b, ca, cb, c] {
        drop_influx(db).await;
    }
}
