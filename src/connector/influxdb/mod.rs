//! InfluxDB 1.x through InfluxQL `/query` and line-protocol `/write`; 2.x
//! and 3.x through the same v1-compatible API with a token. Counts are
//! computed by the server (`count() GROUP BY time(...), *`), so an equal
//! window costs a few bytes, never its points.

pub mod influxql;

pub mod response;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

use async_trait::async_trait;

use super::endpoint::HttpUrl;
use super::http::{Http, Op};
use super::Access;
use crate::engine::error::StoreError;
use crate::engine::series::store::{Count, Measurement, SeriesCapabilities, SeriesStore};
use crate::engine::series::window::parse_duration;
use crate::engine::series::{FieldType, Precision, Sample, Series, Window};
use crate::engine::store::StoreResult;
use response::ResultSeries;

/// Rows per chunk of a chunked answer: the server streams a large result
/// in pieces instead of building it whole (old servers fell over on
/// results of about 100k rows).
const CHUNK_ROWS: usize = 10_000;
/// Deletes sent in one request (statements joined by `;`).
const DELETES_PER_REQUEST: usize = 200;
/// Statements joined into one read request, up to about this many bytes.
const QUERY_BYTES: usize = 64 * 1024;
/// Longer queries are sent by POST.
const GET_QUERY_BYTES: usize = 4 * 1024;
/// The field name a sample without one (a VictoriaMetrics metric with no
/// separator in its name) takes in InfluxDB.
pub const DEFAULT_FIELD: &str = "value";

pub struct InfluxStore {
    http: Http,
    database: String,
    retention_policy: Option<String>,
    /// Write bodies stay under this many bytes (before gzip), far below
    /// InfluxDB's `max-body-size`: a 413 is never provoked.
    pub max_body: usize,
    /// Field types as InfluxDB keeps them, by measurement, from the last
    /// listing: the engine's measurement holds the types the target keeps,
    /// and only a numeric field as stored here can be summed.
    stored_types: std::sync::Mutex<HashMap<String, Vec<(String, FieldType)>>>,
    /// A sum overflowed f64 here once: counts alone from then on.
    sums_overflow: AtomicBool,
    /// Answers asked in MessagePack until the server refuses it.
    msgpack: AtomicBool,
}

/// A time condition, and the measurement's profile condition if any.
fn restricted(m: &Measurement, time: String) -> String {
    match &m.condition {
        Some(c) => format!("{time} AND ({c})"),
        None => time,
    }
}

impl InfluxStore {
    /// The server (and the URL's database, unchecked): to list databases
    /// and retention policies.
    pub fn server(url: &HttpUrl) -> StoreResult<InfluxStore> {
        let http = Http::new(url)?;
        Ok(InfluxStore {
            http,
            database: url.database.clone(),
            retention_policy: url.retention_policy.clone(),
            max_body: 1 << 20,
            stored_types: Default::default(),
            sums_overflow: Default::default(),
            msgpack: AtomicBool::new(true),
        })
    }

    /// Connects and checks the database exists. A missing one is
    /// `Missing` for reading and writing alike: a run creates it through
    /// its write guard (`CREATE DATABASE`), never by opening.
    pub async fn open(url: &HttpUrl, _access: Access) -> StoreResult<InfluxStore> {
        let store = InfluxStore::server(url)?;
        let databases = store.databases().await?;
        if !databases.contains(&store.database) {
            let known = if databases.is_empty() { "it has none".to_string() } else { format!("it has: {}", databases.join(", ")) };
            return Err(StoreError::Missing(format!("database {} does not exist in {} ({known})", store.database, store.http.shown)));
        }
        if let Some(rp) = &store.retention_policy {
            let rps = store.retention_policies().await?;
            if !rps.iter().any(|r| &r.name == rp) {
                return Err(StoreError::Invalid(format!(
                    "retention policy {rp} does not exist in database {} of {}",
                    store.database, store.http.shown
                )));
            }
        }
        Ok(store)
    }

