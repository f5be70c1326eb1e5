//! The interface a store offers the engine. Connectors implement these
//! traits; the engine sees nothing else of them.

use async_trait::async_trait;
use futures_util::stream::{BoxStream, StreamExt};

use super::error::StoreError;
use super::fingerprint::{Fingerprint, HashScheme, RowHash};
use super::key::Key;
use super::range::KeyRange;
use super::value::Value;

pub type StoreResult<T> = Result<T, StoreError>;

/// What a store can do; the planner checks these before it promises a user
/// anything (a delete, a created table, a fingerprint computed in place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Rows can be deleted by key.
    pub can_delete: bool,
    /// Missing tables can be created from another store's definition.
    pub can_create_tables: bool,
    /// Fingerprints are computed inside the store (only a few bytes per
    /// range leave it), rather than by streaming rows out and hashing them.
    pub fingerprint_pushdown: bool,
    /// The exact hash scheme the store computes in place (over the
    /// canonical encoding); the planner uses it when both sides offer it.
    pub native_hash: HashScheme,
    /// The store's `--checksum fast` scheme, used when the other side
    /// offers the same one (a store of the same engine).
    pub fast_hash: Option<HashScheme>,
}

/// The kind of values a column holds, as far as matching two tables goes:
/// two columns of different classes would hash equal values differently,
/// so the planner refuses to pair them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeClass {
    Integer,
    Float,
    /// Exact numbers (decimal, numeric).
    Numeric,
    /// Numbers kept as integers or floats, whichever fits (SQLite's NUMERIC
    /// affinity): `1.50` becomes the float 1.5, so such a column never
    /// equals an exact decimal.
    NumericAffinity,
    Text,
    Blob,
    Bool,
    Date,
    Time,
    /// Timestamp without time zone.
    Timestamp,
    /// Timestamp with time zone (an instant).
    TimestampTz,
    Uuid,
    Json,
    /// No declared type: values keep whatever type they were given.
    Any,
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type as the store declares it (e.g. `INTEGER`, `varchar(20)`).
    pub declared_type: String,
    pub class: TypeClass,
    pub not_null: bool,
}

/// A table as a store describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary-key columns in key order; empty when the table has none.
    pub key: Vec<String>,
    /// Statements that recreate the table (and its indexes) on a store of
    /// the same kind, when the store can tell.
    pub definition: Vec<String>,
    /// Which store family wrote `definition` (e.g. `sqlite`).
    pub dialect: &'static str,
}

impl TableSchema {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Which columns a dataset reads, in which order, and how rows are
/// hashed. Both sides of a comparison use the same projection, so their row
/// hashes line up even when the physical column order differs.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    pub table: String,
    pub columns: Vec<String>,
    /// Key columns, a subset of `columns`, in key order.
    pub key: Vec<String>,
    pub hash: HashScheme,
    /// A SQL condition (a profile's `where`): only rows it holds for are
    /// read, on both sides, so only that subset is compared and written.
    pub filter: Option<String>,
    /// `--lite`: only rows whose column (one of `columns`) holds this value
    /// or a later one are read, on both sides.
    pub since: Option<(String, Value)>,
    /// A profile's `query`: a SELECT read in place of the table (a SOURCE
    /// side only; it returns the table's columns).
    pub query: Option<String>,
}

impl Projection {
    /// Position of each key column inside `columns`.
    pub fn key_positions(&self) -> Vec<usize> {
        self.key
            .iter()
            .map(|k| self.columns.iter().position(|c| c == k).expect("key column is projected"))
            .collect()
    }
}

/// A row: values in projection order.
pub type Row = Vec<Value>;

/// A statement as it would be sent: its text with placeholders, and the
/// parameters bound to them, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Option<String>>,
}

impl std::fmt::Display for Statement {
    /// The statement, then its parameters as SQL literals in a comment
    /// (`NULL` for none): what a reader needs to check it, without a
    /// rendering of each type in each dialect.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{};", self.sql)?;
        if !self.params.is_empty() {
            let shown: Vec<String> = self
                .params
                .iter()
                .map(|p| match p {
                    None => "NULL".to_string(),
                    Some(t) => format!("'{}'", t.replace('\'', "''").replace('\n', "\\n")),
                })
                .collect();
            write!(f, "\n-- parameters: {}", shown.join(", "))?;
        }
        Ok(())
    }
}

/// A connected store (a database file, a server).
#[async_trait]
pub trait Store: Send + Sync {
    /// The endpoint with any secret removed, for messages and reports.
    fn describe(&self) -> &str;

    fn capabilities(&self) -> Capabilities;

    /// Names of the tables (datasets) this store holds.
    async fn list_tables(&self) -> StoreResult<Vec<String>>;

    /// The schema of a table, or `None` when it does not exist.
    async fn table_schema(&self, name: &str) -> StoreResult<Option<TableSchema>>;

