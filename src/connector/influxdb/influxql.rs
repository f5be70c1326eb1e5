//! InfluxQL text: quoted identifiers and strings, durations, and the
//! conditions naming series and windows.

use crate::engine::series::window::{DAY, HOUR, MINUTE, NANOS_PER_SECOND, WEEK};
use crate::engine::series::{Series, Window};

/// `"name"`, with `"` and `\` escaped.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `'text'`, with `'` and `\` escaped.
pub fn string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A duration literal InfluxQL reads, in the largest unit dividing it.
pub fn duration(ns: i64) -> String {
    const UNITS: [(&str, i64); 7] =
        [("w", WEEK), ("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", NANOS_PER_SECOND), ("ms", 1_000_000), ("u", 1_000)];
    for (unit, factor) in UNITS {
        if ns % factor == 0 {
            return format!("{}{unit}", ns / factor);
        }
    }
    format!("{ns}ns")
}

/// `time >= a AND time < b`, in nanoseconds: the half-open window.
pub fn window(w: Window) -> String {
    format!("time >= {} AND time < {}", w.start, w.end)
}

/// `("host" = 'a' AND "dc" = '')`: exactly one series, its absent tags
/// pinned empty (InfluxQL matches an absent tag with `''`).
pub fn exact_series(series: &Series, tag_keys: &[String]) -> String {
    let mut parts: Vec<String> = tag_keys
        .iter()
        .map(|k| {
            let v = series.tags.iter().find(|(tk, _)| tk == k).map(|(_, v)| v.as_str()).unwrap_or("");
            format!("{} = {}", ident(k), string(v))
        })
        .collect();
    for (k, v) in &series.tags {
        if !tag_keys.contains(k) {
            parts.push(format!("{} = {}", ident(k), string(v)));
        }
    }
    if parts.is_empty() {
        return "true".into();
    }
    format!("({})", parts.join(" AND "))
}

/// A condition matching at least the given series (maybe more: series
/// with further tags), or `None` when one has no tags and cannot be
/// named apart from the rest.
pub fn some_series(series: &[Series]) -> Option<String> {
    if series.is_empty() || series.iter().any(|s| s.tags.is_empty()) {
        return None;
    }
    let each: Vec<String> = series
        .iter()
        .map(|s| {
            let tags: Vec<String> = s.tags.iter().map(|(k, v)| format!("{} = {}", ident(k), string(v))).collect();
            format!("({})", tags.join(" AND "))
        })
        .collect();
    Some(format!("({})", each.join(" OR ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_durations() {
        assert_eq!(ident(r#"we"ird\m"#), r#""we\"ird\\m""#);
        assert_eq!(string("it's"), r"'it\'s'");
        assert_eq!(duration(86_400_000_000_000), "1d");
        assert_eq!(duration(90 * 60_000_000_000), "90m");
        assert_eq!(duration(1_500), "1500ns");
        assert_eq!(duration(2_000), "2u");
        let s = Series::new("cpu", [("host".to_string(), "a".to_string())]);
        assert_eq!(exact_series(&s, &["dc".into(), "host".into()]), r#"("dc" = '' AND "host" = 'a')"#);
        assert_eq!(some_series(&[s]).unwrap(), r#"(("host" = 'a'))"#);
        assert_eq!(some_series(&[Series::new("cpu", [])]), None);
    }
}
