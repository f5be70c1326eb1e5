//! The validated plan of a run: what raw flags mean once checked.

use crate::connector::{Endpoint, SeriesSettings};
use crate::engine::error::{first_line, EngineError};
use crate::engine::series::window::{parse_duration, parse_instant, DEFAULT_TIME_ZOOM};
use crate::engine::series::TimeZoom;
use crate::engine::zoom::Zoom;

use super::args::{ChecksumArg, CompareArgs, CopyArgs, Format, Order, SchemaArgs, SeriesArgs, SyncArgs, Verify};
use crate::engine::fingerprint::Checksum;
use super::profile::{Located, Profile};

/// `--lookback` when neither the flag nor the profile gives it: an hour.
const DEFAULT_LOOKBACK: i64 = 3_600_000_000_000;

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
            Mode::Diff | Mode::Schema { .. } => WriteGuard::read_only(),
        }
    }
}

/// What a run over time series needs beyond the endpoints.
#[derive(Debug)]
pub struct SeriesPlan {
    /// `--measurement`: only names it matches.
    pub measurement: Option<regex::Regex>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub zoom: TimeZoom,
    pub exact: bool,
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
}

impl SeriesPlan {
    /// Whether the run is more than the one pair of the two URLs.
    pub fn maps_databases(&self) -> bool {
        self.databases.is_some() || self.rps.is_some() || self.target_db.is_some() || self.target_rp.is_some() || self.db_label.is_some()
    }
}

