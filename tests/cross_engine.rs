//! Every ordered pair of SQLite, PostgreSQL and MySQL/MariaDB: the target
//! starts empty and `sync --create-tables` builds it through the type
//! mapping; then the target drifts and `sync --delete` repairs it. After
//! each sync an independent query of both sides (each server's own text
//! rendering, normalised here) must agree, and `diff` must exit 0 both ways.

mod common;

use std::path::PathBuf;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Row};
use tempfile::TempDir;

use common::{my, pg, rangesync};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Eng {
    Sqlite,
    Pg,
    My,
}

struct Side {
    eng: Eng,
    url: String,
    path: Option<PathBuf>,
    _dir: Option<TempDir>,
}

impl Side {
    async fn fresh(eng: Eng, name: &str) -> Side {
        match eng {
            Eng::Sqlite => {
                let dir = TempDir::new().unwrap();
                let path = dir.path().join(format!("{name}.db"));
                Side { eng, url: common::url(&path), path: Some(path), _dir: Some(dir) }
            }
            Eng::Pg => Side { eng, url: pg::fresh_db(name).await, path: None, _dir: None },
            Eng::My => Side { eng, url: my::fresh_db(name).await, path: None, _dir: None },
        }
    }

    async fn exec(&self, sql: &str) {
        match self.eng {
            Eng::Sqlite => common::exec(self.path.as_ref().unwrap(), sql).await,
            Eng::Pg => pg::exec(&self.url, sql).await,
            Eng::My => my::exec(&self.url, &format!("SET time_zone = '+00:00'; {sql}")).await,
        }
    }

    /// Every row of a table as the server renders it (NULL as `None`).
    async fn raw_rows(&self, table: &str, columns: &[Col]) -> Vec<Vec<Option<String>>> {
        let select: Vec<String> = columns.iter().map(|c| c.render(self.eng)).collect();
        let sql = format!("SELECT {} FROM {table}", select.join(", "));
        let n = columns.len();
        match self.eng {
            Eng::Sqlite => {
                let mut c = SqliteConnectOptions::new().filename(self.path.as_ref().unwrap()).connect().await.unwrap();
                let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut c).await.unwrap();
                let cell = |r: &sqlx::sqlite::SqliteRow, i: usize| match columns[i].kind {
                    Kind::Float => r.get::<Option<f64>, _>(i).map(|f| format!("{f:?}")),
                    _ => r.get::<Option<String>, _>(i),
                };
                rows.iter().map(|r| (0..n).map(|i| cell(r, i)).collect()).collect()
            }
            Eng::Pg => {
                let mut c: sqlx::PgConnection = self.url.parse::<PgConnectOptions>().unwrap().connect().await.unwrap();
                sqlx::raw_sql("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'").execute(&mut c).await.unwrap();
                let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut c).await.unwrap();
                rows.iter().map(|r| (0..n).map(|i| r.get::<Option<String>, _>(i)).collect()).collect()
            }
            Eng::My => {
                let mut c: sqlx::MySqlConnection = self.url.parse::<MySqlConnectOptions>().unwrap().connect().await.unwrap();
                sqlx::raw_sql("SET time_zone = '+00:00'").execute(&mut c).await.unwrap();
                let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut c).await.unwrap();
                rows.iter().map(|r| (0..n).map(|i| r.try_get_unchecked::<Option<String>, _>(i).unwrap()).collect()).collect()
            }
        }
    }

    /// The rows normalised column by column and sorted: what two stores
    /// holding the same data must both produce.
    async fn rows(&self, table: &str, columns: &[Col]) -> Vec<Vec<String>> {
        let mut rows: Vec<Vec<String>> = self
            .raw_rows(table, columns)
            .await
            .into_iter()
            .map(|r| r.into_iter().zip(columns).map(|(v, c)| v.map_or("NULL".into(), |v| c.kind.normalise(&v))).collect())
            .collect();
        rows.sort();
        rows
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Decimal,
    Hex,
    Bool,
    Instant,
    Float,
}

