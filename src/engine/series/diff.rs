//! The narrowing for time series: sample counts per series and field are
//! computed inside both stores, first over the whole span, then over the
//! windows of each zoom step inside the windows that differed. Only the
//! finest windows that still differ are read sample by sample, merged, and
//! repaired.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::cost::{Differing, Narrowing};
use super::merge::{self, Listed, Outcome};
use super::reads::{batch_reads, points};
use super::sample::{Precision, Series};
use super::sink::SeriesSink;
use super::store::{Count, Measurement, SeriesStore, Sum};
use super::window::{TimeZoom, Window};
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

/// A window still differing: the series that differ in it (none: every
/// series), and the step its children are counted at (none: the window
/// is counted whole).
#[derive(Clone, Debug, Default)]
struct Pend {
    series: BTreeSet<Series>,
    step: Option<i64>,
}

/// Windows still differing, waiting to be counted finer.
type Pending = BTreeMap<Window, Pend>;

/// At most this many child windows per count request.
const MAX_STEPS_PER_REQUEST: i64 = 5_000;
/// At most this many series are named in a count request; more count the
/// whole measurement of the window, filtered here.
const SERIES_FILTER_LIMIT: usize = 32;

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
    progress.begin(&m.name, 1);
    let pair = Pair { m, precision, source, target, retry: options.retry };
    let fetch = narrow(&pair, options, &mut findings.report).await?;
    read_and_repair(&pair, options, fetch, &mut findings, sink, progress).await?;
    if let Some(p) = &options.progressed {
        p.finished_until(options.span.end).await?;
    }
    progress.finish();
    Ok(findings)
}

/// One measurement on both sides, as the two phases see it.
struct Pair<'a> {
    m: &'a Measurement,
    precision: Precision,
    source: &'a dyn SeriesStore,
    target: &'a dyn SeriesStore,
    retry: RetryPolicy,
}

/// Counts windows in both stores, finer only where they differ, until
/// every differing window is one to read: those windows, sorted, each with
/// its series and the most samples either side holds of them.
async fn narrow(pair: &Pair<'_>, options: &SeriesOptions, report: &mut DatasetReport) -> Result<Vec<(Window, BTreeSet<Series>, u64)>, EngineError> {
    let level = Level { narrowing: Narrowing::new(options.zoom.steps(), pair.precision.nanos()), exact: options.exact };
    let mut fetch: Vec<(Window, BTreeSet<Series>, u64)> = Vec::new();
    // The whole span is counted at the first zoom step at once (its totals
    // are the sums): a span holding a difference is scanned once, not once
    // for its total and again for its windows.
    let mut pending = Pending::from([(options.span, Pend { step: options.zoom.steps().first().copied(), ..Pend::default() })]);
    let mut first = true;
    while !pending.is_empty() {
        let mut next = Pending::new();
        // Windows of one step are counted together, neighbours joined.
        let mut by_step: BTreeMap<Option<i64>, Pending> = BTreeMap::new();
        for (w, p) in pending {
            by_step.entry(p.step).or_default().insert(w, p);
        }
        for (step, parents) in &by_step {
            for group in coalesce(parents, *step) {
                let named = named_series(parents, group);
                let (src, tgt) = counts_of_both(pair.source, pair.target, pair.m, group, *step, &named, pair.retry).await?;
                if first {
                    report.source_rows += points_by_window(&src);
                    report.target_rows += points_by_window(&tgt);
                }
                compare_counts(&src, &tgt, parents, *step, &level, report, &mut next, &mut fetch);
            }
        }
        pending = next;
        first = false;
    }
    fetch.sort_by_key(|(w, _, _)| *w);
    Ok(fetch)
}

