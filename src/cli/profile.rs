//! Sync profiles: a TOML file naming the two endpoints and what to do per
//! table or measurement (docs/profiles.md documents every key). A profile
//! is checked whole before anything connects: an unknown key, a wrong type,
//! a bad pattern or an unset environment variable is one sentence naming
//! the file, the line and the key.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::engine::error::EngineError;
use crate::engine::fingerprint::Checksum;
use crate::engine::series::window::parse_duration;
use crate::engine::series::TimeZoom;
use crate::engine::zoom::Zoom;

use super::args::Verify;

/// A profile as written, before the command line is laid over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// Endpoint URLs; `${VAR}` is replaced by the environment variable.
    pub source: Option<Spanned<String>>,
    pub target: Option<Spanned<String>>,
    /// Deletes on TARGET rows or points SOURCE lacks (as `--delete`).
    pub delete: Option<bool>,
    /// As `--max-delete PERCENT`.
    pub max_delete: Option<Spanned<f64>>,
    /// The state store's file, relative to the profile's directory.
    pub state: Option<String>,
    /// `--lite`'s column in every table without its own.
    pub lite_column: Option<String>,
    /// `--lookback` of a time-series `--lite` run.
    pub lookback: Option<Spanned<String>>,
    /// Zoom levels for every table or measurement without its own.
    pub zoom: Option<Spanned<String>>,
    /// As `--checksum`: `fast` or `exact`.
    pub checksum: Option<Spanned<String>>,
    /// As `--jobs N`.
    pub jobs: Option<Spanned<i64>>,
    /// Time series, each as its flag (`--measurement`, `--start`, ...).
    pub measurement: Option<Spanned<String>>,
    pub start: Option<Spanned<String>>,
    pub end: Option<Spanned<String>>,
    pub verify: Option<Spanned<String>>,
    pub separator: Option<Spanned<String>>,
    pub max_rows: Option<Spanned<i64>>,
    pub max_body: Option<Spanned<i64>>,
    pub database: Option<Spanned<String>>,
    pub rp: Option<Spanned<String>>,
    pub target_db: Option<Spanned<String>>,
    pub target_rp: Option<Spanned<String>>,
    pub db_label: Option<Spanned<String>>,
    /// `concurrency=` of an HTTP endpoint whose URL gives none.
    pub concurrency: Option<Spanned<i64>>,
    #[serde(default)]
    pub tables: Vec<TableRuleFile>,
    #[serde(default)]
    pub measurements: Vec<MeasurementRuleFile>,
    /// `rangesync watch`: the daemon's settings.
    pub watch: Option<WatchFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchFile {
    /// Between cycles (`5m`).
    pub interval: Option<Spanned<String>>,
    /// `HOST:PORT` of the HTTP API (127.0.0.1:9180).
    pub listen: Option<Spanned<String>>,
    /// Every n-th cycle compares everything; the others the recent part.
    pub full_every: Option<Spanned<u64>>,
    /// Time series: the recent part is TARGET's newest point minus this.
    pub recent: Option<Spanned<String>>,
    /// The environment variable holding the token `POST /api/sync` needs.
    pub token_env: Option<Spanned<String>>,
}

