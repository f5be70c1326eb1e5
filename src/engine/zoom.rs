//! Zoom levels: how ranges are narrowed, coarse to fine.

use std::fmt;
use std::str::FromStr;

/// Chunk sizes in rows, strictly decreasing. Each size above 1 is a
/// fingerprint level; after the last one the engine compares (key, row
/// hash) pairs inside the ranges still mismatched. A trailing `1` spells out
/// that pair level and may be left off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zoom {
    levels: Vec<u64>,
}

/// The default: the first pass hashes every row once in ranges of 10,000
/// rows, the second narrows mismatched ones to 100 rows, and only those are
/// compared row by row. docs/benchmarks.md shows why (it beats 100000,1000,1
/// on both small and scattered drift).
pub const DEFAULT_ZOOM: &str = "10000,100,1";

impl Zoom {
    /// Fingerprint levels (sizes above 1), coarse to fine.
    pub fn fingerprint_levels(&self) -> &[u64] {
        &self.levels
    }
}

impl Default for Zoom {
    fn default() -> Self {
        DEFAULT_ZOOM.parse().expect("the default zoom parses")
    }
}

impl FromStr for Zoom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut sizes = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let size: u64 = part.replace('_', "").parse().map_err(|_| {
                format!("zoom level '{part}' is not a whole number of rows (expected e.g. 100000,1000,1)")
            })?;
            if size == 0 {
                return Err("zoom levels must be at least 1 row".into());
            }
            if let Some(&prev) = sizes.last() {
                if size >= prev {
                    return Err(format!(
                        "zoom levels go from coarse to fine: {size} after {prev} does not get smaller"
                    ));
                }
            }
            sizes.push(size);
        }
        if sizes.last() == Some(&1) {
            sizes.pop();
        }
        Ok(Zoom { levels: sizes })
    }
}

impl fmt::Display for Zoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.levels {
            write!(f, "{l},")?;
        }
        f.write_str("1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_and_the_implicit_pair_level() {
        let z: Zoom = "100000,1000,1".parse().unwrap();
        assert_eq!(z.fingerprint_levels(), &[100000, 1000]);
        assert_eq!(z.to_string(), "100000,1000,1");
        let z: Zoom = "5000, 50".parse().unwrap();
        assert_eq!(z.fingerprint_levels(), &[5000, 50]);
        let z: Zoom = "1".parse().unwrap();
        assert!(z.fingerprint_levels().is_empty());
        assert_eq!(Zoom::default().to_string(), DEFAULT_ZOOM);
    }

    #[test]
    fn rejects_bad_levels_with_a_sentence() {
        assert!("100,1000".parse::<Zoom>().unwrap_err().contains("coarse to fine"));
        assert!("0".parse::<Zoom>().unwrap_err().contains("at least 1"));
        assert!("1h".parse::<Zoom>().unwrap_err().contains("'1h'"));
        assert!("".parse::<Zoom>().is_err());
    }
}
