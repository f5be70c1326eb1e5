//! The command line: flags → plan → run → report.

pub mod args;
pub mod output;
pub mod passes;
pub mod plan;
pub mod profile;
pub mod progress;
pub mod run;
pub mod series;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::engine::error::EngineError;
use args::{Cli, Command, Format};
use plan::Plan;

/// Entry point of the binary: parses flags, runs, prints, and maps the
/// outcome to the exit codes of the contract.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.quiet, cli.verbose);
    let plan = match cli.command {
        Command::Diff(a) => Plan::diff(a),
        Command::Sync(a) => Plan::sync(a),
        Command::Schema(a) => Plan::schema(a),
        Command::Copy(a) => Plan::copy(a),
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
    if plan.command_name() == "schema" {
        let result = match &plan.series {
            Some(_) => runtime.block_on(series::schema(&plan)),
            None => runtime.block_on(run::schema(&plan)),
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
            if plan.command_name() == "diff" && differs {
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

fn init_logging(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "rangesync=info,warn",
        (false, _) => "rangesync=debug,info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
