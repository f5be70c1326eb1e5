//! The JSON VictoriaMetrics speaks: query answers, export and import lines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A PromQL/MetricsQL string literal.
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// Nanoseconds as the seconds with milliseconds the API takes.
pub fn seconds(ns: i64) -> String {
    let ms = ns.div_euclid(1_000_000);
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

#[derive(Deserialize)]
struct Answer<T> {
    status: String,
    data: Option<T>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(default)]
    result: Vec<RawResult>,
}

#[derive(Deserialize)]
struct RawResult {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
    value: Option<(f64, String)>,
}

/// One series of a query answer: its labels and (time in ns, value).
pub struct Result {
    pub metric: BTreeMap<String, String>,
    pub points: Vec<(i64, f64)>,
}

fn data<T: for<'de> Deserialize<'de>>(body: &str) -> std::result::Result<T, String> {
    let a: Answer<T> = serde_json::from_str(body).map_err(|e| format!("the answer is not VictoriaMetrics' JSON ({e})"))?;
    if a.status != "success" {
        return Err(a.error.unwrap_or(a.status));
    }
    a.data.ok_or_else(|| "the answer holds no data".to_string())
}

pub fn strings(body: &str) -> std::result::Result<Vec<String>, String> {
    data(body)
}

pub fn results(body: &str) -> std::result::Result<Vec<Result>, String> {
    let d: QueryData = data(body)?;
    let mut out = Vec::with_capacity(d.result.len());
    for r in d.result {
        let points = r
            .values
            .into_iter()
            .chain(r.value)
            .map(|(t, v)| Ok(((t * 1000.0).round() as i64 * 1_000_000, v.parse::<f64>().map_err(|_| format!("'{v}' is not a number"))?)))
            .collect::<std::result::Result<Vec<_>, String>>()?;
        out.push(Result { metric: r.metric, points });
    }
    Ok(out)
}

/// One line of `/api/v1/export`.
#[derive(Deserialize)]
pub struct Exported {
    pub metric: BTreeMap<String, String>,
    pub values: Vec<f64>,
    pub timestamps: Vec<i64>,
}

pub fn exported(line: &str) -> std::result::Result<Exported, String> {
    let e: Exported = serde_json::from_str(line).map_err(|e| format!("an exported line is not VictoriaMetrics' JSON ({e})"))?;
    if e.values.len() != e.timestamps.len() {
        return Err("an exported line has as many values as timestamps".into());
    }
    Ok(e)
}

#[derive(Serialize)]
struct ImportLine<'a> {
    metric: BTreeMap<&'a str, &'a str>,
    values: &'a [f64],
    timestamps: &'a [i64],
}

/// One line of `/api/v1/import`: a series' samples (times in ms).
pub fn import_line(metric: &str, tags: &[(String, String)], values: &[f64], timestamps: &[i64]) -> String {
    let mut labels: BTreeMap<&str, &str> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    labels.insert("__name__", metric);
    let mut line = serde_json::to_string(&ImportLine { metric: labels, values, timestamps }).unwrap_or_default();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_lines() {
        assert_eq!(seconds(1_795_328_329_999_000_000), "1795328329.999");
        assert_eq!(seconds(5_000_000), "0.005");
        let r = results(r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"a","host":"x"},"values":[[1795328329.999,"2"]]}]}}"#).unwrap();
        assert_eq!(r[0].points, [(1_795_328_329_999_000_000, 2.0)]);
        assert_eq!(results(r#"{"status":"error","errorType":"bad_data","error":"unknown func"}"#).err().unwrap(), "unknown func");
        let line = import_line("cpu_usage", &[("host".into(), "a\"b".into())], &[1.5], &[1000]);
        assert_eq!(line, "{\"metric\":{\"__name__\":\"cpu_usage\",\"host\":\"a\\\"b\"},\"values\":[1.5],\"timestamps\":[1000]}\n");
        assert!(exported(r#"{"metric":{},"values":[1],"timestamps":[]}"#).is_err());
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
    }
}
