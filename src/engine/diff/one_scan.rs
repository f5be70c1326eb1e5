//! The first pass when both stores group rows into buckets in one scan
//! (SQL servers): the finest fingerprint level is computed at once, so a
//! table is hashed once per side whatever the drift. Level by level, a
//! drift of one row in 10,000 mismatches nearly every first-level chunk and
//! the second level hashes the whole table again.
//!
//! The keyspace is cut into windows of [`BUCKETS_PER_SCAN`] finest chunks
//! (boundaries read from the source); for each window the source's finest
//! boundaries are read, both sides fingerprint every bucket in one scan, and
//! groups of buckets the size of the first zoom level are compared by
//! adding their fingerprints, then the buckets of mismatched groups one by
//! one. Intermediate levels are skipped: their fingerprints would be sums of
//! buckets already at hand. Mismatched buckets go on as in the level-by-level
//! path: a bucket where the target holds many more rows than the source is
//! cut again on the target, the others are compared as (key, hash) pairs.

use futures_util::StreamExt;

use super::even_cuts::even_cuts;
use super::{check_cuts, split_on, Comparison, Span};
use crate::engine::error::{EngineError, StoreError};
use crate::engine::retry::RetryPolicy;
use crate::engine::store::Dataset;
use crate::engine::fingerprint::Fingerprint;
use crate::engine::key::Key;
use crate::engine::range::{KeyRange, Lower};

/// Finest chunks per window (more when the first level is bigger): each
/// window is one bucket statement per side, or a few for very large ones.
pub const BUCKETS_PER_SCAN: u64 = 2000;

impl Comparison<'_> {
    pub(super) async fn narrow_in_one_scan(&mut self) -> Result<(), EngineError> {
        let levels = self.options.zoom.fingerprint_levels();
        let (first, finest) = (levels[0], levels[levels.len() - 1]);
        let retry = self.options.retry;
        let window_rows = first.max(finest.saturating_mul(BUCKETS_PER_SCAN));
        let full = KeyRange::full();
        let windows = full.split_at(source_cuts(self.source, &full, window_rows, retry).await?);
        let buckets = window_rows / finest.max(1);
        let windows = self.skip_finished(windows);
        self.progress.begin(&self.report.name, windows.len() as u64);
        self.first_pass_done = true;
        let group = (first / finest).max(1) as usize;
        let (source, target) = (self.source, self.target);
        let cut = move |window: &KeyRange| even_cuts(window, buckets);
        let scan = move |window: KeyRange| {
            let fine = cut(&window);
            scan_window(source, target, window, fine, finest, retry)
        };
        let jobs = self.options.jobs.max(1);
        if jobs == 1 {
            for window in windows {
                let scanned = scan(window).await?;
                self.settle_window(scanned, group).await?;
            }
            return Ok(());
        }
        // `--jobs N`: N windows are scanned while the one before them is
        // narrowed (and, in a sync, repaired: a window's writes stay inside
        // it, so the scans ahead read nothing they change). The scans are
        // driven all the while (a read left unpolled would hold its
        // connection, and a sync ending the target's pass would wait for it
        // forever); a scan waits for a slot before it reads, so at most N
        // windows are held ahead.
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(jobs + 1));
        let scan = move |window: KeyRange| {
            let slots = slots.clone();
            async move {
                let slot = slots.acquire_owned().await.expect("the window slots are never closed");
                Ok::<_, EngineError>((scan(window).await?, slot))
            }
        };
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let produce = async move {
            let mut scans = futures_util::stream::iter(windows).map(scan).buffered(jobs);
            while let Some(scanned) = scans.next().await {
                let failed = scanned.is_err();
                if sender.send(scanned).is_err() || failed {
                    return;
                }
            }
        };
        let settle = async {
            let mut receiver = receiver;
            while let Some(scanned) = receiver.recv().await {
                let (scanned, _slot) = scanned?;
                self.settle_window(scanned, group).await?;
            }
            Ok(())
        };
        tokio::join!(produce, settle).1
    }

    /// Compares a scanned window's buckets and narrows the mismatched ones.
    async fn settle_window(&mut self, scanned: WindowScan, group: usize) -> Result<(), EngineError> {
        let levels = self.options.zoom.fingerprint_levels();
        let finest = levels[levels.len() - 1];
        let WindowScan { window, fine, src, tgt, started } = scanned;
        self.report.source_rows += src.iter().map(|f| f.count).sum::<u64>();
        self.report.target_rows += tgt.iter().map(|f| f.count).sum::<u64>();
        let buckets = window.split_at(fine);
        let mismatched = self.compare_groups(buckets, &src, &tgt, group);
        let mismatched = self.fill_empty(mismatched).await?;
        tracing::debug!(
            table = %self.report.name, %window,
            buckets = src.len(), mismatched = mismatched.len(), scan_time = ?started.elapsed(), "one-scan window"
        );
        // A bucket the target overfills (twice the finest size or more) is
        // cut again on the target; the rest go to pairs.
        let (small, big): (Vec<Span>, Vec<Span>) =
            mismatched.into_iter().partition(|s| s.larger_count().is_some_and(|n| n < 2 * finest));
        self.narrow(levels.len(), merge_adjacent(small, PAIRS_PER_STREAM)).await?;
        self.narrow(levels.len() - 1, big).await?;
        self.checkpoint(std::slice::from_ref(&window)).await?;
        self.progress.advance(1, self.report.differences());
        Ok(())
    }

    /// Compares groups of `group` buckets by their summed fingerprints, then
    /// the buckets of each mismatched group; returns the mismatched buckets.
    fn compare_groups(&mut self, buckets: Vec<KeyRange>, src: &[Fingerprint], tgt: &[Fingerprint], group: usize) -> Vec<Span> {
        let mut mismatched = Vec::new();
        let mut buckets = buckets.into_iter();
        for (s, t) in src.chunks(group).zip(tgt.chunks(group)) {
            let ranges: Vec<KeyRange> = buckets.by_ref().take(s.len()).collect();
            self.report.ranges_compared += 1;
            if s.iter().copied().sum::<Fingerprint>() == t.iter().copied().sum::<Fingerprint>() {
                continue;
            }
            if s.len() > 1 {
                self.report.ranges_compared += s.len() as u64;
            }
            for ((range, s), t) in ranges.into_iter().zip(s).zip(t) {
                if s != t {
                    mismatched.push(Span { range, counts: Some((*s, *t)) });
                }
            }
        }
        mismatched
    }
}