/// The daemon's settings, checked.
#[derive(Clone, Debug)]
pub struct Watch {
    pub interval: std::time::Duration,
    pub listen: std::net::SocketAddr,
    pub full_every: u64,
    /// Nanoseconds.
    pub recent: i64,
    pub token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRuleFile {
    /// The table's exact name, or a regular expression over names.
    pub name: Option<Spanned<String>>,
    pub pattern: Option<Spanned<String>>,
    #[serde(default)]
    pub skip: bool,
    pub zoom: Option<Spanned<String>>,
    /// A SQL condition: only rows it holds for are compared and written,
    /// on both sides.
    #[serde(rename = "where")]
    pub condition: Option<Spanned<String>>,
    pub delete: Option<bool>,
    /// Only these columns (the key's are always compared).
    pub columns: Option<Spanned<Vec<String>>>,
    /// Every column but these.
    pub exclude: Option<Spanned<Vec<String>>>,
    /// `--lite`'s column in this table.
    pub lite_column: Option<String>,
    /// Columns matching rows in place of the primary key (unique, not
    /// NULL; TARGET needs a unique index on them for its upserts).
    pub key: Option<Spanned<Vec<String>>>,
    /// SOURCE column name → TARGET column name.
    #[serde(default)]
    pub rename: std::collections::BTreeMap<String, String>,
    /// A SELECT read on SOURCE in place of the table.
    pub query: Option<Spanned<String>>,
    /// A SELECT read on TARGET in place of the table (writes still go to
    /// the table).
    pub target_query: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementRuleFile {
    pub name: Option<Spanned<String>>,
    pub pattern: Option<Spanned<String>>,
    #[serde(default)]
    pub skip: bool,
    pub zoom: Option<Spanned<String>>,
    pub delete: Option<bool>,
    /// An InfluxQL condition on tags or fields (InfluxDB on both sides).
    #[serde(rename = "where")]
    pub condition: Option<Spanned<String>>,
}

/// Which names a rule applies to.
#[derive(Clone, Debug)]
pub enum Names {
    Exact(String),
    Pattern(regex::Regex),
}

impl std::fmt::Display for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Names::Exact(n) => write!(f, "{n}"),
            Names::Pattern(p) => write!(f, "/{}/", p.as_str()),
        }
    }
}

impl Names {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Names::Exact(n) => n == name,
            Names::Pattern(p) => p.is_match(name),
        }
    }
}

/// What a profile says about one table; the first rule naming a table is
/// the one that applies to it.
#[derive(Clone, Debug)]
pub struct TableRule {
    pub names: Names,
    pub skip: bool,
    pub zoom: Option<Zoom>,
    pub condition: Option<String>,
    pub delete: Option<bool>,
    pub columns: Option<Vec<String>>,
    pub exclude: Vec<String>,
    pub lite_column: Option<String>,
    pub key: Option<Vec<String>>,
    /// SOURCE column name → TARGET column name.
    pub rename: Vec<(String, String)>,
    pub query: Option<String>,
    pub target_query: Option<String>,
}

#[derive(Clone, Debug)]
pub struct MeasurementRule {
    pub names: Names,
    pub skip: bool,
    pub zoom: Option<TimeZoom>,
    pub delete: Option<bool>,
    pub condition: Option<String>,
}

/// The time-series settings of a profile, each as its flag; text values
/// with their place in the file, checked where the plan reads them.
#[derive(Clone, Debug, Default)]
pub struct SeriesKeys {
    pub measurement: Option<Located>,
    pub start: Option<Located>,
    pub end: Option<Located>,
    pub separator: Option<Located>,
    pub database: Option<Located>,
    pub rp: Option<Located>,
    pub target_db: Option<Located>,
    pub target_rp: Option<Located>,
    pub db_label: Option<Located>,
    /// `verify = "count" | "sum" | "exact"`.
    pub verify: Option<Verify>,
    pub max_rows: Option<u64>,
    pub max_body: Option<u64>,
    pub concurrency: Option<usize>,
    /// The place of the first of them, for a plan of SQL tables.
    pub first_at: Option<String>,
}

/// A profile checked and with its environment variables expanded.
#[derive(Debug, Default)]
pub struct Profile {
    pub source: Option<String>,
    pub target: Option<String>,
    pub delete: Option<bool>,
    pub max_delete: Option<f64>,
    pub state: Option<String>,
    pub lite_column: Option<String>,
    /// Nanoseconds.
    pub lookback: Option<i64>,
    /// Zoom levels as written: rows for tables, durations for time series,
    /// told apart once the plan knows the family; with where it was written.
    pub zoom: Option<Located>,
    pub checksum: Option<Checksum>,
    pub jobs: Option<u32>,
    pub series: SeriesKeys,
    pub tables: Vec<TableRule>,
    pub measurements: Vec<MeasurementRule>,
    /// Where the first `[[tables]]` and `[[measurements]]` rules are, for
    /// a plan that finds them in a profile of the other family.
    pub tables_at: Option<String>,
    pub measurements_at: Option<String>,
    pub watch: Option<Watch>,
}

