//! Endpoint URLs, parsed once into a typed form.

use std::fmt;
use std::path::PathBuf;

use super::sqlite::Location;

/// A parsed endpoint URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `sqlite://PATH` (relative or, with a third slash, absolute) or
    /// `sqlite::memory:`.
    Sqlite(Location),
}

/// Schemes of the contract that later connectors will serve.
const PLANNED: &[&str] = &["postgres", "postgresql", "mysql", "influxdb", "victoriametrics", "opentsdb", "dir"];

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        if url == "sqlite::memory:" {
            return Ok(Endpoint::Sqlite(Location::Memory));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "'{url}' is not an endpoint URL: expected SCHEME://..., for example sqlite://data.db"
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
            s if PLANNED.contains(&s) => Err(format!(
                "{s}:// endpoints are not supported by this version of rangesync yet; it reads and writes sqlite:// only"
            )),
            other => Err(format!(
                "unknown scheme '{other}' in '{}': expected sqlite://, postgres://, mysql://, influxdb://, victoriametrics://, opentsdb:// or dir://",
                redact(url)
            )),
        }
    }

    /// The URL as it may be shown: without user information.
    pub fn redacted(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Sqlite(Location::Memory) => f.write_str("sqlite::memory:"),
            Endpoint::Sqlite(Location::File(p)) => write!(f, "sqlite://{}", p.display()),
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
    fn bad_urls_get_one_sentence_and_no_secret() {
        let e = Endpoint::parse("ftp://bob:hunter2@host/x").unwrap_err();
        assert!(e.contains("unknown scheme 'ftp'"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        assert!(Endpoint::parse("orders.db").unwrap_err().contains("not an endpoint URL"));
        assert!(Endpoint::parse("sqlite://").unwrap_err().contains("names no file"));
        assert!(Endpoint::parse("postgres://u:p@h/db").unwrap_err().contains("not supported"));
    }

    #[test]
    fn redact_hides_user_information() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://***@h:5432/db");
        assert_eq!(redact("sqlite://a@b.db"), "sqlite://***@b.db");
        assert_eq!(redact("sqlite://dir/a@b.db"), "sqlite://dir/a@b.db");
    }
}
