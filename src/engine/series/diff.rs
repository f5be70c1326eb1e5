//! The narrowing for time series: sample counts per series and field are
//! computed inside both stores, first over the whole span, then over the
//! windows of each zoom step inside the windows that differed. Only the
//! finest windows that still differ are read sample by sample, merged, and
//! repaired.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::merge::{self, Outcome};
use super::sample::{Precision, Sample, Series};
use super::store::{Count, Measurement, SeriesStore};
use super::window::{TimeZoom, Window};
use super::sink::SeriesSink;
use crate::engine::error::EngineError;
use crate::engine::progress::Progress;
use crate::engine::report::DatasetReport;
use crate::engine::retry::RetryPolicy;

#[derive(Clone)]
pub struct SeriesOptions {
    pub zoom: TimeZoom,
    /// The time compared: `--start`/`--end`.
    pub span: Window,
    /// `--verify exact`: windows whose counts agree are read and compared
    /// sample by sample too, so a changed value with equal counts is found.
    pub exact: bool,
    /// The most samples one request may return; a window holding more is
    /// read in parts.
    pub max_rows: u64,
    pub retry: RetryPolicy,
    /// Where a `sync` records how far in time it has compared and
    /// repaired, so a killed run resumes from there.
    pub progressed: Option<std::sync::Arc<dyn Progressed>>,
}

/// Told, as a sync goes on, the instant before which every window is
/// compared and repaired (reads go in time order).
#[async_trait::async_trait]
pub trait Progressed: Send + Sync {
    async fn finished_until(&self, until: i64) -> Result<(), EngineError>;
}

/// What a comparison of one measurement found, beyond the report.
#[derive(Debug, Default)]
pub struct Findings {
    pub report: DatasetReport,
    /// Points of the target that only a delete would settle and that were
    /// kept (no `--delete`, or a target that cannot delete).
    pub kept: u64,
    /// Source samples that fell on one instant at the comparison precision.
    pub collapsed: u64,
}

/// Windows still differing at one level, each with the series that
/// differ in it and the most samples either side holds of them.
type Pending = BTreeMap<Window, (BTreeSet<Series>, u64)>;

/// At most this many series are named in a request; more read the whole
/// measurement of the window, filtered here.
const SERIES_FILTER_LIMIT: usize = 32;
/// At most this many child windows per count request.
const MAX_STEPS_PER_REQUEST: i64 = 5_000;

