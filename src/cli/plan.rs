//! The validated plan of a run: what raw flags mean once checked.

use crate::connector::{Endpoint, SeriesSettings};
use crate::engine::error::{first_line, EngineError};
use crate::engine::fingerprint::Checksum;
use crate::engine::series::window::{parse_duration, parse_instant, DAY, HOUR};
use crate::engine::series::TimeZoom;
use crate::engine::zoom::Zoom;

use super::args::{ChecksumArg, CompareArgs, CopyArgs, Format, Order, SchemaArgs, SeriesArgs, SyncArgs, Verify, DEFAULT_MAX_BODY, DEFAULT_MAX_ROWS, DEFAULT_SEPARATOR};
use super::output::Output;
use super::profile::{Located, MeasurementRule, Profile, SeriesKeys, TableRule};

/// `--lookback` when neither the flag nor the profile gives it: an hour.
pub const DEFAULT_LOOKBACK: i64 = HOUR;

/// Passwords may come from these instead of the URLs (which would show
/// them to anyone listing processes).
pub const SOURCE_PASSWORD_VAR: &str = "RANGESYNC_SOURCE_PASSWORD";
pub const TARGET_PASSWORD_VAR: &str = "RANGESYNC_TARGET_PASSWORD";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Diff,
    Sync { delete: bool, dry_run: bool, create_tables: bool },
    /// Create missing tables only.
    Schema { dry_run: bool },
    /// Bulk fill of time series, without diffing.
    Copy { dry_run: bool },
}

impl Mode {
    /// The writes this mode allows: none for diff, deletes only for sync
    /// --delete, nothing at all in a dry run.
    pub fn write_guard(self) -> crate::engine::apply::WriteGuard {
        use crate::engine::apply::WriteGuard;
        match self {
            Mode::Sync { delete, dry_run, .. } => WriteGuard::new(dry_run, delete),
            Mode::Copy { dry_run } => WriteGuard::new(dry_run, false),
            // Schema writes definitions only (through WriteGuard::define).
            Mode::Schema { dry_run } => WriteGuard::new(dry_run, false),
            Mode::Diff => WriteGuard::read_only(),
        }
    }
}

/// What a run over time series needs beyond the endpoints.
#[derive(Clone, Debug)]
pub struct SeriesPlan {
    /// `--measurement`: only names it matches.
    pub measurement: Option<regex::Regex>,
    /// `--start`/`--end` as given (with where): read at each run by
    /// [`SeriesPlan::instants`], so `now-7d` moves with the clock.
    pub start: Option<Located>,
    pub end: Option<Located>,
    pub zoom: TimeZoom,
    /// `--verify`: counts, counts and sums, or every sample.
    pub verify: Verify,
    pub max_rows: u64,
    pub settings: SeriesSettings,
    /// `copy`: the window copied at once, and which end goes first.
    pub chunk: i64,
    pub order: Order,
    /// `--database`, `--rp`: InfluxDB source databases and policies picked.
    pub databases: Option<regex::Regex>,
    pub rps: Option<regex::Regex>,
    /// `--target-db`, `--target-rp`: names on an InfluxDB target, `{db}`
    /// and `{rp}` standing for the source's.
    pub target_db: Option<String>,
    pub target_rp: Option<String>,
    /// `--db-label`: the label naming a series' source database.
    pub db_label: Option<String>,
    /// `--lite`: compared from TARGET's newest point minus this.
    pub lookback: i64,
    /// The profile's `[[measurements]]`, first match applies.
    pub rules: Vec<MeasurementRule>,
}

impl SeriesPlan {
    /// Whether the run is more than the one pair of the two URLs.
    pub fn maps_databases(&self) -> bool {
        self.databases.is_some() || self.rps.is_some() || self.target_db.is_some() || self.target_rp.is_some() || self.db_label.is_some()
    }

