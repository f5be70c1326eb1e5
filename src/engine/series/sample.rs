//! What time-series stores hold, in one model: a *sample* is one field's
//! value of one series at one instant. An InfluxDB point with three fields
//! is three samples; a VictoriaMetrics or OpenTSDB sample is one. Comparing
//! samples is what lets an InfluxDB measurement's field line up with a
//! VictoriaMetrics metric (`measurement_field`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use crate::engine::fingerprint::{RowHash, RustHash};
use crate::engine::value::Value;

/// A measurement (or metric) and its tags, sorted by tag key: two stores
/// listing the same tags in another order name the same series.
///
/// Shared, not copied: every sample of a read points at its series' one
/// copy, so a million samples of a hundred series cost a hundred sets of
/// strings, and comparing two samples of one series compares a pointer.
#[derive(Clone)]
pub struct Series(Arc<SeriesKey>);

/// What a [`Series`] holds (reached through it by `Deref`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
}

impl Series {
    pub fn new(measurement: impl Into<String>, tags: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut tags: Vec<(String, String)> = tags.into_iter().collect();
        tags.sort();
        Series(Arc::new(SeriesKey { measurement: measurement.into(), tags }))
    }

    /// The measurement and tags, to build another series from.
    pub fn into_parts(self) -> (String, Vec<(String, String)>) {
        let key = Arc::unwrap_or_clone(self.0);
        (key.measurement, key.tags)
    }
}

impl Deref for Series {
    type Target = SeriesKey;
    fn deref(&self) -> &SeriesKey {
        &self.0
    }
}

impl PartialEq for Series {
    fn eq(&self, other: &Series) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for Series {}

impl Ord for Series {
    fn cmp(&self, other: &Series) -> Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for Series {
    fn partial_cmp(&self, other: &Series) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Series {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl fmt::Debug for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Series {
    /// `cpu{host="a",region="eu"}`, the form people know from PromQL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.measurement)?;
        if !self.tags.is_empty() {
            let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            write!(f, "{{{}}}", tags.join(","))?;
        }
        Ok(())
    }
}

/// How finely a store keeps time. A comparison across stores runs at the
/// coarser of the two: InfluxDB's nanoseconds against VictoriaMetrics'
/// milliseconds compare at milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    Nanosecond,
    Microsecond,
    Millisecond,
    Second,
}

impl Precision {
    pub fn nanos(self) -> i64 {
        match self {
            Precision::Nanosecond => 1,
            Precision::Microsecond => 1_000,
            Precision::Millisecond => 1_000_000,
            Precision::Second => 1_000_000_000,
        }
    }

    pub fn coarser(self, other: Precision) -> Precision {
        self.max(other)
    }

    /// The instant as this precision keeps it (rounded down, before the
    /// epoch too).
    pub fn truncate(self, t: i64) -> i64 {
        t - t.rem_euclid(self.nanos())
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::Nanosecond => "nanoseconds",
            Precision::Microsecond => "microseconds",
            Precision::Millisecond => "milliseconds",
            Precision::Second => "seconds",
        }
    }
}

/// The value types a field keeps. A float never equals an integer of the
/// same number: InfluxDB refuses to mix them in one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldType {
    Float,
    Integer,
    Unsigned,
    Boolean,
    String,
}

impl FieldType {
    pub fn of(v: &Value) -> Option<FieldType> {
        match v {
            Value::Float(_) => Some(FieldType::Float),
            Value::Int(_) => Some(FieldType::Integer),
            Value::UInt(_) => Some(FieldType::Unsigned),
            Value::Bool(_) => Some(FieldType::Boolean),
            Value::Text(_) => Some(FieldType::String),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::Unsigned => "unsigned",
            FieldType::Boolean => "boolean",
            FieldType::String => "string",
        }
    }
}

/// One field's value of one series at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub series: Series,
    pub field: String,
    /// Nanoseconds since the epoch.
    pub time: i64,
    /// Float, Int, UInt, Bool or Text.
    pub value: Value,
}

impl Sample {
    /// The hash `--verify exact` compares: series, field, time at the
    /// comparison's precision, and the value's canonical encoding (so a
    /// float and an integer of one number differ, and `-0.0` is not `0.0`).
    pub fn hash(&self, precision: Precision) -> RowHash {
        let mut values = Vec::with_capacity(4 + 2 * self.series.tags.len());
        values.push(Value::Text(self.series.measurement.clone()));
        values.push(Value::Int(self.series.tags.len() as i64));
        for (k, v) in &self.series.tags {
            values.push(Value::Text(k.clone()));
            values.push(Value::Text(v.clone()));
        }
        values.push(Value::Text(self.field.clone()));
        values.push(Value::Int(precision.truncate(self.time)));
        values.push(self.value.clone());
        RowHash::of_values_with(RustHash::Blake3, &values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(tags: &[(&str, &str)], time: i64, value: Value) -> Sample {
        Sample {
            series: Series::new("cpu", tags.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
            field: "usage".into(),
            time,
            value,
        }
    }

    #[test]
    fn tag_order_does_not_matter_but_every_part_of_a_sample_does() {
        let a = sample(&[("host", "a"), ("dc", "eu")], 1_000_000_123, Value::Float(1.0));
        let b = sample(&[("dc", "eu"), ("host", "a")], 1_000_000_123, Value::Float(1.0));
        assert_eq!(a.series, b.series);
        assert_eq!(a.hash(Precision::Nanosecond), b.hash(Precision::Nanosecond));
        assert_eq!(a.series.to_string(), r#"cpu{dc="eu",host="a"}"#);
        let differs = [
            sample(&[("host", "a"), ("dc", "us")], 1_000_000_123, Value::Float(1.0)),
            sample(&[("host", "a")], 1_000_000_123, Value::Float(1.0)),
            sample(&[("host", "a"), ("dc", "eu")], 1_000_000_124, Value::Float(1.0)),
            sample(&[("host", "a"), ("dc", "eu")], 1_000_000_123, Value::Int(1)),
            sample(&[("host", "a"), ("dc", "eu")], 1_000_000_123, Value::Float(-0.0)),
        ];
        for d in &differs {
            assert_ne!(a.hash(Precision::Nanosecond), d.hash(Precision::Nanosecond), "{d:?}");
        }
        // A tag value that looks like two tags is not two tags.
        let glued = sample(&[("host", "a,dc=eu")], 1_000_000_123, Value::Float(1.0));
        assert_ne!(a.hash(Precision::Nanosecond), glued.hash(Precision::Nanosecond));
    }

    #[test]
    fn a_comparison_at_milliseconds_ignores_what_only_nanoseconds_keep() {
        let ns = sample(&[], 1_000_000_123, Value::Float(1.0));
        let ms = sample(&[], 1_000_000_000, Value::Float(1.0));
        assert_ne!(ns.hash(Precision::Nanosecond), ms.hash(Precision::Nanosecond));
        assert_eq!(ns.hash(Precision::Millisecond), ms.hash(Precision::Millisecond));
        assert_eq!(Precision::Millisecond.truncate(-1), -1_000_000, "rounded down before the epoch");
        assert_eq!(Precision::Nanosecond.coarser(Precision::Millisecond), Precision::Millisecond);
    }
}
