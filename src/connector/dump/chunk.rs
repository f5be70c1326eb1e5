//! One chunk file: the points of one measurement in one window of time, as
//! line protocol (nanosecond timestamps, types kept by their suffixes),
//! sorted by series then time, gzipped. Its fingerprint is the blake3 of
//! the uncompressed lines, so equal content has an equal fingerprint.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::connector::line_protocol;
use crate::engine::series::{Sample, Series, Window};
use crate::engine::value::Value;

/// The samples of a chunk, in the file's order: series, time, field. Each
/// series is held once, however many samples it has.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Content {
    by_series: BTreeMap<Series, BTreeMap<(i64, String), Value>>,
    samples: usize,
}

impl Content {
    pub fn new() -> Content {
        Content::default()
    }

    /// Adds or replaces one sample.
    pub fn insert(&mut self, series: &Series, time: i64, field: String, value: Value) {
        let points = match self.by_series.get_mut(series) {
            Some(p) => p,
            None => self.by_series.entry(series.clone()).or_default(),
        };
        if points.insert((time, field), value).is_none() {
            self.samples += 1;
        }
    }

    /// Removes every sample of `series` in `window`.
    pub fn remove_in(&mut self, series: &Series, window: Window) {
        if let Some(points) = self.by_series.get_mut(series) {
            let before = points.len();
            points.retain(|(t, _), _| !window.contains(*t));
            self.samples -= before - points.len();
            if points.is_empty() {
                self.by_series.remove(series);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.samples
    }

    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    /// (series, time, field, value), in the file's order.
    pub fn iter(&self) -> impl Iterator<Item = (&Series, i64, &str, &Value)> {
        self.by_series.iter().flat_map(|(s, points)| points.iter().map(move |((t, f), v)| (s, *t, f.as_str(), v)))
    }

    /// Points (lines): a series at one instant.
    pub fn points(&self) -> u64 {
        let mut n = 0;
        for points in self.by_series.values() {
            let mut last = None;
            for (t, _) in points.keys() {
                if last != Some(*t) {
                    n += 1;
                    last = Some(*t);
                }
            }
        }
        n
    }
}

/// The uncompressed lines of a chunk.
pub fn encode(measurement: &str, content: &Content) -> Result<String, String> {
    let mut text = String::new();
    // One series at a time: its samples are encoded, then dropped.
    for (series, points) in &content.by_series {
        let samples: Vec<Sample> =
            points.iter().map(|((time, field), value)| Sample { series: series.clone(), field: field.clone(), time: *time, value: value.clone() }).collect();
        text.push_str(&line_protocol::encode(&samples, measurement, |f| f.to_string(), usize::MAX, line_protocol::Dialect::Dump)?.concat());
    }
    Ok(text)
}

/// Parses the lines of a chunk file of `measurement`. Errors name the line
/// (`FILE line N: ...`), so a hand-edited dump says where it is wrong.
pub fn decode(text: &str, file: &str, measurement: &str) -> Result<Content, String> {
    let mut content = Content::new();
    for (i, line) in text.lines().enumerate() {
        // Nothing else: a measurement may begin with `#`.
        if line.is_empty() {
            continue;
        }
        let at = || format!("{file} line {}", i + 1);
        let point = line_protocol::parse(line).map_err(|e| format!("{}: {e}", at()))?;
        if point.series.measurement != measurement {
            return Err(format!("{}: a point of measurement '{}' in a file of '{measurement}'", at(), point.series.measurement));
        }
        for (field, value) in point.fields {
            content.insert(&point.series, point.time, field, value);
        }
    }
    Ok(content)
}

pub fn fingerprint(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

pub fn gzip(text: &str) -> std::io::Result<Vec<u8>> {
    let mut e = GzEncoder::new(Vec::with_capacity(text.len() / 4), Compression::fast());
    e.write_all(text.as_bytes())?;
    e.finish()
}

pub fn gunzip(bytes: &[u8]) -> std::io::Result<String> {
    let mut text = String::new();
    GzDecoder::new(bytes).read_to_string(&mut text)?;
    Ok(text)
}

/// A measurement name as a directory name: letters, digits, `_` and `-`
/// kept, every other byte as `%XX` (so `/`, `..` or a space cannot escape
/// or clash).
pub fn directory(measurement: &str) -> String {
    let mut out = String::new();
    for b in measurement.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `cpu/20240101T000000Z-1a2b3c4d5e6f.lp.gz`: the chunk's start and the
/// start of its fingerprint, so a rewritten chunk gets a new name.
pub fn file_name(measurement: &str, start: i64, fingerprint: &str) -> String {
    let stamp = chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(start).format("%Y%m%dT%H%M%S%.fZ").to_string();
    format!("{}/{stamp}-{}.lp.gz", directory(measurement), &fingerprint[..12.min(fingerprint.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_round_trips_with_its_types_and_fingerprint() {
        let s = Series::new("cpu", [("host".to_string(), "a b".to_string())]);
        let mut c = Content::new();
        c.insert(&s, 5, "f".into(), Value::Float(1.5));
        c.insert(&s, 5, "n".into(), Value::UInt(7));
        c.insert(&s, -3, "s".into(), Value::Text("x\"y".into()));
        c.insert(&Series::new("cpu", []), 5, "b".into(), Value::Bool(true));
        let text = encode("cpu", &c).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert_eq!(c.points(), 3);
        assert_eq!(c.len(), 4);
        let mut d = c.clone();
        d.remove_in(&s, Window::new(0, 10));
        assert_eq!((d.len(), d.points()), (2, 2));
        assert_eq!(decode(&text, "f", "cpu").unwrap(), c);
        assert_eq!(gunzip(&gzip(&text).unwrap()).unwrap(), text);
        assert_eq!(fingerprint(&text), fingerprint(&encode("cpu", &decode(&text, "f", "cpu").unwrap()).unwrap()));
        let bad = format!("{text}cpu,host=a v= 1\n");
        assert!(decode(&bad, "cpu/x.lp.gz", "cpu").unwrap_err().starts_with("cpu/x.lp.gz line 4: field 'v'"));
        assert!(decode("mem v=1 1", "x", "cpu").unwrap_err().contains("measurement 'mem' in a file of 'cpu'"));
    }

    #[test]
    fn names_cannot_escape_the_directory() {
        assert_eq!(directory("cpu_load-1"), "cpu_load-1");
        assert_eq!(directory("../a b"), "%2E%2E%2Fa%20b");
        assert_eq!(file_name("m", 1_704_067_200_000_000_000, "abcdef0123456789"), "m/20240101T000000Z-abcdef012345.lp.gz");
        assert_eq!(file_name("m", -1_000_000_000, "ab"), "m/19691231T235959Z-ab.lp.gz");
    }
}
