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

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::engine::error::EngineError;
use args::{Cli, Command, Format};
use plan::{Mode, Plan};

/// Entry point of the binary: parses flags, runs, prints, and maps the
/// outcome to the exit codes of the contract.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Watch(w) = &cli.command {
        init_logging_as(cli.quiet, cli.verbose.max(1), w.log_format == args::LogFormat::Json);
        return match watch_plans(w).and_then(|(full, recent, settings, state)| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| EngineError::Usage(format!("cannot start the async runtime: {e}")))?;
            runtime.block_on(watch::run(full, recent, settings, state))
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    init_logging(cli.quiet, cli.verbose);
    let plan = match cli.command {
        Command::Diff(a) => Plan::diff(a),
        Command::Sync(a) => Plan::sync(a),
        Command::Schema(a) => Plan::schema(a),
        Command::Copy(a) => Plan::copy(a),
        Command::Watch(_) => unreachable!("handled above"),
    };
    let plan = match plan {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if plan.series.is_some() {
        // Time series cost rangesync about 0.5 µs of CPU per point, far
        // less than a server spends answering it: one worker keeps up, and
        // leaves the other cores to servers sharing the machine (a copy
        // between two local servers ran 6% faster so).
        builder.worker_threads(1);
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(&EngineError::Usage(format!("cannot start the async runtime: {e}"))),
    };
    if matches!(plan.mode, Mode::Schema { .. }) {
        let result = match &plan.series {
            Some(_) => runtime.block_on(series::schema(&plan)),
            None => runtime.block_on(tables::schema(&plan)),
        };
        return match result {
            Ok(report) => {
                print(plan.format, cli.quiet, &report, || output::schema_text(&report, &plan.target.to_string(), if plan.series.is_some() { "database(s) and retention policies" } else { "table(s)" }));
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        };
    }
    let bar = progress::Bar::new(cli.quiet);
    let result = runtime.block_on(passes::run(&plan, &bar));
    match result {
        Ok(report) => {
            if plan.print {
                // Stdout holds the statements.
                if !cli.quiet {
                    eprint!("{}", output::text(&report, &plan.target.to_string()));
                }
            } else {
                print(plan.format, cli.quiet, &report, || output::text(&report, &plan.target.to_string()));
            }
            let differs = !report.in_sync;
            if plan.mode == Mode::Diff && differs {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(&e),
    }
}

/// Writes the report on stdout: JSON, or the text summary unless `-q`.
fn print(format: Format, quiet: bool, report: &impl serde::Serialize, text: impl FnOnce() -> String) {
    let rendered = match format {
        Format::Json => Some(output::json(report)),
        Format::Text if !quiet => Some(text()),
        Format::Text => None,
    };
    if let Some(text) = rendered {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = writeln!(stdout, "{}", text.trim_end());
    }
}

fn fail(e: &EngineError) -> ExitCode {
    eprintln!("rangesync: {e}");
    ExitCode::from(e.exit_code())
}

/// The two plans of a watch (every cycle's, and the recent part's) and
/// its settings, all from the profile.
fn watch_plans(w: &args::WatchArgs) -> Result<(Plan, Plan, profile::Watch, std::path::PathBuf), EngineError> {
    let profile = profile::Profile::load(&w.profile)?;
    let mut settings = profile.watch.clone().ok_or_else(|| {
        EngineError::Usage(format!("profile {} has no [watch] section (interval, listen...); see docs/watch.md", w.profile.display()))
    })?;
    if let Some(l) = &w.listen {
        settings.listen = watch::listen(l).map_err(EngineError::Usage)?;
    }
    // Each cycle is the sync the command line would run, with its defaults.
    let sync = |lite: bool| {
        let mut argv: Vec<std::ffi::OsString> = ["rangesync", "sync", "--format", "json", "--profile"].map(Into::into).to_vec();
        argv.push(w.profile.clone().into_os_string());
        if lite {
            argv.extend(["--lite".into(), "--lookback".into(), format!("{}ns", settings.recent).into()]);
        }
        match Cli::try_parse_from(argv) {
            Ok(Cli { command: Command::Sync(a), .. }) => Plan::sync(a),
            Ok(_) => unreachable!("a sync command line parses as sync"),
            Err(e) => Err(EngineError::Usage(format!("the watch's sync: {}", e.to_string().lines().next().unwrap_or_default()))),
        }
    };
    let mut full = sync(false)?;
    let mut recent = sync(true)?;
    // The daemon holds the profile's state store (its lock) for its whole
    // life; its cycles keep no runs of their own.
    let state = full.state.take().unwrap_or_else(|| w.profile.with_extension("state.sqlite"));
    recent.state = None;
    Ok((full, recent, settings, state))
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
