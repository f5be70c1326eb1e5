//! Compares the samples both stores hold in one window, point by point,
//! and says what to write and what to delete.
//!
//! A *point* is a series at one instant (at the comparison's precision)
//! with its fields. It is missing when the target has none of its fields,
//! extra when the source has none, changed when a field differs, is absent
//! on one side, or holds another value.

use std::collections::BTreeMap;

use super::sample::{Precision, Sample, Series};
use super::store::{convert, Measurement};
use super::window::{rfc3339, Window};
use crate::engine::report::SampleDifference;
use crate::engine::value::Value;

/// Fields of one point, by name.
type Fields = BTreeMap<String, Value>;

/// What one window's comparison found and what repairs it.
#[derive(Debug, Default)]
pub struct Outcome {
    pub missing: u64,
    pub extra: u64,
    pub changed: u64,
    /// Points read on each side.
    pub source_points: u64,
    pub target_points: u64,
    /// Source samples to write: every field of missing points, the
    /// differing fields of changed ones.
    pub writes: Vec<Sample>,
    /// Points of the target to delete (with `--delete`), each as its series
    /// and the window its instant covers at the comparison's precision.
    pub deletes: Vec<(Series, Window)>,
    /// Source samples to write again once `deletes` ran: a point whose
    /// target holds a field the source lacks can only be deleted whole.
    pub rewrites: Vec<Sample>,
    /// Points that only a delete would settle (extra points, extra fields).
    pub needs_delete: u64,
    /// Source samples that fell on one instant at the comparison's
    /// precision (nanoseconds into a millisecond store); the last is kept.
    pub collapsed: u64,
    /// Every point that differs, in time order per series.
    pub listed: Vec<Listed>,
}

/// One point that differs: how, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    pub kind: &'static str,
    pub series: Series,
    pub time: i64,
}

impl Listed {
    /// `cpu{host="a"} @ 2024-01-01T00:00:00Z`, as reports name a point.
    pub fn key(&self) -> String {
        format!("{} @ {}", self.series, rfc3339(self.time))
    }

    pub fn sample(&self) -> SampleDifference {
        SampleDifference { kind: self.kind, key: self.key() }
    }
}


/// Groups samples into points keyed by (series, time at `precision`). The
/// source's values are converted to the types the target keeps, so that a
/// value compares as it will be stored.
fn points(samples: Vec<Sample>, m: &Measurement, precision: Precision, collapsed: &mut u64) -> BTreeMap<(Series, i64), Fields> {
    let mut out: BTreeMap<(Series, i64), Fields> = BTreeMap::new();
    for s in samples {
        let Some(kind) = m.field_type(&s.field) else { continue };
        let value = convert(&s.value, kind);
        let fields = out.entry((s.series, precision.truncate(s.time))).or_default();
        if fields.insert(s.field, value).is_some() {
            *collapsed += 1;
        }
    }
    out
}

/// Equal as their canonical encodings are (NaN is NaN, `-0.0` is not
/// `0.0`). Called per sample: the usual cases are settled without
/// encoding anything.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) if x.to_bits() == y.to_bits() => true,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Text(x), Value::Text(y)) => x == y,
        _ => a.to_canonical_bytes() == b.to_canonical_bytes(),
    }
}

/// Compares what the source and the target hold in one window. `m` holds
/// the fields compared, typed as the target keeps them.
pub fn merge(m: &Measurement, precision: Precision, source: Vec<Sample>, target: Vec<Sample>) -> Outcome {
    let mut out = Outcome::default();
    let mut ignored = 0;
    let src = points(source, m, precision, &mut out.collapsed);
    let tgt = points(target, m, precision, &mut ignored);
    out.source_points = src.len() as u64;
    out.target_points = tgt.len() as u64;
    let mut src = src.into_iter().peekable();
    let mut tgt = tgt.into_iter().peekable();
    loop {
        let order = match (src.peek(), tgt.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match order {
            std::cmp::Ordering::Less => {
                let ((series, t), fields) = src.next().expect("peeked");
                out.missing += 1;
                note(&mut out.listed, "missing", &series, t);
                out.writes.extend(samples_of(&series, t, fields));
            }
            std::cmp::Ordering::Greater => {
                let ((series, t), _) = tgt.next().expect("peeked");
                out.extra += 1;
                out.needs_delete += 1;
                note(&mut out.listed, "extra", &series, t);
                out.deletes.push((series, Window::new(t, t + precision.nanos())));
            }
            std::cmp::Ordering::Equal => {
                let ((series, t), s_fields) = src.next().expect("peeked");
                let (_, t_fields) = tgt.next().expect("peeked");
                compare_point(&mut out, series, t, precision, s_fields, t_fields);
            }
        }
    }
    out
}

fn compare_point(out: &mut Outcome, series: Series, t: i64, precision: Precision, s_fields: Fields, t_fields: Fields) {
    let has_extra_field = t_fields.keys().any(|f| !s_fields.contains_key(f));
    let differing: Vec<String> = s_fields
        .iter()
        .filter(|(f, v)| t_fields.get(*f).is_none_or(|tv| !same(v, tv)))
        .map(|(f, _)| f.clone())
        .collect();
    if differing.is_empty() && !has_extra_field {
        return;
    }
    out.changed += 1;
    note(&mut out.listed, "changed", &series, t);
    if has_extra_field {
        // Deleting the point removes every field: the source's are
        // written again afterwards.
        out.needs_delete += 1;
        out.deletes.push((series.clone(), Window::new(t, t + precision.nanos())));
        out.rewrites.extend(samples_of(&series, t, s_fields.clone()));
    }
    let fields = s_fields.into_iter().filter(|(f, _)| differing.contains(f)).collect();
    out.writes.extend(samples_of(&series, t, fields));
}

fn samples_of(series: &Series, time: i64, fields: Fields) -> impl Iterator<Item = Sample> + '_ {
    fields.into_iter().map(move |(field, value)| Sample { series: series.clone(), field, time, value })
}

