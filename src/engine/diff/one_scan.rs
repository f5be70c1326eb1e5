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

use super::{check_cuts, split_on, Comparison, Span};
use crate::engine::error::{EngineError, StoreError};
use crate::engine::fingerprint::Fingerprint;
use crate::engine::range::KeyRange;

/// Finest chunks fingerprinted per statement and side.
pub const BUCKETS_PER_SCAN: u64 = 2000;

impl Comparison<'_> {
    pub(super) async fn narrow_in_one_scan(&mut self) -> Result<(), EngineError> {
        let levels = self.options.zoom.fingerprint_levels();
        let (first, finest) = (levels[0], levels[levels.len() - 1]);
        let retry = self.options.retry;
        let window_rows = first.max(finest.saturating_mul(BUCKETS_PER_SCAN));
        let full = KeyRange::full();
        let cuts = split_on(self.source, std::slice::from_ref(&full), window_rows, retry).await?;
        let cuts = cuts.into_iter().next().unwrap_or_default();
        check_cuts(&full, &cuts)?;
        let windows = full.split_at(cuts);
        self.progress.begin(&self.report.name, windows.len() as u64);
        let group = (first / finest).max(1) as usize;
        for window in windows {
            let fine = split_on(self.source, std::slice::from_ref(&window), finest, retry).await?;
            let fine = fine.into_iter().next().unwrap_or_default();
            check_cuts(&window, &fine)?;
            let started = std::time::Instant::now();
            let (src, tgt) = tokio::try_join!(
                retry.run("fingerprints", || self.source.bucket_fingerprints(&window, &fine)),
                retry.run("fingerprints", || self.target.bucket_fingerprints(&window, &fine)),
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
            self.report.source_rows += src.iter().map(|f| f.count).sum::<u64>();
            self.report.target_rows += tgt.iter().map(|f| f.count).sum::<u64>();
            let buckets = window.split_at(fine);
            let mismatched = self.compare_groups(buckets, &src, &tgt, group);
            tracing::debug!(
                table = %self.report.name, %window,
                buckets = src.len(), mismatched = mismatched.len(), scan_time = ?started.elapsed(), "one-scan window"
            );
            // A bucket the target overfills is cut again (on the target)
            // when that makes more than two chunks; the rest go to pairs.
            let (small, big): (Vec<Span>, Vec<Span>) =
                mismatched.into_iter().partition(|s| s.larger_count().is_some_and(|n| n < 2 * finest));
            self.narrow(levels.len(), small).await?;
            self.narrow(levels.len() - 1, big).await?;
            self.progress.advance(1, self.report.differences());
        }
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
