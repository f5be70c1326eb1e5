//! Primary keys (single or composite) and their store order.

use std::cmp::Ordering;
use std::fmt;

use super::value::Value;

/// The primary-key values of one row, in key-column order.
#[derive(Clone, Debug, PartialEq)]
pub struct Key(pub Vec<Value>);

impl Key {
    pub fn new(values: Vec<Value>) -> Self {
        Key(values)
    }

    pub fn values(&self) -> &[Value] {
        &self.0
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Lexicographic over the key columns, each compared as the store's
/// `ORDER BY ... COLLATE BINARY` would. The engine's merge of two ordered
/// streams relies on this matching the stores' order exactly; it checks the
/// order as it reads and stops with an error if a store disagrees.
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.0.iter().zip(&other.0) {
            match a.cmp_key(b) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() == 1 {
            return f.write_str(&self.0[0].display());
        }
        f.write_str("(")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&v.display())?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_keys_order_column_by_column() {
        let k = |a: i64, b: &str| Key(vec![Value::Int(a), Value::Text(b.into())]);
        assert!(k(1, "z") < k(2, "a"));
        assert!(k(1, "a") < k(1, "b"));
        assert!(k(1, "B") < k(1, "a"), "binary collation: upper case sorts first");
        assert_eq!(k(1, "x").cmp(&k(1, "x")), Ordering::Equal);
        assert_eq!(k(7, "a").to_string(), "(7, \"a\")");
        assert_eq!(Key(vec![Value::Int(7)]).to_string(), "7");
    }
}
