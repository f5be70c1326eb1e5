//! The typed value every connector converts to, and its canonical encoding.
//!
//! The encoding is what gets hashed, so it must be *injective*: two different
//! values never encode to the same bytes, and a concatenation of encoded
//! columns can be read back in one way only (every variable-length part is
//! length-prefixed). It must also be *stable*: a value encodes the same on
//! every platform and in every release, or two runs of different versions
//! would see phantom differences. docs/hashing.md documents the byte layout.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

/// A single column value, independent of the store it came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// Unsigned integers above `i64::MAX` (MySQL `BIGINT UNSIGNED`, InfluxDB
    /// unsigned fields). Encodes like [`Value::Int`] for the same number.
    UInt(u64),
    Float(f64),
    /// Exact decimal kept as its canonical text (no exponent, no `+`, no
    /// trailing fractional zeros), so `1.50` and `1.5` are the same value.
    Decimal(String),
    Text(String),
    Blob(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    /// A timestamp without time zone.
    Timestamp(NaiveDateTime),
    /// An instant, normalised to UTC.
    TimestampTz(DateTime<Utc>),
    Uuid([u8; 16]),
    Json(String),
}

/// Type tags of the canonical encoding. Never renumber: hashes depend on them.
mod tag {
    pub const NULL: u8 = 0x00;
    pub const BOOL: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const FLOAT: u8 = 0x03;
    pub const DECIMAL: u8 = 0x04;
    pub const TEXT: u8 = 0x05;
    pub const BLOB: u8 = 0x06;
    pub const DATE: u8 = 0x07;
    pub const TIME: u8 = 0x08;
    pub const TIMESTAMP: u8 = 0x09;
    pub const TIMESTAMP_TZ: u8 = 0x0a;
    pub const UUID: u8 = 0x0b;
    pub const JSON: u8 = 0x0c;
}

/// The one quiet NaN every NaN is folded to before hashing: stores disagree
/// on NaN payloads, and no user means two different NaNs.
const CANONICAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0000;

/// Dates encode as days since the Unix epoch: a fixed point that no library
/// upgrade can move.
const EPOCH_DATE: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

/// Writes the canonical encoding of values into any byte sink.
///
/// Connectors that hash inside the store (the SQLite functions) call these
/// methods directly on borrowed data, so the bytes are the same as for an
/// owned [`Value`] without building one.
pub trait CanonicalSink {
    fn put(&mut self, bytes: &[u8]);

    fn null(&mut self) {
        self.put(&[tag::NULL]);
    }
    fn boolean(&mut self, v: bool) {
        self.put(&[tag::BOOL, v as u8]);
    }
    fn integer(&mut self, v: i128) {
        self.put(&[tag::INTEGER]);
        self.put(&v.to_be_bytes());
    }
    fn float(&mut self, v: f64) {
        let bits = if v.is_nan() { CANONICAL_NAN_BITS } else { v.to_bits() };
        self.put(&[tag::FLOAT]);
        self.put(&bits.to_be_bytes());
    }
    fn text(&mut self, v: &[u8]) {
        self.prefixed(tag::TEXT, v);
    }
    fn blob(&mut self, v: &[u8]) {
        self.prefixed(tag::BLOB, v);
    }
    /// JSON text, as [`Value::Json`] encodes it.
    fn json(&mut self, v: &[u8]) {
        self.prefixed(tag::JSON, v);
    }
    fn prefixed(&mut self, t: u8, v: &[u8]) {
        self.put(&[t]);
        self.put(&(v.len() as u64).to_be_bytes());
        self.put(v);
    }
}

impl CanonicalSink for blake3::Hasher {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl CanonicalSink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Value {
    /// Appends the canonical encoding of this value to `sink`.
    pub fn encode<S: CanonicalSink + ?Sized>(&self, sink: &mut S) {
        match self {
            Value::Null => sink.null(),
            Value::Bool(b) => sink.boolean(*b),
            Value::Int(i) => sink.integer(*i as i128),
            Value::UInt(u) => sink.integer(*u as i128),
            Value::Float(f) => sink.float(*f),
            Value::Decimal(d) => sink.prefixed(tag::DECIMAL, d.as_bytes()),
            Value::Text(s) => sink.text(s.as_bytes()),
            Value::Blob(b) => sink.blob(b),
            Value::Date(d) => {
                sink.put(&[tag::DATE]);
                sink.put(&d.signed_duration_since(EPOCH_DATE).num_days().to_be_bytes());
            }
            Value::Time(t) => {
                // Seconds and nanoseconds apart: a leap second (nanoseconds
                // past 1e9) must not encode like the next second.
                sink.put(&[tag::TIME]);
                sink.put(&t.num_seconds_from_midnight().to_be_bytes());
                sink.put(&t.nanosecond().to_be_bytes());
            }
            Value::Timestamp(ts) => {
                sink.put(&[tag::TIMESTAMP]);
                put_instant(sink, ts.and_utc().timestamp(), ts.nanosecond());
            }
            Value::TimestampTz(ts) => {
                sink.put(&[tag::TIMESTAMP_TZ]);
                put_instant(sink, ts.timestamp(), ts.nanosecond());
            }
            Value::Uuid(u) => {
                sink.put(&[tag::UUID]);
                sink.put(u);
            }
            Value::Json(j) => sink.json(j.as_bytes()),
        }
    }

