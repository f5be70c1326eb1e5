//! The connector conformance suite: the promises every store makes to the
//! engine, checked through the `Store`/`Dataset` traits. Each connector
//! adds a `Harness` and runs every check (as rclone does for its backends).
//! Today: SQLite (file-backed), PostgreSQL and MariaDB (real servers; the
//! MariaDB table holds a double, so it also covers the streaming fallback).

mod common;

use async_trait::async_trait;
use futures_util::StreamExt;
use rangesync::connector::{self, Access, Endpoint};
use rangesync::engine::fingerprint::{Fingerprint, HashScheme, RowHash};
use rangesync::engine::range::Lower;
use rangesync::engine::store::{Dataset, Projection, Store};
use rangesync::engine::{Key, KeyRange, Value};
use tempfile::TempDir;

/// What a connector's test harness provides: a store holding the standard
/// table `conf` (created with the harness's own SQL, not by rangesync).
#[async_trait]
trait Harness: Send + Sync {
    /// A store with table `conf(id INTEGER PK, name TEXT, score REAL, data BLOB)`
    /// holding ids 1..=rows with gaps (ids are multiples of 3), plus NULLs
    /// in every third row.
    async fn store_with_rows(&self, rows: i64) -> Box<dyn Store>;
}

struct SqliteHarness {
    dir: TempDir,
}

#[async_trait]
impl Harness for SqliteHarness {
    async fn store_with_rows(&self, rows: i64) -> Box<dyn Store> {
        let path = self.dir.path().join(format!("conf{rows}.db"));
        common::exec(
            &path,
            &format!(
                "CREATE TABLE conf (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
                 INSERT INTO conf SELECT i * 3,
                     CASE WHEN i % 3 = 0 THEN NULL ELSE 'name ' || i END,
                     CASE WHEN i % 3 = 1 THEN NULL ELSE i / 7.0 END,
                     CASE WHEN i % 3 = 2 THEN NULL ELSE zeroblob(i % 5) END
                 FROM n;"
            ),
        )
        .await;
        let endpoint = Endpoint::parse(&common::url(&path)).unwrap();
        connector::open(&endpoint, Access::Write).await.unwrap()
    }
}

struct PostgresHarness {
    db: &'static str,
}

#[async_trait]
impl Harness for PostgresHarness {
    async fn store_with_rows(&self, rows: i64) -> Box<dyn Store> {
        let url = common::pg::fresh_db(&format!("{}_{rows}", self.db)).await;
        common::pg::exec(
            &url,
            &format!(
                "CREATE TABLE conf (id int8 PRIMARY KEY, name text, score float8, data bytea);
                 INSERT INTO conf SELECT i * 3,
                     CASE WHEN i % 3 = 0 THEN NULL ELSE 'name ' || i END,
                     CASE WHEN i % 3 = 1 THEN NULL ELSE i / 7.0 END,
                     CASE WHEN i % 3 = 2 THEN NULL ELSE substr('\\x0000000000'::bytea, 1, (i % 5)::int) END
                 FROM generate_series(1, {rows}) i;"
            ),
        )
        .await;
        connector::open(&Endpoint::parse(&url).unwrap(), Access::Write).await.unwrap()
    }
}

struct MysqlHarness {
    db: &'static str,
}

#[async_trait]
impl Harness for MysqlHarness {
    async fn store_with_rows(&self, rows: i64) -> Box<dyn Store> {
        let url = common::my::fresh_db(&format!("{}_{rows}", self.db)).await;
        common::my::exec(
            &url,
            &format!(
                "CREATE TABLE conf (id bigint PRIMARY KEY, name text, score double, data blob);
                 INSERT INTO conf SELECT seq * 3,
                     CASE WHEN seq % 3 = 0 THEN NULL ELSE CONCAT('name ', seq) END,
                     CASE WHEN seq % 3 = 1 THEN NULL ELSE seq / 7e0 END,
                     CASE WHEN seq % 3 = 2 THEN NULL ELSE REPEAT(X'00', seq % 5) END
                 FROM seq_1_to_{rows};"
            ),
        )
        .await;
        connector::open(&Endpoint::parse(&url).unwrap(), Access::Write).await.unwrap()
    }
}

/// The standard projection, hashed with `scheme`.
fn projection_with(scheme: HashScheme) -> Projection {
    Projection {
        table: "conf".into(),
        columns: vec!["id".into(), "name".into(), "score".into(), "data".into()],
        key: vec!["id".into()],
        hash: scheme,
        filter: None,
        since: None,
        query: None,
    }
}