/// A profile value the plan checks, with its place in the file
/// ("profile F line N, key K"), so its error names the file, not a flag.
#[derive(Clone, Debug)]
pub struct Located {
    pub value: String,
    pub at: String,
}

impl Located {
    pub fn error(&self, what: &str) -> EngineError {
        EngineError::Usage(format!("{}: {what}", self.at))
    }
}

impl Profile {
    /// Reads and checks a profile file.
    pub fn load(path: &Path) -> Result<Profile, EngineError> {
        let text = std::fs::read_to_string(path).map_err(|e| EngineError::Usage(format!("profile {}: cannot be read: {e}", path.display())))?;
        Profile::parse(&text, &path.display().to_string(), &|name| std::env::var(name).ok())
    }

    /// Checks a profile's text; `env` gives environment variables (a test
    /// passes its own).
    pub fn parse(text: &str, file: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Profile, EngineError> {
        let at = Locator { text, file };
        let raw: ProfileFile = toml::from_str(text).map_err(|e| at.toml_error(&e))?;
        let rule_at = |name: &Option<Spanned<String>>, pattern: &Option<Spanned<String>>| {
            name.as_ref().or(pattern.as_ref()).map(|s| format!("profile {file} line {}", at.line(s.span().start)))
        };
        let tables_at = raw.tables.first().and_then(|t| rule_at(&t.name, &t.pattern));
        let measurements_at = raw.measurements.first().and_then(|m| rule_at(&m.name, &m.pattern));
        let series = at.series_keys(&raw)?;
        let tables = raw.tables.into_iter().enumerate().map(|(i, t)| at.table_rule(i, t)).collect::<Result<Vec<_>, _>>()?;
        let measurements = raw.measurements.into_iter().enumerate().map(|(i, m)| at.measurement_rule(i, m)).collect::<Result<Vec<_>, _>>()?;
        if let Some(m) = &raw.max_delete {
            if !(0.0..=100.0).contains(m.get_ref()) {
                return Err(at.error(m.span(), "max_delete", &format!("{} is not a percentage between 0 and 100", m.get_ref())));
            }
        }
        let checksum = at.checksum(raw.checksum.as_ref())?;
        let jobs = at.jobs(raw.jobs.as_ref())?;
        let watch = match raw.watch {
            Some(w) => Some(at.watch(w, env)?),
            None => None,
        };
        let expand = |v: Option<Spanned<String>>, key: &str| v.map(|v| at.expand(&v, key, env)).transpose();
        Ok(Profile {
            source: expand(raw.source, "source")?,
            target: expand(raw.target, "target")?,
            delete: raw.delete,
            max_delete: raw.max_delete.map(Spanned::into_inner),
            state: raw.state,
            lite_column: raw.lite_column,
            lookback: match &raw.lookback {
                Some(l) => Some(parse_duration(l.get_ref()).map_err(|e| at.error(l.span(), "lookback", &e))?),
                None => None,
            },
            zoom: raw.zoom.map(|z| Located { at: at.place(z.span(), "zoom"), value: z.into_inner() }),
            checksum,
            jobs,
            series,
            tables,
            measurements,
            tables_at,
            measurements_at,
            watch,
        })
    }

    pub fn table_rule(&self, table: &str) -> Option<&TableRule> {
        self.tables.iter().find(|r| r.names.matches(table))
    }

    pub fn measurement_rule(&self, measurement: &str) -> Option<&MeasurementRule> {
        self.measurements.iter().find(|r| r.names.matches(measurement))
    }
}

/// Turns byte offsets of the profile into "FILE line N".
struct Locator<'a> {
    text: &'a str,
    file: &'a str,
}