    /// The canonical encoding as an owned byte vector.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Orders two values the way a store orders a key column with binary
    /// collation: NULL first, then numbers (compared by value across integer
    /// and float), then dates and times, then text and UUIDs byte-wise, then
    /// blobs byte-wise. This mirrors SQLite's ordering of its storage classes,
    /// which is the only store where one column may mix them.
    pub fn cmp_key(&self, other: &Value) -> Ordering {
        let (ra, rb) = (self.class_rank(), other.class_rank());
        if ra != rb {
            return ra.cmp(&rb);
        }
        use Value::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Text(a), Text(b)) | (Json(a), Json(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Decimal(a), Decimal(b)) => cmp_decimal(a, b),
            (Decimal(d), Int(i)) => cmp_decimal(d, &i.to_string()),
            (Int(i), Decimal(d)) => cmp_decimal(&i.to_string(), d),
            (Decimal(d), UInt(u)) => cmp_decimal(d, &u.to_string()),
            (UInt(u), Decimal(d)) => cmp_decimal(&u.to_string(), d),
            (Blob(a), Blob(b)) => a.cmp(b),
            (Uuid(a), Uuid(b)) => a.cmp(b),
            (Date(a), Date(b)) => a.cmp(b),
            (Time(a), Time(b)) => a.cmp(b),
            (Timestamp(a), Timestamp(b)) => a.cmp(b),
            (TimestampTz(a), TimestampTz(b)) => a.cmp(b),
            (a, b) => match (a.as_number(), b.as_number()) {
                (Some(x), Some(y)) => x.cmp(&y),
                // Same rank but unrelated variants (e.g. Date vs Timestamp):
                // any fixed order keeps the merge consistent.
                _ => a.variant_index().cmp(&b.variant_index()),
            },
        }
    }

    fn class_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) | Value::Int(_) | Value::UInt(_) | Value::Float(_) => 1,
            Value::Decimal(_) => 1,
            Value::Date(_) | Value::Time(_) | Value::Timestamp(_) | Value::TimestampTz(_) => 2,
            Value::Text(_) | Value::Json(_) | Value::Uuid(_) => 3,
            Value::Blob(_) => 4,
        }
    }

    fn variant_index(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::UInt(_) => 3,
            Value::Float(_) => 4,
            Value::Decimal(_) => 5,
            Value::Text(_) => 6,
            Value::Blob(_) => 7,
            Value::Date(_) => 8,
            Value::Time(_) => 9,
            Value::Timestamp(_) => 10,
            Value::TimestampTz(_) => 11,
            Value::Uuid(_) => 12,
            Value::Json(_) => 13,
        }
    }

    fn as_number(&self) -> Option<Number> {
        match self {
            Value::Bool(b) => Some(Number::Int(*b as i128)),
            Value::Int(i) => Some(Number::Int(*i as i128)),
            Value::UInt(u) => Some(Number::Int(*u as i128)),
            Value::Float(f) => Some(Number::Float(*f)),
            Value::Decimal(d) => d.parse::<f64>().ok().map(Number::Float),
            _ => None,
        }
    }

    /// A short rendering for messages and reports (keys of differing rows).
    pub fn display(&self) -> String {
        match self {
            Value::Null => "NULL".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Float(f) => format!("{f:?}"),
            Value::Decimal(d) => d.clone(),
            Value::Text(s) => format!("{s:?}"),
            Value::Blob(b) => {
                let hex: String = b.iter().take(16).map(|x| format!("{x:02x}")).collect();
                if b.len() > 16 { format!("x'{hex}…'") } else { format!("x'{hex}'") }
            }
            Value::Date(d) => d.to_string(),
            Value::Time(t) => t.to_string(),
            Value::Timestamp(t) => t.to_string(),
            Value::TimestampTz(t) => t.to_rfc3339(),
            Value::Uuid(u) => u.iter().map(|x| format!("{x:02x}")).collect(),
            Value::Json(j) => j.clone(),
        }
    }
}

