//! InfluxDB's JSON answers to `/query`: one object, or with `chunked=true`
//! one object per line. Errors come as `"error"` fields at either level.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::engine::series::FieldType;
use crate::engine::value::Value;

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<StatementResult>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StatementResult {
    #[serde(default)]
    series: Vec<ResultSeries>,
    error: Option<String>,
}

/// One series of a result: its tags (absent ones as `""` under
/// `GROUP BY *`), column names and rows.
#[derive(Debug, Deserialize)]
pub struct ResultSeries {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub columns: Vec<String>,
    #[serde(default)]
    pub values: Vec<Vec<serde_json::Value>>,
}

impl ResultSeries {
    /// The tags a series really has: `GROUP BY *` reports absent ones as `""`.
    pub fn present_tags(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.tags.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone()))
    }
}

/// Every series of every statement of an answer (chunked or not), or the
/// first error the server gave.
pub fn parse(body: &str) -> Result<Vec<ResultSeries>, String> {
    let mut out = Vec::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let answer: Answer = serde_json::from_str(line).map_err(|e| format!("the answer is not InfluxDB's JSON ({e})"))?;
        if let Some(e) = answer.error {
            return Err(e);
        }
        for r in answer.results {
            if let Some(e) = r.error {
                return Err(e);
            }
            out.extend(r.series);
        }
    }
    Ok(out)
}

/// A cell read as a field of type `t`. JSON writes the float 2.0 as `2`,
/// so the type comes from `SHOW FIELD KEYS`, not from the JSON. `None`
/// for null (a field the point lacks).
pub fn value(cell: &serde_json::Value, t: FieldType) -> Option<Value> {
    use serde_json::Value as J;
    Some(match (cell, t) {
        (J::Null, _) => return None,
        (J::Number(n), FieldType::Float) => Value::Float(n.as_f64()?),
        (J::Number(n), FieldType::Integer) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64()?),
        },
        (J::Number(n), FieldType::Unsigned) => match n.as_u64() {
            Some(u) => Value::UInt(u),
            None => Value::Int(n.as_i64()?),
        },
        (J::Number(n), FieldType::String) => Value::Text(n.to_string()),
        (J::Bool(b), _) => Value::Bool(*b),
        (J::String(s), _) => Value::Text(s.clone()),
        (J::Number(n), FieldType::Boolean) => Value::Float(n.as_f64()?),
        _ => return None,
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

/// The bits of a `sum()` cell: an integer field's as the integer, a
/// float field's as the float (JSON renders 2.0 as 2: read by the type).
pub fn sum_bits(cell: &serde_json::Value, kind: FieldType) -> Option<u64> {
    match kind {
        FieldType::Integer | FieldType::Unsigned => cell.as_i64().map(|i| i as u64).or_else(|| cell.as_u64()),
        FieldType::Float => cell.as_f64().map(f64::to_bits),
        _ => None,
    }
}

/// An integer cell (time at `epoch=ns`, a count).
pub fn int(cell: &serde_json::Value) -> Option<i64> {
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
        let big: serde_json::Value = serde_json::from_str("9223372036854775807").unwrap();
        assert_eq!(value(&big, FieldType::Integer), Some(Value::Int(i64::MAX)));
    }
}
