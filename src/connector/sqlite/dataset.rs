//! One SQLite table seen through a projection: the engine's range
//! operations as SQL.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Row};

use super::convert::{bind_all, decode};
use super::functions::{function_name, FINGERPRINT_FN, PAIRS_FN};
use super::schema::{self, binary_key_collation};
use super::typed::{spec, Kind};
use super::sql::TableSql;
use super::store_error;
use crate::engine::error::StoreError;
use crate::engine::fingerprint::{Fingerprint, RowHash};
use crate::engine::key::Key;
use crate::engine::range::{KeyRange, Lower};
use crate::engine::store::{cuts_in_order, Dataset, Projection, Row as DataRow, StoreResult};
use crate::engine::value::{decode_canonical, Value};

/// SQLite refuses compound selects of more than 500 terms.
const MAX_TERMS: usize = 400;
/// Bound parameters per statement, well under SQLite's 32766.
const MAX_PARAMS: usize = 30_000;
/// Rows per INSERT or keys per SELECT/DELETE statement.
const MAX_ROWS_PER_STATEMENT: usize = 500;

pub struct SqliteDataset {
    pool: SqlitePool,
    /// `rangesync_fp` or its md5 twin, per the projection's hash scheme.
    fp_fn: String,
    pairs_fn: String,
    sql: TableSql,
    key_len: usize,
    /// How each projected column is read, and the same for the key columns.
    kinds: Vec<Kind>,
    key_kinds: Vec<Kind>,
    /// The spec arguments of the hash functions (see [`super::typed`]).
    column_spec: String,
    pair_spec: String,
    what: String,
    /// Statements run so far (the report's `round_trips`).
    trips: AtomicU64,
}

/// Pairs per page of `row_hashes`: about 100 KB per page for small keys.
const PAIRS_PAGE: usize = 4096;

