//! Bad input gets one clear sentence on stderr and the contract's exit code.

mod common;

use common::*;
use tempfile::TempDir;

/// One line, prefixed, no panic or backtrace.
#[test]
fn a_file_that_does_not_exist() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("nope.db");
    let other = dir.path().join("other.db");
    std::fs::write(&other, b"").unwrap();
    let run = rangesync(&["diff", &url(&missing), &url(&other)]);
    assert_one_sentence(&run, 2, "no such file");
    assert!(run.stderr.contains("nope.db"));
}

#[test]
fn a_url_with_an_unknown_scheme() {
    let run = rangesync(&["diff", "ftp://user:s3cret@host/db", "sqlite://x.db"]);
    assert_one_sentence(&run, 2, "unknown scheme 'ftp'");
    assert!(!run.stderr.contains("s3cret"), "secrets are never printed");
    let run = rangesync(&["diff", "orders.db", "sqlite://x.db"]);
    assert_one_sentence(&run, 2, "not an endpoint URL");
}

#[tokio::test]
async fn an_unknown_table() {
    let dir = TempDir::new().unwrap();
    let (s, t) = shop_pair(dir.path()).await;
    let run = rangesync(&["diff", &url(&s), &url(&t), "--table", "invoices"]);
    assert_one_sentence(&run, 2, "table invoices not found");
    assert!(run.stderr.contains("customers, order_items, orders"), "{}", run.stderr);
}

#[tokio::test]
async fn mismatched_columns_between_the_sides() {
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("s.db");
    let t = dir.path().join("t.db");
    exec(&s, "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT);").await;
    exec(&t, "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT);").await;
    let before = std::fs::read(&t).unwrap();
    let run = rangesync(&["sync", &url(&s), &url(&t)]);
    assert_one_sentence(&run, 2, "column b exists in");
    assert_eq!(std::fs::read(&t).unwrap(), before, "nothing written");

    exec(&t, "DROP TABLE t; CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER);").await;
    let run = rangesync(&["diff", &url(&s), &url(&t)]);
    assert_one_sentence(&run, 2, "column b is TEXT in");
}

#[tokio::test]
async fn a_table_without_primary_key_or_with_null_keys() {
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("s.db");
    let t = dir.path().join("t.db");
    exec(&s, "CREATE TABLE logs (at TEXT, line TEXT); CREATE TABLE k (name TEXT PRIMARY KEY, v INT); INSERT INTO k VALUES (NULL, 1);").await;
    exec(&t, "CREATE TABLE logs (at TEXT, line TEXT);").await;
    let run = rangesync(&["diff", &url(&s), &url(&t), "--table", "logs"]);
    assert_one_sentence(&run, 2, "table logs in");
    assert!(run.stderr.contains("has no primary key"));
    let run = rangesync(&["diff", &url(&s), &url(&t), "--table", "k"]);
    assert_one_sentence(&run, 2, "primary key (name) is NULL");
}

#[test]
fn a_file_that_is_not_a_database() {
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("notes.txt");
    std::fs::write(&s, "this is not a database, just some text long enough to have a header").unwrap();
    let run = rangesync(&["diff", &url(&s), &url(&s)]);
    assert_one_sentence(&run, 3, "cannot open");
}

#[test]
fn bad_flags() {
    let run = rangesync(&["diff", "sqlite://a.db", "sqlite://b.db", "--zoom", "100,1000"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("coarse to fine"), "{}", run.stderr);
    let run = rangesync(&["sync", "sqlite://a.db", "sqlite://a.db"]);
    assert_one_sentence(&run, 2, "the same store");
    let run = rangesync(&["sync", "sqlite://a.db"]);
    assert_eq!(run.code, 2, "a missing argument is a usage error");
}

#[tokio::test]
async fn a_rejected_sync_leaves_no_new_target_file() {
    let dir = TempDir::new().unwrap();
    let (s, _) = shop_pair(dir.path()).await;
    let fresh = dir.path().join("never.db");
    let run = rangesync(&["sync", &url(&s), &url(&fresh), "--table", "nope"]);
    assert_one_sentence(&run, 2, "table nope not found");
    assert!(!fresh.exists(), "bad input writes nothing, not even an empty file");
}

#[tokio::test]
async fn a_utf16_database_is_refused_up_front() {
    let dir = TempDir::new().unwrap();
    let s = dir.path().join("s16.db");
    exec(&s, "PRAGMA encoding = 'UTF-16le'; CREATE TABLE t (k TEXT PRIMARY KEY); INSERT INTO t VALUES ('a');").await;
    let run = rangesync(&["diff", &url(&s), &url(&s)]);
    assert_one_sentence(&run, 2, "UTF-16le database");
}
