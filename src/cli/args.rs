//! Raw command-line flags, as clap parses them. [`super::plan`] turns them
//! into a validated plan.

use clap::{Args, Parser, Subcommand, ValueEnum};


const ABOUT: &str = "Find and repair differences between two stores without copying what is equal.";

const LONG_ABOUT: &str = "\
Find and repair differences between two stores without copying what is equal.

rangesync cuts each table into ranges of primary keys (each time-series measurement into
windows of time), computes a fingerprint of every range inside each store, and narrows
only the ranges whose fingerprints differ, zoom level by zoom level. Only the rows or
points that differ are fetched and written. Run it again at any time: it is idempotent,
and a run that was interrupted is repaired by the next.

Endpoints:
  sqlite://PATH (relative) or sqlite:///PATH (absolute)
  postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE
  mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE (MySQL or MariaDB)
  influxdb://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?rp=POLICY&token=TOKEN&tls=true]
  victoriametrics://HOST[:PORT][/PREFIX][?tls=true]
  opentsdb://HOST[:PORT][/PREFIX][?tls=true]
  dir://PATH[?chunk=1d] (a dump directory of time series: gzipped line protocol + manifest.json)
The HTTP stores take &concurrency=N (or ?concurrency=N): requests kept in flight against
that server, 1 by default (old InfluxDB servers fall over under parallel load); and
&timeout=DURATION: how long one request may take, 5m by default.
A password (or an InfluxDB token) may come from RANGESYNC_SOURCE_PASSWORD /
RANGESYNC_TARGET_PASSWORD instead of the URL; it is never printed.";

const EXAMPLES: &str = "\
Examples:
  Compare two SQLite files (exit code 1 if they differ):
    rangesync diff sqlite://prod.db sqlite://replica.db

  Repair the replica, removing rows the source no longer has:
    rangesync sync sqlite://prod.db sqlite://replica.db --delete

  Copy a PostgreSQL database into a new SQLite file, creating its tables:
    rangesync sync postgres://app@db1/shop sqlite://dev.db --create-tables

  Repair a replica as a profile describes it, again until nothing differs:
    rangesync sync --profile sync-profiles/postgres-replica-repair.toml --until-consistent

  See what a sync of one table would do, as JSON:
    rangesync sync sqlite://prod.db sqlite://replica.db --table orders --dry-run --format json

  Repair the last day of an InfluxDB mirror, comparing values too:
    rangesync sync influxdb://127.0.0.1:8086/metrics influxdb://mirror:8086/metrics \
      --start now-24h --verify exact --delete

  Dump an InfluxDB database to a directory (a rerun rewrites only chunks that changed),
  then restore it:
    rangesync sync influxdb://127.0.0.1:8086/metrics dir:///backups/metrics --delete
    rangesync sync dir:///backups/metrics influxdb://new:8086/metrics

Exit codes: 0 in sync / success, 1 differences found (diff), 2 bad input,
3 a store failed, 4 a safety limit stopped the run.";

#[derive(Debug, Parser)]
#[command(name = "rangesync", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Print only errors (no progress bar, no summary in text format).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log more to stderr: -v for progress of each table, -vv for each query batch.
    /// RUST_LOG overrides this.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare SOURCE and TARGET; write nothing. Exit code 0 if equal, 1 if not.
    #[command(after_help = EXAMPLES)]
    Diff(CompareArgs),
    /// Compare, then write into TARGET only the rows that differ.
    #[command(after_help = EXAMPLES)]
    Sync(SyncArgs),
    /// Bulk first fill without diffing; an interrupted copy resumes.
    ///
    /// Tables: every row, in key order, in
    /// pages through TARGET's bulk path (PostgreSQL COPY), each page a
    /// transaction, checked by one fingerprint per range; a table TARGET
    /// already holds rows of is copied from after its largest key, so an
    /// interrupted copy resumes where it stopped. Time series: every point,
    /// in windows of time; a window whose counts already match on TARGET is
    /// skipped.
    #[command(after_help = COPY_EXAMPLES)]
    Copy(CopyArgs),
    /// Create on TARGET the tables SOURCE has and TARGET lacks, across engines
    /// with the type mapping of docs/schema.md. Existing tables are left alone.
    #[command(after_help = SCHEMA_EXAMPLES)]
    Schema(SchemaArgs),
    /// Keep TARGET reconciled with SOURCE: a daemon comparing and repairing
    /// on the profile's interval, with health, recent cycles and metrics
    /// over HTTP (docs/watch.md).
    #[command(after_help = WATCH_EXAMPLES)]
    Watch(WatchArgs),
}