    pub fn rule(&self, measurement: &str) -> Option<&MeasurementRule> {
        self.rules.iter().find(|r| r.names.matches(measurement))
    }

    /// The start and end as instants now, the first before the second.
    pub fn instants(&self) -> Result<(Option<i64>, Option<i64>), EngineError> {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        let instant = |v: &Option<Located>| -> Result<Option<i64>, EngineError> { v.as_ref().map(|l| parse_instant(&l.value, now).map_err(|e| l.error(&e))).transpose() };
        let (start, end) = (instant(&self.start)?, instant(&self.end)?);
        if let (Some(s), Some(e), Some(sl), Some(el)) = (start, end, &self.start, &self.end) {
            if s >= e {
                return Err(EngineError::Usage(format!("the start ({}, {}) must come before the end ({}, {})", sl.value, sl.at, el.value, el.at)));
            }
        }
        Ok((start, end))
    }
}

/// What a run over SQL tables needs beyond the endpoints.
#[derive(Clone, Debug)]
pub struct TablesPlan {
    /// Tables named with `--table`; empty = every table of the source.
    pub names: Vec<String>,
    pub zoom: Zoom,
    pub batch_size: usize,
    /// Rows per page and transaction when a range TARGET lacks is copied.
    pub fill_batch: usize,
    /// `--checksum`: how tables are hashed between stores of one engine.
    pub checksum: Checksum,
    /// `--jobs`: reads each side of a table runs at once.
    pub jobs: usize,
    /// `--lite-column` (or the profile's): for tables without their own.
    pub lite_column: Option<String>,
    /// The profile's `[[tables]]`, first match applies.
    pub rules: Vec<TableRule>,
}

impl TablesPlan {
    pub fn rule(&self, table: &str) -> Option<&TableRule> {
        self.rules.iter().find(|r| r.names.matches(table))
    }
}

/// The two families a run can be of; each holds what only it needs.
#[derive(Clone, Debug)]
pub enum Family {
    Tables(TablesPlan),
    Series(SeriesPlan),
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub mode: Mode,
    pub source: Endpoint,
    pub target: Endpoint,
    pub format: Format,
    pub family: Family,
    /// `--until-consistent`: the most passes of compare-and-repair.
    pub passes: u32,
    /// `--max-delete`: the largest share (percent) of a dataset's rows on
    /// TARGET a run may delete; `None` with `--force` or when not given.
    pub max_delete: Option<f64>,
    /// The state store's file, when the run keeps one.
    pub state: Option<std::path::PathBuf>,
    /// `--lite`: the recent part only (tables: from a column's
    /// watermark; series: TARGET's newest point minus the lookback).
    pub lite: bool,
    /// `--dry-run --print`: the statements a sync would send, on stdout.
    pub print: bool,
    /// `copy --schema`: InfluxDB databases and policies created first.
    pub schema_first: bool,
    /// Where the report goes: stdout or `--output FILE`.
    pub output: Output,
}

/// The environment variable giving `--checksum` where neither the command
/// line nor the profile does (the test suite runs once with `exact`).
pub const CHECKSUM_VAR: &str = "RANGESYNC_CHECKSUM";

/// `--checksum`, else the profile's, else [`CHECKSUM_VAR`], else fast.
fn checksum(flag: Option<ChecksumArg>, profile: Option<Checksum>) -> Result<Checksum, EngineError> {
    if let Some(flag) = flag {
        return Ok(match flag {
            ChecksumArg::Fast => Checksum::Fast,
            ChecksumArg::Exact => Checksum::Exact,
        });
    }
    if let Some(p) = profile {
        return Ok(p);
    }
    match std::env::var(CHECKSUM_VAR).ok().as_deref().map(str::trim) {
        None | Some("") | Some("fast") => Ok(Checksum::Fast),
        Some("exact") => Ok(Checksum::Exact),
        Some(other) => Err(EngineError::Usage(format!("{CHECKSUM_VAR}='{other}' is not a checksum mode (fast or exact)"))),
    }
}