    /// A read-only statement (SELECT, SHOW), answered in chunks.
    async fn select(&self, q: &str, context: &str) -> StoreResult<Vec<ResultSeries>> {
        tracing::debug!(query = q, "influxdb");
        let chunk = CHUNK_ROWS.to_string();
        let params = [("db", self.database.as_str()), ("q", q), ("epoch", "ns"), ("chunked", "true"), ("chunk_size", chunk.as_str())];
        // A long query (several statements) goes in a POST body, past any
        // limit on the length of a URL; InfluxDB runs SELECTs sent by POST.
        let long = q.len() > GET_QUERY_BYTES;
        let ask = |msgpack: bool| async move {
            let mut request = if long { self.http.post("/query").form(&params) } else { self.http.get("/query").query(&params) };
            if msgpack {
                request = request.header(reqwest::header::ACCEPT, response::MSGPACK);
            }
            let (body, media) = self.http.bytes(request, Op::Read, context).await?;
            response::parse_body(&body, &media).map_err(|e| self.http.failed(Op::Read, context, e, false))
        };
        if !self.msgpack.load(Relaxed) {
            return ask(false).await;
        }
        match ask(true).await {
            // A server that refuses MessagePack (rather than answering
            // JSON, as 1.3 does) is asked in JSON from now on; a query
            // that is wrong fails again there, with a readable message.
            Err(StoreError::Read { retryable: false, .. }) => {
                let answer = ask(false).await?;
                tracing::info!("{} refused MessagePack answers; asking for JSON from now on", self.http.shown);
                self.msgpack.store(false, Relaxed);
                Ok(answer)
            }
            other => other,
        }
    }

    /// A statement that changes something (CREATE, DELETE), sent by POST.
    pub async fn command(&self, q: &str, context: &str) -> StoreResult<()> {
        tracing::debug!(query = q, "influxdb");
        let params = [("db", self.database.as_str()), ("q", q)];
        let body = self.http.text(self.http.post("/query").form(&params), Op::Write, context).await?;
        response::parse(&body).map(drop).map_err(|e| self.http.failed(Op::Write, context, e, false))
    }

    pub async fn databases(&self) -> StoreResult<Vec<String>> {
        let series = self.select("SHOW DATABASES", "listing databases").await?;
        Ok(series.iter().flat_map(|s| &s.values).filter_map(|row| row.first()?.as_str().map(str::to_string)).collect())
    }

    pub async fn retention_policies(&self) -> StoreResult<Vec<RetentionPolicy>> {
        let q = format!("SHOW RETENTION POLICIES ON {}", influxql::ident(&self.database));
        let series = self.select(&q, "listing retention policies").await?;
        let mut out = Vec::new();
        for s in &series {
            let col = |name: &str| s.columns.iter().position(|c| c == name);
            let (Some(n), Some(d), Some(sd), Some(r), Some(def)) = (col("name"), col("duration"), col("shardGroupDuration"), col("replicaN"), col("default")) else {
                continue;
            };
            for row in &s.values {
                let text = |i: usize| row.get(i).and_then(|v| v.as_str()).unwrap_or_default().to_string();
                out.push(RetentionPolicy {
                    name: text(n),
                    duration: text(d),
                    shard_duration: text(sd),
                    replication: row.get(r).and_then(|v| v.as_u64()).unwrap_or(1),
                    default: row.get(def).and_then(|v| v.as_bool()).unwrap_or(false),
                });
            }
        }
        Ok(out)
    }

    /// Line-protocol bodies under `max_body` bytes.
    fn write_bodies(&self, m: &Measurement, samples: &[Sample]) -> StoreResult<Vec<String>> {
        crate::connector::line_protocol::encode(samples, &m.name, field_name, self.max_body, crate::connector::line_protocol::Dialect::Influx).map_err(StoreError::Invalid)
    }

    /// The DELETE statements of `points`, in groups of one request each.
    async fn delete_statements(&self, m: &Measurement, points: &[(Series, Window)]) -> StoreResult<Vec<Vec<String>>> {
        if points.is_empty() {
            return Ok(Vec::new());
        }
        // Asked afresh: the run's own writes may have brought new tag keys,
        // which a delete must pin empty too.
        let tag_keys = self.tag_keys(&m.name).await?;
        Ok(points
            .chunks(DELETES_PER_REQUEST)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|(series, window)| {
                        format!("DELETE FROM {} WHERE {} AND {}", influxql::ident(&m.name), influxql::exact_series(series, &tag_keys), influxql::window(*window))
                    })
                    .collect()
            })
            .collect())
    }

    /// `"rp"."measurement"`, or the measurement alone (the default policy).
    fn from(&self, measurement: &str) -> String {
        match &self.retention_policy {
            Some(rp) => format!("{}.{}", influxql::ident(rp), influxql::ident(measurement)),
            None => influxql::ident(measurement),
        }
    }

    async fn tag_keys(&self, measurement: &str) -> StoreResult<Vec<String>> {
        let q = format!("SHOW TAG KEYS FROM {}", influxql::ident(measurement));
        let series = self.select(&q, &format!("listing the tags of {measurement}")).await?;
        Ok(series.iter().flat_map(|s| &s.values).filter_map(|row| row.first()?.as_str().map(str::to_string)).collect())
    }
}

