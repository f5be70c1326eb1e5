//! What the engine asks of a time-series store. Each connector (InfluxDB,
//! VictoriaMetrics, OpenTSDB, dump directories) implements
//! [`SeriesStore`]; the narrowing in [`super::diff`] only speaks to it.

use async_trait::async_trait;

use super::sample::{FieldType, Precision, Sample, Series};
use super::window::Window;
use crate::engine::store::StoreResult;

/// A measurement (an InfluxDB measurement, or the metrics
/// `measurement_field` of VictoriaMetrics) and its fields with their types,
/// named as the source names them. Passed to every read and write, it is
/// also the request: which points (`condition`) and what of them
/// (`sums`) are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measurement {
    pub name: String,
    pub fields: Vec<(String, FieldType)>,
    /// Only points this condition holds for (a profile's `where`, in the
    /// store's query language); asked only of a store that
    /// [`SeriesCapabilities::can_select`].
    pub condition: Option<String>,
    /// Counts carry sums too ([`Count::sum`]); asked only when both stores
    /// [`SeriesCapabilities::sums`] (a sum costs more than the count).
    pub sums: bool,
}

impl Measurement {
    /// A measurement as a store lists it: every point, counts alone.
    pub fn new(name: impl Into<String>, fields: Vec<(String, FieldType)>) -> Self {
        Measurement { name: name.into(), fields, condition: None, sums: false }
    }

    pub fn field_type(&self, field: &str) -> Option<FieldType> {
        self.fields.iter().find(|(f, _)| f == field).map(|(_, t)| *t)
    }
}

/// How many samples of one field of one series a store holds in one
/// window: the fingerprint the narrowing compares, computed in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    pub series: Series,
    pub field: String,
    /// The start of the window counted (a child of the window asked about).
    pub start: i64,
    pub count: u64,
    /// A fingerprint of the window's values, where the store computes one
    /// (InfluxDB's `sum()` of a numeric field, VictoriaMetrics'
    /// `sum_over_time`). Two stores' windows differ when both give one and
    /// they disagree: a value changed in place is found without reading
    /// the window.
    pub sum: Option<Sum>,
}

/// A window's sum of a numeric field, as a store computed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sum {
    Int(i64),
    /// A float's bits (so that sums compare exactly and `Eq` holds).
    Float(u64),
}

impl Sum {
    pub fn float(f: f64) -> Sum {
        Sum::Float(f.to_bits())
    }

    /// Whether two stores' sums show the window's values differ. Integer
    /// sums are exact; float sums must be equal (both stores add in time
    /// order, so equal samples give equal sums; where one store rounds
    /// otherwise the window is read, never called equal wrongly). An
    /// integer sum meets a float one where a store keeps integers as
    /// floats: past 2^53 the float cannot say, and is no evidence.
    pub fn disagrees(self, other: Sum) -> bool {
        const EXACT: i64 = 1 << 53;
        match (self, other) {
            (Sum::Int(a), Sum::Int(b)) => a != b,
            (Sum::Float(a), Sum::Float(b)) => a != b && f64::from_bits(a) != f64::from_bits(b),
            (Sum::Int(i), Sum::Float(f)) | (Sum::Float(f), Sum::Int(i)) => (-EXACT..=EXACT).contains(&i) && i as f64 != f64::from_bits(f),
        }
    }
}

/// What a time-series store can do; checked before anything is promised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesCapabilities {
    /// The finest time the store keeps.
    pub precision: Precision,
    /// Points can be deleted by series and time window.
    pub can_delete: bool,
    /// The instants the store can hold and answer about: a comparison
    /// without `--start`/`--end` covers what both can.
    pub earliest: i64,
    pub latest: i64,
    /// Counting a span costs in proportion to the windows holding samples,
    /// not to all of them (InfluxDB's `fill(none)`, OpenTSDB's fill
    /// policy none, a dump); VictoriaMetrics evaluates every step.
    pub counts_skip_empty: bool,
    /// Can compute a sum per window beside each count (see [`Count::sum`]).
    pub sums: bool,
    /// Can read only the points a condition holds for ([`Measurement::condition`]).
    pub can_select: bool,
    /// Can say what a write would send ([`SeriesStore::render_writes`]).
    pub can_print: bool,
    /// Requests the store is asked at once (an HTTP endpoint's
    /// `concurrency=`, 1 by default): `copy` keeps that many reads or
    /// writes in flight. The connector holds the bound whatever is asked.
    pub concurrency: usize,
}

#[async_trait]
pub trait SeriesStore: Send + Sync {
    /// The endpoint as it may be shown (no secret).
    fn describe(&self) -> String;

