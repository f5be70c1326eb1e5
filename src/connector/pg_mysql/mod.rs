//! What PostgreSQL and MySQL/MariaDB share: one [`Dataset`] implementation
//! that builds SQL through a [`Dialect`] (the per-engine expressions) and
//! runs it through a [`ServerPool`]. Every statement returns text columns
//! only (counts and sums included), so one decoder serves both engines.
//!
//! Fingerprints and (key, row hash) pairs are computed in the server when
//! the dialect can render every column's canonical encoding in SQL; when a
//! column cannot be rendered exactly (MySQL has no way to read a double's
//! bits), the dataset streams the rows of the range and hashes them in
//! rangesync instead — the same hash, computed elsewhere.

#[macro_use]
pub mod pool;
mod snapshot;
mod statements;

use async_trait::async_trait;
use futures_util::stream::{BoxStream, StreamExt};

use crate::connector::text_values;
use crate::engine::error::{boxed, StoreError};
use crate::engine::fingerprint::{Fingerprint, HashScheme, RowHash};
use crate::engine::key::Key;
use crate::engine::range::{ranges_after, KeyRange, Lower};
use crate::engine::store::{bucket_pairs, cuts_in_order, BulkRows, Dataset, Projection, Row, StoreResult, TypeClass};
use crate::engine::value::Value;

pub use pool::ServerPool;
use pool::TextRow;
use snapshot::SnapshotReads;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{ConnectOptions, Connection};

use crate::engine::retry::RetryPolicy;

use pool::CONNECT_TIMEOUT;
/// Chunks at least this big are cut by skipping index entries rather than
/// by numbering every row: a statement per cut, each reading `size` index
/// entries, where numbering reads and sorts the whole range. A first fill's
/// 10,000-row ranges of 1,000,000 rows were cut in 1.72 s by numbering on
/// MariaDB (a window function over the table), in 0.3 s by skipping.
const MIN_ROWS_TO_SKIP: u64 = 10_000;
/// Rows per page of a pair or row stream: about 1 MB of keys and hashes.
const PAGE_ROWS: u64 = 10_000;

/// Connects once, directly, before any pool exists, so the user sees the
/// server's own reason (refused, unknown database, bad password) rather
/// than a pool timeout; transient failures are retried with backoff.
pub async fn first_connection<O>(options: &O, shown: &str) -> StoreResult<()>
where
    O: ConnectOptions,
    O::Connection: Sized,
{
    RetryPolicy::default()
        .run(&format!("connect to {shown}"), || async {
            match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                    Ok(())
                }
                Ok(Err(e)) => Err(StoreError::Connect {
                    endpoint: shown.to_string(),
                    reason: pool::reason(&e),
                    retryable: pool::is_transient(&e),
                    cause: boxed(e),
                }),
                Err(_) => Err(StoreError::Connect {
                    endpoint: shown.to_string(),
                    reason: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
                    retryable: true,
                    cause: None,
                }),
            }
        })
        .await
}

/// A pool that opens its connections lazily and runs `session` (time zone,
/// encodings) on each, so every rendering the dialect relies on holds.
pub fn lazy_pool<DB>(options: <DB::Connection as Connection>::Options, session: &'static str) -> sqlx::Pool<DB>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(4)
        .acquire_timeout(pool::BUSY_ACQUIRE)
        // A slow acquire is a server coming back: the retries say so with -v.
        .acquire_slow_level(log::LevelFilter::Debug)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(&mut *conn, session).await?;
                Ok(())
            })
        })
        // A fingerprint of a big range takes seconds by design: sqlx's
        // warning would print the whole statement to the user's terminal.
        .connect_lazy_with(options.log_statements(log::LevelFilter::Trace).log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(10)))
}

/// Runs a table's creation statements in one transaction (MySQL commits
/// each DDL statement on its own; one statement per table keeps that whole).
pub async fn create_table(pool: &ServerPool, table: &str, statements: &[String], url: &str) -> StoreResult<()> {
    let statements = statements.iter().map(|sql| (sql.clone(), Params::new())).collect();
    pool.execute_in_transaction(statements, &format!("the definition of table {table} into {url}")).await?;
    Ok(())
}

