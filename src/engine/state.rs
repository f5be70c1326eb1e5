//! The state store: an embedded SQLite file per profile holding the runs
//! made (with their reports), and the key ranges each `sync` pass finished,
//! so that a run killed at any moment (SIGKILL included) resumes where it
//! stopped instead of comparing those ranges again.
//!
//! One run of a profile at a time: a lock file beside the state store is
//! held (`flock`) for the whole run. The operating system releases it when
//! its process dies, however it dies, so a lock left by a dead process is
//! taken over at once; the file also says which process held it, for the
//! message a second run gets.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;

use super::error::EngineError;
use super::key::Key;
use super::range::{KeyRange, Lower};
use super::value::{decode_canonical, Value};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    -- running (or killed: never finished), done, failed
    status TEXT NOT NULL,
    -- the pass --until-consistent is in (1 otherwise)
    pass INTEGER NOT NULL DEFAULT 1,
    resumed INTEGER NOT NULL DEFAULT 0,
    report TEXT
);
CREATE TABLE IF NOT EXISTS finished_ranges (
    run INTEGER NOT NULL,
    pass INTEGER NOT NULL,
    dataset TEXT NOT NULL,
    -- 0: from the first key, 1: from lo included, 2: after lo
    lo_kind INTEGER NOT NULL,
    lo BLOB,
    -- NULL: to the last key
    hi BLOB,
    finished TEXT NOT NULL,
    -- differences the batch ending with this range left (kept extras)
    remaining INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS finished_ranges_by_run ON finished_ranges (run, pass, dataset);
CREATE TABLE IF NOT EXISTS series_progress (
    run INTEGER NOT NULL,
    pass INTEGER NOT NULL,
    dataset TEXT NOT NULL,
    -- every window before this instant (ns) is compared and repaired
    until INTEGER NOT NULL,
    PRIMARY KEY (run, pass, dataset)
);
-- `rangesync watch`: its latest cycles, as /api/runs shows them (JSON)
CREATE TABLE IF NOT EXISTS watch_cycles (
    id INTEGER PRIMARY KEY,
    cycle TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS watermarks (
    dataset TEXT NOT NULL,
    column_name TEXT NOT NULL,
    -- the canonical encoding of the value
    value BLOB NOT NULL,
    run INTEGER NOT NULL,
    PRIMARY KEY (dataset, column_name)
);
";

/// What a state store failure is reported as: the file is the user's
/// (`--state`, a profile's), so a problem with it is bad input.
fn failed(path: &Path, what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Usage(format!("state store {}: {what}: {e}", path.display()))
}

pub struct StateStore {
    pool: SqlitePool,
    path: PathBuf,
    /// Held while the run lasts; released by the OS if the process dies.
    _lock: File,
    /// This run made the file: a run refused before it recorded anything
    /// removes it again ([`StateStore::discard_if_unused`]).
    created: bool,
    pub run: i64,
    pass: std::sync::atomic::AtomicI64,
    /// The run was started before and did not finish: its finished ranges
    /// are skipped.
    pub resumed: bool,
}

impl StateStore {
    /// Takes the profile's lock and opens (creating it if needed) the state
    /// store; continues the last run of `command` if it did not finish.
    /// `command` says everything that decides what a range's comparison
    /// does (the command, the endpoints, deletes, filters, columns): a run
    /// with other settings never takes over another's finished ranges.
    pub async fn open(path: &Path, command: &str) -> Result<StateStore, EngineError> {
        let lock = take_lock(path)?;
        let created = !path.exists();
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A finished range is on disk before the next is begun.
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.map_err(|e| failed(path, "cannot be opened", e))?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(|e| failed(path, "cannot be set up", e))?;
        let unfinished = sqlx::query("SELECT id, pass FROM runs WHERE command = ? AND status <> 'done' ORDER BY id DESC LIMIT 1")
            .bind(command)
            .fetch_optional(&pool)
            .await
            .map_err(|e| failed(path, "cannot be read", e))?;
        let now = chrono::Utc::now().to_rfc3339();
        let (run, pass, resumed) = match unfinished {
            Some(row) => {
                let (run, pass): (i64, i64) = (row.get(0), row.get(1));
                sqlx::query("UPDATE runs SET status = 'running', resumed = resumed + 1 WHERE id = ?")
                    .bind(run)
                    .execute(&pool)
                    .await
                    .map_err(|e| failed(path, "cannot be written", e))?;
                tracing::info!(run, pass, "resuming an unfinished run from the state store");
                (run, pass, true)
            }
            None => {
                let done = sqlx::query("INSERT INTO runs (command, started, status) VALUES (?, ?, 'running')")
                    .bind(command)
                    .bind(&now)
                    .execute(&pool)
                    .await
                    .map_err(|e| failed(path, "cannot be written", e))?;
                (done.last_insert_rowid(), 1, false)
            }
        };
        Ok(StateStore { pool, path: path.to_path_buf(), _lock: lock, created, run, pass: pass.into(), resumed })
    }

    /// The ranges of `dataset` this pass finished before.
    pub async fn finished(&self, dataset: &str) -> Result<Vec<KeyRange>, EngineError> {
        let rows = sqlx::query("SELECT lo_kind, lo, hi FROM finished_ranges WHERE run = ? AND pass = ? AND dataset = ?")
            .bind(self.run)
            .bind(self.pass())
            .bind(dataset)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| failed(&self.path, "cannot be read", e))?;
        rows.iter()
            .map(|r| {
                let kind: i64 = r.get(0);
                let lo: Option<Vec<u8>> = r.get(1);
                let hi: Option<Vec<u8>> = r.get(2);
                let key = |b: Option<Vec<u8>>| b.map(|b| decode_key(&b).ok_or_else(|| failed(&self.path, "holds a range it cannot read", "bad key"))).transpose();
                let lo = match (kind, key(lo)?) {
                    (1, Some(k)) => Lower::Included(k),
                    (2, Some(k)) => Lower::Excluded(k),
                    _ => Lower::Unbounded,
                };
                Ok(KeyRange::new(lo, key(hi)?))
            })
            .collect()
    }

    /// Differences the finished ranges of `dataset` left (extras kept
    /// without `--delete`): a resumed run adds them to its own.
    pub async fn remaining(&self, dataset: &str) -> Result<u64, EngineError> {
        let row = sqlx::query("SELECT coalesce(sum(remaining), 0) FROM finished_ranges WHERE run = ? AND pass = ? AND dataset = ?")
            .bind(self.run)
            .bind(self.pass())
            .bind(dataset)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| failed(&self.path, "cannot be read", e))?;
        Ok(row.get::<i64, _>(0).max(0) as u64)
    }

    /// Records ranges as finished: compared, and everything differing in
    /// them written but `remaining` differences.
    pub async fn record(&self, dataset: &str, ranges: &[KeyRange], remaining: u64) -> Result<(), EngineError> {
        let now = chrono::Utc::now().to_rfc3339();
        let mut tx = self.pool.begin().await.map_err(|e| failed(&self.path, "cannot be written", e))?;
        for (i, r) in ranges.iter().enumerate() {
            let (kind, lo) = match &r.lo {
                Lower::Unbounded => (0, None),
                Lower::Included(k) => (1, Some(encode_key(k))),
                Lower::Excluded(k) => (2, Some(encode_key(k))),
            };
            sqlx::query("INSERT INTO finished_ranges (run, pass, dataset, lo_kind, lo, hi, finished, remaining) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(self.run)
                .bind(self.pass())
                .bind(dataset)
                .bind(kind)
                .bind(lo)
                .bind(r.hi.as_ref().map(encode_key))
                .bind(&now)
                .bind(if i == 0 { remaining as i64 } else { 0 })
                .execute(&mut *tx)
                .await
                .map_err(|e| failed(&self.path, "cannot be written", e))?;
        }
        tx.commit().await.map_err(|e| failed(&self.path, "cannot be written", e))
    }

    /// The pass of the run (`--until-consistent` makes more than one).
    pub fn pass(&self) -> i64 {
        self.pass.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How far a time-series sync of `dataset` got in this pass before it
    /// was killed (`None` unless the run is resumed).
    pub async fn series_until(&self, dataset: &str) -> Result<Option<i64>, EngineError> {
        if !self.resumed {
            return Ok(None);
        }
        let row = sqlx::query("SELECT until FROM series_progress WHERE run = ? AND pass = ? AND dataset = ?")
            .bind(self.run)
            .bind(self.pass())
            .bind(dataset)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| failed(&self.path, "cannot be read", e))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Records that every window of `dataset` before `until` is compared
    /// and repaired.
    pub async fn set_series_until(&self, dataset: &str, until: i64) -> Result<(), EngineError> {
        sqlx::query("INSERT INTO series_progress (run, pass, dataset, until) VALUES (?, ?, ?, ?) ON CONFLICT (run, pass, dataset) DO UPDATE SET until = max(until, excluded.until)")
            .bind(self.run)
            .bind(self.pass())
            .bind(dataset)
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(|e| failed(&self.path, "cannot be written", e))?;
        Ok(())
    }

    /// `--lite`'s watermark of a dataset's column: the source's largest
    /// value when the last run that finished it began.
    pub async fn watermark(&self, dataset: &str, column: &str) -> Result<Option<Value>, EngineError> {
        let row = sqlx::query("SELECT value FROM watermarks WHERE dataset = ? AND column_name = ?")
            .bind(dataset)
            .bind(column)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| failed(&self.path, "cannot be read", e))?;
        row.map(|r| {
            let bytes: Vec<u8> = r.get(0);
            decode_canonical(&bytes).map(|(v, _)| v).ok_or_else(|| failed(&self.path, "holds a watermark it cannot read", dataset))
        })
        .transpose()
    }

    /// Keeps a new watermark, once the dataset is repaired up to it.
    pub async fn set_watermark(&self, dataset: &str, column: &str, value: &Value) -> Result<(), EngineError> {
        let mut bytes = Vec::new();
        value.encode(&mut bytes);
        sqlx::query("INSERT INTO watermarks (dataset, column_name, value, run) VALUES (?, ?, ?, ?) ON CONFLICT (dataset, column_name) DO UPDATE SET value = excluded.value, run = excluded.run")
            .bind(dataset)
            .bind(column)
            .bind(bytes)
            .bind(self.run)
            .execute(&self.pool)
            .await
            .map_err(|e| failed(&self.path, "cannot be written", e))?;
        Ok(())
    }

    /// Another pass begins (`--until-consistent`): nothing of it is finished.
    pub async fn next_pass(&self) -> Result<(), EngineError> {
        let pass = self.pass.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        sqlx::query("UPDATE runs SET pass = ? WHERE id = ?")
            .bind(pass)
            .bind(self.run)
            .execute(&self.pool)
            .await
            .map_err(|e| failed(&self.path, "cannot be written", e))?;
        Ok(())
    }

    /// A run refused for bad input leaves nothing behind, as if it had not
    /// started: when this run created the store and recorded nothing in
    /// it (no finished range, no series progress, no watermark), the store
    /// is closed and removed with its lock and SQLite's -wal/-shm files.
    /// Returns whether it was; a store holding progress is kept for the
    /// next run to resume.
    pub async fn discard_if_unused(&self) -> bool {
        if !self.created {
            return false;
        }
        let recorded = sqlx::query(
            "SELECT (SELECT count(*) FROM finished_ranges WHERE run = ?1) + (SELECT count(*) FROM series_progress WHERE run = ?1) \
             + (SELECT count(*) FROM watermarks WHERE run = ?1) + (SELECT count(*) FROM watch_cycles)",
        )
        .bind(self.run)
        .fetch_one(&self.pool)
        .await
        .map(|row| row.get::<i64, _>(0));
        if !matches!(recorded, Ok(0)) {
            return false;
        }
        self.pool.close().await;
        let path = self.path.display().to_string();
        // The lock file goes last, still held: a run that opened it
        // meanwhile finds it unlinked once it gets the lock, and takes
        // the lock of a new file instead (see take_lock).
        for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm"), format!("{path}.lock")] {
            let _ = std::fs::remove_file(file);
        }
        true
    }

    /// Keeps a watch cycle (as JSON), and the latest `keep` of them only.
    pub async fn record_cycle(&self, cycle: &str, keep: usize) -> Result<(), EngineError> {
        sqlx::query("INSERT INTO watch_cycles (cycle) VALUES (?)").bind(cycle).execute(&self.pool).await.map_err(|e| failed(&self.path, "cannot be written", e))?;
        sqlx::query("DELETE FROM watch_cycles WHERE id <= (SELECT max(id) FROM watch_cycles) - ?")
            .bind(keep as i64)
            .execute(&self.pool)
            .await
            .map_err(|e| failed(&self.path, "cannot be written", e))?;
        Ok(())
    }

    /// The latest `keep` watch cycles kept, oldest first.
    pub async fn cycles(&self, keep: usize) -> Result<Vec<String>, EngineError> {
        let rows = sqlx::query("SELECT cycle FROM (SELECT id, cycle FROM watch_cycles ORDER BY id DESC LIMIT ?) ORDER BY id")
            .bind(keep as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| failed(&self.path, "cannot be read", e))?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    /// Closes the run with its outcome: `done` (its report kept) or `failed`
    /// (resumed by the next run).
    pub async fn finish(&self, report: Option<&str>) -> Result<(), EngineError> {
        sqlx::query("UPDATE runs SET status = ?, finished = ?, report = ? WHERE id = ?")
            .bind(if report.is_some() { "done" } else { "failed" })
            .bind(chrono::Utc::now().to_rfc3339())
            .bind(report)
            .bind(self.run)
            .execute(&self.pool)
            .await
            .map_err(|e| failed(&self.path, "cannot be written", e))?;
        self.pool.close().await;
        // Released as the process ends; emptied so the next run has no
        // holder to take over.
        let _ = self._lock.set_len(0);
        Ok(())
    }
}

/// A run's checkpoints for one dataset, as the comparison sees them.
#[async_trait]
pub trait Checkpoint: Send + Sync {
    /// Ranges finished before (by a run that was killed): skipped.
    fn finished(&self) -> &[KeyRange];
    /// Differences those ranges left, added to the report once they are
    /// skipped.
    fn remaining(&self) -> u64;
    /// Records ranges as finished, leaving `remaining` differences.
    async fn record(&self, ranges: &[KeyRange], remaining: u64) -> Result<(), EngineError>;
}

/// A time-series dataset's progress in a [`StateStore`].
pub struct SeriesState {
    pub store: Arc<StateStore>,
    pub dataset: String,
}

#[async_trait]
impl super::series::diff::Progressed for SeriesState {
    async fn finished_until(&self, until: i64) -> Result<(), EngineError> {
        self.store.set_series_until(&self.dataset, until).await
    }
}

/// [`Checkpoint`] of one dataset in a [`StateStore`].
pub struct DatasetState {
    pub store: Arc<StateStore>,
    pub dataset: String,
    pub finished: Vec<KeyRange>,
    pub remaining: u64,
}

impl DatasetState {
    pub async fn load(store: Arc<StateStore>, dataset: &str) -> Result<DatasetState, EngineError> {
        let (finished, remaining) = match store.resumed {
            true => (store.finished(dataset).await?, store.remaining(dataset).await?),
            false => (Vec::new(), 0),
        };
        Ok(DatasetState { store, dataset: dataset.to_string(), finished, remaining })
    }
}

#[async_trait]
impl Checkpoint for DatasetState {
    fn finished(&self) -> &[KeyRange] {
        &self.finished
    }

    fn remaining(&self) -> u64 {
        self.remaining
    }

    async fn record(&self, ranges: &[KeyRange], remaining: u64) -> Result<(), EngineError> {
        self.store.record(&self.dataset, ranges, remaining).await
    }
}

/// Whether `range` lies inside one of `finished`.
pub fn is_finished(range: &KeyRange, finished: &[KeyRange]) -> bool {
    finished.iter().any(|f| {
        let lo_inside = match (&f.lo, &range.lo) {
            (Lower::Unbounded, _) => true,
            (_, Lower::Unbounded) => false,
            (Lower::Included(a), Lower::Included(b) | Lower::Excluded(b)) => a <= b,
            (Lower::Excluded(a), Lower::Excluded(b)) => a <= b,
            (Lower::Excluded(a), Lower::Included(b)) => a < b,
        };
        let hi_inside = match (&f.hi, &range.hi) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => b <= a,
        };
        lo_inside && hi_inside
    })
}

