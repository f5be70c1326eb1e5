//! Dump directories (`dir://`) against the real InfluxDB: a dump made,
//! diffed, updated and restored, checked by InfluxDB's own rendering and
//! by reading the dump's files directly; damaged dumps refused before
//! anything is written.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use common::ts::*;
use common::*;

fn dir_url(p: &Path) -> String {
    format!("dir://{}", p.display())
}

fn manifest(dump: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dump.join("manifest.json")).unwrap()).unwrap()
}

fn gunzip(p: &Path) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap()).read_to_string(&mut text).unwrap();
    text
}

fn gzip_to(p: &Path, text: &str) {
    let mut e = flate2::write::GzEncoder::new(std::fs::File::create(p).unwrap(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap();
}

/// Every chunk file the manifest lists, checked independently of
/// rangesync: it exists, its blake3 is the manifest's, its line count is
/// the manifest's point count; no other file lies in the dump. Returns
/// every line of every chunk.
fn read_dump(dump: &Path) -> Vec<String> {
    let m = manifest(dump);
    assert_eq!(m["format"], "rangesync-dump");
    let mut listed = BTreeSet::new();
    let mut lines = Vec::new();
    for measurement in m["measurements"].as_array().unwrap() {
        for chunk in measurement["chunks"].as_array().unwrap() {
            let file = chunk["file"].as_str().unwrap();
            let text = gunzip(&dump.join(file));
            assert_eq!(blake3::hash(text.as_bytes()).to_hex().as_str(), chunk["blake3"].as_str().unwrap(), "{file}");
            assert_eq!(text.lines().count() as u64, chunk["points"].as_u64().unwrap(), "{file}");
            lines.extend(text.lines().map(str::to_string));
            listed.insert(dump.join(file));
        }
    }
    let mut on_disk = BTreeSet::new();
    walk(dump, &mut on_disk);
    on_disk.remove(&dump.join("manifest.json"));
    on_disk.remove(&dump.join(".lock"));
    assert_eq!(on_disk, listed, "every file is listed in the manifest, no stale file is left");
    lines
}

fn walk(p: &Path, out: &mut BTreeSet<PathBuf>) {
    for e in std::fs::read_dir(p).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.insert(path);
        }
    }
}

