//! A replica that lost 1% of its points at random (two days, a point every
//! 20 s in each of 10 series): the repair reads a small share of the
//! points, not every hour that lost one, and leaves both sides equal by
//! the servers' own exports.

mod common;

use common::ts::*;
use common::*;

const HOSTS: u64 = 10;
const STEP_S: i64 = 20;
const POINTS_PER_HOST: i64 = 2 * 86_400 / STEP_S;

/// Which points the replica lost: 1 in 100, at random (a fixed seed).
fn lost() -> std::collections::BTreeSet<(u64, i64)> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut out = std::collections::BTreeSet::new();
    for h in 0..HOSTS {
        for i in 0..POINTS_PER_HOST {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state % 100 == 0 {
                out.insert((h, i));
            }
        }
    }
    out
}

fn value(h: u64, i: i64) -> f64 {
    (i * 7 + h as i64) as f64 / 8.0
}

/// Line protocol of every point but the `skip`ped ones.
fn lines(m: &str, skip: &std::collections::BTreeSet<(u64, i64)>) -> String {
    let mut out = String::new();
    for h in 0..HOSTS {
        for i in 0..POINTS_PER_HOST {
            if !skip.contains(&(h, i)) {
                out.push_str(&format!("{m},host=h{h} v={} {}\n", value(h, i), BASE + i * STEP_S * 1_000_000_000));
            }
        }
    }
    out
}

/// The report's share of points read, of both sides' points.
fn share_read(d: &serde_json::Value) -> f64 {
    let read = d["rows_fetched"].as_f64().unwrap();
    read / (d["source_rows"].as_f64().unwrap() + d["target_rows"].as_f64().unwrap())
}

#[tokio::test]
async fn one_percent_lost_at_random_is_repaired_reading_under_a_quarter_of_the_points() {
    let (src, tgt) = ("rs_scatter_src", "rs_scatter_tgt");
    let lost = lost();
    assert!((800..1_000).contains(&lost.len()), "about 1% of {} points: {}", HOSTS as i64 * POINTS_PER_HOST, lost.len());
    fresh_influx(src).await;
    fresh_influx(tgt).await;
    influx_write(src, &lines("cpu", &Default::default())).await;
    influx_write(tgt, &lines("cpu", &lost)).await;

    let fix = rangesync(&["sync", &influx_url(src), &influx_url(tgt), "--format", "json"]);
    assert_eq!(fix.code, 0, "{}", fix.stderr);
    let d = &fix.json()["datasets"][0];
    assert_eq!(d["inserted"].as_u64(), Some(lost.len() as u64), "{d}");
    // 13% when written; the bound is a quarter.
    assert!(share_read(d) <= 0.2, "a scattered loss costs a share of the points, not all: {d}");
    assert_eq!(influx_dump(src).await, influx_dump(tgt).await, "InfluxDB's own rendering of both agrees");

    // Into VictoriaMetrics (counts and sum_over_time).
    let m = "rs_scatter_cpu";
    vm_forget("rs_scatter_cpu_.*").await;
    influx_write(src, &lines(m, &Default::default())).await;
    let mut import = String::new();
    for h in 0..HOSTS {
        let kept: Vec<i64> = (0..POINTS_PER_HOST).filter(|i| !lost.contains(&(h, *i))).collect();
        let times: Vec<i64> = kept.iter().map(|i| (BASE + i * STEP_S * 1_000_000_000) / 1_000_000).collect();
        let values: Vec<f64> = kept.iter().map(|i| value(h, *i)).collect();
        import.push_str(&serde_json::json!({"metric": {"__name__": format!("{m}_v"), "host": format!("h{h}")}, "values": values, "timestamps": times}).to_string());
        import.push('\n');
    }
    vm_import(&import).await;
    let fix = rangesync(&["sync", &influx_url(src), &vm_url(), "--measurement", "^rs_scatter_cpu$", "--format", "json"]);
    assert_eq!(fix.code, 0, "{}", fix.stderr);
    let d = &fix.json()["datasets"][0];
    assert_eq!(d["inserted"].as_u64(), Some(lost.len() as u64), "{d}");
    assert!(share_read(d) <= 0.2, "{d}");
    assert_eq!(influx_as_vm(src, m).await, vm_dump("rs_scatter_cpu_.*").await, "VictoriaMetrics' export equals InfluxDB's points");

    // A value changed in place, counts unchanged: VictoriaMetrics'
    // sum_over_time beside its counts finds it without --verify exact.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/admin/tsdb/delete_series", vm_http()))
        .form(&[("match[]", format!("{{__name__=\"{m}_v\",host=\"h3\"}}"))])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let times: Vec<i64> = (0..POINTS_PER_HOST).map(|i| (BASE + i * STEP_S * 1_000_000_000) / 1_000_000).collect();
    let values: Vec<f64> = (0..POINTS_PER_HOST).map(|i| if i == 1_234 { value(3, i) + 0.5 } else { value(3, i) }).collect();
    vm_import(&format!("{}\n", serde_json::json!({"metric": {"__name__": format!("{m}_v"), "host": "h3"}, "values": values, "timestamps": times}))).await;
    let found = rangesync(&["diff", &influx_url(src), &vm_url(), "--measurement", "^rs_scatter_cpu$", "--format", "json"]);
    assert_eq!(found.code, 1, "{}{}", found.stdout, found.stderr);
    let d = &found.json()["datasets"][0];
    assert_eq!((d["missing"].as_u64(), d["changed"].as_u64()), (Some(0), Some(1)), "{d}");
    assert!(d["rows_fetched"].as_u64().unwrap() < 500, "only the window of the changed value is read: {d}");
    drop_influx(src).await;
    drop_influx(tgt).await;
    vm_forget("rs_scatter_cpu_.*").await;
}
