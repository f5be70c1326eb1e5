//! Pairing a source table with its target: the checks that must pass
//! before a single row is compared, so bad input stops the run early with
//! one sentence instead of half-writing a table.

use super::error::EngineError;
use super::fingerprint::{Checksum, HashScheme};
use super::store::{Capabilities, Projection, TableSchema, TypeClass};

/// The projection both sides are read through: the source's columns in
/// the source's order, matched by name on the target.
pub fn projection(
    source: &TableSchema,
    target: Option<&TableSchema>,
    hash: HashScheme,
    source_url: &str,
    target_url: &str,
) -> Result<Projection, EngineError> {
    let name = &source.name;
    if source.key.is_empty() {
        return Err(EngineError::Usage(format!(
            "table {name} in {source_url} has no primary key; rangesync matches rows by primary key (a rowid alone is not stable across copies)"
        )));
    }
    let projection = Projection {
        table: name.clone(),
        columns: source.columns.iter().map(|c| c.name.clone()).collect(),
        key: source.key.clone(),
        hash,
        filter: None,
        since: None,
        query: None,
    };
    let Some(target) = target else { return Ok(projection) };
    if target.key.is_empty() {
        return Err(EngineError::Usage(format!("table {name} in {target_url} has no primary key")));
    }
    if let Some(c) = source.columns.iter().find(|c| target.column(&c.name).is_none()) {
        return Err(EngineError::Usage(format!(
            "table {name}: column {} exists in {source_url} but not in {target_url}",
            c.name
        )));
    }
    if let Some(c) = target.columns.iter().find(|c| source.column(&c.name).is_none()) {
        return Err(EngineError::Usage(format!(
            "table {name}: column {} exists in {target_url} but not in {source_url}",
            c.name
        )));
    }
    if source.key != target.key {
        return Err(EngineError::Usage(format!(
            "table {name}: the primary key is ({}) in {source_url} but ({}) in {target_url}",
            source.key.join(", "),
            target.key.join(", ")
        )));
    }
    for c in &source.columns {
        let t = target.column(&c.name).expect("checked above");
        if matches!((c.class, t.class), (TypeClass::Numeric, TypeClass::NumericAffinity) | (TypeClass::NumericAffinity, TypeClass::Numeric)) {
            return Err(EngineError::Usage(format!(
                "table {name}: column {} is {} in {source_url} and {} in {target_url}; SQLite stores NUMERIC values as \
                 integers or floats, which never equal an exact decimal: declare the SQLite column DECIMAL TEXT (exact, \
                 kept as text), TEXT or REAL",
                c.name,
                shown_type(&c.declared_type),
                shown_type(&t.declared_type)
            )));
        }
        if c.class != t.class {
            return Err(EngineError::Usage(format!(
                "table {name}: column {} is {} in {source_url} but {} in {target_url}; values would not compare equal",
                c.name,
                shown_type(&c.declared_type),
                shown_type(&t.declared_type)
            )));
        }
    }
    Ok(projection)
}

/// The exact hash scheme two stores share: the one both compute in place,
/// or md5, which every server computes (a store that cannot serves it by
/// streaming rows to be hashed).
pub fn exact_scheme(source: Capabilities, target: Option<Capabilities>) -> HashScheme {
    match target {
        Some(t) if t.native_hash == source.native_hash => source.native_hash,
        None => source.native_hash,
        Some(_) => HashScheme::Md5,
    }
}

/// The hash scheme a table is compared with, and why it is not the fast
/// one when `fast` was asked but cannot serve (a note for the report).
///
/// `fast` needs the same fast scheme on both sides (stores of one engine).
/// A scheme hashing an engine's own rendering of values (not the canonical
/// encoding) also needs every compared column declared alike on both sides:
/// a `numeric(12,2)` renders `1.50` where a `numeric(12,3)` renders
/// `1.500`, and such a table would never compare equal.
pub fn hash_scheme(
    checksum: Checksum,
    source: Capabilities,
    target: Option<Capabilities>,
    source_table: &TableSchema,
    target_table: Option<&TableSchema>,
) -> (HashScheme, Option<String>) {
    let exact = exact_scheme(source, target);
    if checksum == Checksum::Exact {
        return (exact, None);
    }
    // A TARGET store not created yet may be of any engine: exact.
    let fast = match (source.fast_hash, target.and_then(|t| t.fast_hash)) {
        (Some(s), Some(t)) if s == t => s,
        _ => return (exact, None),
    };
    if fast.is_canonical() {
        return (fast, None);
    }
    let Some(target_table) = target_table else { return (fast, None) };
    let differing = source_table.columns.iter().find_map(|c| {
        let t = target_table.column(&c.name)?;
        (!t.declared_type.eq_ignore_ascii_case(&c.declared_type)).then(|| (c, t))
    });
    match differing {
        None => (fast, None),
        Some((s, t)) => (
            exact,
            Some(format!(
                "table {}: column {} is declared {} on SOURCE and {} on TARGET, so it was compared with --checksum exact \
                 (the fast checksum hashes each engine's rendering of a type)",
                source_table.name, s.name, s.declared_type, t.declared_type
            )),
        ),
    }
}

fn shown_type(t: &str) -> &str {
    if t.trim().is_empty() { "untyped" } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::store::{Column, TypeClass};

    fn table(cols: &[(&str, TypeClass)], key: &[&str]) -> TableSchema {
        TableSchema {
            name: "t".into(),
            columns: cols
                .iter()
                .map(|(n, c)| Column { name: n.to_string(), declared_type: format!("{c:?}").to_uppercase(), class: *c, not_null: false })
                .collect(),
            key: key.iter().map(|s| s.to_string()).collect(),
            definition: vec![],
            dialect: "sqlite",
        }
    }

    #[test]
    fn pairs_columns_by_name_in_source_order() {
        let s = table(&[("id", TypeClass::Integer), ("b", TypeClass::Text)], &["id"]);
        let t = table(&[("b", TypeClass::Text), ("id", TypeClass::Integer)], &["id"]);
        let p = projection(&s, Some(&t), HashScheme::Blake3, "S", "T").unwrap();
        assert_eq!(p.columns, ["id", "b"]);
        assert_eq!(p.key_positions(), [0]);
    }

    #[test]
    fn refuses_mismatches_with_one_sentence() {
        let s = table(&[("id", TypeClass::Integer), ("b", TypeClass::Text)], &["id"]);
        let no_key = table(&[("id", TypeClass::Integer)], &[]);
        let err = |t: &TableSchema| projection(&s, Some(t), HashScheme::Blake3, "S", "T").unwrap_err().to_string();
        assert!(projection(&no_key, None, HashScheme::Blake3, "S", "T").unwrap_err().to_string().contains("no primary key"));
        assert!(err(&table(&[("id", TypeClass::Integer)], &["id"])).contains("column b exists in S but not in T"));
        let extra = table(&[("id", TypeClass::Integer), ("b", TypeClass::Text), ("c", TypeClass::Text)], &["id"]);
        assert!(err(&extra).contains("column c exists in T but not in S"));
        let retyped = table(&[("id", TypeClass::Integer), ("b", TypeClass::Integer)], &["id"]);
        assert!(err(&retyped).contains("column b is TEXT in S but INTEGER in T"));
        let rekeyed = table(&[("id", TypeClass::Integer), ("b", TypeClass::Text)], &["id", "b"]);
        assert!(err(&rekeyed).contains("primary key is (id) in S but (id, b) in T"));
    }
}