impl Plan {
    pub fn diff(args: CompareArgs) -> Result<Plan, EngineError> {
        Plan::build(args, Mode::Diff, None)
    }

    pub fn sync(args: SyncArgs) -> Result<Plan, EngineError> {
        let mode = Mode::Sync { delete: args.delete, dry_run: args.dry_run, create_tables: args.create_tables };
        let mut plan = Plan::build(args.compare, mode, args.batch_size.map(|n| n as usize))?;
        if args.until_consistent {
            plan.passes = args.max_passes;
        }
        // The profile's max_delete is in the plan already.
        let max_delete = args.max_delete.or(plan.max_delete);
        if max_delete.is_some() && !matches!(plan.mode, Mode::Sync { delete: true, .. }) {
            return Err(EngineError::Usage("--max-delete limits deletes, which only --delete (or delete = true in the profile) allows".into()));
        }
        plan.max_delete = if args.force { None } else { max_delete };
        if args.print {
            if plan.format != Format::Text {
                return Err(EngineError::Usage("--print writes the statements on stdout, where --format json would write the report; use one or the other".into()));
            }
            plan.print = true;
        }
        Ok(plan)
    }

    pub fn schema(args: SchemaArgs) -> Result<Plan, EngineError> {
        if args.format == Format::Jsonl {
            return Err(EngineError::Usage("--format jsonl lists the keys diff and sync find differing; schema reports what it creates (--format json)".into()));
        }
        let series = SeriesArgs { database: args.database, rp: args.rp, target_db: args.target_db, target_rp: args.target_rp, ..SeriesArgs::default() };
        let compare = CompareArgs { tables: args.tables, output: args.output, ..CompareArgs::endpoints(args.source, args.target, series, args.format) };
        Plan::build(compare, Mode::Schema { dry_run: args.dry_run }, None)
    }

    pub fn copy(args: CopyArgs) -> Result<Plan, EngineError> {
        if args.format == Format::Jsonl {
            return Err(EngineError::Usage("--format jsonl lists the keys diff and sync find differing; copy reports what it copied (--format json)".into()));
        }
        let chunk_text = args.chunk.clone().unwrap_or_else(|| "1h".into());
        let chunk = parse_duration(&chunk_text).map_err(|e| EngineError::Usage(format!("--chunk: {e}")))?;
        if chunk <= 0 || (DAY % chunk != 0 && chunk % DAY != 0) {
            return Err(EngineError::Usage(format!("--chunk {chunk_text} must divide a day (1h, 6h, 30m) or be whole days (2d), so windows line up with days")));
        }
        let compare = CompareArgs { tables: args.tables.clone(), output: args.output, ..CompareArgs::endpoints(args.source, args.target, args.series, args.format) };
        let mut plan = Plan::build(compare, Mode::Copy { dry_run: args.dry_run }, args.batch_size.map(|n| n as usize))?;
        match &mut plan.family {
            Family::Series(series) => {
                if !args.tables.is_empty() || args.batch_size.is_some() {
                    return Err(EngineError::Usage("--table and --batch-size are for copying tables; time series take --measurement and --chunk".into()));
                }
                series.chunk = chunk;
                series.order = args.order.unwrap_or(Order::NewestFirst);
                plan.schema_first = args.schema;
            }
            Family::Tables(_) => {
                if args.chunk.is_some() || args.order.is_some() {
                    return Err(EngineError::Usage("--chunk and --order are for copying time series; tables are copied in key order, --batch-size rows at a time".into()));
                }
            }
        }
        Ok(plan)
    }