impl SqliteDataset {
    async fn pairs_page(&self, range: &KeyRange) -> StoreResult<Vec<(Key, RowHash)>> {
        let mut binds = Vec::new();
        let pred = self.sql.range_predicate(range, &mut binds);
        let keys = self.sql.key_list();
        let sql = format!(
            "SELECT {pairs}({m}, '{spec}', {keys}, {cols}) FROM (SELECT {keys}, {cols} FROM {t} WHERE {pred} ORDER BY {order} LIMIT {PAIRS_PAGE})",
            pairs = self.pairs_fn,
            m = self.key_len,
            spec = self.pair_spec,
            cols = self.sql.columns,
            t = self.sql.table,
            order = self.sql.order_by(),
        );
        self.trips.fetch_add(1, Ordering::Relaxed);
        let row = bind_all(sqlx::query(AssertSqlSafe(sql)), &binds)?
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.read_error("row hashes", e))?;
        let blob: &[u8] = row.try_get(0).map_err(|e| self.read_error("row hashes", e))?;
        self.unpack_pairs(blob)
    }

    fn unpack_pairs(&self, mut blob: &[u8]) -> StoreResult<Vec<(Key, RowHash)>> {
        let corrupt = || {
            StoreError::Invalid(format!(
                "{}: cannot read back a key from {PAIRS_FN} (is a key column holding text that is not valid UTF-8?)",
                self.what
            ))
        };
        let mut out = Vec::new();
        while !blob.is_empty() {
            let mut key = Vec::with_capacity(self.key_len);
            for _ in 0..self.key_len {
                let (v, used) = decode_canonical(blob).ok_or_else(corrupt)?;
                key.push(v);
                blob = &blob[used..];
            }
            let hash: [u8; 16] = blob.get(..16).ok_or_else(corrupt)?.try_into().map_err(|_| corrupt())?;
            blob = &blob[16..];
            out.push((Key(key), RowHash(hash)));
        }
        Ok(out)
    }

    pub async fn open(pool: SqlitePool, p: &Projection, url: &str) -> StoreResult<Self> {
        let binary = binary_key_collation(&pool, &p.table, &p.key, url).await?;
        if binary.iter().any(|b| !b) {
            tracing::warn!(
                "table {} in {url}: a primary-key column has a collation other than BINARY; rangesync orders keys byte-wise, \
                 which SQLite cannot read from that index, so every range costs a scan of the table (slow on large tables)",
                p.table
            );
        }
        let sql = TableSql::new(p, &binary);
        let table = schema::read(&pool, &p.table, url)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("table {} in {url} does not exist", p.table)))?;
        let kind_of = |name: &String| table.column(name).map_or(Kind::Raw, |c| Kind::of_column(c.class, &c.declared_type));
        // A key column is read one way wherever it appears (as a key, and
        // among the row's columns): strictly.
        let read_as = |name: &String| if p.key.contains(name) { kind_of(name).strict() } else { kind_of(name) };
        let kinds: Vec<Kind> = p.columns.iter().map(read_as).collect();
        let key_kinds: Vec<Kind> = p.key.iter().map(read_as).collect();
        if let Some(k) = p.key.iter().zip(&key_kinds).find(|(_, kind)| **kind == Kind::Decimal).map(|(k, _)| k) {
            // SQLite orders the text '10' before '9'; every other store
            // orders decimals by value, and the pair merge needs one order.
            // (Under NUMERIC affinity SQLite orders numbers by value.)
            return Err(StoreError::Invalid(format!(
                "table {} in {url}: key column {k} is a decimal kept as text, which SQLite orders as text, not by value; \
                 declare it INTEGER (or TEXT on both sides)",
                p.table
            )));
        }
        let hash = p.hash.in_rust().ok_or_else(|| {
            StoreError::Invalid(format!("table {} in {url}: SQLite cannot compute the {} checksum", p.table, p.hash.name()))
        })?;
        let ds = SqliteDataset {
            pool,
            sql,
            fp_fn: function_name(FINGERPRINT_FN, hash),
            pairs_fn: function_name(PAIRS_FN, hash),
            key_len: p.key.len(),
            column_spec: spec(&kinds),
            pair_spec: format!("{}{}", spec(&key_kinds), spec(&kinds)),
            kinds,
            key_kinds,
            what: format!("table {} in {url}", p.table),
            trips: AtomicU64::new(0),
        };
        ds.refuse_null_keys(p).await?;
        Ok(ds)
    }

    /// SQLite lets a non-integer primary key hold NULL (a legacy quirk);
    /// such rows cannot be matched by key, so say so instead of skipping them.
    async fn refuse_null_keys(&self, p: &Projection) -> StoreResult<()> {
        let cond: Vec<String> = self.sql.key_columns.iter().map(|k| format!("{k} IS NULL")).collect();
        let sql = format!("SELECT {} FROM {} WHERE {} LIMIT 1", self.sql.key_list(), self.sql.table, cond.join(" OR "));
        let found = sqlx::query(AssertSqlSafe(sql))
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.read_error("its primary key", e))?;
        if found.is_some() {
            return Err(StoreError::Invalid(format!(
                "{} has rows whose primary key ({}) is NULL; rangesync matches rows by key and cannot compare them",
                self.what,
                p.key.join(", ")
            )));
        }
        Ok(())
    }

    fn read_error(&self, what: &str, e: sqlx::Error) -> StoreError {
        store_error(false, &format!("{what} of {}", self.what), e)
    }

    fn write_error(&self, e: sqlx::Error) -> StoreError {
        store_error(true, &self.what, e)
    }

    /// The upserts of `rows`, a statement per chunk: every column is set,
    /// keys included (a key equal under the column's collation but not
    /// byte-wise, NOCASE 'Bob' vs 'bob', is rewritten to the source's bytes).
    fn upsert_statements(&self, rows: &[DataRow]) -> Vec<(String, Vec<Value>)> {
        let width = self.sql.column_names.len();
        let sets: Vec<String> = self.sql.column_names.iter().map(|c| super::sql::ident(c)).map(|c| format!("{c} = excluded.{c}")).collect();
        let action = format!("UPDATE SET {}", sets.join(", "));
        let tuple = format!("({})", vec!["?"; width].join(", "));
        rows.chunks(self.rows_per_statement(width))
            .map(|chunk| {
                let sql = format!(
                    "INSERT INTO {t} ({cols}) VALUES {values} ON CONFLICT ({keys}) DO {action}",
                    t = self.sql.written,
                    cols = self.sql.columns,
                    values = vec![tuple.as_str(); chunk.len()].join(", "),
                    keys = self.sql.key_list(),
                );
                (sql, chunk.iter().flatten().cloned().collect())
            })
            .collect()
    }

    fn delete_statements(&self, keys: &[Key]) -> Vec<(String, Vec<Value>)> {
        keys.chunks(self.rows_per_statement(self.key_len))
            .map(|chunk| {
                let mut binds = Vec::new();
                let cond = self.sql.key_in(chunk, &mut binds);
                (format!("DELETE FROM {} WHERE {cond}", self.sql.written), binds)
            })
            .collect()
    }

    fn decode_key(&self, row: &SqliteRow, first: usize) -> StoreResult<Key> {
        (0..self.key_len)
            .map(|i| decode(row, first + i, self.key_kinds[i], &self.what))
            .collect::<Result<_, _>>()
            .map(Key)
    }

    /// How many ranges fit one compound statement.
    fn ranges_per_statement(&self) -> usize {
        MAX_TERMS.min(MAX_PARAMS / (2 * self.key_len).max(1)).max(1)
    }

    fn rows_per_statement(&self, values_per_row: usize) -> usize {
        MAX_ROWS_PER_STATEMENT.min(MAX_PARAMS / values_per_row.max(1)).max(1)
    }

    /// Runs a batched statement. Batches repeat the same few shapes (full
    /// chunks of ranges), so the prepared statements stay cached: preparing a
    /// 400-range statement again each time doubled the time of fine zooms
    /// for about 15 MB saved (docs/benchmarks.md).
    async fn fetch_all(&self, sql: String, binds: &[Value], what: &str) -> StoreResult<Vec<SqliteRow>> {
        self.trips.fetch_add(1, Ordering::Relaxed);
        bind_all(sqlx::query(AssertSqlSafe(sql)), binds)?
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.read_error(what, e))
    }
}