impl Kind {
    fn normalise(self, v: &str) -> String {
        match self {
            Kind::Plain => v.to_string(),
            Kind::Decimal => {
                let v = if v.contains('.') { v.trim_end_matches('0').trim_end_matches('.') } else { v };
                if v == "-0" { "0".into() } else { v.to_string() }
            }
            Kind::Hex => v.to_ascii_lowercase(),
            Kind::Bool => match v {
                "t" | "true" | "1" => "1".into(),
                "f" | "false" | "0" => "0".into(),
                other => panic!("not a boolean: {other}"),
            },
            Kind::Instant => {
                let v = v.trim_end_matches("+00:00").trim_end_matches("+00").trim_end_matches('Z').replace('T', " ");
                let t = chrono::NaiveDateTime::parse_from_str(&v, "%Y-%m-%d %H:%M:%S%.f").unwrap_or_else(|e| panic!("{v}: {e}"));
                t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
            }
            Kind::Float => format!("{:?}", v.parse::<f64>().unwrap_or_else(|e| panic!("{v}: {e}"))),
        }
    }
}

struct Col {
    name: &'static str,
    kind: Kind,
}

impl Col {
    /// The column as text, rendered by the store itself.
    fn render(&self, eng: Eng) -> String {
        let c = self.name;
        match (eng, self.kind) {
            // hex(NULL) is '' in SQLite.
            (Eng::Sqlite, Kind::Hex) => format!("CASE WHEN {c} IS NOT NULL THEN hex({c}) END"),
            // SQLite's own float printing is not exact: read the REAL itself.
            (Eng::Sqlite, Kind::Float) => c.to_string(),
            (Eng::Sqlite, _) => format!("CAST({c} AS TEXT)"),
            (Eng::Pg, Kind::Hex) => format!("encode({c}, 'hex')"),
            (Eng::Pg, Kind::Instant) => format!("to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')"),
            (Eng::Pg, Kind::Float) => format!("{c}::float8::text"),
            (Eng::Pg, _) => format!("{c}::text"),
            (Eng::My, Kind::Hex) => format!("HEX({c})"),
            (Eng::My, Kind::Instant) => format!("DATE_FORMAT({c}, '%Y-%m-%d %H:%i:%s.%f')"),
            (Eng::My, _) => format!("CAST({c} AS CHAR)"),
        }
    }
}

const ITEMS: &[Col] = &[
    Col { name: "id", kind: Kind::Plain },
    Col { name: "i", kind: Kind::Plain },
    Col { name: "n", kind: Kind::Decimal },
    Col { name: "t", kind: Kind::Plain },
    Col { name: "v", kind: Kind::Plain },
    Col { name: "b", kind: Kind::Hex },
    Col { name: "ok", kind: Kind::Bool },
    Col { name: "d", kind: Kind::Plain },
    Col { name: "ts", kind: Kind::Instant },
    Col { name: "tz", kind: Kind::Instant },
    Col { name: "f", kind: Kind::Float },
    Col { name: "u", kind: Kind::Plain },
    Col { name: "j", kind: Kind::Plain },
];

const TAGS: &[Col] = &[Col { name: "k", kind: Kind::Plain }, Col { name: "n", kind: Kind::Plain }, Col { name: "note", kind: Kind::Plain }];

fn ddl(eng: Eng) -> &'static str {
    match eng {
        Eng::Sqlite => {
            "CREATE TABLE items (id INTEGER PRIMARY KEY, i INTEGER, n DECIMAL TEXT(12,3), t TEXT, v VARCHAR(20), b BLOB,
                ok BOOLEAN, d DATE, ts DATETIME, tz TIMESTAMPTZ, f REAL, u UUID, j JSON TEXT);
             CREATE TABLE tags (k VARCHAR(10) NOT NULL, n INTEGER NOT NULL, note TEXT, PRIMARY KEY (k, n));"
        }
        Eng::Pg => {
            "CREATE TABLE items (id bigint PRIMARY KEY, i integer, n numeric(12,3), t text, v varchar(20), b bytea,
                ok boolean, d date, ts timestamp, tz timestamptz, f double precision, u uuid, j json);
             CREATE TABLE tags (k varchar(10), n integer, note text, PRIMARY KEY (k, n));"
        }
        Eng::My => {
            "CREATE TABLE items (id bigint PRIMARY KEY, i int, n decimal(12,3), t longtext, v varchar(20), b longblob,
                ok boolean, d date, ts datetime(6), tz timestamp(6) NULL, f double, u uuid, j json) CHARACTER SET utf8mb4;
             CREATE TABLE tags (k varchar(10) NOT NULL, n int NOT NULL, note text, PRIMARY KEY (k, n))
                CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
        }
    }
}