    /// Each table's parents: the other tables its foreign keys reference,
    /// as the catalog declares them, for every table at once (one query).
    /// A sync writes parents before children, and deletes from them after.
    async fn foreign_keys(&self) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
        Ok(Default::default())
    }

    /// The statements that would create `schema` (from a store of any
    /// kind) here, through the type mapping of docs/schema.md; an error
    /// names the column that has no counterpart. Writes nothing.
    async fn create_statements(&self, schema: &TableSchema) -> StoreResult<Vec<String>>;

    /// Runs the statements of [`Store::create_statements`]. Called only
    /// through the engine's write guard, so `--dry-run` never reaches it.
    async fn create_table(&self, table: &str, statements: &[String]) -> StoreResult<()>;

    /// Opens a dataset for reading and writing the projected columns.
    async fn dataset(&self, projection: &Projection) -> StoreResult<Box<dyn Dataset>>;
}

/// One table (or measurement) of a store, seen through a projection.
///
/// Every range method takes many ranges at once so a store can answer a
/// whole level of the narrowing in few round trips.
#[async_trait]
pub trait Dataset: Send + Sync {
    /// Where this dataset lives, for messages: `table orders in sqlite://a.db`.
    fn describe(&self) -> String;

    /// Statements (requests) this dataset has sent to its store so far:
    /// what the report's `round_trips` adds up.
    fn round_trips(&self) -> u64 {
        0
    }

    /// For each range, the keys that cut it into chunks of about
    /// `rows_per_chunk` rows, read from the store's key order (an index),
    /// sorted, each inside its range. A range with fewer rows gets none.
    async fn split(&self, ranges: &[KeyRange], rows_per_chunk: u64) -> StoreResult<Vec<Vec<Key>>>;

    /// The fingerprint of each range.
    async fn fingerprints(&self, ranges: &[KeyRange]) -> StoreResult<Vec<Fingerprint>>;

    /// Whether [`Dataset::bucket_fingerprints`] costs one pass over the
    /// range whatever the number of cuts (a server grouping rows by bucket
    /// in one scan). When both sides say so, the engine fingerprints the
    /// finest zoom level in its first pass instead of scanning once per level.
    fn scans_buckets(&self) -> bool {
        false
    }

    /// The fingerprints of the consecutive ranges that `cuts` (sorted, inside
    /// `range`) make of `range`: `cuts.len() + 1` of them. By default, one
    /// ordered pass over the range's (key, row hash) pairs.
    async fn bucket_fingerprints(&self, range: &KeyRange, cuts: &[Key]) -> StoreResult<Vec<Fingerprint>> {
        bucket_pairs(self.row_hashes(range), cuts).await
    }

    /// (key, row hash) of every row in the range, in key order.
    fn row_hashes<'a>(&'a self, range: &'a KeyRange) -> BoxStream<'a, StoreResult<(Key, RowHash)>>;

    /// (key, row hash) of every row of these sorted, disjoint ranges, in key
    /// order: by default each range's stream after the last; a server reads
    /// many ranges per statement, so the mismatched ranges of a level cost
    /// a few round trips, not one or more per range.
    fn row_hashes_in<'a>(&'a self, ranges: &'a [KeyRange]) -> BoxStream<'a, StoreResult<(Key, RowHash)>> {
        futures_util::stream::iter(ranges).flat_map(move |r| self.row_hashes(r)).boxed()
    }

    /// The full rows of these keys (any order; absent keys are skipped).
    async fn fetch_rows(&self, keys: &[Key]) -> StoreResult<Vec<Row>>;

    /// The first `limit` full rows of the range in key order, read in the
    /// pass's snapshot: how a range the other side holds nothing of is
    /// copied, page after page, without reading its row hashes first.
    async fn rows_page(&self, range: &KeyRange, limit: usize) -> StoreResult<Vec<Row>>;

    /// Writes rows whose keys the dataset held none of when its pass read
    /// the range (a range filled from the other side): each store's bulk
    /// path. A row another writer added since is replaced, as by
    /// [`Dataset::upsert`]; by default it is that upsert.
    async fn insert_new(&self, rows: &[Row]) -> StoreResult<u64> {
        self.upsert(rows).await
    }

    /// The format of [`Dataset::export_range`] and [`Dataset::import_rows`],
    /// where the store has a bulk format of its own (PostgreSQL's COPY
    /// text): the engine and the columns' declared types. Two datasets of
    /// one format pass rows unparsed.
    fn bulk_format(&self) -> Option<String> {
        None
    }

    /// Every row of `range` in the dataset's bulk format, read in the pass's
    /// snapshot.
    async fn export_range(&self, range: &KeyRange) -> StoreResult<BulkRows> {
        let _ = range;
        Err(StoreError::Invalid(format!("{} has no bulk format", self.describe())))
    }

    /// Writes rows exported by a dataset of its bulk format into a range it
    /// held none of; returns how many, or `None` when another writer added
    /// one of their keys meanwhile (nothing was written: the caller writes
    /// the range by rows instead).
    async fn import_rows(&self, rows: &BulkRows) -> StoreResult<Option<u64>> {
        let _ = rows;
        Err(StoreError::Invalid(format!("{} has no bulk format", self.describe())))
    }