/// Opens the server dataset of a projection, given the table's columns
/// (`None` when the table does not exist).
pub fn open_dataset(
    pool: ServerPool,
    dialect: Box<dyn Dialect>,
    all: Option<Vec<ServerColumn>>,
    projection: &Projection,
    table_ident: String,
    url: &str,
) -> StoreResult<Box<dyn Dataset>> {
    let what = format!("table {} in {url}", projection.table);
    let all = all.ok_or_else(|| StoreError::Invalid(format!("{what} does not exist")))?;
    let (columns, key) = project(&all, projection, &what)?;
    Ok(Box::new(ServerDataset::new(pool, dialect, projection, table_ident, columns, key, what)?))
}

/// The projected columns and key columns, looked up by name.
pub fn project(
    all: &[ServerColumn],
    projection: &Projection,
    what: &str,
) -> StoreResult<(Vec<ServerColumn>, Vec<ServerColumn>)> {
    let find = |name: &String| {
        all.iter()
            .find(|c| &c.name == name)
            .cloned()
            .ok_or_else(|| StoreError::Invalid(format!("{what} has no column {name}")))
    };
    let columns = projection.columns.iter().map(find).collect::<Result<Vec<_>, _>>()?;
    let key = projection.key.iter().map(find).collect::<Result<Vec<_>, _>>()?;
    Ok((columns, key))
}
pub use statements::{Params, Statements};

/// One column as the server connectors see it.
#[derive(Clone, Debug)]
pub struct ServerColumn {
    pub name: String,
    /// Quoted identifier.
    pub ident: String,
    /// The type bound parameters are cast to. On PostgreSQL without length
    /// or precision modifiers, so the server's own assignment checks still
    /// apply; on MySQL the full `column_type` (its casts are spelled by class).
    pub sql_type: String,
    /// The declared type, modifiers included (`numeric(12,2)`).
    pub declared: String,
    pub class: TypeClass,
    /// Single-precision float: parsed as f32 so its text reads back exactly.
    pub single: bool,
    /// Text is stored as UTF-8 (utf8mb4, utf8mb3 or ascii on MySQL; a UTF8
    /// database on PostgreSQL), so its bytes need no conversion to be hashed.
    pub utf8: bool,
}

/// The per-engine SQL expressions.
pub trait Dialect: Send + Sync {
    /// The column as exact text, the form every value is read in.
    fn text_expr(&self, c: &ServerColumn) -> String;
    /// What a key column is ordered and compared by (byte-wise for text).
    fn order_expr(&self, c: &ServerColumn) -> String;
    /// A bound key value, comparable with [`Dialect::order_expr`].
    fn key_param(&self, c: &ServerColumn, n: usize) -> String;
    /// A bound value written into the column.
    fn write_param(&self, c: &ServerColumn, n: usize) -> String;
    /// The column's canonical encoding as a binary string, or `None` when
    /// the engine cannot render it exactly.
    fn canonical_bytes(&self, c: &ServerColumn) -> Option<String>;
    /// How the server hashes a row of `columns` under `scheme`, or `None`
    /// when it cannot (a column without an exact rendering, or a scheme of
    /// another engine).
    fn row_hash(&self, scheme: HashScheme, columns: &[ServerColumn]) -> Option<RowHashSql>;
    /// The exact decimal sums (as text) of the two 64-bit lanes over a
    /// group, given the aliases of [`RowHashSql::sum_inputs`].
    fn lane_sums(&self, scheme: HashScheme, inputs: &[String]) -> [String; 2];
    /// `x` as text.
    fn as_text(&self, x: &str) -> String;
    /// The tail of an upsert after `INSERT INTO t (cols) VALUES ...`.
    fn upsert_tail(&self, keys: &[&str], columns: &[&str]) -> String;
    /// An upsert of rows bound as one text array per column, where the
    /// engine has arrays: one short statement whatever the number of rows,
    /// prepared once per connection, where a `VALUES` list of thousands of
    /// parameters is parsed and planned anew for every batch.
    fn upsert_from_arrays(&self, table: &str, columns: &[ServerColumn], keys: &[&str]) -> Option<String> {
        let _ = (table, columns, keys);
        None
    }
    /// Whether a comparison of composite keys is spelled out column by
    /// column, for a planner that would not range an index on a row
    /// comparison.
    fn expands_row_comparisons(&self) -> bool {
        false
    }
    /// The bucket of an integer key column among sorted integer cuts (the
    /// number of cuts at or below it), as one built-in binary search over
    /// literals, where the engine has one; otherwise the statement
    /// classifies rows by a tree of comparisons.
    fn integer_bucket(&self, column: &str, cuts: &[i128]) -> Option<String> {
        let _ = (column, cuts);
        None
    }
    /// Ends a subquery so that the planner computes its columns once
    /// instead of inlining them into every expression that uses them (the
    /// row hash feeds two lane sums: inlined, it is computed twice).
    fn fence(&self) -> &'static str {
        ""
    }
    /// A value as the text bound for it (`None` for NULL).
    fn render(&self, v: &Value) -> Option<String> {
        text_values::render(v)
    }
}

