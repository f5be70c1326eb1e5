//! The windows to read sample by sample, turned into requests: each window
//! names only the series that differ in it, and many windows go in one
//! request where the store takes several at once (InfluxDB: one statement
//! each), so a loss scattered over a day costs a few requests that return
//! only the differing series' samples.

use std::collections::BTreeSet;

use super::sample::{Precision, Sample, Series};
use super::window::Window;

/// At most this many series are named for one window; more read the whole
/// measurement of the window, filtered here. Naming costs a store little
/// (InfluxDB looks tags up in its index; a long query goes by POST), and
/// reading a series not asked for costs its every sample.
pub const SERIES_FILTER_LIMIT: usize = 1_000;
/// At most this many windows in one request.
const MAX_PARTS: usize = 200;

/// One request's worth of reading: the (window, series) entries it serves.
/// No two entries hold one sample (under `--verify exact` a window's equal
/// series and a finer window's differing ones overlap in time, never in
/// series), so a sample is compared once, by the entry holding it.
#[derive(Debug)]
pub struct Read {
    /// From the first entry's start to the last one's end (reads are in
    /// order of their starts).
    pub window: Window,
    parts: Vec<(Window, BTreeSet<Series>)>,
    rows: u64,
    /// Windows asked for that this read finishes (a window cut in parts is
    /// finished by its last part).
    finishes: u64,
}

impl Read {
    fn new(window: Window, series: BTreeSet<Series>, rows: u64, finishes: u64) -> Self {
        Read { window, parts: vec![(window, series)], rows, finishes }
    }

    /// What to ask a store: each entry's window and the series to name
    /// (none: every series), neighbours that want the same series joined.
    pub fn requests(&self) -> Vec<(Window, Vec<Series>)> {
        let mut out: Vec<(Window, &BTreeSet<Series>)> = Vec::new();
        for (w, series) in &self.parts {
            match out.last_mut() {
                Some((last, s)) if last.end == w.start && *s == series => last.end = w.end,
                _ => out.push((*w, series)),
            }
        }
        out.into_iter().map(|(w, series)| (w, named(series))).collect()
    }

    /// How many of the windows asked for this read finishes.
    pub fn windows(&self) -> u64 {
        self.finishes
    }

    /// Keeps the samples an entry asked for: stores may return more.
    /// (Under `--verify exact` a window's equal series and a finer window's
    /// differing ones overlap in time, so each entry is asked.)
    pub fn wanted(&self, samples: Vec<Sample>) -> Vec<Sample> {
        samples
            .into_iter()
            .filter(|s| self.parts.iter().any(|(w, series)| w.contains(s.time) && (series.is_empty() || series.contains(&s.series))))
            .collect()
    }
}

/// The series to name in a request: all (empty) when too many to name.
fn named(series: &BTreeSet<Series>) -> Vec<Series> {
    if series.len() > SERIES_FILTER_LIMIT {
        return Vec::new();
    }
    series.iter().cloned().collect()
}

/// Turns the windows to read (in time order) into requests of at most
/// `max_rows` samples: windows are joined, near or not, a window holding
/// more is cut in equal parts of time (at the comparison's precision).
pub fn batch_reads(reads: Vec<(Window, BTreeSet<Series>, u64)>, max_rows: u64, precision: Precision) -> Vec<Read> {
    let mut out: Vec<Read> = Vec::new();
    for (window, series, rows) in reads {
        if rows > max_rows {
            // In i128: a default span covers almost all of i64.
            let parts = i128::from(rows.div_ceil(max_rows));
            let length = i128::from(window.end) - i128::from(window.start);
            let width = (length / parts).max(i128::from(precision.nanos()));
            let width = (width - width % i128::from(precision.nanos())).min(i128::from(i64::MAX)) as i64;
            let mut start = window.start;
            while start < window.end {
                let end = if i128::from(window.end) - i128::from(start) < 2 * i128::from(width) { window.end } else { start + width };
                let part = Window::new(start, end);
                out.push(Read::new(part, series.clone(), max_rows, u64::from(end == window.end)));
                start = end;
            }
            continue;
        }
        match out.last_mut() {
            Some(last) if last.rows + rows <= max_rows && last.parts.len() < MAX_PARTS => {
                last.window.end = window.end;
                last.rows += rows;
                last.parts.push((window, series));
                last.finishes += 1;
            }
            _ => out.push(Read::new(window, series, rows, 1)),
        }
    }
    out
}

/// Points (a series at one instant) among samples.
pub fn points(samples: &[Sample]) -> u64 {
    let points: BTreeSet<(&Series, i64)> = samples.iter().map(|s| (&s.series, s.time)).collect();
    points.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = super::super::window::HOUR;

    fn series(host: &str) -> Series {
        Series::new("cpu", [("host".to_string(), host.to_string())])
    }

    #[test]
    fn reads_join_small_windows_cut_big_ones_and_compare_each_sample_once() {
        let a = BTreeSet::from([series("a")]);
        let b = BTreeSet::from([series("b")]);
        let reads = batch_reads(
            vec![
                (Window::new(0, H), a.clone(), 10),
                (Window::new(H, 2 * H), b.clone(), 10),
                (Window::new(5 * H, 6 * H), b.clone(), 10),
                (Window::new(6 * H, 7 * H), a.clone(), 1_000),
            ],
            100,
            Precision::Millisecond,
        );
        assert_eq!(reads.len(), 1 + 10, "three joined, gap or not; the big one in ten parts");
        assert_eq!(reads[0].window, Window::new(0, 6 * H));
        assert_eq!(reads.iter().map(Read::windows).sum::<u64>(), 4, "each window finished once");
        // Each window names its own series: nothing is read that no entry wants.
        assert_eq!(reads[0].requests(), vec![(Window::new(0, H), vec![series("a")]), (Window::new(H, 2 * H), vec![series("b")]), (Window::new(5 * H, 6 * H), vec![series("b")])]);
        let sample = |host: &str, time: i64| Sample { series: series(host), field: "v".into(), time, value: crate::engine::value::Value::Int(1) };
        let kept = reads[0].wanted(vec![sample("a", 1), sample("b", 1), sample("a", H + 1), sample("b", H + 1), sample("b", 3 * H)]);
        assert_eq!(kept, vec![sample("a", 1), sample("b", H + 1)]);
        let parts: Vec<Window> = reads[1..].iter().map(|r| r.window).collect();
        assert_eq!(parts.first().unwrap().start, 6 * H);
        assert_eq!(parts.last().unwrap().end, 7 * H);
        assert!(parts.windows(2).all(|p| p[0].end == p[1].start), "the parts tile the window");
        assert!(parts.iter().all(|p| p.start % 1_000_000 == 0), "cut at milliseconds");
    }

    #[test]
    fn neighbours_wanting_the_same_series_are_one_request_and_many_series_are_all() {
        let a = BTreeSet::from([series("a")]);
        let reads = batch_reads(vec![(Window::new(0, H), a.clone(), 1), (Window::new(H, 2 * H), a.clone(), 1)], 100, Precision::Second);
        assert_eq!(reads[0].requests(), vec![(Window::new(0, 2 * H), vec![series("a")])]);
        let many: BTreeSet<Series> = (0..=SERIES_FILTER_LIMIT).map(|i| series(&i.to_string())).collect();
        let reads = batch_reads(vec![(Window::new(0, H), many, 1)], 100, Precision::Second);
        assert_eq!(reads[0].requests(), vec![(Window::new(0, H), vec![])]);
    }
}
