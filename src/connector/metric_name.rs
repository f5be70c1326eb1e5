//! Metric names of the stores that name a field in the metric
//! (VictoriaMetrics, OpenTSDB): InfluxDB measurement `cpu` with field
//! `usage` is the metric `cpu_usage` (the separator is `--separator`).

use std::collections::BTreeMap;

use crate::engine::series::{FieldType, Measurement};

/// Measurements and their fields from a list of metric names (every field
/// a float): what VictoriaMetrics and OpenTSDB list.
pub fn measurements(names: Vec<String>, separator: &str, pick: Option<&regex::Regex>) -> Vec<Measurement> {
    let mut out: BTreeMap<String, Vec<(String, FieldType)>> = BTreeMap::new();
    for name in names {
        let (measurement, field) = split_metric(&name, separator, pick);
        out.entry(measurement).or_default().push((field, FieldType::Float));
    }
    out.into_iter().map(|(name, fields)| Measurement::new(name, fields)).collect()
}

/// What a store holding floats only keeps of a type: integers and
/// booleans become floats, strings cannot be held.
pub fn floats_only(t: FieldType) -> Option<FieldType> {
    (t != FieldType::String).then_some(FieldType::Float)
}

/// The metric holding one field of a measurement (the measurement itself
/// for the empty field).
pub fn metric(measurement: &str, field: &str, separator: &str) -> String {
    if field.is_empty() {
        measurement.to_string()
    } else {
        format!("{measurement}{separator}{field}")
    }
}

/// Measurement and field of a metric name: cut at the first separator
/// whose left part `pick` matches (`--measurement '^disk_io$'` cuts
/// `disk_io_reads` after `disk_io`), else at the first separator. A name
/// without one is a measurement with the empty field (InfluxDB: `value`).
pub fn split_metric(name: &str, separator: &str, pick: Option<&regex::Regex>) -> (String, String) {
    let cuts: Vec<usize> = name.match_indices(separator).map(|(i, _)| i).filter(|&i| i > 0 && i + separator.len() < name.len()).collect();
    let chosen = match pick {
        Some(r) => cuts.iter().copied().find(|&i| r.is_match(&name[..i])).or(cuts.first().copied()),
        None => cuts.first().copied(),
    };
    match chosen {
        Some(i) => (name[..i].to_string(), name[i + separator.len()..].to_string()),
        None => (name.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::split_metric;

    #[test]
    fn metric_names_split_where_the_measurement_pattern_says() {
        let s = |n: &str, p: Option<&str>| {
            let r = p.map(|p| regex::Regex::new(p).unwrap());
            split_metric(n, "_", r.as_ref())
        };
        assert_eq!(s("cpu_usage_idle", None), ("cpu".into(), "usage_idle".into()));
        assert_eq!(s("disk_io_reads", Some("^disk_io$")), ("disk_io".into(), "reads".into()));
        assert_eq!(s("up", None), ("up".into(), String::new()));
        assert_eq!(s("_x", None), ("_x".into(), String::new()));
        assert_eq!(s("a_b", Some("^zzz$")), ("a".into(), "b".into()));
    }
}
