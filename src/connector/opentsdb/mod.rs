//! OpenTSDB 2.x through its HTTP API: metric names from `/api/suggest`,
//! counts computed by OpenTSDB with a count downsampler (`1h-count-none`,
//! `0all-count-none` for a whole window), samples from `/api/query` with
//! `aggregator: none` (every series apart), writes through `/api/put`. As
//! with VictoriaMetrics, InfluxDB measurement `cpu` with field `usage` is
//! the metric `cpu_usage` (`--separator`), tags are tags.
//!
//! OpenTSDB keeps milliseconds and numbers only (integers above 2^53 lose
//! precision as floats), needs at least one tag per series, takes only
//! letters, digits, `-`, `_`, `.` and `/` in names, and deletes by query
//! only: rangesync never deletes there.

mod api;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;

use super::endpoint::HttpUrl;
use super::http::{Http, Op};
use super::metric_name;
use crate::engine::error::StoreError;
use crate::engine::series::store::{convert, Count, Measurement, SeriesCapabilities, SeriesStore};
use crate::engine::series::{FieldType, Precision, Sample, Series, Window};
use crate::engine::store::StoreResult;
use crate::engine::value::Value;

const MS: i64 = 1_000_000;
/// OpenTSDB takes no instant before the epoch, and reads a timestamp of
/// ten digits or fewer as seconds: milliseconds from 10^10 on
/// (1970-04-26T17:46:40Z) are unambiguous.
const EARLIEST: i64 = 10_000_000_000 * MS;
/// 2100-01-01: far enough, and well inside OpenTSDB's 13-digit milliseconds.
const LATEST: i64 = 4_102_444_800_000 * MS;
/// Metric names asked of `/api/suggest` at most.
const MAX_METRICS: usize = 1_000_000;

pub struct TsdbStore {
    http: Http,
    pub separator: String,
    /// Write bodies stay under this many bytes.
    pub max_body: usize,
}

impl TsdbStore {
    /// Connects and lists the metrics, so a wrong address fails before any
    /// work.
    pub async fn open(url: &HttpUrl, separator: &str) -> StoreResult<TsdbStore> {
        let store = TsdbStore::new(url, separator)?;
        store.metric_names().await?;
        Ok(store)
    }

    /// Without a first request: for an endpoint that only takes writes
    /// (VictoriaMetrics' OpenTSDB listener serves `/api/put` alone).
    pub fn new(url: &HttpUrl, separator: &str) -> StoreResult<TsdbStore> {
        let http = Http::new(url)?;
        Ok(TsdbStore { http, separator: separator.to_string(), max_body: 1 << 20 })
    }

    async fn metric_names(&self) -> StoreResult<Vec<String>> {
        let max = MAX_METRICS.to_string();
        let request = self.http.get("/api/suggest").query(&[("type", "metrics"), ("q", ""), ("max", max.as_str())]);
        let body = self.http.text(request, Op::Read, "listing metrics").await?;
        serde_json::from_str(&body).map_err(|e| self.http.failed(Op::Read, "listing metrics", format!("the answer is not OpenTSDB's JSON ({e})"), false))
    }

    /// Every series of one field's metric in `w`, counted in buckets of
    /// `step` (whole when `None`) or raw.
    async fn query(&self, m: &Measurement, field: &str, w: Window, downsample: Option<String>) -> StoreResult<Vec<api::Series>> {
        let metric = metric_name::metric(&m.name, field, &self.separator);
        let body = api::query(&metric, w.start.div_euclid(MS), (w.end - 1).div_euclid(MS), downsample);
        self.send_query(&metric, w, body).await
    }

    async fn send_query(&self, metric: &str, w: Window, body: serde_json::Value) -> StoreResult<Vec<api::Series>> {
        let context = format!("querying {metric} in {w}");
        tracing::debug!(%body, "opentsdb /api/query");
        let request = self.http.post("/api/query").header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string());
        match self.http.text(request, Op::Read, &context).await {
            Ok(text) => api::answer(&text).map_err(|e| self.http.failed(Op::Read, &context, e, false)),
            Err(StoreError::Read { reason, .. }) if api::is_unknown_metric(&reason) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    fn series(&self, m: &Measurement, tags: BTreeMap<String, String>) -> Series {
        Series::new(m.name.clone(), tags)
    }
}

#[async_trait]
impl SeriesStore for TsdbStore {
    fn describe(&self) -> String {
        self.http.shown.clone()
    }

    fn capabilities(&self) -> SeriesCapabilities {
        SeriesCapabilities { precision: Precision::Millisecond, can_delete: false, earliest: EARLIEST, latest: LATEST, counts_skip_empty: true, sums: false, can_select: false, can_print: true, concurrency: self.http.concurrency }
    }

    fn keeps(&self, t: FieldType) -> Option<FieldType> {
        metric_name::floats_only(t)
    }

    async fn measurements(&self, pick: Option<&regex::Regex>) -> StoreResult<Vec<Measurement>> {
        Ok(metric_name::measurements(self.metric_names().await?, &self.separator, pick))
    }

