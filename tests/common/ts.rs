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

pub async fn drop_influx(db: &str) {
    influx_query(db, &format!("DROP DATABASE \"{db}\"")).await;
}

/// Writes line protocol (nanosecond times).
pub async fn influx_write(db: &str, lines: &str) {
    let r = client().post(format!("{}/write?db={db}&precision=ns", influx_http())).body(lines.to_string()).send().await.unwrap();
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
        .form(&[("match[]", format!("{{__name__=~\"{regex}\"}}"))])
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