/// Reads one value back from its canonical encoding; returns the value
/// and the bytes it used, or `None` if the bytes are not a valid encoding.
/// Stores that return keys already encoded (the SQLite pair function) are
/// decoded with this. Integers come back as [`Value::Int`] when they fit,
/// [`Value::UInt`] otherwise.
pub fn decode_canonical(b: &[u8]) -> Option<(Value, usize)> {
    let (&t, rest) = b.split_first()?;
    let fixed = |n: usize| rest.get(..n);
    let prefixed = || -> Option<(&[u8], usize)> {
        let len = u64::from_be_bytes(fixed(8)?.try_into().ok()?) as usize;
        let body = rest.get(8..8usize.checked_add(len)?)?;
        Some((body, 1 + 8 + len))
    };
    let text = |body: &[u8]| String::from_utf8(body.to_vec()).ok();
    Some(match t {
        tag::NULL => (Value::Null, 1),
        tag::BOOL => (Value::Bool(*fixed(1)?.first()? != 0), 2),
        tag::INTEGER => {
            let i = i128::from_be_bytes(fixed(16)?.try_into().ok()?);
            let v = match i64::try_from(i) {
                Ok(v) => Value::Int(v),
                Err(_) => Value::UInt(u64::try_from(i).ok()?),
            };
            (v, 17)
        }
        tag::FLOAT => (Value::Float(f64::from_bits(u64::from_be_bytes(fixed(8)?.try_into().ok()?))), 9),
        tag::DECIMAL => {
            let (body, n) = prefixed()?;
            (Value::Decimal(text(body)?), n)
        }
        tag::TEXT => {
            let (body, n) = prefixed()?;
            (Value::Text(text(body)?), n)
        }
        tag::BLOB => {
            let (body, n) = prefixed()?;
            (Value::Blob(body.to_vec()), n)
        }
        tag::JSON => {
            let (body, n) = prefixed()?;
            (Value::Json(text(body)?), n)
        }
        tag::DATE => {
            let days = i64::from_be_bytes(fixed(8)?.try_into().ok()?);
            (Value::Date(EPOCH_DATE.checked_add_signed(chrono::Duration::try_days(days)?)?), 9)
        }
        tag::TIME => {
            let secs = u32::from_be_bytes(fixed(4)?.try_into().ok()?);
            let nanos = u32::from_be_bytes(rest.get(4..8)?.try_into().ok()?);
            (Value::Time(NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)?), 9)
        }
        tag::TIMESTAMP | tag::TIMESTAMP_TZ => {
            let secs = i64::from_be_bytes(fixed(8)?.try_into().ok()?);
            let nanos = u32::from_be_bytes(rest.get(8..12)?.try_into().ok()?);
            let utc = DateTime::from_timestamp(secs, nanos)?;
            let v = if t == tag::TIMESTAMP { Value::Timestamp(utc.naive_utc()) } else { Value::TimestampTz(utc) };
            (v, 13)
        }
        tag::UUID => (Value::Uuid(fixed(16)?.try_into().ok()?), 17),
        _ => return None,
    })
}

