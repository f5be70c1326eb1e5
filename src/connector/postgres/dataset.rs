//! One PostgreSQL table seen through a projection.

use async_trait::async_trait;
use futures_util::stream::{BoxStream, StreamExt};
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::{AssertSqlSafe, Postgres, Row};

use super::types::PgColumn;
use super::{read_error, write_error};
use crate::connector::text_values;
use crate::engine::error::StoreError;
use crate::engine::fingerprint::{Fingerprint, HashScheme, RowHash};
use crate::engine::key::Key;
use crate::engine::range::{KeyRange, Lower};
use crate::engine::store::{Dataset, Projection, Row as DataRow, StoreResult};
use crate::engine::value::Value;

/// PostgreSQL accepts at most 65535 bound parameters per statement.
const MAX_PARAMS: usize = 30_000;
/// Ranges per batched statement.
const MAX_TERMS: usize = 500;
const MAX_ROWS_PER_STATEMENT: usize = 1000;

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

pub struct PgDataset {
    pool: PgPool,
    table: String,
    columns: Vec<PgColumn>,
    key: Vec<PgColumn>,
    /// `md5(<canonical row bytes>)`, as 32 hex characters.
    row_md5: String,
    what: String,
}

/// Bound parameters of one statement, numbered `$1, $2, ...` as pushed.
#[derive(Default)]
struct Params {
    values: Vec<Option<String>>,
}

impl Params {
    fn push(&mut self, v: &Value) -> usize {
        self.values.push(text_values::render(v));
        self.values.len()
    }

    fn bind(self, mut q: PgQuery<'_>) -> PgQuery<'_> {
        for v in self.values {
            q = q.bind(v);
        }
        q
    }
}

impl PgDataset {
    pub fn new(pool: PgPool, p: &Projection, columns: Vec<PgColumn>, key: Vec<PgColumn>, what: String) -> StoreResult<Self> {
        if p.hash != HashScheme::Md5 {
            return Err(StoreError::Invalid(format!("{what}: PostgreSQL computes md5 row hashes only")));
        }
        let bytes: Vec<String> = columns.iter().map(PgColumn::canonical_bytes).collect();
        let row_md5 = format!("md5({})", bytes.join(" || "));
        Ok(PgDataset { pool, table: super::ident(&p.table), columns, key, row_md5, what })
    }

    fn order_by(&self) -> String {
        self.key.iter().map(PgColumn::order_expr).collect::<Vec<_>>().join(", ")
    }

    /// Key columns as text, aliased: a bare `"id"::text` would be named
    /// `id` and an `ORDER BY "id"` would then sort by the text.
    fn key_text(&self) -> String {
        self.key
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} AS rangesync_k{i}", c.text_expr()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `key <op> key-value`, as a row comparison for composite keys.
    fn compare(&self, op: &str, key: &Key, params: &mut Params) -> String {
        let marks: Vec<String> = self.key.iter().zip(&key.0).map(|(c, v)| c.param(params.push(v))).collect();
        if self.key.len() == 1 {
            format!("{} {op} {}", self.key[0].order_expr(), marks[0])
        } else {
            format!("({}) {op} ({})", self.order_by(), marks.join(", "))
        }
    }

    fn range_predicate(&self, range: &KeyRange, params: &mut Params) -> String {
        let mut parts = Vec::new();
        match &range.lo {
            Lower::Unbounded => {}
            Lower::Included(k) => parts.push(self.compare(">=", k, params)),
            Lower::Excluded(k) => parts.push(self.compare(">", k, params)),
        }
        if let Some(hi) = &range.hi {
            parts.push(self.compare("<", hi, params));
        }
        if parts.is_empty() { "true".into() } else { parts.join(" AND ") }
    }

