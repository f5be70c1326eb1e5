//! Rendering the report: a table and a summary for people, one JSON object
//! for programs.

use std::fmt::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::engine::error::EngineError;
use crate::engine::report::{Report, SchemaReport};

/// Where a run writes what it reports: the report, `--format jsonl`'s
/// keys, `--print`'s statements. Stdout, or the file `--output` names
/// (created, or emptied, before anything runs).
#[derive(Clone)]
pub struct Output {
    out: Arc<Mutex<dyn std::io::Write + Send>>,
    shown: String,
    /// A file, whose write errors stop the run (stdout's do not).
    file: bool,
}

impl Output {
    pub fn stdout() -> Output {
        Output { out: Arc::new(Mutex::new(std::io::stdout())), shown: "stdout".into(), file: false }
    }

    pub fn create(path: &Path) -> Result<Output, EngineError> {
        let file = std::fs::File::create(path).map_err(|e| EngineError::Usage(format!("--output {}: cannot write there ({e})", path.display())))?;
        Ok(Output { out: Arc::new(Mutex::new(std::io::LineWriter::new(file))), shown: path.display().to_string(), file: true })
    }

    /// One line. On stdout a closed pipe (`| head`) ends the listing, not
    /// the run; a file that cannot be written stops it.
    pub fn line(&self, text: &str) -> Result<(), EngineError> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        match writeln!(out, "{text}") {
            Err(e) if self.file => Err(EngineError::Usage(format!("cannot write to {}: {e}", self.shown))),
            _ => Ok(()),
        }
    }

    /// The writer, for code that writes line by line itself.
    pub fn writer(&self) -> Arc<Mutex<dyn std::io::Write + Send>> {
        self.out.clone()
    }
}

/// Written through as it comes (`--print`'s statements).
impl std::io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

pub fn json(report: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(report).expect("the report serialises")
}

/// The human summary. Deterministic apart from the elapsed time at the end.
pub fn text(report: &Report, target: &str) -> String {
    let sync = report.command == "sync";
    let mut out = String::new();
    let mut header = if report.time_series {
        vec!["MEASUREMENT", "SOURCE POINTS", "TARGET POINTS", "MISSING", "EXTRA", "CHANGED"]
    } else {
        vec!["TABLE", "SOURCE ROWS", "TARGET ROWS", "MISSING", "EXTRA", "CHANGED"]
    };
    if sync {
        header.extend(["INSERTED", "UPDATED", "DELETED"]);
    }
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for d in &report.datasets {
        let mut name = d.name.clone();
        if d.created {
            name.push_str(if report.dry_run { " (would create)" } else { " (created)" });
        }
        let mut row = vec![name];
        for n in [d.source_rows, d.target_rows, d.missing, d.extra, d.changed] {
            row.push(n.to_string());
        }
        if sync {
            for n in [d.inserted, d.updated, d.deleted] {
                row.push(n.to_string());
            }
        }
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 0 { format!("{c:<w$}", w = widths[i]) } else { format!("{c:>w$}", w = widths[i]) })
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end()).unwrap();
    }
    for d in &report.datasets {
        for s in &d.sample {
            let what = if report.time_series { "point" } else { "key" };
            writeln!(out, "  {}: {} {what} {}", d.name, s.kind, s.key).unwrap();
        }
        if d.sample.len() as u64 > 0 && d.differences() > d.sample.len() as u64 {
            writeln!(out, "  {}: … and {} more", d.name, d.differences() - d.sample.len() as u64).unwrap();
        }
    }
    for n in &report.notes {
        writeln!(out, "Note: {n}.").unwrap();
    }
    for d in &report.databases {
        if let Some(e) = &d.error {
            writeln!(out, "Failed: database {}: {e}", d.name).unwrap();
        }
    }
    out.push('\n');
    out.push_str(&summary(report, target));
    out.push('\n');
    out
}