const WATCH_EXAMPLES: &str = "\
Examples:
  Keep a replica reconciled as the profile's [watch] section says:
    rangesync watch --profile sync-profiles/postgres-replica-repair.toml

  Its health (200 when OK, 503 otherwise), recent cycles, metrics, a cycle now:
    curl 127.0.0.1:9180/api/health
    curl 127.0.0.1:9180/api/runs
    curl 127.0.0.1:9180/metrics
    curl -X POST -H 'Authorization: Bearer TOKEN' 127.0.0.1:9180/api/sync

Exit codes: 0 stopped by SIGINT or SIGTERM, 2 bad input (profile, address in use).";

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The profile: endpoints, rules, and its [watch] section (interval,
    /// listen, full_every, recent, token_env).
    #[arg(long, value_name = "FILE")]
    pub profile: std::path::PathBuf,

    /// Listen on this address instead of the profile's (127.0.0.1:9180).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,

    /// Log lines as text or as JSON objects (one per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

const SCHEMA_EXAMPLES: &str = "\
Examples:
  Show the CREATE TABLE statements a PostgreSQL database would need in a new SQLite file:
    rangesync schema postgres://app@db1/shop sqlite://dev.db --dry-run

  Create the missing tables on a MariaDB replica, then fill them:
    rangesync schema postgres://app@db1/shop mysql://app@db2/shop
    rangesync sync postgres://app@db1/shop mysql://app@db2/shop

Exit codes: 0 success, 2 bad input (a type with no counterpart on TARGET),
3 a store failed.";

const COPY_EXAMPLES: &str = "\
Examples:
  Fill an empty PostgreSQL database from another (tables created as needed):
    rangesync copy postgres://app@db1/shop postgres://app@db2/shop

  Run it again after it was interrupted: each table resumes after its last key.
    rangesync copy postgres://app@db1/shop postgres://app@db2/shop --table orders

  Fill a new VictoriaMetrics from InfluxDB, newest data first:
    rangesync copy influxdb://127.0.0.1:8086/telegraf victoriametrics://127.0.0.1:8428

  Copy one week of the cpu measurement in windows of 6 hours:
    rangesync copy influxdb://h1:8086/db influxdb://h2:8086/db --measurement '^cpu$' \\
      --start 2024-01-01T00:00:00Z --end 2024-01-08T00:00:00Z --chunk 6h

Exit codes: 0 success, 2 bad input, 3 a store failed.";

/// `--max-rows`, `--max-body`, `--max-passes` when not given (also what
/// a `watch` cycle, built from its profile, runs with).
pub const DEFAULT_MAX_ROWS: u64 = 50_000;
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;
pub const DEFAULT_MAX_PASSES: u32 = 5;
pub const DEFAULT_SEPARATOR: &str = "_";

/// Flags of the time-series family, shared by diff, sync and copy.
#[derive(Debug, Args)]
pub struct SeriesArgs {
    /// Only measurements (VictoriaMetrics: metrics, as measurement
    /// and field) whose name matches this regular expression. Default: all.
    #[arg(long, help_heading = "Time series", value_name = "REGEX")]
    pub measurement: Option<String>,

    /// Compare from this instant on: RFC3339 (2024-01-01T00:00:00Z), a
    /// UTC date or date and time (2024-01-01, 2024-01-01 12:00:00), an
    /// epoch (1704067200, in ms 1704067200000, or 1704067200s), now-24h or
    /// -10h. Default: the earliest both stores can hold.
    #[arg(long, help_heading = "Time series", value_name = "TIME", allow_hyphen_values = true)]
    pub start: Option<String>,

    /// Compare up to this instant (excluded). Default: the latest
    /// both stores can hold.
    #[arg(long, help_heading = "Time series", value_name = "TIME", allow_hyphen_values = true)]
    pub end: Option<String>,

    /// Between measurement and field in a VictoriaMetrics metric
    /// name (InfluxDB cpu,usage is the metric cpu_usage). Default: _, or
    /// the profile's separator.
    #[arg(long, help_heading = "Time series", value_name = "TEXT")]
    pub separator: Option<String>,

    /// The most points one read may return; a window holding
    /// more is read in parts (old InfluxDB servers fall over on big answers).
    /// Default: 50000, or the profile's max_rows.
    #[arg(long, help_heading = "Time series", value_name = "POINTS", value_parser = clap::value_parser!(u64).range(100..))]
    pub max_rows: Option<u64>,

    /// InfluxDB SOURCE: every database of the server whose name
    /// matches (not _internal), each compared on its own; the URL's
    /// database may then be left out (influxdb://HOST:PORT).
    #[arg(long, help_heading = "Time series", value_name = "REGEX")]
    pub database: Option<String>,

    /// InfluxDB SOURCE: every retention policy of each database whose
    /// name matches, each compared on its own. Default: the URL's rp=, or
    /// the database's default policy.
    #[arg(long, help_heading = "Time series", value_name = "REGEX")]
    pub rp: Option<String>,

    /// InfluxDB TARGET: the database written, {db} standing for the
    /// source's (--target-db '{db}_copy'). Default: the TARGET URL's
    /// database, or with --database the source's name.
    #[arg(long, help_heading = "Time series", value_name = "NAME")]
    pub target_db: Option<String>,

    /// InfluxDB TARGET: the retention policy written, {rp} standing
    /// for the source's. Default: the TARGET URL's rp=, or with --rp the
    /// source's name.
    #[arg(long, help_heading = "Time series", value_name = "NAME")]
    pub target_rp: Option<String>,

    /// Give every series from an InfluxDB database this label naming
    /// the database (as vmctl's db label), and see on TARGET only the
    /// series holding it: needed to put several databases into one
    /// VictoriaMetrics, OpenTSDB or dump.
    #[arg(long, help_heading = "Time series", value_name = "LABEL")]
    pub db_label: Option<String>,

    /// The largest write body, in bytes before compression,
    /// kept far below the server's limit so no write is refused as too large.
    /// Default: 1048576, or the profile's max_body.
    #[arg(long, help_heading = "Time series", value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_body: Option<u64>,
}

impl Default for SeriesArgs {
    /// What clap fills in when no time-series flag is given.
    fn default() -> Self {
        SeriesArgs {
            measurement: None,
            start: None,
            end: None,
            separator: None,
            max_rows: None,
            database: None,
            rp: None,
            target_db: None,
            target_rp: None,
            db_label: None,
            max_body: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Where the rows or points come from; only read.
    pub source: String,

    /// Where they are written. Tables TARGET lacks are created from SOURCE's
    /// definition (as sync --create-tables does).
    pub target: String,

    /// Copy only this table (repeatable). Default: every table of SOURCE.
    /// A table TARGET already holds rows of is copied from after its largest
    /// key: a killed copy resumes where it stopped.
    #[arg(long = "table", value_name = "NAME")]
    pub tables: Vec<String>,

    /// Rows per page and per transaction when copying tables (default 20000).
    #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: Option<u64>,

    #[command(flatten)]
    pub series: SeriesArgs,

    /// The window of time copied at once (time series; default 1h).
    #[arg(long, value_name = "DURATION")]
    pub chunk: Option<String>,

    /// Which end of the time span is copied first (time series; default
    /// newest-first).
    #[arg(long, value_enum)]
    pub order: Option<Order>,

    /// Count what would be copied, write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// InfluxDB: first create what `rangesync schema` would (the target
    /// databases and the source's retention policies, with their durations),
    /// then copy. Tables: copy creates missing tables anyway.
    #[arg(long)]
    pub schema: bool,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the report (and --format jsonl's keys, --print's statements)
    /// to FILE instead of stdout; FILE is created or emptied first.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Order {
    /// The recent data first: dashboards work again soonest.
    NewestFirst,
    OldestFirst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChecksumArg {
    /// The engine's own hashing between stores of one engine (the default).
    Fast,
    /// rangesync's canonical encoding under md5 or blake3 everywhere (audits).
    Exact,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Verify {
    /// Compare sample counts per series and window, computed in the stores: finds
    /// missing and extra points, not values changed in place. The cheapest.
    Count,
    /// Counts, and beside them each numeric field's sum where both stores compute
    /// one (InfluxDB, VictoriaMetrics): also finds numbers changed in place, not a
    /// changed string or boolean. The default.
    Sum,
    /// Also read every window whose counts agree and compare its samples value by
    /// value: finds changed values too, at the cost of reading both sides whole.
    Exact,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Where the table definitions come from; only read.
    pub source: String,

    /// Where missing tables are created.
    pub target: String,

    /// Only this table (repeatable). Default: every table of SOURCE.
    #[arg(long = "table", value_name = "NAME")]
    pub tables: Vec<String>,

    /// Print the statements that would run, and run none.
    #[arg(long)]
    pub dry_run: bool,

    /// InfluxDB: every database of SOURCE whose name matches (not
    /// _internal), each created on TARGET with its retention policies.
    #[arg(long, value_name = "REGEX")]
    pub database: Option<String>,

    /// InfluxDB: only the retention policies whose name matches.
    #[arg(long, value_name = "REGEX")]
    pub rp: Option<String>,

    /// InfluxDB: the database created for each, {db} standing for the
    /// source's name (--target-db '{db}_copy').
    #[arg(long, value_name = "NAME")]
    pub target_db: Option<String>,

    /// InfluxDB: the name each policy is created under, {rp} standing for
    /// the source's (needs --rp).
    #[arg(long, value_name = "NAME")]
    pub target_rp: Option<String>,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the report (and --format jsonl's keys, --print's statements)
    /// to FILE instead of stdout; FILE is created or emptied first.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Where the data is right, e.g. sqlite://prod.db or postgres://app@db1/shop.
    /// Only read, never written. May come from --profile instead.
    #[arg(required_unless_present = "profile")]
    pub source: Option<String>,

    /// Where the data should match SOURCE, e.g. sqlite://replica.db or postgres://app@db2/shop.
    /// May come from --profile instead.
    #[arg(required_unless_present = "profile")]
    pub target: Option<String>,

    /// A sync profile (TOML, see docs/profiles.md and sync-profiles/): the
    /// endpoints, and per table or measurement what to skip, zoom levels, a
    /// WHERE condition selecting a subset, columns, the delete policy. Flags
    /// and endpoints given on the command line take precedence.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<std::path::PathBuf>,

    /// Modified-since mode. Tables: compare only rows whose lite column
    /// (--lite-column, or the profile's lite_column) is at or after the
    /// watermark: the source's largest value at the start of the last run
    /// (kept in the state store), or without one TARGET's largest. Time
    /// series: only points from TARGET's newest minus --lookback. Cheap, but
    /// blind to deletes and to rows changed without moving that column (late
    /// points older than the lookback); a run without --lite sees everything
    /// (docs/profiles.md).
    #[arg(long)]
    pub lite: bool,

    /// The column --lite reads (an update time such as updated_at) in every
    /// table a profile gives no other.
    #[arg(long, value_name = "COLUMN", requires = "lite")]
    pub lite_column: Option<String>,

    /// Time series with --lite: compare from TARGET's newest point minus
    /// this much (late points older than that are left to a full run).
    /// Default 1h.
    #[arg(long, value_name = "DURATION", requires = "lite")]
    pub lookback: Option<String>,

    /// The state store (a SQLite file): the runs made, and the ranges a
    /// sync finished, so a run that was killed resumes where it stopped; a
    /// lock beside it keeps two runs apart. Default with --profile: beside
    /// the profile (PROFILE.state.sqlite); without, none.
    #[arg(long, value_name = "FILE")]
    pub state: Option<std::path::PathBuf>,

    /// Compare only this table (repeatable). Default: every table of SOURCE;
    /// a table TARGET lacks counts as all rows missing (`sync --create-tables`
    /// creates it).
    #[arg(long = "table", value_name = "NAME")]
    pub tables: Vec<String>,

    /// Range sizes, coarse to fine: row counts for tables (default 10000,100,1),
    /// durations for time series (default 1d,1h,1m). The first level fingerprints
    /// the whole table or time span; each next level only re-cuts the ranges that
    /// differ; after the last, rows or points are compared inside the ranges still
    /// differing.
    #[arg(long, value_name = "LEVELS")]
    pub zoom: Option<String>,

    /// How rows of tables are hashed when both stores are of one engine (two
    /// SQLite files, two PostgreSQL or two MySQL/MariaDB servers): fast uses the
    /// engine's cheapest built-in hashing (128 bits from two independent lanes,
    /// non-cryptographic); exact hashes rangesync's canonical encoding of every
    /// value with a cryptographic hash (md5, blake3), as it always does across
    /// engines. The two treat a few values differently (docs/hashing.md).
    /// Default: fast, or the profile's checksum, or RANGESYNC_CHECKSUM.
    #[arg(long, value_enum, value_name = "MODE")]
    pub checksum: Option<ChecksumArg>,

    /// Reads each side of a SQL server runs at once, each on its own
    /// connection: the table's windows are fingerprinted N at a time. All of
    /// a side's connections read one snapshot: PostgreSQL shares it
    /// (pg_export_snapshot); MySQL/MariaDB readers start theirs together while
    /// the table is locked for reading (LOCK TABLES ... READ, a few
    /// milliseconds; without that privilege each reader's snapshot is its own,
    /// and a warning says so). SQLite files and dumps read through one.
    /// Default: 1, or the profile's jobs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: Option<u32>,

    /// How windows are compared. Default: sum, or the profile's verify.
    #[arg(long, value_enum, help_heading = "Time series")]
    pub verify: Option<Verify>,

    #[command(flatten)]
    pub series: SeriesArgs,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the report (and --format jsonl's keys, --print's statements)
    /// to FILE instead of stdout; FILE is created or emptied first.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

impl CompareArgs {
    /// Two endpoints and nothing else (schema's and copy's comparison).
    pub fn endpoints(source: String, target: String, series: SeriesArgs, format: Format) -> CompareArgs {
        CompareArgs {
            source: Some(source),
            target: Some(target),
            profile: None,
            state: None,
            lite: false,
            lite_column: None,
            lookback: None,
            tables: Vec::new(),
            zoom: None,
            checksum: None,
            jobs: None,
            verify: None,
            series,
            format,
            output: None,
        }
    }
}

impl SyncArgs {
    /// `sync --profile FILE` and no other flag: a `watch` cycle.
    pub fn from_profile(profile: std::path::PathBuf) -> SyncArgs {
        let compare = CompareArgs { source: None, target: None, profile: Some(profile), ..CompareArgs::endpoints(String::new(), String::new(), SeriesArgs::default(), Format::Json) };
        SyncArgs {
            compare,
            delete: false,
            dry_run: false,
            create_tables: false,
            batch_size: None,
            until_consistent: false,
            max_passes: DEFAULT_MAX_PASSES,
            max_delete: None,
            force: false,
            print: false,
        }
    }
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub compare: CompareArgs,

    /// Also delete rows of TARGET whose keys SOURCE does not have.
    /// Without it nothing is ever deleted.
    #[arg(long)]
    pub delete: bool,

    /// Compare and report what would be written, but write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Create tables TARGET lacks from SOURCE's definition (across engines, with
    /// the type mapping of docs/schema.md) before filling them. Without it, a
    /// table missing on TARGET stops the run before anything is written.
    #[arg(long)]
    pub create_tables: bool,

    /// Rows written (or deleted) per transaction. Default 1000 for rows found
    /// by comparing, 20000 for ranges TARGET holds nothing of (copied whole,
    /// through its bulk path)
    #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_size: Option<u64>,

    /// After repairing, compare again, and repair again, until a pass finds
    /// nothing (or --max-passes). Rows written to SOURCE during the run show
    /// up again in each pass: the report counts them as changing during the
    /// run instead of looping forever.
    #[arg(long)]
    pub until_consistent: bool,

    /// The most passes --until-consistent makes.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PASSES, requires = "until_consistent", value_parser = clap::value_parser!(u32).range(2..=100))]
    pub max_passes: u32,

    /// Stop, before deleting anything, a run that would delete more than
    /// this share of a table's (or measurement's) rows on TARGET (exit code
    /// 4). A SOURCE that was emptied by mistake then stops the run instead
    /// of emptying TARGET too.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    pub max_delete: Option<f64>,

    /// Go on past --max-delete (given here or in the profile).
    #[arg(long)]
    pub force: bool,

    /// With --dry-run: write on stdout what the sync would send (SQL
    /// statements with their parameters; InfluxDB DELETE statements and
    /// line protocol; VictoriaMetrics import lines; OpenTSDB data points),
    /// the summary on stderr.
    #[arg(long, requires = "dry_run")]
    pub print: bool,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim_end_matches('%').parse().map_err(|_| format!("'{s}' is not a percentage (write 5 or 0.5)"))?;
    if (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("'{s}' is not between 0 and 100"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table per dataset and a one-line summary.
    Text,
    /// One JSON object on stdout (see docs/report.md).
    Json,
    /// diff and sync: one JSON object per line on stdout, each differing key
    /// (a row's, or a point's series and instant) as it is found
    /// ({"dataset":"orders","kind":"missing","key":"(42)"}), the report of
    /// --format json as the last line.
    Jsonl,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watch cycle builds its sync from the profile without a command
    /// line: it must be the sync `rangesync sync --profile FILE` parses.
    #[test]
    fn a_sync_from_a_profile_is_the_one_the_command_line_gives() {
        let Command::Sync(parsed) = Cli::parse_from(["rangesync", "sync", "--profile", "p.toml", "--format", "json"]).command else {
            panic!("sync parses as sync")
        };
        assert_eq!(format!("{:?}", SyncArgs::from_profile("p.toml".into())), format!("{parsed:?}"));
    }
}
