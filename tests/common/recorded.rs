//! A server answering from recorded exchanges: for OpenTSDB only, which no
//! package registry here provides (every other store is tested against the
//! real server). The exchanges are written in OpenTSDB's documented format
//! (`test-fixtures/opentsdb/`); a request not recorded is answered 400 with
//! OpenTSDB's error shape and logged to stderr, so the test says what it
//! was asked.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, serde::Deserialize)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    #[serde(default = "ok")]
    pub status: u16,
    pub response: serde_json::Value,
}

fn ok() -> u16 {
    200
}

/// Starts the server on a free loopback port; returns the port and the
/// requests it could not answer.
pub fn serve(fixture: &str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let text = super::fixture(fixture);
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let exchanges: Vec<Exchange> = serde_json::from_value(file["exchanges"].clone()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let unanswered = Arc::new(Mutex::new(Vec::new()));
    let log = unanswered.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some((method, target, body)) = read_request(&mut stream) else { continue };
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            let body_json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
            let found = exchanges.iter().find(|e| e.method == method && e.path == path && e.query == query && (e.body.is_none() || e.body == body_json));
            let (status, text) = match found {
                Some(e) => (e.status, e.response.to_string()),
                None => {
                    let asked = format!("{method} {target} {}", String::from_utf8_lossy(&body));
                    eprintln!("recorded server: no answer for {asked}");
                    log.lock().unwrap().push(asked);
                    (400, r#"{"error":{"code":400,"message":"no recorded answer"}}"#.to_string())
                }
            };
            let response = match status {
                // OpenTSDB's answer to an accepted /api/put: no body.
                204 => "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_string(),
                _ => {
                    let reason = if status == 200 { "OK" } else { "Bad Request" };
                    format!("HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len())
                }
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, unanswered)
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).ok()?;
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..n]);
            }
            let mut first = head.lines().next()?.split(' ');
            let method = first.next()?.to_string();
            let target = first.next()?.to_string();
            return Some((method, target, data[end + 4..].to_vec()));
        }
    }
}