    fn key_in(&self, keys: &[Key], params: &mut Params) -> String {
        let tuples: Vec<String> = keys
            .iter()
            .map(|k| {
                let marks: Vec<String> = self.key.iter().zip(&k.0).map(|(c, v)| c.param(params.push(v))).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        format!("({}) IN ({})", self.order_by(), tuples.join(", "))
    }

    fn decode_key(&self, row: &PgRow, first: usize) -> StoreResult<Key> {
        self.key.iter().enumerate().map(|(i, c)| self.decode(row, first + i, c)).collect::<Result<_, _>>().map(Key)
    }

    fn decode(&self, row: &PgRow, i: usize, c: &PgColumn) -> StoreResult<Value> {
        let text: Option<String> = row.try_get(i).map_err(|e| read_error(&self.what, e))?;
        match text {
            None => Ok(Value::Null),
            Some(s) => text_values::parse(c.class, c.single, &s)
                .map_err(|e| StoreError::Invalid(format!("{}, column {}: {e}", self.what, c.ident))),
        }
    }

    fn ranges_per_statement(&self) -> usize {
        MAX_TERMS.min(MAX_PARAMS / (2 * self.key.len()).max(1)).max(1)
    }

    async fn fetch_all(&self, sql: String, params: Params, what: &str) -> StoreResult<Vec<PgRow>> {
        params
            .bind(sqlx::query(AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| read_error(&format!("{what} of {}", self.what), e))
    }
}

fn parse_md5(hex: &str) -> Option<RowHash> {
    let bytes = text_values::parse_hex(hex)?;
    Some(RowHash(bytes.try_into().ok()?))
}

#[async_trait]
impl Dataset for PgDataset {
    fn describe(&self) -> String {
        self.what.clone()
    }

    /// Every `size`-th key by `row_number()` over the primary-key order:
    /// PostgreSQL computes it in one index scan per range and sends only
    /// the boundary keys.
    async fn split(&self, ranges: &[KeyRange], size: u64) -> StoreResult<Vec<Vec<Key>>> {
        let aliases: Vec<String> = (0..self.key.len()).map(|i| format!("rangesync_k{i}")).collect();
        let inner: Vec<String> =
            self.key.iter().zip(&aliases).map(|(c, a)| format!("{} AS {a}", c.text_expr())).collect();
        let mut out: Vec<Vec<(i64, Key)>> = vec![Vec::new(); ranges.len()];
        let per = self.ranges_per_statement();
        for (chunk_no, chunk) in ranges.chunks(per).enumerate() {
            let mut params = Params::default();
            let terms: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let pred = self.range_predicate(r, &mut params);
                    format!(
                        "SELECT {p}::int8, rangesync_rn, {outer} FROM (SELECT {inner}, row_number() OVER (ORDER BY {order}) AS rangesync_rn \
                         FROM {t} WHERE {pred}) s WHERE rangesync_rn % {size} = 1 AND rangesync_rn > 1",
                        p = chunk_no * per + i,
                        outer = aliases.join(", "),
                        inner = inner.join(", "),
                        order = self.order_by(),
                        t = self.table,
                    )
                })
                .collect();
            for row in self.fetch_all(terms.join(" UNION ALL "), params, "range boundaries").await? {
                let p: i64 = row.try_get(0).map_err(|e| read_error(&self.what, e))?;
                let rn: i64 = row.try_get(1).map_err(|e| read_error(&self.what, e))?;
                out[p as usize].push((rn, self.decode_key(&row, 2)?));
            }
        }
        Ok(out
            .into_iter()
            .map(|mut cuts| {
                cuts.sort_by_key(|(rn, _)| *rn);
                cuts.into_iter().map(|(_, k)| k).collect()
            })
            .collect())
    }

    /// Count and the two 64-bit lane sums of md5 row hashes, per range,
    /// summed exactly (as numeric) by PostgreSQL.
    async fn fingerprints(&self, ranges: &[KeyRange]) -> StoreResult<Vec<Fingerprint>> {
        let mut out = vec![Fingerprint::EMPTY; ranges.len()];
        let per = self.ranges_per_statement();
        for (chunk_no, chunk) in ranges.chunks(per).enumerate() {
            let mut params = Params::default();
            let terms: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let pred = self.range_predicate(r, &mut params);
                    format!(
                        "SELECT {p}::int8, count(*), COALESCE(sum(('x' || substr(h, 1, 16))::bit(64)::int8), 0)::text, \
                         COALESCE(sum(('x' || substr(h, 17, 16))::bit(64)::int8), 0)::text \
                         FROM (SELECT {md5} AS h FROM {t} WHERE {pred}) s",
                        p = chunk_no * per + i,
                        md5 = self.row_md5,
                        t = self.table,
                    )
                })
                .collect();
            for row in self.fetch_all(terms.join(" UNION ALL "), params, "fingerprints").await? {
                let get = |i: usize| -> StoreResult<String> { row.try_get(i).map_err(|e| read_error(&self.what, e)) };
                let p: i64 = row.try_get(0).map_err(|e| read_error(&self.what, e))?;
                let count: i64 = row.try_get(1).map_err(|e| read_error(&self.what, e))?;
                out[p as usize] = Fingerprint::from_sql_sums(count as u64, &get(2)?, &get(3)?)
                    .ok_or_else(|| StoreError::Invalid(format!("{}: unreadable fingerprint sums", self.what)))?;
            }
        }
        Ok(out)
    }