/// A retention policy as `SHOW RETENTION POLICIES` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub name: String,
    pub duration: String,
    pub shard_duration: String,
    pub replication: u64,
    pub default: bool,
}

impl RetentionPolicy {
    /// The statement creating this policy in `database`. Durations come
    /// as Go renders them (`168h0m0s`, `0s` for infinite).
    pub fn create_statement(&self, database: &str) -> Result<String, String> {
        let literal = |what: &str, d: &str| -> Result<String, String> {
            // `0s` is "keep for ever".
            if d.chars().all(|c| c == '0' || c.is_ascii_alphabetic()) {
                return Ok("INF".into());
            }
            let ns = parse_duration(d).map_err(|e| format!("the {what} of retention policy {}: {e}", self.name))?;
            Ok(influxql::duration(ns))
        };
        let mut s = format!(
            "CREATE RETENTION POLICY {} ON {} DURATION {} REPLICATION {}",
            influxql::ident(&self.name),
            influxql::ident(database),
            literal("duration", &self.duration)?,
            self.replication.max(1)
        );
        if !self.shard_duration.is_empty() && self.shard_duration != "0s" {
            s.push_str(&format!(" SHARD DURATION {}", literal("shard duration", &self.shard_duration)?));
        }
        if self.default {
            s.push_str(" DEFAULT");
        }
        Ok(s)
    }
}

/// The InfluxDB name of an engine field.
fn field_name(field: &str) -> String {
    if field.is_empty() {
        DEFAULT_FIELD.to_string()
    } else {
        field.to_string()
    }
}

/// The engine field an InfluxDB column stands for, among those asked.
fn engine_field<'a>(m: &'a Measurement, column: &str) -> Option<&'a (String, FieldType)> {
    m.fields.iter().find(|(f, _)| field_name(f) == column)
}

#[async_trait]
impl SeriesStore for InfluxStore {
    fn describe(&self) -> String {
        self.http.shown.clone()
    }

    fn capabilities(&self) -> SeriesCapabilities {
        SeriesCapabilities { precision: Precision::Nanosecond, can_delete: true, earliest: MIN_TIME, latest: MAX_TIME, counts_skip_empty: true, sums: true, can_select: true, can_print: true, concurrency: self.http.concurrency }
    }

    fn keeps(&self, t: FieldType) -> Option<FieldType> {
        // InfluxDB 1.x has no unsigned type; 2.x does, but through the v1
        // API the field is created as the first value written says.
        Some(if t == FieldType::Unsigned { FieldType::Integer } else { t })
    }

    async fn measurements(&self, pick: Option<&regex::Regex>) -> StoreResult<Vec<Measurement>> {
        // Without FROM, InfluxDB lists the default policy's measurements
        // only: a policy of the URL's rp= is asked by name.
        let from = |m: &str| match &self.retention_policy {
            Some(rp) => format!("{}.{}", influxql::ident(rp), m),
            None => m.to_string(),
        };
        let q = match &self.retention_policy {
            Some(_) => format!("SHOW FIELD KEYS FROM {}", from("/.*/")),
            None => "SHOW FIELD KEYS".to_string(),
        };
        let mut out: BTreeMap<String, Vec<(String, FieldType)>> = BTreeMap::new();
        add_field_keys(&self.select(&q, "listing measurements and fields").await?, &mut out);
        // The bulk answer can miss measurements the index holds (seen on
        // InfluxDB 1.x, influxdb#22420): each one SHOW MEASUREMENTS names
        // that it lacks (and the run picks) is asked for by name, many to
        // a request. A measurement only another policy holds stays absent.
        // A server that cannot list measurements so is taken at its bulk
        // answer.
        let index = self.select("SHOW MEASUREMENTS", "listing measurements").await.unwrap_or_else(|e| {
            tracing::debug!("SHOW MEASUREMENTS failed ({e}); taking SHOW FIELD KEYS as complete");
            Vec::new()
        });
        let missed: Vec<String> = index
            .iter()
            .flat_map(|s| &s.values)
            .filter_map(|row| row.first()?.as_str().map(str::to_string))
            .filter(|m| !out.contains_key(m) && pick.is_none_or(|p| p.is_match(m)))
            .collect();
        for batch in missed.chunks(100) {
            let statements: Vec<String> = batch.iter().map(|m| format!("SHOW FIELD KEYS FROM {}", from(&influxql::ident(m)))).collect();
            let answer = self.select(&statements.join("; "), "listing the fields of measurements one by one").await?;
            if !answer.is_empty() {
                tracing::info!("{} listed {} measurement(s) only when asked by name", self.http.shown, answer.len());
            }
            add_field_keys(&answer, &mut out);
        }
        let listed: Vec<Measurement> = out.into_iter().map(|(name, fields)| Measurement::new(name, fields)).collect();
        let mut stored = self.stored_types.lock().unwrap_or_else(|p| p.into_inner());
        *stored = listed.iter().map(|m| (m.name.clone(), m.fields.clone())).collect();
        Ok(listed)
    }

