//! Endpoint URLs, parsed once into a typed form. A server URL keeps its
//! secret apart from the form that may be shown.

use std::fmt;
use std::path::PathBuf;

use super::sqlite::Location;
use crate::engine::series::window::{DAY, NANOS_PER_SECOND};

/// A parsed endpoint URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `sqlite://PATH` (relative or, with a third slash, absolute) or
    /// `sqlite::memory:`.
    Sqlite(Location),
    /// `postgres://USER:PASS@HOST:PORT/DB`
    Postgres(ServerUrl),
    /// `mysql://USER:PASS@HOST:PORT/DB` (MySQL or MariaDB)
    Mysql(ServerUrl),
    /// `influxdb://[USER:PASS@]HOST:PORT/DB[?rp=RP&token=T&tls=true&concurrency=N]`
    Influx(HttpUrl),
    /// `victoriametrics://HOST:PORT[/PREFIX][?tls=true&concurrency=N]`
    Victoria(HttpUrl),
    /// `opentsdb://HOST:PORT[/PREFIX][?tls=true&concurrency=N]`
    OpenTsdb(HttpUrl),
    /// `dir://PATH[?chunk=1d]`: a dump directory of time series.
    Dir(DirUrl),
}

/// A dump directory and the chunk a new dump is cut in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirUrl {
    pub path: PathBuf,
    /// `?chunk=`: the length of a new dump's chunk files in nanoseconds
    /// (an existing dump keeps its own).
    pub chunk: Option<i64>,
}

impl DirUrl {
    fn parse(url: &str, rest: &str) -> Result<DirUrl, String> {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(format!("'{url}' names no directory: write dir://PATH, e.g. dir://backup/telegraf"));
        }
        let mut chunk = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("chunk", v)) => {
                    let ns = crate::engine::series::window::parse_duration(v).map_err(|e| format!("'{url}': chunk={v}: {e}"))?;
                    if !(NANOS_PER_SECOND..=366 * DAY).contains(&ns) {
                        return Err(format!("'{url}': chunk={v} is not between a second and 366 days, the chunks a dump is cut in"));
                    }
                    chunk = Some(ns);
                }
                _ => return Err(format!("'{url}' has an unknown parameter '{pair}' (dir:// takes chunk, e.g. ?chunk=1d)")),
            }
        }
        Ok(DirUrl { path: PathBuf::from(path), chunk })
    }
}

/// A time-series server reached over HTTP: where to send requests, the
/// database (InfluxDB) and the credentials, which no rendering shows.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `http(s)://HOST:PORT[/PREFIX]`, without credentials.
    pub base: url::Url,
    pub scheme: &'static str,
    pub database: String,
    pub retention_policy: Option<String>,
    pub user: Option<String>,
    password: Option<String>,
    token: Option<String>,
    /// Requests in flight at once against this server (`concurrency=N`,
    /// default 1: old InfluxDB servers fall over under parallel load).
    pub concurrency: Option<usize>,
    /// How long one request may take (`timeout=5m`), nanoseconds.
    pub timeout: Option<i64>,
}

/// The most `concurrency=` takes: more than this only queues in the server.
pub const MAX_CONCURRENCY: usize = 32;

