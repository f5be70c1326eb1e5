//! InfluxDB's answers to `/query`: one object, or with `chunked=true` one
//! object per chunk, in MessagePack (asked for: InfluxDB 1.4+ and 2.x
//! encode it for about 30% less CPU than JSON, and keep 2.0 a float) or in
//! JSON (what 1.3 and 3.x answer whatever is asked). Errors come as
//! `"error"` fields at either level.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

use crate::engine::series::{FieldType, Sum};
use crate::engine::value::Value;

/// The media type asked for (InfluxDB 1.x matches the Accept header
/// exactly: no list, no quality values); JSON is read when a server
/// answers it instead.
pub const MSGPACK: &str = "application/x-msgpack";

#[derive(Debug, serde::Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<StatementResult>,
    error: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct StatementResult {
    #[serde(default)]
    series: Vec<ResultSeries>,
    error: Option<String>,
}

/// One series of a result: its tags (absent ones as `""` under
/// `GROUP BY *`), column names and rows.
#[derive(Debug, serde::Deserialize)]
pub struct ResultSeries {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub columns: Vec<String>,
    #[serde(default)]
    pub values: Vec<Vec<Cell>>,
}

impl ResultSeries {
    /// The tags a series really has: `GROUP BY *` reports absent ones as `""`.
    pub fn present_tags(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.tags.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone()))
    }
}

/// One cell of a row, as either encoding gives it. Own type rather than
/// `serde_json::Value`: no map or number boxing per cell, and MessagePack's
/// distinction between the integer 2 and the float 2.0 survives.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    /// An array or map: no InfluxDB row cell is one; kept unreadable.
    Other,
}

