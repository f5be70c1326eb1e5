//! Applying the difference to the target.
//!
//! Every mutation goes through [`WriteGuard`]: it is the one place that
//! honours `--dry-run` and `--delete`, so no code path can write around them.

use std::collections::HashMap;

use async_trait::async_trait;

use super::diff::{DiffKind, DiffSink, Difference, Filled};
use super::fingerprint::{HashScheme, RowHash};
use super::error::{EngineError, StoreError};
use super::key::Key;
use super::report::DatasetReport;
use super::retry::RetryPolicy;
use super::series::store::{Measurement, SeriesStore};
use super::series::{Sample, Series, Window};
use super::range::KeyRange;
use super::store::{BulkRows, Dataset, Row, Store};

/// Rows per page (and per transaction) when a range the target lacks is
/// copied, by default.
pub const FILL_PAGE: usize = 20_000;

/// The single gate in front of every write: built by [`WriteGuard::new`]
/// only, narrowed (never widened) by the methods that return a copy.
#[derive(Clone, Copy, Debug)]
pub struct WriteGuard {
    dry_run: bool,
    allow_delete: bool,
    retry: RetryPolicy,
}

impl WriteGuard {
    /// Writes unless `dry_run`; deletes only when `allow_delete` too.
    pub fn new(dry_run: bool, allow_delete: bool) -> Self {
        WriteGuard { dry_run, allow_delete, retry: RetryPolicy::default() }
    }

    /// A guard that lets nothing through (diff, and the counting runs of
    /// `--max-delete`).
    pub fn read_only() -> Self {
        WriteGuard::new(true, false)
    }

    /// This guard, writing nothing.
    pub fn dry(self) -> Self {
        WriteGuard { dry_run: true, ..self }
    }

    /// This guard, deleting only where `allowed` too (a rule's delete =
    /// false, a `--lite` run).
    pub fn deletes_only_if(self, allowed: bool) -> Self {
        WriteGuard { allow_delete: self.allow_delete && allowed, ..self }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Whether deletes go through (not in a dry run).
    pub fn deletes(&self) -> bool {
        self.allow_delete && !self.dry_run
    }

    /// Whether deletes were asked for (a dry run reports what they would be).
    pub fn allows_delete(&self) -> bool {
        self.allow_delete
    }

    pub fn retry(&self) -> RetryPolicy {
        self.retry
    }

    /// Runs a schema statement (a database, a retention policy): `false`
    /// and nothing sent in a dry run.
    pub async fn define<F, Fut>(&self, what: &str, op: F) -> Result<bool, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), crate::engine::error::StoreError>>,
    {
        if self.dry_run {
            return Ok(false);
        }
        self.retry.run(what, op).await?;
        Ok(true)
    }
    /// Upserts `rows`; returns how many were written (0 in a dry run).
    pub async fn upsert(&self, target: &dyn Dataset, rows: &[Row]) -> Result<u64, EngineError> {
        if self.dry_run || rows.is_empty() {
            return Ok(0);
        }
        Ok(self.retry.run("upsert", || target.upsert(rows)).await?)
    }

    /// Writes rows into a range the target held nothing of, through its bulk
    /// path; returns how many were written (0 in a dry run).
    pub async fn insert_new(&self, target: &dyn Dataset, rows: &[Row]) -> Result<u64, EngineError> {
        if self.dry_run || rows.is_empty() {
            return Ok(0);
        }
        Ok(self.retry.run("insert", || target.insert_new(rows)).await?)
    }

    /// Writes rows exported by a dataset of the target's bulk format into a
    /// range it held none of; `Some(0)` in a dry run, `None` when a key
    /// appeared meanwhile (nothing written).
    pub async fn import_rows(&self, target: &dyn Dataset, rows: &BulkRows) -> Result<Option<u64>, EngineError> {
        if self.dry_run || rows.rows == 0 {
            return Ok(Some(0));
        }
        Ok(self.retry.run("import", || target.import_rows(rows)).await?)
    }

    /// Deletes `keys` when `--delete` was given; returns how many were removed.
    pub async fn delete(&self, target: &dyn Dataset, keys: &[Key]) -> Result<u64, EngineError> {
        if self.dry_run || !self.allow_delete || keys.is_empty() {
            return Ok(0);
        }
        Ok(self.retry.run("delete", || target.delete(keys)).await?)
    }