/// Compares one measurement, its differences going to `sink` (which
/// repairs, prints or counts them). `m` names the fields compared, typed
/// as the target keeps them.
pub async fn compare(
    m: &Measurement,
    precision: Precision,
    source: &dyn SeriesStore,
    target: &dyn SeriesStore,
    options: &SeriesOptions,
    sink: &dyn SeriesSink,
    progress: &dyn Progress,
) -> Result<Findings, EngineError> {
    let mut findings = Findings { report: DatasetReport { name: m.name.clone(), ..Default::default() }, ..Default::default() };
    let retry = options.retry;
    progress.begin(&m.name, 1);
    let mut fetch: Vec<(Window, BTreeSet<Series>, u64)> = Vec::new();
    let whole = BTreeMap::from([(options.span, (BTreeSet::new(), 0))]);
    let steps = options.zoom.steps();
    let level = |step: Option<i64>, next_step: Option<i64>| Level { step, next_step, exact: options.exact, max_rows: options.max_rows };
    // The whole span is counted at the first zoom step at once (its totals
    // are the sums): a span holding a difference is scanned once, not once
    // for its total and again for its windows.
    let mut pending = whole.clone();
    if steps.is_empty() {
        let (src, tgt) = counts_of_both(source, target, m, options.span, None, &[], retry).await?;
        findings.report.source_rows = points_estimate(&src);
        findings.report.target_rows = points_estimate(&tgt);
        pending = Pending::new();
        compare_counts(&src, &tgt, &whole, level(None, None), &mut findings.report, &mut pending, &mut fetch);
    }
    for (i, &step) in steps.iter().enumerate() {
        if pending.is_empty() {
            break;
        }
        let mut next = Pending::new();
        for group in coalesce(&pending, step) {
            // Only the series differing in the group's windows, when few
            // enough to name (a series differing in any of them is counted
            // in all: the comparison keeps each window's own).
            let windows: Vec<&BTreeSet<Series>> = pending.range(Window::new(group.start, i64::MIN)..).take_while(|(w, _)| w.start < group.end).map(|(_, (s, _))| s).collect();
            let differing: BTreeSet<&Series> = windows.iter().flat_map(|s| s.iter()).collect();
            // An empty set wants every series.
            let few = windows.iter().all(|s| !s.is_empty()) && differing.len() <= SERIES_FILTER_LIMIT;
            let named: Vec<Series> = if few { differing.into_iter().cloned().collect() } else { Vec::new() };
            let (src, tgt) = counts_of_both(source, target, m, group, Some(step), &named, retry).await?;
            if i == 0 {
                findings.report.source_rows += points_by_window(&src);
                findings.report.target_rows += points_by_window(&tgt);
            }
            compare_counts(&src, &tgt, &pending, level(Some(step), steps.get(i + 1).copied()), &mut findings.report, &mut next, &mut fetch);
        }
        pending = next;
    }
    // The finest windows still differing are read (for their series).
    let finest = pending.into_iter().map(|(w, (series, rows))| (w, series, rows));
    let mut reads: Vec<(Window, BTreeSet<Series>, u64)> = fetch.into_iter().chain(finest).collect();
    reads.sort_by_key(|(w, _, _)| *w);
    // Both stores read each window at once. The next window is not read
    // ahead while this one is repaired: the repair's writes need the
    // target's permits, which a parked read-ahead could hold.
    let reads = batch_reads(reads, options.max_rows, precision);
    // Every window before the next read's start is compared and repaired
    // once a read is applied (reads are sorted; a window may be read twice
    // under --verify exact, so not before the end of the last one read).
    let finished: Vec<i64> = reads.iter().skip(1).map(|r| r.window.start).chain([options.span.end]).collect();
    for (read, until) in reads.into_iter().zip(finished) {
        let filter = read.filter();
        let window = read.window;
        let (s, t) = tokio::try_join!(
            retry.run("reading source samples", || source.samples(m, window, &filter)),
            retry.run("reading target samples", || target.samples(m, window, &filter))
        )?;
        let outcome = merge::merge(m, precision, read.wanted(s), read.wanted(t));
        apply(&mut findings, outcome, m, sink).await?;
        if let Some(p) = &options.progressed {
            p.finished_until(until).await?;
        }
        progress.advance(0, findings.report.differences());
    }
    if let Some(p) = &options.progressed {
        p.finished_until(options.span.end).await?;
    }
    progress.finish();
    Ok(findings)
}

async fn counts_of_both(
    source: &dyn SeriesStore,
    target: &dyn SeriesStore,
    m: &Measurement,
    window: Window,
    step: Option<i64>,
    series: &[Series],
    retry: RetryPolicy,
) -> Result<(Vec<Count>, Vec<Count>), EngineError> {
    // Both stores count at once: one request in flight on each.
    Ok(tokio::try_join!(
        retry.run("counting source samples", || source.counts(m, window, step, series)),
        retry.run("counting target samples", || target.counts(m, window, step, series))
    )?)
}

/// Points, counted as the largest field count of each series: exact when
/// every point carries every field, as is usual.
pub(super) fn points_estimate<'a>(counts: impl IntoIterator<Item = &'a Count>) -> u64 {
    let mut per_series: HashMap<&Series, u64> = HashMap::new();
    for c in counts {
        let e = per_series.entry(&c.series).or_default();
        *e = (*e).max(c.count);
    }
    per_series.values().sum()
}

/// Points of counts of several windows: the estimate of each window, summed.
fn points_by_window(counts: &[Count]) -> u64 {
    let mut windows: BTreeMap<i64, Vec<&Count>> = BTreeMap::new();
    for c in counts {
        windows.entry(c.start).or_default().push(c);
    }
    windows.values().map(|w| points_estimate(w.iter().copied())).sum()
}

/// The window `start` names at this level: up to the next multiple of the
/// step, inside its parent.
fn child_window(parents: &Pending, start: i64, step: Option<i64>) -> Option<(Window, &BTreeSet<Series>)> {
    let (parent, (series, _)) = parents.range(..=Window::new(start, i64::MAX)).next_back()?;
    if !parent.contains(start) {
        return None;
    }
    let end = match step {
        None => parent.end,
        Some(step) => ((start.div_euclid(step) + 1).saturating_mul(step)).min(parent.end),
    };
    Some((Window::new(start, end), series))
}

/// One level of the narrowing: the step its windows are cut at, the step
/// of the level below (none at the finest), and `--verify exact`.
#[derive(Clone, Copy)]
struct Level {
    step: Option<i64>,
    next_step: Option<i64>,
    exact: bool,
    max_rows: u64,
}

