//! `copy`: the bulk first fill. Every window of `chunk` holding source
//! points is read and written whole, newest or oldest first, without a
//! point-by-point comparison. A window whose counts per series and field
//! already agree on the target is skipped, so a copy that was stopped
//! resumes where it stopped.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::{stream, StreamExt, TryStreamExt};

use super::diff::points_estimate;
use super::reads::{batch_reads, points, Read};
use super::sample::{Precision, Sample, Series};
use super::store::{Count, Measurement, SeriesStore};
use super::window::{Window, DAY};
use crate::engine::apply::WriteGuard;
use crate::engine::error::EngineError;
use crate::engine::progress::Progress;
use crate::engine::report::DatasetReport;
use crate::engine::retry::RetryPolicy;


#[derive(Clone, Copy, Debug)]
pub struct CopyOptions {
    pub span: Window,
    pub chunk: i64,
    pub newest_first: bool,
    pub max_rows: u64,
    pub retry: RetryPolicy,
}

/// What a copy of one measurement did.
#[derive(Debug, Default)]
pub struct Copied {
    pub report: DatasetReport,
    pub windows: u64,
    pub skipped: u64,
}

/// Counts per window of `step` over `span`, only inside the days listed
/// when `days` is given. Otherwise a store that counts empty windows for
/// nothing counts the span at `step` at once (one scan of its data);
/// another finds the days holding data first, so an empty decade costs one
/// request rather than ninety thousand.
async fn counts_by_window(
    store: &dyn SeriesStore,
    m: &Measurement,
    span: Window,
    step: i64,
    days: Option<&BTreeSet<i64>>,
    retry: RetryPolicy,
) -> Result<BTreeMap<i64, Vec<Count>>, EngineError> {
    let coarse = step.max(DAY);
    let mut out: BTreeMap<i64, Vec<Count>> = BTreeMap::new();
    let found;
    let days = match days {
        Some(d) => d,
        None if coarse == step || store.capabilities().counts_skip_empty => {
            for c in retry.run("counting samples", || store.counts(m, span, Some(step), &[])).await? {
                out.entry(c.start).or_default().push(c);
            }
            return Ok(out);
        }
        None => {
            let first = retry.run("counting samples", || store.counts(m, span, Some(coarse), &[])).await?;
            found = first.iter().map(|c| c.start).collect::<BTreeSet<i64>>();
            &found
        }
    };
    let mut groups: Vec<Window> = Vec::new();
    for &start in days {
        let start = start.max(span.start);
        let end = (start.div_euclid(coarse) + 1).saturating_mul(coarse).min(span.end);
        match groups.last_mut() {
            Some(g) if g.end == start && (end - g.start) / step <= 5_000 => g.end = end,
            _ => groups.push(Window::new(start, end)),
        }
    }
    for g in groups {
        for c in retry.run("counting samples", || store.counts(m, g, Some(step), &[])).await? {
            out.entry(c.start).or_default().push(c);
        }
    }
    Ok(out)
}

/// The days (cut from the epoch) holding the windows counted.
fn days_of(counts: &BTreeMap<i64, Vec<Count>>) -> BTreeSet<i64> {
    counts.keys().map(|start| start.div_euclid(DAY) * DAY).collect()
}

fn same_counts(a: &[Count], b: Option<&Vec<Count>>) -> bool {
    let b: &[Count] = b.map(Vec::as_slice).unwrap_or_default();
    if a.len() != b.len() {
        return false;
    }
    // Counts per series and field, and sums where both give one: a
    // window whose values changed is copied.
    let theirs: std::collections::HashMap<(&Series, &str), &Count> = b.iter().map(|c| ((&c.series, c.field.as_str()), c)).collect();
    a.iter().all(|c| {
        theirs.get(&(&c.series, c.field.as_str())).is_some_and(|t| t.count == c.count && !matches!((c.sum, t.sum), (Some(x), Some(y)) if x.disagrees(y)))
    })
}