impl Cell {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Cell::Int(i) => Some(i),
            Cell::UInt(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Cell::UInt(u) => Some(u),
            Cell::Int(i) => u64::try_from(i).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Cell::Float(f) => Some(f),
            Cell::Int(i) => Some(i as f64),
            Cell::UInt(u) => Some(u as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Cell::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cell, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = Cell;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a cell of an InfluxDB row")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell, E> {
                Ok(Cell::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell, E> {
                Ok(Cell::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell, E> {
                Ok(match i64::try_from(v) {
                    Ok(i) => Cell::Int(i),
                    Err(_) => Cell::UInt(v),
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell, E> {
                Ok(Cell::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell, E> {
                Ok(Cell::Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Cell, E> {
                Ok(Cell::Text(v))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Cell, E> {
                Ok(Cell::Text(String::from_utf8_lossy(v).into_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Cell::Other)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Cell, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Cell::Other)
            }
        }
        d.deserialize_any(CellVisitor)
    }
}

/// Every series of every statement of an answer in either encoding, by
/// the answer's media type.
pub fn parse_body(body: &[u8], content_type: &str) -> Result<Vec<ResultSeries>, String> {
    if content_type.starts_with(MSGPACK) {
        parse_msgpack(body)
    } else {
        let text = std::str::from_utf8(body).map_err(|_| "the answer is not InfluxDB's JSON (not UTF-8)".to_string())?;
        parse(text)
    }
}

/// Chunks of MessagePack follow each other with no separator.
fn parse_msgpack(mut body: &[u8]) -> Result<Vec<ResultSeries>, String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let answer: Answer = rmp_serde::from_read(&mut body).map_err(|e| format!("the answer is not InfluxDB's MessagePack ({e})"))?;
        collect(answer, &mut out)?;
    }
    Ok(out)
}

fn collect(answer: Answer, out: &mut Vec<ResultSeries>) -> Result<(), String> {
    if let Some(e) = answer.error {
        return Err(e);
    }
    for r in answer.results {
        if let Some(e) = r.error {
            return Err(e);
        }
        out.extend(r.series);
    }
    Ok(())
}

/// Every series of every statement of an answer (chunked or not), or the
/// first error the server gave.
pub fn parse(body: &str) -> Result<Vec<ResultSeries>, String> {
    let mut out = Vec::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let answer: Answer = serde_json::from_str(line).map_err(|e| format!("the answer is not InfluxDB's JSON ({e})"))?;
        collect(answer, &mut out)?;
    }
    Ok(out)
}

/// A cell read as a field of type `t`. JSON writes the float 2.0 as `2`,
/// so the type comes from `SHOW FIELD KEYS`, not from the cell. `None`
/// for null (a field the point lacks).
pub fn value(cell: &Cell, t: FieldType) -> Option<Value> {
    Some(match (cell, t) {
        (Cell::Null | Cell::Other, _) => return None,
        (Cell::Bool(b), _) => Value::Bool(*b),
        (Cell::Text(s), _) => Value::Text(s.clone()),
        (Cell::Int(i), FieldType::Integer) => Value::Int(*i),
        (Cell::Int(i), FieldType::Unsigned) => match u64::try_from(*i) {
            Ok(u) => Value::UInt(u),
            Err(_) => Value::Int(*i),
        },
        (Cell::UInt(u), FieldType::Unsigned) => Value::UInt(*u),
        (Cell::Int(i), FieldType::String) => Value::Text(i.to_string()),
        (Cell::UInt(u), FieldType::String) => Value::Text(u.to_string()),
        // As JSON renders it (2.0, not 2), as before MessagePack.
        (Cell::Float(f), FieldType::String) => Value::Text(serde_json::Number::from_f64(*f).map_or_else(|| f.to_string(), |n| n.to_string())),
        (number, _) => Value::Float(number.as_f64()?),
    })
}

/// `SHOW FIELD KEYS` type names.
pub fn field_type(name: &str) -> Option<FieldType> {
    Some(match name {
        "float" => FieldType::Float,
        "integer" => FieldType::Integer,
        "unsigned" => FieldType::Unsigned,
        "boolean" => FieldType::Boolean,
        "string" => FieldType::String,
        _ => return None,
    })
}

/// A `sum()` cell: an integer field's as the integer, a float field's as
/// the float (JSON renders 2.0 as 2: read by the type).
pub fn sum(cell: &Cell, kind: FieldType) -> Option<Sum> {
    match kind {
        FieldType::Integer | FieldType::Unsigned => cell.as_i64().map(Sum::Int).or_else(|| cell.as_u64().map(|u| Sum::float(u as f64))),
        FieldType::Float => cell.as_f64().map(Sum::float),
        _ => None,
    }
}

/// An integer cell (time at `epoch=ns`, a count).
pub fn int(cell: &Cell) -> Option<i64> {
    cell.as_i64().or_else(|| cell.as_f64().map(|f| f as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_answers_and_errors() {
        let body = r#"{"results":[{"statement_id":0,"series":[{"name":"m","tags":{"dc":"","host":"a"},"columns":["time","v"],"values":[[1,2]]}],"partial":true}]}
{"results":[{"statement_id":0,"series":[{"name":"m","tags":{"dc":"","host":"a"},"columns":["time","v"],"values":[[3,4.5]]}]}]}
"#;
        let series = parse(body).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].present_tags().collect::<Vec<_>>(), [("host".to_string(), "a".to_string())]);
        assert_eq!(value(&series[0].values[0][1], FieldType::Float), Some(Value::Float(2.0)));
        assert_eq!(value(&series[1].values[0][1], FieldType::Float), Some(Value::Float(4.5)));
        let err = parse(r#"{"results":[{"statement_id":0,"error":"database not found: x"}]}"#).unwrap_err();
        assert_eq!(err, "database not found: x");
        assert_eq!(parse(r#"{"error":"error parsing query"}"#).unwrap_err(), "error parsing query");
        assert!(parse("<html>").unwrap_err().contains("not InfluxDB's JSON"));
        let big: Cell = serde_json::from_str("9223372036854775807").unwrap();
        assert_eq!(value(&big, FieldType::Integer), Some(Value::Int(i64::MAX)));
        let unsigned: Cell = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(value(&unsigned, FieldType::Unsigned), Some(Value::UInt(u64::MAX)));
    }

    /// The same answer as InfluxDB's MessagePack encoder writes it: maps
    /// with string keys, two chunks back to back, the float 2.0 kept a
    /// float and the integer 2 an integer.
    #[test]
    fn msgpack_chunks_keep_number_kinds() {
        use serde_json::json;
        let chunk = |values: serde_json::Value| {
            let answer = json!({"results": [{"statement_id": 0, "series": [
                {"name": "m", "tags": {"dc": "", "host": "a"}, "columns": ["time", "v", "n", "s", "b"], "values": values}
            ]}]});
            rmp_serde::to_vec_named(&answer).unwrap()
        };
        let mut body = chunk(json!([[1_000_000_001i64, 2.0, 2, "x", true]]));
        body.extend(chunk(json!([[-5i64, -0.0, -7, "", false], [9, null, u64::MAX, "ü", null]])));
        let series = parse_body(&body, MSGPACK).unwrap();
        assert_eq!(series.len(), 2);
        let row = &series[0].values[0];
        assert_eq!(row[0], Cell::Int(1_000_000_001));
        assert_eq!(row[1], Cell::Float(2.0));
        assert_eq!(row[2], Cell::Int(2));
        assert_eq!(value(&row[3], FieldType::String), Some(Value::Text("x".into())));
        assert_eq!(value(&row[4], FieldType::Boolean), Some(Value::Bool(true)));
        let rows = &series[1].values;
        assert_eq!(int(&rows[0][0]), Some(-5));
        assert!(matches!(value(&rows[0][1], FieldType::Float), Some(Value::Float(f)) if f == 0.0 && f.is_sign_negative()));
        assert_eq!(value(&rows[1][1], FieldType::Float), None);
        assert_eq!(value(&rows[1][2], FieldType::Unsigned), Some(Value::UInt(u64::MAX)));
        assert_eq!(value(&rows[1][3], FieldType::String), Some(Value::Text("ü".into())));
        let error = rmp_serde::to_vec_named(&json!({"results": [{"statement_id": 0, "error": "database not found: x"}]})).unwrap();
        assert_eq!(parse_body(&error, MSGPACK).unwrap_err(), "database not found: x");
        assert!(parse_body(b"\xc1garbage", MSGPACK).unwrap_err().contains("not InfluxDB's MessagePack"));
        assert_eq!(parse_body(br#"{"results":[]}"#, "application/json").unwrap().len(), 0);
    }
}