/// A count row costs a store about as much as several points do (seen:
/// InfluxDB's `GROUP BY time(1m), *` and VictoriaMetrics' `query_range`
/// over a day of 100 series cost more than reading the day's points).
const COUNT_ROW_COST: u64 = 3;

/// Whether counting a differing window's children is cheaper than reading
/// the window now. Counting costs a row per non-empty child and series,
/// and pays only when few children will differ. How many children hold
/// points is unknown, so the window is read at once only when it is known
/// dense (a series holds at least as many samples as there are children)
/// and either holds few samples per child, or differs by as many samples
/// as it has children (most children would differ, and be read anyway).
fn worth_descending(window: Window, next_step: i64, series: u64, rows: u64, differences: u64) -> bool {
    let length = i128::from(window.end) - i128::from(window.start);
    let step = i128::from(next_step.max(1));
    let children = u64::try_from((length + step - 1) / step).unwrap_or(u64::MAX);
    let per_series = rows / series.max(1);
    let dense = per_series >= children;
    !(dense && (per_series < COUNT_ROW_COST.saturating_mul(children) || differences / series.max(1) >= children))
}

/// Compares two stores' counts for the children of `parents`. Children
/// whose counts differ for a series go to `next` (with that series), or
/// straight to `fetch` when counting their own children would cost more
/// than reading them; with `--verify exact`, children whose counts agree
/// are read too.
fn compare_counts(
    src: &[Count],
    tgt: &[Count],
    parents: &Pending,
    level: Level,
    report: &mut DatasetReport,
    next: &mut Pending,
    fetch: &mut Vec<(Window, BTreeSet<Series>, u64)>,
) {
    let step = level.step;
    // (series, field, start) → what each side says of it
    let mut both: HashMap<(&Series, &str, i64), (Side, Side)> = HashMap::new();
    for c in src {
        both.entry((&c.series, &c.field, c.start)).or_default().0.add(c);
    }
    for c in tgt {
        both.entry((&c.series, &c.field, c.start)).or_default().1.add(c);
    }
    // Per child window and series: differs?, largest count, samples apart.
    let mut children: BTreeMap<Window, BTreeMap<Series, (bool, u64, u64)>> = BTreeMap::new();
    for ((series, _field, start), (source_side, target_side)) in both {
        let (s, t) = (source_side.count, target_side.count);
        let sums_differ = matches!((source_side.sum(), target_side.sum()), (Some(a), Some(b)) if a != b);
        let Some((window, wanted)) = child_window(parents, start, step) else { continue };
        if !wanted.is_empty() && !wanted.contains(series) {
            continue;
        }
        report.ranges_compared += 1;
        let e = children.entry(window).or_default().entry(series.clone()).or_default();
        e.0 |= s != t || sums_differ;
        e.1 = e.1.max(s).max(t);
        // In points, as `rows` is: the field apart the most.
        e.2 = e.2.max(s.abs_diff(t));
    }
    for (window, series) in children {
        let mut differing = BTreeSet::new();
        let mut differing_rows = 0;
        let mut differences = 0;
        let mut equal = BTreeSet::new();
        let mut equal_rows = 0;
        for (s, (differs, rows, apart)) in series {
            if differs {
                differing_rows += rows;
                differences += apart;
                differing.insert(s);
            } else {
                equal_rows += rows;
                equal.insert(s);
            }
        }
        if !differing.is_empty() {
            // Never the whole span (level 0), never more than one read.
            let small = level.step.is_some() && differing_rows <= level.max_rows;
            match level.next_step {
                Some(next_step) if small && !worth_descending(window, next_step, differing.len() as u64, differing_rows, differences) => {
                    fetch.push((window, differing, differing_rows));
                }
                _ => {
                    next.insert(window, (differing, differing_rows));
                }
            }
        }
        if level.exact && !equal.is_empty() {
            fetch.push((window, equal, equal_rows));
        }
    }
}

/// What one store says of one series, field and window: its count, and
/// its sum where it gives one (none when the window came in several parts:
/// fingerprints do not add up).
#[derive(Default)]
struct Side {
    count: u64,
    sum: Option<u64>,
    parts: u32,
}

impl Side {
    fn add(&mut self, c: &Count) {
        self.count += c.count;
        self.sum = c.sum;
        self.parts += 1;
    }

    fn sum(&self) -> Option<u64> {
        self.sum.filter(|_| self.parts == 1)
    }
}

/// Contiguous pending windows, joined into requests of at most
/// [`MAX_STEPS_PER_REQUEST`] child windows.
fn coalesce(pending: &Pending, step: i64) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    for w in pending.keys() {
        match out.last_mut() {
            Some(last) if last.end == w.start && (w.end - last.start) / step <= MAX_STEPS_PER_REQUEST => last.end = w.end,
            _ => out.push(*w),
        }
    }
    out
}

