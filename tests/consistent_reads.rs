//! Consistent reads against the real servers: each side of a pass is read
//! in one snapshot while writers commit, rows a writer changed after the
//! snapshot are counted, and the next pass settles them. Checked with the
//! servers' own rendering of the rows, not only with rangesync's diff.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt};

use common::{my, pg, rangesync};
use rangesync::connector::{self, Access, Endpoint};
use rangesync::engine::apply::{Applier, WriteGuard};
use rangesync::engine::diff::{self, DiffOptions};
use rangesync::engine::progress::NoProgress;
use rangesync::engine::store::{BulkRows, Dataset, Projection, Row, Store, StoreResult};
use rangesync::engine::{Fingerprint, Key, KeyRange, RowHash, Value};

#[derive(Clone, Copy, Debug)]
enum Engine {
    Pg,
    My,
}

impl Engine {
    async fn fresh_db(self, name: &str) -> String {
        match self {
            Engine::Pg => pg::fresh_db(name).await,
            Engine::My => my::fresh_db(name).await,
        }
    }

    async fn exec(self, url: &str, sql: &str) {
        match self {
            Engine::Pg => pg::exec(url, sql).await,
            Engine::My => my::exec(url, sql).await,
        }
    }

    /// Table `live` with ids 1..=n and values `v<id>`.
    fn fill(self, n: u32) -> String {
        match self {
            Engine::Pg => format!(
                "CREATE TABLE live (id int8 PRIMARY KEY, v varchar(40)); \
                 INSERT INTO live SELECT g, 'v' || g FROM generate_series(1, {n}) g;"
            ),
            Engine::My => format!(
                "CREATE TABLE live (id bigint PRIMARY KEY, v varchar(40)); \
                 INSERT INTO live SELECT seq, concat('v', seq) FROM seq_1_to_{n};"
            ),
        }
    }

    /// `live` as the server renders it, in key order.
    async fn rows(self, url: &str) -> Vec<String> {
        match self {
            Engine::Pg => pg::rows_as_text(url, "live", "id").await,
            Engine::My => my::rows_as_text(url, "live", &["id", "v"], "id").await,
        }
    }
}

async fn open(url: &str, access: Access) -> Box<dyn Store> {
    connector::open(&Endpoint::parse(url).unwrap(), access).await.unwrap()
}

async fn live_dataset(store: &dyn Store) -> Box<dyn Dataset> {
    let schema = store.table_schema("live").await.unwrap().unwrap();
    let projection = Projection {
        table: "live".into(),
        columns: schema.columns.iter().map(|c| c.name.clone()).collect(),
        key: schema.key.clone(),
        hash: rangesync::engine::fingerprint::HashScheme::Md5,
        filter: None,
        since: None,
        query: None,
    };
    store.dataset(&projection).await.unwrap()
}

fn id(n: i64) -> Key {
    Key(vec![Value::Int(n)])
}

async fn pairs(ds: &dyn Dataset) -> Vec<(Key, RowHash)> {
    let full = KeyRange::full();
    ds.row_hashes(&full).map(|p| p.unwrap()).collect().await
}

