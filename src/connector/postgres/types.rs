//! PostgreSQL column types: how each is classified, read as text, compared
//! in key order, and turned into rangesync's canonical encoding *inside*
//! PostgreSQL, byte for byte what `Value::encode` produces in Rust.

use crate::engine::store::TypeClass;

/// What rangesync needs to know of one column.
#[derive(Clone, Debug)]
pub struct PgColumn {
    /// Quoted identifier.
    pub ident: String,
    /// `format_type()` of the column, used in casts of bound parameters.
    pub sql_type: String,
    pub class: TypeClass,
    /// `real` (float4): parsed as f32 so its text reads back exactly.
    pub single: bool,
}

/// Classifies a type by its `pg_type.typname` (of the base type, for domains).
pub fn class_of(typname: &str) -> TypeClass {
    match typname {
        "int2" | "int4" | "int8" | "oid" => TypeClass::Integer,
        "float4" | "float8" => TypeClass::Float,
        "numeric" => TypeClass::Numeric,
        "bool" => TypeClass::Bool,
        "bytea" => TypeClass::Blob,
        "date" => TypeClass::Date,
        "time" => TypeClass::Time,
        "timestamp" => TypeClass::Timestamp,
        "timestamptz" => TypeClass::TimestampTz,
        "uuid" => TypeClass::Uuid,
        "json" | "jsonb" => TypeClass::Json,
        // text, varchar, char, name, citext, enums, arrays, intervals...:
        // compared and copied by their text form.
        _ => TypeClass::Text,
    }
}

impl PgColumn {
    /// The column as text, the form every value is read in.
    pub fn text_expr(&self) -> String {
        match self.class {
            // numeric's text keeps the column's scale (1.50); trim_scale
            // gives the canonical form rangesync hashes.
            TypeClass::Numeric => format!("trim_scale({})::text", self.ident),
            _ => format!("{}::text", self.ident),
        }
    }

    /// The expression a key column is ordered and compared by: byte-wise
    /// for text (collation "C"), natural order otherwise.
    pub fn order_expr(&self) -> String {
        match self.class {
            TypeClass::Text => format!("{}::text COLLATE \"C\"", self.ident),
            TypeClass::Json => format!("{}::text COLLATE \"C\"", self.ident),
            _ => self.ident.clone(),
        }
    }

    /// A bound parameter cast to this column's type (compared with
    /// [`Self::order_expr`]: text keys stay text in "C" collation).
    pub fn param(&self, n: usize) -> String {
        match self.class {
            TypeClass::Text | TypeClass::Json => format!("${n}::text COLLATE \"C\""),
            _ => format!("${n}::{}", self.sql_type),
        }
    }

    /// A bound parameter for a write: text cast to the column's own type.
    pub fn write_param(&self, n: usize) -> String {
        format!("${n}::{}", self.sql_type)
    }

    /// The canonical encoding of the column as `bytea`, computed in SQL.
    /// Mirrors `Value::encode` tag by tag (docs/hashing.md).
    pub fn canonical_bytes(&self) -> String {
        let c = &self.ident;
        let prefixed = |tag: &str, text: &str| {
            format!("'\\x{tag}'::bytea || int8send(octet_length({text})::int8) || convert_to({text}, 'UTF8')")
        };
        let body = match self.class {
            TypeClass::Integer => format!(
                "'\\x02'::bytea || (CASE WHEN {c} < 0 THEN '\\xffffffffffffffff'::bytea ELSE '\\x0000000000000000'::bytea END) || int8send({c}::int8)"
            ),
            TypeClass::Float => format!(
                "'\\x03'::bytea || (CASE WHEN {c}::float8 = 'NaN'::float8 THEN '\\x7ff8000000000000'::bytea ELSE float8send({c}::float8) END)"
            ),
            TypeClass::Numeric => prefixed("04", &format!("trim_scale({c})::text")),
            TypeClass::Bool => format!("(CASE WHEN {c} THEN '\\x0101'::bytea ELSE '\\x0100'::bytea END)"),
            TypeClass::Blob => format!("'\\x06'::bytea || int8send(octet_length({c})::int8) || {c}"),
            TypeClass::Date => format!("'\\x07'::bytea || int8send(({c} - DATE '1970-01-01')::int8)"),
            TypeClass::Time => {
                let micros = format!("(extract(epoch from {c}) * 1000000)::int8");
                format!("'\\x08'::bytea || int4send(({micros} / 1000000)::int4) || int4send((({micros} % 1000000) * 1000)::int4)")
            }
            TypeClass::Timestamp | TypeClass::TimestampTz => {
                let tag = if self.class == TypeClass::Timestamp { "09" } else { "0a" };
                let micros = format!("(extract(epoch from {c}) * 1000000)::int8");
                // Seconds rounded down and non-negative nanoseconds, also
                // before 1970 (PostgreSQL's % keeps the dividend's sign).
                let rem = format!("((({micros}) % 1000000 + 1000000) % 1000000)");
                format!(
                    "'\\x{tag}'::bytea || int8send((({micros}) - {rem}) / 1000000) || int4send(({rem} * 1000)::int4)"
                )
            }
            TypeClass::Uuid => format!("'\\x0b'::bytea || uuid_send({c})"),
            TypeClass::Json => prefixed("0c", &format!("{c}::text")),
            TypeClass::Text | TypeClass::Any => prefixed("05", &format!("{c}::text")),
        };
        format!("(CASE WHEN {c} IS NULL THEN '\\x00'::bytea ELSE {body} END)")
    }
}