impl Locator<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].matches('\n').count() + 1
    }

    fn place(&self, span: Range<usize>, key: &str) -> String {
        format!("profile {} line {}, key {key}", self.file, self.line(span.start))
    }

    fn error(&self, span: Range<usize>, key: &str, what: &str) -> EngineError {
        EngineError::Usage(format!("{}: {what}", self.place(span, key)))
    }

    /// A value parsed where it is read, its error placed in the file.
    fn parsed<T: std::str::FromStr<Err = String>>(&self, value: Option<Spanned<String>>, key: &str) -> Result<Option<T>, EngineError> {
        value.map(|v| v.get_ref().parse::<T>().map_err(|e| self.error(v.span(), key, &e))).transpose()
    }

    /// toml's own message (unknown field, invalid type, missing field), on
    /// one line, with the line and the key it points at.
    fn toml_error(&self, e: &toml::de::Error) -> EngineError {
        let message = e.message().lines().next().unwrap_or("not valid TOML").trim().to_string();
        match e.span() {
            Some(span) => {
                let line = self.line(span.start);
                let text = self.text.lines().nth(line - 1).unwrap_or_default();
                match text.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !k.starts_with('[')) {
                    Some(key) => EngineError::Usage(format!("profile {} line {line}, key {key}: {message}", self.file)),
                    None => EngineError::Usage(format!("profile {} line {line}: {message}", self.file)),
                }
            }
            None => EngineError::Usage(format!("profile {}: {message}", self.file)),
        }
    }

    fn table_rule(&self, i: usize, t: TableRuleFile) -> Result<TableRule, EngineError> {
        let names = self.names("tables", i, t.name, t.pattern)?;
        if t.columns.is_some() && t.exclude.is_some() {
            let span = t.columns.as_ref().map(Spanned::span).unwrap_or_default();
            return Err(self.error(span, "columns", "give either columns (those only) or exclude (all but those), not both"));
        }
        self.not_empty(&t.condition, "where")?;
        Ok(TableRule {
            names,
            skip: t.skip,
            zoom: self.parsed(t.zoom, "zoom")?,
            condition: t.condition.map(Spanned::into_inner),
            delete: t.delete,
            columns: t.columns.map(Spanned::into_inner),
            exclude: t.exclude.map(Spanned::into_inner).unwrap_or_default(),
            lite_column: t.lite_column,
            key: match t.key {
                Some(k) if k.get_ref().is_empty() => return Err(self.error(k.span(), "key", "the key names no column")),
                k => k.map(Spanned::into_inner),
            },
            rename: t.rename.into_iter().collect(),
            query: self.select(t.query, "query")?,
            target_query: self.select(t.target_query, "target_query")?,
        })
    }

    /// A `query` key: a SELECT (or WITH ... SELECT), without its `;`.
    fn select(&self, q: Option<Spanned<String>>, key: &str) -> Result<Option<String>, EngineError> {
        match q {
            Some(q) if !q.get_ref().trim_start().to_ascii_lowercase().starts_with("select") && !q.get_ref().trim_start().to_ascii_lowercase().starts_with("with") => {
                Err(self.error(q.span(), key, "write a SELECT (or WITH ... SELECT) returning the table's columns"))
            }
            q => Ok(q.map(|q| q.into_inner().trim().trim_end_matches(';').to_string())),
        }
    }

    fn measurement_rule(&self, i: usize, m: MeasurementRuleFile) -> Result<MeasurementRule, EngineError> {
        let names = self.names("measurements", i, m.name, m.pattern)?;
        self.not_empty(&m.condition, "where")?;
        let zoom = self.parsed(m.zoom, "zoom")?;
        Ok(MeasurementRule { names, skip: m.skip, zoom, delete: m.delete, condition: m.condition.map(Spanned::into_inner) })
    }

    /// The time-series keys: numbers and `verify` checked here, text kept
    /// with its place for the plan to check.
    fn series_keys(&self, raw: &ProfileFile) -> Result<SeriesKeys, EngineError> {
        let located = |v: &Option<Spanned<String>>, key: &str| v.as_ref().map(|v| Located { value: v.get_ref().clone(), at: self.place(v.span(), key) });
        let number = |v: &Option<Spanned<i64>>, key: &str, range: std::ops::RangeInclusive<i64>, what: &str| -> Result<Option<u64>, EngineError> {
            match v {
                Some(n) if !range.contains(n.get_ref()) => Err(self.error(n.span(), key, &format!("{} is not {what}", n.get_ref()))),
                Some(n) => Ok(Some(*n.get_ref() as u64)),
                None => Ok(None),
            }
        };
        let verify = match &raw.verify {
            Some(v) => Some(match v.get_ref().as_str() {
                "count" => Verify::Count,
                "sum" => Verify::Sum,
                "exact" => Verify::Exact,
                other => return Err(self.error(v.span(), "verify", &format!("'{other}' is not a way to verify (count, sum or exact)"))),
            }),
            None => None,
        };
        let max_concurrency = crate::connector::endpoint::MAX_CONCURRENCY as i64;
        let texts = [
            (&raw.measurement, "measurement"),
            (&raw.start, "start"),
            (&raw.end, "end"),
            (&raw.separator, "separator"),
            (&raw.database, "database"),
            (&raw.rp, "rp"),
            (&raw.target_db, "target_db"),
            (&raw.target_rp, "target_rp"),
            (&raw.db_label, "db_label"),
            (&raw.verify, "verify"),
        ];
        let numbers = [(&raw.max_rows, "max_rows"), (&raw.max_body, "max_body"), (&raw.concurrency, "concurrency")];
        let first_at = texts
            .iter()
            .filter_map(|(v, key)| v.as_ref().map(|v| (v.span().start, *key)))
            .chain(numbers.iter().filter_map(|(v, key)| v.as_ref().map(|v| (v.span().start, *key))))
            .min()
            .map(|(start, key)| self.place(start..start, key));
        Ok(SeriesKeys {
            measurement: located(&raw.measurement, "measurement"),
            start: located(&raw.start, "start"),
            end: located(&raw.end, "end"),
            separator: located(&raw.separator, "separator"),
            database: located(&raw.database, "database"),
            rp: located(&raw.rp, "rp"),
            target_db: located(&raw.target_db, "target_db"),
            target_rp: located(&raw.target_rp, "target_rp"),
            db_label: located(&raw.db_label, "db_label"),
            verify,
            max_rows: number(&raw.max_rows, "max_rows", 100..=i64::MAX, "a number of points of 100 or more")?,
            max_body: number(&raw.max_body, "max_body", 1024..=i64::MAX, "a number of bytes of 1024 or more")?,
            concurrency: number(&raw.concurrency, "concurrency", 1..=max_concurrency, &format!("a number of requests from 1 to {max_concurrency}"))?.map(|n| n as usize),
            first_at,
        })
    }

    fn not_empty(&self, value: &Option<Spanned<String>>, key: &str) -> Result<(), EngineError> {
        match value {
            Some(c) if c.get_ref().trim().is_empty() => Err(self.error(c.span(), key, "the condition is empty")),
            _ => Ok(()),
        }
    }

    fn checksum(&self, value: Option<&Spanned<String>>) -> Result<Option<Checksum>, EngineError> {
        let Some(c) = value else { return Ok(None) };
        match c.get_ref().as_str() {
            "fast" => Ok(Some(Checksum::Fast)),
            "exact" => Ok(Some(Checksum::Exact)),
            other => Err(self.error(c.span(), "checksum", &format!("'{other}' is not a checksum mode (fast or exact)"))),
        }
    }

    fn jobs(&self, value: Option<&Spanned<i64>>) -> Result<Option<u32>, EngineError> {
        match value {
            Some(j) if !(1..=64).contains(j.get_ref()) => Err(self.error(j.span(), "jobs", &format!("{} is not a number of readers from 1 to 64", j.get_ref()))),
            Some(j) => Ok(Some(*j.get_ref() as u32)),
            None => Ok(None),
        }
    }

    fn names(&self, list: &str, i: usize, name: Option<Spanned<String>>, pattern: Option<Spanned<String>>) -> Result<Names, EngineError> {
        match (name, pattern) {
            (Some(n), None) if !n.get_ref().trim().is_empty() => Ok(Names::Exact(n.into_inner())),
            (Some(n), None) => Err(self.error(n.span(), "name", "the name is empty")),
            (None, Some(p)) => regex::Regex::new(p.get_ref())
                .map(Names::Pattern)
                .map_err(|e| self.error(p.span(), "pattern", &format!("'{}' is not a regular expression: {}", p.get_ref(), super::plan::regex_reason(&e)))),
            (Some(n), Some(_)) => Err(self.error(n.span(), "name", "give either name (one) or pattern (a regular expression), not both")),
            (None, None) => Err(EngineError::Usage(format!("profile {}: entry {} of [[{list}]] has neither name nor pattern", self.file, i + 1))),
        }
    }

    fn watch(&self, w: WatchFile, env: &dyn Fn(&str) -> Option<String>) -> Result<Watch, EngineError> {
        let interval = match &w.interval {
            Some(i) => crate::cli::watch::interval(i.get_ref()).map_err(|e| self.error(i.span(), "interval", &e))?,
            None => std::time::Duration::from_secs(300),
        };
        let listen = match &w.listen {
            Some(l) => crate::cli::watch::listen(l.get_ref()).map_err(|e| self.error(l.span(), "listen", &e))?,
            None => crate::cli::watch::listen(crate::cli::watch::DEFAULT_LISTEN).map_err(EngineError::Usage)?,
        };
        let full_every = match &w.full_every {
            Some(n) if *n.get_ref() == 0 => return Err(self.error(n.span(), "full_every", "must be 1 or more (1: every cycle compares everything)")),
            Some(n) => *n.get_ref(),
            None => 12,
        };
        let recent = match &w.recent {
            Some(r) => crate::engine::series::window::parse_duration(r.get_ref()).map_err(|e| self.error(r.span(), "recent", &e))?,
            None => crate::engine::series::window::HOUR,
        };
        let token = match &w.token_env {
            Some(name) => Some(
                env(name.get_ref())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| self.error(name.span(), "token_env", &format!("environment variable {} is not set (or empty)", name.get_ref())))?,
            ),
            None => None,
        };
        Ok(Watch { interval, listen, full_every, recent, token })
    }

    /// `${VAR}` replaced by the variable's value; an unset one is an error
    /// (a URL silently missing its password would fail later, less clearly).
    fn expand(&self, value: &Spanned<String>, key: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, EngineError> {
        let mut out = String::new();
        let mut rest = value.get_ref().as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(self.error(value.span(), key, "'${' opens a variable that no '}' closes"));
            };
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(self.error(value.span(), key, &format!("'${{{name}}}' is not an environment variable name")));
            }
            let v = env(name).ok_or_else(|| self.error(value.span(), key, &format!("environment variable {name} is not set")))?;
            out.push_str(&v);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Profile, String> {
        let env = |name: &str| (name == "PW").then(|| "s3cret".to_string());
        Profile::parse(text, "p.toml", &env).map_err(|e| e.to_string())
    }

    #[test]
    fn endpoints_rules_and_variables() {
        let p = parse(
            r#"
source = "postgres://app:${PW}@db1/shop"
target = "sqlite://dev.db"
delete = true

[[tables]]
name = "orders"
where = "created_at >= '2024-01-01'"
delete = false

[[tables]]
pattern = "^audit_"
skip = true

[[measurements]]
pattern = "^cpu"
zoom = "1d,1h"
"#,
        )
        .unwrap();
        assert_eq!(p.source.as_deref(), Some("postgres://app:s3cret@db1/shop"));
        assert_eq!(p.delete, Some(true));
        let orders = p.table_rule("orders").unwrap();
        assert_eq!(orders.condition.as_deref(), Some("created_at >= '2024-01-01'"));
        assert_eq!(orders.delete, Some(false));
        assert!(p.table_rule("audit_log").unwrap().skip);
        assert!(p.table_rule("customers").is_none());
        assert_eq!(p.measurement_rule("cpu_load").unwrap().zoom, Some("1d,1h".parse().unwrap()));
    }

    #[test]
    fn time_series_keys_are_read_as_their_flags() {
        let p = parse("database = \"^telegraf\"\nstart = \"2024-01-01\"\nverify = \"exact\"\nmax_rows = 1000\nconcurrency = 4\n").unwrap();
        let keys = &p.series;
        assert_eq!(keys.database.as_ref().map(|l| (l.value.as_str(), l.at.as_str())), Some(("^telegraf", "profile p.toml line 1, key database")));
        assert_eq!((keys.verify, keys.max_rows, keys.concurrency), (Some(Verify::Exact), Some(1000), Some(4)));
        assert_eq!(keys.first_at.as_deref(), Some("profile p.toml line 1, key database"));
        assert!(parse("concurrency = 0\n").unwrap_err().starts_with("profile p.toml line 1, key concurrency: 0 is not a number of requests from 1 to"));
        assert_eq!(parse("max_body = 10\n").unwrap_err(), "profile p.toml line 1, key max_body: 10 is not a number of bytes of 1024 or more");
    }

    #[test]
    fn bad_profiles_name_the_file_line_and_key() {
        let unknown = parse("source = \"sqlite://a.db\"\n\n[[tables]]\nname = \"t\"\nwehre = \"x\"\n").unwrap_err();
        assert!(unknown.starts_with("profile p.toml line 5, key wehre: unknown field `wehre`"), "{unknown}");
        let typed = parse("source = \"sqlite://a.db\"\ndelete = \"yes\"\n").unwrap_err();
        assert!(typed.starts_with("profile p.toml line 2, key delete: invalid type: string \"yes\", expected a boolean"), "{typed}");
        let unset = parse("target = \"postgres://app:${NOPE}@db2/shop\"\n").unwrap_err();
        assert_eq!(unset, "profile p.toml line 1, key target: environment variable NOPE is not set");
        let pattern = parse("[[tables]]\npattern = \"(\"\n").unwrap_err();
        assert!(pattern.starts_with("profile p.toml line 2, key pattern: '(' is not a regular expression"), "{pattern}");
        let both = parse("[[tables]]\nname = \"t\"\ncolumns = [\"a\"]\nexclude = [\"b\"]\n").unwrap_err();
        assert_eq!(both, "profile p.toml line 3, key columns: give either columns (those only) or exclude (all but those), not both");
        let neither = parse("[[tables]]\nskip = true\n").unwrap_err();
        assert_eq!(neither, "profile p.toml: entry 1 of [[tables]] has neither name nor pattern");
        let checksum = parse("source = \"sqlite://a.db\"\nchecksum = \"quick\"\n").unwrap_err();
        assert_eq!(checksum, "profile p.toml line 2, key checksum: 'quick' is not a checksum mode (fast or exact)");
        let zoom = parse("[[tables]]\nname = \"t\"\nzoom = \"10,100\"\n").unwrap_err();
        assert!(zoom.starts_with("profile p.toml line 3, key zoom: "), "{zoom}");
        let zoom = parse("[[measurements]]\nname = \"cpu\"\nzoom = \"1x\"\n").unwrap_err();
        assert!(zoom.starts_with("profile p.toml line 3, key zoom: "), "{zoom}");
        let lookback = parse("source = \"sqlite://a.db\"\nlookback = \"1x\"\n").unwrap_err();
        assert!(lookback.starts_with("profile p.toml line 2, key lookback: "), "{lookback}");
        let syntax = parse("source = \n").unwrap_err();
        assert!(syntax.starts_with("profile p.toml line 1"), "{syntax}");
        assert!(!syntax.contains('\n'), "{syntax}");
    }
}
