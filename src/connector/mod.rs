//! Stores rangesync can read and write, one folder per store. Each
//! implements [`crate::engine::store::Store`]; [`open`] picks one from an
//! endpoint URL.

pub mod endpoint;
pub mod http;
pub mod dump;
pub mod influxdb;
pub mod line_protocol;
pub mod metric_name;
pub mod mysql;
pub mod opentsdb;
pub mod postgres;
pub mod sqlite;
pub mod pg_mysql;
pub mod text_values;
pub mod typemap;
pub mod victoriametrics;

pub use endpoint::Endpoint;

use crate::engine::error::{Side, StoreError};
use crate::engine::sided::Sided;
use crate::engine::series::SeriesStore;
use crate::engine::store::{Store, StoreResult, TableSchema};

/// Whether the store will be written to (the target of `sync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    /// Read and write; a store that can be created (a SQLite file) is
    /// created when missing.
    Write,
}

/// Opens the store of one side of a run: from opening on, its errors say
/// which side they come from.
pub async fn open_side(side: Side, endpoint: &Endpoint, access: Access) -> Result<Box<dyn Store>, StoreError> {
    let store = open(endpoint, access).await.map_err(|e| e.on(side))?;
    Ok(Box::new(Sided::new(side, store)))
}

/// [`open_side`] for a time-series store.
pub async fn open_series_side(side: Side, endpoint: &Endpoint, access: Access, settings: &SeriesSettings) -> Result<Box<dyn SeriesStore>, StoreError> {
    let store = open_series(endpoint, access, settings).await.map_err(|e| e.on(side))?;
    Ok(Box::new(Sided::new(side, store)))
}

/// Connects to the store an endpoint names.
pub async fn open(endpoint: &Endpoint, access: Access) -> Result<Box<dyn Store>, StoreError> {
    match endpoint {
        Endpoint::Sqlite(location) => {
            let mode = match access {
                Access::Read => sqlite::OpenMode::ReadOnly,
                Access::Write => sqlite::OpenMode::Create,
            };
            Ok(Box::new(sqlite::SqliteStore::open(location, mode, &endpoint.redacted()).await?))
        }
        Endpoint::Postgres(url) => Ok(Box::new(postgres::PgStore::open(url.connect_url(), &url.shown()).await?)),
        Endpoint::Mysql(url) => Ok(Box::new(mysql::MyStore::open(url.connect_url(), &url.shown()).await?)),
        Endpoint::Influx(_) | Endpoint::Victoria(_) | Endpoint::OpenTsdb(_) | Endpoint::Dir(_) => {
            Err(StoreError::Invalid(format!("{endpoint} holds time series, not tables")))
        }
    }
}

/// Settings of the time-series connectors.
#[derive(Clone, Debug)]
pub struct SeriesSettings {
    /// Between measurement and field in a VictoriaMetrics metric name.
    pub separator: String,
    /// Largest write body, in bytes before compression.
    pub max_body: usize,
}

/// Connects to a time-series store.
pub async fn open_series(endpoint: &Endpoint, access: Access, settings: &SeriesSettings) -> Result<Box<dyn SeriesStore>, StoreError> {
    match endpoint {
        Endpoint::Influx(url) => {
            let mut store = influxdb::InfluxStore::open(url, access).await?;
            store.max_body = settings.max_body;
            Ok(Box::new(store))
        }
        Endpoint::Victoria(url) => {
            let mut store = victoriametrics::VmStore::open(url, &settings.separator).await?;
            store.max_body = settings.max_body;
            Ok(Box::new(store))
        }
        Endpoint::OpenTsdb(url) => {
            let mut store = opentsdb::TsdbStore::open(url, &settings.separator).await?;
            store.max_body = settings.max_body;
            Ok(Box::new(store))
        }
        Endpoint::Dir(d) => Ok(Box::new(dump::DirStore::open(&d.path, &endpoint.redacted(), access, d.chunk)?)),
        other => Err(StoreError::Invalid(format!("{other} holds tables, not time series"))),
    }
}

/// The statements creating `schema` in a store that does not exist yet (a
/// SQLite file a dry run must not create): they need no open file. Servers always exist: asking
/// for one is a mistake of the caller, reported as such.
pub fn create_statements_offline(endpoint: &Endpoint, schema: &TableSchema) -> StoreResult<Vec<String>> {
    match endpoint {
        Endpoint::Sqlite(_) => typemap::create_statements(&typemap::Engine::Sqlite, schema, &endpoint.redacted()),
        _ => Err(StoreError::Invalid(format!("{} must be reachable to plan the creation of table {}", endpoint.redacted(), schema.name))),
    }
}

/// (child, parent) rows of a catalog, as each table's parents.
pub(crate) fn parents_by_table(edges: Vec<(String, String)>) -> std::collections::HashMap<String, Vec<String>> {
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (child, parent) in edges {
        out.entry(child).or_default().push(parent);
    }
    out
}