    /// The largest key the dataset holds (inside its subset), `None` when it
    /// holds no row: where `copy` resumes. Read in the pass's snapshot.
    async fn last_key(&self) -> StoreResult<Option<Key>>;

    /// Starts a pass (one comparison of this dataset with another). A store
    /// that can reads everything until [`Dataset::end_pass`] in one
    /// consistent snapshot taken now, so concurrent writers cannot make a
    /// range look different from what it ever was. The engine makes at
    /// most `readers` reads at a time per dataset (`--jobs`); a store that
    /// can serves them over that many connections in the one snapshot.
    async fn begin_pass(&self, readers: usize) -> StoreResult<()> {
        let _ = readers;
        Ok(())
    }

    /// Ends the pass and releases its snapshot.
    async fn end_pass(&self) {}

    /// Whether reads in a pass see its snapshot rather than the latest
    /// committed rows; then [`Dataset::current_row_hashes`] tells what
    /// changed since.
    fn reads_in_snapshot(&self) -> bool {
        false
    }

    /// The full rows of these keys as committed now, outside any snapshot:
    /// the read-back of what was just written.
    async fn fetch_current_rows(&self, keys: &[Key]) -> StoreResult<Vec<Row>> {
        self.fetch_rows(keys).await
    }

    /// (key, row hash) of these keys as committed now, outside the pass's
    /// snapshot (any order; absent keys are skipped). Only asked of a
    /// dataset that [`Dataset::reads_in_snapshot`].
    async fn current_row_hashes(&self, keys: &[Key]) -> StoreResult<Vec<(Key, RowHash)>> {
        let _ = keys;
        Err(StoreError::Invalid(format!("{} reads no snapshot to compare the current rows with", self.describe())))
    }

    /// Inserts or replaces these rows in one transaction; returns how many
    /// were written. Repeating it is harmless.
    async fn upsert(&self, rows: &[Row]) -> StoreResult<u64>;

    /// Deletes these keys in one transaction; returns how many were removed.
    async fn delete(&self, keys: &[Key]) -> StoreResult<u64>;

    /// The statements [`Dataset::upsert`] and [`Dataset::delete`] would
    /// send for these rows and keys, each with its parameters (`sync
    /// --dry-run --print`). Sends nothing.
    fn render_writes(&self, rows: &[Row], deletes: &[Key]) -> StoreResult<Vec<Statement>>;

    /// The largest value of a projected column (`--lite`'s watermark),
    /// `None` for an empty table or only NULLs.
    async fn max_value(&self, column: &str) -> StoreResult<Option<Value>>;
}

/// Rows in a store's own bulk format, passed unparsed between two datasets
/// of that format.
pub struct BulkRows {
    pub data: Vec<u8>,
    pub rows: u64,
}

/// The cuts of each range in key order, from (row number, key) pairs in
/// any order (a batched split statement returns them unordered).
pub fn cuts_in_order(numbered: Vec<Vec<(i64, Key)>>) -> Vec<Vec<Key>> {
    numbered
        .into_iter()
        .map(|mut cuts| {
            cuts.sort_by_key(|(n, _)| *n);
            cuts.into_iter().map(|(_, k)| k).collect()
        })
        .collect()
}

/// Adds each (key, row hash) of a stream to the bucket its key falls
/// in: bucket `i` holds the keys from `cuts[i - 1]` (included) up to `cuts[i]`.
pub async fn bucket_pairs(
    mut pairs: BoxStream<'_, StoreResult<(Key, RowHash)>>,
    cuts: &[Key],
) -> StoreResult<Vec<Fingerprint>> {
    use futures_util::StreamExt;
    let mut out = vec![Fingerprint::EMPTY; cuts.len() + 1];
    while let Some(pair) = pairs.next().await {
        let (key, hash) = pair?;
        // A binary search rather than a walk: the buckets stay right even
        // if the store's order were not the engine's.
        out[cuts.partition_point(|c| *c <= key)].add_row(hash);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream::{self, StreamExt};

    #[tokio::test]
    async fn bucket_pairs_puts_each_key_in_the_bucket_of_the_cuts_at_or_below_it() {
        let key = |n: i64| Key(vec![Value::Int(n)]);
        let pairs: Vec<StoreResult<(Key, RowHash)>> =
            [1, 5, 10, 11, 20, 99].iter().map(|&n| Ok((key(n), RowHash([n as u8; 16])))).collect();
        let cuts = [key(5), key(11), key(50)];
        let fps = bucket_pairs(stream::iter(pairs).boxed(), &cuts).await.unwrap();
        let counts: Vec<u64> = fps.iter().map(|f| f.count).collect();
        assert_eq!(counts, [1, 2, 2, 1]);
        let mut expected = Fingerprint::EMPTY;
        expected.add_row(RowHash([11; 16]));
        expected.add_row(RowHash([20; 16]));
        assert_eq!(fps[2], expected);
    }
}
