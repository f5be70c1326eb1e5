//! A server whose bulk `SHOW FIELD KEYS` misses a measurement its index
//! holds (InfluxDB 1.x has: influxdb#22420). The test's InfluxDB answers
//! whole, so a relay in front of it drops one measurement from that one
//! answer, the fault injected; every other request, the listing by name
//! included, is the real server's. The measurement is still found, and
//! synced, checked against InfluxDB's own export.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use common::rangesync;
use common::ts::*;

/// Relays to the real InfluxDB, leaving `hidden` out of the answer to the
/// bulk `SHOW FIELD KEYS`; returns the relay's port.
async fn relay(hidden: &'static str) -> u16 {
    let app = axum::Router::new().fallback(forward).with_state(hidden);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

async fn forward(State(hidden): State<&'static str>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let query: Vec<(String, String)> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    let bulk = query.iter().any(|(k, v)| k == "q" && v == "SHOW FIELD KEYS");
    let mut request = reqwest::Client::new().request(method, format!("{}{}", influx_http(), uri.path_and_query().map_or("/", |p| p.as_str()))).body(body.to_vec());
    for (name, value) in &headers {
        // The bulk answer is asked in JSON, to be edited.
        if name != header::HOST && !(bulk && name == header::ACCEPT) {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let kind = answer.headers().get(header::CONTENT_TYPE).cloned();
    let mut bytes = answer.bytes().await.unwrap().to_vec();
    if bulk {
        // Chunked: one JSON object per line.
        let mut hid = 0;
        let lines: Vec<String> = String::from_utf8(bytes)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
                if let Some(series) = v["results"][0]["series"].as_array_mut() {
                    let before = series.len();
                    series.retain(|s| s["name"] != hidden);
                    hid += before - series.len();
                }
                v.to_string()
            })
            .collect();
        assert_eq!(hid, 1, "the relay hides one measurement");
        bytes = (lines.join("\n") + "\n").into_bytes();
    }
    let mut response = (status, bytes).into_response();
    if let Some(kind) = kind {
        response.headers_mut().insert(header::CONTENT_TYPE, kind);
    }
    response
}

// Two workers: the relay answers while the test waits on rangesync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_measurement_the_bulk_field_listing_misses_is_listed_by_name() {
    let (src, copy) = ("rs_listing_src", "rs_listing_copy");
    fresh_influx(src).await;
    drop_influx(copy).await;
    influx_write(src, &format!("rs_lst_a,host=x v=1 {BASE}\nrs_lst_b,host=x v=2 {BASE}\nrs_lst_b,host=y w=3i {}\n", BASE + HOUR)).await;
    let port = relay("rs_lst_b").await;
    let through = format!("influxdb://127.0.0.1:{port}/{src}");
    let run = rangesync(&["sync", &through, &influx_url(copy), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let names: Vec<String> = run.json()["datasets"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["rs_lst_a", "rs_lst_b"]);
    assert_eq!(influx_dump(copy).await, influx_dump(src).await, "both measurements, every field with its type");
    assert_eq!(influx_field_types(copy).await, influx_field_types(src).await);
    drop_influx(src).await;
    drop_influx(copy).await;
}