/// Compares two decimals in canonical text (`-12.5`, `0.25`, `300`) by
/// value, digit by digit, without going through a lossy float.
fn cmp_decimal(a: &str, b: &str) -> Ordering {
    fn parts(s: &str) -> (bool, &str, &str) {
        let (neg, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let zero = int.is_empty() && frac.is_empty();
        (neg && !zero, int, frac)
    }
    let (na, ia, fa) = parts(a);
    let (nb, ib, fb) = parts(b);
    let magnitude = ia.len().cmp(&ib.len()).then_with(|| ia.cmp(ib)).then_with(|| fa.cmp(fb));
    match (na, nb) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

fn put_instant<S: CanonicalSink + ?Sized>(sink: &mut S, secs: i64, nanos: u32) {
    sink.put(&secs.to_be_bytes());
    sink.put(&nanos.to_be_bytes());
}

/// Exact comparison of integers and floats (an i128 cast to f64 may round).
#[derive(Clone, Copy)]
enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    fn cmp(&self, other: &Number) -> Ordering {
        match (*self, *other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(&b),
            // -0.0 and 0.0 are one key to a store; NaN never is a key, but
            // gets a fixed place rather than a panic.
            (Number::Float(a), Number::Float(b)) => a.partial_cmp(&b).unwrap_or_else(|| a.total_cmp(&b)),
            (Number::Int(a), Number::Float(b)) => cmp_int_float(a, b),
            (Number::Float(a), Number::Int(b)) => cmp_int_float(b, a).reverse(),
        }
    }
}

fn cmp_int_float(i: i128, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Less;
    }
    // Every i64/u64 lies well inside ±2^127, so the float's integer part is
    // exact once it is inside that interval.
    const LIMIT: f64 = 1.7e38;
    if f >= LIMIT {
        return Ordering::Less;
    }
    if f <= -LIMIT {
        return Ordering::Greater;
    }
    let floor = f.floor();
    match i.cmp(&(floor as i128)) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> Vec<u8> {
        v.to_canonical_bytes()
    }

    #[test]
    fn null_empty_string_and_the_string_null_all_differ() {
        let null = enc(&Value::Null);
        let empty = enc(&Value::Text(String::new()));
        let word = enc(&Value::Text("NULL".into()));
        assert_ne!(null, empty);
        assert_ne!(null, word);
        assert_ne!(empty, word);
        assert_ne!(empty, enc(&Value::Blob(vec![])), "empty text is not an empty blob");
    }

    #[test]
    fn negative_zero_is_kept_and_nans_are_folded() {
        assert_ne!(enc(&Value::Float(0.0)), enc(&Value::Float(-0.0)));
        let quiet = f64::NAN;
        let other_payload = f64::from_bits(0x7ff0_0000_0000_0001);
        assert!(other_payload.is_nan());
        assert_eq!(enc(&Value::Float(quiet)), enc(&Value::Float(other_payload)));
        assert_eq!(enc(&Value::Float(-quiet)), enc(&Value::Float(quiet)));
        assert_ne!(enc(&Value::Float(f64::NAN)), enc(&Value::Null));
        assert_ne!(enc(&Value::Float(f64::INFINITY)), enc(&Value::Float(f64::NEG_INFINITY)));
    }

    #[test]
    fn integers_encode_by_number_whatever_the_width() {
        assert_eq!(enc(&Value::Int(42)), enc(&Value::UInt(42)));
        assert_ne!(enc(&Value::Int(-1)), enc(&Value::UInt(u64::MAX)));
        assert_ne!(enc(&Value::Int(i64::MAX)), enc(&Value::UInt(u64::MAX)));
        assert_ne!(enc(&Value::Int(i64::MIN)), enc(&Value::Int(i64::MAX)));
        // An integer and a float of the same magnitude are different values.
        assert_ne!(enc(&Value::Int(1)), enc(&Value::Float(1.0)));
        assert_ne!(enc(&Value::Int(1)), enc(&Value::Bool(true)));
    }

    #[test]
    fn unicode_is_encoded_byte_exact_without_normalisation() {
        let composed = Value::Text("\u{e9}".into()); // é
        let decomposed = Value::Text("e\u{301}".into()); // e + combining accent
        assert_ne!(enc(&composed), enc(&decomposed));
        assert_eq!(enc(&Value::Text("日本語 🚀".into())), enc(&Value::Text("日本語 🚀".into())));
    }

    #[test]
    fn length_prefixes_make_concatenations_unambiguous() {
        let mut a = Vec::new();
        Value::Text("ab".into()).encode(&mut a);
        Value::Text("c".into()).encode(&mut a);
        let mut b = Vec::new();
        Value::Text("a".into()).encode(&mut b);
        Value::Text("bc".into()).encode(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn blobs_keep_every_byte() {
        assert_ne!(enc(&Value::Blob(vec![0])), enc(&Value::Blob(vec![0, 0])));
        assert_ne!(enc(&Value::Blob(vec![0xff])), enc(&Value::Text("\u{ff}".into())));
    }

    #[test]
    fn dates_and_times_are_distinct_and_ordered() {
        let d1 = NaiveDate::from_ymd_opt(1969, 12, 31).unwrap();
        let d2 = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert_ne!(enc(&Value::Date(d1)), enc(&Value::Date(d2)));
        let ts = d2.and_hms_nano_opt(0, 0, 0, 1).unwrap();
        let ts0 = d2.and_hms_opt(0, 0, 0).unwrap();
        assert_ne!(enc(&Value::Timestamp(ts)), enc(&Value::Timestamp(ts0)), "nanoseconds count");
        // The same wall-clock reading with and without a zone is not the same value.
        assert_ne!(enc(&Value::Timestamp(ts0)), enc(&Value::TimestampTz(ts0.and_utc())));
        assert_eq!(Value::Date(d1).cmp_key(&Value::Date(d2)), Ordering::Less);
    }

    #[test]
    fn canonical_encoding_decodes_back_to_the_value() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let values = vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(i64::MIN),
            Value::UInt(u64::MAX),
            Value::Float(-0.0),
            Value::Decimal("12.50".into()),
            Value::Text("日本語 \u{0}".into()),
            Value::Blob(vec![0, 255]),
            Value::Date(d),
            Value::Time(NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).unwrap()),
            Value::Timestamp(d.and_hms_micro_opt(1, 2, 3, 4).unwrap()),
            Value::TimestampTz(d.and_hms_opt(0, 0, 0).unwrap().and_utc()),
            Value::Uuid([7; 16]),
            Value::Json("{\"a\":1}".into()),
        ];
        let mut all = Vec::new();
        for v in &values {
            v.encode(&mut all);
        }
        let mut at = 0;
        for v in &values {
            let (back, used) = decode_canonical(&all[at..]).unwrap();
            assert_eq!(back.to_canonical_bytes(), v.to_canonical_bytes(), "{v:?}");
            at += used;
        }
        assert_eq!(at, all.len());
        assert_eq!(decode_canonical(&[tag::TEXT, 0, 0, 0, 0, 0, 0, 0, 9, b'a']), None, "truncated");
        assert_eq!(decode_canonical(&[0xee]), None, "unknown tag");
        assert_eq!(decode_canonical(&Value::UInt(5).to_canonical_bytes()).unwrap().0, Value::Int(5));
    }

    #[test]
    fn key_order_follows_storage_classes_then_bytes() {
        use Value::*;
        let mut vals = vec![
            Blob(vec![0]),
            Text("b".into()),
            Text("B".into()),
            Float(2.5),
            Int(2),
            Int(3),
            Null,
            Text("é".into()),
            Int(i64::MIN),
        ];
        vals.sort_by(|a, b| a.cmp_key(b));
        let shown: Vec<String> = vals.iter().map(Value::display).collect();
        assert_eq!(
            shown,
            ["NULL", "-9223372036854775808", "2", "2.5", "3", "\"B\"", "\"b\"", "\"é\"", "x'00'"]
        );
    }

    #[test]
    fn decimals_order_by_value_and_floats_treat_zeros_alike() {
        let d = |s: &str| Value::Decimal(s.into());
        assert_eq!(d("10").cmp_key(&d("9")), Ordering::Greater);
        assert_eq!(d("-10").cmp_key(&d("-9")), Ordering::Less);
        assert_eq!(d("1.50").cmp_key(&d("1.5")), Ordering::Equal);
        assert_eq!(d("-0.0").cmp_key(&d("0")), Ordering::Equal);
        assert_eq!(d("0.001").cmp_key(&d("0.01")), Ordering::Less);
        assert_eq!(d("12345678901234567890.1").cmp_key(&Value::UInt(12345678901234567890)), Ordering::Greater);
        assert_eq!(Value::Int(-3).cmp_key(&d("-2.5")), Ordering::Less);
        assert_eq!(Value::Float(-0.0).cmp_key(&Value::Float(0.0)), Ordering::Equal);
    }

    #[test]
    fn a_leap_second_does_not_encode_like_the_next_second() {
        let leap = NaiveTime::from_hms_nano_opt(12, 0, 59, 1_500_000_000).unwrap();
        let next = NaiveTime::from_hms_nano_opt(12, 1, 0, 500_000_000).unwrap();
        assert_ne!(enc(&Value::Time(leap)), enc(&Value::Time(next)));
    }

    #[test]
    fn integer_float_comparison_is_exact_at_the_edges() {
        assert_eq!(cmp_int_float(i64::MAX as i128, 9.223372036854775807e18), Ordering::Less);
        assert_eq!(cmp_int_float(2, 2.0), Ordering::Equal);
        assert_eq!(cmp_int_float(2, 2.1), Ordering::Less);
        assert_eq!(cmp_int_float(-3, -2.5), Ordering::Less);
        assert_eq!(cmp_int_float(0, f64::INFINITY), Ordering::Less);
        assert_eq!(cmp_int_float(0, f64::NEG_INFINITY), Ordering::Greater);
    }
}
