//! The level-by-level narrowing.
//!
//! Level 0 cuts the whole keyspace into chunks of the first zoom size and
//! fingerprints every chunk on both sides: the one full scan per side. Each
//! further level cuts only the chunks whose fingerprints differ, and asks for
//! all their children's fingerprints in one batched call per side. Chunks
//! still mismatched after the finest level are compared as ordered streams
//! of (key, row hash) pairs, and only keys whose hashes differ are handed to
//! the [`DiffSink`] (which, in `sync`, fetches those full rows and writes
//! them).
//!
//! Boundaries are read from the side holding more rows in a chunk, so a
//! target crowded with extra rows is cut as finely as a full source.
//! Work is depth-first in batches of at most [`MAX_RANGES_PER_CALL`] ranges, so
//! memory stays bounded whatever the table size.
//!
//! When both stores fingerprint many buckets in one scan (SQL servers),
//! the first pass is [`one_scan`]'s instead: the finest level at once.

mod even_cuts;
mod fill;
mod one_scan;

pub use fill::Filled;

use std::cmp::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;

use super::error::{EngineError, StoreError};
use super::fingerprint::{Fingerprint, RowHash};
use super::key::Key;
use super::progress::Progress;
use super::range::{ranges_after, KeyRange};
use super::report::{DatasetReport, SampleDifference};
use super::retry::RetryPolicy;
use super::state::{is_finished, Checkpoint};
use super::store::Dataset;
use super::zoom::Zoom;

/// Most ranges asked of a store in one call.
pub const MAX_RANGES_PER_CALL: usize = 2000;
/// Differences buffered before the sink applies them (and pair streams are
/// reopened after the last settled key).
pub const DEFAULT_DIFF_BATCH: usize = 1000;
pub const SAMPLE_SIZE: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffKind {
    /// In the source, not in the target.
    Missing,
    /// In the target, not in the source.
    Extra,
    /// In both, with different values.
    Changed,
}

impl DiffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Changed => "changed",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub kind: DiffKind,
    pub key: Key,
    /// The row hash of the row where it is held: SOURCE's for missing and
    /// changed rows (what a sync writes), TARGET's for extra ones.
    pub hash: RowHash,
}

/// Receives differences in batches, after every read stream is closed (so a
/// store that locks on write, like SQLite, is free to be written).
#[async_trait]
pub trait DiffSink: Send {
    async fn apply(&mut self, batch: Vec<Difference>, report: &mut DatasetReport) -> Result<(), EngineError>;

    /// Whether applying writes to the target. The target's snapshot is then
    /// released around each batch: held, it would keep a lock that a
    /// pending `ALTER TABLE` queues behind, and the batch's writes behind
    /// the `ALTER`, a wait through rangesync that no server detects.
    fn writes_target(&self) -> bool {
        false
    }

    /// Takes ranges the target holds nothing of, each with its number of
    /// source rows, all missing: a sink that writes copies them (the
    /// engine then checks their fingerprints), one that reports counts
    /// them. By default they are compared as pairs instead.
    async fn fill(&mut self, ranges: &[(KeyRange, u64)], report: &mut DatasetReport) -> Result<Filled, EngineError> {
        let _ = (ranges, report);
        Ok(Filled::NotFilled)
    }
}

pub struct DiffOptions {
    pub zoom: Zoom,
    pub diff_batch: usize,
    pub retry: RetryPolicy,
    /// Where a `sync` records the first-level ranges it finished, and which
    /// it finished before it was killed (skipped).
    pub checkpoint: Option<Arc<dyn Checkpoint>>,
    /// Reads each side makes at once (`--jobs`): windows of the one-scan
    /// pass fingerprinted ahead of the one being narrowed.
    pub jobs: usize,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions { zoom: Zoom::default(), diff_batch: DEFAULT_DIFF_BATCH, retry: RetryPolicy::default(), checkpoint: None, jobs: 1 }
    }
}

/// A range still under suspicion, with what each side holds in it (unknown
/// for the whole keyspace before level 0).
struct Span {
    range: KeyRange,
    counts: Option<(Fingerprint, Fingerprint)>,
}

impl Span {
    fn larger_count(&self) -> Option<u64> {
        self.counts.map(|(s, t)| s.count.max(t.count))
    }
    /// Boundaries come from the side holding more rows here.
    fn split_on_target(&self) -> bool {
        self.counts.is_some_and(|(s, t)| t.count > s.count)
    }
}

