//! Where a time-series comparison's differences go, as tables' go to a
//! [`crate::engine::diff::DiffSink`]: written through the guard (sync),
//! printed (`sync --dry-run --print`), or only counted (diff, a dry run,
//! the counting run of `--max-delete`).

use async_trait::async_trait;

use super::diff::Findings;
use super::merge::Outcome;
use super::store::{Measurement, SeriesStore};
use crate::engine::apply::WriteGuard;
use crate::engine::error::EngineError;

/// Where `--print` writes (stdout, behind a lock).
pub type LinePrinter = std::sync::Arc<std::sync::Mutex<dyn std::io::Write + Send>>;

/// Takes one window's differences, already counted in `findings.report`
/// (missing, extra, changed, fetched): repairs, prints or leaves them,
/// and counts what it did.
#[async_trait]
pub trait SeriesSink: Send + Sync {
    async fn apply(&self, m: &Measurement, outcome: Outcome, findings: &mut Findings) -> Result<(), EngineError>;
}

/// Counts only: every difference remains.
pub struct ReportOnly;

#[async_trait]
impl SeriesSink for ReportOnly {
    async fn apply(&self, _m: &Measurement, outcome: Outcome, findings: &mut Findings) -> Result<(), EngineError> {
        findings.report.remaining += outcome.missing + outcome.extra + outcome.changed;
        Ok(())
    }
}

/// `sync --dry-run --print`: what the repair would send, on `out`.
pub struct Printer<'a> {
    pub target: &'a dyn SeriesStore,
    /// Whether the sync would delete (`--delete`, a target that can).
    pub deleting: bool,
    pub out: LinePrinter,
}

#[async_trait]
impl SeriesSink for Printer<'_> {
    async fn apply(&self, m: &Measurement, outcome: Outcome, findings: &mut Findings) -> Result<(), EngineError> {
        findings.report.remaining += outcome.missing + outcome.extra + outcome.changed;
        let deletes = if self.deleting { outcome.deletes.as_slice() } else { &[] };
        let mut samples = outcome.writes;
        if self.deleting {
            samples.extend(outcome.rewrites);
        }
        let lines = self.target.render_writes(m, deletes, &samples).await?;
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        for line in lines {
            writeln!(out, "{line}").map_err(|e| EngineError::Usage(format!("cannot write the lines out: {e}")))?;
        }
        Ok(())
    }
}

/// `sync`: writes what TARGET lacks, deletes what it should not hold
/// when the guard allows and the store can, every write through the guard.
pub struct Applier<'a> {
    pub target: &'a dyn SeriesStore,
    pub guard: WriteGuard,
}

#[async_trait]
impl SeriesSink for Applier<'_> {
    async fn apply(&self, m: &Measurement, outcome: Outcome, findings: &mut Findings) -> Result<(), EngineError> {
        if self.guard.dry_run() {
            return ReportOnly.apply(m, outcome, findings).await;
        }
        let (target, guard) = (self.target, &self.guard);
        // Changed points whose target holds a field the source lacks: only a
        // delete of the whole point settles them.
        let extra_fields = outcome.needs_delete - outcome.extra;
        let deleting = guard.allows_delete() && target.capabilities().can_delete;
        if deleting && !outcome.deletes.is_empty() {
            guard.delete_points(target, m, &outcome.deletes).await?;
            guard.write_samples(target, m, &outcome.rewrites).await?;
        }
        guard.write_samples(target, m, &outcome.writes).await?;
        let r = &mut findings.report;
        r.inserted += outcome.missing;
        if deleting {
            r.updated += outcome.changed;
            r.deleted += outcome.extra;
        } else {
            r.updated += outcome.changed - extra_fields;
            findings.kept += outcome.needs_delete;
            r.remaining += outcome.needs_delete;
        }
        Ok(())
    }
}
