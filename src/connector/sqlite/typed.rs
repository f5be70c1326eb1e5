//! Types SQLite does not have, kept the way SQLite applications keep them.
//!
//! SQLite stores integers, floats, text and blobs; a column declared
//! `DATE`, `TIMESTAMP`, `BOOLEAN`, `UUID`, `JSON` or `DECIMAL TEXT` holds
//! its values as text or integers by convention. To pair such a column with
//! a PostgreSQL `date` or a MySQL `datetime(6)`, its values must hash as
//! dates, not as text. A stored value is read as the declared type only when
//! it is exactly in the one form rangesync writes ([`render`]); any other
//! stored value keeps its storage class. That reading is injective: two
//! different stored values never hash alike. Two kinds trade that for the
//! spellings applications use: [`Kind::LooseTimestamp`] (and its `Tz`) for
//! timestamps outside the key, and [`Kind::Number`] for `NUMERIC` decimals,
//! where one value's spellings read alike.
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
    /// A timestamp as applications spell it (`2024-01-02 03:04:05`, SQLite's
    /// `datetime()`; `2024-01-02T03:04:05.5`, with or without `Z`): the
    /// columns that are not part of the key. Two spellings of one instant
    /// read alike, as SQLite's date functions read them.
    LooseTimestamp,
    /// As [`Kind::LooseTimestamp`], with a zone (`Z`, `+01:00`) or none
    /// (UTC), for `TIMESTAMPTZ` columns.
    LooseTimestampTz,
    /// Lower-case hyphenated text.
    Uuid,
    /// Any text.
    Json,
    /// Exact decimals as canonical text (no exponent, no trailing zeros).
    Decimal,
    /// A `NUMERIC`/`DECIMAL` column under SQLite's NUMERIC affinity, which
    /// keeps integers and floats: each read as the decimal it prints as
    /// (a float by its shortest round-trip digits, `0.99` for 0.99), so it
    /// pairs with an exact decimal of another engine.
    Number,
}

impl Kind {
    /// The kind of a SQLite column: its class, and for decimals its
    /// affinity (text keeps them as written, NUMERIC as numbers).
    pub fn of_column(class: TypeClass, declared: &str) -> Kind {
        match (class, super::schema::affinity(declared)) {
            (TypeClass::Numeric, TypeClass::NumericAffinity) => Kind::Number,
            _ => Kind::of(class),
        }
    }

    pub fn of(class: TypeClass) -> Kind {
        match class {
            TypeClass::Bool => Kind::Bool,
            TypeClass::Date => Kind::Date,
            TypeClass::Time => Kind::Time,
            TypeClass::Timestamp => Kind::LooseTimestamp,
            TypeClass::TimestampTz => Kind::LooseTimestampTz,
            TypeClass::Uuid => Kind::Uuid,
            TypeClass::Json => Kind::Json,
            TypeClass::Numeric => Kind::Decimal,
            _ => Kind::Raw,
        }
    }

    /// The kind of a key column: only the form rangesync writes is typed.
    /// Keys are compared with SQLite's own order and bounds written in
    /// that form: `2024-01-02T03:04:05` would sort after
    /// `2024-01-02 03:04:06` as text, out of the timestamps' order.
    pub fn strict(self) -> Kind {
        match self {
            Kind::LooseTimestamp => Kind::Timestamp,
            Kind::LooseTimestampTz => Kind::TimestampTz,
            k => k,
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
            Kind::LooseTimestamp => 'S',
            Kind::LooseTimestampTz => 'Z',
            Kind::Uuid => 'u',
            Kind::Json => 'j',
            Kind::Decimal => 'n',
            Kind::Number => 'N',
        }
    }

    pub fn from_code(c: u8) -> Kind {
        match c {
            b'b' => Kind::Bool,
            b'd' => Kind::Date,
            b't' => Kind::Time,
            b's' => Kind::Timestamp,
            b'z' => Kind::TimestampTz,
            b'S' => Kind::LooseTimestamp,
            b'Z' => Kind::LooseTimestampTz,
            b'u' => Kind::Uuid,
            b'j' => Kind::Json,
            b'n' => Kind::Decimal,
            b'N' => Kind::Number,
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
        (Kind::LooseTimestamp | Kind::LooseTimestampTz, Stored::Text(t)) => loose_timestamp(kind, std::str::from_utf8(t).ok()?),
        (Kind::Number, Stored::Int(i)) => Some(Value::Decimal(i.to_string())),
        // Rust prints a float's shortest round-trip digits, never an exponent.
        (Kind::Number, Stored::Real(f)) if f.is_finite() => Some(Value::Decimal(canonical_decimal(&format!("{f}"))?)),
        (Kind::Number, _) => None,
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
        Kind::Raw | Kind::Bool | Kind::Json | Kind::LooseTimestamp | Kind::LooseTimestampTz | Kind::Number => return None,
    })
}

/// The spellings of a timestamp [`Kind::LooseTimestamp`] reads: a date and
/// a time to the minute or finer, `T` or a space between them.
const LOOSE_FORMS: [&str; 4] = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"];