    /// Writes time-series samples; returns how many were written (0 in a
    /// dry run).
    pub async fn write_samples(&self, target: &dyn SeriesStore, m: &Measurement, samples: &[Sample]) -> Result<u64, EngineError> {
        if self.dry_run || samples.is_empty() {
            return Ok(0);
        }
        self.retry.run("writing samples", || target.write(m, samples)).await?;
        Ok(samples.len() as u64)
    }

    /// Deletes whole points by series and window when `--delete` was
    /// given; returns how many were asked removed.
    pub async fn delete_points(&self, target: &dyn SeriesStore, m: &Measurement, points: &[(Series, Window)]) -> Result<u64, EngineError> {
        if self.dry_run || !self.allow_delete || points.is_empty() {
            return Ok(0);
        }
        self.retry.run("deleting points", || target.delete(m, points)).await?;
        Ok(points.len() as u64)
    }

    /// Creates a missing table with the statements the target gave for it;
    /// returns whether it was created.
    pub async fn create_table(&self, target: &dyn Store, table: &str, statements: &[String]) -> Result<bool, EngineError> {
        if self.dry_run {
            return Ok(false);
        }
        self.retry.run("create table", || target.create_table(table, statements)).await?;
        Ok(true)
    }
}

/// The sink of `sync`: fetches the source rows of missing and changed keys
/// and upserts them, and deletes extra keys when allowed.
pub struct Applier<'a> {
    pub source: &'a dyn Dataset,
    pub target: &'a dyn Dataset,
    pub guard: WriteGuard,
    /// How rows are hashed on both sides (the projection's scheme).
    pub scheme: HashScheme,
    /// Key positions inside a projected row.
    pub key_positions: Vec<usize>,
    /// Projected column names, for messages.
    pub column_names: Vec<String>,
    /// Rows per page when a range the target lacks is copied.
    pub fill_page: usize,
}

#[async_trait]
impl DiffSink for Applier<'_> {
    fn writes_target(&self) -> bool {
        !self.guard.dry_run()
    }

    async fn apply(&mut self, batch: Vec<Difference>, report: &mut DatasetReport) -> Result<(), EngineError> {
        let mut to_copy: HashMap<Vec<u8>, (DiffKind, RowHash)> = HashMap::new();
        let mut copy_keys = Vec::new();
        let mut extra_keys = Vec::new();
        for d in batch {
            match d.kind {
                DiffKind::Extra => extra_keys.push(d.key),
                kind => {
                    to_copy.insert(key_bytes(&d.key), (kind, d.hash));
                    copy_keys.push(d.key);
                }
            }
        }
        let extras = extra_keys.len() as u64;
        // Deletes first: a key the source holds under other bytes but the
        // same collation (NOCASE 'Bob' vs 'bob') is removed before the
        // source's row is inserted, never after.
        let deleted = self.guard.delete(self.target, &extra_keys).await?;
        report.deleted += deleted;
        let mut unresolved = 0;
        let (mut rows, mut keys, mut expected) = (Vec::new(), Vec::new(), Vec::new());
        if !copy_keys.is_empty() {
            rows = self.guard.retry().run("fetch rows", || self.source.fetch_rows(&copy_keys)).await?;
            report.rows_fetched += rows.len() as u64;
            // A key the source no longer holds (a snapshot lost and read
            // again, or a store without snapshots and a live writer): the
            // next run settles it.
            unresolved += copy_keys.len() as u64 - rows.len() as u64;
            let written = self.guard.upsert(self.target, &rows).await?;
            if written == 0 {
                unresolved += rows.len() as u64;
                rows.clear();
            }
            keys = rows.iter().map(|r| self.key_of(r)).collect();
            // The hash of each row as written: rangesync's own where it
            // can compute the scheme, else the one the comparison read (the
            // same row, unless the snapshot was lost and the row read again
            // in a new one).
            for (row, key) in rows.iter().zip(&keys) {
                let copied = to_copy.get(&key_bytes(key));
                match copied {
                    Some((DiffKind::Missing, _)) => report.inserted += 1,
                    Some((DiffKind::Changed, _)) => report.updated += 1,
                    _ => {}
                }
                let read = copied.map(|(_, h)| *h);
                expected.push(self.scheme.in_rust().map(|h| RowHash::of_values_with(h, row)).or(read));
            }
        }
        let deleted_keys = if deleted > 0 { extra_keys } else { Vec::new() };
        // The read-back check of the target and the source's current rows,
        // at once.
        let (checked, (moved, hashes)) =
            tokio::try_join!(self.verify_written(&rows, &keys, &expected), self.changed_since_snapshot(&keys, &expected, &deleted_keys, deleted))?;
        report.rows_fetched += checked.rows;
        report.hashes_fetched += checked.hashes + hashes;
        report.changed_during_run += moved;
        report.remaining += unresolved + (extras - deleted) + moved;
        Ok(())
    }

    async fn fill(&mut self, ranges: &[(KeyRange, u64)], report: &mut DatasetReport) -> Result<Filled, EngineError> {
        if self.guard.dry_run() {
            report.remaining += ranges.iter().map(|(_, n)| n).sum::<u64>();
            return Ok(Filled::Counted);
        }
        let same_format = matches!((self.source.bulk_format(), self.target.bulk_format()), (Some(a), Some(b)) if a == b);
        if same_format && ranges.iter().all(|(_, n)| *n <= self.fill_page as u64) {
            return self.fill_through(ranges, report).await;
        }
        self.fill_by_rows(ranges, report).await
    }
}

