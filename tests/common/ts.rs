//! Time-series helpers: each test owns its InfluxDB databases (dropped
//! first) and, since VictoriaMetrics has one namespace, its own metric
//! names (deleted first). Servers come from RANGESYNC_INFLUX_URL
//! (default http://127.0.0.1:18086) and RANGESYNC_VM_URL (default
//! http://127.0.0.1:18428); scripts/services.sh starts them. Independent
//! checks read the servers' own HTTP APIs, not rangesync.

use std::collections::BTreeMap;

pub fn influx_http() -> String {
    std::env::var("RANGESYNC_INFLUX_URL").unwrap_or_else(|_| "http://127.0.0.1:18086".into())
}

pub fn vm_http() -> String {
    std::env::var("RANGESYNC_VM_URL").unwrap_or_else(|_| "http://127.0.0.1:18428".into())
}

/// VictoriaMetrics' OpenTSDB HTTP listener (it takes `/api/put` only).
pub fn opentsdb_put_url() -> String {
    std::env::var("RANGESYNC_VM_OPENTSDB_URL").unwrap_or_else(|_| "opentsdb://127.0.0.1:14242".into())
}

fn authority(http: &str) -> String {
    http.trim_start_matches("http://").trim_end_matches('/').to_string()
}

/// `influxdb://HOST:PORT/DB` for a database of the test server.
pub fn influx_url(db: &str) -> String {
    format!("influxdb://{}/{db}", authority(&influx_http()))
}