/// Compares one dataset pair and feeds the differences to `sink`.
pub async fn compare(
    name: &str,
    source: &dyn Dataset,
    target: &dyn Dataset,
    options: &DiffOptions,
    sink: &mut dyn DiffSink,
    progress: &dyn Progress,
) -> Result<DatasetReport, EngineError> {
    run_pass(Pass::Compare, name, source, target, options, sink, progress).await
}

/// What a pass over one dataset pair does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Compare and hand the differences to the sink.
    Compare,
    /// `copy`: hand the sink every source row after the target's largest
    /// key (all of them when it holds none), in key order, to fill; nothing
    /// is compared but the fingerprints of the filled ranges, the copy's
    /// check.
    Copy,
}

pub async fn run_pass(
    pass: Pass,
    name: &str,
    source: &dyn Dataset,
    target: &dyn Dataset,
    options: &DiffOptions,
    sink: &mut dyn DiffSink,
    progress: &dyn Progress,
) -> Result<DatasetReport, EngineError> {
    let mut run = Comparison {
        source,
        target,
        options,
        sink,
        progress,
        report: DatasetReport { name: name.to_string(), ..Default::default() },
        count_rows_in_pairs: options.zoom.fingerprint_levels().is_empty(),
        first_pass_done: false,
        checkpointed_remaining: 0,
    };
    let trips_before = source.round_trips() + target.round_trips();
    let retry = options.retry;
    let begun = tokio::try_join!(
        retry.run("begin a pass", || source.begin_pass(options.jobs)),
        retry.run("begin a pass", || target.begin_pass(options.jobs)),
    );
    let outcome = match begun {
        Ok(_) if pass == Pass::Copy => run.copy_after_last_key().await,
        Ok(_) => run.first_pass().await,
        Err(e) => Err(e.into()),
    };
    tokio::join!(source.end_pass(), target.end_pass());
    run.report.round_trips = (source.round_trips() + target.round_trips()).saturating_sub(trips_before);
    outcome?;
    progress.finish();
    Ok(run.report)
}

struct Comparison<'a> {
    source: &'a dyn Dataset,
    target: &'a dyn Dataset,
    options: &'a DiffOptions,
    sink: &'a mut dyn DiffSink,
    progress: &'a dyn Progress,
    report: DatasetReport,
    /// With no fingerprint level, row counts come from the pair streams.
    count_rows_in_pairs: bool,
    /// The one-scan first pass counted the rows and started the progress
    /// bar; level 0 met again (a one-level zoom) is not a first pass.
    first_pass_done: bool,
    /// `report.remaining` when the last checkpoint was recorded.
    checkpointed_remaining: u64,
}

impl<'a> Comparison<'a> {
    async fn first_pass(&mut self) -> Result<(), EngineError> {
        if self.fill_if_target_empty().await? {
            return Ok(());
        }
        if !self.options.zoom.fingerprint_levels().is_empty() && self.source.scans_buckets() && self.target.scans_buckets() {
            return self.narrow_in_one_scan().await;
        }
        self.narrow(0, vec![Span { range: KeyRange::full(), counts: None }]).await
    }

