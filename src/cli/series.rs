//! Executes a plan over time series: opens both stores, picks and checks
//! the measurements, then compares (and in `sync`, repairs) or copies them
//! one by one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::connector::{self, Access, Endpoint};
use crate::engine::apply::WriteGuard;
use crate::engine::error::{EngineError, StoreError};
use crate::engine::progress::Progress;
use crate::connector::influxdb::{influxql, InfluxStore};
use crate::engine::report::{DatasetReport, Report, SchemaReport, TableAction};
use crate::engine::retry::RetryPolicy;
use crate::engine::state::{SeriesState, StateStore};
use crate::engine::series::copy::{self, CopyOptions};
use crate::engine::series::diff::{self, SeriesOptions};
use crate::engine::series::window::{rfc3339, show_duration};
use crate::engine::series::label::{Labeled, Role};
use crate::engine::series::lite;
use crate::engine::series::{Measurement, Precision, SeriesStore, Window};

use super::args::Order;
use super::plan::{Mode, Plan, SeriesPlan};

pub async fn execute(plan: &Plan, series: &SeriesPlan, state: Option<Arc<StateStore>>, progress: &dyn Progress) -> Result<Report, EngineError> {
    let started = Instant::now();
    let mut reports = Vec::new();
    let mut notes = Vec::new();
    let pairs = pairs(plan, series).await?;
    let several = pairs.len() > 1 || series.maps_databases();
    let mut picked_any = false;
    for pair in &pairs {
        picked_any |= compare_pair(plan, series, pair, several, state.clone(), progress, &mut reports, &mut notes).await?;
    }
    if !picked_any {
        return Err(EngineError::Usage(match &series.measurement {
            Some(r) => format!("--measurement '{}' matches no measurement of the databases picked in {}", r.as_str(), plan.source),
            None => format!("the databases picked in {} hold no measurement", plan.source),
        }));
    }
    Ok(Report::finished(plan.command_name(), plan.dry_run(), reports, notes, true, started))
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

/// The pairs a run compares. Two pairs never write into the same place:
/// a `--delete` of one would remove the other's points.
async fn pairs(plan: &Plan, series: &SeriesPlan) -> Result<Vec<Pair>, EngineError> {
    let plain = || Pair { source: plan.source.clone(), target: plan.target.clone(), label: None, prefix: String::new() };
    let Endpoint::Influx(src) = &plan.source else { return Ok(vec![plain()]) };
    if !series.maps_databases() {
        return Ok(vec![plain()]);
    }
    let databases = match &series.databases {
        None => vec![src.database.clone()],
        Some(r) => {
            let all = InfluxStore::server(src)?.databases().await?;
            let picked: Vec<String> = all.iter().filter(|d| *d != "_internal" && r.is_match(d)).cloned().collect();
            if picked.is_empty() {
                let has = if all.is_empty() { "it has none".to_string() } else { format!("it has: {}", all.join(", ")) };
                return Err(EngineError::Usage(format!("--database '{}' matches no database of {} ({has})", r.as_str(), plan.source)));
            }
            picked
        }
    };
    let mut out = Vec::new();
    for db in databases {
        let policies = match &series.rps {
            None => vec![src.retention_policy.clone()],
            Some(r) => {
                let all = InfluxStore::server(&src.with_database(&db, None))?.retention_policies().await?;
                all.into_iter().filter(|p| r.is_match(&p.name)).map(|p| Some(p.name)).collect()
            }
        };
        for rp in policies {
            let source = Endpoint::Influx(src.with_database(&db, rp.clone()));
            let target = match &plan.target {
                Endpoint::Influx(t) => {
                    let fill = |template: &str| -> Result<String, EngineError> {
                        if template.contains("{rp}") && rp.is_none() {
                            return Err(EngineError::Usage(format!(
                                "{{rp}} stands for the source's retention policy, and {} reads the database's default one: pick policies with --rp or name one with rp=",
                                plan.source
                            )));
                        }
                        Ok(template.replace("{db}", &db).replace("{rp}", rp.as_deref().unwrap_or_default()))
                    };
                    let name = match (&series.target_db, t.database.as_str()) {
                        (Some(template), _) => fill(template)?,
                        (None, "") => db.clone(),
                        (None, given) => given.to_string(),
                    };
                    // The target URL's rp= first, then the source's name.
                    let policy = match (&series.target_rp, &t.retention_policy, &series.rps) {
                        (Some(template), _, _) => Some(fill(template)?),
                        (None, Some(given), _) => Some(given.clone()),
                        (None, None, Some(_)) => rp.clone(),
                        (None, None, None) => None,
                    };
                    Endpoint::Influx(t.with_database(&name, policy))
                }
                other => other.clone(),
            };
            let prefix = match (&series.rps, &rp) {
                (Some(_), Some(rp)) => format!("{db}/{rp}/"),
                _ if series.databases.is_some() => format!("{db}/"),
                _ => String::new(),
            };
            let label = series.db_label.as_ref().map(|l| (l.clone(), db.clone()));
            out.push(Pair { source, target, label, prefix });
        }
    }
    if out.is_empty() {
        return Err(EngineError::Usage(format!("--rp '{}' matches no retention policy of the databases picked in {}", series.rps.as_ref().map(|r| r.as_str()).unwrap_or_default(), plan.source)));
    }
    // Where each pair writes: an InfluxDB database and policy, or (else)
    // the label value in the one target.
    let mut seen: Vec<(String, &Pair)> = Vec::new();
    for pair in &out {
        if let Some(other) = out.iter().find(|o| o.source == pair.target && plan.mode != Mode::Diff) {
            return Err(EngineError::Usage(format!(
                "{} would be written by this run and read by it as a source ({}); narrow --database so that no target is picked",
                pair.target, other.prefix.trim_end_matches('/')
            )));
        }
        if pair.source == pair.target && plan.mode != Mode::Diff {
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
    // Every target policy exists before the first pair writes anything:
    // the target's databases listed once, each database's policies once.
    let mut databases: Option<Vec<String>> = None;
    let mut policies: HashMap<String, Vec<String>> = HashMap::new();
    for pair in &out {
        let Endpoint::Influx(t) = &pair.target else { continue };
        let Some(rp) = &t.retention_policy else { continue };
        let server = InfluxStore::server(t)?;
        if databases.is_none() {
            databases = Some(server.databases().await?);
        }
        // A database created by the run gets autogen, and only that.
        let exists = if databases.as_ref().is_some_and(|d| d.contains(&t.database)) {
            if !policies.contains_key(&t.database) {
                let names = server.retention_policies().await?.into_iter().map(|p| p.name).collect();
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
    Ok(out)
}

/// Compares (and repairs or copies) one pair; false when the source
/// picked no measurement there.
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
    let opened_source = connector::open_series(&pair.source, Access::Read, &series.settings).await?;
    let target = match connector::open_series(&pair.target, Access::Read, &series.settings).await {
        Ok(t) => Some(t),
        Err(StoreError::Missing(_)) if plan.writes() => None,
        Err(StoreError::Missing(e)) if plan.dry_run() => {
            return Err(EngineError::Usage(format!("{e}; a sync or copy would create it, a dry run cannot compare with it")))
        }
        Err(e) => return Err(e.into()),
    };
    let picked = pick(opened_source.as_ref(), series, &pair.source, several).await?;
    if picked.is_empty() {
        notes.push(format!("{}: no measurement picked in {}; nothing compared there", pair.prefix.trim_end_matches('/'), pair.source));
        return Ok(false);
    }
    let opened_target = match target {
        Some(t) => t,
        None => connector::open_series(&pair.target, Access::Write, &series.settings).await?,
    };
    if plan.writes() {
        opened_target.warn_before_writes().await;
    }
    let labeled = pair.label.as_ref().map(|(l, v)| {
        (Labeled::new(opened_source.as_ref(), l, v, Role::Adding), Labeled::new(opened_target.as_ref(), l, v, Role::Selecting))
    });
    let (source, target): (&dyn SeriesStore, &dyn SeriesStore) = match &labeled {
        Some((s, t)) => (s, t),
        None => (opened_source.as_ref(), opened_target.as_ref()),
    };
    let target_url = &pair.target;
    let sums = source.capabilities().sums && target.capabilities().sums;
    source.use_sums(sums);
    target.use_sums(sums);
    let target_measurements = target.measurements(series.measurement.as_ref()).await?;
    let mut compared = Vec::new();
    for m in &picked {
        let existing = target_measurements.iter().find(|t| t.name == m.name);
        compared.push(as_target_keeps(m, existing, target, target_url, &pair.source, notes)?);
    }
    let precision = source.capabilities().precision.coarser(target.capabilities().precision);
    let span = span(series, source, target, precision, notes)?;
    for &step in series.zoom.steps().iter().chain([series.chunk].iter()) {
        if step % precision.nanos() != 0 {
            return Err(EngineError::Usage(format!(
                "{} is finer than the {} the comparison runs at (the coarser precision of the two stores)",
                show_duration(step),
                precision.name()
            )));
        }
    }
    let retry = RetryPolicy::default();
    let guard = plan.mode.write_guard();
    let compared: Vec<&Measurement> = compared.iter().filter(|m| !m.fields.is_empty() && !plan.profile.measurement_rule(&m.name).is_some_and(|r| r.skip)).collect();
    for &m in &compared {
        if let Some(condition) = plan.profile.measurement_rule(&m.name).and_then(|r| r.condition.as_deref()) {
            source.restrict(&m.name, condition)?;
            target.restrict(&m.name, condition)?;
        }
    }
    // A rule may keep a measurement from deletes; only --delete (or the
    // profile's delete = true) allows them.
    let guard_of = |m: &Measurement| guard.deletes_only_if(plan.profile.measurement_rule(&m.name).and_then(|r| r.delete) != Some(false));
    let options_of = |m: &Measurement| -> Result<SeriesOptions, EngineError> {
        let zoom = plan.profile.measurement_rule(&m.name).and_then(|r| r.zoom.clone()).unwrap_or_else(|| series.zoom.clone());
        let print: Option<diff::LinePrinter> = plan.print.then(|| std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout())) as diff::LinePrinter);
        Ok(SeriesOptions { zoom, span, exact: series.exact, max_rows: series.max_rows, retry, print, progressed: None })
    };
    if let (Some(limit), Mode::Sync { .. }) = (plan.max_delete, plan.mode) {
        // Every measurement is checked before any is written.
        for &m in &compared {
            let guard = guard_of(m);
            if guard.deletes() {
                let dry = guard.dry();
                let would = diff::compare(m, precision, source, target, &options_of(m)?, &dry, progress).await?.report;
                let dataset = format!("measurement {}{}", pair.prefix, m.name);
                crate::engine::apply::within_delete_limit(&dataset, would.extra, would.target_rows, "points", &target_url.to_string(), limit)?;
            }
        }
    }
    for m in compared {
        let guard = guard_of(m);
        tracing::info!(measurement = %m.name, "comparing");
        if let Mode::Copy { .. } = plan.mode {
            let options = CopyOptions { span, chunk: series.chunk, newest_first: series.order == Order::NewestFirst, max_rows: series.max_rows, retry };
            let copied = copy::copy(m, precision, source, target, &options, &guard, progress).await?;
            if copied.skipped > 0 {
                notes.push(format!("{}{}: {} of {} window(s) already complete in {} were skipped", pair.prefix, m.name, copied.skipped, copied.windows, target_url));
            }
            reports.push(named(copied.report, &pair.prefix));
            continue;
        }
        let mut options = options_of(m)?;
        let mut lite_newest = None;
        if plan.lite.is_some() {
            let newest = lite::newest_minute(target, m, span, retry).await?;
            let start = lite::lite_start(span, newest, series.lookback);
            notes.push(match newest {
                Some(w) => format!(
                    "{}{}: --lite compared from {} ({}'s newest point, in the minute from {}, minus the {} lookback)",
                    pair.prefix, m.name, rfc3339(start), target_url, rfc3339(w.start), show_duration(series.lookback)
                ),
                None => format!("{}{}: --lite found no point in {target_url}; the whole span was compared", pair.prefix, m.name),
            });
            options.span = Window::new(start, span.end);
            lite_newest = newest.map(|w| w.start);
        }
        // A sync keeps how far it got; one killed before resumes there.
        if let (Some(state), Mode::Sync { dry_run: false, .. }) = (&state, plan.mode) {
            let dataset = format!("{}{}", pair.prefix, m.name);
            if let Some(until) = state.series_until(&dataset).await?.filter(|u| *u > options.span.start) {
                notes.push(format!("{dataset}: run {} of the state store was resumed from {}, where it had compared and repaired everything before", state.run, rfc3339(until)));
                options.span = Window::new(until.min(options.span.end), options.span.end);
            }
            options.progressed = Some(Arc::new(SeriesState { store: state.clone(), dataset }));
        }
        let found = if options.span.is_empty() {
            diff::Findings { report: DatasetReport { name: m.name.clone(), ..Default::default() }, ..Default::default() }
        } else {
            diff::compare(m, precision, source, target, &options, &guard, progress).await?
        };
        if found.kept > 0 && !target.capabilities().can_delete && plan.mode != Mode::Diff {
            notes.push(format!(
                "{}{}: {} point(s) exist only in {} and are not removable: it deletes whole series, never a time range",
                pair.prefix, m.name, found.kept, target_url
            ));
        }
        if found.collapsed > 0 {
            notes.push(format!(
                "{}{}: {} source sample(s) share an instant with another at {} and were compared as one",
                pair.prefix,
                m.name,
                found.collapsed,
                precision.name()
            ));
        }
        let mut found = found;
        if lite_newest.is_some() && plan.writes() && found.report.inserted + found.report.updated > 0 {
            // What the repair wrote moved TARGET's newest point (the watch
            // daemon's lag is read from it).
            target.flush().await?;
            lite_newest = lite::newest_minute(target, m, span, retry).await?.map(|w| w.start).or(lite_newest);
        }
        found.report.target_newest = lite_newest;
        reports.push(named(found.report, &pair.prefix));
    }
    if plan.writes() {
        target.flush().await?;
    }
    Ok(true)
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
    Ok(Measurement { name: m.name.clone(), fields })
}

/// `[--start, --end)`, by default what both stores can hold, aligned to
/// the comparison's precision (start down, end up) so both sides cut it
/// at the same instants.
fn span(series: &SeriesPlan, source: &dyn SeriesStore, target: &dyn SeriesStore, precision: Precision, notes: &mut Vec<String>) -> Result<Window, EngineError> {
    let (s, t) = (source.capabilities(), target.capabilities());
    let earliest = s.earliest.max(t.earliest);
    let latest = s.latest.min(t.latest);
    let mut start = series.start.unwrap_or(earliest);
    if start < earliest {
        notes.push(format!("the comparison starts at {}, the earliest instant both stores answer for", rfc3339(earliest)));
        start = earliest;
    }
    let end = series.end.unwrap_or(latest).min(latest);
    let start = precision.truncate(start);
    let end = precision.truncate(end.saturating_add(precision.nanos() - 1));
    if start >= end {
        return Err(EngineError::Usage(format!("the time span {} to {} is empty", rfc3339(start), rfc3339(end))));
    }
    Ok(Window::new(start, end))
}

/// `rangesync schema` between InfluxDB servers: creates the target
/// database and the source's retention policies (duration, replication,
/// shard duration, default) the target lacks. Existing ones are left alone.
pub async fn schema(plan: &Plan) -> Result<SchemaReport, EngineError> {
    let started = Instant::now();
    let (Endpoint::Influx(src), Endpoint::Influx(tgt)) = (&plan.source, &plan.target) else {
        return Err(EngineError::Usage(format!(
            "schema creates InfluxDB databases and retention policies between InfluxDB servers; {} has none (VictoriaMetrics keeps every metric in one namespace, a dump directory is made by sync)",
            plan.target
        )));
    };
    let source = InfluxStore::open(src, Access::Read).await?;
    let policies = source.retention_policies().await?;
    let existing = match InfluxStore::open(tgt, Access::Read).await {
        Ok(t) => Some(t),
        Err(StoreError::Missing(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let mut actions = Vec::new();
    // The database and policies are written through the guard, as rows are.
    let guard = WriteGuard::new(plan.dry_run(), false);
    let verb = |done: &'static str| if guard.dry_run() { "would create" } else { done };
    let target = match existing {
        Some(t) => {
            actions.push(TableAction { name: format!("database {}", tgt.database), action: "exists", statements: Vec::new() });
            Some(t)
        }
        None => {
            let statement = format!("CREATE DATABASE {}", influxql::ident(&tgt.database));
            let server = InfluxStore::server(tgt)?;
            let created = guard.define("creating the database", || server.command(&statement, "creating the database")).await?;
            actions.push(TableAction { name: format!("database {}", tgt.database), action: verb("created"), statements: vec![statement] });
            // A dry run stops here.
            if created { Some(InfluxStore::open(tgt, Access::Read).await?) } else { None }
        }
    };
    let have: Vec<String> = match &target {
        Some(t) => t.retention_policies().await?.into_iter().map(|p| p.name).collect(),
        // CREATE DATABASE makes `autogen` itself.
        None => vec!["autogen".to_string()],
    };
    for rp in policies {
        let name = format!("retention policy {}", rp.name);
        // Every new database has autogen: its settings are the server's.
        if have.contains(&rp.name) {
            actions.push(TableAction { name, action: "exists", statements: Vec::new() });
            continue;
        }
        let statement = rp.create_statement(&tgt.database).map_err(EngineError::Usage)?;
        if let Some(t) = &target {
            let context = format!("creating {name}");
            guard.define(&context, || t.command(&statement, &context)).await?;
        }
        actions.push(TableAction { name, action: verb("created"), statements: vec![statement] });
    }
    Ok(SchemaReport { command: "schema", dry_run: plan.dry_run(), tables: actions, elapsed_ms: started.elapsed().as_millis() as u64 })
}
