//! SQL text for SQLite: quoting, key order and range predicates.

use crate::engine::range::{KeyRange, Lower};
use crate::engine::store::Projection;
use crate::engine::value::Value;
use crate::engine::Key;

/// Quotes an identifier: `my "odd" name` → `"my ""odd"" name"`.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQL pieces of one projected table, built once per dataset.
#[derive(Clone, Debug)]
pub struct TableSql {
    /// What reads read: the table, or a rule's query aliased as it.
    pub table: String,
    /// What writes write: the table itself.
    pub written: String,
    /// Quoted projected columns, comma-separated.
    pub columns: String,
    /// Key expressions in key order; `COLLATE BINARY` is added where the
    /// column's own collation is not binary, so SQLite orders and compares
    /// keys byte-wise like the engine does.
    pub key_exprs: Vec<String>,
    pub key_columns: Vec<String>,
    /// Where each key column sits among the projected columns.
    pub key_positions: Vec<usize>,
    pub column_names: Vec<String>,
    /// The projection's condition, parenthesised.
    pub filter: Option<String>,
    /// `--lite`: the quoted column and the value it must reach.
    pub since: Option<(String, Value)>,
}

impl TableSql {
    pub fn new(p: &Projection, binary_collation: &[bool]) -> Self {
        let key_exprs = p
            .key
            .iter()
            .zip(binary_collation)
            .map(|(k, &binary)| if binary { ident(k) } else { format!("{} COLLATE BINARY", ident(k)) })
            .collect();
        TableSql {
            written: ident(&p.table),
            // A query read in place of the table keeps its name as alias.
            table: match &p.query {
                Some(q) => format!("({q}) AS {}", ident(&p.table)),
                None => ident(&p.table),
            },
            columns: p.columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", "),
            key_exprs,
            key_columns: p.key.iter().map(|c| ident(c)).collect(),
            key_positions: p.key_positions(),
            column_names: p.columns.clone(),
            filter: p.filter.as_ref().map(|f| format!("({f})")),
            since: p.since.as_ref().map(|(c, v)| (ident(c), v.clone())),
        }
    }

    pub fn key_list(&self) -> String {
        self.key_columns.join(", ")
    }

    pub fn order_by(&self) -> String {
        self.key_exprs.join(", ")
    }

    /// The WHERE condition selecting `range`, with its parameters appended
    /// to `binds`. Composite keys use row values, which SQLite matches
    /// against the primary-key index.
    pub fn range_predicate(&self, range: &KeyRange, binds: &mut Vec<Value>) -> String {
        let mut parts = Vec::new();
        if let Some((column, value)) = &self.since {
            parts.push(format!("{column} >= ?"));
            binds.push(value.clone());
        }
        match &range.lo {
            Lower::Unbounded => {}
            Lower::Included(k) => parts.push(self.compare(">=", k, binds)),
            Lower::Excluded(k) => parts.push(self.compare(">", k, binds)),
        }
        if let Some(hi) = &range.hi {
            parts.push(self.compare("<", hi, binds));
        }
        // The condition first: its own parameters are none, and the
        // others keep their order.
        parts.splice(0..0, self.filter.clone());
        if parts.is_empty() {
            "1".into()
        } else {
            parts.join(" AND ")
        }
    }

    fn compare(&self, op: &str, key: &Key, binds: &mut Vec<Value>) -> String {
        binds.extend(key.0.iter().cloned());
        if self.key_exprs.len() == 1 {
            format!("{} {op} ?", self.key_exprs[0])
        } else {
            let marks = vec!["?"; key.0.len()].join(", ");
            format!("({}) {op} ({marks})", self.key_exprs.join(", "))
        }
    }

    /// `WHERE` condition matching any of `keys`, compared byte-wise like
    /// the engine compares them: under a NOCASE key, `'bob'` must not match
    /// the row `'Bob'` (or a delete of the one would remove the other).
    pub fn key_in(&self, keys: &[Key], binds: &mut Vec<Value>) -> String {
        for k in keys {
            binds.extend(k.0.iter().cloned());
        }
        if self.key_exprs.len() == 1 {
            format!("{} IN ({})", self.key_exprs[0], vec!["?"; keys.len()].join(", "))
        } else {
            let tuple = format!("({})", vec!["?"; self.key_exprs.len()].join(", "));
            format!("({}) IN (VALUES {})", self.order_by(), vec![tuple.as_str(); keys.len()].join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proj(key: &[&str]) -> Projection {
        Projection {
            table: "my \"t\"".into(),
            columns: vec!["a".into(), "b".into(), "c".into()],
            key: key.iter().map(|s| s.to_string()).collect(),
            hash: Default::default(),
            filter: None,
        since: None,
        query: None,
        }
    }

    #[test]
    fn quotes_identifiers_with_quotes_and_spaces() {
        assert_eq!(ident("order"), "\"order\"");
        assert_eq!(ident("my \"t\""), "\"my \"\"t\"\"\"");
        assert_eq!(TableSql::new(&proj(&["a"]), &[true]).table, "\"my \"\"t\"\"\"");
    }

    #[test]
    fn range_predicates_for_single_and_composite_keys() {
        let s = TableSql::new(&proj(&["a"]), &[true]);
        let mut b = Vec::new();
        let r = KeyRange::new(Lower::Included(Key(vec![Value::Int(1)])), Some(Key(vec![Value::Int(9)])));
        assert_eq!(s.range_predicate(&r, &mut b), "\"a\" >= ? AND \"a\" < ?");
        assert_eq!(b, vec![Value::Int(1), Value::Int(9)]);
        assert_eq!(s.range_predicate(&KeyRange::full(), &mut Vec::new()), "1");
        let subset = TableSql::new(&Projection { filter: Some("c > 2 OR c IS NULL".into()), ..proj(&["a"]) }, &[true]);
        assert_eq!(subset.range_predicate(&r, &mut Vec::new()), "(c > 2 OR c IS NULL) AND \"a\" >= ? AND \"a\" < ?");
        assert_eq!(subset.range_predicate(&KeyRange::full(), &mut Vec::new()), "(c > 2 OR c IS NULL)");

        let s = TableSql::new(&proj(&["a", "b"]), &[true, false]);
        let mut b = Vec::new();
        let k = Key(vec![Value::Int(1), Value::Text("x".into())]);
        let r = KeyRange::new(Lower::Excluded(k), None);
        assert_eq!(s.range_predicate(&r, &mut b), "(\"a\", \"b\" COLLATE BINARY) > (?, ?)");
        let mut b = Vec::new();
        let keys = vec![Key(vec![Value::Int(1), Value::Int(2)]); 2];
        assert_eq!(s.key_in(&keys, &mut b), "(\"a\", \"b\" COLLATE BINARY) IN (VALUES (?, ?), (?, ?))");
        assert_eq!(b.len(), 4);
    }
}