/// A row hash as SQL: the per-row expressions a pairs statement returns
/// (read back as text by [`decode_row_hash`]), and those the fingerprint
/// statements compute once per row behind the fence and then sum with
/// [`Dialect::lane_sums`].
pub struct RowHashSql {
    pub pair: Vec<String>,
    pub sum_inputs: Vec<String>,
}

/// The row hash from the cells a pairs statement returned for it (the
/// text of [`RowHashSql::pair`]'s expressions).
pub fn decode_row_hash(scheme: HashScheme, cells: &[Option<&str>]) -> Option<RowHash> {
    match (scheme, cells) {
        (HashScheme::Md5 | HashScheme::MyMd5, [Some(hex)]) => parse_md5(hex),
        // Two signed 64-bit lanes.
        (HashScheme::PgRecord, [Some(hi), Some(lo)]) => Some(RowHash::from_lanes(hi.parse::<i64>().ok()? as u64, lo.parse::<i64>().ok()? as u64)),
        (HashScheme::MyCrc, [Some(a), Some(b)]) => {
            let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
            Some(crc_lanes(a, b))
        }
        _ => None,
    }
}

/// The row hash of MySQL's fast scheme from the row's CRC32 and CRC32C:
/// their product (the non-linear lane: the sum of products changes when
/// values are swapped between two rows, which a sum of the CRCs, linear in
/// the rows' bits, may not) and the two side by side (no bit lost).
pub fn crc_lanes(crc32: u32, crc32c: u32) -> RowHash {
    RowHash::from_lanes(u64::from(crc32) * u64::from(crc32c), (u64::from(crc32) << 32) | u64::from(crc32c))
}

pub struct ServerDataset {
    /// Writes, and the reads that must see the latest committed rows.
    pool: ServerPool,
    /// The comparison's reads: in one snapshot per pass.
    reads: SnapshotReads,
    stmts: Statements,
    /// Rows are hashed in rangesync (a column has no exact SQL rendering).
    streaming: bool,
    scheme: HashScheme,
    /// Where each key column sits in a projected row.
    key_positions: Vec<usize>,
    what: String,
    /// Statements sent so far (the report's `round_trips`).
    trips: AtomicU64,
}

