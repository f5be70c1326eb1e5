//! Reading table definitions out of SQLite's catalog.

use sqlx::sqlite::SqlitePool;

use super::store_error;
use crate::engine::store::{Column, StoreResult, TableSchema, TypeClass};

/// The schema of `name`, or `None` if there is no such table.
pub async fn read(pool: &SqlitePool, name: &str, url: &str) -> StoreResult<Option<TableSchema>> {
    let context = format!("the schema of table {name} in {url}");
    let definition: Vec<(String, String)> = sqlx::query_as(
        "SELECT type, sql FROM sqlite_schema WHERE tbl_name = ? AND type IN ('table', 'index') AND sql IS NOT NULL \
         ORDER BY type = 'index', name",
    )
    .bind(name)
    .fetch_all(pool)
    .await
    .map_err(|e| store_error(false, &context, e))?;
    if !definition.iter().any(|(kind, _)| kind == "table") {
        return Ok(None);
    }
    // table_info leaves out generated columns: they are computed, never written.
    let cols: Vec<(String, String, i64, i64)> =
        sqlx::query_as("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid")
            .bind(name)
            .fetch_all(pool)
            .await
            .map_err(|e| store_error(false, &context, e))?;
    let mut key: Vec<(i64, String)> = cols.iter().filter(|c| c.3 > 0).map(|c| (c.3, c.0.clone())).collect();
    key.sort();
    Ok(Some(TableSchema {
        name: name.to_string(),
        columns: cols
            .into_iter()
            .map(|(name, declared_type, not_null, _)| Column {
                class: class_of(&declared_type),
                name,
                declared_type,
                not_null: not_null != 0,
            })
            .collect(),
        key: key.into_iter().map(|(_, k)| k).collect(),
        definition: definition.into_iter().map(|(_, sql)| sql).collect(),
        dialect: "sqlite",
    }))
}

/// For each key column, whether the primary-key index already orders it
/// byte-wise (true for the default BINARY collation and for rowid keys).
pub async fn binary_key_collation(pool: &SqlitePool, table: &str, key: &[String], url: &str) -> StoreResult<Vec<bool>> {
    let context = format!("the primary key of table {table} in {url}");
    let index: Option<(String,)> = sqlx::query_as("SELECT name FROM pragma_index_list(?) WHERE origin = 'pk'")
        .bind(table)
        .fetch_optional(pool)
        .await
        .map_err(|e| store_error(false, &context, e))?;
    let Some((index,)) = index else {
        // INTEGER PRIMARY KEY: the rowid itself, an integer.
        return Ok(vec![true; key.len()]);
    };
    let colls: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT name, coll FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno")
            .bind(&index)
            .fetch_all(pool)
            .await
            .map_err(|e| store_error(false, &context, e))?;
    Ok(key
        .iter()
        .map(|k| {
            colls
                .iter()
                .find(|(name, _)| name.as_deref() == Some(k.as_str()))
                .and_then(|(_, coll)| coll.as_deref())
                .is_none_or(|c| c.eq_ignore_ascii_case("BINARY"))
        })
        .collect())
}

/// The class of a declared SQLite type: the types SQLite applications keep
/// by convention (dates as ISO text, booleans as 0/1, ...; read as such by
/// [`super::typed`]), then SQLite's own affinity rules.
pub fn class_of(declared: &str) -> TypeClass {
    let t = declared.to_ascii_uppercase();
    let affinity = affinity(&t);
    if affinity == TypeClass::Integer {
        return affinity;
    }
    let has = |w: &str| t.contains(w);
    if has("BOOL") {
        TypeClass::Bool
    } else if has("JSON") {
        TypeClass::Json
    } else if has("UUID") || has("GUID") {
        TypeClass::Uuid
    } else if has("TIMESTAMPTZ") || has("WITH TIME ZONE") {
        TypeClass::TimestampTz
    } else if has("TIMESTAMP") || has("DATETIME") {
        TypeClass::Timestamp
    } else if has("DATE") {
        TypeClass::Date
    } else if has("TIME") {
        TypeClass::Time
    } else if (has("DEC") || has("NUMERIC")) && matches!(affinity, TypeClass::Text | TypeClass::NumericAffinity) {
        // `DECIMAL TEXT(10,2)`: text affinity keeps `1.50` as written.
        // `NUMERIC(10,2)`, `DECIMAL`: SQLite keeps integers and floats,
        // read as the decimals they print as (typed::Kind::Number).
        TypeClass::Numeric
    } else {
        affinity
    }
}

/// SQLite's column affinity rules (section 3.1 of its datatype documentation),
/// applied in their documented order.
pub fn affinity(declared: &str) -> TypeClass {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        TypeClass::Integer
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        TypeClass::Text
    } else if t.trim().is_empty() {
        TypeClass::Any
    } else if t.contains("BLOB") {
        // BLOB affinity keeps values as given, like no type at all; as a
        // declared type it pairs with binary columns of other stores.
        TypeClass::Blob
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        TypeClass::Float
    } else {
        TypeClass::NumericAffinity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_follows_sqlite_rules() {
        assert_eq!(affinity("INTEGER"), TypeClass::Integer);
        assert_eq!(affinity("BIGINT"), TypeClass::Integer);
        assert_eq!(affinity("POINT"), TypeClass::Integer, "the INT rule wins, as in SQLite");
        assert_eq!(affinity("varchar(20)"), TypeClass::Text);
        assert_eq!(affinity("BLOB"), TypeClass::Blob);
        assert_eq!(affinity(""), TypeClass::Any);
        assert_eq!(affinity("DOUBLE PRECISION"), TypeClass::Float);
        assert_eq!(affinity("DECIMAL(10,2)"), TypeClass::NumericAffinity);
        assert_eq!(affinity("DATETIME"), TypeClass::NumericAffinity);
    }

    #[test]
    fn conventional_types_have_their_class() {
        assert_eq!(class_of("BOOLEAN"), TypeClass::Bool);
        assert_eq!(class_of("DATETIME"), TypeClass::Timestamp);
        assert_eq!(class_of("timestamp"), TypeClass::Timestamp);
        assert_eq!(class_of("TIMESTAMPTZ"), TypeClass::TimestampTz);
        assert_eq!(class_of("DATE"), TypeClass::Date);
        assert_eq!(class_of("TIME"), TypeClass::Time);
        assert_eq!(class_of("UUID"), TypeClass::Uuid);
        assert_eq!(class_of("JSON TEXT"), TypeClass::Json);
        assert_eq!(class_of("DECIMAL TEXT(10,2)"), TypeClass::Numeric);
        assert_eq!(class_of("DECIMAL(10,2)"), TypeClass::Numeric, "NUMERIC affinity, read as the decimals its numbers print as");
        assert_eq!(class_of("NUMERIC"), TypeClass::Numeric);
        assert_eq!(class_of("MONEY"), TypeClass::NumericAffinity, "NUMERIC affinity, no decimal declared");
        assert_eq!(class_of("BIGINT"), TypeClass::Integer);
        assert_eq!(class_of("DATE_INT"), TypeClass::Integer, "affinity INTEGER wins");
        assert_eq!(class_of("TEXT"), TypeClass::Text);
    }
}