async fn snapshot_holds_while_a_writer_commits(engine: Engine, db: &str) {
    let url = engine.fresh_db(db).await;
    engine.exec(&url, &engine.fill(1000)).await;
    let store = open(&url, Access::Read).await;
    let ds = live_dataset(store.as_ref()).await;
    let full = [KeyRange::full()];
    let whole = KeyRange::full();
    let cuts = [id(250), id(500), id(750)];

    ds.begin_pass(1).await.unwrap();
    let before = (ds.fingerprints(&full).await.unwrap(), ds.bucket_fingerprints(&whole, &cuts).await.unwrap(), pairs(ds.as_ref()).await);
    let splits = ds.split(&full, 100).await.unwrap();
    // Another connection commits an update, a delete and an insert (with
    // the snapshot open: a writer is never blocked by a pass).
    engine.exec(&url, "UPDATE live SET v = 'changed' WHERE id = 5; DELETE FROM live WHERE id = 10; INSERT INTO live VALUES (5000, 'new');").await;
    let during = (ds.fingerprints(&full).await.unwrap(), ds.bucket_fingerprints(&whole, &cuts).await.unwrap(), pairs(ds.as_ref()).await);
    assert!(before == during, "{engine:?}: the pass saw a write committed after its snapshot");
    assert_eq!(ds.split(&full, 100).await.unwrap(), splits);
    assert_eq!(during.0[0].count, 1000);
    let old = ds.fetch_rows(&[id(5), id(10), id(5000)]).await.unwrap();
    assert_eq!(old.len(), 2, "{engine:?}: rows are fetched from the snapshot");
    assert!(old.iter().any(|r| r[1] == Value::Text("v5".into())), "{engine:?}: {old:?}");

    // Outside the snapshot: the latest committed rows.
    let now = ds.fetch_current_rows(&[id(5), id(10), id(5000)]).await.unwrap();
    assert_eq!(now.len(), 2);
    assert!(now.iter().any(|r| r[1] == Value::Text("changed".into())), "{engine:?}: {now:?}");
    let hashes = ds.current_row_hashes(&[id(5), id(10), id(5000), id(6)]).await.unwrap();
    let keys: Vec<&Key> = hashes.iter().map(|(k, _)| k).collect();
    assert_eq!(hashes.len(), 3, "{engine:?}: {keys:?}");
    let snapshot_hash = |k: &Key| before.2.iter().find(|(key, _)| key == k).map(|(_, h)| *h);
    for (k, h) in &hashes {
        match &k.0[0] {
            Value::Int(6) => assert_eq!(Some(*h), snapshot_hash(k), "{engine:?}: an unchanged row hashes the same"),
            Value::Int(5) => assert_ne!(Some(*h), snapshot_hash(k)),
            Value::Int(5000) => assert_eq!(snapshot_hash(k), None),
            other => panic!("{engine:?}: unexpected key {other:?}"),
        }
    }
    ds.end_pass().await;

    // A new pass, a new snapshot.
    ds.begin_pass(1).await.unwrap();
    let after = ds.fingerprints(&full).await.unwrap();
    ds.end_pass().await;
    assert_ne!(after, before.0);
    assert_eq!(after[0].count, 1000);
    // Out of a pass, reads see the latest rows too.
    assert_eq!(ds.fingerprints(&full).await.unwrap(), after);
}

#[tokio::test]
async fn postgres_reads_a_pass_in_one_snapshot() {
    snapshot_holds_while_a_writer_commits(Engine::Pg, "rs_test_pg_snapshot").await;
}

#[tokio::test]
async fn mysql_reads_a_pass_in_one_snapshot() {
    snapshot_holds_while_a_writer_commits(Engine::My, "rs_test_my_snapshot").await;
}