    fn build(args: CompareArgs, mut mode: Mode, batch_size: Option<usize>) -> Result<Plan, EngineError> {
        let profile = match &args.profile {
            Some(path) => Profile::load(path)?,
            None => Profile::default(),
        };
        let (source, target) = endpoints(&args, &profile)?;
        if let Mode::Sync { delete, .. } = &mut mode {
            *delete |= profile.delete == Some(true);
        }
        let family = match (source.is_time_series(), target.is_time_series()) {
            (true, true) => {
                let series = series_plan(&args, profile_of_series(&args, &profile)?)?;
                check_database_flags(&series, &source, &target)?;
                check_influx_delete(mode, &target, &series)?;
                Family::Series(series)
            }
            (false, false) => Family::Tables(tables_plan(&args, &profile, batch_size)?),
            _ => {
                return Err(EngineError::Usage(format!(
                    "{source} and {target} are of different families (tables and time series); rangesync pairs tables with tables and time series with time series"
                )))
            }
        };
        // One InfluxDB server to itself is fine when --target-db (or the
        // profile's target_db) renames.
        let renamed = matches!(&family, Family::Series(s) if s.target_db.is_some() || s.target_rp.is_some());
        if !matches!(mode, Mode::Diff) && source.same_store(&target) && !renamed {
            return Err(EngineError::Usage(format!("SOURCE and TARGET are the same store ({source}); nothing to do")));
        }
        let state = args.state.clone().or_else(|| {
            let profile_path = args.profile.as_ref()?;
            Some(match &profile.state {
                // Relative to the profile, as its default is.
                Some(p) => profile_path.parent().unwrap_or(std::path::Path::new("")).join(p),
                None => profile_path.with_extension("state.sqlite"),
            })
        });
        let max_delete = if matches!(mode, Mode::Sync { .. }) { profile.max_delete } else { None };
        // Created last: a flag refused above leaves no file behind.
        let output = match &args.output {
            Some(path) => Output::create(path)?,
            None => Output::stdout(),
        };
        Ok(Plan { mode, source, target, format: args.format, family, passes: 1, max_delete, state, lite: args.lite, print: false, schema_first: false, output })
    }

    /// The time-series part, when the run is over time series.
    pub fn series(&self) -> Option<&SeriesPlan> {
        match &self.family {
            Family::Series(s) => Some(s),
            Family::Tables(_) => None,
        }
    }

    pub fn command_name(&self) -> &'static str {
        match self.mode {
            Mode::Diff => "diff",
            Mode::Sync { .. } => "sync",
            Mode::Schema { .. } => "schema",
            Mode::Copy { .. } => "copy",
        }
    }

    pub fn dry_run(&self) -> bool {
        matches!(self.mode, Mode::Sync { dry_run: true, .. } | Mode::Schema { dry_run: true } | Mode::Copy { dry_run: true })
    }

    /// Whether the run writes to TARGET at all.
    pub fn writes(&self) -> bool {
        matches!(self.mode, Mode::Sync { dry_run: false, .. } | Mode::Schema { dry_run: false } | Mode::Copy { dry_run: false })
    }

    /// Whether tables missing on TARGET are to be created.
    pub fn creates_tables(&self) -> bool {
        matches!(self.mode, Mode::Sync { create_tables: true, .. } | Mode::Schema { .. } | Mode::Copy { .. })
    }
}

/// SOURCE and TARGET from the command line, else from the profile.
fn endpoints(args: &CompareArgs, profile: &Profile) -> Result<(Endpoint, Endpoint), EngineError> {
    let named = |side: &str, key: &str| {
        let file = args.profile.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        EngineError::Usage(format!("no {side}: give it on the command line or as {key} = \"URL\" in profile {file}"))
    };
    let source_url = args.source.clone().or_else(|| profile.source.clone()).ok_or_else(|| named("SOURCE", "source"))?;
    let target_url = args.target.clone().or_else(|| profile.target.clone()).ok_or_else(|| named("TARGET", "target"))?;
    let source = Endpoint::parse(&source_url)
        .map_err(|e| EngineError::Usage(format!("SOURCE: {e}")))?
        .with_password_from(SOURCE_PASSWORD_VAR)
        .with_default_concurrency(profile.series.concurrency);
    let target = Endpoint::parse(&target_url)
        .map_err(|e| EngineError::Usage(format!("TARGET: {e}")))?
        .with_password_from(TARGET_PASSWORD_VAR)
        .with_default_concurrency(profile.series.concurrency);
    Ok((source, target))
}