#[async_trait]
impl Dataset for SqliteDataset {
    fn round_trips(&self) -> u64 {
        self.trips.load(Ordering::Relaxed)
    }

    fn describe(&self) -> String {
        self.what.clone()
    }

    /// Boundary keys come from the primary-key index: a recursive query
    /// hops `size` index entries at a time (`LIMIT 1 OFFSET size` from the
    /// previous boundary), so only boundary keys leave SQLite and no row is
    /// decoded. One statement serves many ranges. (A `row_number()` window
    /// does the same work about 20 times slower; docs/benchmarks.md.)
    async fn split(&self, ranges: &[KeyRange], size: u64) -> StoreResult<Vec<Vec<Key>>> {
        let aliases: Vec<String> = (0..self.key_len).map(|i| format!("rangesync_k{i}")).collect();
        let previous: Vec<String> = aliases.iter().map(|a| format!("b.{a}")).collect();
        let at_or_after_previous = if self.key_len == 1 {
            format!("{} >= {}", self.sql.key_exprs[0], previous[0])
        } else {
            format!("({}) >= ({})", self.sql.order_by(), previous.join(", "))
        };
        let order = self.sql.order_by();
        let table = &self.sql.table;
        // The `size`-th key after the rows `cond` selects, one column at a time.
        let hop = |cond: &str, col: &str| {
            format!("(SELECT {col} FROM {table} WHERE {cond} ORDER BY {order} LIMIT 1 OFFSET {size})")
        };
        let mut out: Vec<Vec<(i64, Key)>> = vec![Vec::new(); ranges.len()];
        let per_statement = (self.ranges_per_statement() / (2 * self.key_len)).max(1);
        for (chunk_no, chunk) in ranges.chunks(per_statement).enumerate() {
            let base = chunk_no * per_statement;
            let mut binds = Vec::new();
            let mut terms = Vec::new();
            for (i, r) in chunk.iter().enumerate() {
                let mut anchor = Vec::new();
                for col in &self.sql.key_columns {
                    let cond = self.sql.range_predicate(r, &mut binds);
                    anchor.push(hop(&cond, col));
                }
                let mut step = Vec::new();
                for col in &self.sql.key_columns {
                    let upper = self.sql.range_predicate(&KeyRange::new(Lower::Unbounded, r.hi.clone()), &mut binds);
                    step.push(hop(&format!("{at_or_after_previous} AND {upper}"), col));
                }
                terms.push(format!(
                    "SELECT {p}, * FROM (WITH RECURSIVE b(rangesync_n, {cols}) AS (\
                     SELECT 1, {anchor} UNION ALL \
                     SELECT b.rangesync_n + 1, {step} FROM b WHERE b.rangesync_k0 IS NOT NULL) \
                     SELECT * FROM b WHERE rangesync_k0 IS NOT NULL)",
                    p = base + i,
                    cols = aliases.join(", "),
                    anchor = anchor.join(", "),
                    step = step.join(", "),
                ));
            }
            for row in self.fetch_all(terms.join(" UNION ALL "), &binds, "range boundaries").await? {
                let p: i64 = row.try_get(0).map_err(|e| self.read_error("range boundaries", e))?;
                let n: i64 = row.try_get(1).map_err(|e| self.read_error("range boundaries", e))?;
                out[p as usize].push((n, self.decode_key(&row, 2)?));
            }
        }
        Ok(cuts_in_order(out))
    }