/// `--jobs`: a pass read by four connections at once. Those opened after
/// a writer committed (PostgreSQL imports the first one's snapshot) and
/// those started together under a table lock (MySQL) all see the rows as
/// they were when the pass began.
async fn readers_share_the_snapshot(engine: Engine, db: &str) {
    let url = engine.fresh_db(db).await;
    engine.exec(&url, &engine.fill(2000)).await;
    let store = open(&url, Access::Read).await;
    let ds = live_dataset(store.as_ref()).await;
    let full = [KeyRange::full()];
    ds.begin_pass(4).await.unwrap();
    let before = ds.fingerprints(&full).await.unwrap();
    engine.exec(&url, "UPDATE live SET v = 'changed' WHERE id = 5; DELETE FROM live WHERE id = 10; INSERT INTO live VALUES (5000, 'new');").await;
    let reads = (0..8).map(|_| ds.fingerprints(&full));
    let during = futures_util::future::try_join_all(reads).await.unwrap();
    assert!(during.iter().all(|fp| *fp == before), "{engine:?}: a reader saw a write committed after the pass began: {during:?} vs {before:?}");
    if let Engine::Pg = engine {
        let readers = pg::scalar(
            &pg::url("postgres"),
            &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND state = 'idle in transaction'"),
        )
        .await;
        assert!(readers >= 2, "{engine:?}: the reads ran on {readers} connection(s) in the snapshot");
    }
    ds.end_pass().await;
    // The next pass, read by as many, sees the write.
    ds.begin_pass(4).await.unwrap();
    let after = futures_util::future::try_join_all((0..4).map(|_| ds.fingerprints(&full))).await.unwrap();
    ds.end_pass().await;
    assert!(after.iter().all(|fp| *fp == after[0] && *fp != before), "{engine:?}: {after:?}");
    assert_eq!(after[0][0].count, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_readers_of_a_pass_share_its_snapshot() {
    readers_share_the_snapshot(Engine::Pg, "rs_test_pg_readers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_readers_of_a_pass_share_its_snapshot() {
    readers_share_the_snapshot(Engine::My, "rs_test_my_readers").await;
}

/// The source, with a writer that commits at the moment the first rows
/// are fetched for copying: after the snapshot, before the writes.
struct WriterAtFetch {
    inner: Box<dyn Dataset>,
    writer: Mutex<Option<BoxFuture<'static, ()>>>,
}

#[async_trait]
impl Dataset for WriterAtFetch {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn split(&self, ranges: &[KeyRange], size: u64) -> StoreResult<Vec<Vec<Key>>> {
        self.inner.split(ranges, size).await
    }
    async fn fingerprints(&self, ranges: &[KeyRange]) -> StoreResult<Vec<Fingerprint>> {
        self.inner.fingerprints(ranges).await
    }
    fn scans_buckets(&self) -> bool {
        self.inner.scans_buckets()
    }
    async fn bucket_fingerprints(&self, range: &KeyRange, cuts: &[Key]) -> StoreResult<Vec<Fingerprint>> {
        self.inner.bucket_fingerprints(range, cuts).await
    }
    fn row_hashes<'a>(&'a self, range: &'a KeyRange) -> BoxStream<'a, StoreResult<(Key, RowHash)>> {
        self.inner.row_hashes(range)
    }
    async fn fetch_rows(&self, keys: &[Key]) -> StoreResult<Vec<Row>> {
        let writer = self.writer.lock().unwrap().take();
        if let Some(w) = writer {
            w.await;
        }
        self.inner.fetch_rows(keys).await
    }
    async fn rows_page(&self, range: &KeyRange, limit: usize) -> StoreResult<Vec<Row>> {
        let writer = self.writer.lock().unwrap().take();
        if let Some(w) = writer {
            w.await;
        }
        self.inner.rows_page(range, limit).await
    }
    fn bulk_format(&self) -> Option<String> {
        self.inner.bulk_format()
    }
    async fn last_key(&self) -> StoreResult<Option<Key>> {
        self.inner.last_key().await
    }
    async fn max_value(&self, column: &str) -> StoreResult<Option<rangesync::engine::Value>> {
        self.inner.max_value(column).await
    }
    fn render_writes(&self, rows: &[Row], deletes: &[Key]) -> StoreResult<Vec<rangesync::engine::store::Statement>> {
        self.inner.render_writes(rows, deletes)
    }
    async fn export_range(&self, range: &KeyRange) -> StoreResult<BulkRows> {
        let writer = self.writer.lock().unwrap().take();
        if let Some(w) = writer {
            w.await;
        }
        self.inner.export_range(range).await
    }
    async fn begin_pass(&self, readers: usize) -> StoreResult<()> {
        self.inner.begin_pass(readers).await
    }
    async fn end_pass(&self) {
        self.inner.end_pass().await
    }
    fn reads_in_snapshot(&self) -> bool {
        self.inner.reads_in_snapshot()
    }
    async fn fetch_current_rows(&self, keys: &[Key]) -> StoreResult<Vec<Row>> {
        self.inner.fetch_current_rows(keys).await
    }
    async fn current_row_hashes(&self, keys: &[Key]) -> StoreResult<Vec<(Key, RowHash)>> {
        self.inner.current_row_hashes(keys).await
    }
    async fn upsert(&self, rows: &[Row]) -> StoreResult<u64> {
        self.inner.upsert(rows).await
    }
    async fn delete(&self, keys: &[Key]) -> StoreResult<u64> {
        self.inner.delete(keys).await
    }
}

async fn changed_after_the_snapshot_are_counted(engine: Engine, prefix: &str) {
    let src = engine.fresh_db(&format!("{prefix}_src")).await;
    let tgt = engine.fresh_db(&format!("{prefix}_tgt")).await;
    engine.exec(&src, &engine.fill(100)).await;
    engine.exec(&tgt, &engine.fill(100)).await;
    // Target drift: 1..=10 missing, 20 changed, 1000 extra.
    engine.exec(&tgt, "DELETE FROM live WHERE id <= 10; UPDATE live SET v = 'old' WHERE id = 20; INSERT INTO live VALUES (1000, 'extra');").await;

    let (source_store, target_store) = (open(&src, Access::Read).await, open(&tgt, Access::Write).await);
    let writer_url = src.clone();
    let source = WriterAtFetch {
        inner: live_dataset(source_store.as_ref()).await,
        // Changes two rows being copied (3 updated, 5 deleted), the changed
        // row 20, re-inserts the extra key 1000 that is being deleted, and
        // updates row 50, which the pass already found equal.
        writer: Mutex::new(Some(Box::pin(async move {
            engine
                .exec(
                    &writer_url,
                    "UPDATE live SET v = 'late' WHERE id IN (3, 20, 50); DELETE FROM live WHERE id = 5; \
                     INSERT INTO live VALUES (1000, 'back');",
                )
                .await
        }))),
    };
    let target = live_dataset(target_store.as_ref()).await;
    let guard = WriteGuard::new(false, true);
    let mut applier = Applier {
        source: &source,
        target: target.as_ref(),
        guard,
        scheme: rangesync::engine::fingerprint::HashScheme::Md5,
        key_positions: vec![0],
        column_names: vec!["id".into(), "v".into()],
        fill_page: rangesync::engine::apply::FILL_PAGE,
    };
    let report = diff::compare("live", &source, target.as_ref(), &DiffOptions::default(), &mut applier, &NoProgress).await.unwrap();
    assert_eq!((report.missing, report.extra, report.changed), (10, 1, 1), "{engine:?}: {report:?}");
    assert_eq!((report.inserted, report.updated, report.deleted), (10, 1, 1), "{engine:?}: {report:?}");
    assert_eq!(report.changed_during_run, 4, "{engine:?}: rows 3, 5, 20 and 1000 moved after the snapshot: {report:?}");
    assert_eq!(report.remaining, 4, "{engine:?}: {report:?}");
    // The target holds the snapshot's versions.
    let rows = engine.rows(&tgt).await;
    assert_eq!(rows.len(), 100, "{engine:?}");
    drop((source, target, source_store, target_store));

    // The second pass settles them, and finds row 50 too.
    let run = rangesync(&["sync", &src, &tgt, "--delete", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = &run.json()["datasets"][0];
    assert_eq!((d["missing"].as_u64(), d["extra"].as_u64(), d["changed"].as_u64()), (Some(1), Some(1), Some(3)), "{d}");
    assert_eq!(d["changed_during_run"].as_u64(), Some(0), "{d}");
    assert_eq!(rangesync(&["diff", &src, &tgt]).code, 0);
    assert_eq!(engine.rows(&src).await, engine.rows(&tgt).await);
}

#[tokio::test]
async fn postgres_rows_changed_after_the_snapshot_are_counted_and_the_next_pass_settles_them() {
    changed_after_the_snapshot_are_counted(Engine::Pg, "rs_test_pg_moved").await;
}

#[tokio::test]
async fn mysql_rows_changed_after_the_snapshot_are_counted_and_the_next_pass_settles_them() {
    changed_after_the_snapshot_are_counted(Engine::My, "rs_test_my_moved").await;
}

/// Two PostgreSQL tables of one type pass COPY's text unparsed; a key
/// another writer puts into the target while its range is copied makes the
/// COPY fail whole, and the range is copied by rows instead (the source's
/// row replaces the intruder).
#[tokio::test]
async fn postgres_a_key_written_into_a_range_being_copied_falls_back_to_rows() {
    let src = pg::fresh_db("rs_test_pg_through_src").await;
    let tgt = pg::fresh_db("rs_test_pg_through_tgt").await;
    pg::exec(&src, &Engine::Pg.fill(5000)).await;
    pg::exec(&tgt, "CREATE TABLE live (id int8 PRIMARY KEY, v varchar(40));").await;
    let (source_store, target_store) = (open(&src, Access::Read).await, open(&tgt, Access::Write).await);
    let intruder = tgt.clone();
    let source = WriterAtFetch {
        inner: live_dataset(source_store.as_ref()).await,
        writer: Mutex::new(Some(Box::pin(async move { pg::exec(&intruder, "INSERT INTO live VALUES (2500, 'intruder')").await }))),
    };
    let target = live_dataset(target_store.as_ref()).await;
    assert!(source.bulk_format().is_some() && source.bulk_format() == target.bulk_format());
    let mut applier = Applier {
        source: &source,
        target: target.as_ref(),
        guard: WriteGuard::new(false, false),
        scheme: rangesync::engine::fingerprint::HashScheme::Md5,
        key_positions: vec![0],
        column_names: vec!["id".into(), "v".into()],
        fill_page: rangesync::engine::apply::FILL_PAGE,
    };
    let report = diff::compare("live", &source, target.as_ref(), &DiffOptions::default(), &mut applier, &NoProgress).await.unwrap();
    assert!(source.writer.lock().unwrap().is_none(), "the writer ran at the export");
    assert_eq!((report.missing, report.inserted, report.remaining), (5000, 5000, 0), "{report:?}");
    drop((source, target, source_store, target_store));
    assert_eq!(Engine::Pg.rows(&src).await, Engine::Pg.rows(&tgt).await);
}

const LIVE_ROWS: u32 = 40_000;

/// Commits, until stopped, transactions that each move one row from the
/// bottom of the key order to the top (the row count never changes) and
/// update another row; counts them.
fn start_writer(engine: Engine, url: String, stop: Arc<AtomicBool>, commits: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut n = 0i64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let sql = format!(
                "BEGIN; DELETE FROM live WHERE id = {low}; INSERT INTO live VALUES ({high}, 'moved'); \
                 UPDATE live SET v = 'updated {n}' WHERE id = {mid}; COMMIT;",
                low = n,
                high = LIVE_ROWS as i64 + n,
                mid = 2 * n + LIVE_ROWS as i64 / 2,
            );
            engine.exec(&url, &sql).await;
            commits.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// Runs rangesync while the writer goes on; returns the report and how
/// many transactions committed meanwhile.
async fn run_under_writer(args: Vec<String>, commits: &AtomicU64) -> (common::Run, u64) {
    let before = commits.load(Ordering::Relaxed);
    let run = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rangesync(&args)
    })
    .await
    .unwrap();
    (run, commits.load(Ordering::Relaxed) - before)
}

async fn live_writer_during_diff_and_sync(engine: Engine, prefix: &str) {
    let src = engine.fresh_db(&format!("{prefix}_src")).await;
    let tgt = engine.fresh_db(&format!("{prefix}_tgt")).await;
    engine.exec(&src, &engine.fill(LIVE_ROWS)).await;
    engine.exec(&tgt, &engine.fill(LIVE_ROWS)).await;
    let (stop, commits) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let writer = start_writer(engine, src.clone(), stop.clone(), commits.clone());
    while commits.load(Ordering::Relaxed) < 5 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Ten windows of 4,000 rows, read one after the other: read at
    // different moments, they would count rows moved from the first to the
    // last window twice.
    let args = |cmd: &str, extra: &[&str]| -> Vec<String> {
        [cmd, &src, &tgt, "--zoom", "200,2", "--format", "json"].iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let (diff, during_diff) = run_under_writer(args("diff", &[]), &commits).await;
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    let d = &diff.json()["datasets"][0];
    assert_eq!(d["source_rows"].as_u64(), Some(LIVE_ROWS as u64), "{engine:?}: {during_diff} commits during the diff: {d}");
    assert_eq!(d["target_rows"].as_u64(), Some(LIVE_ROWS as u64), "{d}");
    // Every transaction moves one row: in one snapshot, as many missing as extra.
    assert_eq!(d["missing"], d["extra"], "{engine:?}: {d}");

    let (sync, during_sync) = run_under_writer(args("sync", &["--delete"]), &commits).await;
    assert_eq!(sync.code, 0, "{}", sync.stderr);
    let s = &sync.json()["datasets"][0];
    assert_eq!(s["source_rows"].as_u64(), Some(LIVE_ROWS as u64), "{engine:?}: {during_sync} commits during the sync: {s}");
    assert_eq!(s["missing"], s["extra"], "{engine:?}: one instant of the source: {s}");
    assert!(s["changed_during_run"].as_u64() <= s["remaining"].as_u64(), "{s}");
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(during_diff + during_sync >= 2, "{engine:?}: the writer must overlap the runs ({during_diff}, {during_sync})");

    // With the writer stopped, the next pass settles everything.
    let (second, _) = run_under_writer(args("sync", &["--delete"]), &commits).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.json()["datasets"][0]["changed_during_run"].as_u64(), Some(0));
    assert_eq!(rangesync(&["diff", &src, &tgt]).code, 0);
    let (a, b) = (engine.rows(&src).await, engine.rows(&tgt).await);
    assert_eq!(a.len(), LIVE_ROWS as usize);
    assert!(a == b, "{engine:?}: the tables differ after the second pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_diff_and_sync_under_a_live_writer() {
    live_writer_during_diff_and_sync(Engine::Pg, "rs_test_pg_live").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_diff_and_sync_under_a_live_writer() {
    live_writer_during_diff_and_sync(Engine::My, "rs_test_my_live").await;
}
