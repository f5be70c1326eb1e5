//! One consistent snapshot per pass: while a pass runs, every read of a
//! server dataset goes through one connection holding a read-only
//! REPEATABLE READ transaction, so a comparison never sees half of a
//! concurrent writer's work (a row moved from one range to another counted
//! twice, a row counted in neither). Writes, and the reads that must see
//! them, go through the pool outside the snapshot.
//!
//! One connection rather than PostgreSQL's exported snapshots shared by a
//! pool: the engine reads each side one statement at a time (streams are
//! read in pages, each a statement), and MySQL has no way to share a
//! snapshot between connections.

use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::Mutex;

use super::pool::{is_transient, my_text, pg_text, read_error, ServerPool, TextRow};
use super::Params;
use crate::engine::store::StoreResult;

enum Held {
    Postgres(PgConnection),
    Mysql(MySqlConnection),
}

#[derive(Default)]
struct State {
    /// Between `begin` and `end`: reads belong in a snapshot.
    in_pass: bool,
    /// `None` in a pass only after the snapshot's connection failed: the
    /// next read opens a new snapshot.
    held: Option<Held>,
}

/// The reads of one dataset: in the pass's snapshot when a pass is open,
/// otherwise through the pool.
pub struct SnapshotReads {
    pool: ServerPool,
    what: String,
    state: Mutex<State>,
}

impl SnapshotReads {
    pub fn new(pool: ServerPool, what: String) -> Self {
        SnapshotReads { pool, what, state: Mutex::new(State::default()) }
    }

    /// Starts the pass's snapshot.
    pub async fn begin(&self) -> StoreResult<()> {
        let mut state = self.state.lock().await;
        state.held = Some(self.open().await?);
        state.in_pass = true;
        Ok(())
    }

    /// Ends the pass: the read-only transaction is committed and its
    /// connection closed (never returned to the pool, where a write would
    /// land inside it).
    pub async fn end(&self) {
        let mut state = self.state.lock().await;
        state.in_pass = false;
        let outcome = match state.held.take() {
            Some(Held::Postgres(mut c)) => run_pg(&mut c, "COMMIT").await.and(c.close().await),
            Some(Held::Mysql(mut c)) => run_my(&mut c, "COMMIT").await.and(c.close().await),
            None => Ok(()),
        };
        if let Err(e) = outcome {
            // Nothing was written in it; the server rolls it back.
            tracing::debug!("{}: closing the snapshot: {e}", self.what);
        }
    }

    async fn open(&self) -> StoreResult<Held> {
        let failed = |e| read_error(&format!("{} (starting a consistent snapshot)", self.what), e);
        Ok(match &self.pool {
            ServerPool::Postgres(pool) => {
                let mut c = pool.acquire().await.map_err(failed)?.detach();
                // PostgreSQL takes the snapshot at the first statement, not
                // at BEGIN: one is run now, so both sides' snapshots date
                // from the start of the pass.
                run_pg(&mut c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1").await.map_err(failed)?;
                Held::Postgres(c)
            }
            ServerPool::Mysql(pool) => {
                let mut c = pool.acquire().await.map_err(failed)?.detach();
                // WITH CONSISTENT SNAPSHOT holds only at REPEATABLE READ,
                // whatever the server's default level.
                run_my(&mut c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .await
                    .map_err(failed)?;
                Held::Mysql(c)
            }
        })
    }

    pub async fn fetch_text(&self, sql: String, params: Params, what: &str) -> StoreResult<Vec<TextRow>> {
        let mut state = self.state.lock().await;
        if !state.in_pass {
            drop(state);
            return self.pool.fetch_text(sql, params, what).await;
        }
        let held = self.held(&mut state).await?;
        let result = match held {
            Held::Postgres(c) => bound!(sql, params).fetch_all(&mut *c).await.map(|rows| rows.iter().map(pg_text).collect()),
            Held::Mysql(c) => bound!(sql, params).fetch_all(&mut *c).await.map(|rows| rows.iter().map(my_text).collect()),
        };
        result.unwrap_or_else(|e| Err(self.lost(&mut state, what, e)))
    }

    /// The snapshot's connection, opening a new snapshot if the last one
    /// was lost.
    async fn held<'s>(&self, state: &'s mut State) -> StoreResult<&'s mut Held> {
        if state.held.is_none() {
            state.held = Some(self.open().await?);
        }
        Ok(state.held.as_mut().expect("just opened"))
    }

    /// A failed read: a connection that broke (a restart, an idle-in-
    /// transaction timeout) takes its snapshot with it, and the retry reads
    /// in a new one. An SQL error leaves PostgreSQL's transaction aborted,
    /// so that snapshot is dropped too.
    fn lost(&self, state: &mut State, what: &str, e: sqlx::Error) -> crate::engine::error::StoreError {
        if is_transient(&e) {
            tracing::warn!("{}: the consistent snapshot was lost ({e}); reads go on in a new one", self.what);
        }
        state.held = None;
        read_error(what, e)
    }
}

async fn run_pg(c: &mut PgConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(c).await.map(|_| ())
}

async fn run_my(c: &mut MySqlConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(c).await.map(|_| ())
}
