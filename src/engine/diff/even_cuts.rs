//! Finest cuts of a window by arithmetic, for a one-column integer key.
//!
//! A window of the one-scan pass is cut into buckets that both sides
//! fingerprint in one statement. Any cut keys work, as long as both sides
//! use the same ones; cutting every `finest` rows by `row_number()` costs a
//! read of the source's index per window (a fifth of the scan on
//! PostgreSQL). For an integer key the window's key span is cut evenly
//! instead, at no cost: with dense or evenly spread keys each bucket holds
//! about `finest` rows, and where keys bunch up a bucket holds more, which
//! costs nothing when it matches and is cut again when it does not. The
//! first and last windows, open on one side, are cut by the source's rows.

use crate::engine::key::Key;
use crate::engine::range::{KeyRange, Lower};
use crate::engine::value::Value;

/// `buckets - 1` cuts (fewer when the span is narrower) spreading a
/// window's key span evenly. `None` unless both of the window's bounds are
/// one-column integers: the bounds are keys the source holds, so every cut
/// between them is a value of the key column's type (an open end would
/// have to be guessed, and a guess could leave the type: a negative cut
/// for an unsigned column compares as a huge number on MySQL and puts rows
/// into the wrong buckets).
pub fn even_cuts(window: &KeyRange, buckets: u64) -> Option<Vec<Key>> {
    let base = match &window.lo {
        Lower::Included(k) | Lower::Excluded(k) => int_of(k)?,
        Lower::Unbounded => return None,
    };
    let top = int_of(window.hi.as_ref()?)?;
    let width = ((top - base) / buckets.max(1) as i128).max(1);
    let cuts = (1..buckets as i128)
        .map(|i| base + i * width)
        .take_while(|c| *c < top)
        .filter_map(key_of)
        .filter(|k| window.contains(k))
        .collect();
    Some(cuts)
}

fn int_of(key: &Key) -> Option<i128> {
    match key.values() {
        [Value::Int(i)] => Some(*i as i128),
        [Value::UInt(u)] => Some(*u as i128),
        _ => None,
    }
}

/// An integer as a key value, `Int` where it fits (as the stores read it).
fn key_of(n: i128) -> Option<Key> {
    let value = match i64::try_from(n) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::UInt(u64::try_from(n).ok()?),
    };
    Some(Key(vec![value]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(n: i64) -> Key {
        Key(vec![Value::Int(n)])
    }

    fn window(lo: Option<i64>, hi: Option<i64>) -> KeyRange {
        KeyRange::new(lo.map_or(Lower::Unbounded, |n| Lower::Included(int(n))), hi.map(int))
    }

    fn cuts(w: &KeyRange, buckets: u64) -> Vec<i64> {
        even_cuts(w, buckets).unwrap().iter().map(|k| int_of(k).unwrap() as i64).collect()
    }

    #[test]
    fn a_bounded_window_is_cut_evenly_inside_itself() {
        assert_eq!(cuts(&window(Some(100), Some(200)), 4), [125, 150, 175]);
        assert_eq!(cuts(&window(Some(-200), Some(-100)), 4), [-175, -150, -125]);
        // Narrower than the bucket count: one key per bucket.
        assert_eq!(cuts(&window(Some(10), Some(13)), 100), [11, 12]);
    }

    #[test]
    fn open_windows_and_other_keys_are_not_cut_by_arithmetic() {
        assert!(even_cuts(&window(None, Some(1000)), 4).is_none());
        assert!(even_cuts(&window(Some(1000), None), 4).is_none());
        let text = KeyRange::new(Lower::Included(Key(vec![Value::Text("a".into())])), Some(Key(vec![Value::Text("b".into())])));
        assert!(even_cuts(&text, 2).is_none());
    }

    #[test]
    fn cuts_past_i64_are_unsigned() {
        let w = KeyRange::new(Lower::Included(int(i64::MAX - 1)), Some(Key(vec![Value::UInt(i64::MAX as u64 + 3)])));
        let got = even_cuts(&w, 4).unwrap();
        assert_eq!(got, [int(i64::MAX), Key(vec![Value::UInt(i64::MAX as u64 + 1)]), Key(vec![Value::UInt(i64::MAX as u64 + 2)])]);
    }
}