    fn row_hashes<'a>(&'a self, range: &'a KeyRange) -> BoxStream<'a, StoreResult<(Key, RowHash)>> {
        let mut params = Params::default();
        let pred = self.range_predicate(range, &mut params);
        let sql = format!(
            "SELECT {keys}, {md5} FROM {t} WHERE {pred} ORDER BY {order}",
            keys = self.key_text(),
            md5 = self.row_md5,
            t = self.table,
            order = self.order_by()
        );
        let n = self.key.len();
        params
            .bind(sqlx::query(AssertSqlSafe(sql)))
            .fetch(&self.pool)
            .map(move |row| {
                let row = row.map_err(|e| read_error(&format!("row hashes of {}", self.what), e))?;
                let key = self.decode_key(&row, 0)?;
                let hex: String = row.try_get(n).map_err(|e| read_error(&self.what, e))?;
                let hash = parse_md5(&hex)
                    .ok_or_else(|| StoreError::Invalid(format!("{}: md5() returned {hex:?}", self.what)))?;
                Ok((key, hash))
            })
            .boxed()
    }

    async fn fetch_rows(&self, keys: &[Key]) -> StoreResult<Vec<DataRow>> {
        let cols: Vec<String> =
            self.columns.iter().enumerate().map(|(i, c)| format!("{} AS rangesync_c{i}", c.text_expr())).collect();
        let mut rows = Vec::with_capacity(keys.len());
        let per = (MAX_PARAMS / self.key.len().max(1)).min(MAX_ROWS_PER_STATEMENT);
        for chunk in keys.chunks(per) {
            let mut params = Params::default();
            let cond = self.key_in(chunk, &mut params);
            let sql = format!("SELECT {} FROM {} WHERE {cond}", cols.join(", "), self.table);
            for row in self.fetch_all(sql, params, "rows").await? {
                let values = self
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| self.decode(&row, i, c))
                    .collect::<Result<Vec<_>, _>>()?;
                rows.push(values);
            }
        }
        Ok(rows)
    }

    async fn upsert(&self, rows: &[DataRow]) -> StoreResult<u64> {
        let names: Vec<&str> = self.columns.iter().map(|c| c.ident.as_str()).collect();
        let keys: Vec<&str> = self.key.iter().map(|c| c.ident.as_str()).collect();
        let sets: Vec<String> = names.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
        let per = (MAX_PARAMS / self.columns.len().max(1)).min(MAX_ROWS_PER_STATEMENT);
        let mut tx = self.pool.begin().await.map_err(|e| write_error(&self.what, e))?;
        let mut written = 0;
        for chunk in rows.chunks(per) {
            let mut params = Params::default();
            let tuples: Vec<String> = chunk
                .iter()
                .map(|row| {
                    let marks: Vec<String> =
                        self.columns.iter().zip(row).map(|(c, v)| c.write_param(params.push(v))).collect();
                    format!("({})", marks.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO {t} ({cols}) VALUES {values} ON CONFLICT ({keys}) DO UPDATE SET {sets}",
                t = self.table,
                cols = names.join(", "),
                values = tuples.join(", "),
                keys = keys.join(", "),
                sets = sets.join(", "),
            );
            params
                .bind(sqlx::query(AssertSqlSafe(sql)))
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(&self.what, e))?;
            written += chunk.len() as u64;
        }
        tx.commit().await.map_err(|e| write_error(&self.what, e))?;
        Ok(written)
    }

    async fn delete(&self, keys: &[Key]) -> StoreResult<u64> {
        let per = (MAX_PARAMS / self.key.len().max(1)).min(MAX_ROWS_PER_STATEMENT);
        let mut tx = self.pool.begin().await.map_err(|e| write_error(&self.what, e))?;
        let mut deleted = 0;
        for chunk in keys.chunks(per) {
            let mut params = Params::default();
            let cond = self.key_in(chunk, &mut params);
            let sql = format!("DELETE FROM {} WHERE {cond}", self.table);
            deleted += params
                .bind(sqlx::query(AssertSqlSafe(sql)))
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(&self.what, e))?
                .rows_affected();
        }
        tx.commit().await.map_err(|e| write_error(&self.what, e))?;
        Ok(deleted)
    }
}
