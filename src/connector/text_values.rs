//! Values as text, for SQL servers.
//!
//! PostgreSQL and MySQL connectors read every column as the server renders
//! it in text (with session settings that make the rendering exact: ISO
//! dates, UTC, shortest round-trip floats, hex bytea) and parse it by the
//! column's [`TypeClass`]; they write every value as text cast to the
//! column's type. One path for every type, no lossy driver conversion, and
//! the same [`Value`] on both sides of a cross-engine comparison.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::engine::store::TypeClass;
use crate::engine::value::Value;

/// Parses the server's text rendering of a non-NULL value.
pub fn parse(class: TypeClass, single_precision: bool, s: &str) -> Result<Value, String> {
    let bad = |what: &str| format!("cannot read {s:?} as {what}");
    Ok(match class {
        TypeClass::Integer => match s.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(s.parse::<u64>().map_err(|_| bad("an integer"))?),
        },
        TypeClass::Float if single_precision => Value::Float(s.parse::<f32>().map_err(|_| bad("a float"))? as f64),
        TypeClass::Float => Value::Float(s.parse::<f64>().map_err(|_| bad("a float"))?),
        TypeClass::Numeric => Value::Decimal(canonical_decimal(s).ok_or_else(|| bad("a decimal"))?),
        TypeClass::Bool => match s {
            "t" | "true" | "1" => Value::Bool(true),
            "f" | "false" | "0" => Value::Bool(false),
            _ => return Err(bad("a boolean")),
        },
        TypeClass::Blob => Value::Blob(parse_hex(s.strip_prefix("\\x").unwrap_or(s)).ok_or_else(|| bad("hex bytes"))?),
        TypeClass::Date => Value::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad("a date"))?),
        TypeClass::Time => Value::Time(NaiveTime::parse_from_str(s, "%H:%M:%S%.f").map_err(|_| bad("a time"))?),
        TypeClass::Timestamp => Value::Timestamp(
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").map_err(|_| bad("a timestamp"))?,
        ),
        TypeClass::TimestampTz => Value::TimestampTz(parse_instant(s).ok_or_else(|| bad("a timestamp with time zone"))?),
        TypeClass::Uuid => Value::Uuid(
            parse_hex(&s.replace('-', ""))
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .ok_or_else(|| bad("a uuid"))?,
        ),
        TypeClass::Json => Value::Json(s.to_string()),
        TypeClass::Text | TypeClass::Any | TypeClass::NumericAffinity => Value::Text(s.to_string()),
    })
}

/// Renders a value as text a server casts back to the column's type
/// exactly; `None` for NULL.
pub fn render(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        // Rust prints the shortest text that reads back as the same double.
        Value::Float(f) if f.is_nan() => "NaN".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        Value::Float(f) => format!("{f:?}"),
        Value::Decimal(d) => d.clone(),
        Value::Text(s) | Value::Json(s) => s.clone(),
        Value::Blob(b) => format!("\\x{}", hex(b)),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::Time(t) => t.format("%H:%M:%S%.f").to_string(),
        Value::Timestamp(t) => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        Value::TimestampTz(t) => t.format("%Y-%m-%d %H:%M:%S%.f+00").to_string(),
        Value::Uuid(u) => {
            let h = hex(u);
            format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
        }
    })
}

/// The canonical text of a decimal: no `+`, no leading zeros before the
/// units, no trailing fractional zeros, no lone point, and `0` for any
/// zero. `NaN` and infinities pass through. `None` if `s` is not a decimal.
/// Whether canonical decimal `d` fits `numeric(precision, scale)`: at most
/// `scale` digits after the point and `precision - scale` before it. NaN
/// and infinities are left to the server.
pub fn decimal_fits(d: &str, precision: u32, scale: u32) -> bool {
    let digits = d.trim_start_matches('-');
    if !digits.starts_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    frac.len() as u32 <= scale && int.len() as u32 <= precision.saturating_sub(scale)
}

pub fn canonical_decimal(s: &str) -> Option<String> {
    let s = s.trim();
    if matches!(s, "NaN" | "Infinity" | "-Infinity") {
        return Some(s.to_string());
    }
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut out = String::new();
    if neg && !(int == "0" && frac.is_empty()) {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Some(out)
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    // PostgreSQL with TimeZone=UTC: `2024-01-01 10:00:00.5+00`.
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    // MySQL TIMESTAMP in a UTC session has no offset.
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc())
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_fit_their_precision_and_scale() {
        assert!(decimal_fits("1.5", 6, 2) && decimal_fits("-9999.99", 6, 2) && decimal_fits("0.01", 3, 2));
        assert!(!decimal_fits("1.005", 6, 2), "three digits after the point");
        assert!(!decimal_fits("10000", 6, 2), "five before it");
        assert!(decimal_fits("123", 3, 0) && !decimal_fits("1234", 3, 0));
        assert!(decimal_fits("NaN", 6, 2), "left to the server");
    }

    #[test]
    fn decimals_are_canonical() {
        for (input, want) in [
            ("1.50", "1.5"),
            ("100", "100"),
            ("0.000", "0"),
            ("-0.0", "0"),
            ("007.10", "7.1"),
            ("-12.3400", "-12.34"),
            (".5", "0.5"),
            ("NaN", "NaN"),
        ] {
            assert_eq!(canonical_decimal(input).as_deref(), Some(want), "{input}");
        }
        assert_eq!(canonical_decimal("1e5"), None);
        assert_eq!(canonical_decimal("."), None);
    }

    #[test]
    fn every_value_round_trips_through_text() {
        let d = NaiveDate::from_ymd_opt(1969, 7, 20).unwrap();
        let cases = [
            (TypeClass::Integer, Value::Int(i64::MIN)),
            (TypeClass::Integer, Value::UInt(u64::MAX)),
            (TypeClass::Float, Value::Float(0.1)),
            (TypeClass::Float, Value::Float(-0.0)),
            (TypeClass::Float, Value::Float(f64::INFINITY)),
            (TypeClass::Float, Value::Float(1e-310)),
            (TypeClass::Numeric, Value::Decimal("-12.5".into())),
            (TypeClass::Bool, Value::Bool(false)),
            (TypeClass::Blob, Value::Blob(vec![0, 1, 0xfe])),
            (TypeClass::Date, Value::Date(d)),
            (TypeClass::Time, Value::Time(NaiveTime::from_hms_micro_opt(23, 1, 2, 345).unwrap())),
            (TypeClass::Timestamp, Value::Timestamp(d.and_hms_micro_opt(20, 17, 40, 1).unwrap())),
            (TypeClass::TimestampTz, Value::TimestampTz(d.and_hms_opt(20, 17, 40).unwrap().and_utc())),
            (TypeClass::Uuid, Value::Uuid([0xab; 16])),
            (TypeClass::Text, Value::Text("Zoë 🚀 'quoted'".into())),
        ];
        for (class, v) in cases {
            let text = render(&v).unwrap();
            let back = parse(class, false, &text).unwrap();
            assert_eq!(back.to_canonical_bytes(), v.to_canonical_bytes(), "{class:?} {text}");
        }
        assert_eq!(render(&Value::Null), None);
        assert!(parse(TypeClass::Float, false, "NaN").is_ok());
        assert_eq!(parse(TypeClass::Float, true, "0.1").unwrap(), Value::Float(0.1f32 as f64));
        assert!(parse(TypeClass::Integer, false, "x").unwrap_err().contains("\"x\""));
    }
}