/// InfluxDB's DELETE knows no retention policy: a `--delete` into one
/// policy would delete from all of them.
fn check_influx_delete(mode: Mode, target: &Endpoint, series: &SeriesPlan) -> Result<(), EngineError> {
    let (Mode::Sync { delete: true, .. }, Endpoint::Influx(u)) = (mode, target) else { return Ok(()) };
    if let Some(rp) = &u.retention_policy {
        return Err(EngineError::Usage(format!(
            "--delete with rp={rp} in TARGET would delete from every retention policy of the database (InfluxDB's DELETE knows no policy); drop rp= or --delete"
        )));
    }
    if series.rps.is_some() || series.target_rp.is_some() {
        return Err(EngineError::Usage(
            "--delete with --rp or --target-rp would delete from every retention policy of the target database (InfluxDB's DELETE knows no policy); drop one".into(),
        ));
    }
    Ok(())
}

/// The zoom given (`--zoom`, else the profile's, its errors naming the
/// file and line).
fn zoom_given(args: &CompareArgs, profile: &Profile) -> Option<Located> {
    match &args.zoom {
        Some(z) => Some(Located { value: z.clone(), at: "--zoom".into() }),
        None => profile.zoom.clone(),
    }
}

/// The SQL-table part of a plan: table names, zoom in rows, hashing,
/// readers, `--lite`'s default column and the profile's `[[tables]]`.
fn tables_plan(args: &CompareArgs, profile: &Profile, batch_size: Option<usize>) -> Result<TablesPlan, EngineError> {
    series_flags_unused(args, profile)?;
    if let Some(at) = &profile.measurements_at {
        return Err(EngineError::Usage(format!("{at}: [[measurements]] rules are for time series; SQL tables take [[tables]]")));
    }
    let mut names = Vec::new();
    for t in &args.tables {
        if t.trim().is_empty() {
            return Err(EngineError::Usage("--table needs a table name".into()));
        }
        if !names.contains(t) {
            names.push(t.clone());
        }
    }
    let zoom = match zoom_given(args, profile) {
        Some(z) => z.value.parse::<Zoom>().map_err(|e| z.error(&e))?,
        None => Zoom::default(),
    };
    Ok(TablesPlan {
        names,
        zoom,
        batch_size: batch_size.unwrap_or(crate::engine::diff::DEFAULT_DIFF_BATCH),
        fill_batch: batch_size.unwrap_or(crate::engine::apply::FILL_PAGE),
        checksum: checksum(args.checksum, profile.checksum)?,
        jobs: args.jobs.or(profile.jobs).unwrap_or(1) as usize,
        lite_column: args.lite_column.clone().or_else(|| profile.lite_column.clone()),
        rules: profile.tables.clone(),
    })
}

/// What a time-series plan takes from the profile, once the keys only
/// tables have are refused.
struct SeriesProfile {
    zoom: Option<Located>,
    lookback: i64,
    rules: Vec<MeasurementRule>,
    keys: SeriesKeys,
}

