//! Declaring a table of one engine on another: the type mapping between
//! SQLite, PostgreSQL and MySQL/MariaDB (documented in docs/schema.md).
//!
//! A table is recreated from its class-level description (every column's
//! [`TypeClass`] plus the length, precision and width its declared type
//! gives), so that the new column reads and hashes exactly like the source
//! column: a mapping that changed a value's class would make the tables
//! differ forever. A type with no faithful counterpart is refused with one
//! sentence rather than approximated.

use crate::engine::error::StoreError;
use crate::engine::store::{Column, StoreResult, TableSchema, TypeClass};

/// The engine a table is declared on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
    /// With the binary, no-pad collation the server offers
    /// (`utf8mb4_nopad_bin` on MariaDB, `utf8mb4_0900_bin` on MySQL 8).
    Mysql { binary_collation: String },
}

impl Engine {
    /// The dialect name a [`TableSchema`] of this engine carries.
    fn dialect(&self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
            Engine::Mysql { .. } => "mysql",
        }
    }
}

/// The statements creating `schema` on `engine`: the table's own
/// definition when it comes from the same engine (indexes and all), else
/// one statement declared through the mapping.
pub fn create_statements(engine: &Engine, schema: &TableSchema, url: &str) -> StoreResult<Vec<String>> {
    if schema.dialect == engine.dialect() && !schema.definition.is_empty() {
        return Ok(schema.definition.clone());
    }
    Ok(vec![create_statement(engine, schema, url)?])
}

/// InnoDB's limit on the bytes of one index key (and so of a primary key).
const MYSQL_KEY_BYTES: u32 = 3072;

/// What a declared type says beyond its class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Shape {
    /// Integer width in bytes (1, 2, 3, 4, 8), when known.
    int_bytes: Option<u8>,
    unsigned: bool,
    /// Characters of a varchar/char, bytes of a varbinary.
    length: Option<u32>,
    precision: Option<u32>,
    scale: Option<u32>,
    single_float: bool,
    jsonb: bool,
}

/// The shape of a type declared in `dialect`. SQLite's integers are all
/// 64-bit and its floats all double, whatever the declared name says.
fn shape(dialect: &str, declared: &str) -> Shape {
    let t = declared.to_ascii_lowercase();
    let sqlite = dialect == "sqlite";
    let mut numbers = Vec::new();
    if let (Some(open), Some(close)) = (t.find('('), t.find(')')) {
        if open < close {
            numbers = t[open + 1..close].split(',').filter_map(|n| n.trim().parse::<u32>().ok()).collect();
        }
    }
    let base = t.split(['(', ' ']).next().unwrap_or_default();
    let int_bytes = if sqlite { Some(8) } else { match base {
        "tinyint" => Some(1),
        "smallint" | "int2" | "smallserial" => Some(2),
        "mediumint" => Some(3),
        "int" | "integer" | "int4" | "serial" => Some(4),
        "bigint" | "int8" | "bigserial" => Some(8),
        _ => None,
    } };
    let sized_text = ["varchar", "char", "character", "varbinary", "binary", "nvarchar", "nchar"];
    let decimal = ["decimal", "numeric", "dec", "fixed"];
    Shape {
        int_bytes,
        unsigned: t.contains("unsigned"),
        length: sized_text.contains(&base).then(|| numbers.first().copied()).flatten(),
        precision: decimal.iter().any(|d| t.starts_with(d)).then(|| numbers.first().copied()).flatten(),
        scale: decimal.iter().any(|d| t.starts_with(d)).then(|| numbers.get(1).copied()).flatten(),
        single_float: match dialect {
            "postgres" => matches!(base, "real" | "float4"),
            "mysql" => base == "float",
            _ => false,
        },
        jsonb: base == "jsonb",
    }
}