pub async fn copy(
    m: &Measurement,
    precision: Precision,
    source: &dyn SeriesStore,
    target: &dyn SeriesStore,
    options: &CopyOptions,
    guard: &WriteGuard,
    progress: &dyn Progress,
) -> Result<Copied, EngineError> {
    let retry = options.retry;
    let mut copied = Copied { report: DatasetReport { name: m.name.clone(), ..Default::default() }, ..Default::default() };
    // The target counts only the days the source holds data in (so
    // target_rows counts the target's points in those days).
    let src = counts_by_window(source, m, options.span, options.chunk, None, retry).await?;
    let tgt = counts_by_window(target, m, options.span, options.chunk, Some(&days_of(&src)), retry).await?;
    copied.report.source_rows = src.values().map(|c| points_estimate(c)).sum();
    copied.report.target_rows = tgt.values().map(|c| points_estimate(c)).sum();
    copied.windows = src.len() as u64;
    copied.report.ranges_compared = src.len() as u64;
    // The windows to copy, oldest first: neighbours are joined into reads
    // of up to --max-rows samples (one request each, far cheaper for the
    // source than one per window), then taken in the order asked.
    let mut todo = Vec::new();
    for (&start, counts) in &src {
        if same_counts(counts, tgt.get(&start)) {
            copied.skipped += 1;
            continue;
        }
        let end = (start.div_euclid(options.chunk) + 1).saturating_mul(options.chunk).min(options.span.end);
        copied.report.missing += points_estimate(counts);
        if guard.dry_run() {
            copied.report.remaining += points_estimate(counts);
        }
        todo.push((Window::new(start, end), BTreeSet::<Series>::new(), counts.iter().map(|c| c.count).sum()));
    }
    let mut reads = batch_reads(todo, options.max_rows, precision);
    if options.newest_first {
        reads.reverse();
    }
    progress.begin(&m.name, copied.windows);
    progress.advance(copied.skipped, 0);
    let (fetched, inserted) = pipeline(m, source, target, reads, guard, retry, copied.skipped, progress).await?;
    copied.report.rows_fetched += fetched;
    copied.report.inserted += inserted;
    progress.finish();
    Ok(copied)
}

/// Reads the source and writes the target at once: as many requests in
/// flight as each store takes (reads in order, so progress moves forward),
/// and a read's samples held only until written. Returns the points read and the points written.
#[allow(clippy::too_many_arguments)]
async fn pipeline(
    m: &Measurement,
    source: &dyn SeriesStore,
    target: &dyn SeriesStore,
    reads: Vec<Read>,
    guard: &WriteGuard,
    retry: RetryPolicy,
    skipped: u64,
    progress: &dyn Progress,
) -> Result<(u64, u64), EngineError> {
    // One more than the store takes: the extra request waits for the
    // connector's permit, so the store starts the next answer while this
    // side decodes the last one (or encodes the next write).
    let reading_at_once = source.capabilities().concurrency.max(1) + 1;
    let writing_at_once = target.capabilities().concurrency.max(1) + 1;
    let (tx, rx) = tokio::sync::mpsc::channel::<(Vec<Sample>, u64)>(writing_at_once);
    let reader = async move {
        let mut fetched = 0;
        let mut done = skipped;
        let mut answers = stream::iter(reads)
            .map(|read| async move {
                let samples = {
                    let asked = read.requests();
                    retry.run("reading source samples", || source.samples_of(m, &asked)).await
                };
                (read, samples)
            })
            .buffered(reading_at_once);
        while let Some((read, samples)) = answers.next().await {
            let samples: Vec<Sample> = read.wanted(samples?).into_iter().filter(|s| m.field_type(&s.field).is_some()).collect();
            let read_points = points(&samples);
            fetched += read_points;
            done += read.windows();
            progress.advance(done, 0);
            if tx.send((samples, read_points)).await.is_err() {
                break; // the writer failed: its error is the run's
            }
        }
        Ok::<u64, EngineError>(fetched)
    };
    let writer = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|batch| (batch, rx)) })
        .map(|(samples, read_points)| async move { Ok::<u64, EngineError>(if guard.write_samples(target, m, &samples).await? > 0 { read_points } else { 0 }) })
        .buffer_unordered(writing_at_once)
        .try_fold(0, |sum, written| async move { Ok(sum + written) });
    tokio::try_join!(reader, writer)
}