    fn narrow(&mut self, level: usize, parents: Vec<Span>) -> BoxFuture<'_, Result<(), EngineError>> {
        Box::pin(async move {
            let parents = self.fill_empty(parents).await?;
            let levels = self.options.zoom.fingerprint_levels();
            if level == levels.len() {
                // Compared together: a server reads the pairs of many
                // ranges per statement.
                let ranges: Vec<KeyRange> = parents.into_iter().map(|s| s.range).collect();
                return self.compare_pairs(ranges).await;
            }
            let size = levels[level];
            // A chunk already no bigger than this level's size gains nothing
            // from being cut and fingerprinted again.
            let (small, big): (Vec<Span>, Vec<Span>) =
                parents.into_iter().partition(|s| s.larger_count().is_some_and(|n| n <= size));
            if !small.is_empty() {
                self.narrow(level + 1, small).await?;
            }
            for group in batches_by_children(big, size) {
                let started = std::time::Instant::now();
                let parents = group.len();
                let mut children = self.split(group, size).await?;
                if level == 0 {
                    children = self.skip_finished(children);
                }
                let split_time = started.elapsed();
                let ranges = children.len();
                let settled_before = children.clone();
                let mismatched = self.fingerprint(level, children).await?;
                if level == 0 {
                    // The equal ones are finished now; the others once
                    // repaired (in descend).
                    let equal: Vec<KeyRange> = settled_before.into_iter().filter(|r| !mismatched.iter().any(|m| &m.range == r)).collect();
                    self.checkpoint(&equal).await?;
                }
                tracing::debug!(
                    table = %self.report.name, level, parents, ranges, mismatched = mismatched.len(),
                    ?split_time, fingerprint_time = ?(started.elapsed() - split_time), "level batch"
                );
                self.descend(level, mismatched).await?;
            }
            Ok(())
        })
    }

    /// Cuts each parent at boundary keys read from its larger side.
    async fn split(&mut self, parents: Vec<Span>, size: u64) -> Result<Vec<KeyRange>, EngineError> {
        let (on_target, on_source): (Vec<&Span>, Vec<&Span>) =
            parents.iter().partition(|s| s.split_on_target());
        let src_ranges: Vec<KeyRange> = on_source.iter().map(|s| s.range.clone()).collect();
        let tgt_ranges: Vec<KeyRange> = on_target.iter().map(|s| s.range.clone()).collect();
        let retry = self.options.retry;
        let (src_cuts, tgt_cuts) = tokio::try_join!(
            split_on(self.source, &src_ranges, size, retry),
            split_on(self.target, &tgt_ranges, size, retry),
        )?;
        let mut children = Vec::new();
        for (range, cuts) in src_ranges.iter().zip(src_cuts).chain(tgt_ranges.iter().zip(tgt_cuts)) {
            check_cuts(range, &cuts)?;
            children.extend(range.split_at(cuts));
        }
        Ok(children)
    }

    /// Fingerprints `children` on both sides; returns the mismatched ones.
    async fn fingerprint(&mut self, level: usize, children: Vec<KeyRange>) -> Result<Vec<Span>, EngineError> {
        let retry = self.options.retry;
        let (src, tgt) = tokio::try_join!(
            retry.run("fingerprints", || self.source.fingerprints(&children)),
            retry.run("fingerprints", || self.target.fingerprints(&children)),
        )?;
        if src.len() != children.len() || tgt.len() != children.len() {
            return Err(StoreError::Invalid(format!(
                "a store answered {} and {} fingerprints for {} ranges",
                src.len(),
                tgt.len(),
                children.len()
            ))
            .into());
        }
        self.report.ranges_compared += children.len() as u64;
        let first_pass = level == 0 && !self.first_pass_done;
        if first_pass {
            self.report.source_rows += src.iter().map(|f| f.count).sum::<u64>();
            self.report.target_rows += tgt.iter().map(|f| f.count).sum::<u64>();
            self.progress.begin(&self.report.name, children.len() as u64);
        }
        let mut mismatched = Vec::new();
        let mut settled = 0;
        for ((range, s), t) in children.into_iter().zip(src).zip(tgt) {
            if s == t {
                settled += 1;
            } else {
                mismatched.push(Span { range, counts: Some((s, t)) });
            }
        }
        if first_pass {
            self.progress.advance(settled, 0);
        }
        Ok(mismatched)
    }

    /// Goes down into the mismatched children, a batch at a time; at level 0
    /// each finished batch moves the progress bar.
    async fn descend(&mut self, level: usize, mismatched: Vec<Span>) -> Result<(), EngineError> {
        if level > 0 || self.first_pass_done {
            return self.narrow(level + 1, mismatched).await;
        }
        // Smaller batches when they are checkpoints: a killed run loses
        // less.
        let per_batch = if self.options.checkpoint.is_some() { 8 } else { 64 };
        let mut rest = mismatched;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(per_batch));
            let n = rest.len() as u64;
            let ranges: Vec<KeyRange> = rest.iter().map(|s| s.range.clone()).collect();
            self.narrow(level + 1, rest).await?;
            self.checkpoint(&ranges).await?;
            self.progress.advance(n, self.report.differences());
            rest = tail;
        }
        Ok(())
    }

    /// First-level ranges a killed run of this pass finished are not
    /// compared again; counted in `ranges_skipped`.
    fn skip_finished(&mut self, ranges: Vec<KeyRange>) -> Vec<KeyRange> {
        let Some(checkpoint) = &self.options.checkpoint else { return ranges };
        let finished = checkpoint.finished();
        if finished.is_empty() {
            return ranges;
        }
        let (skipped, rest): (Vec<KeyRange>, Vec<KeyRange>) = ranges.into_iter().partition(|r| is_finished(r, finished));
        if !skipped.is_empty() && self.report.ranges_skipped == 0 {
            // What the killed run left in them (kept extras) is still there.
            self.report.remaining += checkpoint.remaining();
            self.checkpointed_remaining = self.report.remaining;
        }
        self.report.ranges_skipped += skipped.len() as u64;
        rest
    }

    /// Records first-level ranges as finished: every difference in them is
    /// applied (each pair comparison applies its last batch before it
    /// returns).
    fn checkpoint(&mut self, ranges: &[KeyRange]) -> BoxFuture<'static, Result<(), EngineError>> {
        let checkpoint = self.options.checkpoint.clone();
        let ranges = ranges.to_vec();
        // The differences these ranges leave: what remains now beyond what
        // remained at the last checkpoint.
        let remaining = self.report.remaining.saturating_sub(self.checkpointed_remaining);
        if checkpoint.is_some() && !ranges.is_empty() {
            self.checkpointed_remaining = self.report.remaining;
        }
        Box::pin(async move {
            match checkpoint {
                Some(c) if !ranges.is_empty() => c.record(&ranges, remaining).await,
                _ => Ok(()),
            }
        })
    }

    /// Merges the two ordered (key, row hash) streams of `ranges` (sorted,
    /// disjoint, read as one stream per side). When the
    /// buffer of differences fills up, the batch is applied and the merge
    /// goes on with the pairs already read: the streams read in pages,
    /// each a statement, and hold nothing between them, so the sink's
    /// writes go through while they wait. A write only touches keys already
    /// merged, and the pages after it are read later: they see the rows
    /// the writes left, which the merge never returns to.
    async fn compare_pairs(&mut self, ranges: Vec<KeyRange>) -> Result<(), EngineError> {
        // Disjoint, but not always in key order (a level's children cut on
        // the target come after those cut on the source): one stream needs
        // them sorted.
        let mut rest = ranges;
        rest.sort_by(|a, b| lower_key(a).cmp(&lower_key(b)));
        let mut attempt = 1;
        while !rest.is_empty() {
            let opened = rest.clone();
            match self.merge_and_apply(&opened, &mut rest).await {
                // Nothing merged since the last applied batch was counted:
                // the merge goes on after that batch, in new streams.
                Err(EngineError::Store(e)) => {
                    if rest != opened {
                        attempt = 1;
                    }
                    let what = format!("pairs of {} range(s) from {}", rest.len(), rest[0]);
                    attempt = self.options.retry.backoff(&what, attempt, e).await?;
                }
                outcome => return outcome,
            }
        }
        Ok(())
    }

    /// Merges `range` to its end, applying a batch whenever it fills; `rest`
    /// follows what is left after the last applied batch.
    async fn merge_and_apply(&mut self, ranges: &[KeyRange], rest: &mut Vec<KeyRange>) -> Result<(), EngineError> {
        let (source, target) = (self.source, self.target);
        let mut src = OrderedPairs::new(source, ranges);
        let mut tgt = OrderedPairs::new(target, ranges);
        let (mut a, mut b) = tokio::try_join!(src.next(), tgt.next())?;
        let mut batch = Vec::new();
        while a.is_some() || b.is_some() {
            let order = match (&a, &b) {
                (Some(x), Some(y)) => x.0.cmp(&y.0),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            let settled_key;
            match order {
                Ordering::Less => {
                    let (k, h) = a.take().expect("source pair present");
                    settled_key = k.clone();
                    batch.push(Difference { kind: DiffKind::Missing, key: k, hash: h });
                    a = src.next().await?;
                }
                Ordering::Greater => {
                    let (k, h) = b.take().expect("target pair present");
                    settled_key = k.clone();
                    batch.push(Difference { kind: DiffKind::Extra, key: k, hash: h });
                    b = tgt.next().await?;
                }
                Ordering::Equal => {
                    let (k, hs) = a.take().expect("source pair present");
                    let (_, ht) = b.take().expect("target pair present");
                    if hs != ht {
                        settled_key = k.clone();
                        batch.push(Difference { kind: DiffKind::Changed, key: k, hash: hs });
                    } else {
                        settled_key = k;
                    }
                    (a, b) = tokio::try_join!(src.next(), tgt.next())?;
                }
            }
            if batch.len() >= self.options.diff_batch && (a.is_some() || b.is_some()) {
                // The pairs read ahead belong to the next batch's count.
                let (ahead_src, ahead_tgt) = (a.is_some() as u64, b.is_some() as u64);
                src.read -= ahead_src;
                tgt.read -= ahead_tgt;
                self.tally(&src, &tgt, &batch);
                (src.read, tgt.read) = (ahead_src, ahead_tgt);
                *rest = ranges_after(ranges, &settled_key);
                self.apply(std::mem::take(&mut batch)).await?;
            }
        }
        self.tally(&src, &tgt, &batch);
        self.apply(batch).await
    }

    /// Hands a batch to the sink, the target's snapshot released around
    /// its writes.
    async fn apply(&mut self, batch: Vec<Difference>) -> Result<(), EngineError> {
        let release = self.sink.writes_target() && !batch.is_empty();
        if release {
            self.target.end_pass().await;
        }
        self.sink.apply(batch, &mut self.report).await?;
        if release {
            self.options.retry.run("begin a pass", || self.target.begin_pass(self.options.jobs)).await?;
        }
        Ok(())
    }

    fn tally(&mut self, src: &OrderedPairs<'_>, tgt: &OrderedPairs<'_>, batch: &[Difference]) {
        let r = &mut self.report;
        r.hashes_fetched += src.read + tgt.read;
        if self.count_rows_in_pairs {
            r.source_rows += src.read;
            r.target_rows += tgt.read;
        }
        for d in batch {
            match d.kind {
                DiffKind::Missing => r.missing += 1,
                DiffKind::Extra => r.extra += 1,
                DiffKind::Changed => r.changed += 1,
            }
            if r.sample.len() < SAMPLE_SIZE {
                r.sample.push(SampleDifference { kind: d.kind.as_str(), key: d.key.to_string() });
            }
        }
    }
}