/// Reads the windows `narrow` chose from both sides, merges them and hands
/// each outcome to the sink, in time order. SOURCE's next window is read
/// while this one is compared and repaired (SOURCE is only read: its
/// read-ahead holds none of the permits TARGET's writes need); TARGET is
/// read as its window's turn comes, after the writes before it.
async fn read_and_repair(
    pair: &Pair<'_>,
    options: &SeriesOptions,
    fetch: Vec<(Window, BTreeSet<Series>, u64)>,
    findings: &mut Findings,
    sink: &dyn SeriesSink,
    progress: &dyn Progress,
) -> Result<(), EngineError> {
    let Pair { m, precision, source, target, retry } = *pair;
    let reads = batch_reads(fetch, options.max_rows, precision);
    let asked: Vec<Vec<(Window, Vec<Series>)>> = reads.iter().map(|r| r.requests()).collect();
    let read_source = |k: usize| {
        let asked = &asked;
        async move {
            match asked.get(k) {
                Some(a) => retry.run("reading source samples", || source.samples_of(m, a)).await.map(Some),
                None => Ok(None),
            }
        }
    };
    // Every window before the next read's start is compared and repaired
    // once a read is applied (reads are in order of their starts).
    let finished: Vec<i64> = reads.iter().skip(1).map(|r| r.window.start).chain([options.span.end]).collect();
    let mut next_source = read_source(0).await?;
    for (k, (read, until)) in reads.into_iter().zip(finished).enumerate() {
        let s = next_source.take().unwrap_or_default();
        let this = async {
            let t = retry.run("reading target samples", || target.samples_of(m, &asked[k])).await?;
            // Counted as the stores returned them: what the reads cost.
            findings.report.rows_fetched += points(&s) + points(&t);
            let outcome = merge::merge(m, precision, read.wanted(s), read.wanted(t));
            apply(findings, outcome, m, sink).await
        };
        let (applied, ahead) = tokio::join!(this, read_source(k + 1));
        applied?;
        next_source = ahead?;
        if let Some(p) = &options.progressed {
            p.finished_until(until).await?;
        }
        progress.advance(0, findings.report.differences());
    }
    Ok(())
}

/// The series differing in a group's windows, when few enough to name
/// and each window names its own (a series differing in any of them is
/// counted in all: the comparison keeps each window's own). Empty: every
/// series.
fn named_series(parents: &Pending, group: Window) -> Vec<Series> {
    let windows: Vec<&BTreeSet<Series>> = parents.range(Window::new(group.start, i64::MIN)..).take_while(|(w, _)| w.start < group.end).map(|(_, p)| &p.series).collect();
    let differing: BTreeSet<&Series> = windows.iter().flat_map(|s| s.iter()).collect();
    if windows.iter().all(|s| !s.is_empty()) && differing.len() <= SERIES_FILTER_LIMIT {
        differing.into_iter().cloned().collect()
    } else {
        Vec::new()
    }
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

/// The window `start` names among the children of `parents` cut at
/// `step`: up to the next multiple of the step, inside its parent.
fn child_window(parents: &Pending, start: i64, step: Option<i64>) -> Option<(Window, &BTreeSet<Series>)> {
    let (parent, p) = parents.range(..=Window::new(start, i64::MAX)).next_back()?;
    if !parent.contains(start) {
        return None;
    }
    let end = match step {
        None => parent.end,
        Some(step) => ((start.div_euclid(step) + 1).saturating_mul(step)).min(parent.end),
    };
    Some((Window::new(start, end), &p.series))
}

/// How differing windows go on: [`Narrowing`] picks a finer count or a
/// read; `--verify exact` reads equal windows too.
struct Level {
    narrowing: Narrowing,
    exact: bool,
}

/// Compares two stores' counts for the children (cut at `step`) of
/// `parents`. Children whose counts differ for a series go to `next`
/// (with that series and the step to count their own children at), or
/// straight to `fetch` when reading them costs less; with `--verify
/// exact`, children whose counts agree are read too.
#[allow(clippy::too_many_arguments)]
fn compare_counts(
    src: &[Count],
    tgt: &[Count],
    parents: &Pending,
    step: Option<i64>,
    level: &Level,
    report: &mut DatasetReport,
    next: &mut Pending,
    fetch: &mut Vec<(Window, BTreeSet<Series>, u64)>,
) {
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
        let sums_differ = matches!((source_side.sum(), target_side.sum()), (Some(a), Some(b)) if a.disagrees(b));
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
        let (mut differing, mut equal) = (BTreeSet::new(), BTreeSet::new());
        let (mut differing_rows, mut equal_rows, mut apart) = (0, 0, 0);
        for (s, (differs, rows, by)) in series {
            if differs {
                differing_rows += rows;
                apart += by;
                differing.insert(s);
            } else {
                equal_rows += rows;
                equal.insert(s);
            }
        }
        let mut read = (BTreeSet::new(), 0);
        if !differing.is_empty() {
            let known = Differing { length: window.end.saturating_sub(window.start), series: differing.len() as u64, rows: differing_rows, apart };
            match step.and_then(|cut| level.narrowing.next_step(cut, known)) {
                Some(finer) => {
                    next.insert(window, Pend { series: differing, step: Some(finer) });
                }
                None => read = (differing, differing_rows),
            }
        }
        if level.exact {
            // One entry per window: the equal series read with the
            // differing ones, never the same samples twice.
            read.0.extend(equal);
            read.1 += equal_rows;
        }
        if !read.0.is_empty() {
            fetch.push((window, read.0, read.1));
        }
    }
}