/// The scheme a check runs with: the store's exact one, or with
/// RANGESYNC_CHECKSUM unset or `fast` the fast one (the suite runs twice).
fn scheme_of(store: &dyn Store) -> HashScheme {
    let caps = store.capabilities();
    match std::env::var("RANGESYNC_CHECKSUM").as_deref() {
        Ok("exact") => caps.native_hash,
        _ => caps.fast_hash.unwrap_or(caps.native_hash),
    }
}

/// Picks the scheme a check hashes with, given the store.
type Pick = fn(&dyn Store) -> HashScheme;

fn k(i: i64) -> Key {
    Key(vec![Value::Int(i)])
}

async fn all_pairs(ds: &dyn Dataset, range: &KeyRange) -> Vec<(Key, RowHash)> {
    ds.row_hashes(range).map(|r| r.unwrap()).collect().await
}

async fn schema_lists_columns_and_key(h: &dyn Harness, _pick: Pick) {
    let store = h.store_with_rows(10).await;
    assert!(store.list_tables().await.unwrap().contains(&"conf".to_string()));
    let schema = store.table_schema("conf").await.unwrap().expect("conf exists");
    let names: Vec<_> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "score", "data"]);
    assert_eq!(schema.key, ["id"]);
    assert!(store.table_schema("no_such_table").await.unwrap().is_none());
}

async fn split_cuts_by_row_count_inside_the_range(h: &dyn Harness, pick: Pick) {
    let store = h.store_with_rows(1000).await;
    let ds = store.dataset(&projection_with(pick(store.as_ref()))).await.unwrap();
    let ranges = [KeyRange::full(), KeyRange::new(Lower::Included(k(300)), Some(k(600))), KeyRange::new(Lower::Excluded(k(2997)), None)];
    let cuts = ds.split(&ranges, 100).await.unwrap();
    assert_eq!(cuts[0].len(), 9, "1000 rows in chunks of 100");
    assert_eq!(cuts[0][0], k(303), "the 101st key, not key arithmetic");
    assert!(cuts[0].windows(2).all(|w| w[0] < w[1]));
    assert_eq!(cuts[1].len(), 0, "100 rows in [300, 600): no cut needed");
    assert_eq!(cuts[2].len(), 0, "one row after 2997");
    let fine = ds.split(&ranges[1..2], 10).await.unwrap();
    assert_eq!(fine[0].len(), 9);
    assert!(fine[0].iter().all(|c| ranges[1].contains(c)));
}

async fn fingerprints_compose_and_match_rust_side_hashing(h: &dyn Harness, pick: Pick) {
    let store = h.store_with_rows(500).await;
    let ds = store.dataset(&projection_with(pick(store.as_ref()))).await.unwrap();
    let whole = ds.fingerprints(&[KeyRange::full()]).await.unwrap()[0];
    assert_eq!(whole.count, 500);
    let cuts = ds.split(&[KeyRange::full()], 37).await.unwrap().remove(0);
    let children = KeyRange::full().split_at(cuts);
    let sum: Fingerprint = ds.fingerprints(&children).await.unwrap().into_iter().sum();
    assert_eq!(sum, whole, "children sum to the parent");

    // The store's pair hashes sum to its fingerprints; where rangesync can
    // compute the scheme, they equal its hash of the fetched row.
    let pairs = all_pairs(ds.as_ref(), &KeyRange::full()).await;
    assert_eq!(pairs.len(), 500);
    let mut from_pairs = Fingerprint::EMPTY;
    for (_, h) in &pairs {
        from_pairs.add_row(*h);
    }
    assert_eq!(from_pairs, whole, "pair hashes and fingerprints agree");
    let distinct: std::collections::HashSet<_> = pairs.iter().map(|p| p.1).collect();
    assert_eq!(distinct.len(), 500, "no two different rows share a hash");
    let keys: Vec<Key> = pairs.iter().map(|p| p.0.clone()).collect();
    let rows = ds.fetch_rows(&keys).await.unwrap();
    assert_eq!(rows.len(), 500);
    if let Some(hash) = pick(store.as_ref()).in_rust() {
        let mut by_rust = Fingerprint::EMPTY;
        for row in &rows {
            let h = RowHash::of_values_with(hash, row);
            by_rust.add_row(h);
            let pair = pairs.iter().find(|p| p.0.0[0] == row[0]).unwrap();
            assert_eq!(pair.1, h, "row {:?}", row);
        }
        assert_eq!(by_rust, whole);
    }
    let empty = ds.fingerprints(&[KeyRange::new(Lower::Included(k(1_000_000)), None)]).await.unwrap();
    assert_eq!(empty[0], Fingerprint::EMPTY);
}