/// One request's worth of reading: the window read and the (window,
/// series) entries it serves. Entries never overlap, so a sample is
/// compared once, by the entry holding it.
#[derive(Debug)]
pub(super) struct Read {
    pub window: Window,
    parts: Vec<(Window, BTreeSet<Series>)>,
    rows: u64,
    /// Windows asked for that this read finishes (a window cut in parts is
    /// finished by its last part).
    finishes: u64,
}

impl Read {
    /// The series to name in the request: all (empty) when any entry
    /// wants all, or when there are too many to name.
    fn filter(&self) -> Vec<Series> {
        if self.parts.iter().any(|(_, s)| s.is_empty()) {
            return Vec::new();
        }
        let all: BTreeSet<&Series> = self.parts.iter().flat_map(|(_, s)| s).collect();
        if all.len() > SERIES_FILTER_LIMIT {
            return Vec::new();
        }
        all.into_iter().cloned().collect()
    }

    /// How many of the windows asked for this read finishes.
    pub fn windows(&self) -> u64 {
        self.finishes
    }

    /// Keeps the samples an entry asked for: stores may return more.
    pub fn wanted(&self, samples: Vec<Sample>) -> Vec<Sample> {
        samples
            .into_iter()
            .filter(|s| self.parts.iter().any(|(w, series)| w.contains(s.time) && (series.is_empty() || series.contains(&s.series))))
            .collect()
    }
}

/// Turns the windows to read into requests of at most `max_rows` samples:
/// small neighbours are joined, a window holding more is cut in equal
/// parts of time (at the comparison's precision).
pub(super) fn batch_reads(reads: Vec<(Window, BTreeSet<Series>, u64)>, max_rows: u64, precision: Precision) -> Vec<Read> {
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
                let finishes = u64::from(end == window.end);
                out.push(Read { window: part, parts: vec![(part, series.clone())], rows: max_rows, finishes });
                start = end;
            }
            continue;
        }
        match out.last_mut() {
            Some(last) if last.window.end == window.start && last.rows + rows <= max_rows => {
                last.window.end = window.end;
                last.rows += rows;
                last.parts.push((window, series));
                last.finishes += 1;
            }
            _ => out.push(Read { window, parts: vec![(window, series)], rows, finishes: 1 }),
        }
    }
    out
}