    async fn counts(&self, m: &Measurement, parent: Window, step: Option<i64>, _series: &[Series]) -> StoreResult<Vec<Count>> {
        let mut out = Vec::new();
        if parent.is_empty() {
            return Ok(out);
        }
        for (field, _) in &m.fields {
            for s in self.query(m, field, parent, Some(api::count_downsample(step))).await? {
                let series = self.series(m, s.tags);
                for (t, count) in s.points {
                    if count > 0.0 {
                        out.push(Count { series: series.clone(), field: field.clone(), start: parent.bucket(t * MS, step), count: count as u64, sum: None });
                    }
                }
            }
        }
        Ok(out)
    }

    async fn samples(&self, m: &Measurement, window: Window, series: &[Series]) -> StoreResult<Vec<Sample>> {
        let mut out = Vec::new();
        for (field, _) in &m.fields {
            let answer = if series.is_empty() {
                self.query(m, field, window, None).await?
            } else {
                // Only the series asked, so a read stays near the size the
                // counts promised; a series two filters match comes once.
                let metric = metric_name::metric(&m.name, field, &self.separator);
                let tags: Vec<&[(String, String)]> = series.iter().map(|s| s.tags.as_slice()).collect();
                let body = api::query_series(&metric, window.start.div_euclid(MS), (window.end - 1).div_euclid(MS), &tags);
                let mut seen = std::collections::HashSet::new();
                self.send_query(&metric, window, body).await?.into_iter().filter(|s| seen.insert(s.tags.clone())).collect()
            };
            for s in answer {
                let series = self.series(m, s.tags);
                for (t, v) in s.points {
                    out.push(Sample { series: series.clone(), field: field.clone(), time: t * MS, value: Value::Float(v) });
                }
            }
        }
        Ok(out)
    }

    async fn write(&self, m: &Measurement, samples: &[Sample]) -> StoreResult<()> {
        for body in self.put_bodies(m, samples)? {
            self.put(body, m).await?;
        }
        Ok(())
    }

    async fn render_writes(&self, m: &Measurement, _deletes: &[(Series, Window)], samples: &[Sample]) -> StoreResult<Vec<String>> {
        // Nothing is deleted here; a data point per line.
        Ok(self.put_bodies(m, samples)?.into_iter().flatten().collect())
    }

    async fn delete(&self, _m: &Measurement, _points: &[(Series, Window)]) -> StoreResult<()> {
        Err(StoreError::Invalid(format!("{} deletes by query only; rangesync does not delete there", self.http.shown)))
    }
}

impl TsdbStore {
    /// The data points of `samples` as `/api/put` JSON objects, in
    /// bodies under `max_body` bytes, each checked against OpenTSDB's rules.
    fn put_bodies(&self, m: &Measurement, samples: &[Sample]) -> StoreResult<Vec<Vec<String>>> {
        let mut bodies = Vec::new();
        let metrics: HashMap<&str, String> = m.fields.iter().map(|(f, _)| (f.as_str(), metric_name::metric(&m.name, f, &self.separator))).collect();
        let mut body: Vec<String> = Vec::new();
        let mut size = 0;
        for s in samples {
            let metric = metrics.get(s.field.as_str()).cloned().unwrap_or_else(|| metric_name::metric(&m.name, &s.field, &self.separator));
            let value = match convert(&s.value, FieldType::Float) {
                Value::Float(f) if f.is_finite() => f,
                other => return Err(StoreError::Invalid(format!("{} field {} holds {}, which OpenTSDB cannot store", s.series, s.field, other.display()))),
            };
            if s.series.tags.is_empty() {
                return Err(StoreError::Invalid(format!("{} has no tag, and OpenTSDB needs at least one per series ({})", s.series, self.http.shown)));
            }
            if let Some(bad) = std::iter::once(metric.as_str()).chain(s.series.tags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()])).find(|x| !api::allowed(x)) {
                return Err(StoreError::Invalid(format!(
                    "'{bad}' in {} holds characters OpenTSDB refuses (it takes letters, digits, -, _, . and /)",
                    s.series
                )));
            }
            let put = api::Put { metric: &metric, timestamp: s.time.div_euclid(MS), value, tags: s.series.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect() };
            let json = serde_json::to_string(&put).map_err(|e| StoreError::Invalid(e.to_string()))?;
            if !body.is_empty() && size + json.len() + 2 > self.max_body {
                bodies.push(std::mem::take(&mut body));
                size = 0;
            }
            size += json.len() + 1;
            body.push(json);
        }
        if !body.is_empty() {
            bodies.push(body);
        }
        Ok(bodies)
    }

    async fn put(&self, points: Vec<String>, m: &Measurement) -> StoreResult<()> {
        let body = format!("[{}]", points.join(","));
        let request = self.http.post("/api/put").header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        self.http.send(request, Op::Write, &format!("data points of {}", m.name)).await.map(drop)
    }
}
