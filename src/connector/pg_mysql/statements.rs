//! SQL text for the server dataset, built once per table through a dialect.

use super::{Dialect, RowHashSql, ServerColumn};
use crate::engine::fingerprint::HashScheme;
use crate::engine::key::Key;
use crate::engine::range::{KeyRange, Lower};
use crate::engine::store::Row;
use crate::engine::store::TypeClass;
use crate::engine::value::Value;

/// Bound parameters per statement: under PostgreSQL's 65535 and MySQL's
/// 65535 prepared-statement limits.
const MAX_PARAMS: usize = 30_000;
/// Ranges per batched statement.
const MAX_TERMS: usize = 500;
const MAX_ROWS_PER_STATEMENT: usize = 1000;
/// Cuts per bucket statement: a binary search 13 `CASE`s deep.
const MAX_CUTS: usize = 8000;

/// Bound parameters, all text (or NULL), numbered in the order pushed.
#[derive(Default)]
pub struct Params {
    pub values: Vec<Option<String>>,
}

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    /// Adds a value, rendered by the dialect; returns its 1-based number.
    fn push(&mut self, dialect: &dyn Dialect, v: &Value) -> usize {
        self.values.push(dialect.render(v));
        self.values.len()
    }
}

pub struct Statements {
    dialect: Box<dyn Dialect>,
    /// What reads read: the table, or a rule's query aliased as it.
    table: String,
    /// What writes write: the table itself.
    pub written: String,
    pub columns: Vec<ServerColumn>,
    pub key: Vec<ServerColumn>,
    /// The projection's condition, parenthesised: part of every range read.
    pub filter: Option<String>,
    /// `--lite`: the column and the value it must reach, in every range read.
    pub since: Option<(ServerColumn, Value)>,
    /// How the server hashes a row, when it does (not for a dataset whose
    /// rows are hashed by rangesync).
    pub hash: Option<(HashScheme, RowHashSql)>,
}

impl Statements {
    pub fn new(dialect: Box<dyn Dialect>, table: String, columns: Vec<ServerColumn>, key: Vec<ServerColumn>) -> Self {
        Statements { dialect, written: table.clone(), table, columns, key, filter: None, since: None, hash: None }
    }