impl ServerDataset {
    pub fn new(
        pool: ServerPool,
        dialect: Box<dyn Dialect>,
        p: &Projection,
        table_ident: String,
        columns: Vec<ServerColumn>,
        key: Vec<ServerColumn>,
        what: String,
    ) -> StoreResult<Self> {
        let in_server = dialect.row_hash(p.hash, &columns);
        let streaming = in_server.is_none();
        if streaming && p.hash.in_rust().is_none() {
            return Err(StoreError::Invalid(format!("{what}: the server cannot compute the {} checksum", p.hash.name())));
        }
        if streaming {
            tracing::info!("{what}: rows are hashed by rangesync, not in the server (a column has no exact SQL rendering)");
        }
        // The table a pass read by several connections locks while they
        // start their snapshots (MySQL).
        let locked = p.query.is_none().then(|| table_ident.clone());
        // A query read in place of the table keeps its name as alias;
        // writes go to the table.
        let read_from = match &p.query {
            Some(q) => format!("({q}) AS {table_ident}"),
            None => table_ident.clone(),
        };
        let mut stmts = Statements::new(dialect, read_from, columns, key);
        stmts.written = table_ident;
        stmts.hash = in_server.map(|sql| (p.hash, sql));
        stmts.filter = p.filter.as_ref().map(|f| format!("({f})"));
        stmts.since = p.since.as_ref().and_then(|(name, v)| Some((stmts.columns.iter().find(|c| &c.name == name)?.clone(), v.clone())));
        let reads = SnapshotReads::new(pool.clone(), what.clone(), locked);
        Ok(ServerDataset { pool, reads, stmts, streaming, scheme: p.hash, key_positions: p.key_positions(), what, trips: AtomicU64::new(0) })
    }