/// Groups parents so that one call yields about [`MAX_RANGES_PER_CALL`] children.
fn batches_by_children(parents: Vec<Span>, size: u64) -> Vec<Vec<Span>> {
    let mut groups = Vec::new();
    let mut current = Vec::new();
    let mut expected = 0u64;
    for p in parents {
        expected += p.larger_count().map_or(MAX_RANGES_PER_CALL as u64, |n| n.div_ceil(size).max(1));
        current.push(p);
        if expected >= MAX_RANGES_PER_CALL as u64 || current.len() >= MAX_RANGES_PER_CALL {
            groups.push(std::mem::take(&mut current));
            expected = 0;
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

async fn split_on(
    side: &dyn Dataset,
    ranges: &[KeyRange],
    size: u64,
    retry: RetryPolicy,
) -> Result<Vec<Vec<Key>>, StoreError> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let cuts = retry.run("split", || side.split(ranges, size)).await?;
    if cuts.len() != ranges.len() {
        return Err(StoreError::Invalid(format!(
            "{} answered {} splits for {} ranges",
            side.describe(),
            cuts.len(),
            ranges.len()
        )));
    }
    Ok(cuts)
}

/// A store whose order disagrees with the engine's would make the merge
/// report phantom differences; stop instead.
fn check_cuts(range: &KeyRange, cuts: &[Key]) -> Result<(), StoreError> {
    for w in cuts.windows(2) {
        if w[0] >= w[1] {
            return Err(out_of_order(&format!("split of {range}"), &w[0], &w[1]));
        }
    }
    if let Some(bad) = cuts.iter().find(|k| !range.contains(k)) {
        return Err(StoreError::Invalid(format!(
            "a store returned the boundary {bad} outside the range {range}; its key order differs from rangesync's"
        )));
    }
    Ok(())
}

fn out_of_order(what: &str, before: &Key, after: &Key) -> StoreError {
    StoreError::Invalid(format!(
        "{what}: key {after} came after {before}; the store orders keys differently from rangesync (binary order expected)"
    ))
}

/// Where a range starts, for sorting disjoint ranges (`None` first).
fn lower_key(r: &KeyRange) -> Option<&Key> {
    match &r.lo {
        super::range::Lower::Unbounded => None,
        super::range::Lower::Included(k) | super::range::Lower::Excluded(k) => Some(k),
    }
}

/// A pair stream that counts what it reads and checks the key order.
struct OrderedPairs<'a> {
    stream: futures_util::stream::BoxStream<'a, Result<(Key, RowHash), StoreError>>,
    last: Option<Key>,
    read: u64,
    what: String,
}

impl<'a> OrderedPairs<'a> {
    fn new(side: &'a dyn Dataset, ranges: &'a [KeyRange]) -> Self {
        OrderedPairs { stream: side.row_hashes_in(ranges), last: None, read: 0, what: side.describe() }
    }

    async fn next(&mut self) -> Result<Option<(Key, RowHash)>, StoreError> {
        let Some(item) = self.stream.next().await else { return Ok(None) };
        let (key, hash) = item?;
        if let Some(last) = &self.last {
            if key <= *last {
                return Err(out_of_order(&self.what, last, &key));
            }
        }
        self.last = Some(key.clone());
        self.read += 1;
        Ok(Some((key, hash)))
    }
}