    /// Ranges in chunks that fit one statement, with the index of each
    /// chunk's first range.
    pub fn chunks<'r>(&self, ranges: &'r [KeyRange]) -> impl Iterator<Item = (usize, &'r [KeyRange])> {
        let per = self.ranges_per_statement();
        ranges.chunks(per).enumerate().map(move |(i, c)| (i * per, c))
    }

    /// Most ranges one statement reads (a term and two keys' parameters each).
    pub fn ranges_per_statement(&self) -> usize {
        MAX_TERMS.min(MAX_PARAMS / (2 * self.params_per_key())).max(1)
    }

    pub fn keys_per_statement(&self) -> usize {
        (MAX_PARAMS / self.key.len().max(1)).min(MAX_ROWS_PER_STATEMENT)
    }

    pub fn rows_per_statement(&self) -> usize {
        (MAX_PARAMS / self.columns.len().max(1)).min(MAX_ROWS_PER_STATEMENT)
    }

    fn order_by(&self) -> String {
        self.key.iter().map(|c| self.dialect.order_expr(c)).collect::<Vec<_>>().join(", ")
    }

    /// Columns as text, aliased (`rangesync_k0`, ...) so that no `ORDER BY`
    /// can pick up the text instead of the column.
    fn aliased_text(&self, columns: &[ServerColumn], prefix: &str) -> String {
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} AS rangesync_{prefix}{i}", self.dialect.text_expr(c)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn key_text(&self) -> String {
        self.aliased_text(&self.key, "k")
    }

    fn all_text(&self) -> String {
        self.aliased_text(&self.columns, "c")
    }

    fn row_hash(&self) -> &(HashScheme, RowHashSql) {
        self.hash.as_ref().expect("a statement hashing rows in the server is built only when the server can")
    }

    /// The row hash's cells of a pairs statement, as text.
    fn pair_hash(&self) -> String {
        self.row_hash().1.pair.iter().map(|e| self.dialect.as_text(e)).collect::<Vec<_>>().join(", ")
    }

    /// What the fenced subquery of a fingerprint statement computes per
    /// row (`rangesync_h0`, ...), and the two lane sums over those.
    fn sum_parts(&self) -> (String, [String; 2]) {
        let (scheme, sql) = self.row_hash();
        let aliases: Vec<String> = (0..sql.sum_inputs.len()).map(|i| format!("rangesync_h{i}")).collect();
        let inputs = sql.sum_inputs.iter().zip(&aliases).map(|(e, a)| format!("{e} AS {a}")).collect::<Vec<_>>().join(", ");
        (inputs, self.dialect.lane_sums(*scheme, &aliases))
    }

    /// `key-columns op key` for `op` among `<`, `>=`, `>`. A row comparison
    /// `(a, b) >= (?, ?)` where the dialect's index ranges take one; spelled
    /// out column by column elsewhere: MariaDB reads the whole index for a
    /// row comparison, but ranges `a > ? OR (a = ? AND b >= ?)`.
    fn compare(&self, op: &str, key: &Key, params: &mut Params) -> String {
        if self.key.len() > 1 && self.dialect.expands_row_comparisons() {
            return self.expanded(op, &self.key, &key.0, params);
        }
        let marks: Vec<String> =
            self.key.iter().zip(&key.0).map(|(c, v)| self.dialect.key_param(c, params.push(self.dialect.as_ref(), v))).collect();
        if self.key.len() == 1 {
            format!("{} {op} {}", self.dialect.order_expr(&self.key[0]), marks[0])
        } else {
            format!("({}) {op} ({})", self.order_by(), marks.join(", "))
        }
    }

    /// `(c0, c1...) op (v0, v1...)` as `c0 strict v0 OR (c0 = v0 AND (rest))`,
    /// parameters pushed in textual order (MySQL's `?` are positional).
    fn expanded(&self, op: &str, columns: &[ServerColumn], values: &[Value], params: &mut Params) -> String {
        let (c, v) = (&columns[0], &values[0]);
        let mark = |params: &mut Params| self.dialect.key_param(c, params.push(self.dialect.as_ref(), v));
        let col = self.dialect.order_expr(c);
        if columns.len() == 1 {
            return format!("{col} {op} {}", mark(params));
        }
        let strict = if op == "<" { "<" } else { ">" };
        let first = format!("{col} {strict} {}", mark(params));
        let equal = format!("{col} = {}", mark(params));
        let rest = self.expanded(op, &columns[1..], &values[1..], params);
        format!("({first} OR ({equal} AND ({rest})))")
    }

    /// Bound parameters one key comparison takes.
    fn params_per_key(&self) -> usize {
        let n = self.key.len().max(1);
        if self.dialect.expands_row_comparisons() { 2 * n - 1 } else { n }
    }

    fn range_predicate(&self, range: &KeyRange, params: &mut Params) -> String {
        // Parameters in textual order (MySQL's `?` are positional): the
        // subset's first, then the range's.
        self.subset_and(
            |params| {
                let mut parts = Vec::new();
                match &range.lo {
                    Lower::Unbounded => {}
                    Lower::Included(k) => parts.push(self.compare(">=", k, params)),
                    Lower::Excluded(k) => parts.push(self.compare(">", k, params)),
                }
                if let Some(hi) = &range.hi {
                    parts.push(self.compare("<", hi, params));
                }
                if parts.is_empty() { "1 = 1".into() } else { parts.join(" AND ") }
            },
            params,
        )
    }

    fn key_in(&self, keys: &[Key], params: &mut Params) -> String {
        let tuples: Vec<String> = keys
            .iter()
            .map(|k| {
                let marks: Vec<String> =
                    self.key.iter().zip(&k.0).map(|(c, v)| self.dialect.key_param(c, params.push(self.dialect.as_ref(), v))).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        format!("({}) IN ({})", self.order_by(), tuples.join(", "))
    }

    /// One `UNION ALL` term per range: `term(index as text, predicate)`.
    fn per_range(
        &self,
        base: usize,
        ranges: &[KeyRange],
        params: &mut Params,
        term: impl Fn(String, String) -> String,
    ) -> String {
        let terms: Vec<String> = ranges
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let pred = self.range_predicate(r, params);
                term(self.dialect.as_text(&(base + i).to_string()), pred)
            })
            .collect();
        terms.join(" UNION ALL ")
    }

    /// Every `size`-th key of each range by `row_number()` in key order:
    /// columns (range index, row number, key text...).
    pub fn split(&self, base: usize, ranges: &[KeyRange], size: u64, params: &mut Params) -> String {
        let aliases: Vec<String> = (0..self.key.len()).map(|i| format!("rangesync_k{i}")).collect();
        let (rn, keys, order) = (self.dialect.as_text("rangesync_rn"), self.key_text(), self.order_by());
        self.per_range(base, ranges, params, |p, pred| {
            format!(
                "SELECT {p}, {rn}, {outer} FROM (SELECT {keys}, row_number() OVER (ORDER BY {order}) AS rangesync_rn \
                 FROM {t} WHERE {pred}) rangesync_s WHERE rangesync_rn % {size} = 1 AND rangesync_rn > 1",
                outer = aliases.join(", "),
                t = self.table,
            )
        })
    }

    /// Whether the key columns are compared as stored, so that a range
    /// predicate and `ORDER BY` walk the primary key's index (text keys are
    /// compared through a byte-wise expression, which no index serves).
    pub fn key_order_is_indexed(&self) -> bool {
        self.key.iter().all(|c| self.dialect.order_expr(c) == c.ident)
    }

    /// The key `size` rows into `range` (key text...), read by skipping
    /// index entries: one short statement per cut, where `row_number()` over
    /// a whole table costs a sort on MariaDB (19 s for 10,000,000 rows,
    /// against 3 s of skips).
    pub fn key_at_offset(&self, range: &KeyRange, size: u64, params: &mut Params) -> String {
        let pred = self.range_predicate(range, params);
        format!(
            "SELECT {keys} FROM {t} WHERE {pred} ORDER BY {order} LIMIT 1 OFFSET {size}",
            keys = self.key_text(),
            t = self.table,
            order = self.order_by()
        )
    }

    /// Per range: (index, count, lane-0 sum, lane-1 sum), all text.
    pub fn fingerprints(&self, base: usize, ranges: &[KeyRange], params: &mut Params) -> String {
        let count = self.dialect.as_text("count(*)");
        let (h, [hi, lo]) = self.sum_parts();
        self.per_range(base, ranges, params, |p, pred| {
            format!(
                "SELECT {p}, {count}, {hi}, {lo} FROM (SELECT {h} FROM {t} WHERE {pred}{fence}) rangesync_s",
                t = self.table,
                fence = self.dialect.fence(),
            )
        })
    }

    /// Most cuts one [`Statements::bucket_fingerprints`] statement takes.
    pub fn cuts_per_statement(&self) -> usize {
        (MAX_PARAMS / self.params_per_key()).saturating_sub(2).clamp(1, MAX_CUTS)
    }

    /// Per bucket that `cuts` make of `range`: (bucket number, count,
    /// lane-0 sum, lane-1 sum), all text, in one scan of the range. Empty
    /// buckets return no row. The bucket of a row is found by a binary
    /// search written out as nested `CASE`s over the cuts, which every
    /// dialect evaluates (PostgreSQL's `width_bucket` would take an array,
    /// but not a composite key, nor MySQL).
    pub fn bucket_fingerprints(&self, range: &KeyRange, cuts: &[Key], params: &mut Params) -> String {
        // Parameters are numbered in the order they appear (MySQL's `?`).
        let bucket = match self.integer_cuts(cuts).and_then(|ints| self.dialect.integer_bucket(&self.key[0].ident, &ints)) {
            Some(search) => search,
            None => self.bucket_of(cuts, 0, cuts.len(), params),
        };
        let pred = self.range_predicate(range, params);
        let (h, [hi, lo]) = self.sum_parts();
        format!(
            "SELECT {b}, {count}, {hi}, {lo} FROM (SELECT {bucket} AS rangesync_b, {h} FROM {t} WHERE {pred}{fence}) rangesync_s \
             GROUP BY rangesync_b",
            b = self.dialect.as_text("rangesync_b"),
            count = self.dialect.as_text("count(*)"),
            t = self.table,
            fence = self.dialect.fence(),
        )
    }

    /// The cuts of a one-column integer key as integers (rendered into the
    /// statement as literals: numbers only, nothing to escape).
    fn integer_cuts(&self, cuts: &[Key]) -> Option<Vec<i128>> {
        if self.key.len() != 1 || self.key[0].class != TypeClass::Integer || cuts.is_empty() {
            return None;
        }
        cuts.iter()
            .map(|k| match k.0.first() {
                Some(Value::Int(i)) => Some(*i as i128),
                Some(Value::UInt(u)) => Some(*u as i128),
                _ => None,
            })
            .collect()
    }

    /// The bucket (among `first..=last`) of the row's key: the number of
    /// cuts at or below it.
    fn bucket_of(&self, cuts: &[Key], first: usize, last: usize, params: &mut Params) -> String {
        if first == last {
            return first.to_string();
        }
        let mid = (first + last) / 2;
        let below = self.compare("<", &cuts[mid], params);
        let left = self.bucket_of(cuts, first, mid, params);
        let right = self.bucket_of(cuts, mid + 1, last, params);
        format!("CASE WHEN {below} THEN {left} ELSE {right} END")
    }

    /// `COPY table (columns) FROM STDIN` (PostgreSQL), for [`Statements::copy_text`].
    pub fn copy_into(&self) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|c| c.ident.as_str()).collect();
        format!("COPY {} ({}) FROM STDIN", self.written, cols.join(", "))
    }

    /// Rows in COPY's text format: each value as it is bound (the type's
    /// input text), tabs between, `\N` for NULL, backslash escapes.
    pub fn copy_text(&self, rows: &[Row]) -> Vec<u8> {
        let mut out = Vec::with_capacity(rows.len() * 64);
        for row in rows {
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                match self.dialect.render(v) {
                    None => out.extend_from_slice(b"\\N"),
                    Some(text) => copy_escape(&text, &mut out),
                }
            }
            out.push(b'\n');
        }
        out
    }

    /// (key text..., row hash cells) of the first `limit` rows of several
    /// sorted, disjoint ranges together, in key order: each range's first
    /// rows read through the index (a `UNION ALL` of bounded reads, which
    /// both engines plan as index ranges), then merged.
    pub fn pairs_in(&self, ranges: &[KeyRange], limit: u64, params: &mut Params) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|c| c.ident.as_str()).collect();
        let order = self.order_by();
        let parts: Vec<String> = ranges
            .iter()
            .map(|r| {
                let pred = self.range_predicate(r, params);
                format!("(SELECT {} FROM {} WHERE {pred} ORDER BY {order} LIMIT {limit})", cols.join(", "), self.table)
            })
            .collect();
        format!(
            "SELECT {}, {} FROM ({}) AS rangesync_r ORDER BY {order} LIMIT {limit}",
            self.key_text(),
            self.pair_hash(),
            parts.join(" UNION ALL ")
        )
    }

    /// The first `limit` rows of a range, raw, as a derived table whose
    /// rows the outer statement renders or hashes. With the expressions in
    /// the same statement as `ORDER BY ... LIMIT`, PostgreSQL costs them
    /// for every row of the range and sorts a sequential scan rather than
    /// read the first rows of the index: 5,000 rows of a 700,000-row range
    /// took 340 ms against 8 ms.
    fn first_rows(&self, range: &KeyRange, limit: u64, params: &mut Params) -> String {
        let pred = self.range_predicate(range, params);
        let cols: Vec<&str> = self.columns.iter().map(|c| c.ident.as_str()).collect();
        format!("(SELECT {} FROM {} WHERE {pred} ORDER BY {} LIMIT {limit}) AS rangesync_r", cols.join(", "), self.table, self.order_by())
    }

    /// (key text..., row hash cells) of the rows of these keys, in any order.
    pub fn pairs_of_keys(&self, keys: &[Key], params: &mut Params) -> String {
        let cond = self.subset_and(|params| self.key_in(keys, params), params);
        format!("SELECT {}, {} FROM {} WHERE {cond}", self.key_text(), self.pair_hash(), self.table)
    }

    /// The first `limit` whole rows (as text) of a range, in key order.
    /// Every row of a range, its columns as stored, in key order: what a
    /// bulk export (`COPY (...) TO STDOUT`) reads.
    pub fn raw_rows_in_range(&self, range: &KeyRange, params: &mut Params) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|c| c.ident.as_str()).collect();
        let pred = self.range_predicate(range, params);
        format!("SELECT {} FROM {} WHERE {pred} ORDER BY {}", cols.join(", "), self.table, self.order_by())
    }

    /// What identifies the bulk format of these columns: their declared
    /// types, modifiers included (a numeric(12,2) exported into a
    /// numeric(10,1) would be rounded without an error).
    pub fn declared_types(&self) -> String {
        self.columns.iter().map(|c| c.declared.as_str()).collect::<Vec<_>>().join(", ")
    }

    pub fn rows_in_range(&self, range: &KeyRange, limit: u64, params: &mut Params) -> String {
        format!("SELECT {} FROM {} ORDER BY {}", self.all_text(), self.first_rows(range, limit, params), self.order_by())
    }

    /// The largest key of the subset, as text.
    pub fn last_key(&self, params: &mut Params) -> String {
        let pred = self.range_predicate(&KeyRange::full(), params);
        let order: Vec<String> = self.key.iter().map(|c| format!("{} DESC", self.dialect.order_expr(c))).collect();
        format!("SELECT {} FROM {} WHERE {pred} ORDER BY {} LIMIT 1", self.key_text(), self.table, order.join(", "))
    }

    /// The largest value of `c` as text (none for an empty table).
    pub fn max_of(&self, c: &ServerColumn) -> String {
        format!("SELECT {} FROM {} WHERE {col} IS NOT NULL ORDER BY {col} DESC LIMIT 1", self.dialect.text_expr(c), self.table, col = c.ident)
    }

    pub fn fetch(&self, keys: &[Key], params: &mut Params) -> String {
        let cond = self.subset_and(|params| self.key_in(keys, params), params);
        format!("SELECT {} FROM {} WHERE {cond}", self.all_text(), self.table)
    }

    /// A condition on keys, inside the projection's subset (its filter and
    /// `--lite` bound): a row read back by key after a write, or fetched,
    /// is one of the subset only if it still is, as the range reads see it.
    fn subset_and(&self, cond: impl FnOnce(&mut Params) -> String, params: &mut Params) -> String {
        let mut parts: Vec<String> = self.filter.iter().cloned().collect();
        if let Some((c, v)) = &self.since {
            parts.push(format!("{} >= {}", c.ident, self.dialect.write_param(c, params.push(self.dialect.as_ref(), v))));
        }
        parts.push(cond(params));
        parts.join(" AND ")
    }

    pub fn upsert(&self, rows: &[Row], params: &mut Params) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.ident.as_str()).collect();
        let keys: Vec<&str> = self.key.iter().map(|c| c.ident.as_str()).collect();
        let tuples: Vec<String> = rows
            .iter()
            .map(|row| {
                let marks: Vec<String> =
                    self.columns.iter().zip(row).map(|(c, v)| self.dialect.write_param(c, params.push(self.dialect.as_ref(), v))).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES {} {}",
            self.written,
            names.join(", "),
            tuples.join(", "),
            self.dialect.upsert_tail(&keys, &names)
        )
    }

    /// The dialect's upsert of one array per column, if it has one.
    pub fn upsert_from_arrays(&self) -> Option<String> {
        let keys: Vec<&str> = self.key.iter().map(|c| c.ident.as_str()).collect();
        self.dialect.upsert_from_arrays(&self.written, &self.columns, &keys)
    }

    /// Rows as one array of bound texts per column.
    pub fn columns_of(&self, rows: &[Row]) -> Vec<Vec<Option<String>>> {
        let mut out = vec![Vec::with_capacity(rows.len()); self.columns.len()];
        for row in rows {
            for (column, v) in out.iter_mut().zip(row) {
                column.push(self.dialect.render(v));
            }
        }
        out
    }

    pub fn delete(&self, keys: &[Key], params: &mut Params) -> String {
        format!("DELETE FROM {} WHERE {}", self.written, self.key_in(keys, params))
    }
}