    /// A read in the pass's snapshot (through the pool outside a pass).
    async fn read(&self, sql: String, params: Params, what: &str) -> StoreResult<Vec<TextRow>> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        self.reads.fetch_text(sql, params, what).await
    }

    /// A read of the latest committed rows, outside the snapshot.
    async fn read_current(&self, sql: String, params: Params, what: &str) -> StoreResult<Vec<TextRow>> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        self.pool.fetch_text(sql, params, what).await
    }

    /// Statements run in one transaction; returns the rows affected.
    async fn execute(&self, statements: Vec<(String, Params)>) -> StoreResult<u64> {
        self.trips.fetch_add(statements.len() as u64, Ordering::Relaxed);
        self.pool.execute_in_transaction(statements, &self.what).await
    }

    fn parse(&self, c: &ServerColumn, text: Option<&str>) -> StoreResult<Value> {
        match text {
            None => Ok(Value::Null),
            Some(s) => text_values::parse(c.class, c.single, s)
                .map_err(|e| StoreError::Invalid(format!("{}, column {}: {e}", self.what, c.name))),
        }
    }

    /// Every decimal of `rows` fits its column's `numeric(p,s)`, checked
    /// before the batch is sent: a server would round it (PostgreSQL) or
    /// refuse it midway (MySQL), and the read-back would stop the run only
    /// after writing.
    fn check_fit(&self, rows: &[Row]) -> StoreResult<()> {
        for (i, c) in self.stmts.columns.iter().enumerate() {
            let Some((precision, scale)) = decimal_limits(c) else { continue };
            for row in rows {
                let Some(Value::Decimal(d)) = row.get(i) else { continue };
                if !text_values::decimal_fits(d, precision, scale) {
                    let key = Key(self.key_positions.iter().map(|&k| row[k].clone()).collect());
                    return Err(StoreError::Invalid(format!(
                        "{}: column {} of key {key} holds {d}, which {} cannot hold ({precision} digits, {scale} after the point); nothing of its batch was written",
                        self.what, c.name, c.declared
                    )));
                }
            }
        }
        Ok(())
    }

    fn key_of(&self, row: &[Option<String>], first: usize) -> StoreResult<Key> {
        self.stmts.key.iter().enumerate().map(|(i, c)| self.parse(c, cell(row, first + i))).collect::<Result<_, _>>().map(Key)
    }

    fn full_row(&self, row: &[Option<String>]) -> StoreResult<Row> {
        self.stmts.columns.iter().enumerate().map(|(i, c)| self.parse(c, cell(row, i))).collect()
    }

    fn number(&self, row: &[Option<String>], i: usize) -> StoreResult<i64> {
        cell(row, i)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| StoreError::Invalid(format!("{}: the server returned an unreadable number", self.what)))
    }

    /// Cuts one range every `size` rows by skipping that many index entries
    /// from the previous cut, a statement per cut.
    async fn split_by_skipping(&self, range: &KeyRange, size: u64) -> StoreResult<Vec<Key>> {
        let mut cuts = Vec::new();
        let mut rest = range.clone();
        loop {
            let mut params = Params::new();
            let sql = self.stmts.key_at_offset(&rest, size, &mut params);
            let Some(row) = self.read(sql, params, &self.what).await?.into_iter().next() else {
                return Ok(cuts);
            };
            let cut = self.key_of(&row, 0)?;
            // A key that did not read back as itself would not move on.
            if !rest.contains(&cut) || cuts.last().is_some_and(|last| cut <= *last) {
                return Err(StoreError::Invalid(format!(
                    "{}: skipping {size} rows from {rest} returned the key {cut}; the store orders keys differently from rangesync",
                    self.what
                )));
            }
            rest = KeyRange::new(Lower::Included(cut.clone()), range.hi.clone());
            cuts.push(cut);
        }
    }

    /// The fingerprint in `row` from column `first`: count, lane sums.
    fn sums(&self, row: &[Option<String>], first: usize) -> StoreResult<Fingerprint> {
        let count = self.number(row, first)? as u64;
        Fingerprint::from_sql_sums(count, cell(row, first + 1).unwrap_or("0"), cell(row, first + 2).unwrap_or("0"))
            .ok_or_else(|| StoreError::Invalid(format!("{}: unreadable fingerprint sums", self.what)))
    }

    /// Rows of a range in key order, hashed here (the streaming fallback).
    fn hashed_rows<'a>(&'a self, ranges: &[KeyRange]) -> BoxStream<'a, StoreResult<(Key, RowHash)>> {
        self.paged(ranges.to_vec(), 1, |stmts, page, params| stmts.rows_in_range(&page[0], PAGE_ROWS, params), Self::hash_row)
    }

    /// A range read page by page in key order, each page a statement of at
    /// most [`PAGE_ROWS`] rows resuming after the last key of the one
    /// before. Between pages the snapshot's connection is free: no result
    /// is left half read (a dropped stream would otherwise be drained on
    /// the connection at its next use), and no read waits on a stream.
    fn paged<'a>(
        &'a self,
        ranges: Vec<KeyRange>,
        per_statement: usize,
        sql: impl Fn(&Statements, &[KeyRange], &mut Params) -> String + Send + 'a,
        decode: fn(&Self, &[Option<String>]) -> StoreResult<(Key, RowHash)>,
    ) -> BoxStream<'a, StoreResult<(Key, RowHash)>> {
        async_stream::stream! {
            let mut rest = ranges;
            while !rest.is_empty() {
                let n = rest.len().min(per_statement.max(1));
                let mut params = Params::new();
                let statement = sql(&self.stmts, &rest[..n], &mut params);
                let rows = match self.read(statement, params, &self.what).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                };
                let full = rows.len() as u64 >= PAGE_ROWS;
                let mut last = None;
                for row in rows {
                    let pair = decode(self, &row);
                    if let Ok((key, _)) = &pair {
                        last = Some(key.clone());
                    }
                    yield pair;
                }
                rest = match last {
                    Some(key) if full => ranges_after(&rest, &key),
                    _ => rest.split_off(n),
                };
            }
        }
        .boxed()
    }

    /// (key, row hash) of a whole row read as text, hashed here.
    fn hash_row(&self, row: &[Option<String>]) -> StoreResult<(Key, RowHash)> {
        let row = self.full_row(row)?;
        let key = Key(self.key_positions.iter().map(|&i| row[i].clone()).collect());
        let hash = self.scheme.in_rust().expect("a streaming dataset's scheme is computed in rangesync (checked when opened)");
        Ok((key, RowHash::of_values_with(hash, &row)))
    }

    /// (key, row hash) of a pairs statement's row: the key's text, then
    /// the cells of the server's row hash.
    fn server_pair(&self, row: &[Option<String>]) -> StoreResult<(Key, RowHash)> {
        let key = self.key_of(row, 0)?;
        let cells: Vec<Option<&str>> = row[self.stmts.key.len().min(row.len())..].iter().map(|c| c.as_deref()).collect();
        let hash = decode_row_hash(self.scheme, &cells)
            .ok_or_else(|| StoreError::Invalid(format!("{}: the server's {} row hash came back as {cells:?}", self.what, self.scheme.name())))?;
        Ok((key, hash))
    }

    /// The rows of `keys`, a statement per chunk, in the snapshot or not.
    async fn rows_of_keys(&self, keys: &[Key], in_snapshot: bool) -> StoreResult<Vec<TextRow>> {
        let mut rows = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(self.stmts.keys_per_statement()) {
            let mut params = Params::new();
            let sql = self.stmts.fetch(chunk, &mut params);
            rows.extend(match in_snapshot {
                true => self.read(sql, params, &self.what).await?,
                false => self.read_current(sql, params, &self.what).await?,
            });
        }
        Ok(rows)
    }
}

