//! The validated plan of a run: what raw flags mean once checked.

use crate::connector::Endpoint;
use crate::engine::error::EngineError;
use crate::engine::zoom::Zoom;

use super::args::{CompareArgs, Format, SchemaArgs, SyncArgs};

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
}

impl Plan {
    pub fn diff(args: CompareArgs) -> Result<Plan, EngineError> {
        Plan::build(args, Mode::Diff, crate::engine::diff::DEFAULT_DIFF_BATCH)
    }

    pub fn sync(args: SyncArgs) -> Result<Plan, EngineError> {
        let mode = Mode::Sync { delete: args.delete, dry_run: args.dry_run, create_tables: args.create_tables };
        Plan::build(args.compare, mode, args.batch_size as usize)
    }

    pub fn schema(args: SchemaArgs) -> Result<Plan, EngineError> {
        let compare = CompareArgs {
            source: args.source,
            target: args.target,
            tables: args.tables,
            zoom: Zoom::default(),
            format: args.format,
        };
        Plan::build(compare, Mode::Schema { dry_run: args.dry_run }, 0)
    }

    fn build(args: CompareArgs, mode: Mode, batch_size: usize) -> Result<Plan, EngineError> {
        let source = Endpoint::parse(&args.source)
            .map_err(|e| EngineError::Usage(format!("SOURCE: {e}")))?
            .with_password_from(SOURCE_PASSWORD_VAR);
        let target = Endpoint::parse(&args.target)
            .map_err(|e| EngineError::Usage(format!("TARGET: {e}")))?
            .with_password_from(TARGET_PASSWORD_VAR);
        if !matches!(mode, Mode::Diff) && source == target {
            return Err(EngineError::Usage(format!("SOURCE and TARGET are the same store ({source}); nothing to do")));
        }
        let mut tables = Vec::new();
        for t in args.tables {
            if t.trim().is_empty() {
                return Err(EngineError::Usage("--table needs a table name".into()));
            }
            if !tables.contains(&t) {
                tables.push(t);
            }
        }
        Ok(Plan { mode, source, target, tables, zoom: args.zoom, format: args.format, batch_size })
    }

    pub fn command_name(&self) -> &'static str {
        match self.mode {
            Mode::Diff => "diff",
            Mode::Sync { .. } => "sync",
            Mode::Schema { .. } => "schema",
        }
    }

    pub fn dry_run(&self) -> bool {
        matches!(self.mode, Mode::Sync { dry_run: true, .. } | Mode::Schema { dry_run: true })
    }

    /// Whether the run writes to TARGET at all.
    pub fn writes(&self) -> bool {
        matches!(self.mode, Mode::Sync { dry_run: false, .. } | Mode::Schema { dry_run: false })
    }

    /// Whether tables missing on TARGET are to be created.
    pub fn creates_tables(&self) -> bool {
        matches!(self.mode, Mode::Sync { create_tables: true, .. } | Mode::Schema { .. })
    }
}