#[tokio::test]
async fn influx_to_a_dump_and_back_with_the_dump_diffed_and_updated() {
    let (src, restored) = ("rs_dump_src", "rs_dump_restored");
    fresh_influx(src).await;
    drop_influx(restored).await;
    influx_write(src, &dataset("cpu")).await;
    influx_write(src, &dataset("mem")).await;
    // Backslashes in a tag value and in a string (InfluxDB 1.6 refuses a
    // newline in a string and a tag value ending in a backslash; the
    // dump's escaping of those is unit tested).
    influx_write(src, &format!("cpu,host=c:\\x\\y s=\"a \\\\ b \\\"q\\\"\" {}\n", BASE + 3 * HOUR)).await;
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("telegraf");

    // Made: every point in the files, types kept by line protocol.
    let made = rangesync(&["sync", &influx_url(src), &dir_url(&dump), "--format", "json"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    assert_eq!(made.json()["datasets"][0]["inserted"], point_count() + 1);
    let lines = read_dump(&dump);
    assert_eq!(lines.len() as i64, 2 * point_count() + 1);
    assert!(lines.iter().any(|l| l.contains("i=9007199254740993i") && l.contains("b=true") && l.contains(r#"s="q\"u ö 0""#)), "{}", lines[0]);
    assert_eq!(manifest(&dump)["measurements"][0]["fields"]["i"], "integer");
    let equal = rangesync(&["diff", &influx_url(src), &dir_url(&dump), "--verify", "exact"]);
    assert_eq!(equal.code, 0, "{}{}", equal.stdout, equal.stderr);

    // Restored into a new database: InfluxDB renders both the same.
    let back = rangesync(&["sync", &dir_url(&dump), &influx_url(restored)]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(influx_dump(src).await, influx_dump(restored).await);
    assert_eq!(influx_field_types(src).await, influx_field_types(restored).await);

    // The source drifts: a point gone, a value changed, a point added;
    // the dump follows, rewriting only the chunks that changed.
    let before = manifest(&dump);
    influx_query(src, &format!("DELETE FROM cpu WHERE \"host\"='b' AND time = {}", BASE + 7 * MINUTE)).await;
    influx_write(src, &format!("mem,host=a,dc=eu f=0.5 {}\ncpu,host=new f=2.5 {}\n", BASE + 14 * MINUTE, BASE + HOUR + 1)).await;
    let d = rangesync(&["diff", &influx_url(src), &dir_url(&dump), "--verify", "exact", "--format", "json"]);
    assert_eq!(d.code, 1);
    let r = d.json();
    assert_eq!((r["datasets"][0]["missing"].as_i64(), r["datasets"][0]["extra"].as_i64()), (Some(1), Some(1)), "{r}");
    assert_eq!(r["datasets"][1]["changed"], 1, "{r}");
    let kept = rangesync(&["sync", &influx_url(src), &dir_url(&dump), "--verify", "exact", "--format", "json"]);
    assert_eq!(kept.json()["datasets"][0]["remaining"], 1, "without --delete the dump keeps the point");
    let fix = rangesync(&["sync", &influx_url(src), &dir_url(&dump), "--verify", "exact", "--delete", "--format", "json"]);
    assert_eq!(fix.code, 0, "{}", fix.stderr);
    assert_eq!(fix.json()["datasets"][0]["deleted"], 1);
    assert_eq!(rangesync(&["diff", &influx_url(src), &dir_url(&dump), "--verify", "exact"]).code, 0);
    let after = manifest(&dump);
    let files = |m: &serde_json::Value| -> BTreeSet<String> {
        m["measurements"].as_array().unwrap().iter().flat_map(|x| x["chunks"].as_array().unwrap().iter().map(|c| c["file"].as_str().unwrap().to_string())).collect()
    };
    assert_eq!(files(&before).intersection(&files(&after)).count(), files(&before).len() - 2, "the two day-1 chunks (cpu, mem) were rewritten, the others kept");
    let lines = read_dump(&dump);
    assert_eq!(lines.len() as i64, 2 * point_count() + 1);

    // And restored again (a changed value with equal counts needs
    // --verify exact), the restore equals the source.
    let again = rangesync(&["sync", &dir_url(&dump), &influx_url(restored), "--delete", "--verify", "exact"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(influx_dump(src).await, influx_dump(restored).await);

    // copy makes a dump too (windows compared by counts, written whole).
    let copied = tmp.path().join("copied");
    let c = rangesync(&["copy", &influx_url(src), &dir_url(&copied), "--measurement", "^cpu$"]);
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert_eq!(rangesync(&["diff", &influx_url(src), &dir_url(&copied), "--measurement", "^cpu$", "--verify", "exact"]).code, 0);
    drop_influx(src).await;
    drop_influx(restored).await;
}

#[tokio::test]
async fn a_damaged_dump_stops_a_restore_before_anything_is_written() {
    let (src, tgt) = ("rs_dump_bad_src", "rs_dump_bad_tgt");
    fresh_influx(src).await;
    drop_influx(tgt).await;
    influx_write(src, &format!("a v=1 {BASE}\na v=2 {}\nb v=3 {BASE}\n", BASE + 2 * DAY)).await;
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("d");
    assert_eq!(rangesync(&["sync", &influx_url(src), &dir_url(&dump)]).code, 0);
    let m = manifest(&dump);
    // The last chunk of the last measurement: a restore would have written
    // the others first, were the dump not checked whole.
    let chunk = m["measurements"][1]["chunks"][0]["file"].as_str().unwrap().to_string();
    let path = dump.join(&chunk);
    let good = gunzip(&path);

    gzip_to(&path, &format!("{good}b v= 4\n"));
    let run = rangesync(&["sync", &dir_url(&dump), &influx_url(tgt)]);
    assert_one_sentence(&run, 2, &format!("{chunk} line 2: field 'v'"));
    assert!(!influx_databases().await.contains(&tgt.to_string()), "nothing written, not even the database");

    gzip_to(&path, &good.replace("v=3", "v=5"));
    let run = rangesync(&["diff", &dir_url(&dump), &influx_url(src)]);
    assert_one_sentence(&run, 2, "does not match the fingerprint manifest.json gives it");

    std::fs::write(&path, b"not gzip").unwrap();
    assert_one_sentence(&rangesync(&["diff", &dir_url(&dump), &influx_url(src)]), 2, "is not a gzip file");
    std::fs::remove_file(&path).unwrap();
    assert_one_sentence(&rangesync(&["diff", &dir_url(&dump), &influx_url(src)]), 2, "cannot read");

    let missing = tmp.path().join("nope");
    assert_one_sentence(&rangesync(&["diff", &dir_url(&missing), &influx_url(src)]), 2, "does not exist");
    // A sync into a directory that holds other files does not touch them.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep").unwrap();
    assert_one_sentence(&rangesync(&["sync", &influx_url(src), &dir_url(&mine)]), 2, "no manifest.json");
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 1);
    // --dry-run makes no dump.
    let dry = tmp.path().join("dry");
    let run = rangesync(&["sync", &influx_url(src), &dir_url(&dry), "--dry-run"]);
    assert!(!dry.exists(), "{}", run.stderr);
    drop_influx(src).await;
}