impl Applier<'_> {
    /// Copies the ranges page by page, the next page (of this range or
    /// the next) read while the last one is written.
    async fn fill_by_rows(&mut self, ranges: &[(KeyRange, u64)], report: &mut DatasetReport) -> Result<Filled, EngineError> {
        let (source, retry, per_page) = (self.source, self.guard.retry(), self.fill_page);
        let read = move |page: KeyRange| async move { retry.run("read rows", || source.rows_page(&page, per_page)).await };
        let mut pending = ranges.iter().cloned();
        let Some((first, mut left)) = pending.next() else { return Ok(Filled::Written) };
        let (mut range, mut batch) = (first.clone(), read(first).await?);
        loop {
            report.rows_fetched += batch.len() as u64;
            left = left.saturating_sub(batch.len() as u64);
            // The page after this one: the rest of its range (while the
            // source's count for it is not reached), or the next range.
            let next = match batch.last() {
                Some(last) if batch.len() >= per_page && left > 0 => Some(range.after(self.key_of(last))),
                _ => pending.next().map(|(r, n)| {
                    left = n;
                    r
                }),
            };
            let started = std::time::Instant::now();
            let (written, following) = match &next {
                Some(page) => {
                    let (w, f) = tokio::try_join!(self.guard.insert_new(self.target, &batch), async { Ok(read(page.clone()).await?) })?;
                    (w, Some(f))
                }
                None => (self.guard.insert_new(self.target, &batch).await?, None),
            };
            report.inserted += written;
            tracing::trace!(rows = written, time = ?started.elapsed(), "filled a page");
            match (next, following) {
                // A page resumed after a key keeps its range's end, so it
                // serves as the range from here on.
                (Some(page), Some(f)) => (range, batch) = (page, f),
                _ => return Ok(Filled::Written),
            }
        }
    }

    /// Between two datasets of one bulk format (two PostgreSQL tables of
    /// the same column types), each range is exported and imported whole,
    /// unparsed, the next one exported while the last is imported. A range
    /// another writer put a key into meanwhile is copied by rows instead.
    async fn fill_through(&mut self, ranges: &[(KeyRange, u64)], report: &mut DatasetReport) -> Result<Filled, EngineError> {
        let (source, retry) = (self.source, self.guard.retry());
        let export = move |range: KeyRange| async move { retry.run("export rows", || source.export_range(&range)).await };
        let mut pending = ranges.iter();
        let Some(first) = pending.next() else { return Ok(Filled::Written) };
        let (mut current, mut rows) = (first.clone(), export(first.0.clone()).await?);
        loop {
            report.rows_fetched += rows.rows;
            let next = pending.next();
            let (imported, following) = match next {
                Some(n) => {
                    let (i, f) = tokio::try_join!(self.guard.import_rows(self.target, &rows), async { Ok(export(n.0.clone()).await?) })?;
                    (i, Some(f))
                }
                None => (self.guard.import_rows(self.target, &rows).await?, None),
            };
            match imported {
                Some(n) => report.inserted += n,
                None => {
                    tracing::info!("{}: a key appeared in {} while it was copied; copying it by rows", self.target.describe(), current.0);
                    report.rows_fetched -= rows.rows;
                    self.fill_by_rows(std::slice::from_ref(&current), report).await?;
                }
            }
            match (next, following) {
                (Some(n), Some(f)) => (current, rows) = (n.clone(), f),
                _ => return Ok(Filled::Written),
            }
        }
    }
}

