//! Ranges the target holds nothing of. Every source row there is missing,
//! so the narrowing stops: nothing is cut again, no (key, hash) pair is
//! read, and `sync` copies the source's rows page by page into the
//! target's bulk path ([`Dataset::insert_new`]). The copy is checked by
//! one fingerprint of the range on the target instead of by reading every
//! written row back; a range whose fingerprint does not match the source's
//! is compared again row by row, which repairs it (or stops with the first
//! value the target cannot hold).
//!
//! A first fill thus reads each source row once and the target's ranges
//! once, where narrowing would have cut every empty range down to single
//! rows.

use futures_util::StreamExt;

use super::{Comparison, Span, SAMPLE_SIZE};
use crate::engine::error::EngineError;
use crate::engine::fingerprint::Fingerprint;
use crate::engine::range::KeyRange;
use crate::engine::report::{DatasetReport, SampleDifference};

/// What a sink did with a range the target holds nothing of.
#[derive(Debug, PartialEq, Eq)]
pub enum Filled {
    /// Counted only (`diff`, a dry run): every source row remains missing.
    Counted,
    /// Written to the target; the engine checks the range's fingerprint.
    Written,
    /// The sink needs the rows' pairs (it prints statements, say): the range
    /// is compared as pairs.
    NotFilled,
}

/// Filled ranges handed to the sink at once (its pages are read ahead
/// across them); their checkpoint is recorded after.
const FILL_BATCH: usize = 16;

/// Most rows of one filled range: the unit the target's fingerprint checks
/// (and a repair compares again) after the copy.
pub const FILL_RANGE_ROWS: u64 = 20_000;

