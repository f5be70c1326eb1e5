//! `--until-consistent`: compare and repair again until a pass finds
//! nothing, or `--max-passes` were made. Differences a later pass finds are
//! rows (or points) that changed at SOURCE while the run went on: they are
//! repaired and counted in `changed_during_run`, and a run that still finds
//! some in its last pass says so rather than looping forever.

use std::sync::Arc;
use std::time::Instant;

use crate::engine::error::EngineError;
use crate::engine::progress::Progress;
use crate::engine::report::{DatasetReport, Report};
use crate::engine::state::StateStore;

use super::plan::{Family, Plan};

/// Runs the plan once, or pass after pass under `--until-consistent`,
/// inside the state store's run when the plan keeps one (which holds the
/// profile's lock until the run ends, and resumes a killed run).
pub async fn run(plan: &Plan, progress: &dyn Progress) -> Result<Report, EngineError> {
    let Some(path) = &plan.state else { return passes(plan, None, progress).await };
    let state = Arc::new(StateStore::open(path, &run_key(plan)).await?);
    let outcome = passes(plan, Some(state.clone()), progress).await;
    if outcome.as_ref().is_err_and(|e| e.exit_code() == 2) && state.discard_if_unused().await {
        return outcome;
    }
    let report = outcome.as_ref().ok().map(|r| serde_json::to_string(r).unwrap_or_default());
    match (state.finish(report.as_deref()).await, outcome) {
        (Err(e), Ok(_)) => Err(e),
        (Err(e), Err(first)) => {
            tracing::warn!("the state store could not record the failed run: {e}");
            Err(first)
        }
        (Ok(()), outcome) => outcome,
    }
}

/// What decides what comparing a range does: a killed run is resumed only
/// by a run with the same (a dry run, a --delete or --lite run, other
/// endpoints, filters or columns are other runs). No secret: the endpoints
/// as shown, the profile's rules without its URLs.
fn run_key(plan: &Plan) -> String {
    // Not the knobs of speed (--jobs, --batch-size, --checksum): a run
    // killed with one setting resumes with another.
    let family = match &plan.family {
        Family::Tables(t) => format!("tables={:?} zoom={:?} lite_column={:?} table_rules={:?}", t.names, t.zoom, plan.lite.then_some(&t.lite_column), t.rules),
        Family::Series(s) => format!("series={s:?}"),
    };
    format!("{} {} -> {} mode={:?} lite={} {family}", plan.command_name(), plan.source, plan.target, plan.mode, plan.lite)
}

async fn passes(plan: &Plan, state: Option<Arc<StateStore>>, progress: &dyn Progress) -> Result<Report, EngineError> {
    let started = Instant::now();
    let mut passes = state.as_ref().map_or(1, |s| s.pass() as u32);
    let mut report = once(plan, state.clone(), progress).await?;
    if let Some(s) = state.as_ref().filter(|s| s.resumed) {
        let skipped: u64 = report.datasets.iter().map(|d| d.ranges_skipped).sum();
        if skipped > 0 {
            report.notes.push(format!("run {} of the state store was resumed: {skipped} range(s) it had finished were not compared again", s.run));
        }
    }
    // Per dataset, what the passes after the first found and repaired.
    let mut found_later = std::collections::HashMap::new();
    while passes < plan.passes && report.datasets.iter().any(|d| found(d) > 0) {
        passes += 1;
        tracing::info!(pass = passes, "comparing again");
        if let Some(s) = &state {
            s.next_pass().await?;
        }
        let next = once(plan, state.clone(), progress).await?;
        let still = next.datasets.iter().map(found).sum::<u64>();
        report = combine(report, next, &mut found_later);
        if still == 0 {
            break;
        }
        if passes == plan.passes {
            report.in_sync = false;
            report.notes.push(format!(
                "pass {passes} of --max-passes {} still found {still} difference(s) and repaired them; SOURCE is being written to while rangesync runs, so another pass may find more",
                plan.passes
            ));
        }
    }
    report.passes = passes;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

async fn once(plan: &Plan, state: Option<Arc<StateStore>>, progress: &dyn Progress) -> Result<Report, EngineError> {
    match &plan.family {
        Family::Series(series) => super::series::execute(plan, series, state, progress).await,
        Family::Tables(tables) => super::tables::execute(plan, tables, state, progress).await,
    }
}

/// Differences a pass found that it could repair (extras kept without
/// `--delete` are found again by every pass and do not call for another).
fn found(d: &DatasetReport) -> u64 {
    d.inserted + d.updated + d.deleted
}

/// The first pass's findings, every pass's writes, and the last pass's
/// state. Rows that changed during the run: those the later passes found
/// and repaired (a first pass's own `changed_during_run` are among them),
/// and those the last pass saw change after its snapshot.
fn combine(mut total: Report, next: Report, found_later: &mut std::collections::HashMap<String, u64>) -> Report {
    for n in next.datasets {
        let later = found_later.entry(n.name.clone()).or_insert(0);
        *later += found(&n);
        match total.datasets.iter_mut().find(|d| d.name == n.name) {
            Some(d) => {
                d.changed_during_run = *later + n.changed_during_run;
                d.add_work(&n);
                d.ranges_compared += n.ranges_compared;
                d.ranges_skipped += n.ranges_skipped;
                d.remaining = n.remaining;
                d.target_rows = n.target_rows;
            }
            None => total.datasets.push(n),
        }
    }
    for note in next.notes {
        if !total.notes.contains(&note) {
            total.notes.push(note);
        }
    }
    // The last pass says which databases failed.
    total.databases = next.databases;
    total.in_sync = total.datasets.iter().all(|d| d.remaining == 0) && total.failure_code().is_none();
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(datasets: Vec<DatasetReport>) -> Report {
        Report::finished("sync", false, datasets, Vec::new(), false, Instant::now())
    }

    #[test]
    fn later_passes_count_as_changed_during_the_run() {
        let first = DatasetReport { name: "t".into(), missing: 10, inserted: 10, rows_fetched: 10, ..Default::default() };
        let first = DatasetReport { changed_during_run: 1, remaining: 1, ..first };
        let second = DatasetReport { name: "t".into(), changed: 2, updated: 2, rows_fetched: 2, remaining: 0, ..Default::default() };
        let mut found_later = std::collections::HashMap::new();
        let total = combine(report(vec![first]), report(vec![second]), &mut found_later);
        let d = &total.datasets[0];
        assert_eq!((d.missing, d.changed, d.inserted, d.updated), (10, 0, 10, 2));
        assert_eq!(d.changed_during_run, 2, "the first pass's one changed row is among the second's two");
        assert_eq!(d.rows_fetched, 12);
        assert!(total.in_sync);
        let third = DatasetReport { name: "t".into(), changed: 1, updated: 1, changed_during_run: 1, remaining: 1, ..Default::default() };
        let total = combine(total, report(vec![third]), &mut found_later);
        assert_eq!(total.datasets[0].changed_during_run, 4);
        assert!(!total.in_sync);
    }
}