    fn capabilities(&self) -> SeriesCapabilities;

    /// The type a value of type `t` becomes once written here, or `None`
    /// when the store cannot hold it (strings in VictoriaMetrics).
    fn keeps(&self, t: FieldType) -> Option<FieldType> {
        Some(t)
    }

    /// Every measurement with its fields. `pick` is `--measurement`: a
    /// store whose names do not say where the measurement ends (a
    /// VictoriaMetrics metric `disk_io_reads`) cuts them where it matches.
    async fn measurements(&self, pick: Option<&regex::Regex>) -> StoreResult<Vec<Measurement>>;

    /// Samples per series and field in each window of `parent` cut at
    /// multiples of `step` from the epoch (the whole of `parent` as one
    /// window when `step` is `None`). Windows without samples may be left
    /// out. `Count::start` is the start of the window, clipped to `parent`.
    /// With `series` given, only those need counting (a store may count
    /// more: the caller keeps what it asked for).
    async fn counts(&self, m: &Measurement, parent: Window, step: Option<i64>, series: &[Series]) -> StoreResult<Vec<Count>>;

    /// The samples of `m` in `window`, of the given series only (all when
    /// `series` is empty; a store may return more, the caller filters).
    async fn samples(&self, m: &Measurement, window: Window, series: &[Series]) -> StoreResult<Vec<Sample>>;

    /// The samples of several windows, each of the series given with it
    /// (none: every series), in one request where the store takes several
    /// queries at once; by default one [`samples`](Self::samples) each.
    /// No sample is asked for twice.
    async fn samples_of(&self, m: &Measurement, parts: &[(Window, Vec<Series>)]) -> StoreResult<Vec<Sample>> {
        let mut out = Vec::new();
        for (window, series) in parts {
            out.extend(self.samples(m, *window, series).await?);
        }
        Ok(out)
    }

    /// Writes samples (an upsert: a sample at an existing series, field
    /// and time replaces its value). Idempotent.
    async fn write(&self, m: &Measurement, samples: &[Sample]) -> StoreResult<()>;

    /// Says (as a warning) what would make writes here go wrong, before a
    /// run writes: a VictoriaMetrics without deduplication.
    async fn warn_before_writes(&self) {}

    /// Makes everything written so far visible to reads (VictoriaMetrics
    /// buffers writes for about a second). Called once, at the end of a
    /// run that wrote.
    async fn flush(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Deletes every point (all fields) of each series in its window. Only
    /// called when [`SeriesCapabilities::can_delete`] says so. Idempotent.
    async fn delete(&self, m: &Measurement, points: &[(Series, Window)]) -> StoreResult<()>;

    /// What [`SeriesStore::delete`] and [`SeriesStore::write`] would send
    /// for these (`sync --dry-run --print`): statements, lines. Sends
    /// nothing. Only called when [`SeriesCapabilities::can_print`] says so.
    async fn render_writes(&self, m: &Measurement, deletes: &[(Series, Window)], samples: &[Sample]) -> StoreResult<Vec<String>>;
}

/// Converts a value read in the source to what it becomes in a store
/// keeping type `to` (an integer written into VictoriaMetrics is a float),
/// so that values compare as the target holds them.
pub fn convert(value: &crate::engine::value::Value, to: FieldType) -> crate::engine::value::Value {
    use crate::engine::value::Value;
    match (value, to) {
        (Value::Int(i), FieldType::Float) => Value::Float(*i as f64),
        (Value::UInt(u), FieldType::Float) => Value::Float(*u as f64),
        (Value::Bool(b), FieldType::Float) => Value::Float(if *b { 1.0 } else { 0.0 }),
        (Value::UInt(u), FieldType::Integer) if *u <= i64::MAX as u64 => Value::Int(*u as i64),
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::Sum;

    #[test]
    fn sums_disagree_only_on_evidence() {
        assert!(Sum::Int(5).disagrees(Sum::Int(6)));
        assert!(!Sum::float(0.0).disagrees(Sum::float(-0.0)), "-0.0 sums to what 0.0 does");
        assert!(Sum::float(1.5).disagrees(Sum::float(1.25)));
        // An integer field kept as floats (VictoriaMetrics).
        assert!(!Sum::Int(3).disagrees(Sum::float(3.0)));
        assert!(Sum::Int(3).disagrees(Sum::float(3.5)));
        // Past 2^53 the float cannot say whether the integers agree.
        assert!(!Sum::Int((1 << 53) + 1).disagrees(Sum::float(9_007_199_254_740_992.0)));
        assert!(!Sum::Int((1 << 60) + 7).disagrees(Sum::float(1.0)));
    }
}