/// One statement (with its parameters) per chunk of `per` items.
fn batched<T>(items: &[T], per: usize, build: impl Fn(&[T], &mut Params) -> String) -> Vec<(String, Params)> {
    items
        .chunks(per)
        .map(|chunk| {
            let mut params = Params::new();
            (build(chunk, &mut params), params)
        })
        .collect()
}

fn cell(row: &[Option<String>], i: usize) -> Option<&str> {
    row.get(i).and_then(|c| c.as_deref())
}

fn parse_md5(hex: &str) -> Option<RowHash> {
    Some(RowHash(text_values::parse_hex(hex)?.try_into().ok()?))
}

#[async_trait]
impl Dataset for ServerDataset {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn round_trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    async fn split(&self, ranges: &[KeyRange], size: u64) -> StoreResult<Vec<Vec<Key>>> {
        if let [range] = ranges {
            if size >= MIN_ROWS_TO_SKIP && self.stmts.key_order_is_indexed() {
                return Ok(vec![self.split_by_skipping(range, size).await?]);
            }
        }
        let mut out: Vec<Vec<(i64, Key)>> = vec![Vec::new(); ranges.len()];
        for (base, chunk) in self.stmts.chunks(ranges) {
            let mut params = Params::new();
            let sql = self.stmts.split(base, chunk, size, &mut params);
            for row in self.read(sql, params, &self.what).await? {
                let p = self.number(&row, 0)? as usize;
                let rn = self.number(&row, 1)?;
                out[p].push((rn, self.key_of(&row, 2)?));
            }
        }
        Ok(cuts_in_order(out))
    }

    async fn fingerprints(&self, ranges: &[KeyRange]) -> StoreResult<Vec<Fingerprint>> {
        if self.streaming {
            let mut out = Vec::with_capacity(ranges.len());
            for r in ranges {
                out.extend(bucket_pairs(self.hashed_rows(std::slice::from_ref(r)), &[]).await?);
            }
            return Ok(out);
        }
        let mut out = vec![Fingerprint::EMPTY; ranges.len()];
        for (base, chunk) in self.stmts.chunks(ranges) {
            let mut params = Params::new();
            let sql = self.stmts.fingerprints(base, chunk, &mut params);
            for row in self.read(sql, params, &self.what).await? {
                let p = self.number(&row, 0)? as usize;
                out[p] = self.sums(&row, 1)?;
            }
        }
        Ok(out)
    }

    fn scans_buckets(&self) -> bool {
        true
    }

    async fn bucket_fingerprints(&self, range: &KeyRange, cuts: &[Key]) -> StoreResult<Vec<Fingerprint>> {
        if self.streaming {
            return bucket_pairs(self.hashed_rows(std::slice::from_ref(range)), cuts).await;
        }
        let mut out = Vec::with_capacity(cuts.len() + 1);
        let (mut lo, mut rest) = (range.lo.clone(), cuts);
        loop {
            // This statement's cuts, and the cut after them that ends its range.
            let mine = &rest[..rest.len().min(self.stmts.cuts_per_statement())];
            let end = rest.get(mine.len());
            let sub = KeyRange::new(lo, end.cloned().or_else(|| range.hi.clone()));
            let mut params = Params::new();
            let sql = self.stmts.bucket_fingerprints(&sub, mine, &mut params);
            let mut fps = vec![Fingerprint::EMPTY; mine.len() + 1];
            for row in self.read(sql, params, &self.what).await? {
                let b = self.number(&row, 0)? as usize;
                let fp = self.sums(&row, 1)?;
                *fps.get_mut(b).ok_or_else(|| StoreError::Invalid(format!("{}: bucket {b} out of range", self.what)))? = fp;
            }
            out.extend(fps);
            match end {
                Some(k) => (lo, rest) = (Lower::Included(k.clone()), &rest[mine.len() + 1..]),
                None => return Ok(out),
            }
        }
    }