fn text(eng: Eng, s: &str) -> String {
    let s = s.replace('\'', "''");
    if eng == Eng::My { format!("'{}'", s.replace('\\', "\\\\")) } else { format!("'{s}'") }
}

fn blob(eng: Eng, b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    if eng == Eng::Pg { format!("'\\x{hex}'::bytea") } else { format!("X'{hex}'") }
}

/// The values of row `i`, as literals of `eng`; one column in every few
/// rows is NULL, and row 3 is NULL in every column but its key.
fn item(eng: Eng, i: i64) -> String {
    let null = |every: i64| i == 3 || i % every == 0;
    let lit = |every: i64, v: String| if null(every) { "NULL".to_string() } else { v };
    let id = i * 7 - 300 + if i == 50 { i64::MAX / 2 } else { 0 };
    let texts = ["", "plain", "Zoë 日本 🚀", "quote's", "tab\tnew\nline", "back\\slash", "NULL"];
    let date = chrono::NaiveDate::from_ymd_opt(1969, 6, 1).unwrap() + chrono::Days::new((i * 97) as u64);
    let date = match i {
        1 => "1000-01-01".to_string(),
        2 => "9999-12-31".to_string(),
        _ => date.to_string(),
    };
    let ts = chrono::NaiveDate::from_ymd_opt(1969, 12, 31).unwrap().and_hms_opt(23, 59, 0).unwrap()
        + chrono::Duration::microseconds(i * 61_000_123);
    let tz = chrono::NaiveDate::from_ymd_opt(1970, 1, 2).unwrap().and_hms_opt(0, 0, 0).unwrap()
        + chrono::Duration::microseconds(i * 3_600_500_001);
    let floats = [0.1, 1e300, -2.5, 5e-324, f64::MAX, 3.0, 0.30000000000000004];
    let (ts, tz) = (ts.format("%Y-%m-%d %H:%M:%S%.6f").to_string(), tz.format("%Y-%m-%d %H:%M:%S%.6f").to_string());
    let tz = if eng == Eng::My { tz } else { format!("{tz}+00:00") };
    let bool_lit = |b: bool| match eng {
        Eng::Pg => b.to_string(),
        _ => (b as i32).to_string(),
    };
    let dec = format!("{}.{}", i * 3 - 200, ["5", "25", "125", "0", "75"][i as usize % 5]);
    // SQLite keeps decimals as canonical text (docs/schema.md): `-176`, not `-176.0`.
    let dec = if eng == Eng::Sqlite { text(eng, Kind::Decimal.normalise(&dec).as_str()) } else { dec };
    let values = [
        id.to_string(),
        lit(11, ((i * 37) % 1000 - 500).to_string()),
        lit(13, dec),
        lit(17, text(eng, texts[i as usize % texts.len()])),
        lit(19, text(eng, if i % 2 == 0 { "Apple" } else { "apple" })),
        lit(23, blob(eng, &if i % 5 == 0 { vec![] } else { vec![i as u8, 0, 255] })),
        lit(29, bool_lit(i % 2 == 0)),
        lit(31, text(eng, &date)),
        lit(37, text(eng, &ts)),
        lit(41, text(eng, &tz)),
        lit(43, format!("{:?}", floats[i as usize % floats.len()])),
        lit(47, text(eng, &format!("{:08x}-0000-4000-8000-{:012x}", i, i * 1_000_003))),
        lit(53, text(eng, &format!("{{\"n\": {i}, \"s\": \"x\"}}"))),
    ];
    format!("({})", values.join(", "))
}

