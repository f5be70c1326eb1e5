//! Endpoint URLs, parsed once into a typed form. A server URL keeps its
//! secret apart from the form that may be shown.

use std::fmt;
use std::path::PathBuf;

use super::sqlite::Location;

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

/// Schemes of the contract that later connectors will serve.
const PLANNED: &[&str] = &["influxdb", "victoriametrics", "opentsdb", "dir"];

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
            s if PLANNED.contains(&s) => Err(format!(
                "{s}:// endpoints are not supported by this version of rangesync yet; it reads and writes sqlite://, postgres:// and mysql://"
            )),
            other => Err(format!(
                "unknown scheme '{other}' in '{}': expected sqlite://, postgres://, mysql://, influxdb://, victoriametrics://, opentsdb:// or dir://",
                redact(url)
            )),
        }
    }

    /// Applies a password from the environment to a server URL that has none.
    pub fn with_password_from(mut self, var: &str) -> Endpoint {
        if let Ok(pw) = std::env::var(var) {
            if let Endpoint::Postgres(u) | Endpoint::Mysql(u) = &mut self {
                if !u.has_password() {
                    u.set_password(&pw);
                }
            }
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
        }
    }
}

/// Removes `user:password@` from a URL-looking string before it is shown.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
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
        assert!(Endpoint::parse("influxdb://h:8086/db").unwrap_err().contains("not supported"));
    }

    #[test]
    fn redact_hides_user_information() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://***@h:5432/db");
        assert_eq!(redact("sqlite://dir/a@b.db"), "sqlite://dir/a@b.db");
    }
}