impl Applier<'_> {
    fn key_of(&self, row: &Row) -> Key {
        Key(self.key_positions.iter().map(|&i| row[i].clone()).collect())
    }

    /// How many of the rows just written (or keys just deleted) no longer
    /// match the source: a writer changed them after the pass's snapshot
    /// was taken. The target holds the snapshot's version, which is
    /// consistent but already old; the next pass settles them. Asked of the
    /// source's current rows only where the pass reads a snapshot (elsewhere
    /// the rows written were read moments ago, outside any snapshot).
    /// Returns the count and the hashes read.
    async fn changed_since_snapshot(
        &self,
        written: &[Key],
        expected: &[Option<RowHash>],
        deleted: &[Key],
        deleted_count: u64,
    ) -> Result<(u64, u64), EngineError> {
        if !self.source.reads_in_snapshot() || (written.is_empty() && deleted.is_empty()) {
            return Ok((0, 0));
        }
        let keys: Vec<Key> = written.iter().chain(deleted).cloned().collect();
        let current = self.guard.retry().run("read the source's current rows", || self.source.current_row_hashes(&keys)).await?;
        let read = current.len() as u64;
        let now: HashMap<Vec<u8>, RowHash> = current.into_iter().map(|(k, h)| (key_bytes(&k), h)).collect();
        // What matters is whether the target now holds the source's row.
        let mut moved = written.iter().zip(expected).filter(|(k, h)| now.get(&key_bytes(k)) != h.as_ref()).count() as u64;
        // Of keys another writer deleted from the target first, those the
        // source holds again are already counted as extras left.
        let back = deleted.iter().filter(|k| now.contains_key(&key_bytes(k))).count() as u64;
        moved += back.min(deleted_count);
        if moved > 0 {
            tracing::info!("{}: {moved} row(s) changed at the source after the pass's snapshot", self.source.describe());
        }
        Ok((moved, read))
    }

    /// Checks that the target stored what was just written. A target whose
    /// column cannot hold a value exactly (a shorter text, a smaller scale,
    /// a timestamp of lower precision) may store something else without an
    /// error; the run stops with the first such value instead of reporting
    /// "in sync" and differing again next time. Where the target can hash
    /// its current rows, their hashes are compared with those of the rows
    /// written, and the rows are read back only when one differs (to name
    /// the value); elsewhere the rows are read back.
    async fn verify_written(&self, rows: &[Row], keys: &[Key], expected: &[Option<RowHash>]) -> Result<Checked, EngineError> {
        let mut checked = Checked::default();
        if keys.is_empty() {
            return Ok(checked);
        }
        if self.target.reads_in_snapshot() && expected.iter().all(Option::is_some) {
            let stored = self.guard.retry().run("read back written rows", || self.target.current_row_hashes(keys)).await?;
            checked.hashes = stored.len() as u64;
            let by_key: HashMap<Vec<u8>, RowHash> = stored.into_iter().map(|(k, h)| (key_bytes(&k), h)).collect();
            if keys.iter().zip(expected).all(|(k, h)| by_key.get(&key_bytes(k)) == h.as_ref()) {
                return Ok(checked);
            }
        }
        let stored = self.guard.retry().run("read back written rows", || self.target.fetch_current_rows(keys)).await?;
        checked.rows = stored.len() as u64;
        let mut by_key: HashMap<Vec<u8>, &Row> = HashMap::with_capacity(stored.len());
        for row in &stored {
            by_key.insert(key_bytes(&self.key_of(row)), row);
        }
        for (key, wanted) in keys.iter().zip(rows) {
            let Some(got) = by_key.get(&key_bytes(key)) else {
                return Err(StoreError::Invalid(format!(
                    "{}: the row with key {key} was written but cannot be read back",
                    self.target.describe()
                ))
                .into());
            };
            if let Some(i) = (0..wanted.len()).find(|&i| wanted[i].to_canonical_bytes() != got[i].to_canonical_bytes()) {
                return Err(StoreError::Invalid(format!(
                    "{}: column {} of key {key} was written as {} but the target stored {}; its column type cannot hold the source's value",
                    self.target.describe(),
                    self.column_names.get(i).map(String::as_str).unwrap_or("?"),
                    wanted[i].display(),
                    got[i].display()
                ))
                .into());
            }
        }
        Ok(checked)
    }
}