async fn fill(side: &Side, rows: i64) {
    let items: Vec<String> = (1..=rows).map(|i| item(side.eng, i)).collect();
    let mut tags = Vec::new();
    for k in ["a", "A", "b", "B", "ä", "Z", "", "a b"] {
        for n in 1..=3 {
            tags.push(format!("({}, {n}, {})", text(side.eng, k), text(side.eng, &format!("{k}{n}"))));
        }
    }
    side.exec(&format!(
        "{} INSERT INTO items VALUES {}; INSERT INTO tags VALUES {};",
        ddl(side.eng),
        items.join(", "),
        tags.join(", ")
    ))
    .await;
}

async fn assert_same(source: &Side, target: &Side, what: &str) {
    for (table, cols) in [("items", ITEMS), ("tags", TAGS)] {
        let (s, t) = (source.rows(table, cols).await, target.rows(table, cols).await);
        assert_eq!(s.len(), t.len(), "{what}: row counts of {table}");
        for (a, b) in s.iter().zip(&t) {
            assert_eq!(a, b, "{what}: {table} differs ({:?} → {:?})", source.eng, target.eng);
        }
    }
    assert_eq!(rangesync(&["diff", &source.url, &target.url]).code, 0, "{what}: diff source → target");
    assert_eq!(rangesync(&["diff", &target.url, &source.url]).code, 0, "{what}: diff target → source");
}

fn counts(d: &serde_json::Value) -> (i64, i64, i64) {
    (d["missing"].as_i64().unwrap(), d["extra"].as_i64().unwrap(), d["changed"].as_i64().unwrap())
}

async fn pair(from: Eng, to: Eng) {
    const ROWS: i64 = 300;
    let tag = format!("{from:?}_{to:?}").to_lowercase();
    let source = Side::fresh(from, &format!("rs_x_{tag}_src")).await;
    let target = Side::fresh(to, &format!("rs_x_{tag}_tgt")).await;
    fill(&source, ROWS).await;

    let run = rangesync(&["sync", &source.url, &target.url, "--create-tables", "--zoom", "40,5,1", "--format", "json"]);
    assert_eq!(run.code, 0, "{from:?} → {to:?}: {}", run.stderr);
    let report = run.json();
    for d in report["datasets"].as_array().unwrap() {
        assert_eq!(d["created"], true, "{d}");
        assert_eq!(d["inserted"], d["source_rows"], "{d}");
    }
    assert_same(&source, &target, "after the first fill").await;

    target
        .exec(
            "DELETE FROM items WHERE id IN (-293, 400, 1793); UPDATE items SET i = NULL WHERE id = -286;
             UPDATE items SET t = 'drift', f = 2.0 WHERE id = 1100; UPDATE items SET n = 1.001 WHERE id = 1702;
             UPDATE items SET ok = NULL WHERE id = -202; INSERT INTO items (id, t) VALUES (-1000, 'extra'), (99999, 'extra');
             DELETE FROM tags WHERE k = 'A' AND n = 2; UPDATE tags SET note = 'drift' WHERE k = 'a' AND n = 2;
             INSERT INTO tags (k, n) VALUES ('AA', 1);",
        )
        .await;
    let run = rangesync(&["diff", &source.url, &target.url, "--zoom", "40,5,1", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = run.json();
    assert_eq!(counts(&report["datasets"][0]), (3, 2, 4), "items: {}", report["datasets"][0]);
    assert_eq!(counts(&report["datasets"][1]), (1, 1, 1), "tags: {}", report["datasets"][1]);

    let run = rangesync(&["sync", &source.url, &target.url, "--delete", "--zoom", "40,5,1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_same(&source, &target, "after the repair").await;
}

#[tokio::test]
async fn sqlite_to_postgres() {
    pair(Eng::Sqlite, Eng::Pg).await;
}

#[tokio::test]
async fn sqlite_to_mysql() {
    pair(Eng::Sqlite, Eng::My).await;
}

#[tokio::test]
async fn postgres_to_sqlite() {
    pair(Eng::Pg, Eng::Sqlite).await;
}

#[tokio::test]
async fn postgres_to_mysql() {
    pair(Eng::Pg, Eng::My).await;
}

#[tokio::test]
async fn mysql_to_sqlite() {
    pair(Eng::My, Eng::Sqlite).await;
}

#[tokio::test]
async fn mysql_to_postgres() {
    pair(Eng::My, Eng::Pg).await;
}