impl HttpUrl {
    fn parse(raw: &str, scheme: &'static str, default_port: u16, needs_database: bool) -> Result<HttpUrl, String> {
        let full = url::Url::parse(raw).map_err(|e| format!("'{}' is not a valid URL: {e}", redact(raw)))?;
        if full.host_str().is_none_or(str::is_empty) {
            return Err(format!("'{}' names no host: write {scheme}://HOST:PORT", redact(raw)));
        }
        let mut tls = false;
        let mut retention_policy = None;
        let mut token = None;
        let mut concurrency = None;
        let mut timeout = None;
        for (k, v) in full.query_pairs() {
            match k.as_ref() {
                "tls" => {
                    tls = match v.as_ref() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return Err(format!("'{}' has tls={v}: write tls=true or tls=false", redact(raw))),
                    }
                }
                "rp" if needs_database => retention_policy = Some(v.into_owned()),
                "token" => token = Some(v.into_owned()),
                "concurrency" => {
                    concurrency = v.parse::<usize>().ok().filter(|n| (1..=MAX_CONCURRENCY).contains(n)).map(Some).ok_or_else(|| {
                        format!("'{}' has concurrency={v}: write a number of requests from 1 to {MAX_CONCURRENCY}", redact(raw))
                    })?
                }
                "timeout" => {
                    let ns = crate::engine::series::window::parse_duration(&v).map_err(|e| format!("'{}' has timeout={v}: {e}", redact(raw)))?;
                    if !(NANOS_PER_SECOND..=DAY).contains(&ns) {
                        return Err(format!("'{}' has timeout={v}: write a duration from 1s to 1d", redact(raw)));
                    }
                    timeout = Some(ns);
                }
                other => {
                    let known = if needs_database { "rp, token, tls, concurrency and timeout" } else { "token, tls, concurrency and timeout" };
                    return Err(format!("'{}' has an unknown parameter '{other}' ({scheme}:// takes {known})", redact(raw)));
                }
            }
        }
        let path = full.path().trim_matches('/').to_string();
        let (database, prefix) = if needs_database { (path, String::new()) } else { (String::new(), path) };
        // An InfluxDB URL without a database names the server: the plan
        // asks for --database (or says the database is missing).
        let host = full.host_str().unwrap_or_default();
        let port = full.port().unwrap_or(default_port);
        let http = if tls { "https" } else { "http" };
        let base = url::Url::parse(&format!("{http}://{host}:{port}/{prefix}")).map_err(|e| format!("'{}': {e}", redact(raw)))?;
        let user = (!full.username().is_empty()).then(|| full.username().to_string());
        let password = full.password().map(str::to_string);
        Ok(HttpUrl { base, scheme, database, retention_policy, user, password, token, concurrency, timeout })
    }

    /// The same server, another database and retention policy.
    pub fn with_database(&self, database: &str, retention_policy: Option<String>) -> HttpUrl {
        HttpUrl { database: database.to_string(), retention_policy, ..self.clone() }
    }

    /// The Authorization header value: a token (`Token T`, InfluxDB 2.x and
    /// 3.x) or a user and password (Basic).
    pub fn authorization(&self) -> Option<String> {
        if let Some(t) = &self.token {
            return Some(format!("Token {t}"));
        }
        let user = self.user.as_deref()?;
        let raw = format!("{user}:{}", self.password.as_deref().unwrap_or_default());
        Some(format!("Basic {}", base64(raw.as_bytes())))
    }

    fn set_secret(&mut self, secret: &str) {
        if self.user.is_some() {
            if self.password.is_none() {
                self.password = Some(secret.to_string());
            }
        } else if self.token.is_none() {
            self.token = Some(secret.to_string());
        }
    }

    /// The URL as it may be shown: no password, no token.
    pub fn shown(&self) -> String {
        let host = self.base.host_str().unwrap_or_default();
        let port = self.base.port().map(|p| format!(":{p}")).unwrap_or_default();
        let user = match (&self.user, &self.password) {
            (Some(u), Some(_)) => format!("{u}:***@"),
            (Some(u), None) => format!("{u}@"),
            _ => String::new(),
        };
        let path = if self.database.is_empty() { self.base.path().trim_end_matches('/').to_string() } else { format!("/{}", self.database) };
        let mut query = Vec::new();
        if let Some(rp) = &self.retention_policy {
            query.push(format!("rp={rp}"));
        }
        if self.token.is_some() {
            query.push("token=***".to_string());
        }
        if self.base.scheme() == "https" {
            query.push("tls=true".to_string());
        }
        if let Some(n) = self.concurrency {
            query.push(format!("concurrency={n}"));
        }
        if let Some(t) = self.timeout {
            query.push(format!("timeout={}", crate::engine::series::window::show_duration(t)));
        }
        let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
        format!("{}://{user}{host}{port}{path}{query}", self.scheme)
    }
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

/// Standard base64 with padding, for a Basic Authorization header.
fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A server URL: the full one, used only to connect, and the redacted one
/// for every message, log line and report.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl {
    full: url::Url,
}

