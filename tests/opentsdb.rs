//! OpenTSDB. Its read path is tested against recorded answers in
//! OpenTSDB's documented format (no package registry here provides
//! OpenTSDB); its write path for real, through the OpenTSDB listener of
//! the VictoriaMetrics that scripts/services.sh starts (`/api/put`),
//! checked with VictoriaMetrics' own export.

mod common;

use common::ts::*;
use common::*;

use rangesync::connector::endpoint::Endpoint;
use rangesync::connector::opentsdb::TsdbStore;
use rangesync::engine::series::{FieldType, Measurement, Sample, Series, SeriesStore};
use rangesync::engine::value::Value;

const SPAN: [&str; 4] = ["--start", "2024-01-01T00:00:00Z", "--end", "2024-01-01T02:00:00Z"];

#[tokio::test]
async fn opentsdb_points_restore_into_influxdb_from_recorded_answers() {
    let tgt = "rs_tsdb_restored";
    drop_influx(tgt).await;
    let (port, unanswered) = recorded::serve("opentsdb/sys_cpu.json");
    let src = format!("opentsdb://127.0.0.1:{port}");
    let args = |cmd: &'static str| -> Vec<String> {
        let mut a: Vec<String> = [cmd, &src, &influx_url(tgt), "--separator", ".", "--measurement", r"^sys\.cpu$", "--zoom", "1h", "--format", "json"].iter().map(|s| s.to_string()).collect();
        a.extend(SPAN.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| rangesync(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let s = run(args("sync"));
    assert_eq!(s.code, 0, "{}\nunanswered: {:?}", s.stderr, unanswered.lock().unwrap());
    let d = &s.json()["datasets"][0];
    assert_eq!((d["name"].as_str(), d["inserted"].as_i64()), (Some("sys.cpu"), Some(6)), "{d}");
    // InfluxDB's own rendering: metric sys.cpu.user is field user of
    // measurement sys.cpu; milliseconds kept, the hour boundary and 1 ms
    // before it in their own windows.
    assert_eq!(
        influx_dump(tgt).await,
        [
            r#"sys.cpu{"dc":"","host":"web01"} 1704067200000000000 system=0.25,user=1.5"#,
            r#"sys.cpu{"dc":"","host":"web01"} 1704069000000000000 user=2"#,
            r#"sys.cpu{"dc":"","host":"web01"} 1704070799999000000 user=2.25"#,
            r#"sys.cpu{"dc":"","host":"web01"} 1704070800000000000 system=0.75,user=3"#,
            r#"sys.cpu{"dc":"eu","host":"web02"} 1704068100000000000 user=10"#,
            r#"sys.cpu{"dc":"eu","host":"web02"} 1704073500500000000 user=-0.5"#,
        ]
    );
    let again = run(args("diff"));
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    // The same span written as a UTC date and time, and as epochs: the
    // same requests (the recorded server answers no other).
    for (start, end) in [("2024-01-01", "2024-01-01 02:00:00"), ("1704067200", "1704074400000")] {
        let mut a = args("diff");
        let at = a.len() - 4;
        a.splice(at.., ["--start", start, "--end", end].map(String::from));
        let spelled = run(a);
        assert_eq!(spelled.code, 0, "{start} to {end}: {}{}", spelled.stdout, spelled.stderr);
    }
    // A metric OpenTSDB has no samples of (its 400 "No such name") is
    // empty, not a failure.
    let mut a = args("diff");
    a[6] = r"^sys\.mem$".to_string();
    let empty = run(a);
    assert_eq!(empty.code, 0, "{}{}", empty.stdout, empty.stderr);
    assert!(unanswered.lock().unwrap().is_empty(), "{:?}", unanswered.lock().unwrap());
    drop_influx(tgt).await;
}

#[tokio::test]
async fn writes_reach_victoriametrics_through_its_opentsdb_listener() {
    let m = unique_name("rs_tsdb");
    let Endpoint::OpenTsdb(url) = Endpoint::parse(&opentsdb_put_url()).unwrap() else { panic!() };
    let store = TsdbStore::new(&url, "_").unwrap();
    let measurement = Measurement::new(m.clone(), vec![("load".into(), FieldType::Float)]);
    let series = |host: &str| Series::new(m.clone(), [("host".to_string(), host.to_string()), ("dc".to_string(), "eu".to_string())]);
    let at = |ms: i64| BASE + ms * 1_000_000;
    let samples = vec![
        Sample { series: series("a"), field: "load".into(), time: at(0), value: Value::Float(1.5) },
        Sample { series: series("a"), field: "load".into(), time: at(3_599_999), value: Value::Int(7) },
        Sample { series: series("b"), field: "load".into(), time: at(3_600_000), value: Value::Bool(true) },
        Sample { series: series("b"), field: "load".into(), time: at(1), value: Value::Float(0.25) },
    ];
    // What --print shows is what is sent: one data point per line.
    let printed = store.render_writes(&measurement, &[], &samples[..1]).await.unwrap();
    assert_eq!(printed, [format!("{{\"metric\":\"{m}_load\",\"timestamp\":{},\"value\":1.5,\"tags\":{{\"dc\":\"eu\",\"host\":\"a\"}}}}", BASE / 1_000_000)]);
    store.write(&measurement, &samples).await.unwrap();
    let got = vm_dump(&format!("{m}_load")).await;
    let want: Vec<((String, i64), f64)> = vec![
        ((format!("{m}_load{{\"dc\": \"eu\", \"host\": \"a\"}}"), BASE / 1_000_000), 1.5),
        ((format!("{m}_load{{\"dc\": \"eu\", \"host\": \"a\"}}"), BASE / 1_000_000 + 3_599_999), 7.0),
        ((format!("{m}_load{{\"dc\": \"eu\", \"host\": \"b\"}}"), BASE / 1_000_000 + 1), 0.25),
        ((format!("{m}_load{{\"dc\": \"eu\", \"host\": \"b\"}}"), BASE / 1_000_000 + 3_600_000), 1.0),
    ];
    assert_eq!(got.into_iter().collect::<Vec<_>>(), want);

    // What OpenTSDB would refuse is refused before anything is sent.
    let bare = Sample { series: Series::new(m.clone(), []), field: "load".into(), time: at(5), value: Value::Float(1.0) };
    assert!(store.write(&measurement, &[bare]).await.unwrap_err().to_string().contains("has no tag, and OpenTSDB needs at least one"));
    let spaced = Sample { series: Series::new(m.clone(), [("host".to_string(), "a b".to_string())]), field: "load".into(), time: at(5), value: Value::Float(1.0) };
    assert!(store.write(&measurement, &[spaced]).await.unwrap_err().to_string().contains("'a b'"));
    let text = Sample { series: series("a"), field: "load".into(), time: at(5), value: Value::Text("x".into()) };
    assert!(store.write(&measurement, &[text]).await.unwrap_err().to_string().contains("cannot store"));
    vm_forget(&format!("{m}_load")).await;
}
