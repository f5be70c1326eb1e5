//! A TCP relay in front of a real server that can make the server "die"
//! mid-run: after a number of bytes of answers it drops every connection
//! and refuses new ones, for good or for a while. The server itself keeps
//! running (other tests use it); rangesync sees what it would see if the
//! machine behind the port went away.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: String,
    port: u16,
    /// Bytes of answers relayed so far.
    answered: AtomicU64,
    /// Past this many bytes of answers the server dies (once).
    die_after: u64,
    /// How long it stays dead; `None`: for good.
    down_for: Option<Duration>,
    died: AtomicBool,
    up: AtomicBool,
    /// How long the server takes to answer a new connection.
    accept_delay: Duration,
    open: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    /// Relays 127.0.0.1:`port` (a free one) to `upstream`.
    pub fn start(upstream: &str, die_after: u64, down_for: Option<Duration>) -> Proxy {
        Proxy::with(upstream, die_after, down_for, Duration::ZERO)
    }

    /// A server that never dies but takes `delay` to answer each new
    /// connection (a loaded host, a slow TLS handshake).
    pub fn slow(upstream: &str, delay: Duration) -> Proxy {
        Proxy::with(upstream, u64::MAX, None, delay)
    }

    fn with(upstream: &str, die_after: u64, down_for: Option<Duration>, accept_delay: Duration) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            port,
            answered: AtomicU64::new(0),
            die_after,
            down_for,
            died: AtomicBool::new(false),
            up: AtomicBool::new(true),
            accept_delay,
            open: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        std::thread::spawn(move || s.serve(listener));
        Proxy { port, shared }
    }

    /// `url` (scheme://user@host:port/db?...) with its server replaced by
    /// this relay, and the server it named ("host:port").
    pub fn split(url: &str) -> (String, String) {
        let start = url.find('@').map_or_else(|| url.find("://").unwrap() + 3, |i| i + 1);
        let end = start + url[start..].find('/').unwrap_or(url.len() - start);
        (url[..start].to_string() + "{relay}" + &url[end..], url[start..end].to_string())
    }

    pub fn url(&self, template: &str) -> String {
        template.replace("{relay}", &format!("127.0.0.1:{}", self.port))
    }

    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::SeqCst)
    }

    pub fn died(&self) -> bool {
        self.shared.died.load(Ordering::SeqCst)
    }
}

impl Shared {
    /// Accepts while up; while down the port is closed (connections are
    /// refused), then bound again.
    fn serve(self: Arc<Self>, first: TcpListener) {
        let mut listener = Some(first);
        loop {
            match (&listener, self.up.load(Ordering::SeqCst)) {
                (Some(l), true) => {
                    l.set_nonblocking(true).unwrap();
                    match l.accept() {
                        // A slow server answers each connection on its own
                        // time; others at once, so none outlives a death.
                        Ok((client, _)) if !self.accept_delay.is_zero() => {
                            let me = self.clone();
                            std::thread::spawn(move || me.relay(client));
                        }
                        Ok((client, _)) => self.relay(client),
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
                (Some(_), false) => listener = None,
                (None, true) => match TcpListener::bind(("127.0.0.1", self.port)) {
                    Ok(l) => listener = Some(l),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                },
                (None, false) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    fn relay(self: &Arc<Self>, client: TcpStream) {
        client.set_nonblocking(false).unwrap();
        std::thread::sleep(self.accept_delay);
        let Ok(server) = TcpStream::connect(&self.upstream) else { return };
        {
            let mut open = self.open.lock().unwrap();
            open.push(client.try_clone().unwrap());
            open.push(server.try_clone().unwrap());
        }
        let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || pipe(client, server, None));
        let me = self.clone();
        std::thread::spawn(move || pipe(s2, c2, Some(me)));
    }

    /// Drops every connection and closes the port; opens it again after
    /// `down_for`.
    fn die(self: &Arc<Self>) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(down) = self.down_for {
            let me = self.clone();
            std::thread::spawn(move || {
                std::thread::sleep(down);
                me.up.store(true, Ordering::SeqCst);
            });
        }
    }
}

/// Copies `from` to `to` until either closes; answers count towards the
/// death of the server.
fn pipe(mut from: TcpStream, mut to: TcpStream, answers: Option<Arc<Shared>>) {
    let mut buf = [0u8; 16384];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(shared) = &answers {
            let total = shared.answered.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
            if total > shared.die_after && !shared.died.swap(true, Ordering::SeqCst) {
                shared.die();
                break;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
