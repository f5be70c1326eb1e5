//! Executes a plan over time series: opens both stores, picks and checks
//! the measurements, then compares (and in `sync`, repairs) or copies them
//! one by one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::connector::{self, Access, Endpoint};
use crate::engine::apply::WriteGuard;
use crate::engine::error::{EngineError, Side, StoreError};
use crate::engine::progress::Progress;
use crate::connector::influxdb::{influxql, InfluxStore};
use crate::engine::report::{DatabaseOutcome, DatasetReport, Report, SchemaReport, TableAction};
use crate::engine::retry::RetryPolicy;
use crate::engine::state::{SeriesState, StateStore};
use crate::engine::series::copy::{self, CopyOptions};
use crate::engine::series::diff::{self, SeriesOptions};
use crate::engine::series::{merge, sink};
use crate::engine::series::window::{rfc3339, show_duration};
use crate::engine::series::label::{Labeled, Role};
use crate::engine::series::lite;
use crate::engine::series::{Measurement, Precision, SeriesStore, TimeZoom, Window};

use super::args::{Format, Order, Verify};
use super::output::Output;
use super::plan::{Mode, Plan, SeriesPlan};

pub async fn execute(plan: &Plan, series: &SeriesPlan, state: Option<Arc<StateStore>>, progress: &dyn Progress) -> Result<Report, EngineError> {
    let started = Instant::now();
    let mut reports = Vec::new();
    let mut notes = Vec::new();
    let pairs = pairs(plan, series).await?;
    let several = pairs.len() > 1 || series.maps_databases();
    let mut picked_any = false;
    let mut databases = Vec::new();
    let mut first_failure = None;
    for pair in &pairs {
        let name = pair.prefix.trim_end_matches('/').to_string();
        match compare_pair(plan, series, pair, several, state.clone(), progress, &mut reports, &mut notes).await {
            Ok(picked) => {
                picked_any |= picked;
                databases.push(DatabaseOutcome { name, error: None, exit_code: 0 });
            }
            // One database failing (a server refusing it, a field typed
            // apart) leaves the others to be compared; a safety limit
            // stops the run.
            Err(e) if several && e.exit_code() != 4 => {
                tracing::warn!(database = %name, error = %e, "database failed; going on with the others");
                databases.push(DatabaseOutcome { name, error: Some(e.to_string()), exit_code: e.exit_code() });
                first_failure.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(e) = first_failure.filter(|_| databases.iter().all(|d| d.error.is_some())) {
        // Every database failed: the run did nothing but fail.
        return Err(e);
    }
    if !picked_any && databases.iter().all(|d| d.error.is_none()) {
        return Err(EngineError::Usage(match &series.measurement {
            Some(r) => format!("--measurement '{}' matches no measurement of the databases picked in {}", r.as_str(), plan.source),
            None => format!("the databases picked in {} hold no measurement", plan.source),
        }));
    }
    let mut report = Report::finished(plan.command_name(), plan.dry_run(), reports, notes, true, started);
    if several {
        report.in_sync &= databases.iter().all(|d| d.error.is_none());
        report.databases = databases;
    }
    Ok(report)
}

/// One source and one target compared: the two URLs, or one database (and
/// policy) of `--database`/`--rp` and where it goes.
struct Pair {
    source: Endpoint,
    target: Endpoint,
    /// `--db-label` and the source database it names.
    label: Option<(String, String)>,
    /// Before each measurement's name in the report: `db/` or `db/rp/`.
    prefix: String,
}

/// The pairs a run compares, every target policy there already.
async fn pairs(plan: &Plan, series: &SeriesPlan) -> Result<Vec<Pair>, EngineError> {
    let out = pair_list(plan, series).await?;
    check_target_policies(plan, &out).await?;
    Ok(out)
}

/// The pairs of the run. Two pairs never write into the same place: a
/// `--delete` of one would remove the other's points.
async fn pair_list(plan: &Plan, series: &SeriesPlan) -> Result<Vec<Pair>, EngineError> {
    let plain = || Pair { source: plan.source.clone(), target: plan.target.clone(), label: None, prefix: String::new() };
    let Endpoint::Influx(src) = &plan.source else { return Ok(vec![plain()]) };
    if !series.maps_databases() {
        return Ok(vec![plain()]);
    }
    let mut out = Vec::new();
    for db in source_databases(plan, series, src).await? {
        let policies = match &series.rps {
            None => vec![src.retention_policy.clone()],
            Some(r) => {
                let all = InfluxStore::server(&src.with_database(&db, None)).map_err(|e| e.on(Side::Source))?.retention_policies().await.map_err(|e| e.on(Side::Source))?;
                all.into_iter().filter(|p| r.is_match(&p.name)).map(|p| Some(p.name)).collect()
            }
        };
        for rp in policies {
            let prefix = match (&series.rps, &rp) {
                (Some(_), Some(rp)) => format!("{db}/{rp}/"),
                _ if series.databases.is_some() => format!("{db}/"),
                _ => String::new(),
            };
            out.push(Pair {
                source: Endpoint::Influx(src.with_database(&db, rp.clone())),
                target: target_of(plan, series, &db, rp.as_deref())?,
                label: series.db_label.as_ref().map(|l| (l.clone(), db.clone())),
                prefix,
            });
        }
    }
    if out.is_empty() {
        return Err(EngineError::Usage(format!("--rp '{}' matches no retention policy of the databases picked in {}", series.rps.as_ref().map(|r| r.as_str()).unwrap_or_default(), plan.source)));
    }
    check_pairs_apart(plan, &out)?;
    Ok(out)
}

/// `--database`: the source server's databases it matches (never
/// `_internal`), or the URL's one.
async fn source_databases(plan: &Plan, series: &SeriesPlan, src: &crate::connector::endpoint::HttpUrl) -> Result<Vec<String>, EngineError> {
    let Some(r) = &series.databases else { return Ok(vec![src.database.clone()]) };
    let all = InfluxStore::server(src).map_err(|e| e.on(Side::Source))?.databases().await.map_err(|e| e.on(Side::Source))?;
    let picked: Vec<String> = all.iter().filter(|d| *d != "_internal" && r.is_match(d)).cloned().collect();
    if picked.is_empty() {
        let has = if all.is_empty() { "it has none".to_string() } else { format!("it has: {}", all.join(", ")) };
        return Err(EngineError::Usage(format!("--database '{}' matches no database of {} ({has})", r.as_str(), plan.source)));
    }
    Ok(picked)
}

/// Where source database `db` (policy `rp`) goes: on an InfluxDB target
/// the database and policy `--target-db`/`--target-rp` or the URL name;
/// any other target is the one store.
fn target_of(plan: &Plan, series: &SeriesPlan, db: &str, rp: Option<&str>) -> Result<Endpoint, EngineError> {
    let Endpoint::Influx(t) = &plan.target else { return Ok(plan.target.clone()) };
    let fill = |template: &str| -> Result<String, EngineError> {
        if template.contains("{rp}") && rp.is_none() {
            return Err(EngineError::Usage(format!(
                "{{rp}} stands for the source's retention policy, and {} reads the database's default one: pick policies with --rp or name one with rp=",
                plan.source
            )));
        }
        Ok(template.replace("{db}", db).replace("{rp}", rp.unwrap_or_default()))
    };
    let name = match (&series.target_db, t.database.as_str()) {
        (Some(template), _) => fill(template)?,
        (None, "") => db.to_string(),
        (None, given) => given.to_string(),
    };
    // The target URL's rp= first, then the source's name.
    let policy = match (&series.target_rp, &t.retention_policy, &series.rps) {
        (Some(template), _, _) => Some(fill(template)?),
        (None, Some(given), _) => Some(given.clone()),
        (None, None, Some(_)) => rp.map(str::to_string),
        (None, None, None) => None,
    };
    Ok(Endpoint::Influx(t.with_database(&name, policy)))
}

/// No pair writes where another reads or writes: an InfluxDB database and
/// policy, or (else) the label value in the one target.
fn check_pairs_apart(plan: &Plan, out: &[Pair]) -> Result<(), EngineError> {
    let mut seen: Vec<(String, &Pair)> = Vec::new();
    for pair in out {
        if let Some(other) = out.iter().find(|o| o.source.same_store(&pair.target) && plan.mode != Mode::Diff) {
            return Err(EngineError::Usage(format!(
                "{} would be written by this run and read by it as a source ({}); narrow --database so that no target is picked",
                pair.target, other.prefix.trim_end_matches('/')
            )));
        }
        if pair.source.same_store(&pair.target) && plan.mode != Mode::Diff {
            return Err(EngineError::Usage(format!("{} would be written into itself; --target-db or --target-rp must rename it", pair.source)));
        }
        let place = match (&pair.target, &pair.label) {
            (Endpoint::Influx(_), _) => pair.target.to_string(),
            (_, Some((_, value))) => value.clone(),
            (_, None) => String::new(),
        };
        if let Some((_, other)) = seen.iter().find(|(p, _)| *p == place) {
            return Err(EngineError::Usage(format!(
                "{} and {} would both be written into {}{}; keep them apart with {}",
                other.source,
                pair.source,
                pair.target,
                pair.label.as_ref().map(|(l, v)| format!(" as {l}={v}")).unwrap_or_default(),
                if matches!(pair.target, Endpoint::Influx(_)) { "--target-db '{db}' (or --target-rp '{rp}')" } else { "--db-label db (one retention policy at a time)" }
            )));
        }
        seen.push((place, pair));
    }
    Ok(())
}

/// Every target policy exists before the first pair writes anything.
async fn check_target_policies(plan: &Plan, out: &[Pair]) -> Result<(), EngineError> {
    // The target's databases listed once, each database's policies once.
    let mut databases: Option<Vec<String>> = None;
    let mut policies: HashMap<String, Vec<String>> = HashMap::new();
    for pair in out {
        let Endpoint::Influx(t) = &pair.target else { continue };
        let Some(rp) = &t.retention_policy else { continue };
        let server = InfluxStore::server(t).map_err(|e| e.on(Side::Target))?;
        if databases.is_none() {
            databases = Some(server.databases().await.map_err(|e| e.on(Side::Target))?);
        }
        // A database created by the run gets autogen, and only that.
        let exists = if databases.as_ref().is_some_and(|d| d.contains(&t.database)) {
            if !policies.contains_key(&t.database) {
                let names = server.retention_policies().await.map_err(|e| e.on(Side::Target))?.into_iter().map(|p| p.name).collect();
                policies.insert(t.database.clone(), names);
            }
            policies[&t.database].contains(rp)
        } else {
            rp == "autogen"
        };
        if !exists {
            return Err(EngineError::Usage(format!(
                "retention policy {rp} does not exist in database {} of {} ({} would be written there); create it first (rangesync schema creates the source's)",
                t.database, plan.target, pair.source
            )));
        }
    }
    Ok(())
}

/// Everything one measurement's comparison of a pair needs.
struct PairRun<'a> {
    plan: &'a Plan,
    series: &'a SeriesPlan,
    pair: &'a Pair,
    source: &'a dyn SeriesStore,
    target: &'a dyn SeriesStore,
    /// The coarser of the two stores' precisions: instants compared at it.
    precision: Precision,
    span: Window,
    state: Option<Arc<StateStore>>,
    progress: &'a dyn Progress,
}

/// One measurement as the run compares it: its fields as TARGET keeps
/// them and the points picked, under its rule's zoom and guard.
struct MeasurementPlan {
    m: Measurement,
    zoom: TimeZoom,
    guard: WriteGuard,
    /// How the report names it: `db/rp/` before the name when several pairs.
    dataset: String,
}

/// Compares (and repairs or copies) one pair; false when the source
/// picked no measurement there.
#[allow(clippy::too_many_arguments)]
async fn compare_pair(
    plan: &Plan,
    series: &SeriesPlan,
    pair: &Pair,
    several: bool,
    state: Option<Arc<StateStore>>,
    progress: &dyn Progress,
    reports: &mut Vec<DatasetReport>,
    notes: &mut Vec<String>,
) -> Result<bool, EngineError> {
    let Some((opened_source, opened_target, picked)) = open_pair(plan, series, pair, several, notes).await? else { return Ok(false) };
    let labeled = pair.label.as_ref().map(|(l, v)| {
        (Labeled::new(opened_source.as_ref(), l, v, Role::Adding), Labeled::new(opened_target.as_ref(), l, v, Role::Selecting))
    });
    let (source, target): (&dyn SeriesStore, &dyn SeriesStore) = match &labeled {
        Some((s, t)) => (s, t),
        None => (opened_source.as_ref(), opened_target.as_ref()),
    };
    if plan.print && !target.capabilities().can_print {
        return Err(EngineError::Usage(format!("{} cannot say what a sync would write to it; run without --print", pair.target)));
    }
    let precision = source.capabilities().precision.coarser(target.capabilities().precision);
    let span = span(series, source, target, precision, notes)?;
    check_steps(series, precision)?;
    let run = PairRun { plan, series, pair, source, target, precision, span, state, progress };
    let measurements = plan_measurements(&run, &picked, notes).await?;
    if let (Some(limit), Mode::Sync { .. }) = (plan.max_delete, plan.mode) {
        // Every measurement is checked before any is written.
        for mp in measurements.iter().filter(|mp| mp.guard.deletes()) {
            let would = diff::compare(&mp.m, precision, source, target, &options(&run, mp), &sink::ReportOnly, progress).await?.report;
            crate::engine::apply::within_delete_limit(&format!("measurement {}", mp.dataset), would.extra, would.target_rows, "points", &pair.target.to_string(), limit)?;
        }
    }
    for mp in &measurements {
        tracing::info!(measurement = %mp.m.name, "comparing");
        let report = match plan.mode {
            Mode::Copy { .. } => copy_one(&run, mp, notes).await?,
            _ => compare_one(&run, mp, notes).await?,
        };
        reports.push(named(report, &pair.prefix));
    }
    if plan.writes() {
        target.flush().await?;
    }
    Ok(true)
}

/// Both stores of a pair and the source's measurements picked; `None`
/// (with a note) when it picks none there. A missing target is created
/// (an InfluxDB database, through the guard) only if the run writes.
async fn open_pair(
    plan: &Plan,
    series: &SeriesPlan,
    pair: &Pair,
    several: bool,
    notes: &mut Vec<String>,
) -> Result<Option<(Box<dyn SeriesStore>, Box<dyn SeriesStore>, Vec<Measurement>)>, EngineError> {
    let source = connector::open_series_side(Side::Source, &pair.source, Access::Read, &series.settings).await?;
    let target = match connector::open_series_side(Side::Target, &pair.target, Access::Read, &series.settings).await.map_err(StoreError::into_root) {
        Ok(t) => Some(t),
        Err(StoreError::Missing(_)) if plan.writes() => None,
        Err(StoreError::Missing(e)) if plan.dry_run() => {
            return Err(EngineError::Usage(format!("{e}; a sync or copy would create it, a dry run cannot compare with it")))
        }
        Err(e) => return Err(e.on(Side::Target).into()),
    };
    let picked = pick(source.as_ref(), series, &pair.source, several).await?;
    if picked.is_empty() {
        notes.push(format!("{}: no measurement picked in {}; nothing compared there", pair.prefix.trim_end_matches('/'), pair.source));
        return Ok(None);
    }
    let target = match target {
        Some(t) => t,
        None => {
            if let Endpoint::Influx(t) = &pair.target {
                create_database(&plan.mode.write_guard(), t).await?;
            }
            connector::open_series_side(Side::Target, &pair.target, Access::Write, &series.settings).await?
        }
    };
    if plan.writes() {
        target.warn_before_writes().await;
    }
    Ok(Some((source, target, picked)))
}

/// `CREATE DATABASE` on an InfluxDB server, through the guard (not in a
/// dry run); whether it was sent.
async fn create_database(guard: &WriteGuard, url: &crate::connector::endpoint::HttpUrl) -> Result<(String, bool), EngineError> {
    let statement = format!("CREATE DATABASE {}", influxql::ident(&url.database));
    let server = InfluxStore::server(url).map_err(|e| e.on(Side::Target))?;
    let sent = guard.define("creating the database", || async { server.command(&statement, "creating the database").await.map_err(|e| e.on(Side::Target)) }).await?;
    Ok((statement, sent))
}

/// Every zoom step and the copy's chunk are whole multiples of the
/// precision compared at.
fn check_steps(series: &SeriesPlan, precision: Precision) -> Result<(), EngineError> {
    for &step in series.zoom.steps().iter().chain([series.chunk].iter()) {
        if step % precision.nanos() != 0 {
            return Err(EngineError::Usage(format!(
                "{} is finer than the {} the comparison runs at (the coarser precision of the two stores)",
                show_duration(step),
                precision.name()
            )));
        }
    }
    Ok(())
}

/// The measurements picked, each typed as TARGET keeps it and under its
/// rule (skipped, `where`, zoom, deletes); a `where` either store cannot
/// select by is refused before anything is compared.
async fn plan_measurements(run: &PairRun<'_>, picked: &[Measurement], notes: &mut Vec<String>) -> Result<Vec<MeasurementPlan>, EngineError> {
    let (source, target, series) = (run.source, run.target, run.series);
    let target_measurements = target.measurements(series.measurement.as_ref()).await?;
    // Sums cost a store more than counts alone (InfluxDB: 70%).
    let sums = series.verify == Verify::Sum && source.capabilities().sums && target.capabilities().sums;
    let mut out = Vec::new();
    for m in picked {
        let existing = target_measurements.iter().find(|t| t.name == m.name);
        let mut m = as_target_keeps(m, existing, target, &run.pair.target, &run.pair.source, notes)?;
        let rule = series.rule(&m.name);
        if m.fields.is_empty() || rule.is_some_and(|r| r.skip) {
            continue;
        }
        m.condition = rule.and_then(|r| r.condition.clone());
        if let (Some(_), Some(side)) = (&m.condition, [(source, &run.pair.source), (target, &run.pair.target)].iter().find(|(s, _)| !s.capabilities().can_select)) {
            return Err(EngineError::Usage(format!(
                "{} cannot select the points of {} by a condition (a profile's where for measurements is InfluxQL, for InfluxDB on both sides)",
                side.1, m.name
            )));
        }
        m.sums = sums;
        out.push(MeasurementPlan {
            dataset: format!("{}{}", run.pair.prefix, m.name),
            zoom: rule.and_then(|r| r.zoom.clone()).unwrap_or_else(|| series.zoom.clone()),
            // A rule may keep a measurement from deletes; only --delete (or
            // the profile's delete = true) allows them.
            guard: run.plan.mode.write_guard().deletes_only_if(rule.and_then(|r| r.delete) != Some(false)),
            m,
        });
    }
    Ok(out)
}

fn options(run: &PairRun<'_>, mp: &MeasurementPlan) -> SeriesOptions {
    SeriesOptions { zoom: mp.zoom.clone(), span: run.span, exact: run.series.verify == Verify::Exact, max_rows: run.series.max_rows, retry: RetryPolicy::default(), progressed: None }
}

/// `copy`: one measurement filled window by window.
async fn copy_one(run: &PairRun<'_>, mp: &MeasurementPlan, notes: &mut Vec<String>) -> Result<DatasetReport, EngineError> {
    let series = run.series;
    let options = CopyOptions { span: run.span, chunk: series.chunk, newest_first: series.order == Order::NewestFirst, max_rows: series.max_rows, retry: RetryPolicy::default() };
    let copied = copy::copy(&mp.m, run.precision, run.source, run.target, &options, &mp.guard, run.progress).await?;
    if copied.skipped > 0 {
        notes.push(format!("{}: {} of {} window(s) already complete in {} were skipped", mp.dataset, copied.skipped, copied.windows, run.pair.target));
    }
    Ok(copied.report)
}

/// `diff` and `sync`: one measurement compared (from where `--lite` or a
/// killed run says), its differences to the sink of the mode.
async fn compare_one(run: &PairRun<'_>, mp: &MeasurementPlan, notes: &mut Vec<String>) -> Result<DatasetReport, EngineError> {
    let (plan, target) = (run.plan, run.target);
    let mut options = options(run, mp);
    let mut lite_newest = None;
    if plan.lite {
        let (start, newest) = lite_start(run, mp, notes).await?;
        options.span = Window::new(start, run.span.end);
        lite_newest = newest;
    }
    // A sync keeps how far it got; one killed before resumes there.
    if let (Some(state), Mode::Sync { dry_run: false, .. }) = (&run.state, plan.mode) {
        if let Some(until) = state.series_until(&mp.dataset).await?.filter(|u| *u > options.span.start) {
            notes.push(format!("{}: run {} of the state store was resumed from {}, where it had compared and repaired everything before", mp.dataset, state.run, rfc3339(until)));
            options.span = Window::new(until.min(options.span.end), options.span.end);
        }
        options.progressed = Some(Arc::new(SeriesState { store: state.clone(), dataset: mp.dataset.clone() }));
    }
    let found = match options.span.is_empty() {
        true => diff::Findings { report: DatasetReport { name: mp.m.name.clone(), ..Default::default() }, ..Default::default() },
        false => {
            let printer = plan.print.then(|| sink::Printer {
                target,
                deleting: mp.guard.allows_delete() && target.capabilities().can_delete,
                out: plan.output.writer(),
            });
            let applier = sink::Applier { target, guard: mp.guard };
            let inner: &dyn sink::SeriesSink = match &printer {
                Some(p) => p,
                None => &applier,
            };
            // --format jsonl lists each point before the sink acts on it.
            let streamed = Streamed { dataset: &mp.dataset, out: &plan.output, inner };
            let sink: &dyn sink::SeriesSink = if plan.format == Format::Jsonl { &streamed } else { inner };
            diff::compare(&mp.m, run.precision, run.source, target, &options, sink, run.progress).await?
        }
    };
    findings_notes(run, mp, &found, notes);
    let mut report = found.report;
    if lite_newest.is_some() && plan.writes() && report.inserted + report.updated > 0 {
        // What the repair wrote moved TARGET's newest point (the watch
        // daemon's lag is read from it).
        target.flush().await?;
        lite_newest = lite::newest_minute(target, &mp.m, run.span, RetryPolicy::default()).await?.map(|w| w.start).or(lite_newest);
    }
    report.target_newest = lite_newest;
    Ok(report)
}

/// `--lite`: where the comparison starts (TARGET's newest minute minus
/// the lookback), and that minute's start.
async fn lite_start(run: &PairRun<'_>, mp: &MeasurementPlan, notes: &mut Vec<String>) -> Result<(i64, Option<i64>), EngineError> {
    let newest = lite::newest_minute(run.target, &mp.m, run.span, RetryPolicy::default()).await?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let start = lite::lite_start(run.span, newest, run.series.lookback, now);
    let target_url = &run.pair.target;
    notes.push(match newest {
        Some(w) => format!(
            "{}: --lite compared from {} ({}'s newest point, in the minute from {}, minus the {} lookback)",
            mp.dataset,
            rfc3339(start),
            target_url,
            rfc3339(w.start),
            show_duration(run.series.lookback)
        ),
        None => format!("{}: --lite found no point in {target_url}; the whole span was compared", mp.dataset),
    });
    Ok((start, newest.map(|w| w.start)))
}

/// What a comparison found beyond its counts, said as notes.
fn findings_notes(run: &PairRun<'_>, mp: &MeasurementPlan, found: &diff::Findings, notes: &mut Vec<String>) {
    if found.kept > 0 && !run.target.capabilities().can_delete && run.plan.mode != Mode::Diff {
        notes.push(format!(
            "{}: {} point(s) exist only in {} and are not removable: it deletes whole series, never a time range",
            mp.dataset, found.kept, run.pair.target
        ));
    }
    if found.collapsed > 0 {
        notes.push(format!(
            "{}: {} source sample(s) share an instant with another at {} and were compared as one",
            mp.dataset,
            found.collapsed,
            run.precision.name()
        ));
    }
}

fn named(mut report: DatasetReport, prefix: &str) -> DatasetReport {
    report.name = format!("{prefix}{}", report.name);
    report
}

/// The source's measurements `--measurement` picks; none is bad input.
async fn pick(source: &dyn SeriesStore, series: &SeriesPlan, endpoint: &Endpoint, several: bool) -> Result<Vec<Measurement>, EngineError> {
    let all = source.measurements(series.measurement.as_ref()).await?;
    let picked: Vec<Measurement> = all.iter().filter(|m| series.measurement.as_ref().is_none_or(|r| r.is_match(&m.name))).cloned().collect();
    if picked.is_empty() && !several {
        let names: Vec<&str> = all.iter().map(|m| m.name.as_str()).take(20).collect();
        let has = if names.is_empty() { "it has none".to_string() } else { format!("it has: {}", names.join(", ")) };
        return Err(EngineError::Usage(match &series.measurement {
            Some(r) => format!("--measurement '{}' matches no measurement of {endpoint} ({has})", r.as_str()),
            None => format!("{endpoint} holds no measurement"),
        }));
    }
    Ok(picked)
}

/// The fields compared, typed as the target keeps them. A field the
/// target cannot hold is left out with a note; a field the two sides
/// type differently is bad input (no sync could settle it).
fn as_target_keeps(m: &Measurement, existing: Option<&Measurement>, target: &dyn SeriesStore, target_url: &Endpoint, source_url: &Endpoint, notes: &mut Vec<String>) -> Result<Measurement, EngineError> {
    let mut fields = Vec::new();
    for (field, kind) in &m.fields {
        let Some(kept) = target.keeps(*kind) else {
            notes.push(format!("{}: field {field} holds {} values, which {} cannot store; it was not compared", m.name, kind.name(), target_url));
            continue;
        };
        if let Some(theirs) = existing.and_then(|e| e.field_type(field)) {
            if theirs != kept {
                return Err(EngineError::Usage(format!(
                    "field {field} of measurement {} is {} in {} and {} in {}; rangesync cannot make one the other",
                    m.name,
                    kind.name(),
                    source_url,
                    theirs.name(),
                    target_url
                )));
            }
        }
        fields.push((field.clone(), kept));
    }
    Ok(Measurement { fields, ..m.clone() })
}

/// `[--start, --end)`, by default what both stores can hold, aligned to
/// the comparison's precision (start down, end up) so both sides cut it
/// at the same instants.
fn span(series: &SeriesPlan, source: &dyn SeriesStore, target: &dyn SeriesStore, precision: Precision, notes: &mut Vec<String>) -> Result<Window, EngineError> {
    let (s, t) = (source.capabilities(), target.capabilities());
    let earliest = s.earliest.max(t.earliest);
    let latest = s.latest.min(t.latest);
    let (given_start, given_end) = series.instants()?;
    let mut start = given_start.unwrap_or(earliest);
    if start < earliest {
        notes.push(format!("the comparison starts at {}, the earliest instant both stores answer for", rfc3339(earliest)));
        start = earliest;
    }
    let end = given_end.unwrap_or(latest).min(latest);
    let start = precision.truncate(start);
    let end = precision.truncate(end.saturating_add(precision.nanos() - 1));
    if start >= end {
        return Err(EngineError::Usage(format!("the time span {} to {} is empty", rfc3339(start), rfc3339(end))));
    }
    Ok(Window::new(start, end))
}

/// `rangesync schema` between InfluxDB servers: creates each target
/// database and the source's retention policies (duration, replication,
/// shard duration, default) it lacks, for the one pair of the URLs or each
/// database (and policy) `--database`/`--rp` pick. Existing ones are left
/// alone.
pub async fn schema(plan: &Plan, series: &SeriesPlan) -> Result<SchemaReport, EngineError> {
    let started = Instant::now();
    let (Endpoint::Influx(_), Endpoint::Influx(_)) = (&plan.source, &plan.target) else {
        return Err(EngineError::Usage(format!(
            "schema creates InfluxDB databases and retention policies between InfluxDB servers; {} has none (VictoriaMetrics keeps every metric in one namespace, a dump directory is made by sync)",
            plan.target
        )));
    };
    let mut actions: Vec<TableAction> = Vec::new();
    for pair in pair_list(plan, series).await? {
        let (Endpoint::Influx(src), Endpoint::Influx(tgt)) = (&pair.source, &pair.target) else { continue };
        for action in schema_of_pair(plan, src, tgt, series.maps_databases()).await? {
            // A database several policies go to is reported once.
            if !actions.iter().any(|a| a.name == action.name) {
                actions.push(action);
            }
        }
    }
    Ok(SchemaReport { command: "schema", dry_run: plan.dry_run(), tables: actions, notes: Vec::new(), elapsed_ms: started.elapsed().as_millis() as u64 })
}

/// One source database's policies (only the URL's `rp=` when it names one,
/// as `--rp` does) created in one target database, under the target URL's
/// policy name when it names one (`--target-rp`).
async fn schema_of_pair(plan: &Plan, src: &crate::connector::endpoint::HttpUrl, tgt: &crate::connector::endpoint::HttpUrl, several: bool) -> Result<Vec<TableAction>, EngineError> {
    let source = InfluxStore::open(src, Access::Read).await.map_err(|e| e.on(Side::Source))?;
    let policies: Vec<_> = source
        .retention_policies()
        .await
        .map_err(|e| e.on(Side::Source))?
        .into_iter()
        .filter(|p| src.retention_policy.as_ref().is_none_or(|only| *only == p.name))
        .collect();
    // The database itself: its policy may be what is to be created.
    let tgt_db = tgt.with_database(&tgt.database, None);
    let existing = match InfluxStore::open(&tgt_db, Access::Read).await {
        Ok(t) => Some(t),
        Err(StoreError::Missing(_)) => None,
        Err(e) => return Err(e.on(Side::Target).into()),
    };
    let mut actions = Vec::new();
    // The database and policies are written through the guard, as rows are.
    let guard = plan.mode.write_guard();
    let verb = |done: &'static str| if guard.dry_run() { "would create" } else { done };
    let database = format!("database {}", tgt.database);
    let target = match existing {
        Some(t) => {
            actions.push(TableAction { name: database, action: "exists", statements: Vec::new() });
            Some(t)
        }
        None => {
            let (statement, created) = create_database(&guard, &tgt_db).await?;
            actions.push(TableAction { name: database, action: verb("created"), statements: vec![statement] });
            // A dry run stops here.
            if created { Some(InfluxStore::open(&tgt_db, Access::Read).await.map_err(|e| e.on(Side::Target))?) } else { None }
        }
    };
    let have: Vec<String> = match &target {
        Some(t) => t.retention_policies().await.map_err(|e| e.on(Side::Target))?.into_iter().map(|p| p.name).collect(),
        // CREATE DATABASE makes `autogen` itself.
        None => vec!["autogen".to_string()],
    };
    for rp in policies {
        let target_name = match (&src.retention_policy, &tgt.retention_policy) {
            (Some(_), Some(renamed)) => renamed.clone(),
            _ => rp.name.clone(),
        };
        let name = if several { format!("retention policy {}.{target_name}", tgt.database) } else { format!("retention policy {target_name}") };
        // Every new database has autogen: its settings are the server's.
        if have.contains(&target_name) {
            actions.push(TableAction { name, action: "exists", statements: Vec::new() });
            continue;
        }
        let statement = crate::connector::influxdb::RetentionPolicy { name: target_name, ..rp }.create_statement(&tgt.database).map_err(EngineError::Usage)?;
        if let Some(t) = &target {
            let context = format!("creating {name}");
            guard.define(&context, || async { t.command(&statement, &context).await.map_err(|e| e.on(Side::Target)) }).await?;
        }
        actions.push(TableAction { name, action: verb("created"), statements: vec![statement] });
    }
    Ok(actions)
}

/// `--format jsonl`: every differing point, on its own line, before the
/// sink it goes on to acts on it.
struct Streamed<'a> {
    dataset: &'a str,
    out: &'a Output,
    inner: &'a dyn sink::SeriesSink,
}

#[async_trait::async_trait]
impl sink::SeriesSink for Streamed<'_> {
    async fn apply(&self, m: &Measurement, outcome: merge::Outcome, findings: &mut diff::Findings) -> Result<(), EngineError> {
        for l in &outcome.listed {
            self.out.line(&serde_json::json!({"dataset": self.dataset, "kind": l.kind, "key": l.key()}).to_string())?;
        }
        self.inner.apply(m, outcome, findings).await
    }
}