async fn row_hashes_come_in_key_order_within_the_range(h: &dyn Harness, pick: Pick) {
    let store = h.store_with_rows(300).await;
    let ds = store.dataset(&projection_with(pick(store.as_ref()))).await.unwrap();
    let range = KeyRange::new(Lower::Excluded(k(30)), Some(k(90)));
    let pairs = all_pairs(ds.as_ref(), &range).await;
    let keys: Vec<i64> = pairs.iter().map(|p| match p.0.0[0] { Value::Int(i) => i, _ => panic!() }).collect();
    assert_eq!(keys, (11..30).map(|i| i * 3).collect::<Vec<_>>());
}

async fn row_hashes_page_through_large_ranges(h: &dyn Harness, pick: Pick) {
    let store = h.store_with_rows(25_000).await;
    let ds = store.dataset(&projection_with(pick(store.as_ref()))).await.unwrap();
    let pairs = all_pairs(ds.as_ref(), &KeyRange::full()).await;
    assert_eq!(pairs.len(), 25_000, "no pair lost or repeated across pages");
    let tail = all_pairs(ds.as_ref(), &KeyRange::new(Lower::Excluded(k(3 * 4000)), Some(k(3 * 24_000)))).await;
    assert_eq!(tail.len(), 19_999, "pages of a bounded range stop at its end");
    assert_eq!(tail[0].0, k(3 * 4001));
    assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0), "strictly increasing keys");
    let whole = ds.fingerprints(&[KeyRange::full()]).await.unwrap()[0];
    let mut from_pairs = Fingerprint::EMPTY;
    for (_, h) in &pairs {
        from_pairs.add_row(*h);
    }
    assert_eq!(from_pairs, whole, "pair hashes and fingerprints agree");
}

/// Several ranges read as one stream of pairs: what each range's own
/// stream gives, one range after the other, across pages (the third range
/// holds more than a server's page of 10,000 rows); and the largest key.
async fn row_hashes_of_many_ranges_are_each_ranges_pairs_in_order(h: &dyn Harness, pick: Pick) {
    let store = h.store_with_rows(24_999).await;
    let ds = store.dataset(&projection_with(pick(store.as_ref()))).await.unwrap();
    let range = |lo: i64, hi: Option<i64>| KeyRange::new(Lower::Included(k(lo)), hi.map(k));
    let ranges = vec![
        KeyRange::new(Lower::Unbounded, Some(k(30))),
        KeyRange::new(Lower::Excluded(k(300)), Some(k(303))),
        range(3000, Some(3 * 14_000)),
        range(3 * 14_001, Some(3 * 14_002)),
        range(3 * 24_990, None),
    ];
    let mut each = Vec::new();
    for r in &ranges {
        each.extend(all_pairs(ds.as_ref(), r).await);
    }
    let together: Vec<(Key, RowHash)> = ds.row_hashes_in(&ranges).map(|p| p.unwrap()).collect().await;
    assert_eq!(each.len(), 9 + 0 + 13_000 + 1 + 10);
    assert!(together == each, "{} pairs together, {} range by range", together.len(), each.len());
    assert_eq!(ds.last_key().await.unwrap(), Some(k(3 * 24_999)));
}

async fn upsert_and_delete_are_idempotent(h: &dyn Harness, pick: Pick) {
    let store = h.store_with_rows(20).await;
    let ds = store.dataset(&projection_with(pick(store.as_ref()))).await.unwrap();
    let rows = vec![
        vec![Value::Int(3), Value::Text("changed".into()), Value::Float(-0.5), Value::Null],
        vec![Value::Int(1000), Value::Text("new ✓".into()), Value::Null, Value::Blob(vec![0, 1, 2])],
    ];
    assert_eq!(ds.upsert(&rows).await.unwrap(), 2);
    assert_eq!(ds.upsert(&rows).await.unwrap(), 2, "repeating an upsert is harmless");
    let back = ds.fetch_rows(&[k(3), k(1000), k(4)]).await.unwrap();
    assert_eq!(back.len(), 2, "absent keys are skipped");
    for r in &rows {
        assert!(back.contains(r), "{r:?} round-trips exactly");
    }
    assert_eq!(ds.fingerprints(&[KeyRange::full()]).await.unwrap()[0].count, 21);
    assert_eq!(ds.delete(&[k(1000), k(6)]).await.unwrap(), 2);
    assert_eq!(ds.delete(&[k(1000), k(6)]).await.unwrap(), 0, "deleting again removes nothing");
    assert_eq!(ds.fingerprints(&[KeyRange::full()]).await.unwrap()[0].count, 19);
}