impl Comparison<'_> {
    /// A target that holds no row at all (a first fill) is filled whole.
    /// Returns false, having read one key, when the target holds rows.
    pub(super) async fn fill_if_target_empty(&mut self) -> Result<bool, EngineError> {
        let full = KeyRange::full();
        let target = self.target;
        let holds_rows = self
            .options
            .retry
            .run("the target's first row", || async {
                let first: Vec<_> = target.row_hashes(&full).take(1).collect().await;
                first.into_iter().next().transpose().map(|pair| pair.is_some())
            })
            .await?;
        if holds_rows {
            return Ok(false);
        }
        self.fill_range(full).await?;
        Ok(true)
    }

    /// `copy`: the source's rows after the target's largest key (all of
    /// them into an empty target) are filled in key order, each page its
    /// own transaction, so a copy that was killed left a prefix of the
    /// source and the next run resumes after it. Nothing is compared.
    pub(super) async fn copy_after_last_key(&mut self) -> Result<(), EngineError> {
        let last = self.options.retry.run("the target's largest key", || self.target.last_key()).await?;
        let range = match last {
            Some(key) => {
                tracing::info!(table = %self.report.name, "the target holds keys up to {key}: copying the source's rows after it");
                KeyRange::full().after(key)
            }
            None => KeyRange::full(),
        };
        self.fill_range(range).await
    }

    /// Fills `range`, which the target holds nothing of: the source is cut
    /// by its index into ranges of the first zoom level (at most
    /// [`FILL_RANGE_ROWS`] rows), fingerprinted in one scan, and every
    /// range is filled; nothing is narrowed.
    async fn fill_range(&mut self, whole: KeyRange) -> Result<(), EngineError> {
        let retry = self.options.retry;
        // Ranges of the first level's size (what a checkpoint records), at
        // most FILL_RANGE_ROWS.
        let size = self.options.zoom.fingerprint_levels().first().map_or(FILL_RANGE_ROWS, |&first| first.min(FILL_RANGE_ROWS));
        let cuts = super::split_on(self.source, std::slice::from_ref(&whole), size, retry).await?.pop().unwrap_or_default();
        super::check_cuts(&whole, &cuts)?;
        let ranges = whole.split_at(cuts);
        let ranges = self.skip_finished(ranges);
        let fps = retry.run("fingerprints", || self.source.fingerprints(&ranges)).await?;
        self.report.ranges_compared += ranges.len() as u64;
        self.report.source_rows += fps.iter().map(|f| f.count).sum::<u64>();
        self.first_pass_done = true;
        self.progress.begin(&self.report.name, ranges.len() as u64);
        let mut spans = ranges.into_iter().zip(fps).map(|(range, fp)| Span { range, counts: Some((fp, Fingerprint::EMPTY)) }).peekable();
        // Fewer at once when each batch is a checkpoint: a killed run loses less.
        let per_batch = if self.options.checkpoint.is_some() { FILL_BATCH / 2 } else { FILL_BATCH };
        while spans.peek().is_some() {
            let chunk: Vec<Span> = spans.by_ref().take(per_batch).collect();
            let ranges: Vec<KeyRange> = chunk.iter().map(|s| s.range.clone()).collect();
            let rest = self.fill_empty(chunk).await?;
            debug_assert!(rest.iter().all(|s| s.counts.is_some_and(|(s, _)| s.count == 0)));
            self.checkpoint(&ranges).await?;
            self.progress.advance(ranges.len() as u64, self.report.differences());
        }
        Ok(())
    }

    /// Fills the spans whose target side is empty (adjacent ones joined up
    /// to [`FILL_RANGE_ROWS`] rows); returns the others.
    pub(super) async fn fill_empty(&mut self, spans: Vec<Span>) -> Result<Vec<Span>, EngineError> {
        let (empty, rest): (Vec<Span>, Vec<Span>) =
            spans.into_iter().partition(|s| s.counts.is_some_and(|(src, tgt)| tgt.count == 0 && src.count > 0));
        if empty.is_empty() {
            return Ok(rest);
        }
        let spans = super::one_scan::merge_adjacent(empty, FILL_RANGE_ROWS);
        let expected: Vec<Fingerprint> = spans.iter().map(|s| s.counts.expect("a filled span has counts").0).collect();
        let ranges: Vec<(KeyRange, u64)> = spans.into_iter().zip(&expected).map(|(s, fp)| (s.range, fp.count)).collect();
        let writes = self.sink.writes_target();
        if writes {
            self.target.end_pass().await;
        }
        let outcome = self.sink.fill(&ranges, &mut self.report).await;
        if writes {
            self.options.retry.run("begin a pass", || self.target.begin_pass(self.options.jobs)).await?;
        }
        let ranges: Vec<KeyRange> = ranges.into_iter().map(|(r, _)| r).collect();
        let outcome = outcome?;
        // A range compared key by key samples its keys as it goes.
        if !matches!(outcome, Filled::NotFilled) {
            for range in &ranges {
                self.sample_missing(range).await?;
            }
        }
        match outcome {
            Filled::NotFilled => {
                self.compare_pairs(ranges).await?;
                return Ok(rest);
            }
            Filled::Counted => {}
            Filled::Written => {
                let now = self.options.retry.run("fingerprints", || self.target.fingerprints(&ranges)).await?;
                for ((range, now), expected) in ranges.into_iter().zip(now).zip(&expected) {
                    if now != *expected {
                        tracing::info!(table = %self.report.name, %range, "a filled range does not match the source; comparing its rows");
                        self.repair_filled(range).await?;
                    }
                }
            }
        }
        self.report.missing += expected.iter().map(|f| f.count).sum::<u64>();
        Ok(rest)
    }

    /// Compares a filled range whose fingerprint did not match, as pairs.
    /// Its rows were counted missing already: what the comparison writes
    /// and reads is added to the report, not its differences again.
    async fn repair_filled(&mut self, range: KeyRange) -> Result<(), EngineError> {
        let name = self.report.name.clone();
        let outer = std::mem::replace(&mut self.report, DatasetReport { name, ..Default::default() });
        let outcome = self.compare_pairs(vec![range]).await;
        let check = std::mem::replace(&mut self.report, outer);
        outcome?;
        let r = &mut self.report;
        r.add_work(&check);
        r.changed_during_run += check.changed_during_run;
        r.remaining += check.remaining;
        // Rows the target gained from another writer meanwhile.
        r.extra += check.extra;
        Ok(())
    }

    /// The first keys of a filled range, while the sample has room.
    async fn sample_missing(&mut self, range: &KeyRange) -> Result<(), EngineError> {
        let room = SAMPLE_SIZE.saturating_sub(self.report.sample.len());
        if room == 0 {
            return Ok(());
        }
        let pairs: Vec<_> = self.source.row_hashes(range).take(room).collect().await;
        for pair in pairs {
            let (key, _) = pair?;
            self.report.sample.push(SampleDifference { kind: "missing", key: key.to_string() });
        }
        Ok(())
    }
}