/// `sql` with each PostgreSQL placeholder (`$1`, `$2`, ...) replaced by its
/// value as an escape-string literal (`E'...'`, or NULL), for statements
/// that take no parameters (COPY). Placeholders inside quoted literals,
/// quoted identifiers and dollar-quoted strings are left alone; `None`
/// when a placeholder has no value.
pub fn inline_pg_params(sql: &str, params: &Params) -> Option<String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + params.values.len() * 16);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' | b'"' => {
                // Copied up to the closing quote (a doubled quote stays inside).
                let mut j = i + 1;
                while j < bytes.len() {
                    if bytes[j] == b && bytes.get(j + 1) == Some(&b) {
                        j += 2;
                    } else if bytes[j] == b {
                        break;
                    } else {
                        j += 1;
                    }
                }
                let end = (j + 1).min(bytes.len());
                out.push_str(&sql[i..end]);
                i = end;
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                let n: usize = sql[i + 1..j].parse().ok()?;
                match params.values.get(n.checked_sub(1)?)? {
                    None => out.push_str("NULL"),
                    Some(text) => {
                        out.push_str("E'");
                        for c in text.chars() {
                            match c {
                                '\'' => out.push_str("''"),
                                '\\' => out.push_str("\\\\"),
                                c => out.push(c),
                            }
                        }
                        out.push('\'');
                    }
                }
                i = j;
            }
            b'$' => {
                // A dollar-quoted string ($tag$ ... $tag$) is copied whole.
                let tag_end = sql[i + 1..].find('$').map(|k| i + 1 + k);
                match tag_end.filter(|&e| sql[i + 1..e].chars().all(|c| c.is_alphanumeric() || c == '_')) {
                    Some(e) => {
                        let tag = &sql[i..=e];
                        let close = sql[e + 1..].find(tag).map_or(sql.len(), |k| e + 1 + k + tag.len());
                        out.push_str(&sql[i..close]);
                        i = close;
                    }
                    None => {
                        out.push('$');
                        i += 1;
                    }
                }
            }
            _ => {
                let next = sql[i..].find(['\'', '"', '$']).map_or(sql.len(), |k| i + k.max(1));
                out.push_str(&sql[i..next]);
                i = next;
            }
        }
    }
    Some(out)
}

/// A value's text escaped for COPY's text format.
fn copy_escape(text: &str, out: &mut Vec<u8>) {
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_inlined_as_escape_strings_outside_quotes() {
        let params = Params { values: vec![Some("it's a \\ test".into()), None, Some("10".into())] };
        let sql = r#"SELECT "a$1" FROM t WHERE x = '$2' AND y >= $1::text AND z = $2 AND w < $3::int8 AND v = $q$ $1 $q$ AND u = $$ $3 $$"#;
        let inlined = inline_pg_params(sql, &params).unwrap();
        assert_eq!(
            inlined,
            r#"SELECT "a$1" FROM t WHERE x = '$2' AND y >= E'it''s a \\ test'::text AND z = NULL AND w < E'10'::int8 AND v = $q$ $1 $q$ AND u = $$ $3 $$"#
        );
        assert_eq!(inline_pg_params("WHERE a = $4", &params), None, "a placeholder without a value");
        assert_eq!(inline_pg_params("WHERE a = 'unterminated $1", &params).as_deref(), Some("WHERE a = 'unterminated $1"));
    }
}