pub fn vm_url() -> String {
    format!("victoriametrics://{}", authority(&vm_http()))
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Runs an InfluxQL statement (POST) and returns the JSON answer.
pub async fn influx_query(db: &str, q: &str) -> serde_json::Value {
    let r = client()
        .post(format!("{}/query", influx_http()))
        .form(&[("db", db), ("q", q), ("epoch", "ns")])
        .send()
        .await
        .unwrap_or_else(|e| panic!("InfluxDB at {} must answer (scripts/services.sh starts it): {e}", influx_http()));
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert!(v["results"][0]["error"].is_null(), "{q}: {v}");
    v
}

/// Drops and creates database `db`.
pub async fn fresh_influx(db: &str) {
    influx_query(db, &format!("DROP DATABASE \"{db}\"")).await;
    influx_query(db, &format!("CREATE DATABASE \"{db}\"")).await;
}

/// The databases InfluxDB has.
pub async fn influx_databases() -> Vec<String> {
    let r = influx_query("_internal", "SHOW DATABASES").await;
    r["results"][0]["series"][0]["values"].as_array().map(|rows| rows.iter().map(|v| v[0].as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

pub async fn drop_influx(db: &str) {
    influx_query(db, &format!("DROP DATABASE \"{db}\"")).await;
}

/// Writes line protocol (nanosecond times).
pub async fn influx_write(db: &str, lines: &str) {
    let r = client().post(format!("{}/write?db={db}&precision=ns", influx_http())).body(lines.to_string()).send().await.unwrap();
    assert!(r.status().is_success(), "write: {}", r.text().await.unwrap());
}

/// Writes line protocol into one retention policy.
pub async fn influx_write_rp(db: &str, rp: &str, lines: &str) {
    let r = client().post(format!("{}/write?db={db}&rp={rp}&precision=ns", influx_http())).body(lines.to_string()).send().await.unwrap();
    assert!(r.status().is_success(), "write: {}", r.text().await.unwrap());
}

/// Every point of a database as InfluxDB itself renders it:
/// `measurement{tags} time field=value ...` lines, sorted.
pub async fn influx_dump(db: &str) -> Vec<String> {
    let ms = influx_query(db, "SHOW MEASUREMENTS").await;
    let names: Vec<String> = ms["results"][0]["series"][0]["values"]
        .as_array()
        .map(|rows| rows.iter().map(|r| r[0].as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for m in names {
        let v = influx_query(db, &format!("SELECT * FROM \"{m}\" GROUP BY *")).await;
        for s in v["results"][0]["series"].as_array().cloned().unwrap_or_default() {
            let cols: Vec<String> = s["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
            for row in s["values"].as_array().unwrap() {
                let fields: Vec<String> = cols
                    .iter()
                    .zip(row.as_array().unwrap())
                    .skip(1)
                    .filter(|(_, v)| !v.is_null())
                    .map(|(c, v)| format!("{c}={v}"))
                    .collect();
                out.push(format!("{m}{} {} {}", s["tags"], row[0], fields.join(",")));
            }
        }
    }
    out.sort();
    out
}

/// Field types as InfluxDB reports them: `measurement.field` → type.
pub async fn influx_field_types(db: &str) -> BTreeMap<String, String> {
    let v = influx_query(db, "SHOW FIELD KEYS").await;
    let mut out = BTreeMap::new();
    for s in v["results"][0]["series"].as_array().cloned().unwrap_or_default() {
        for row in s["values"].as_array().unwrap() {
            out.insert(format!("{}.{}", s["name"].as_str().unwrap(), row[0].as_str().unwrap()), row[1].as_str().unwrap().to_string());
        }
    }
    out
}

/// Deletes every series of the metrics matching `regex`.
pub async fn vm_forget(regex: &str) {
    let r = client()
        .post(format!("{}/api/v1/admin/tsdb/delete_series", vm_http()))
        .form(&[("match[]", format!("{{__name__=~\"{regex}\"}}"))])
        .send()
        .await
        .unwrap_or_else(|e| panic!("VictoriaMetrics at {} must answer (scripts/services.sh starts it): {e}", vm_http()));
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// A name no earlier run used: `prefix_` and the current time in base 36.
pub fn unique_name(prefix: &str) -> String {
    let mut n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() / 1000;
    let mut digits = Vec::new();
    while n > 0 {
        digits.push(char::from_digit((n % 36) as u32, 36).unwrap());
        n /= 36;
    }
    format!("{prefix}_{}", digits.iter().rev().collect::<String>())
}

pub async fn vm_flush() {
    client().get(format!("{}/internal/force_flush", vm_http())).send().await.unwrap();
}

/// Imports JSON lines into VictoriaMetrics and makes them searchable.
pub async fn vm_import(lines: &str) {
    let r = client().post(format!("{}/api/v1/import", vm_http())).body(lines.to_string()).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    vm_flush().await;
}

/// Every sample of the metrics matching `regex` as VictoriaMetrics
/// exports them: (metric{labels}, time in ms) → value.
pub async fn vm_dump(regex: &str) -> BTreeMap<(String, i64), f64> {
    vm_flush().await;
    let body = client()
        .post(format!("{}/api/v1/export", vm_http()))
        // A matcher every series meets (none holds that label), new each
        // time: VictoriaMetrics caches
        // which series a filter matched, and an earlier identical export
        // must not answer this one (see run_nonce in the connector).
        .form(&[("match[]", format!("{{__name__=~\"{regex}\",rs_test_nonce!=\"{}\"}}", unique_name("n")))])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut labels: BTreeMap<String, String> =
            v["metric"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
        let name = labels.remove("__name__").unwrap();
        let key = format!("{name}{labels:?}");
        for (t, x) in v["timestamps"].as_array().unwrap().iter().zip(v["values"].as_array().unwrap()) {
            out.insert((key.clone(), t.as_i64().unwrap()), x.as_f64().unwrap());
        }
    }
    out
}

/// An InfluxDB database rendered as VictoriaMetrics would name its
/// samples (`measurement_field{tags}`, ms), numeric fields only (booleans
/// as 0 and 1), for comparing the two independently.
pub async fn influx_as_vm(db: &str, measurement: &str) -> BTreeMap<(String, i64), f64> {
    let v = influx_query(db, &format!("SELECT * FROM \"{measurement}\" GROUP BY *")).await;
    let mut out = BTreeMap::new();
    for s in v["results"][0]["series"].as_array().cloned().unwrap_or_default() {
        let labels: BTreeMap<String, String> = s["tags"]
            .as_object()
            .map(|o| o.iter().filter(|(_, v)| v.as_str() != Some("")).map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect())
            .unwrap_or_default();
        let cols: Vec<String> = s["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
        for row in s["values"].as_array().unwrap() {
            let t = row[0].as_i64().unwrap() / 1_000_000;
            for (c, v) in cols.iter().zip(row.as_array().unwrap()).skip(1) {
                let x = match v {
                    serde_json::Value::Number(n) => n.as_f64().unwrap(),
                    serde_json::Value::Bool(b) => f64::from(u8::from(*b)),
                    _ => continue,
                };
                out.insert((format!("{measurement}_{c}{labels:?}"), t), x);
            }
        }
    }
    out
}

// The test dataset of the time-series tests.

pub const DAY: i64 = 86_400_000_000_000;
pub const HOUR: i64 = 3_600_000_000_000;
pub const MINUTE: i64 = 60_000_000_000;
/// 2024-01-01T00:00:00Z
pub const BASE: i64 = 1_704_067_200_000_000_000;

/// Tag sets of the test measurement: two tags, one, none, and values that
/// need escaping (space, comma, equals, unicode).
pub const SERIES: [&str; 4] = [",host=a,dc=eu", ",host=b", "", r",host=z\ ü\,r\=1"];

/// Two days of points every 7 minutes for every series (duplicate
/// timestamps across series), plus points exactly on day, hour and minute
/// boundaries, 1 ns before them, and at nanosecond offsets; fields of
/// every type InfluxDB 1.x keeps.
pub fn dataset(m: &str) -> String {
    let mut times: Vec<i64> = (0..2 * 24 * 60 / 7).map(|i| BASE + i * 7 * MINUTE).collect();
    for b in [BASE + DAY, BASE + 5 * HOUR, BASE + 5 * HOUR + 3 * MINUTE] {
        times.extend([b, b - 1, b + 1]);
    }
    times.extend([BASE + 123_456_789, BASE + 123_456_790]);
    times.sort();
    times.dedup();
    let mut out = String::new();
    for (si, tags) in SERIES.iter().enumerate() {
        for (i, t) in times.iter().enumerate() {
            let big = 9_007_199_254_740_993i64 + i as i64; // above 2^53: exact only as an integer
            out.push_str(&format!(
                "{m}{tags} f={}.25,i={big}i,b={},s=\"q\\\"u ö {i}\" {t}\n",
                i as i64 * 3 - 50 * si as i64,
                i % 2 == 0
            ));
        }
    }
    out
}

pub fn point_count() -> i64 {
    let per_series = (2 * 24 * 60 / 7) + 9 + 2;
    // The day boundary BASE+DAY is also a multiple of 7 minutes? 1440*1/7
    // is not whole, so every listed instant is distinct.
    SERIES.len() as i64 * per_series
}