fn summary(report: &Report, target: &str) -> String {
    let total = |f: fn(&crate::engine::report::DatasetReport) -> u64| report.datasets.iter().map(f).sum::<u64>();
    let (missing, extra, changed) = (total(|d| d.missing), total(|d| d.extra), total(|d| d.changed));
    let differing_tables = report.datasets.iter().filter(|d| d.differences() > 0).count();
    let work = if report.time_series {
        format!("{} window counts compared, {} points fetched", total(|d| d.ranges_compared), total(|d| d.rows_fetched))
    } else {
        format!(
            "{} ranges compared, {} row hashes and {} rows fetched",
            total(|d| d.ranges_compared),
            total(|d| d.hashes_fetched),
            total(|d| d.rows_fetched)
        )
    };
    let elapsed = format!("{:.2}s", report.elapsed_ms as f64 / 1000.0);
    let tables = report.datasets.len();
    let unit = if report.time_series { "measurement(s)" } else { "table(s)" };
    if report.command == "copy" {
        let what = if report.dry_run { "would copy" } else { "copied" };
        return format!(
            "copy: {what} {} point(s) of {tables} measurement(s) into {target} in {elapsed}.",
            if report.dry_run { total(|d| d.missing) } else { total(|d| d.inserted) }
        );
    }
    let mut s = if missing + extra + changed == 0 {
        format!("{}: {tables} {unit} in sync; {work} in {elapsed}.", report.command)
    } else {
        format!(
            "{}: {} difference(s) in {differing_tables} of {tables} {unit}: {missing} missing, {extra} extra, {changed} changed; {work} in {elapsed}.",
            report.command,
            missing + extra + changed
        )
    };
    if report.command == "sync" {
        s.push_str(&sync_lines(report, target));
    }
    s
}

/// What a sync wrote, and what it left: the lines after the summary.
fn sync_lines(report: &Report, target: &str) -> String {
    let total = |f: fn(&crate::engine::report::DatasetReport) -> u64| report.datasets.iter().map(f).sum::<u64>();
    let mut s = String::new();
    let extra = total(|d| d.extra);
    let (ins, upd, del) = (total(|d| d.inserted), total(|d| d.updated), total(|d| d.deleted));
    if report.dry_run {
        s.push_str(&format!("\nDry run: nothing was written to {target}."));
    } else if ins + upd + del > 0 {
        s.push_str(&format!("\nWrote {target}: {ins} inserted, {upd} updated, {del} deleted."));
    }
    let moved = total(|d| d.changed_during_run);
    if moved > 0 {
        s.push_str(&format!(
            "\n{moved} row(s) changed at the source while the run went on; the target holds them as they were when \
             the run's snapshot was taken. Run again to settle them."
        ));
    }
    let remaining = total(|d| d.remaining);
    if !report.dry_run && remaining > 0 {
        let kept = match (extra > del, report.time_series) {
            (false, _) => "",
            (true, false) => " Extra rows are kept unless --delete is given.",
            (true, true) => " Extra points are kept unless --delete is given and the target can delete them.",
        };
        s.push_str(&format!("\n{remaining} difference(s) remain.{kept}"));
    } else if !report.dry_run {
        s.push_str("\nThe target is now in sync.");
    }
    s
}

/// One line per table, then the statements run (or, in a dry run, to run).
pub fn schema_text(report: &SchemaReport, target: &str, noun: &str) -> String {
    let mut out = String::new();
    for t in &report.tables {
        writeln!(out, "{}: {}", t.name, t.action).unwrap();
        for s in &t.statements {
            writeln!(out, "  {s};").unwrap();
        }
    }
    for n in &report.notes {
        writeln!(out, "Note: {n}.").unwrap();
    }
    let made = report.tables.iter().filter(|t| !t.statements.is_empty()).count();
    let verb = if report.dry_run { "would be created" } else { "created" };
    writeln!(
        out,
        "\nschema: {made} of {} {noun} {verb} in {target}; the others exist and were left alone.",
        report.tables.len()
    )
    .unwrap();
    out
}