/// The statement creating `schema` (which may come from any engine) on
/// `engine`, with its primary key, or one sentence saying which column
/// cannot be declared there.
pub fn create_statement(engine: &Engine, schema: &TableSchema, url: &str) -> StoreResult<String> {
    let quote = |n: &str| match engine {
        Engine::Mysql { .. } => format!("`{}`", n.replace('`', "``")),
        _ => format!("\"{}\"", n.replace('"', "\"\"")),
    };
    let in_key = |c: &Column| schema.key.contains(&c.name);
    let key_columns: Vec<&Column> = schema.key.iter().filter_map(|k| schema.column(k)).collect();
    let per_key_bytes = mysql_key_budget(&key_columns);
    let mut defs = Vec::new();
    for c in &schema.columns {
        let declared = declare(engine, schema.dialect, c, in_key(c), per_key_bytes).map_err(|why| {
            StoreError::Invalid(format!(
                "table {} cannot be created in {url}: column {} ({} in {}) {why}; create the table yourself",
                schema.name, c.name, c.declared_type, schema.dialect
            ))
        })?;
        let not_null = if c.not_null || in_key(c) { " NOT NULL" } else { "" };
        defs.push(format!("{} {declared}{not_null}", quote(&c.name)));
    }
    if !schema.key.is_empty() {
        defs.push(format!("PRIMARY KEY ({})", schema.key.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ")));
    }
    let options = match engine {
        Engine::Mysql { binary_collation } => format!(" DEFAULT CHARSET=utf8mb4 COLLATE={binary_collation}"),
        _ => String::new(),
    };
    Ok(format!("CREATE TABLE {} ({}){options}", quote(&schema.name), defs.join(", ")))
}

/// Bytes each variable-length key column may use in MySQL, sharing the
/// index limit among them after the fixed-width ones.
fn mysql_key_budget(key: &[&Column]) -> u32 {
    let variable = key.iter().filter(|c| matches!(c.class, TypeClass::Text | TypeClass::Blob | TypeClass::Json)).count() as u32;
    let fixed = key.len() as u32 - variable;
    (MYSQL_KEY_BYTES - 16 * fixed) / variable.max(1)
}

fn declare(engine: &Engine, dialect: &str, c: &Column, in_key: bool, key_bytes: u32) -> Result<String, String> {
    let s = shape(dialect, &c.declared_type);
    let class = c.class;
    let no_counterpart = || match class {
        TypeClass::NumericAffinity => {
            "holds integers or floats under SQLite's NUMERIC affinity, which no exact type of another engine equals".to_string()
        }
        TypeClass::Any => "has no declared type, so its values may be of any type".to_string(),
        _ => "has no counterpart here".to_string(),
    };
    Ok(match engine {
        Engine::Sqlite => match class {
            TypeClass::Numeric if in_key => {
                return Err("is a decimal key, which SQLite could only keep as text, ordered as text rather than by value".into())
            }
            TypeClass::Integer if s.unsigned && s.int_bytes == Some(8) => {
                return Err("is an unsigned 64-bit integer, which SQLite's signed INTEGER cannot hold".into())
            }
            TypeClass::Integer => "INTEGER".into(),
            TypeClass::Float => "REAL".into(),
            TypeClass::Numeric => match (s.precision, s.scale) {
                (Some(p), Some(sc)) => format!("DECIMAL TEXT({p},{sc})"),
                (Some(p), None) => format!("DECIMAL TEXT({p})"),
                _ => "DECIMAL TEXT".into(),
            },
            TypeClass::Text => "TEXT".into(),
            TypeClass::Blob => "BLOB".into(),
            TypeClass::Bool => "BOOLEAN".into(),
            TypeClass::Date => "DATE".into(),
            TypeClass::Time => "TIME".into(),
            TypeClass::Timestamp => "DATETIME".into(),
            TypeClass::TimestampTz => "TIMESTAMPTZ".into(),
            TypeClass::Uuid => "UUID".into(),
            TypeClass::Json => "JSON TEXT".into(),
            TypeClass::NumericAffinity | TypeClass::Any => return Err(no_counterpart()),
        },
        Engine::Postgres => match class {
            TypeClass::Integer => {
                // An unsigned source needs one byte more to hold its top half.
                let bytes = s.int_bytes.unwrap_or(8) + s.unsigned as u8;
                match bytes {
                    ..=2 => "smallint".into(),
                    3..=4 => "integer".into(),
                    _ => "bigint".into(),
                }
            }
            TypeClass::Float if s.single_float => "real".into(),
            TypeClass::Float => "double precision".into(),
            TypeClass::Numeric => match (s.precision, s.scale) {
                (Some(p), Some(sc)) => format!("numeric({p},{sc})"),
                (Some(p), None) => format!("numeric({p})"),
                _ => "numeric".into(),
            },
            TypeClass::Text => s.length.map_or("text".into(), |n| format!("varchar({n})")),
            TypeClass::Blob => "bytea".into(),
            TypeClass::Bool => "boolean".into(),
            TypeClass::Date => "date".into(),
            TypeClass::Time => "time".into(),
            TypeClass::Timestamp => "timestamp".into(),
            TypeClass::TimestampTz => "timestamptz".into(),
            TypeClass::Uuid => "uuid".into(),
            TypeClass::Json if s.jsonb => "jsonb".into(),
            // json keeps the text as written, as MariaDB's JSON and SQLite do.
            TypeClass::Json => "json".into(),
            TypeClass::NumericAffinity | TypeClass::Any => return Err(no_counterpart()),
        },
        Engine::Mysql { .. } => match class {
            TypeClass::Integer => {
                let name = match s.int_bytes.unwrap_or(8) {
                    1 => "tinyint",
                    2 => "smallint",
                    3 => "mediumint",
                    4 => "int",
                    _ => "bigint",
                };
                if s.unsigned { format!("{name} unsigned") } else { name.into() }
            }
            TypeClass::Float if s.single_float => "float".into(),
            TypeClass::Float => "double".into(),
            TypeClass::Numeric => match (s.precision, s.scale) {
                (Some(p), _) if p > 65 => return Err(format!("has {p} digits, more than MySQL's DECIMAL(65)")),
                (Some(_), Some(sc)) if sc > 30 => return Err(format!("has {sc} decimals, more than MySQL's 30")),
                (Some(p), Some(sc)) => format!("decimal({p},{sc})"),
                (Some(p), None) => format!("decimal({p},0)"),
                // An unconstrained numeric: the widest MySQL has (35 digits
                // before the point, 30 after); a value beyond it fails loudly.
                _ => "decimal(65,30)".into(),
            },
            TypeClass::Text if in_key => {
                let limit = key_bytes / 4;
                match s.length {
                    Some(n) if n <= limit => format!("varchar({n})"),
                    Some(n) => return Err(format!("is a key of {n} characters, more than MySQL's key limit allows ({limit})")),
                    None => format!("varchar({limit})"),
                }
            }
            TypeClass::Text => match s.length {
                Some(n) if n <= 255 => format!("varchar({n})"),
                // Longer columns go to TEXT types, which do not count
                // against MySQL's 65,535-byte row limit.
                Some(n) if n <= 16_383 => "text".into(),
                _ => "longtext".into(),
            },
            TypeClass::Blob if in_key => match s.length {
                Some(n) if n <= key_bytes => format!("varbinary({n})"),
                Some(n) => return Err(format!("is a key of {n} bytes, more than MySQL's key limit allows ({key_bytes})")),
                None => format!("varbinary({key_bytes})"),
            },
            TypeClass::Blob => "longblob".into(),
            TypeClass::Bool => "boolean".into(),
            TypeClass::Date => "date".into(),
            TypeClass::Time => "time(6)".into(),
            TypeClass::Timestamp => "datetime(6)".into(),
            // MySQL's TIMESTAMP is the instant type (stored in UTC); it
            // holds 1970 to 2038, and a value outside fails loudly.
            TypeClass::TimestampTz if c.not_null || in_key => "timestamp(6)".into(),
            TypeClass::TimestampTz => "timestamp(6) NULL".into(),
            TypeClass::Uuid => "uuid".into(),
            TypeClass::Json => "json".into(),
            TypeClass::NumericAffinity | TypeClass::Any => return Err(no_counterpart()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, declared: &str, class: TypeClass) -> Column {
        Column { name: name.into(), declared_type: declared.into(), class, not_null: false }
    }

    fn table(dialect: &'static str, columns: Vec<Column>, key: &[&str]) -> TableSchema {
        TableSchema {
            name: "t x".into(),
            columns,
            key: key.iter().map(|k| k.to_string()).collect(),
            definition: vec![],
            dialect,
        }
    }

    #[test]
    fn reads_shapes_of_declared_types() {
        assert_eq!(shape("postgres", "numeric(12,2)").precision, Some(12));
        assert_eq!(shape("postgres", "numeric(12,2)").scale, Some(2));
        assert_eq!(shape("sqlite", "DECIMAL TEXT(12,2)").scale, Some(2));
        assert_eq!(shape("postgres", "character varying(20)").length, Some(20));
        assert_eq!(shape("mysql", "varchar(20)").length, Some(20));
        assert_eq!(shape("mysql", "bigint(20) unsigned"), Shape { int_bytes: Some(8), unsigned: true, ..Shape::default() });
        assert_eq!(shape("sqlite", "INT").int_bytes, Some(8), "every SQLite integer is 64-bit");
        assert!(shape("postgres", "real").single_float && shape("mysql", "float").single_float);
        assert!(!shape("postgres", "double precision").single_float && !shape("sqlite", "REAL").single_float);
        assert!(shape("postgres", "jsonb").jsonb);
    }

    #[test]
    fn postgres_table_on_mysql_and_sqlite() {
        let t = table(
            "postgres",
            vec![
                col("id", "text", TypeClass::Text),
                col("n", "numeric", TypeClass::Numeric),
                col("at", "timestamp with time zone", TypeClass::TimestampTz),
                col("b", "bytea", TypeClass::Blob),
            ],
            &["id"],
        );
        let my = Engine::Mysql { binary_collation: "utf8mb4_nopad_bin".into() };
        assert_eq!(
            create_statement(&my, &t, "U").unwrap(),
            "CREATE TABLE `t x` (`id` varchar(768) NOT NULL, `n` decimal(65,30), `at` timestamp(6) NULL, `b` longblob, \
             PRIMARY KEY (`id`)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin"
        );
        assert_eq!(
            create_statement(&Engine::Sqlite, &t, "U").unwrap(),
            "CREATE TABLE \"t x\" (\"id\" TEXT NOT NULL, \"n\" DECIMAL TEXT, \"at\" TIMESTAMPTZ, \"b\" BLOB, PRIMARY KEY (\"id\"))"
        );
    }

    #[test]
    fn mysql_unsigned_widens_on_postgres() {
        let t = table(
            "mysql",
            vec![
                col("a", "tinyint(3) unsigned", TypeClass::Integer),
                col("b", "int(10) unsigned", TypeClass::Integer),
                col("c", "bigint(20) unsigned", TypeClass::Integer),
            ],
            &["a"],
        );
        let sql = create_statement(&Engine::Postgres, &t, "U").unwrap();
        assert!(sql.contains("\"a\" smallint NOT NULL, \"b\" bigint, \"c\" bigint"), "{sql}");
        let err = create_statement(&Engine::Sqlite, &t, "sqlite://x.db").unwrap_err().to_string();
        assert!(err.contains("column c (bigint(20) unsigned in mysql) is an unsigned 64-bit integer"), "{err}");
    }

    #[test]
    fn refuses_what_has_no_counterpart() {
        let t = table("sqlite", vec![col("id", "INTEGER", TypeClass::Integer), col("v", "", TypeClass::Any)], &["id"]);
        let err = create_statement(&Engine::Postgres, &t, "postgres://h/db").unwrap_err().to_string();
        assert!(err.starts_with("table t x cannot be created in postgres://h/db: column v"), "{err}");
        let wide = table("postgres", vec![col("n", "numeric(80,2)", TypeClass::Numeric)], &[]);
        let my = Engine::Mysql { binary_collation: "utf8mb4_bin".into() };
        assert!(create_statement(&my, &wide, "U").unwrap_err().to_string().contains("more than MySQL's DECIMAL(65)"));
    }
}