#[derive(Debug)]
pub struct Plan {
    pub mode: Mode,
    pub source: Endpoint,
    pub target: Endpoint,
    /// Tables named with `--table`; empty = every table of the source.
    pub tables: Vec<String>,
    pub zoom: Zoom,
    pub format: Format,
    pub batch_size: usize,
    /// Rows per page and transaction when a range TARGET lacks is copied.
    pub fill_batch: usize,
    /// Set when both endpoints hold time series.
    pub series: Option<SeriesPlan>,
    /// Rules per table and measurement (an empty profile without --profile).
    pub profile: Profile,
    /// `--until-consistent`: the most passes of compare-and-repair.
    pub passes: u32,
    /// `--max-delete`: the largest share (percent) of a dataset's rows on
    /// TARGET a run may delete; `None` with `--force` or when not given.
    pub max_delete: Option<f64>,
    /// The state store's file, when the run keeps one.
    pub state: Option<std::path::PathBuf>,
    /// `--lite`, with the column for tables without their own.
    pub lite: Option<Option<String>>,
    /// `--dry-run --print`: the statements a sync would send, on stdout.
    pub print: bool,
    /// `--checksum`: how tables are hashed between stores of one engine.
    pub checksum: Checksum,
    /// `--jobs`: reads each side of a table runs at once.
    pub jobs: usize,
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
        let max_delete = args.max_delete.or(plan.profile.max_delete);
        if max_delete.is_some() && !matches!(plan.mode, Mode::Sync { delete: true, .. }) {
            return Err(EngineError::Usage("--max-delete limits deletes, which only --delete (or delete = true in the profile) allows".into()));
        }
        plan.max_delete = if args.force { None } else { max_delete };
        if args.print {
            if plan.format == Format::Json {
                return Err(EngineError::Usage("--print writes the statements on stdout, where --format json would write the report; use one or the other".into()));
            }
            plan.print = true;
        }
        Ok(plan)
    }

    pub fn schema(args: SchemaArgs) -> Result<Plan, EngineError> {
        let compare = CompareArgs { tables: args.tables, ..CompareArgs::endpoints(args.source, args.target, SeriesArgs { separator: "_".into(), ..SeriesArgs::default() }, args.format) };
        Plan::build(compare, Mode::Schema { dry_run: args.dry_run }, None)
    }

    pub fn copy(args: CopyArgs) -> Result<Plan, EngineError> {
        let chunk_text = args.chunk.clone().unwrap_or_else(|| "1h".into());
        let chunk = parse_duration(&chunk_text).map_err(|e| EngineError::Usage(format!("--chunk: {e}")))?;
        const DAY: i64 = 86_400_000_000_000;
        if chunk <= 0 || (DAY % chunk != 0 && chunk % DAY != 0) {
            return Err(EngineError::Usage(format!("--chunk {chunk_text} must divide a day (1h, 6h, 30m) or be whole days (2d), so windows line up with days")));
        }
        let compare = CompareArgs { tables: args.tables.clone(), ..CompareArgs::endpoints(args.source, args.target, args.series, args.format) };
        let mut plan = Plan::build(compare, Mode::Copy { dry_run: args.dry_run }, args.batch_size.map(|n| n as usize))?;
        match &mut plan.series {
            Some(series) => {
                if !args.tables.is_empty() || args.batch_size.is_some() {
                    return Err(EngineError::Usage("--table and --batch-size are for copying tables; time series take --measurement and --chunk".into()));
                }
                series.chunk = chunk;
                series.order = args.order.unwrap_or(Order::NewestFirst);
            }
            None => {
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
        let named = |side: &str, key: &str| {
            let file = args.profile.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            EngineError::Usage(format!("no {side}: give it on the command line or as {key} = \"URL\" in profile {file}"))
        };
        let source_url = args.source.clone().or_else(|| profile.source.clone()).ok_or_else(|| named("SOURCE", "source"))?;
        let target_url = args.target.clone().or_else(|| profile.target.clone()).ok_or_else(|| named("TARGET", "target"))?;
        if let Mode::Sync { delete, .. } = &mut mode {
            *delete |= profile.delete == Some(true);
        }
        // --zoom, or the profile's zoom (its errors name the file and line).
        let zoom_given = match &args.zoom {
            Some(z) => Some(Located { value: z.clone(), at: "--zoom".into() }),
            None => profile.zoom.clone(),
        };
        let source = Endpoint::parse(&source_url)
            .map_err(|e| EngineError::Usage(format!("SOURCE: {e}")))?
            .with_password_from(SOURCE_PASSWORD_VAR);
        let target = Endpoint::parse(&target_url)
            .map_err(|e| EngineError::Usage(format!("TARGET: {e}")))?
            .with_password_from(TARGET_PASSWORD_VAR);
        // One InfluxDB server to itself is fine when --target-db renames.
        let renamed = args.series.target_db.is_some() || args.series.target_rp.is_some();
        if !matches!(mode, Mode::Diff) && source == target && !renamed {
            return Err(EngineError::Usage(format!("SOURCE and TARGET are the same store ({source}); nothing to do")));
        }
        let mut tables = Vec::new();
        for t in &args.tables {
            if t.trim().is_empty() {
                return Err(EngineError::Usage("--table needs a table name".into()));
            }
            if !tables.contains(t) {
                tables.push(t.clone());
            }
        }
        if let (Mode::Sync { delete: true, .. }, Endpoint::Influx(u)) = (mode, &target) {
            if let Some(rp) = &u.retention_policy {
                return Err(EngineError::Usage(format!(
                    "--delete with rp={rp} in TARGET would delete from every retention policy of the database (InfluxDB's DELETE knows no policy); drop rp= or --delete"
                )));
            }
        }
        let mut series = match (source.is_time_series(), target.is_time_series()) {
            (true, true) => Some(series_plan(&args, &tables, zoom_given.as_ref())?),
            (false, false) => {
                series_flags_unused(&args.series, args.verify)?;
                None
            }
            (true, false) | (false, true) => {
                return Err(EngineError::Usage(format!(
                    "{source} and {target} are of different families (tables and time series); rangesync pairs tables with tables and time series with time series"
                )))
            }
        };
        if let Some(sp) = &series {
            check_database_flags(sp, &source, &target)?;
            if let (Mode::Sync { delete: true, .. }, Endpoint::Influx(_), true) = (mode, &target, sp.rps.is_some() || sp.target_rp.is_some()) {
                return Err(EngineError::Usage(
                    "--delete with --rp or --target-rp would delete from every retention policy of the target database (InfluxDB's DELETE knows no policy); drop one".into(),
                ));
            }
        }
        let zoom = match (&series, &zoom_given) {
            (None, Some(z)) => z.value.parse::<Zoom>().map_err(|e| z.error(&e))?,
            _ => Zoom::default(),
        };
        match (&series, &profile.tables_at, &profile.measurements_at) {
            (Some(_), Some(at), _) => {
                return Err(EngineError::Usage(format!("{at}: [[tables]] rules are for SQL tables; time series take [[measurements]]")))
            }
            (None, _, Some(at)) => {
                return Err(EngineError::Usage(format!("{at}: [[measurements]] rules are for time series; SQL tables take [[tables]]")))
            }
            _ => {}
        }
        let state = args.state.clone().or_else(|| {
            let profile_path = args.profile.as_ref()?;
            Some(match &profile.state {
                // Relative to the profile, as its default is.
                Some(p) => profile_path.parent().unwrap_or(std::path::Path::new("")).join(p),
                None => profile_path.with_extension("state.sqlite"),
            })
        });
        if let Some(sp) = series.as_mut() {
            sp.lookback = match &args.lookback {
                Some(l) => parse_duration(l).map_err(|e| EngineError::Usage(format!("--lookback: {e}")))?,
                None => profile.lookback.unwrap_or(DEFAULT_LOOKBACK),
            };
            if args.lite_column.is_some() {
                return Err(EngineError::Usage("--lite-column names a SQL column; time series are compared by time (--lookback)".into()));
            }
        }
        let lite = args.lite.then(|| args.lite_column.clone().or_else(|| profile.lite_column.clone()));
        if series.is_some() {
            if args.checksum.is_some() || profile.checksum.is_some() {
                return Err(EngineError::Usage("--checksum (checksum in a profile) applies to SQL tables; time series are compared by counts (--verify)".into()));
            }
            if args.jobs.is_some() || profile.jobs.is_some() {
                return Err(EngineError::Usage("--jobs (jobs in a profile) applies to SQL tables; time series are read one window at a time".into()));
            }
        }
        let checksum = checksum(args.checksum, profile.checksum)?;
        let jobs = args.jobs.or(profile.jobs).unwrap_or(1) as usize;
        Ok(Plan {
            mode,
            source,
            target,
            tables,
            zoom,
            format: args.format,
            batch_size: batch_size.unwrap_or(crate::engine::diff::DEFAULT_DIFF_BATCH),
            fill_batch: batch_size.unwrap_or(crate::engine::apply::FILL_PAGE),
            series,
            profile,
            passes: 1,
            max_delete: None,
            state,
            lite,
            print: false,
            checksum,
            jobs,
        })
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

fn series_plan(args: &CompareArgs, tables: &[String], zoom: Option<&Located>) -> Result<SeriesPlan, EngineError> {
    if !tables.is_empty() {
        return Err(EngineError::Usage("--table names SQL tables; pick time series with --measurement REGEX".into()));
    }
    let a = &args.series;
    let pattern = |flag: &str, v: &Option<String>| -> Result<Option<regex::Regex>, EngineError> {
        v.as_deref()
            .map(|r| regex::Regex::new(r).map_err(|e| EngineError::Usage(format!("{flag} '{r}' is not a regular expression: {}", regex_reason(&e)))))
            .transpose()
    };
    let measurement = pattern("--measurement", &a.measurement)?;
    let databases = pattern("--database", &a.database)?;
    let rps = pattern("--rp", &a.rp)?;
    if let Some(l) = &a.db_label {
        let ok = l.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(EngineError::Usage(format!("--db-label '{l}' is not a label name (letters, digits and _, not starting with a digit)")));
        }
        if l == "__name__" {
            return Err(EngineError::Usage("--db-label cannot be __name__, which holds the metric's name".into()));
        }
    }
    for (flag, v) in [("--target-db", &a.target_db), ("--target-rp", &a.target_rp)] {
        if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(EngineError::Usage(format!("{flag} needs a name")));
        }
    }
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let instant = |flag: &str, v: &Option<String>| -> Result<Option<i64>, EngineError> {
        v.as_deref().map(|s| parse_instant(s, now).map_err(|e| EngineError::Usage(format!("{flag}: {e}")))).transpose()
    };
    let start = instant("--start", &a.start)?;
    let end = instant("--end", &a.end)?;
    if let (Some(s), Some(e)) = (start, end) {
        if s >= e {
            return Err(EngineError::Usage(format!("--start ({}) must come before --end ({})", a.start.as_deref().unwrap_or_default(), a.end.as_deref().unwrap_or_default())));
        }
    }
    let zoom = match zoom {
        Some(z) => z.value.parse::<TimeZoom>().map_err(|e| z.error(&e))?,
        None => DEFAULT_TIME_ZOOM.parse::<TimeZoom>().expect("the default zoom parses"),
    };
    if a.separator.is_empty() {
        return Err(EngineError::Usage("--separator needs at least one character".into()));
    }
    Ok(SeriesPlan {
        measurement,
        start,
        end,
        zoom,
        exact: args.verify == Verify::Exact,
        max_rows: a.max_rows,
        settings: SeriesSettings { separator: a.separator.clone(), max_body: a.max_body as usize },
        chunk: 3_600_000_000_000,
        order: Order::NewestFirst,
        databases,
        rps,
        target_db: a.target_db.clone(),
        target_rp: a.target_rp.clone(),
        db_label: a.db_label.clone(),
        lookback: DEFAULT_LOOKBACK,
    })
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

/// Time-series flags given with SQL endpoints would be silently ignored:
/// refuse them instead.
fn series_flags_unused(a: &SeriesArgs, verify: Verify) -> Result<(), EngineError> {
    let given = [
        ("--measurement", a.measurement.is_some()),
        ("--start", a.start.is_some()),
        ("--end", a.end.is_some()),
        ("--verify exact", verify == Verify::Exact),
        ("--database", a.database.is_some()),
        ("--rp", a.rp.is_some()),
        ("--target-db", a.target_db.is_some()),
        ("--target-rp", a.target_rp.is_some()),
        ("--db-label", a.db_label.is_some()),
    ];
    match given.iter().find(|(_, g)| *g) {
        Some((flag, _)) => Err(EngineError::Usage(format!("{flag} applies to time series; SQL tables are picked with --table and always compared exactly"))),
        None => Ok(()),
    }
}