    async fn counts(&self, m: &Measurement, parent: Window, step: Option<i64>, series: &[Series]) -> StoreResult<Vec<Count>> {
        // Columns by position (c0, s0, c1, ...): no field name can clash.
        // A numeric field's sum is a second fingerprint beside its count.
        let stored: Vec<Option<FieldType>> = {
            let types = self.stored_types.lock().unwrap_or_else(|p| p.into_inner());
            let of = types.get(&m.name);
            m.fields.iter().map(|(f, _)| of.and_then(|fields| fields.iter().find(|(n, _)| n == f)).map(|(_, t)| *t)).collect()
        };
        let summing = m.sums && !self.sums_overflow.load(Relaxed);
        let mut columns = Vec::new();
        for (i, (f, _)) in m.fields.iter().enumerate() {
            let f = influxql::ident(&field_name(f));
            columns.push(format!("count({f}) AS c{i}"));
            if summing && matches!(stored[i], Some(FieldType::Float | FieldType::Integer)) {
                columns.push(format!("sum({f}) AS s{i}"));
            }
        }
        let group = match step {
            Some(step) => format!("GROUP BY time({}), * fill(none)", influxql::duration(step)),
            None => "GROUP BY *".to_string(),
        };
        let mut condition = restricted(m, influxql::window(parent));
        if let Some(some) = influxql::some_series(series) {
            condition = format!("{condition} AND {some}");
        }
        let q = format!("SELECT {} FROM {} WHERE {condition} {group}", columns.join(", "), self.from(&m.name));
        let answer = match self.select(&q, &format!("counting {} in {parent}", m.name)).await {
            // A float sum past f64's range: InfluxDB cannot render the +Inf
            // and fails the whole answer. Counts alone, from now on.
            Err(e) if summing && e.to_string().contains("unsupported value") => {
                tracing::warn!("a sum of {} overflows in InfluxDB; comparing counts only", m.name);
                self.sums_overflow.store(true, Relaxed);
                return self.counts(m, parent, step, series).await;
            }
            other => other?,
        };
        let mut out = Vec::new();
        for s in &answer {
            let tags = Series::new(m.name.clone(), s.present_tags());
            // Where each field's count and sum are, once per series.
            let at = |name: String| s.columns.iter().position(|c| *c == name);
            let columns: Vec<(Option<usize>, Option<usize>)> = (0..m.fields.len()).map(|i| (at(format!("c{i}")), at(format!("s{i}")))).collect();
            for row in &s.values {
                let start = match step {
                    Some(_) => row.first().and_then(response::int).unwrap_or(parent.start).max(parent.start),
                    None => parent.start,
                };
                for (i, (field, _)) in m.fields.iter().enumerate() {
                    let (count_at, sum_at) = columns[i];
                    let Some(count) = count_at.and_then(|c| row.get(c)).and_then(response::int) else { continue };
                    if count > 0 {
                        let sum = stored[i].zip(sum_at.and_then(|c| row.get(c))).and_then(|(kind, v)| response::sum(v, kind));
                        out.push(Count { series: tags.clone(), field: field.clone(), start, count: count as u64, sum });
                    }
                }
            }
        }
        Ok(out)
    }

    async fn samples(&self, m: &Measurement, window: Window, series: &[Series]) -> StoreResult<Vec<Sample>> {
        self.samples_of(m, &[(window, series.to_vec())]).await
    }

