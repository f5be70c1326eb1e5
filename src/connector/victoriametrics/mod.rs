//! VictoriaMetrics through its Prometheus-compatible API: counts with
//! `count_over_time` evaluated by the server, samples through
//! `/api/v1/export`, writes through `/api/v1/import`. An InfluxDB
//! measurement `cpu` with field `usage` is the metric `cpu_usage` (the
//! separator is configurable); tags are labels.

mod api;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;

use super::endpoint::HttpUrl;
use super::http::{Http, Op};
use super::metric_name;
use crate::engine::error::StoreError;
use crate::engine::series::store::{convert, Count, Measurement, SeriesCapabilities, SeriesStore, Sum};
use crate::engine::series::{FieldType, Precision, Sample, Series, Window};
use crate::engine::store::StoreResult;
use crate::engine::value::Value;

const MS: i64 = 1_000_000;
const DAY: i64 = 86_400_000 * MS;
/// VictoriaMetrics answers nothing for a window reaching back to the
/// epoch's first day (seen on 1.79): the earliest instant compared.
pub const EARLIEST: i64 = DAY;
/// Samples more than two days ahead of the server's clock are refused.
const AHEAD: i64 = 2 * DAY;
/// The longest look-behind of one count (longer windows are summed).
const LONGEST_LOOKBEHIND: i64 = 10_000 * DAY;
/// Windows evaluated in one `query_range`.
const STEPS_PER_QUERY: i64 = 5_000;
/// The label that tells a window's `sum_over_time` from its count in one
/// answer; no series of a measurement has it.
const SUM_LABEL: &str = "rangesync_sum";

pub struct VmStore {
    http: Http,
    /// Between measurement and field in a metric name.
    pub separator: String,
    /// Write bodies stay under this many bytes (before gzip).
    pub max_body: usize,
    /// A value no label holds, different in every run: see [`run_nonce`].
    nonce: String,
}

/// VictoriaMetrics (1.79) caches which series a label filter matches over
/// a time range, and drops that cache only when its index is flushed,
/// which can be up to ten seconds after a write, `/internal/force_flush`
/// notwithstanding. A run that counted a window before writing it left
/// "no series here" in that cache, and the next run asking the same
/// question got the stale answer (seen: points reported missing right
/// after the sync that wrote them, about one run in two). Every selector
/// of a run carries `rangesync_run!="NONCE"`: it matches every series
/// (no series has that label), and makes the run's questions its own.
fn run_nonce() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{:x}{:x}", nanos, std::process::id())
}

impl VmStore {
    pub async fn open(url: &HttpUrl, separator: &str) -> StoreResult<VmStore> {
        let http = Http::new(url)?;
        let store = VmStore { http, separator: separator.to_string(), max_body: 1 << 20, nonce: run_nonce() };
        // One cheap request, so a wrong address fails before any work.
        store.metric_names().await?;
        Ok(store)
    }

    async fn metric_names(&self) -> StoreResult<Vec<String>> {
        let body = self.http.text(self.http.get("/api/v1/label/__name__/values"), Op::Read, "listing metrics").await?;
        api::strings(&body).map_err(|e| self.http.failed(Op::Read, "listing metrics", e, false))
    }

    /// A target that keeps every sample written, duplicates included (no
    /// `-dedup.minScrapeInterval`), counts a sample written twice twice:
    /// rangesync writes only what is missing, but a write retried after a
    /// dropped connection lands twice. Said once, as a warning.
    async fn warn_unless_deduplicating(&self) {
        let Ok(flags) = self.http.text(self.http.get("/flags"), Op::Read, "reading its flags").await else { return };
        if !flags.contains("-dedup.minScrapeInterval") {
            tracing::warn!(
                "{} runs without -dedup.minScrapeInterval: a sample written twice (a write retried) is kept twice and counted as an extra point; start it with -dedup.minScrapeInterval=1ms",
                self.http.shown
            );
        }
    }

    /// The metric holding one field of a measurement.
    fn metric(&self, m: &Measurement, field: &str) -> String {
        metric_name::metric(&m.name, field, &self.separator)
    }

    /// Metric name → field, for the fields asked.
    fn fields_by_metric(&self, m: &Measurement) -> HashMap<String, String> {
        m.fields.iter().map(|(f, _)| (self.metric(m, f), f.clone())).collect()
    }

    /// `{__name__=~"cpu_(usage|idle)"}`-like selector of the fields asked,
    /// with the labels of one series when given (absent ones as `""`).
    fn selector(&self, m: &Measurement, series: Option<&Series>) -> String {
        let names: Vec<String> = m.fields.iter().map(|(f, _)| regex::escape(&self.metric(m, f))).collect();
        let mut parts = vec![format!("__name__=~{}", api::quote(&names.join("|"))), format!("rangesync_run!={}", api::quote(&self.nonce))];
        if let Some(s) = series {
            parts.extend(s.tags.iter().map(|(k, v)| format!("{k}={}", api::quote(v))));
        }
        format!("{{{}}}", parts.join(","))
    }

