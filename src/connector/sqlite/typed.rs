//! Types SQLite does not have, kept the way SQLite applications keep them.
//!
//! SQLite stores integers, floats, text and blobs; a column declared
//! `DATE`, `TIMESTAMP`, `BOOLEAN`, `UUID`, `JSON` or `DECIMAL TEXT` holds
//! its values as text or integers by convention. To pair such a column with
//! a PostgreSQL `date` or a MySQL `datetime(6)`, its values must hash as
//! dates, not as text. A stored value is read as the declared type only when
//! it is exactly in the one form rangesync writes ([`render`]); any other
//! stored value keeps its storage class. The reading is therefore
//! injective: two different stored values never hash alike, so a SQLite
//! file compared with another SQLite file loses nothing to it.
//!
//! The forms sort like the values they hold (fixed-width fractions, UTC
//! offsets written as `+00:00`), so a typed key column keeps byte order equal
//! to value order for years 0000 to 9999.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

use crate::connector::text_values::canonical_decimal;
use crate::engine::store::TypeClass;
use crate::engine::value::Value;

/// How the values of one column are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// By storage class only.
    Raw,
    /// Integers 0 and 1.
    Bool,
    /// `YYYY-MM-DD`.
    Date,
    /// `HH:MM:SS.ffffff` (nine digits when below a microsecond).
    Time,
    /// `YYYY-MM-DD HH:MM:SS.ffffff`.
    Timestamp,
    /// `YYYY-MM-DD HH:MM:SS.ffffff+00:00`, in UTC.
    TimestampTz,
    /// Lower-case hyphenated text.
    Uuid,
    /// Any text.
    Json,
    /// Exact decimals as canonical text (no exponent, no trailing zeros).
    Decimal,
}

impl Kind {
    pub fn of(class: TypeClass) -> Kind {
        match class {
            TypeClass::Bool => Kind::Bool,
            TypeClass::Date => Kind::Date,
            TypeClass::Time => Kind::Time,
            TypeClass::Timestamp => Kind::Timestamp,
            TypeClass::TimestampTz => Kind::TimestampTz,
            TypeClass::Uuid => Kind::Uuid,
            TypeClass::Json => Kind::Json,
            TypeClass::Numeric => Kind::Decimal,
            _ => Kind::Raw,
        }
    }

    /// One letter per column in the spec string the hash functions take.
    pub fn code(self) -> char {
        match self {
            Kind::Raw => '.',
            Kind::Bool => 'b',
            Kind::Date => 'd',
            Kind::Time => 't',
            Kind::Timestamp => 's',
            Kind::TimestampTz => 'z',
            Kind::Uuid => 'u',
            Kind::Json => 'j',
            Kind::Decimal => 'n',
        }
    }

    pub fn from_code(c: u8) -> Kind {
        match c {
            b'b' => Kind::Bool,
            b'd' => Kind::Date,
            b't' => Kind::Time,
            b's' => Kind::Timestamp,
            b'z' => Kind::TimestampTz,
            b'u' => Kind::Uuid,
            b'j' => Kind::Json,
            b'n' => Kind::Decimal,
            _ => Kind::Raw,
        }
    }
}

/// The spec string of a list of kinds (`"..ds"`).
pub fn spec(kinds: &[Kind]) -> String {
    kinds.iter().map(|k| k.code()).collect()
}

/// A value as SQLite stores it, borrowed.
pub enum Stored<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

/// The typed value of a stored value, or `None` when it is not in the
/// form of its column's kind (it then counts by its storage class).
pub fn interpret(kind: Kind, stored: &Stored) -> Option<Value> {
    match (kind, stored) {
        (Kind::Bool, Stored::Int(i @ (0 | 1))) => Some(Value::Bool(*i == 1)),
        (Kind::Json, Stored::Text(t)) => std::str::from_utf8(t).ok().map(|s| Value::Json(s.to_string())),
        (Kind::Raw | Kind::Bool | Kind::Json, _) => None,
        (_, Stored::Text(t)) => {
            let s = std::str::from_utf8(t).ok()?;
            let v = parse(kind, s)?;
            (render(&v)? == s).then_some(v)
        }
        _ => None,
    }
}

fn parse(kind: Kind, s: &str) -> Option<Value> {
    Some(match kind {
        Kind::Date => Value::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?),
        Kind::Time => Value::Time(NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok()?),
        Kind::Timestamp => Value::Timestamp(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok()?),
        Kind::TimestampTz => Value::TimestampTz(
            DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z").ok()?.with_timezone(&Utc),
        ),
        Kind::Uuid => {
            let hex: String = s.chars().filter(|c| *c != '-').collect();
            let bytes = crate::connector::text_values::parse_hex(&hex)?;
            Value::Uuid(bytes.try_into().ok()?)
        }
        Kind::Decimal => Value::Decimal(canonical_decimal(s)?),
        Kind::Raw | Kind::Bool | Kind::Json => return None,
    })
}

