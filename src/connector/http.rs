//! The HTTP client every time-series connector shares: one reqwest client
//! per endpoint, errors turned into [`StoreError`]s that name the endpoint
//! (never its secret) and say whether a retry may help, and request bodies
//! gzipped where the server takes them.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_ENCODING};
use reqwest::{RequestBuilder, Response, StatusCode};

use super::endpoint::HttpUrl;
use crate::engine::error::{boxed, first_line, StoreError};
use crate::engine::store::StoreResult;

/// A server reached over HTTP.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: url::Url,
    /// The endpoint as it may be shown.
    pub shown: String,
    /// One permit per request in flight (the URL's `concurrency=`), held
    /// until its answer is read whole: the bound holds however many tasks
    /// of the engine ask at once.
    permits: Arc<tokio::sync::Semaphore>,
    pub concurrency: usize,
    /// How long one request may take, nanoseconds.
    timeout: i64,
}

/// Whether a request reads or writes: the error says which.
#[derive(Clone, Copy)]
pub enum Op {
    Read,
    Write,
}

/// How long one request may take when the URL's `timeout=` does not say.
pub const DEFAULT_TIMEOUT: i64 = 5 * crate::engine::series::window::MINUTE;

impl Http {
    /// The URL's Authorization (a token or Basic) goes into every request
    /// and out of every message.
    pub fn new(url: &HttpUrl) -> StoreResult<Http> {
        let shown = url.shown();
        let timeout = url.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let mut headers = HeaderMap::new();
        if let Some(auth) = url.authorization() {
            let mut v = HeaderValue::from_str(&auth)
                .map_err(|_| StoreError::Invalid(format!("the credentials for {shown} hold characters an HTTP header cannot carry")))?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_nanos(timeout as u64))
            .pool_max_idle_per_host(4)
            // Answers uncompressed: on a loopback or LAN link gzip costs
            // the server CPU (InfluxDB 1.6 served a 110,000-point read 50%
            // slower gzipped), and the server's CPU is what a fragile
            // server lacks. Request bodies are still gzipped (see gzip).
            .no_gzip()
            .build()
            .map_err(|e| StoreError::Connect { endpoint: shown.clone(), reason: e.to_string(), retryable: false, cause: boxed(e) })?;
        let concurrency = url.concurrency.unwrap_or(1).max(1);
        Ok(Http { client, base: url.base.clone(), shown, permits: Arc::new(tokio::sync::Semaphore::new(concurrency)), concurrency, timeout })
    }

    pub fn url(&self, path: &str) -> url::Url {
        let mut u = self.base.clone();
        let prefix = u.path().trim_end_matches('/').to_string();
        u.set_path(&format!("{prefix}{path}"));
        u
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    /// A body gzipped, with its header.
    pub fn gzip(request: RequestBuilder, body: &[u8]) -> RequestBuilder {
        let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
        // Writing into a Vec cannot fail.
        let _ = enc.write_all(body);
        let zipped = enc.finish().unwrap_or_default();
        request.header(CONTENT_ENCODING, "gzip").body(zipped)
    }

    /// Sends a request and returns its body as text, or the error the
    /// user should read: what was asked (`context`), of which endpoint,
    /// and what the server said, in one line.
    pub async fn text(&self, request: RequestBuilder, op: Op, context: &str) -> StoreResult<String> {
        let _permit = self.permit().await;
        let response = self.request(request, op, context).await?;
        response.text().await.map_err(|e| self.failed(op, context, format!("the response was cut off: {}", cause(&e)), true).caused_by(e))
    }

    /// Sends a request and returns its body as bytes with the media type
    /// the server gave it (for answers in more than one encoding).
    pub async fn bytes(&self, request: RequestBuilder, op: Op, context: &str) -> StoreResult<(bytes::Bytes, String)> {
        let _permit = self.permit().await;
        let response = self.request(request, op, context).await?;
        let media = media_type(&response);
        let body = response.bytes().await.map_err(|e| self.failed(op, context, format!("the response was cut off: {}", cause(&e)), true).caused_by(e))?;
        Ok((body, media))
    }

    /// Sends a request whose answer is no more than a status (a write).
    pub async fn send(&self, request: RequestBuilder, op: Op, context: &str) -> StoreResult<()> {
        let _permit = self.permit().await;
        self.request(request, op, context).await?.bytes().await.map(drop).map_err(|e| self.failed(op, context, format!("the response was cut off: {}", cause(&e)), true).caused_by(e))
    }

    async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.permits.acquire().await.expect("the request semaphore is never closed")
    }