/// One window's finest cuts (from the source) and both sides' bucket
/// fingerprints.
struct WindowScan {
    window: KeyRange,
    fine: Vec<Key>,
    src: Vec<Fingerprint>,
    tgt: Vec<Fingerprint>,
    started: std::time::Instant,
}

/// `fine`: the window's cuts when they are known without reading (see
/// [`even_cuts`]); otherwise the source's key every `finest` rows.
async fn scan_window(
    source: &dyn Dataset,
    target: &dyn Dataset,
    window: KeyRange,
    fine: Option<Vec<Key>>,
    finest: u64,
    retry: RetryPolicy,
) -> Result<WindowScan, EngineError> {
    let started = std::time::Instant::now();
    let fine = match fine {
        Some(fine) => fine,
        None => source_cuts(source, &window, finest, retry).await?,
    };
    let (src, tgt) = tokio::try_join!(
        retry.run("fingerprints", || source.bucket_fingerprints(&window, &fine)),
        retry.run("fingerprints", || target.bucket_fingerprints(&window, &fine)),
    )?;
    if src.len() != fine.len() + 1 || tgt.len() != fine.len() + 1 {
        return Err(StoreError::Invalid(format!(
            "a store answered {} and {} fingerprints for {} buckets",
            src.len(),
            tgt.len(),
            fine.len() + 1
        ))
        .into());
    }
    Ok(WindowScan { window, fine, src, tgt, started })
}

/// The source's keys that cut `range` every `size` rows, checked.
async fn source_cuts(source: &dyn Dataset, range: &KeyRange, size: u64, retry: RetryPolicy) -> Result<Vec<Key>, EngineError> {
    let cuts = split_on(source, std::slice::from_ref(range), size, retry).await?;
    let cuts = cuts.into_iter().next().unwrap_or_default();
    check_cuts(range, &cuts)?;
    Ok(cuts)
}

/// Most rows (on the larger side) of adjacent mismatched buckets read as one
/// stream of pairs.

const PAIRS_PER_STREAM: u64 = 10_000;

/// Joins runs of adjacent buckets into ranges of up to `most` rows (on
/// the larger side): where the drift is dense, [`PAIRS_PER_STREAM`] rows
/// cost one pair stream per side rather than one per bucket; a filled range
/// is copied and checked as one.
pub(super) fn merge_adjacent(spans: Vec<Span>, most: u64) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        if let Some(last) = out.last_mut() {
            let adjacent = matches!((&last.range.hi, &span.range.lo), (Some(hi), Lower::Included(lo)) if hi == lo);
            let (Some((ls, lt)), Some((s, t))) = (last.counts, span.counts) else {
                out.push(span);
                continue;
            };
            let (ms, mt) = (ls.combine(s), lt.combine(t));
            if adjacent && ms.count.max(mt.count) <= most {
                last.range.hi = span.range.hi;
                last.counts = Some((ms, mt));
                continue;
            }
        }
        out.push(span);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::key::Key;
    use crate::engine::value::Value;

    fn span(lo: Option<i64>, hi: Option<i64>, rows: u64) -> Span {
        let key = |n: i64| Key(vec![Value::Int(n)]);
        let fp = Fingerprint { count: rows, hi: 0, lo: 0 };
        Span {
            range: KeyRange::new(lo.map_or(Lower::Unbounded, |n| Lower::Included(key(n))), hi.map(key)),
            counts: Some((fp, Fingerprint::EMPTY)),
        }
    }

    #[test]
    fn adjacent_buckets_merge_up_to_the_stream_size_and_gaps_stay() {
        let spans = vec![
            span(None, Some(10), 4000),
            span(Some(10), Some(20), 4000),
            span(Some(20), Some(30), 4000), // would pass 10,000 rows
            span(Some(40), Some(50), 10),   // not adjacent to the previous
            span(Some(50), None, 10),
        ];
        let merged: Vec<String> = merge_adjacent(spans, PAIRS_PER_STREAM).iter().map(|s| s.range.to_string()).collect();
        assert_eq!(merged, ["[start, 20)", "[20, 30)", "[40, end]"]);
    }
}