impl ServerUrl {
    fn parse(raw: &str, default_port: u16) -> Result<ServerUrl, String> {
        let full = url::Url::parse(raw).map_err(|e| format!("'{}' is not a valid URL: {e}", redact(raw)))?;
        if full.host_str().is_none_or(str::is_empty) {
            return Err(format!("'{}' names no host: write {}://USER@HOST:PORT/DATABASE", redact(raw), full.scheme()));
        }
        if full.path().trim_start_matches('/').is_empty() {
            return Err(format!("'{}' names no database: add /DATABASE after the host", redact(raw)));
        }
        let mut full = full;
        if full.port().is_none() {
            let _ = full.set_port(Some(default_port));
        }
        Ok(ServerUrl { full })
    }

    /// The URL with its password, for the driver only.
    pub fn connect_url(&self) -> &str {
        self.full.as_str()
    }

    pub fn has_password(&self) -> bool {
        self.full.password().is_some()
    }

    /// Sets the password (from an environment variable) when the URL has none.
    pub fn set_password(&mut self, password: &str) {
        let _ = self.full.set_password(Some(password));
    }

    pub fn database(&self) -> &str {
        self.full.path().trim_start_matches('/')
    }

    /// The URL as it may be shown: the password replaced by `***`.
    pub fn shown(&self) -> String {
        let mut u = self.full.clone();
        if u.password().is_some() {
            let _ = u.set_password(Some("***"));
        }
        u.to_string()
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        if url == "sqlite::memory:" {
            return Ok(Endpoint::Sqlite(Location::Memory));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "'{}' is not an endpoint URL: expected SCHEME://..., for example sqlite://data.db",
                redact(url)
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let path = rest.split('?').next().unwrap_or_default();
                if path.is_empty() {
                    return Err(format!("'{url}' names no file: write sqlite://PATH, e.g. sqlite://data.db"));
                }
                Ok(Endpoint::Sqlite(Location::File(PathBuf::from(path))))
            }
            "postgres" | "postgresql" => Ok(Endpoint::Postgres(ServerUrl::parse(url, 5432)?)),
            "mysql" | "mariadb" => {
                let normalized = format!("mysql://{rest}");
                Ok(Endpoint::Mysql(ServerUrl::parse(&normalized, 3306)?))
            }
            "influxdb" | "influx" => Ok(Endpoint::Influx(HttpUrl::parse(url, "influxdb", 8086, true)?)),
            "victoriametrics" | "vm" => Ok(Endpoint::Victoria(HttpUrl::parse(url, "victoriametrics", 8428, false)?)),
            "opentsdb" => Ok(Endpoint::OpenTsdb(HttpUrl::parse(url, "opentsdb", 4242, false)?)),
            "dir" => Ok(Endpoint::Dir(DirUrl::parse(url, rest)?)),
            other => Err(format!(
                "unknown scheme '{other}' in '{}': expected sqlite://, postgres://, mysql://, influxdb://, victoriametrics://, opentsdb:// or dir://",
                redact(url)
            )),
        }
    }

    /// Whether the endpoint holds time series (rather than tables).
    pub fn is_time_series(&self) -> bool {
        matches!(self, Endpoint::Influx(_) | Endpoint::Victoria(_) | Endpoint::OpenTsdb(_) | Endpoint::Dir(_))
    }

    /// Applies a password from the environment to a server URL that has
    /// none (for InfluxDB without a user: a token).
    pub fn with_password_from(mut self, var: &str) -> Endpoint {
        if let Ok(pw) = std::env::var(var) {
            match &mut self {
                Endpoint::Postgres(u) | Endpoint::Mysql(u) if !u.has_password() => u.set_password(&pw),
                Endpoint::Influx(u) | Endpoint::Victoria(u) | Endpoint::OpenTsdb(u) => u.set_secret(&pw),
                _ => {}
            }
        }
        self
    }

    /// Whether two endpoints name the same data: the same server (and
    /// prefix), database and policy, whatever their credentials,
    /// `concurrency=` or `timeout=`; otherwise equal URLs.
    pub fn same_store(&self, other: &Endpoint) -> bool {
        match (self, other) {
            (Endpoint::Influx(a), Endpoint::Influx(b)) | (Endpoint::Victoria(a), Endpoint::Victoria(b)) | (Endpoint::OpenTsdb(a), Endpoint::OpenTsdb(b)) => {
                a.base == b.base && a.database == b.database && a.retention_policy == b.retention_policy
            }
            _ => self == other,
        }
    }

    /// An HTTP endpoint whose URL gives no `concurrency=` gets `n` (a
    /// profile's `concurrency`); the others are left as they are.
    pub fn with_default_concurrency(mut self, n: Option<usize>) -> Endpoint {
        if let Endpoint::Influx(u) | Endpoint::Victoria(u) | Endpoint::OpenTsdb(u) = &mut self {
            u.concurrency = u.concurrency.or(n);
        }
        self
    }

    /// The URL as it may be shown: without a password.
    pub fn redacted(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Sqlite(Location::Memory) => f.write_str("sqlite::memory:"),
            Endpoint::Sqlite(Location::File(p)) => write!(f, "sqlite://{}", p.display()),
            Endpoint::Postgres(u) | Endpoint::Mysql(u) => f.write_str(&u.shown()),
            Endpoint::Influx(u) | Endpoint::Victoria(u) | Endpoint::OpenTsdb(u) => f.write_str(&u.shown()),
            Endpoint::Dir(d) => write!(f, "dir://{}", d.path.display()),
        }
    }
}