    async fn request(&self, request: RequestBuilder, op: Op, context: &str) -> StoreResult<Response> {
        let response = request.send().await.map_err(|e| {
            let reason = match e.is_timeout() && !e.is_connect() {
                true => format!("no answer within {} (the URL's timeout= sets how long a request may take)", crate::engine::series::window::show_duration(self.timeout)),
                false => cause(&e),
            };
            if e.is_connect() {
                StoreError::Connect { endpoint: self.shown.clone(), reason, retryable: true, cause: boxed(e) }
            } else {
                self.failed(op, context, reason, true).caused_by(e)
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let msgpack = media_type(&response).starts_with("application/x-msgpack");
        let body = response.bytes().await.unwrap_or_default();
        // An error asked for in MessagePack comes in it: shown as JSON.
        let body = match msgpack {
            true => rmp_serde::from_slice::<serde_json::Value>(&body).map(|v| v.to_string()).unwrap_or_default(),
            false => String::from_utf8_lossy(&body).into_owned(),
        };
        let said = first_line(body.trim());
        let reason = format!("{} answered {status}{}", self.shown, if said.is_empty() { String::new() } else { format!(": {said}") });
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                StoreError::Connect { endpoint: self.shown.clone(), reason: format!("access refused ({status}); check the user, password or token"), retryable: false, cause: None }
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT => self.failed(op, context, reason, true),
            _ => self.failed(op, context, reason, false),
        })
    }

    pub fn failed(&self, op: Op, context: &str, reason: String, retryable: bool) -> StoreError {
        let context = format!("{context} in {}", self.shown);
        match op {
            Op::Read => StoreError::Read { context, reason, retryable, cause: None },
            Op::Write => StoreError::Write { context, reason, retryable, cause: None },
        }
    }
}

fn media_type(response: &Response) -> String {
    response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase()
}

/// What went wrong, with the innermost cause ("connection reset by
/// peer") where reqwest's own message says only "error sending request".
/// The URL is left out: a query string may carry a secret.
fn cause(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "").replace(url.as_str(), "");
    }
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut innermost = None;
    while let Some(inner) = source {
        innermost = Some(inner.to_string());
        source = inner.source();
    }
    match innermost {
        Some(inner) if !text.contains(&inner) => first_line(&format!("{text}: {inner}")),
        _ => first_line(&text),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::*;
    use crate::connector::endpoint::Endpoint;

    /// A loopback server answering every request after `delay`, counting
    /// the requests it holds at once; returns its port and the most held.
    fn slow_server(delay: Duration) -> (u16, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let seen = most.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (now, most) = (now.clone(), most.clone());
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    // Requests without a body, one after another (keep-alive).
                    while stream.read(&mut byte).is_ok_and(|n| n == 1) {
                        head.push(byte[0]);
                        if !head.ends_with(b"\r\n\r\n") {
                            continue;
                        }
                        head.clear();
                        most.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
                        std::thread::sleep(delay);
                        now.fetch_sub(1, SeqCst);
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                    }
                });
            }
        });
        (port, seen)
    }

    fn http(url: &str) -> Http {
        let Endpoint::Victoria(url) = Endpoint::parse(url).unwrap() else { panic!("not a VictoriaMetrics URL") };
        Http::new(&url).unwrap()
    }

    /// A server that does not answer fails the request after the URL's
    /// `timeout=`, saying so (and as worth a retry).
    #[tokio::test]
    async fn a_request_without_an_answer_fails_after_the_urls_timeout() {
        let (port, _) = slow_server(Duration::from_secs(30));
        let http = http(&format!("victoriametrics://127.0.0.1:{port}?timeout=1s"));
        let started = std::time::Instant::now();
        let e = http.text(http.get("/x"), Op::Read, "asking").await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        assert!(e.to_string().contains("no answer within 1s (the URL's timeout= sets"), "{e}");
        assert!(e.is_retryable());
        assert!(Endpoint::parse("victoriametrics://h?timeout=0s").is_err() && Endpoint::parse("victoriametrics://h?timeout=2d").is_err());
        assert_eq!(Endpoint::parse("victoriametrics://h:8428?timeout=90s").unwrap().to_string(), "victoriametrics://h:8428?timeout=90s");
    }

    /// However many requests the engine asks at once, no more than the
    /// URL's `concurrency=` reach the server (1 when not given).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_in_flight_stay_within_the_urls_concurrency() {
        for (query, allowed) in [("", 1), ("?concurrency=3", 3)] {
            let (port, most) = slow_server(Duration::from_millis(60));
            let http = http(&format!("victoriametrics://127.0.0.1:{port}{query}"));
            let asks = (0..8).map(|_| http.text(http.get("/x"), Op::Read, "asking"));
            for answer in futures_util::future::join_all(asks).await {
                assert_eq!(answer.unwrap(), "ok");
            }
            assert_eq!(most.load(SeqCst), allowed, "requests held at once with '{query}'");
        }
    }
}