    /// One aggregate per range, computed by `rangesync_fp` inside SQLite.
    async fn fingerprints(&self, ranges: &[KeyRange]) -> StoreResult<Vec<Fingerprint>> {
        let mut out = vec![Fingerprint::EMPTY; ranges.len()];
        for (chunk_no, chunk) in ranges.chunks(self.ranges_per_statement()).enumerate() {
            let base = chunk_no * self.ranges_per_statement();
            let mut binds = Vec::new();
            let terms: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let pred = self.sql.range_predicate(r, &mut binds);
                    format!(
                        "SELECT {p}, {fp}('{spec}', {cols}) FROM {t} WHERE {pred}",
                        p = base + i,
                        fp = self.fp_fn,
                        spec = self.column_spec,
                        cols = self.sql.columns,
                        t = self.sql.table
                    )
                })
                .collect();
            for row in self.fetch_all(terms.join(" UNION ALL "), &binds, "fingerprints").await? {
                let p: i64 = row.try_get(0).map_err(|e| self.read_error("fingerprints", e))?;
                let blob: Vec<u8> = row.try_get(1).map_err(|e| self.read_error("fingerprints", e))?;
                out[p as usize] = Fingerprint::from_bytes(&blob).ok_or_else(|| {
                    StoreError::Invalid(format!("{}: {FINGERPRINT_FN} returned {} bytes", self.what, blob.len()))
                })?;
            }
        }
        Ok(out)
    }

    /// Pages of [`PAIRS_PAGE`] pairs, each page one aggregate value packed
    /// by `rangesync_pairs` over the rows in key order; the next page starts
    /// after the last key of the previous one.
    fn row_hashes<'a>(&'a self, range: &'a KeyRange) -> BoxStream<'a, StoreResult<(Key, RowHash)>> {
        stream::try_unfold(Some(range.clone()), move |next| async move {
            let Some(page_range) = next else { return Ok(None) };
            let pairs = self.pairs_page(&page_range).await?;
            let rest = match pairs.last() {
                Some((last, _)) if pairs.len() == PAIRS_PAGE => Some(page_range.after(last.clone())),
                _ => None,
            };
            Ok(Some((stream::iter(pairs.into_iter().map(Ok)), rest)))
        })
        .try_flatten()
        .boxed()
    }

    async fn fetch_rows(&self, keys: &[Key]) -> StoreResult<Vec<DataRow>> {
        let width = self.sql.column_names.len();
        let mut rows = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(self.rows_per_statement(self.key_len)) {
            let mut binds = Vec::new();
            let cond = self.sql.key_in(chunk, &mut binds);
            let sql = format!("SELECT {} FROM {} WHERE {cond}", self.sql.columns, self.sql.table);
            for row in self.fetch_all(sql, &binds, "rows").await? {
                rows.push((0..width).map(|i| decode(&row, i, self.kinds[i], &self.what)).collect::<Result<Vec<_>, _>>()?);
            }
        }
        Ok(rows)
    }

    async fn rows_page(&self, range: &KeyRange, limit: usize) -> StoreResult<Vec<DataRow>> {
        let width = self.sql.column_names.len();
        let mut binds = Vec::new();
        let pred = self.sql.range_predicate(range, &mut binds);
        let sql = format!("SELECT {} FROM {} WHERE {pred} ORDER BY {} LIMIT {limit}", self.sql.columns, self.sql.table, self.sql.order_by());
        self.fetch_all(sql, &binds, "rows")
            .await?
            .iter()
            .map(|row| (0..width).map(|i| decode(row, i, self.kinds[i], &self.what)).collect())
            .collect()
    }

    async fn last_key(&self) -> StoreResult<Option<Key>> {
        let mut binds = Vec::new();
        let pred = self.sql.range_predicate(&KeyRange::full(), &mut binds);
        let order: Vec<String> = self.sql.key_exprs.iter().map(|k| format!("{k} DESC")).collect();
        let sql = format!("SELECT {} FROM {} WHERE {pred} ORDER BY {} LIMIT 1", self.sql.columns, self.sql.table, order.join(", "));
        let Some(row) = self.fetch_all(sql, &binds, "the largest key").await?.into_iter().next() else { return Ok(None) };
        let key = self.sql.key_positions.iter().map(|&i| decode(&row, i, self.kinds[i], &self.what)).collect::<Result<_, _>>()?;
        Ok(Some(Key(key)))
    }

    async fn max_value(&self, column: &str) -> StoreResult<Option<Value>> {
        let Some(i) = self.sql.column_names.iter().position(|c| c == column) else {
            return Err(StoreError::Invalid(format!("{} has no column {column}", self.what)));
        };
        let col = super::sql::ident(column);
        let sql = format!("SELECT {col} FROM {} WHERE {col} IS NOT NULL ORDER BY {col} DESC LIMIT 1", self.sql.table);
        match self.fetch_all(sql, &[], "the largest value").await?.first() {
            Some(row) => Ok(Some(decode(row, 0, self.kinds[i], &self.what)?)),
            None => Ok(None),
        }
    }

    async fn upsert(&self, rows: &[DataRow]) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(|e| self.write_error(e))?;
        for (sql, binds) in self.upsert_statements(rows) {
            self.trips.fetch_add(1, Ordering::Relaxed);
            bind_all(sqlx::query(AssertSqlSafe(sql)), &binds)?.execute(&mut *tx).await.map_err(|e| self.write_error(e))?;
        }
        tx.commit().await.map_err(|e| self.write_error(e))?;
        Ok(rows.len() as u64)
    }

    async fn delete(&self, keys: &[Key]) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(|e| self.write_error(e))?;
        let mut deleted = 0;
        for (sql, binds) in self.delete_statements(keys) {
            self.trips.fetch_add(1, Ordering::Relaxed);
            deleted += bind_all(sqlx::query(AssertSqlSafe(sql)), &binds)?
                .execute(&mut *tx)
                .await
                .map_err(|e| self.write_error(e))?
                .rows_affected();
        }
        tx.commit().await.map_err(|e| self.write_error(e))?;
        Ok(deleted)
    }

    fn render_writes(&self, rows: &[DataRow], deletes: &[Key]) -> StoreResult<Vec<crate::engine::store::Statement>> {
        self.delete_statements(deletes)
            .into_iter()
            .chain(self.upsert_statements(rows))
            .map(|(sql, binds)| Ok(crate::engine::store::Statement { sql, params: binds.iter().map(super::convert::as_sql_text).collect::<Result<_, _>>()? }))
            .collect()
    }
}