    async fn query(&self, path: &str, params: &[(&str, String)], context: &str) -> StoreResult<Vec<api::Result>> {
        tracing::debug!(?params, "victoriametrics {path}");
        let body = self.http.text(self.http.post(path).form(params), Op::Read, context).await?;
        api::results(&body).map_err(|e| self.http.failed(Op::Read, context, e, false))
    }

    /// Counts of the window `w` as one, at `t = end - 1ms` (VictoriaMetrics'
    /// rollup window `(t - d, t]` is the half-open `[start, end)` in ms).
    async fn count_whole(&self, m: &Measurement, w: Window, out: &mut Vec<Count>, start: i64) -> StoreResult<()> {
        let params = [("query", self.rollups(m, w.end - w.start)), ("time", api::seconds(w.end - MS)), ("nocache", "1".into())];
        let results = self.query("/api/v1/query", &params, &format!("counting {} in {w}", m.name)).await?;
        self.gather(m, results, |_| start, out);
        Ok(())
    }

    /// Counts of the equal windows of `step` cut from `w` (aligned), one
    /// `query_range` for all of them.
    async fn count_steps(&self, m: &Measurement, w: Window, step: i64, out: &mut Vec<Count>) -> StoreResult<()> {
        let params = [
            ("query", self.rollups(m, step)),
            ("start", api::seconds(w.start + step - MS)),
            ("end", api::seconds(w.end - MS)),
            ("step", format!("{}ms", step / MS)),
            ("nocache", "1".into()),
        ];
        let results = self.query("/api/v1/query_range", &params, &format!("counting {} in {w}", m.name)).await?;
        self.gather(m, results, |t| t + MS - step, out);
        Ok(())
    }

    /// The count of each series over windows of `length`, and with
    /// [`Measurement::sums`] its `sum_over_time` beside it (told apart by
    /// a label no series has), in one query.
    fn rollups(&self, m: &Measurement, length: i64) -> String {
        let selector = self.selector(m, None);
        let d = length / MS;
        let count = format!("count_over_time({selector}[{d}ms]) keep_metric_names");
        if m.sums {
            format!("{count} or label_set(sum_over_time({selector}[{d}ms]) keep_metric_names, {}, \"1\")", api::quote(SUM_LABEL))
        } else {
            count
        }
    }

    /// Counts (with their sums) of a rollup query's results; `start` turns
    /// a result's instant into its window's start.
    fn gather(&self, m: &Measurement, results: Vec<api::Result>, start: impl Fn(i64) -> i64, out: &mut Vec<Count>) {
        let names = self.fields_by_metric(m);
        let mut sums: HashMap<(Series, String, i64), f64> = HashMap::new();
        let first = out.len();
        for mut r in results {
            let is_sum = r.metric.remove(SUM_LABEL).is_some();
            let (series, field) = self.identify(m, &names, r.metric);
            for (t, x) in r.points {
                if is_sum {
                    sums.insert((series.clone(), field.clone(), start(t)), x);
                } else if x > 0.0 {
                    out.push(Count { series: series.clone(), field: field.clone(), start: start(t), count: x as u64, sum: None });
                }
            }
        }
        if !sums.is_empty() {
            for c in &mut out[first..] {
                c.sum = sums.remove(&(c.series.clone(), c.field.clone(), c.start)).map(Sum::float);
            }
        }
    }

    /// The series and field a result's labels name.
    fn identify(&self, m: &Measurement, names: &HashMap<String, String>, mut labels: BTreeMap<String, String>) -> (Series, String) {
        let metric = labels.remove("__name__").unwrap_or_default();
        let field = names.get(&metric).cloned().unwrap_or(metric);
        (Series::new(m.name.clone(), labels), field)
    }
}


#[async_trait]
impl SeriesStore for VmStore {
    fn describe(&self) -> String {
        self.http.shown.clone()
    }