/// The text form rangesync writes for a typed value into SQLite, or `None`
/// for values SQLite holds natively (numbers, text, blobs, NULL).
pub fn render(v: &Value) -> Option<String> {
    Some(match v {
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::Time(t) => format!("{}{}", t.format("%H:%M:%S"), fraction(t.nanosecond())),
        Value::Timestamp(t) => format!("{}{}", t.format("%Y-%m-%d %H:%M:%S"), fraction(t.nanosecond())),
        Value::TimestampTz(t) => format!("{}{}+00:00", t.format("%Y-%m-%d %H:%M:%S"), fraction(t.nanosecond())),
        Value::Uuid(u) => {
            let h = crate::connector::text_values::hex(u);
            format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
        }
        Value::Decimal(d) => d.clone(),
        Value::Json(j) => j.clone(),
        _ => return None,
    })
}

/// Six digits, or nine when the value has them: fixed widths keep text
/// order equal to time order. A leap second (nanoseconds past 1e9) keeps
/// its extra second in the fraction's overflow, as chrono renders it.
fn fraction(nanos: u32) -> String {
    let sub = nanos % 1_000_000_000;
    if sub % 1000 == 0 { format!(".{:06}", sub / 1000) } else { format!(".{sub:09}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(kind: Kind, s: &str) -> Option<Value> {
        interpret(kind, &Stored::Text(s.as_bytes()))
    }

    #[test]
    fn reads_only_the_canonical_form() {
        assert_eq!(text(Kind::Date, "2024-02-29"), Some(Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap())));
        assert_eq!(text(Kind::Date, "2024-2-29"), None, "another spelling stays text");
        assert_eq!(text(Kind::Date, "2023-02-29"), None);
        let ts = text(Kind::Timestamp, "2024-01-02 03:04:05.123456").unwrap();
        assert_eq!(render(&ts).unwrap(), "2024-01-02 03:04:05.123456");
        assert_eq!(text(Kind::Timestamp, "2024-01-02 03:04:05"), None);
        assert_eq!(text(Kind::Timestamp, "2024-01-02T03:04:05.000000"), None);
        let tz = text(Kind::TimestampTz, "1969-12-31 23:59:59.000001+00:00").unwrap();
        assert_eq!(tz, Value::TimestampTz(DateTime::from_timestamp(-1, 1000).unwrap()));
        assert_eq!(text(Kind::TimestampTz, "1969-12-31 23:59:59.000001+01:00"), None);
        assert_eq!(text(Kind::Time, "23:59:59.000000001"), Some(Value::Time(NaiveTime::from_hms_nano_opt(23, 59, 59, 1).unwrap())));
        let u = text(Kind::Uuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
        assert_eq!(render(&u).unwrap(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(text(Kind::Uuid, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), None);
        assert_eq!(text(Kind::Decimal, "1.5"), Some(Value::Decimal("1.5".into())));
        assert_eq!(text(Kind::Decimal, "1.50"), None);
        assert_eq!(text(Kind::Json, "{\"a\": 1}"), Some(Value::Json("{\"a\": 1}".into())));
        assert_eq!(interpret(Kind::Bool, &Stored::Int(1)), Some(Value::Bool(true)));
        assert_eq!(interpret(Kind::Bool, &Stored::Int(2)), None);
        assert_eq!(interpret(Kind::Date, &Stored::Int(20240101)), None);
        assert_eq!(interpret(Kind::Raw, &Stored::Text(b"2024-01-01")), None);
    }

    #[test]
    fn rendered_forms_sort_like_their_values() {
        let times = [
            "2024-01-02 03:04:05.000000+00:00",
            "2024-01-02 03:04:05.000001+00:00",
            "2024-01-02 03:04:05.000001500+00:00",
            "2024-01-02 03:04:05.000002+00:00",
            "2024-01-02 03:04:06.000000+00:00",
        ];
        let values: Vec<Value> = times.iter().map(|s| text(Kind::TimestampTz, s).unwrap()).collect();
        for w in values.windows(2) {
            assert!(w[0].cmp_key(&w[1]).is_lt());
        }
        for (s, v) in times.iter().zip(&values) {
            assert_eq!(&render(v).unwrap(), s);
        }
        assert!(times.windows(2).all(|w| w[0] < w[1]), "byte order equals time order");
    }
}