/// A pass: a store that reads in a snapshot keeps the pass's view while
/// rows are written (by the sync itself, here), and shows the written rows
/// to the reads that must see them; any store sees them after the pass.
async fn a_pass_reads_its_snapshot_and_current_reads_see_writes(h: &dyn Harness, pick: Pick) {
    let store = h.store_with_rows(50).await;
    let ds = store.dataset(&projection_with(pick(store.as_ref()))).await.unwrap();
    let full = [KeyRange::full()];
    let new_row = vec![Value::Int(5000), Value::Text("written in the pass".into()), Value::Null, Value::Null];
    ds.begin_pass(1).await.unwrap();
    // A stream dropped half read leaves the dataset readable.
    let first: Vec<_> = ds.row_hashes(&full[0]).take(5).collect().await;
    assert_eq!(first.len(), 5);
    let before = ds.fingerprints(&full).await.unwrap()[0];
    // The engine writes only once every read stream is closed.
    assert_eq!(ds.upsert(std::slice::from_ref(&new_row)).await.unwrap(), 1);
    let during = ds.fingerprints(&full).await.unwrap()[0];
    if ds.reads_in_snapshot() {
        assert_eq!(during, before, "a snapshot does not move within its pass");
        assert!(ds.fetch_rows(&[k(5000)]).await.unwrap().is_empty());
        let current = ds.current_row_hashes(&[k(5000), k(3)]).await.unwrap();
        assert_eq!(current.len(), 2, "{current:?}");
        // The current hash of the new row is the one a pass started now reads.
        let fresh = store.dataset(&projection_with(pick(store.as_ref()))).await.unwrap();
        let now = all_pairs(fresh.as_ref(), &KeyRange::new(Lower::Included(k(5000)), Some(k(5001)))).await;
        assert!(current.contains(&now[0]), "{current:?} {now:?}");
        if let Some(hash) = pick(store.as_ref()).in_rust() {
            assert_eq!(now[0].1, RowHash::of_values_with(hash, &new_row));
        }
    } else {
        assert_eq!(during.count, 51);
    }
    assert_eq!(ds.fetch_current_rows(&[k(5000)]).await.unwrap(), [new_row.clone()]);
    ds.end_pass().await;
    assert_eq!(ds.fingerprints(&full).await.unwrap()[0].count, 51);
    ds.delete(&[k(5000)]).await.unwrap();
}

async fn run_suite(h: &dyn Harness, pick: Pick) {
    a_pass_reads_its_snapshot_and_current_reads_see_writes(h, pick).await;
    schema_lists_columns_and_key(h, pick).await;
    split_cuts_by_row_count_inside_the_range(h, pick).await;
    fingerprints_compose_and_match_rust_side_hashing(h, pick).await;
    row_hashes_come_in_key_order_within_the_range(h, pick).await;
    row_hashes_page_through_large_ranges(h, pick).await;
    row_hashes_of_many_ranges_are_each_ranges_pairs_in_order(h, pick).await;
    upsert_and_delete_are_idempotent(h, pick).await;
}

#[tokio::test]
async fn sqlite_conforms() {
    run_suite(&SqliteHarness { dir: TempDir::new().unwrap() }, scheme_of).await;
}

#[tokio::test]
async fn mysql_conforms() {
    run_suite(&MysqlHarness { db: "rs_test_conformance_my" }, scheme_of).await;
}

/// MySQL's fast scheme (md5 of MySQL's rendering, for servers without
/// CRC32C), run on MariaDB, which computes it as MySQL does.
#[tokio::test]
async fn mysql_md5_text_scheme_conforms() {
    run_suite(&MysqlHarness { db: "rs_test_conformance_mymd5" }, |_| HashScheme::MyMd5).await;
}

#[tokio::test]
async fn postgres_conforms() {
    run_suite(&PostgresHarness { db: "rs_test_conformance" }, scheme_of).await;
}
