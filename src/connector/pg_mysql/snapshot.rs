//! One consistent snapshot per pass: while a pass runs, every read of a
//! server dataset goes through connections holding a read-only
//! REPEATABLE READ transaction in one snapshot, so a comparison never sees
//! half of a concurrent writer's work (a row moved from one range to
//! another counted twice, a row counted in neither). Writes, and the reads
//! that must see them, go through the pool outside the snapshot.
//!
//! A pass reads through one connection, or through `readers` of them
//! (`--jobs`) sharing the snapshot:
//! - PostgreSQL: the first connection exports its snapshot
//!   (`pg_export_snapshot()`) and the others import it (`SET TRANSACTION
//!   SNAPSHOT`), so every reader sees exactly the same rows;
//! - MySQL/MariaDB cannot share a snapshot between connections. The
//!   readers start their snapshots together while another connection holds
//!   `LOCK TABLES <table> READ` (no write to the table commits in between,
//!   as mydumper does with a global lock); where the lock is refused (no
//!   privilege, a writer holding the table longer than 10 s, a query read
//!   in place of a table) each reader's snapshot is its own, a few
//!   milliseconds apart, and a warning says so.
//!
//! Connections outlive a pass: the transaction is committed and the
//! connection kept for the next pass (a sync ends and begins the target's
//! pass around every batch it writes; a new connection each time cost more
//! than the batch's statements). They are never returned to the pool, so a
//! write never lands in a read-only transaction.

use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::{Mutex, Semaphore};

use super::pool::{self, is_transient, my_text, pg_text, read_error, ServerPool, TextRow};
use super::Params;
use crate::engine::store::StoreResult;

enum Held {
    Postgres(PgConnection),
    Mysql(MySqlConnection),
}

/// Most readers of one pass.
pub const MAX_READERS: usize = 64;

#[derive(Default)]
struct State {
    /// Between `begin` and `end`: reads belong in a snapshot.
    in_pass: bool,
    /// Connections of the pass's snapshot not reading now.
    idle: Vec<Held>,
    /// The PostgreSQL snapshot other readers import.
    exported: Option<String>,
    /// Bumped when a snapshot is lost or a pass ends: a connection coming
    /// back from a read of an older generation is not reused in this pass.
    generation: u64,
    /// Committed connections kept for the next pass.
    spare: Vec<Held>,
}

/// The reads of one dataset: in the pass's snapshot when a pass is open,
/// otherwise through the pool.
pub struct SnapshotReads {
    pool: ServerPool,
    what: String,
    /// The table a MySQL pass locks while its readers start their
    /// snapshots (`None` for a query read in place of a table).
    table: Option<String>,
    state: Mutex<State>,
    /// One permit per reader of the pass.
    readers: Semaphore,
    /// Readers of the current pass.
    wanted: std::sync::atomic::AtomicUsize,
}