    fn row_hashes<'a>(&'a self, range: &'a KeyRange) -> BoxStream<'a, StoreResult<(Key, RowHash)>> {
        self.row_hashes_in(std::slice::from_ref(range))
    }

    /// Pages of many ranges at once: each statement reads the first
    /// [`PAGE_ROWS`] rows of up to [`Statements::ranges_per_statement`]
    /// ranges; the next resumes after its last key. Streamed rows are
    /// read a range at a time.
    fn row_hashes_in<'a>(&'a self, ranges: &'a [KeyRange]) -> BoxStream<'a, StoreResult<(Key, RowHash)>> {
        if self.streaming {
            return self.hashed_rows(ranges);
        }
        self.paged(ranges.to_vec(), self.stmts.ranges_per_statement(), |stmts, page, params| stmts.pairs_in(page, PAGE_ROWS, params), Self::server_pair)
    }

    async fn fetch_rows(&self, keys: &[Key]) -> StoreResult<Vec<Row>> {
        self.rows_of_keys(keys, true).await?.iter().map(|row| self.full_row(row)).collect()
    }

    async fn rows_page(&self, range: &KeyRange, limit: usize) -> StoreResult<Vec<Row>> {
        let mut params = Params::new();
        let sql = self.stmts.rows_in_range(range, limit as u64, &mut params);
        self.read(sql, params, &self.what).await?.iter().map(|row| self.full_row(row)).collect()
    }

    fn bulk_format(&self) -> Option<String> {
        match self.pool {
            ServerPool::Postgres(_) => Some(format!("PostgreSQL COPY text of {}", self.stmts.declared_types())),
            ServerPool::Mysql(_) => None,
        }
    }

    /// `COPY (SELECT ...) TO STDOUT` of the range; COPY takes no bound
    /// parameters, so the range's keys are inlined as literals.
    async fn export_range(&self, range: &KeyRange) -> StoreResult<BulkRows> {
        let mut params = Params::new();
        let select = self.stmts.raw_rows_in_range(range, &mut params);
        let select = statements::inline_pg_params(&select, &params)
            .ok_or_else(|| StoreError::Invalid(format!("{}: cannot inline the parameters of a COPY statement", self.what)))?;
        self.trips.fetch_add(1, Ordering::Relaxed);
        let data = self.reads.copy_out(&format!("COPY ({select}) TO STDOUT"), &self.what).await?;
        // COPY's text format escapes newlines inside values: one per row.
        let rows = data.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(BulkRows { data, rows })
    }