fn profile_of_series(args: &CompareArgs, profile: &Profile) -> Result<SeriesProfile, EngineError> {
    if let Some(at) = &profile.tables_at {
        return Err(EngineError::Usage(format!("{at}: [[tables]] rules are for SQL tables; time series take [[measurements]]")));
    }
    if !args.tables.is_empty() {
        return Err(EngineError::Usage("--table names SQL tables; pick time series with --measurement REGEX".into()));
    }
    if args.lite_column.is_some() {
        return Err(EngineError::Usage("--lite-column names a SQL column; time series are compared by time (--lookback)".into()));
    }
    if args.checksum.is_some() || profile.checksum.is_some() {
        return Err(EngineError::Usage("--checksum (checksum in a profile) applies to SQL tables; time series are compared by counts (--verify)".into()));
    }
    if args.jobs.is_some() || profile.jobs.is_some() {
        return Err(EngineError::Usage("--jobs (jobs in a profile) applies to SQL tables; time series are read one window at a time".into()));
    }
    let lookback = match &args.lookback {
        Some(l) => parse_duration(l).map_err(|e| EngineError::Usage(format!("--lookback: {e}")))?,
        None => profile.lookback.unwrap_or(DEFAULT_LOOKBACK),
    };
    Ok(SeriesProfile { zoom: zoom_given(args, profile), lookback, rules: profile.measurements.clone(), keys: profile.series.clone() })
}

/// The time-series settings given: each flag, else the profile's key,
/// else the default; text values with where they were given (a flag, or
/// the profile's file, line and key), for their errors.
struct SeriesGiven {
    measurement: Option<Located>,
    start: Option<Located>,
    end: Option<Located>,
    separator: Located,
    database: Option<Located>,
    rp: Option<Located>,
    target_db: Option<Located>,
    target_rp: Option<Located>,
    db_label: Option<Located>,
    verify: Verify,
    max_rows: u64,
    max_body: u64,
}

fn series_given(args: &CompareArgs, keys: &SeriesKeys) -> SeriesGiven {
    let a = &args.series;
    let pick = |flag: &str, v: &Option<String>, key: &Option<Located>| v.as_ref().map(|v| Located { value: v.clone(), at: flag.to_string() }).or_else(|| key.clone());
    SeriesGiven {
        measurement: pick("--measurement", &a.measurement, &keys.measurement),
        start: pick("--start", &a.start, &keys.start),
        end: pick("--end", &a.end, &keys.end),
        separator: pick("--separator", &a.separator, &keys.separator).unwrap_or_else(|| Located { value: DEFAULT_SEPARATOR.into(), at: "--separator".into() }),
        database: pick("--database", &a.database, &keys.database),
        rp: pick("--rp", &a.rp, &keys.rp),
        target_db: pick("--target-db", &a.target_db, &keys.target_db),
        target_rp: pick("--target-rp", &a.target_rp, &keys.target_rp),
        db_label: pick("--db-label", &a.db_label, &keys.db_label),
        verify: args.verify.or(keys.verify).unwrap_or(Verify::Sum),
        max_rows: a.max_rows.or(keys.max_rows).unwrap_or(DEFAULT_MAX_ROWS),
        max_body: a.max_body.or(keys.max_body).unwrap_or(DEFAULT_MAX_BODY),
    }
}

fn series_plan(args: &CompareArgs, from_profile: SeriesProfile) -> Result<SeriesPlan, EngineError> {
    let g = series_given(args, &from_profile.keys);
    let pattern = |v: &Option<Located>| -> Result<Option<regex::Regex>, EngineError> {
        v.as_ref().map(|r| regex::Regex::new(&r.value).map_err(|e| r.error(&format!("'{}' is not a regular expression: {}", r.value, regex_reason(&e))))).transpose()
    };
    check_series_names(&g)?;
    let zoom = match from_profile.zoom {
        Some(z) => z.value.parse::<TimeZoom>().map_err(|e| z.error(&e))?,
        None => TimeZoom::default(),
    };
    let plan = SeriesPlan {
        measurement: pattern(&g.measurement)?,
        start: g.start,
        end: g.end,
        zoom,
        verify: g.verify,
        max_rows: g.max_rows,
        settings: SeriesSettings { separator: g.separator.value.clone(), max_body: g.max_body as usize },
        chunk: HOUR,
        order: Order::NewestFirst,
        databases: pattern(&g.database)?,
        rps: pattern(&g.rp)?,
        target_db: g.target_db.map(|l| l.value),
        target_rp: g.target_rp.map(|l| l.value),
        db_label: g.db_label.map(|l| l.value),
        lookback: from_profile.lookback,
        rules: from_profile.rules,
    };
    // Checked now, read again at each run.
    plan.instants()?;
    Ok(plan)
}