/// What the read-back check read.
#[derive(Default)]
struct Checked {
    rows: u64,
    hashes: u64,
}

/// The sink of `sync --dry-run --print`: the statements the sync would
/// send (deletes only where allowed), written out instead of sent. Source
/// rows are read to render them; nothing is written to TARGET.
pub struct Printer<'a> {
    pub source: &'a dyn Dataset,
    pub target: &'a dyn Dataset,
    pub allow_delete: bool,
    pub retry: RetryPolicy,
    pub out: &'a mut (dyn std::io::Write + Send),
}

#[async_trait]
impl DiffSink for Printer<'_> {
    async fn apply(&mut self, batch: Vec<Difference>, report: &mut DatasetReport) -> Result<(), EngineError> {
        report.remaining += batch.len() as u64;
        let (extra, copy): (Vec<Difference>, Vec<Difference>) = batch.into_iter().partition(|d| d.kind == DiffKind::Extra);
        let deletes: Vec<Key> = if self.allow_delete { extra.into_iter().map(|d| d.key).collect() } else { Vec::new() };
        let keys: Vec<Key> = copy.into_iter().map(|d| d.key).collect();
        let rows = if keys.is_empty() { Vec::new() } else { self.retry.run("fetch rows", || self.source.fetch_rows(&keys)).await? };
        report.rows_fetched += rows.len() as u64;
        for statement in self.target.render_writes(&rows, &deletes)? {
            writeln!(self.out, "{statement}").map_err(|e| EngineError::Usage(format!("cannot write the statements out: {e}")))?;
        }
        Ok(())
    }
}

/// The sink of `diff`: counts only; every difference remains.
pub struct ReportOnly;

#[async_trait]
impl DiffSink for ReportOnly {
    async fn apply(&mut self, batch: Vec<Difference>, report: &mut DatasetReport) -> Result<(), EngineError> {
        report.remaining += batch.len() as u64;
        Ok(())
    }

    async fn fill(&mut self, ranges: &[(KeyRange, u64)], report: &mut DatasetReport) -> Result<Filled, EngineError> {
        report.remaining += ranges.iter().map(|(_, n)| n).sum::<u64>();
        Ok(Filled::Counted)
    }
}

fn key_bytes(k: &Key) -> Vec<u8> {
    let mut out = Vec::new();
    for v in &k.0 {
        v.encode(&mut out);
    }
    out
}

/// `--max-delete`: a run that would delete more than `limit` percent of the
/// `held` rows (points) TARGET holds in `dataset` is stopped before any
/// delete.
pub fn within_delete_limit(dataset: &str, deletes: u64, held: u64, unit: &str, target: &str, limit: f64) -> Result<(), EngineError> {
    let share = if held == 0 { 0.0 } else { deletes as f64 * 100.0 / held as f64 };
    if deletes > 0 && share > limit {
        return Err(EngineError::SafetyLimit(format!(
            "{dataset}: the sync would delete {deletes} of the {held} {unit} in {target} ({share:.1}%), more than --max-delete {limit}%; \
             the run stopped before writing to it. Check SOURCE, or pass --force"
        )));
    }
    Ok(())
}