/// Removes `user:password@` and `token=` values from a URL-looking string
/// before it is shown (in the message about a URL that did not parse too).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return mask_tokens(url) };
    // Files may have `@` in their path and have no credentials.
    if matches!(scheme.to_ascii_lowercase().as_str(), "sqlite" | "dir") {
        return url.to_string();
    }
    let head = rest.split('?').next().unwrap_or_default();
    // The last `@` before the query ends the credentials, even when an
    // unencoded password holds a `/`.
    let shown = match head.rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    };
    mask_tokens(&shown)
}

/// `token=SECRET` → `token=***`.
fn mask_tokens(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("token=") {
        out.push_str(&rest[..i + "token=".len()]);
        out.push_str("***");
        let after = &rest[i + "token=".len()..];
        rest = &after[after.find('&').unwrap_or(after.len())..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_paths() {
        assert_eq!(Endpoint::parse("sqlite://a.db").unwrap(), Endpoint::Sqlite(Location::File("a.db".into())));
        assert_eq!(
            Endpoint::parse("sqlite:///tmp/x y.db").unwrap(),
            Endpoint::Sqlite(Location::File("/tmp/x y.db".into()))
        );
        assert_eq!(Endpoint::parse("sqlite::memory:").unwrap(), Endpoint::Sqlite(Location::Memory));
        assert_eq!(Endpoint::parse("sqlite://dir/a.db").unwrap().to_string(), "sqlite://dir/a.db");
    }

    #[test]
    fn server_urls_hide_their_password_everywhere_they_are_shown() {
        let e = Endpoint::parse("postgres://bob:hunter2@db.local/shop").unwrap();
        assert_eq!(e.to_string(), "postgres://bob:***@db.local:5432/shop");
        assert!(!format!("{e:?}").contains("hunter2"));
        let Endpoint::Postgres(u) = &e else { panic!() };
        assert!(u.connect_url().contains("hunter2"));
        assert_eq!(u.database(), "shop");
        let m = Endpoint::parse("mariadb://root@127.0.0.1/test").unwrap();
        assert_eq!(m.to_string(), "mysql://root@127.0.0.1:3306/test");
    }

    #[test]
    fn passwords_can_come_from_the_environment() {
        // A variable name no other test uses.
        std::env::set_var("RANGESYNC_TEST_ENDPOINT_PW", "s3cret");
        let e = Endpoint::parse("postgres://bob@h/db").unwrap().with_password_from("RANGESYNC_TEST_ENDPOINT_PW");
        let Endpoint::Postgres(u) = &e else { panic!() };
        assert!(u.connect_url().contains("s3cret"));
        assert!(!e.to_string().contains("s3cret"));
    }

    #[test]
    fn bad_urls_get_one_sentence_and_no_secret() {
        let e = Endpoint::parse("ftp://bob:hunter2@host/x").unwrap_err();
        assert!(e.contains("unknown scheme 'ftp'"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        assert!(Endpoint::parse("orders.db").unwrap_err().contains("not an endpoint URL"));
        assert!(Endpoint::parse("sqlite://").unwrap_err().contains("names no file"));
        assert!(Endpoint::parse("postgres://u:pw@h").unwrap_err().contains("names no database"));
        assert!(!Endpoint::parse("postgres://u:pw@h").unwrap_err().contains("pw@"));
        assert_eq!(Endpoint::parse("opentsdb://h").unwrap().to_string(), "opentsdb://h:4242");
        let Endpoint::Influx(server) = Endpoint::parse("influxdb://h:8086").unwrap() else { panic!() };
        assert_eq!(server.database, "", "a server: --database picks its databases");
        assert!(Endpoint::parse("influxdb://h/db?bogus=1").unwrap_err().contains("unknown parameter 'bogus'"));
    }

    #[test]
    fn time_series_urls_keep_their_secrets_out_of_sight() {
        let e = Endpoint::parse("influxdb://bob:hunter2@127.0.0.1:18086/telegraf?rp=week").unwrap();
        assert_eq!(e.to_string(), "influxdb://bob:***@127.0.0.1:18086/telegraf?rp=week");
        let Endpoint::Influx(u) = &e else { panic!() };
        assert_eq!((u.database.as_str(), u.retention_policy.as_deref()), ("telegraf", Some("week")));
        assert_eq!(u.authorization().unwrap(), format!("Basic {}", base64(b"bob:hunter2")));
        assert_eq!(base64(b"bob:hunter2"), "Ym9iOmh1bnRlcjI=");
        let maybe = Endpoint::parse("victoriametrics://h?tls=maybe").unwrap_err();
        assert_eq!(maybe, "'victoriametrics://h?tls=maybe' has tls=maybe: write tls=true or tls=false");
        assert!(Endpoint::parse("opentsdb://h?tls=false").is_ok());
        let t = Endpoint::parse("influxdb://h/db?token=abc&tls=true").unwrap();
        assert_eq!(t.to_string(), "influxdb://h:8086/db?token=***&tls=true");
        let Endpoint::Influx(u) = &t else { panic!() };
        assert_eq!(u.authorization().unwrap(), "Token abc");
        assert_eq!(u.base.as_str(), "https://h:8086/");
        let d = Endpoint::parse("dir:///backups/tele graf?chunk=6h").unwrap();
        assert_eq!(d, Endpoint::Dir(DirUrl { path: "/backups/tele graf".into(), chunk: Some(6 * 3_600_000_000_000) }));
        assert_eq!(d.to_string(), "dir:///backups/tele graf");
        assert!(d.is_time_series());
        assert!(Endpoint::parse("dir://").unwrap_err().contains("names no directory"));
        assert!(Endpoint::parse("dir://x?chunk=10ms").unwrap_err().contains("not between a second and 366 days"));
        assert!(Endpoint::parse("dir://x?zip=1").unwrap_err().contains("unknown parameter 'zip=1'"));
        let vm = Endpoint::parse("victoriametrics://127.0.0.1:18428").unwrap();
        assert_eq!(vm.to_string(), "victoriametrics://127.0.0.1:18428");
        assert!(vm.is_time_series());
    }

    #[test]
    fn redact_hides_user_information() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://***@h:5432/db");
        assert_eq!(redact("sqlite://dir/a@b.db"), "sqlite://dir/a@b.db");
        assert_eq!(redact("postgres://u:pa/ss@h/db"), "postgres://***@h/db");
        assert_eq!(redact("influxdb://h/db?token=s3cret&x=1"), "influxdb://h/db?token=***&x=1");
        let e = Endpoint::parse("influxdb://h/db?token=s3cret&bogus=1").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        let e = Endpoint::parse("influxdb://h:99999/db?token=s3cret").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }
}