/// The database label is a label name; target names and the separator
/// are not empty.
fn check_series_names(g: &SeriesGiven) -> Result<(), EngineError> {
    if let Some(l) = &g.db_label {
        let v = &l.value;
        let ok = v.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(l.error(&format!("'{v}' is not a label name (letters, digits and _, not starting with a digit)")));
        }
        if v == "__name__" {
            return Err(l.error("cannot be __name__, which holds the metric's name"));
        }
    }
    for name in [&g.target_db, &g.target_rp].into_iter().flatten() {
        if name.value.trim().is_empty() {
            return Err(name.error("needs a name"));
        }
    }
    if g.separator.value.is_empty() {
        return Err(g.separator.error("needs at least one character"));
    }
    Ok(())
}


/// The line of a regex error that says what is wrong ("unclosed character
/// class"), not its first line ("regex parse error:").
pub(super) fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines().rev().find_map(|l| l.trim().strip_prefix("error: ")).map(str::to_string).unwrap_or_else(|| first_line(&text))
}

/// Database mapping flags need InfluxDB where they say so, and an
/// InfluxDB URL without a database needs them.
fn check_database_flags(sp: &SeriesPlan, source: &Endpoint, target: &Endpoint) -> Result<(), EngineError> {
    let usage = |m: String| Err(EngineError::Usage(m));
    match source {
        Endpoint::Influx(u) if u.database.is_empty() && sp.databases.is_none() => {
            return usage(format!("{source} names no database: add /DATABASE after the host, or pick databases with --database REGEX"))
        }
        Endpoint::Influx(_) => {}
        _ if sp.maps_databases() => {
            return usage(format!("--database, --rp, --target-db, --target-rp and --db-label map InfluxDB databases and policies; {source} has none"))
        }
        _ => {}
    }
    match target {
        Endpoint::Influx(u) if u.database.is_empty() && sp.target_db.is_none() && sp.databases.is_none() => {
            usage(format!("{target} names no database: add /DATABASE after the host, or name it with --target-db"))
        }
        Endpoint::Influx(_) => Ok(()),
        _ if sp.target_db.is_some() || sp.target_rp.is_some() => {
            usage(format!("--target-db and --target-rp name InfluxDB databases and policies; {target} has none (--db-label keeps databases apart there)"))
        }
        _ => Ok(()),
    }
}

/// Time-series flags (or profile keys) given with SQL endpoints would be
/// silently ignored: refuse them instead.
fn series_flags_unused(args: &CompareArgs, profile: &Profile) -> Result<(), EngineError> {
    let a = &args.series;
    let given = [
        ("--measurement", a.measurement.is_some()),
        ("--start", a.start.is_some()),
        ("--end", a.end.is_some()),
        ("--verify", args.verify.is_some()),
        ("--database", a.database.is_some()),
        ("--rp", a.rp.is_some()),
        ("--target-db", a.target_db.is_some()),
        ("--target-rp", a.target_rp.is_some()),
        ("--db-label", a.db_label.is_some()),
        ("--separator", a.separator.is_some()),
        ("--max-rows", a.max_rows.is_some()),
        ("--max-body", a.max_body.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
        return Err(EngineError::Usage(format!("{flag} applies to time series; SQL tables are picked with --table and always compared exactly")));
    }
    match &profile.series.first_at {
        Some(at) => Err(EngineError::Usage(format!("{at}: the key applies to time series; SQL tables are picked with [[tables]] rules and always compared exactly"))),
        None => Ok(()),
    }
}