fn note(listed: &mut Vec<Listed>, kind: &'static str, series: &Series, time: i64) {
    listed.push(Listed { kind, series: series.clone(), time });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::series::sample::FieldType;

    fn m() -> Measurement {
        Measurement::new("cpu", vec![("a".into(), FieldType::Float), ("b".into(), FieldType::Float)])
    }

    fn s(host: &str, field: &str, time: i64, v: Value) -> Sample {
        Sample { series: Series::new("cpu", [("host".to_string(), host.to_string())]), field: field.into(), time, value: v }
    }

    #[test]
    fn points_are_missing_extra_or_changed_and_only_the_difference_is_written() {
        let source = vec![
            s("x", "a", 1_000_000, Value::Float(1.0)),
            s("x", "b", 1_000_000, Value::Float(2.0)),
            s("x", "a", 2_000_000, Value::Float(3.0)),
            s("x", "b", 2_000_000, Value::Float(4.0)),
            s("y", "a", 2_000_000, Value::Float(5.0)),
            s("y", "a", 3_000_000, Value::Float(6.0)),
        ];
        let target = vec![
            // x@1ms lacks field b
            s("x", "a", 1_000_000, Value::Float(1.0)),
            // x@2ms: b differs
            s("x", "a", 2_000_000, Value::Float(3.0)),
            s("x", "b", 2_000_000, Value::Float(4.5)),
            // y@2ms equal, y@3ms missing; z@3ms extra; y@2ms holds an extra field
            s("y", "a", 2_000_000, Value::Float(5.0)),
            s("y", "b", 2_000_000, Value::Float(0.0)),
            s("z", "a", 3_000_000, Value::Float(7.0)),
        ];
        let out = merge(&m(), Precision::Nanosecond, source, target);
        assert_eq!((out.missing, out.extra, out.changed), (1, 1, 3));
        assert_eq!(out.source_points, 4);
        assert_eq!(out.target_points, 4);
        let written: Vec<(String, String, i64)> =
            out.writes.iter().map(|w| (w.series.tags[0].1.clone(), w.field.clone(), w.time)).collect();
        assert_eq!(
            written,
            [("x".into(), "b".into(), 1_000_000), ("x".into(), "b".into(), 2_000_000), ("y".into(), "a".into(), 3_000_000)]
        );
        assert_eq!(out.deletes.len(), 2, "z@3ms and the point of y@2ms with its extra field");
        assert_eq!(out.rewrites.len(), 1);
        assert_eq!(out.needs_delete, 2);
    }

    #[test]
    fn values_compare_as_the_target_keeps_them_and_precision_is_the_coarser() {
        let typed = Measurement::new("cpu", vec![("a".into(), FieldType::Float)]);
        // An integer 3 written into a store keeping floats is 3.0; a
        // nanosecond instant compares at milliseconds.
        let out = merge(&typed, Precision::Millisecond, vec![s("x", "a", 1_000_123, Value::Int(3))], vec![s("x", "a", 1_000_000, Value::Float(3.0))]);
        assert_eq!((out.missing, out.extra, out.changed), (0, 0, 0));
        let out = merge(&typed, Precision::Millisecond, vec![s("x", "a", 1_000_000, Value::Float(-0.0))], vec![s("x", "a", 1_000_000, Value::Float(0.0))]);
        assert_eq!(out.changed, 1, "-0.0 is not 0.0");
        let nan = merge(&typed, Precision::Millisecond, vec![s("x", "a", 0, Value::Float(f64::NAN))], vec![s("x", "a", 0, Value::Float(f64::NAN))]);
        assert_eq!(nan.changed, 0, "NaN equals NaN as stored");
        let two = merge(
            &typed,
            Precision::Millisecond,
            vec![s("x", "a", 1_000_001, Value::Float(1.0)), s("x", "a", 1_000_002, Value::Float(2.0))],
            vec![],
        );
        assert_eq!((two.missing, two.collapsed), (1, 1));
    }
}
