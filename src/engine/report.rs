//! The report of a run: what the contract's JSON shows, and what the text
//! summary prints.

use serde::Serialize;

/// One table's (or measurement's) counts. Field names are part of the
/// contract: fields may be added, never renamed.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct DatasetReport {
    pub name: String,
    pub source_rows: u64,
    pub target_rows: u64,
    /// Keys in the source, not in the target.
    pub missing: u64,
    /// Keys in the target, not in the source.
    pub extra: u64,
    /// Same key, different values.
    pub changed: u64,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    pub ranges_compared: u64,
    /// Statements (requests) sent to both stores for this dataset.
    pub round_trips: u64,
    pub hashes_fetched: u64,
    pub rows_fetched: u64,
    /// The table did not exist on the target and was created (or, in a dry
    /// run, would be).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub created: bool,
    /// Rows written (or deleted) by this sync that a writer changed at the
    /// source after the pass's snapshot: the target holds the snapshot's
    /// version and the next run settles them. Counted in `remaining` too.
    pub changed_during_run: u64,
    /// First-level ranges finished by an earlier, killed run of this sync
    /// (from the state store): not compared again.
    #[serde(skip_serializing_if = "is_zero")]
    pub ranges_skipped: u64,
    /// Differences left after this run (extras kept without `--delete`,
    /// rows that changed at the source while the run went on, a dry run).
    pub remaining: u64,
    /// Time series with `--lite`: the minute of TARGET's newest point (ns
    /// from the epoch), as found before comparing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_newest: Option<i64>,
    /// A few differing keys, to start looking.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sample: Vec<SampleDifference>,
}

impl DatasetReport {
    /// Adds what another comparison of the same dataset wrote and read
    /// (not what it found).
    pub fn add_work(&mut self, other: &DatasetReport) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.hashes_fetched += other.hashes_fetched;
        self.rows_fetched += other.rows_fetched;
        self.round_trips += other.round_trips;
    }

    pub fn differences(&self) -> u64 {
        self.missing + self.extra + self.changed
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SampleDifference {
    pub kind: &'static str,
    pub key: String,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub in_sync: bool,
    pub datasets: Vec<DatasetReport>,
    pub elapsed_ms: u64,
    pub command: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Things the user should know that are not differences (a table only
    /// the target has, which is never dropped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Datasets are measurements and rows are points (words of the text
    /// summary only).
    #[serde(skip)]
    pub time_series: bool,
    /// Compare-and-repair passes made (more than one only with
    /// `--until-consistent`).
    #[serde(skip_serializing_if = "is_one")]
    pub passes: u32,
    /// A run over several databases (`--database`): each, and how it went.
    /// One that failed does not stop the others.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<DatabaseOutcome>,
}

/// One database (and policy) of a run over several.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DatabaseOutcome {
    /// As datasets are prefixed: `telegraf` or `telegraf/autogen`.
    pub name: String,
    /// Why it failed (one sentence), `None` when it was compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The exit code its failure calls for.
    #[serde(skip)]
    pub exit_code: u8,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl Report {
    /// The report of a finished run: in sync when no dataset has a
    /// difference left.
    pub fn finished(command: &'static str, dry_run: bool, datasets: Vec<DatasetReport>, notes: Vec<String>, time_series: bool, started: std::time::Instant) -> Report {
        Report {
            in_sync: datasets.iter().all(|r| r.remaining == 0),
            datasets,
            elapsed_ms: started.elapsed().as_millis() as u64,
            command,
            dry_run,
            notes,
            time_series,
            passes: 1,
            databases: Vec::new(),
        }
    }

    /// The exit code a failed database calls for (the first's), if any failed.
    pub fn failure_code(&self) -> Option<u8> {
        self.databases.iter().find(|d| d.error.is_some()).map(|d| d.exit_code)
    }
}

/// The report of `rangesync schema`.
#[derive(Clone, Debug, Serialize)]
pub struct SchemaReport {
    pub command: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    pub tables: Vec<TableAction>,
    /// What else the run did or left (foreign keys not created).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub elapsed_ms: u64,
}

/// What `schema` did with one table of the source.
#[derive(Clone, Debug, Serialize)]
pub struct TableAction {
    pub name: String,
    /// `created`, `would create` (dry run) or `exists` (left alone).
    pub action: &'static str,
    /// The statements run (or, in a dry run, that would run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<String>,
}
