//! The command line: flags → plan → run → report.

pub mod args;
#[cfg(test)]
mod docs_cover;
pub mod output;
pub mod passes;
pub mod plan;
pub mod profile;
pub mod progress;
pub mod tables;
pub mod series;
pub mod watch;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::engine::error::EngineError;
use args::{Cli, Command, Format};
use plan::{Family, Mode, Plan};

/// Entry point of the binary: parses flags, runs, prints, and maps the
/// outcome to the exit codes of the contract.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let plan = match cli.command {
        Command::Watch(w) => {
            init_logging_as(cli.quiet, cli.verbose.max(1), w.log_format == args::LogFormat::Json);
            return finish(watch::plans(&w).and_then(|plans| runtime(false)?.block_on(watch::run(plans))).map(|()| ExitCode::SUCCESS));
        }
        Command::Diff(a) => Plan::diff(a),
        Command::Sync(a) => Plan::sync(a),
        Command::Schema(a) => Plan::schema(a),
        Command::Copy(a) => Plan::copy(a),
    };
    init_logging(cli.quiet, cli.verbose);
    finish(plan.and_then(|plan| execute(&plan, cli.quiet)))
}

/// Runs a diff, sync, copy or schema and prints its report; the exit code
/// of its outcome.
fn execute(plan: &Plan, quiet: bool) -> Result<ExitCode, EngineError> {
    let series = matches!(plan.family, Family::Series(_));
    let runtime = runtime(series)?;
    let target = plan.target.to_string();
    if let Mode::Schema { .. } = plan.mode {
        let report = match &plan.family {
            Family::Series(s) => runtime.block_on(series::schema(plan, s))?,
            Family::Tables(t) => runtime.block_on(tables::schema(plan, t))?,
        };
        let what = if series { "database(s) and retention policies" } else { "table(s)" };
        print(&plan.output, plan.format, quiet, &report, || output::schema_text(&report, &target, what))?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = runtime.block_on(async {
        // `copy --schema`: what `rangesync schema` creates, first.
        let created = match (&plan.family, plan.schema_first) {
            (Family::Series(s), true) => Some(series::schema(plan, s).await?),
            _ => None,
        };
        let mut report = passes::run(plan, &progress::Bar::new(quiet)).await?;
        for t in created.iter().flat_map(|c| &c.tables).filter(|t| t.action != "exists") {
            report.notes.insert(0, format!("{} {} first ({})", t.name, t.action, t.statements.join("; ")));
        }
        Ok::<_, EngineError>(report)
    })?;
    match plan.print {
        // Stdout holds the statements.
        true if !quiet => eprint!("{}", output::text(&report, &target)),
        true => {}
        false => print(&plan.output, plan.format, quiet, &report, || output::text(&report, &target))?,
    }
    if let Some(code) = report.failure_code() {
        // The report above holds what the other databases did.
        for d in report.databases.iter().filter(|d| d.error.is_some()) {
            eprintln!("rangesync: database {}: {}", d.name, d.error.as_deref().unwrap_or_default());
        }
        return Ok(ExitCode::from(code));
    }
    Ok(ExitCode::from(if plan.mode == Mode::Diff && !report.in_sync { 1 } else { 0 }))
}

/// The async runtime. Time series cost rangesync about 0.5 µs of CPU per
/// point, far less than a server spends answering it: one worker keeps
/// up, and leaves the other cores to servers sharing the machine (a copy
/// between two local servers ran 6% faster so).
fn runtime(series: bool) -> Result<tokio::runtime::Runtime, EngineError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if series {
        builder.worker_threads(1);
    }
    builder.enable_all().build().map_err(|e| EngineError::Usage(format!("cannot start the async runtime: {e}")))
}

fn finish(outcome: Result<ExitCode, EngineError>) -> ExitCode {
    outcome.unwrap_or_else(|e| {
        eprintln!("rangesync: {e}");
        ExitCode::from(e.exit_code())
    })
}

/// Writes the report on stdout (or `--output`'s file): JSON, or the text
/// summary unless `-q`.
fn print(out: &output::Output, format: Format, quiet: bool, report: &impl serde::Serialize, text: impl FnOnce() -> String) -> Result<(), EngineError> {
    let rendered = match format {
        Format::Json => Some(output::json(report)),
        // The last line, after the keys: one line of JSON.
        Format::Jsonl => Some(serde_json::to_string(report).unwrap_or_default()),
        Format::Text if !quiet => Some(text()),
        Format::Text => None,
    };
    match rendered {
        Some(text) => out.line(text.trim_end()),
        None => Ok(()),
    }
}

fn init_logging(quiet: bool, verbose: u8) {
    init_logging_as(quiet, verbose, false)
}

fn init_logging_as(quiet: bool, verbose: u8, json: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "rangesync=info,warn",
        (false, _) => "rangesync=debug,info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a person at a terminal: a log file or a pipe gets
    // plain text (NO_COLOR turns them off there too).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).with_ansi(ansi);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
