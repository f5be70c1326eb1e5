//! `manifest.json`: what a dump directory holds. Each measurement lists its
//! fields with their types and its chunk files, each with the window of
//! time it covers, its counts and the blake3 fingerprint of its content.
//! The manifest is the dump's commit point: a chunk file is written under
//! a new name first, the manifest is replaced atomically, and only then is
//! the old file removed, so a run killed at any moment leaves a manifest
//! whose every file exists and matches.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::series::FieldType;

pub const FILE: &str = "manifest.json";
pub const FORMAT: &str = "rangesync-dump";
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `rangesync-dump`: a JSON file of another tool is not taken for one.
    pub format: String,
    pub version: u32,
    /// Timestamps in the chunk files: nanoseconds since the epoch.
    pub precision: String,
    /// The length of a chunk in nanoseconds; chunks start at its multiples.
    pub chunk_ns: i64,
    pub measurements: Vec<MeasurementEntry>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MeasurementEntry {
    pub name: String,
    /// Field → type (`float`, `integer`, `unsigned`, `boolean`, `string`).
    pub fields: BTreeMap<String, String>,
    /// Sorted by start.
    pub chunks: Vec<ChunkEntry>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChunkEntry {
    /// `[start, end)` in nanoseconds.
    pub start: i64,
    pub end: i64,
    /// The start as RFC3339, for people reading the manifest.
    pub from: String,
    /// Relative to the dump directory.
    pub file: String,
    /// Lines (a series at one instant) and samples (one field's value).
    pub points: u64,
    pub samples: u64,
    /// blake3 of the uncompressed content, in hex.
    pub blake3: String,
}

impl Manifest {
    pub fn new(chunk_ns: i64) -> Manifest {
        Manifest { format: FORMAT.into(), version: VERSION, precision: "ns".into(), chunk_ns, measurements: Vec::new() }
    }

    /// Reads and checks a manifest; errors are one sentence naming the file.
    pub fn read(path: &Path) -> Result<Manifest, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| format!("{shown} is not a rangesync dump manifest: {e}"))?;
        if m.format != FORMAT {
            return Err(format!("{shown} is not a rangesync dump manifest (format '{}', expected '{FORMAT}')", m.format));
        }
        if m.version != VERSION {
            return Err(format!("{shown} is a dump of format version {}; this rangesync reads version {VERSION}", m.version));
        }
        if m.precision != "ns" || !(1..=super::MAX_CHUNK).contains(&m.chunk_ns) {
            return Err(format!("{shown} says precision '{}' and chunk {} ns; rangesync writes ns and a chunk of at most 366 days", m.precision, m.chunk_ns));
        }
        for entry in &m.measurements {
            for (field, kind) in &entry.fields {
                field_type(kind).ok_or_else(|| format!("{shown}: field {field} of {} has an unknown type '{kind}'", entry.name))?;
            }
        }
        Ok(m)
    }

    /// Replaces the manifest atomically (a temporary file renamed over it).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        super::write_atomically(&dir.join(FILE), text.as_bytes())
    }

    pub fn measurement(&self, name: &str) -> Option<&MeasurementEntry> {
        self.measurements.iter().find(|m| m.name == name)
    }

    pub fn measurement_mut(&mut self, name: &str) -> &mut MeasurementEntry {
        let i = match self.measurements.iter().position(|m| m.name == name) {
            Some(i) => i,
            None => {
                self.measurements.push(MeasurementEntry { name: name.to_string(), fields: BTreeMap::new(), chunks: Vec::new() });
                self.measurements.sort_by(|a, b| a.name.cmp(&b.name));
                self.measurements.iter().position(|m| m.name == name).unwrap_or_default()
            }
        };
        &mut self.measurements[i]
    }
}

impl MeasurementEntry {
    pub fn chunk(&self, start: i64) -> Option<&ChunkEntry> {
        self.chunks.iter().find(|c| c.start == start)
    }
}

pub fn field_type(name: &str) -> Option<FieldType> {
    [FieldType::Float, FieldType::Integer, FieldType::Unsigned, FieldType::Boolean, FieldType::String].into_iter().find(|t| t.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_and_refuses_what_is_not_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::new(86_400_000_000_000);
        m.measurement_mut("cpu").fields.insert("usage".into(), "float".into());
        m.measurement_mut("cpu").chunks.push(ChunkEntry {
            start: 0,
            end: 86_400_000_000_000,
            from: "1970-01-01T00:00:00Z".into(),
            file: "cpu/19700101T000000Z-0123.lp.gz".into(),
            points: 1,
            samples: 1,
            blake3: "00".into(),
        });
        m.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(&dir.path().join(FILE)).unwrap(), m);
        std::fs::write(dir.path().join(FILE), r#"{"format":"other","version":1,"precision":"ns","chunk_ns":1,"measurements":[]}"#).unwrap();
        assert!(Manifest::read(&dir.path().join(FILE)).unwrap_err().contains("format 'other'"));
        std::fs::write(dir.path().join(FILE), "{").unwrap();
        assert!(Manifest::read(&dir.path().join(FILE)).unwrap_err().contains("is not a rangesync dump manifest"));
        std::fs::write(dir.path().join(FILE), r#"{"format":"rangesync-dump","version":1,"precision":"ns","chunk_ns":1,"measurements":[{"name":"m","fields":{"f":"decimal"},"chunks":[]}]}"#).unwrap();
        assert!(Manifest::read(&dir.path().join(FILE)).unwrap_err().contains("unknown type 'decimal'"));
    }
}
