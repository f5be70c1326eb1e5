//! The JSON OpenTSDB 2.x speaks: `/api/query` requests and answers,
//! `/api/put` data points, `/api/suggest` lists.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A downsampler counting the samples of each bucket of `step` ns (`None`:
/// one bucket over the whole range, `0all`), buckets without samples left
/// out.
pub fn count_downsample(step: Option<i64>) -> String {
    use crate::engine::series::window::{HOUR, MINUTE, NANOS_PER_SECOND as SECOND};
    let interval = match step {
        None => "0all".to_string(),
        Some(ns) if ns % HOUR == 0 => format!("{}h", ns / HOUR),
        Some(ns) if ns % MINUTE == 0 => format!("{}m", ns / MINUTE),
        Some(ns) if ns % SECOND == 0 => format!("{}s", ns / SECOND),
        Some(ns) => format!("{}ms", ns / 1_000_000),
    };
    format!("{interval}-count-none")
}

/// `/api/query` over `[start_ms, end_ms]` (both ends included, as OpenTSDB
/// reads them) of one metric, every series apart (`aggregator: none`).
pub fn query(metric: &str, start_ms: i64, end_ms: i64, downsample: Option<String>) -> serde_json::Value {
    let mut q = serde_json::json!({"metric": metric, "aggregator": "none"});
    if let Some(d) = downsample {
        q["downsample"] = serde_json::Value::String(d);
    }
    serde_json::json!({"start": start_ms, "end": end_ms, "msResolution": true, "queries": [q]})
}

/// `/api/query` over `[start_ms, end_ms]` of one metric, raw, for the
/// given series only: one sub-query per series, its tags as exact
/// (`literal_or`) filters. OpenTSDB also returns series holding more tags
/// than a filter names; the caller keeps the ones it asked for.
pub fn query_series(metric: &str, start_ms: i64, end_ms: i64, series: &[&[(String, String)]]) -> serde_json::Value {
    let queries: Vec<serde_json::Value> = series
        .iter()
        .map(|tags| {
            let filters: Vec<serde_json::Value> =
                tags.iter().map(|(k, v)| serde_json::json!({"type": "literal_or", "tagk": k, "filter": v, "groupBy": false})).collect();
            serde_json::json!({"metric": metric, "aggregator": "none", "filters": filters})
        })
        .collect();
    serde_json::json!({"start": start_ms, "end": end_ms, "msResolution": true, "queries": queries})
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    dps: serde_json::Map<String, serde_json::Value>,
}

/// One series of an answer (of one metric): tags, and (time in ms, value)
/// sorted.
pub struct Series {
    pub tags: BTreeMap<String, String>,
    pub points: Vec<(i64, f64)>,
}

pub fn answer(body: &str) -> Result<Vec<Series>, String> {
    let raw: Vec<RawSeries> = serde_json::from_str(body).map_err(|e| format!("the answer is not OpenTSDB's JSON ({e})"))?;
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let mut points = Vec::with_capacity(r.dps.len());
        for (t, v) in r.dps {
            let t: i64 = t.parse().map_err(|_| format!("'{t}' is not a timestamp"))?;
            // null: a bucket OpenTSDB fills with nothing.
            if v.is_null() {
                continue;
            }
            let v = v.as_f64().ok_or_else(|| format!("'{v}' at {t} is not a number"))?;
            points.push((t, v));
        }
        points.sort_by_key(|(t, _)| *t);
        out.push(Series { tags: r.tags, points });
    }
    Ok(out)
}

/// OpenTSDB answers 400 "No such name for 'metrics'" for a metric it has
/// never seen: for a comparison, a metric without samples.
pub fn is_unknown_metric(reason: &str) -> bool {
    reason.contains("No such name")
}

/// One data point of `/api/put`.
#[derive(Serialize)]
pub struct Put<'a> {
    pub metric: &'a str,
    pub timestamp: i64,
    pub value: f64,
    pub tags: BTreeMap<&'a str, &'a str>,
}

/// What OpenTSDB takes in metric names and tags: letters (Unicode too),
/// digits, `-`, `_`, `.` and `/`.
pub fn allowed(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers() {
        assert_eq!(count_downsample(None), "0all-count-none");
        assert_eq!(count_downsample(Some(7_200_000_000_000)), "2h-count-none");
        assert_eq!(count_downsample(Some(90_000_000_000)), "90s-count-none");
        assert_eq!(count_downsample(Some(1_500_000_000)), "1500ms-count-none");
        let q = query("sys.cpu", 1, 2, Some("0all-count-none".into()));
        assert_eq!(q.to_string(), r#"{"end":2,"msResolution":true,"queries":[{"aggregator":"none","downsample":"0all-count-none","metric":"sys.cpu"}],"start":1}"#);
        let a = answer(r#"[{"metric":"sys.cpu","tags":{"host":"a"},"aggregateTags":[],"dps":{"1704067260000":2.5,"1704067200000":1,"1704067320000":null}}]"#).unwrap();
        assert_eq!(a[0].points, [(1_704_067_200_000, 1.0), (1_704_067_260_000, 2.5)]);
        assert!(answer(r#"{"error":{"code":400}}"#).is_err());
        assert!(allowed("web-01.eu/a_b") && allowed("zürich") && !allowed("a b") && !allowed(""));
    }
}