fn loose_timestamp(kind: Kind, s: &str) -> Option<Value> {
    // A trailing Z (or a zone, for TIMESTAMPTZ) says UTC or the offset.
    let (local, offset) = match s.strip_suffix('Z') {
        Some(local) => (local, Some(0)),
        None => match s.len().checked_sub(6).filter(|&at| s.is_char_boundary(at) && matches!(s.as_bytes()[at], b'+' | b'-') && s.as_bytes()[at + 3] == b':') {
            Some(at) if kind == Kind::LooseTimestampTz => {
                let digits = |t: &str| t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit());
                let (h, m) = (&s[at + 1..at + 3], &s[at + 4..]);
                if !digits(h) || !digits(m) {
                    return None;
                }
                let (h, m) = (h.parse::<i32>().ok().filter(|h| *h <= 23)?, m.parse::<i32>().ok().filter(|m| *m <= 59)?);
                let sign = if s.as_bytes()[at] == b'-' { -1 } else { 1 };
                (&s[..at], Some(sign * (h * 3600 + m * 60)))
            }
            _ => (s, None),
        },
    };
    let naive = LOOSE_FORMS.iter().find_map(|f| NaiveDateTime::parse_from_str(local, f).ok())?;
    match kind {
        // A naive timestamp with Z is UTC; with another zone it is not one.
        Kind::LooseTimestamp if offset.is_none_or(|o| o == 0) => Some(Value::Timestamp(naive)),
        Kind::LooseTimestampTz => {
            let utc = naive.checked_sub_signed(chrono::Duration::seconds(offset.unwrap_or(0) as i64))?;
            Some(Value::TimestampTz(DateTime::from_naive_utc_and_offset(utc, Utc)))
        }
        _ => None,
    }
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
    fn timestamps_are_read_in_the_spellings_applications_use() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        for s in ["1962-02-18 00:00:00", "1962-02-18T00:00:00", "1962-02-18 00:00", "1962-02-18T00:00:00Z", "1962-02-18 00:00:00.000000"] {
            assert_eq!(text(Kind::LooseTimestamp, s), Some(Value::Timestamp(at("1962-02-18 00:00:00"))), "{s}");
        }
        assert_eq!(text(Kind::LooseTimestamp, "2024-01-02 03:04:05.5"), Some(Value::Timestamp(at("2024-01-02 03:04:05.5"))));
        assert_eq!(text(Kind::LooseTimestamp, "2024-01-02 03:04:05+01:00"), None, "a zone on a timestamp without one stays text");
        assert_eq!(text(Kind::LooseTimestamp, "02/18/1962"), None);
        let utc = |s: &str| Value::TimestampTz(at(s).and_utc());
        assert_eq!(text(Kind::LooseTimestampTz, "2024-01-02T03:04:05+01:00"), Some(utc("2024-01-02 02:04:05")));
        assert_eq!(text(Kind::LooseTimestampTz, "2024-01-02 03:04:05-02:30"), Some(utc("2024-01-02 05:34:05")));
        assert_eq!(text(Kind::LooseTimestampTz, "2024-01-02 03:04:05Z"), Some(utc("2024-01-02 03:04:05")));
        assert_eq!(text(Kind::LooseTimestampTz, "2024-01-02 03:04:05"), Some(utc("2024-01-02 03:04:05")), "no zone: UTC");
        for bad in ["2024-01-02 03:04:05+-1:00", "2024-01-02 03:04:05+99:99", "2024-01-02 03:04:05+24:00"] {
            assert_eq!(text(Kind::LooseTimestampTz, bad), None, "{bad}");
        }
        // Key columns read the written form only.
        assert_eq!(text(Kind::LooseTimestamp.strict(), "1962-02-18 00:00:00"), None);
        assert_eq!(Kind::from_code(Kind::LooseTimestampTz.code() as u8), Kind::LooseTimestampTz);
    }

    #[test]
    fn numeric_affinity_decimals_read_as_the_numbers_they_print_as() {
        let n = |s: &Stored| interpret(Kind::Number, s);
        assert_eq!(n(&Stored::Real(0.99)), Some(Value::Decimal("0.99".into())));
        assert_eq!(n(&Stored::Real(-1.5)), Some(Value::Decimal("-1.5".into())));
        assert_eq!(n(&Stored::Real(0.1 + 0.2)), Some(Value::Decimal("0.30000000000000004".into())), "no rounding: distinct floats stay distinct");
        assert_eq!(n(&Stored::Real(1e20)), Some(Value::Decimal("100000000000000000000".into())));
        assert_eq!(n(&Stored::Int(7)), Some(Value::Decimal("7".into())));
        assert_eq!(n(&Stored::Real(f64::INFINITY)), None);
        assert_eq!(n(&Stored::Text(b"n/a")), None, "text SQLite could not make a number stays text");
        assert_eq!(Kind::of_column(TypeClass::Numeric, "NUMERIC(10,2)"), Kind::Number);
        assert_eq!(Kind::of_column(TypeClass::Numeric, "DECIMAL TEXT(10,2)"), Kind::Decimal);
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