/// Counts one window's outcome (what differs, what was read), then hands
/// it to the sink.
async fn apply(findings: &mut Findings, mut outcome: Outcome, m: &Measurement, sink: &dyn SeriesSink) -> Result<(), EngineError> {
    let r = &mut findings.report;
    r.missing += outcome.missing;
    r.extra += outcome.extra;
    r.changed += outcome.changed;
    r.rows_fetched += outcome.source_points + outcome.target_points;
    findings.collapsed += outcome.collapsed;
    let room = crate::engine::diff::SAMPLE_SIZE.saturating_sub(r.sample.len());
    r.sample.extend(std::mem::take(&mut outcome.sample).into_iter().take(room));
    sink.apply(m, outcome, findings).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = super::super::window::HOUR;

    fn series(host: &str) -> Series {
        Series::new("cpu", [("host".to_string(), host.to_string())])
    }

    #[test]
    fn children_are_cut_at_step_multiples_inside_their_parent() {
        let mut parents = Pending::new();
        parents.insert(Window::new(H / 2, 3 * H), (BTreeSet::from([series("a")]), 10));
        let (w, wanted) = child_window(&parents, H / 2, Some(H)).unwrap();
        assert_eq!(w, Window::new(H / 2, H), "the first child is clipped to its parent");
        assert!(wanted.contains(&series("a")));
        assert_eq!(child_window(&parents, 2 * H, Some(H)).unwrap().0, Window::new(2 * H, 3 * H));
        assert!(child_window(&parents, 3 * H, Some(H)).is_none(), "outside every parent");
        assert_eq!(child_window(&parents, H / 2, None).unwrap().0, Window::new(H / 2, 3 * H));
    }

    #[test]
    fn neighbours_join_into_one_request_and_gaps_do_not() {
        let mut pending = Pending::new();
        for (s, e) in [(0, H), (H, 2 * H), (5 * H, 6 * H)] {
            pending.insert(Window::new(s, e), (BTreeSet::new(), 1));
        }
        assert_eq!(coalesce(&pending, H / 60), [Window::new(0, 2 * H), Window::new(5 * H, 6 * H)]);
    }

    #[test]
    fn reads_join_small_windows_cut_big_ones_and_compare_each_sample_once() {
        let a = BTreeSet::from([series("a")]);
        let b = BTreeSet::from([series("b")]);
        let reads = batch_reads(
            vec![(Window::new(0, H), a.clone(), 10), (Window::new(H, 2 * H), b.clone(), 10), (Window::new(2 * H, 3 * H), a.clone(), 1_000)],
            100,
            Precision::Millisecond,
        );
        assert_eq!(reads.len(), 1 + 10, "two joined, the big one in ten parts");
        assert_eq!(reads[0].window, Window::new(0, 2 * H));
        assert_eq!(reads.iter().map(Read::windows).sum::<u64>(), 3, "each window finished once");
        assert_eq!(reads[0].filter(), vec![series("a"), series("b")]);
        let sample = |host: &str, time: i64| Sample { series: series(host), field: "v".into(), time, value: crate::engine::value::Value::Int(1) };
        // b in the first hour and a in the second belong to no entry of
        // this read: another one compares them.
        let kept = reads[0].wanted(vec![sample("a", 1), sample("b", 1), sample("a", H + 1), sample("b", H + 1)]);
        assert_eq!(kept, vec![sample("a", 1), sample("b", H + 1)]);
        let parts: Vec<Window> = reads[1..].iter().map(|r| r.window).collect();
        assert_eq!(parts.first().unwrap().start, 2 * H);
        assert_eq!(parts.last().unwrap().end, 3 * H);
        assert!(parts.windows(2).all(|p| p[0].end == p[1].start), "the parts tile the window");
        assert!(parts.iter().all(|p| p.start % 1_000_000 == 0), "cut at milliseconds");
    }

    #[test]
    fn a_window_is_read_rather_than_zoomed_when_counting_would_cost_more() {
        let hour = Window::new(0, H);
        let minute = H / 60;
        // 1,000 samples of a series in an hour, 3 apart: 60 minutes counted.
        assert!(worth_descending(hour, minute, 1, 1_000, 3));
        // 138 samples (one every 26 s): reading them costs less than 60
        // count rows a side.
        assert!(!worth_descending(hour, minute, 1, 138, 1));
        // Apart by as many samples as there are minutes: most minutes
        // would differ and be read anyway.
        assert!(!worth_descending(hour, minute, 1, 1_000, 60));
        // Sparse (fewer samples than minutes): how many minutes hold them
        // is unknown, counting may pay.
        assert!(worth_descending(hour, minute, 2, 80, 1));
        // The whole default span cut in days: descends.
        assert!(worth_descending(Window::new(i64::MIN / 2, i64::MAX / 2), 24 * H, 1, 1 << 20, 1));
    }

    #[test]
    fn equal_counts_with_different_sums_differ_and_a_missing_sum_is_no_evidence() {
        let span = Window::new(0, 2 * H);
        let parents = Pending::from([(span, (BTreeSet::new(), 0))]);
        let level = Level { step: Some(H), next_step: None, exact: false, max_rows: 1_000 };
        let c = |start: i64, sum: Option<u64>| Count { series: series("a"), field: "v".into(), start, count: 5, sum };
        let run = |src: &[Count], tgt: &[Count]| {
            let (mut next, mut fetch, mut report) = (Pending::new(), Vec::new(), DatasetReport::default());
            compare_counts(src, tgt, &parents, level, &mut report, &mut next, &mut fetch);
            next.keys().map(|w| w.start).collect::<Vec<_>>()
        };
        // Hour 0: sums differ (a value changed); hour 1: equal.
        assert_eq!(run(&[c(0, Some(1)), c(H, Some(7))], &[c(0, Some(2)), c(H, Some(7))]), [0]);
        // A store without sums (VictoriaMetrics): counts alone decide.
        assert_eq!(run(&[c(0, Some(1)), c(H, Some(7))], &[c(0, None), c(H, None)]), Vec::<i64>::new());
        // A window given in two parts: its sums do not add up, counts decide.
        assert_eq!(run(&[c(0, Some(1)), c(0, Some(2))], &[Count { count: 10, ..c(0, Some(9)) }]), Vec::<i64>::new());
    }

    #[test]
    fn points_are_the_largest_field_count_of_each_series() {
        let c = |host: &str, field: &str, count| Count { series: series(host), field: field.into(), start: 0, count, sum: None };
        assert_eq!(points_estimate(&[c("a", "x", 5), c("a", "y", 3), c("b", "x", 2)]), 7);
    }
}