impl SnapshotReads {
    pub fn new(pool: ServerPool, what: String, table: Option<String>) -> Self {
        SnapshotReads {
            pool,
            what,
            table,
            state: Mutex::new(State::default()),
            readers: Semaphore::new(0),
            wanted: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Starts the pass's snapshot, read by up to `readers` connections at once.
    pub async fn begin(&self, readers: usize) -> StoreResult<()> {
        let readers = readers.clamp(1, MAX_READERS);
        let mut state = self.state.lock().await;
        state.generation += 1;
        state.exported = None;
        self.open_set(&mut state, readers).await?;
        state.in_pass = true;
        self.wanted.store(readers, std::sync::atomic::Ordering::SeqCst);
        // Permits of a pass begun again without an end are dropped first.
        let left = self.readers.available_permits();
        if let Ok(old) = self.readers.try_acquire_many(left as u32) {
            old.forget();
        }
        self.readers.add_permits(readers);
        Ok(())
    }

    /// Ends the pass: waits for reads in flight, commits the read-only
    /// transactions and keeps their connections for the next pass.
    pub async fn end(&self) {
        let wanted = self.wanted.swap(0, std::sync::atomic::Ordering::SeqCst);
        if let Ok(all) = self.readers.acquire_many(wanted as u32).await {
            all.forget();
        }
        let mut state = self.state.lock().await;
        state.in_pass = false;
        state.generation += 1;
        state.exported = None;
        let idle = std::mem::take(&mut state.idle);
        for mut c in idle {
            let committed = match &mut c {
                Held::Postgres(c) => run_pg(c, "COMMIT").await,
                Held::Mysql(c) => run_my(c, "COMMIT").await,
            };
            match committed {
                Ok(()) => state.spare.push(c),
                // Nothing was written in it; the server rolls it back.
                Err(e) => tracing::debug!("{}: closing the snapshot: {e}", self.what),
            }
        }
    }

    /// Opens the first `readers` connections of a snapshot: on PostgreSQL
    /// one (the others import its snapshot when first needed); on MySQL all
    /// of them, together.
    async fn open_set(&self, state: &mut State, readers: usize) -> StoreResult<()> {
        match &self.pool {
            ServerPool::Postgres(_) => {
                let c = self.open_pg(state, None, readers > 1).await?;
                state.idle.push(c);
            }
            ServerPool::Mysql(pool) => {
                let lock = match (readers > 1, &self.table) {
                    (true, Some(table)) => match lock_table(pool, table).await {
                        Ok(lock) => Some(lock),
                        Err(e) => {
                            tracing::warn!(
                                "{}: cannot lock the table while {readers} readers start their snapshots ({}); each reader's snapshot is its own",
                                self.what,
                                pool::reason(&e)
                            );
                            None
                        }
                    },
                    (true, None) => {
                        tracing::warn!("{}: a query read by {readers} readers: each reader's snapshot is its own", self.what);
                        None
                    }
                    _ => None,
                };
                let mut opened = Vec::with_capacity(readers);
                let mut failure = None;
                for _ in 0..readers {
                    match self.open_my(state).await {
                        Ok(c) => opened.push(c),
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                if let Some(mut lock) = lock {
                    let _ = run_my(&mut lock, "UNLOCK TABLES").await;
                    let _ = lock.close().await;
                }
                if let Some(e) = failure {
                    return Err(e);
                }
                state.idle.extend(opened);
            }
        }
        Ok(())
    }

    /// A PostgreSQL connection in a new read-only snapshot, or in the
    /// `imported` one; exports its snapshot when asked.
    async fn open_pg(&self, state: &mut State, imported: Option<&str>, export: bool) -> StoreResult<Held> {
        let failed = |e| read_error(&format!("{} (starting a consistent snapshot)", self.what), e);
        let mut c = match state.spare.pop() {
            Some(Held::Postgres(c)) => c,
            _ => match &self.pool {
                ServerPool::Postgres(pool) => pool::acquire(pool).await.map_err(failed)?.detach(),
                ServerPool::Mysql(_) => unreachable!("a PostgreSQL snapshot on a MySQL pool"),
            },
        };
        match imported {
            Some(id) => {
                run_pg(&mut c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(failed)?;
                let set = format!("SET TRANSACTION SNAPSHOT '{}'", id.replace('\'', "''"));
                sqlx::raw_sql(AssertSqlSafe(set)).execute(&mut c).await.map_err(failed)?;
            }
            // PostgreSQL takes the snapshot at the first statement, not at
            // BEGIN: one is run now, so both sides' snapshots date from the
            // start of the pass.
            None if export => {
                run_pg(&mut c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(failed)?;
                let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()").fetch_one(&mut c).await.map_err(failed)?;
                state.exported = Some(id);
            }
            None => run_pg(&mut c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1").await.map_err(failed)?,
        }
        Ok(Held::Postgres(c))
    }

    async fn open_my(&self, state: &mut State) -> StoreResult<Held> {
        let failed = |e| read_error(&format!("{} (starting a consistent snapshot)", self.what), e);
        let mut c = match state.spare.pop() {
            Some(Held::Mysql(c)) => c,
            _ => match &self.pool {
                ServerPool::Mysql(pool) => pool::acquire(pool).await.map_err(failed)?.detach(),
                ServerPool::Postgres(_) => unreachable!("a MySQL snapshot on a PostgreSQL pool"),
            },
        };
        // WITH CONSISTENT SNAPSHOT holds only at REPEATABLE READ, whatever
        // the server's default level.
        run_my(&mut c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await
            .map_err(failed)?;
        Ok(Held::Mysql(c))
    }

    pub async fn fetch_text(&self, sql: String, params: Params, what: &str) -> StoreResult<Vec<TextRow>> {
        if !self.state.lock().await.in_pass {
            return self.pool.fetch_text(sql, params, what).await;
        }
        let Ok(_permit) = self.readers.acquire().await else {
            unreachable!("the readers' semaphore is never closed")
        };
        // The pass may have ended while this read waited for a reader.
        let Some((mut held, generation)) = self.take().await? else {
            return self.pool.fetch_text(sql, params, what).await;
        };
        let result = match &mut held {
            Held::Postgres(c) => bound!(sql, params).fetch_all(&mut *c).await.map(|rows| rows.iter().map(pg_text).collect()),
            Held::Mysql(c) => bound!(sql, params).fetch_all(&mut *c).await.map(|rows| rows.iter().map(my_text).collect()),
        };
        let mut state = self.state.lock().await;
        match result {
            Ok(rows) => {
                if state.generation == generation {
                    state.idle.push(held);
                }
                rows
            }
            Err(e) => Err(self.lost(&mut state, generation, what, e)),
        }
    }

    /// The whole output of a PostgreSQL `COPY ... TO STDOUT`, read in the
    /// pass's snapshot (through the pool outside a pass).
    pub async fn copy_out(&self, sql: &str, what: &str) -> StoreResult<Vec<u8>> {
        use futures_util::TryStreamExt;
        async fn drain(c: &mut PgConnection, sql: &str) -> Result<Vec<u8>, sqlx::Error> {
            let mut out = Vec::new();
            let mut stream = c.copy_out_raw(sql).await?;
            while let Some(chunk) = stream.try_next().await? {
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        }
        let ServerPool::Postgres(pool) = &self.pool else {
            return Err(crate::engine::error::StoreError::Invalid(format!("{what}: COPY is PostgreSQL's")));
        };
        if !self.state.lock().await.in_pass {
            let mut c = pool::acquire(pool).await.map_err(|e| read_error(what, e))?;
            return drain(&mut c, sql).await.map_err(|e| read_error(what, e));
        }
        let Ok(_permit) = self.readers.acquire().await else {
            unreachable!("the readers' semaphore is never closed")
        };
        let Some((mut held, generation)) = self.take().await? else {
            let mut c = pool::acquire(pool).await.map_err(|e| read_error(what, e))?;
            return drain(&mut c, sql).await.map_err(|e| read_error(what, e));
        };
        let result = match &mut held {
            Held::Postgres(c) => drain(c, sql).await,
            Held::Mysql(_) => unreachable!("a MySQL snapshot on a PostgreSQL pool"),
        };
        let mut state = self.state.lock().await;
        match result {
            Ok(data) => {
                if state.generation == generation {
                    state.idle.push(held);
                }
                Ok(data)
            }
            Err(e) => Err(self.lost(&mut state, generation, what, e)),
        }
    }

    /// A connection of the pass's snapshot (`None` once the pass ended),
    /// opening one if none is idle:
    /// a PostgreSQL reader importing the exported snapshot, or a new
    /// snapshot after the last one was lost.
    async fn take(&self) -> StoreResult<Option<(Held, u64)>> {
        let mut state = self.state.lock().await;
        if !state.in_pass {
            return Ok(None);
        }
        let generation = state.generation;
        if let Some(c) = state.idle.pop() {
            return Ok(Some((c, generation)));
        }
        let held = match (&self.pool, state.exported.clone()) {
            (ServerPool::Postgres(_), Some(id)) => self.open_pg(&mut state, Some(&id), false).await?,
            (ServerPool::Postgres(_), None) => {
                let export = self.wanted.load(std::sync::atomic::Ordering::SeqCst) > 1;
                self.open_pg(&mut state, None, export).await?
            }
            (ServerPool::Mysql(_), _) => self.open_my(&mut state).await?,
        };
        Ok(Some((held, generation)))
    }

    /// A failed read: a connection that broke (a restart, an idle-in-
    /// transaction timeout) takes its snapshot with it, and the retry reads
    /// in a new one. An SQL error leaves PostgreSQL's transaction aborted,
    /// so that snapshot is dropped too (with the other readers' connections
    /// as they come back).
    fn lost(&self, state: &mut State, generation: u64, what: &str, e: sqlx::Error) -> crate::engine::error::StoreError {
        if is_transient(&e) {
            // Shown with -v, beside the retries: a run that recovers reads
            // on in a new snapshot, one that does not ends with the cause.
            tracing::info!("{}: the consistent snapshot was lost ({e}); reads go on in a new one", self.what);
        }
        if state.generation == generation {
            state.generation += 1;
            state.idle.clear();
            state.exported = None;
            }
        read_error(what, e)
    }
}

/// A connection holding `LOCK TABLES <table> READ`, waiting at most 10 s
/// for writers that hold the table.
async fn lock_table(pool: &sqlx::MySqlPool, table: &str) -> Result<MySqlConnection, sqlx::Error> {
    let mut c = pool::acquire(pool).await?.detach();
    sqlx::raw_sql(AssertSqlSafe(format!("SET SESSION lock_wait_timeout = 10; LOCK TABLES {table} READ"))).execute(&mut c).await?;
    Ok(c)
}

async fn run_pg(c: &mut PgConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(c).await.map(|_| ())
}

async fn run_my(c: &mut MySqlConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(c).await.map(|_| ())
}