    async fn import_rows(&self, rows: &BulkRows) -> StoreResult<Option<u64>> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        match self.pool.copy_in(&self.stmts.copy_into(), &rows.data).await {
            Some(Ok(n)) => Ok(Some(n)),
            Some(Err(sqlx::Error::Database(e))) if e.code().as_deref() == Some("23505") => Ok(None),
            Some(Err(e)) => Err(pool::write_error(&self.what, e)),
            None => Err(StoreError::Invalid(format!("{} has no bulk format", self.what))),
        }
    }

    async fn last_key(&self) -> StoreResult<Option<Key>> {
        let mut params = Params::new();
        let sql = self.stmts.last_key(&mut params);
        match self.read(sql, params, &self.what).await?.first() {
            Some(row) => Ok(Some(self.key_of(row, 0)?)),
            None => Ok(None),
        }
    }

    async fn max_value(&self, column: &str) -> StoreResult<Option<Value>> {
        let Some(c) = self.stmts.columns.iter().find(|c| c.name == column) else {
            return Err(StoreError::Invalid(format!("{} has no column {column}", self.what)));
        };
        let rows = self.read_current(self.stmts.max_of(c), Params::new(), &self.what).await?;
        match rows.first() {
            Some(row) => Ok(Some(self.parse(c, cell(row, 0))?)),
            None => Ok(None),
        }
    }

    async fn begin_pass(&self, readers: usize) -> StoreResult<()> {
        self.reads.begin(readers).await
    }

    async fn end_pass(&self) {
        self.reads.end().await
    }

    fn reads_in_snapshot(&self) -> bool {
        true
    }

    async fn fetch_current_rows(&self, keys: &[Key]) -> StoreResult<Vec<Row>> {
        self.rows_of_keys(keys, false).await?.iter().map(|row| self.full_row(row)).collect()
    }

    async fn current_row_hashes(&self, keys: &[Key]) -> StoreResult<Vec<(Key, RowHash)>> {
        if self.streaming {
            return self.rows_of_keys(keys, false).await?.iter().map(|row| self.hash_row(row)).collect();
        }
        let mut pairs = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(self.stmts.keys_per_statement()) {
            let mut params = Params::new();
            let sql = self.stmts.pairs_of_keys(chunk, &mut params);
            for row in self.read_current(sql, params, &self.what).await? {
                pairs.push(self.server_pair(&row)?);
            }
        }
        Ok(pairs)
    }

    fn render_writes(&self, rows: &[Row], deletes: &[Key]) -> StoreResult<Vec<crate::engine::store::Statement>> {
        let deleting = batched(deletes, self.stmts.keys_per_statement(), |chunk, params| self.stmts.delete(chunk, params));
        let upserting = batched(rows, self.stmts.rows_per_statement(), |chunk, params| self.stmts.upsert(chunk, params));
        Ok(deleting.into_iter().chain(upserting).map(|(sql, params)| crate::engine::store::Statement { sql, params: params.values }).collect())
    }

    async fn upsert(&self, rows: &[Row]) -> StoreResult<u64> {
        self.check_fit(rows)?;
        if let Some(sql) = self.stmts.upsert_from_arrays() {
            self.trips.fetch_add(1, Ordering::Relaxed);
            self.pool.execute_with_arrays(&sql, self.stmts.columns_of(rows), &self.what).await?;
            return Ok(rows.len() as u64);
        }
        let statements = batched(rows, self.stmts.rows_per_statement(), |chunk, params| self.stmts.upsert(chunk, params));
        self.execute(statements).await?;
        Ok(rows.len() as u64)
    }

    /// PostgreSQL: one `COPY` of the rows (a range found empty holds no key
    /// of theirs); if another writer added one of those keys since, the
    /// copy fails whole on it and the rows are upserted instead.
    async fn insert_new(&self, rows: &[Row]) -> StoreResult<u64> {
        self.check_fit(rows)?;
        self.trips.fetch_add(1, Ordering::Relaxed);
        if let Some(copied) = self.pool.copy_in(&self.stmts.copy_into(), &self.stmts.copy_text(rows)).await {
            match copied {
                Ok(n) => return Ok(n),
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
                    tracing::info!("{}: a key appeared while its range was copied; upserting that page instead", self.what);
                }
                Err(e) => return Err(pool::write_error(&self.what, e)),
            }
        }
        self.upsert(rows).await
    }

    async fn delete(&self, keys: &[Key]) -> StoreResult<u64> {
        let statements = batched(keys, self.stmts.keys_per_statement(), |chunk, params| self.stmts.delete(chunk, params));
        self.execute(statements).await
    }
}

/// `(precision, scale)` of a `numeric(p,s)`/`decimal(p,s)` column; `None`
/// for an unconstrained `numeric` or another type.
fn decimal_limits(c: &ServerColumn) -> Option<(u32, u32)> {
    if c.class != TypeClass::Numeric {
        return None;
    }
    let t = &c.declared;
    let inside = &t[t.find('(')? + 1..t.find(')')?];
    let mut numbers = inside.split(',').map(|n| n.trim().parse::<u32>().ok());
    let precision = numbers.next()??;
    let scale = numbers.next().unwrap_or(Some(0))?;
    Some((precision, scale))
}