/// What one store says of one series, field and window: its count, and
/// its sum where it gives one (none when the window came in several parts:
/// fingerprints do not add up).
#[derive(Default)]
struct Side {
    count: u64,
    sum: Option<Sum>,
    parts: u32,
}

impl Side {
    fn add(&mut self, c: &Count) {
        self.count += c.count;
        self.sum = c.sum;
        self.parts += 1;
    }

    fn sum(&self) -> Option<Sum> {
        self.sum.filter(|_| self.parts == 1)
    }
}

/// Contiguous pending windows, joined into requests of at most
/// [`MAX_STEPS_PER_REQUEST`] child windows (a window counted whole is
/// its own request).
fn coalesce(pending: &Pending, step: Option<i64>) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    for w in pending.keys() {
        match (out.last_mut(), step) {
            (Some(last), Some(step)) if last.end == w.start && (w.end - last.start) / step <= MAX_STEPS_PER_REQUEST => last.end = w.end,
            _ => out.push(*w),
        }
    }
    out
}

/// Counts one window's outcome (what differs, what was read), then hands
/// it to the sink.
async fn apply(findings: &mut Findings, outcome: Outcome, m: &Measurement, sink: &dyn SeriesSink) -> Result<(), EngineError> {
    let r = &mut findings.report;
    r.missing += outcome.missing;
    r.extra += outcome.extra;
    r.changed += outcome.changed;
    findings.collapsed += outcome.collapsed;
    let room = crate::engine::diff::SAMPLE_SIZE.saturating_sub(r.sample.len());
    r.sample.extend(outcome.listed.iter().take(room).map(Listed::sample));
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
        parents.insert(Window::new(H / 2, 3 * H), Pend { series: BTreeSet::from([series("a")]), step: Some(H) });
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
            pending.insert(Window::new(s, e), Pend::default());
        }
        assert_eq!(coalesce(&pending, Some(H / 60)), [Window::new(0, 2 * H), Window::new(5 * H, 6 * H)]);
        assert_eq!(coalesce(&pending, None).len(), 3, "windows counted whole are counted alone");
    }

    #[test]
    fn equal_counts_with_different_sums_differ_and_a_missing_sum_is_no_evidence() {
        let span = Window::new(0, 2 * H);
        let parents = Pending::from([(span, Pend { step: Some(H), ..Pend::default() })]);
        let level = Level { narrowing: Narrowing::new(&[H], 1), exact: false };
        let c = |start: i64, sum: Option<i64>| Count { series: series("a"), field: "v".into(), start, count: 5, sum: sum.map(Sum::Int) };
        let run = |src: &[Count], tgt: &[Count]| {
            let (mut next, mut fetch, mut report) = (Pending::new(), Vec::new(), DatasetReport::default());
            compare_counts(src, tgt, &parents, Some(H), &level, &mut report, &mut next, &mut fetch);
            assert!(next.is_empty(), "five samples an hour are read, not counted finer");
            fetch.iter().map(|(w, _, _)| w.start).collect::<Vec<_>>()
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