    fn capabilities(&self) -> SeriesCapabilities {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX - AHEAD);
        SeriesCapabilities { precision: Precision::Millisecond, can_delete: false, earliest: EARLIEST, latest: now + AHEAD, counts_skip_empty: false, sums: true, can_select: false, can_print: true, concurrency: self.http.concurrency }
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
        let Some(step) = step else {
            let mut start = parent.start;
            while start < parent.end {
                let end = (start + LONGEST_LOOKBEHIND).min(parent.end);
                self.count_whole(m, Window::new(start, end), &mut out, parent.start).await?;
                start = end;
            }
            return Ok(out);
        };
        // Regular windows in runs of query_range; a clipped first or last
        // window alone.
        let children = parent.split(step);
        let mut i = 0;
        while i < children.len() {
            let w = children[i];
            if w.end - w.start != step {
                self.count_whole(m, w, &mut out, w.start).await?;
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < children.len() && children[j + 1].end - children[j + 1].start == step && (j + 1 - i) < STEPS_PER_QUERY as usize {
                j += 1;
            }
            self.count_steps(m, Window::new(w.start, children[j].end), step, &mut out).await?;
            i = j + 1;
        }
        Ok(out)
    }

    async fn samples(&self, m: &Measurement, window: Window, series: &[Series]) -> StoreResult<Vec<Sample>> {
        let names = self.fields_by_metric(m);
        let mut params: Vec<(&str, String)> = if series.is_empty() {
            vec![("match[]", self.selector(m, None))]
        } else {
            series.iter().map(|s| ("match[]", self.selector(m, Some(s)))).collect()
        };
        params.push(("start", api::seconds(window.start)));
        params.push(("end", api::seconds(window.end - MS)));
        let context = format!("reading {} in {window}", m.name);
        tracing::debug!(?params, "victoriametrics export");
        let body = self.http.text(self.http.post("/api/v1/export").form(&params), Op::Read, &context).await?;
        let mut out = Vec::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let e = api::exported(line).map_err(|e| self.http.failed(Op::Read, &context, e, false))?;
            let (series, field) = self.identify(m, &names, e.metric);
            for (t, v) in e.timestamps.iter().zip(e.values) {
                out.push(Sample { series: series.clone(), field: field.clone(), time: t * MS, value: Value::Float(v) });
            }
        }
        Ok(out)
    }

    async fn write(&self, m: &Measurement, samples: &[Sample]) -> StoreResult<()> {
        for body in self.import_bodies(m, samples)? {
            self.import(body, m).await?;
        }
        Ok(())
    }

    async fn render_writes(&self, m: &Measurement, _deletes: &[(Series, Window)], samples: &[Sample]) -> StoreResult<Vec<String>> {
        // Nothing is deleted here (a time range cannot be).
        Ok(self.import_bodies(m, samples)?.iter().flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>()).collect())
    }

    async fn warn_before_writes(&self) {
        self.warn_unless_deduplicating().await
    }

    async fn flush(&self) -> StoreResult<()> {
        // Written samples become searchable once an in-memory buffer is
        // flushed (about a second); a diff run right after must see them.
        self.http.send(self.http.get("/internal/force_flush"), Op::Write, "flushing written samples").await.map(drop)
    }

    async fn delete(&self, _m: &Measurement, _points: &[(Series, Window)]) -> StoreResult<()> {
        Err(StoreError::Invalid(format!("{} cannot delete samples by time", self.http.shown)))
    }
}

impl VmStore {
    /// Import bodies (JSON lines, one per series and field) under
    /// `max_body` bytes.
    fn import_bodies(&self, m: &Measurement, samples: &[Sample]) -> StoreResult<Vec<String>> {
        let mut bodies = Vec::new();
        // One import line per series and field: samples grouped so.
        let mut sorted: Vec<&Sample> = samples.iter().collect();
        sorted.sort_by(|a, b| (&a.series, &a.field, a.time).cmp(&(&b.series, &b.field, b.time)));
        let samples = sorted;
        let mut body = String::new();
        let mut i = 0;
        while i < samples.len() {
            let first = &samples[i];
            let mut j = i;
            let mut values = Vec::new();
            let mut times = Vec::new();
            while j < samples.len() && samples[j].series == first.series && samples[j].field == first.field {
                let value = match convert(&samples[j].value, FieldType::Float) {
                    Value::Float(f) => f,
                    other => {
                        return Err(StoreError::Invalid(format!(
                            "{} field {} holds {}, which VictoriaMetrics cannot store",
                            first.series,
                            first.field,
                            other.display()
                        )))
                    }
                };
                values.push(value);
                times.push(samples[j].time.div_euclid(MS));
                j += 1;
            }
            let line = api::import_line(&self.metric(m, &first.field), &first.series.tags, &values, &times);
            if !body.is_empty() && body.len() + line.len() > self.max_body {
                bodies.push(std::mem::take(&mut body));
            }
            body.push_str(&line);
            i = j;
        }
        if !body.is_empty() {
            bodies.push(body);
        }
        Ok(bodies)
    }

    async fn import(&self, body: String, m: &Measurement) -> StoreResult<()> {
        let request = Http::gzip(self.http.post("/api/v1/import"), body.as_bytes());
        self.http.send(request, Op::Write, &format!("samples of {}", m.name)).await.map(drop)
    }
}