fn encode_key(k: &Key) -> Vec<u8> {
    let mut out = Vec::new();
    for v in &k.0 {
        v.encode(&mut out);
    }
    out
}

fn decode_key(mut b: &[u8]) -> Option<Key> {
    let mut values = Vec::new();
    while !b.is_empty() {
        let (v, used) = decode_canonical(b)?;
        values.push(v);
        b = &b[used..];
    }
    Some(Key(values))
}

/// The lock beside the state store (`STATE.lock`), with the holder's pid
/// and start time written in it.
fn take_lock(state: &Path) -> Result<File, EngineError> {
    let path = PathBuf::from(format!("{}.lock", state.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| failed(state, "its lock's directory cannot be created", e))?;
    }
    loop {
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| failed(state, "its lock cannot be opened", e))?;
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim().to_string();
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let who = if holder.is_empty() { "another process".to_string() } else { holder };
                return Err(EngineError::SafetyLimit(format!(
                    "another run of this profile is going on ({who}); it holds {}. Wait for it to finish",
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(failed(state, "its lock cannot be taken", e)),
        }
        // A run that discarded its store removed this file while holding
        // it: a lock on the unlinked file guards nothing, so the lock of
        // the file now at the path is taken instead.
        if !same_file(&file, &path) {
            continue;
        }
        if !holder.is_empty() {
            // The lock was free: whoever wrote this is gone (killed, crashed).
            tracing::warn!("took over the lock of {}: {holder} is no longer running", path.display());
        }
        let me = format!("pid {} since {}", std::process::id(), chrono::Utc::now().to_rfc3339());
        let _ = file.set_len(0).and_then(|_| file.rewind()).and_then(|_| file.write_all(me.as_bytes())).and_then(|_| file.sync_all());
        return Ok(file);
    }
}

/// `file` is the one `path` names now (not unlinked or replaced).
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: i64, s: &str) -> Key {
        Key(vec![Value::Int(i), Value::Text(s.into())])
    }

    #[test]
    fn a_range_inside_a_finished_one_is_finished() {
        let f = vec![KeyRange::new(Lower::Included(key(1, "a")), Some(key(5, "")))];
        assert!(is_finished(&KeyRange::new(Lower::Included(key(1, "a")), Some(key(5, ""))), &f));
        assert!(is_finished(&KeyRange::new(Lower::Excluded(key(2, "x")), Some(key(3, ""))), &f));
        assert!(!is_finished(&KeyRange::new(Lower::Included(key(0, "z")), Some(key(3, ""))), &f));
        assert!(!is_finished(&KeyRange::new(Lower::Included(key(2, "a")), None), &f));
        assert!(!is_finished(&KeyRange::full(), &f));
        assert!(is_finished(&KeyRange::new(Lower::Included(key(9, "")), None), &[KeyRange::new(Lower::Excluded(key(8, "")), None)]));
        assert_eq!(decode_key(&encode_key(&key(-7, "ü"))), Some(key(-7, "ü")));
    }

    #[tokio::test]
    async fn runs_resume_until_done_and_one_holds_the_lock() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("p.state");
        let first = StateStore::open(&path, "sync").await.unwrap();
        assert!(!first.resumed);
        let r = KeyRange::new(Lower::Included(key(1, "a")), Some(key(2, "b")));
        first.record("t", std::slice::from_ref(&r), 2).await.unwrap();
        let busy = StateStore::open(&path, "sync").await.err().unwrap();
        assert!(busy.to_string().contains("another run of this profile is going on (pid"), "{busy}");
        assert_eq!(busy.exit_code(), 4);
        drop(first); // killed: never finished
        let second = StateStore::open(&path, "sync").await.unwrap();
        assert!(second.resumed);
        assert_eq!(second.finished("t").await.unwrap(), vec![r]);
        assert_eq!(second.remaining("t").await.unwrap(), 2);
        assert_eq!(second.watermark("t", "updated_at").await.unwrap(), None);
        second.set_watermark("t", "updated_at", &Value::Text("2024-06-01 12:00:00".into())).await.unwrap();
        second.set_watermark("t", "updated_at", &Value::Int(7)).await.unwrap();
        assert_eq!(second.watermark("t", "updated_at").await.unwrap(), Some(Value::Int(7)));
        second.finish(Some("{}")).await.unwrap();
        drop(second);
        let third = StateStore::open(&path, "sync").await.unwrap();
        assert!(!third.resumed, "a finished run is not resumed");
        assert!(std::fs::read_to_string(dir.path().join("p.state.lock")).unwrap().starts_with("pid "));
        third.finish(None).await.unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("p.state.lock")).unwrap(), "", "a finished run leaves no holder");
        drop(third);
        let other = StateStore::open(&path, "sync --delete").await.unwrap();
        assert!(!other.resumed, "a failed run is resumed only by a run of the same settings");
        drop(other);
        assert!(StateStore::open(&path, "sync").await.unwrap().resumed);
    }

    #[tokio::test]
    async fn only_a_store_this_run_created_and_left_empty_is_discarded() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("p.state");
        let fresh = StateStore::open(&path, "sync").await.unwrap();
        assert!(fresh.discard_if_unused().await);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "a refused run leaves no file: {left:?}");

        let working = StateStore::open(&path, "sync").await.unwrap();
        working.record("t", &[KeyRange::full()], 0).await.unwrap();
        assert!(!working.discard_if_unused().await, "progress of this run is kept for the next");
        working.finish(None).await.unwrap();
        drop(working);
        let again = StateStore::open(&path, "sync").await.unwrap();
        assert!(again.resumed);
        assert!(!again.discard_if_unused().await, "a store an earlier run made is never removed");
        assert!(path.exists());
    }

    #[tokio::test]
    async fn a_lock_file_unlinked_by_its_holder_is_not_taken() {
        let dir = tempfile::TempDir::new().unwrap();
        let state = dir.path().join("p.state");
        let lock = dir.path().join("p.state.lock");
        let holder = take_lock(&state).unwrap();
        // A second run opened the file before the holder removed it...
        let opened_early = OpenOptions::new().read(true).write(true).open(&lock).unwrap();
        std::fs::remove_file(&lock).unwrap();
        drop(holder);
        // ...and gets its (now free) lock: it guards nothing any more.
        assert!(opened_early.try_lock().is_ok());
        assert!(!same_file(&opened_early, &lock));
        // take_lock goes to the file now at the path, which a third run
        // then finds held.
        let taken = take_lock(&state).unwrap();
        assert!(same_file(&taken, &lock));
        assert_eq!(take_lock(&state).err().unwrap().exit_code(), 4);
    }
}
