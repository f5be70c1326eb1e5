//! Key ranges: the unit the engine compares.

use std::fmt;

use super::key::Key;

/// Lower end of a range. `Excluded` is used when a long range is resumed
/// after its last fully compared key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lower {
    Unbounded,
    Included(Key),
    Excluded(Key),
}

/// A half-open interval of keys: from `lo` up to, not including, `hi`
/// (`None` = no upper end). Boundaries are real keys read from a store's
/// index, never computed by key arithmetic, so gaps and text keys cost
/// nothing extra.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    pub lo: Lower,
    pub hi: Option<Key>,
}

impl KeyRange {
    /// Every key.
    pub fn full() -> Self {
        KeyRange { lo: Lower::Unbounded, hi: None }
    }

    pub fn new(lo: Lower, hi: Option<Key>) -> Self {
        KeyRange { lo, hi }
    }

    pub fn contains(&self, k: &Key) -> bool {
        let above = match &self.lo {
            Lower::Unbounded => true,
            Lower::Included(lo) => k >= lo,
            Lower::Excluded(lo) => k > lo,
        };
        above && self.hi.as_ref().is_none_or(|hi| k < hi)
    }

    /// Splits this range at the given boundary keys (sorted, inside the
    /// range): `[lo, b1) [b1, b2) ... [bn, hi)`.
    pub fn split_at(&self, boundaries: Vec<Key>) -> Vec<KeyRange> {
        let mut out = Vec::with_capacity(boundaries.len() + 1);
        let mut lo = self.lo.clone();
        for b in boundaries {
            out.push(KeyRange { lo, hi: Some(b.clone()) });
            lo = Lower::Included(b);
        }
        out.push(KeyRange { lo, hi: self.hi.clone() });
        out
    }

    /// The rest of this range after `k` (used to resume a range in pieces).
    pub fn after(&self, k: Key) -> KeyRange {
        KeyRange { lo: Lower::Excluded(k), hi: self.hi.clone() }
    }
}

/// What is left of sorted, disjoint `ranges` after key `k`: the ranges
/// wholly at or below it dropped, the one holding it cut after it.
pub fn ranges_after(ranges: &[KeyRange], k: &Key) -> Vec<KeyRange> {
    ranges
        .iter()
        .filter(|r| r.hi.as_ref().is_none_or(|hi| hi > k))
        .map(|r| if r.contains(k) { r.after(k.clone()) } else { r.clone() })
        .collect()
}

impl fmt::Display for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.lo {
            Lower::Unbounded => f.write_str("[start")?,
            Lower::Included(k) => write!(f, "[{k}")?,
            Lower::Excluded(k) => write!(f, "({k}")?,
        }
        match &self.hi {
            None => f.write_str(", end]"),
            Some(k) => write!(f, ", {k})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::value::Value;

    fn k(i: i64) -> Key {
        Key(vec![Value::Int(i)])
    }

    #[test]
    fn split_covers_every_key_exactly_once() {
        let r = KeyRange::full();
        let parts = r.split_at(vec![k(10), k(20)]);
        assert_eq!(parts.len(), 3);
        for i in -5..30 {
            let hits = parts.iter().filter(|p| p.contains(&k(i))).count();
            assert_eq!(hits, 1, "key {i} must be in exactly one part");
        }
        assert!(parts[1].contains(&k(10)) && !parts[1].contains(&k(20)));
        assert_eq!(parts[1].to_string(), "[10, 20)");
    }

    #[test]
    fn resumed_range_excludes_the_last_done_key() {
        let r = KeyRange::new(Lower::Included(k(0)), Some(k(100)));
        let rest = r.after(k(42));
        assert!(!rest.contains(&k(42)) && rest.contains(&k(43)) && !rest.contains(&k(100)));
        assert_eq!(rest.to_string(), "(42, 100)");
    }
}