    /// One statement per window, joined by `;` into requests of up to
    /// [`QUERY_BYTES`]: InfluxDB answers them in turn, in one round trip.
    async fn samples_of(&self, m: &Measurement, parts: &[(Window, Vec<Series>)]) -> StoreResult<Vec<Sample>> {
        let columns: Vec<String> = m.fields.iter().map(|(f, _)| influxql::ident(&field_name(f))).collect();
        let statement = |(window, series): &(Window, Vec<Series>)| {
            let mut condition = restricted(m, influxql::window(*window));
            if let Some(some) = influxql::some_series(series) {
                condition = format!("{condition} AND {some}");
            }
            format!("SELECT {} FROM {} WHERE {condition} GROUP BY *", columns.join(", "), self.from(&m.name))
        };
        let mut out = Vec::new();
        let mut asked: Vec<String> = Vec::new();
        let mut windows: Vec<Window> = Vec::new();
        for (k, part) in parts.iter().enumerate() {
            asked.push(statement(part));
            windows.push(part.0);
            let full = asked.iter().map(|q| q.len() + 1).sum::<usize>() >= QUERY_BYTES;
            if full || k + 1 == parts.len() {
                let shown = Window::new(windows[0].start, windows[windows.len() - 1].end);
                let context = if windows.len() == 1 { format!("reading {} in {shown}", m.name) } else { format!("reading {} in {} windows of {shown}", m.name, windows.len()) };
                let result = self.select(&asked.join("; "), &context).await?;
                decode_samples(m, &result, &mut out);
                asked.clear();
                windows.clear();
            }
        }
        Ok(out)
    }

    async fn write(&self, m: &Measurement, samples: &[Sample]) -> StoreResult<()> {
        let mut params = vec![("db", self.database.as_str()), ("precision", "ns")];
        if let Some(rp) = &self.retention_policy {
            params.push(("rp", rp.as_str()));
        }
        for body in self.write_bodies(m, samples)? {
            let request = Http::gzip(self.http.post("/write").query(&params), body.as_bytes());
            self.http.send(request, Op::Write, &format!("points of {}", m.name)).await?;
        }
        Ok(())
    }
    async fn delete(&self, m: &Measurement, points: &[(Series, Window)]) -> StoreResult<()> {
        for request in self.delete_statements(m, points).await? {
            self.command(&request.join("; "), &format!("deleting points of {}", m.name)).await?;
        }
        Ok(())
    }

    async fn render_writes(&self, m: &Measurement, deletes: &[(Series, Window)], samples: &[Sample]) -> StoreResult<Vec<String>> {
        let mut out: Vec<String> = self.delete_statements(m, deletes).await?.into_iter().flatten().map(|s| format!("{s};")).collect();
        for body in self.write_bodies(m, samples)? {
            out.extend(body.lines().map(str::to_string));
        }
        Ok(out)
    }}

/// The fields of each measurement in an answer to `SHOW FIELD KEYS`.
fn add_field_keys(answer: &[ResultSeries], out: &mut BTreeMap<String, Vec<(String, FieldType)>>) {
    for s in answer {
        let fields = out.entry(s.name.clone()).or_default();
        for row in &s.values {
            let (Some(name), Some(kind)) = (row.first().and_then(|v| v.as_str()), row.get(1).and_then(|v| v.as_str())) else { continue };
            let Some(kind) = response::field_type(kind) else { continue };
            // A field with two types (in different shards) keeps the
            // first; the comparison then reports its other values.
            if !fields.iter().any(|(f, _)| f == name) {
                fields.push((name.to_string(), kind));
            }
        }
    }
}

/// Samples of `m` in InfluxDB's answer to `SELECT fields ... GROUP BY *`.
fn decode_samples(m: &Measurement, result: &[ResultSeries], out: &mut Vec<Sample>) {
    for s in result {
        let tags = Series::new(m.name.clone(), s.present_tags());
        // Which engine field each column holds, once per series.
        let fields: Vec<Option<&(String, FieldType)>> = s.columns.iter().map(|c| engine_field(m, c)).collect();
        for row in &s.values {
            let Some(time) = row.first().and_then(response::int) else { continue };
            for (field, cell) in fields.iter().zip(row).skip(1) {
                let Some((field, kind)) = field else { continue };
                if let Some(value) = response::value(cell, *kind) {
                    out.push(Sample { series: tags.clone(), field: field.clone(), time, value });
                }
            }
        }
    }
}

/// The instants InfluxDB can hold.
pub const MIN_TIME: i64 = -9_223_372_036_854_775_806;
pub const MAX_TIME: i64 = 9_223_372_036_854_775_806;
