//! `dir://PATH`: a dump directory of time series. One folder per
//! measurement holds gzipped line-protocol chunk files, one per window of
//! `chunk` (a day by default, `dir://PATH?chunk=1h` when a dump is made),
//! and `manifest.json` lists them with their fingerprints (see
//! [`manifest`]). A dump is a store like the others: `sync SOURCE
//! dir://PATH` makes or updates one (only the chunks that differ are
//! rewritten), `sync dir://PATH TARGET` restores it, and `diff` compares it
//! with a live store.
//!
//! A dump opened as a source is checked whole before anything is read
//! from it (every line parsed, every fingerprint compared), so a damaged
//! dump stops a restore before it writes anything.

mod chunk;
mod manifest;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use chunk::Content;
use manifest::{ChunkEntry, Manifest};

use super::{line_protocol, Access};
use crate::engine::error::StoreError;
use crate::engine::series::store::{Count, Measurement, SeriesCapabilities, SeriesStore};
use crate::engine::series::window::rfc3339;
use crate::engine::series::{FieldType, Precision, Sample, Series, Window};
use crate::engine::store::StoreResult;
use crate::engine::value::Value;

/// A day: chunks of a new dump, unless the URL says `?chunk=`.
pub const DEFAULT_CHUNK: i64 = crate::engine::series::window::DAY;
/// Chunks changed in memory at most; the next one writes them out first.
const MAX_DIRTY_CHUNKS: usize = 4;
/// The writers' lock file, in the dump's root.
const LOCK: &str = ".lock";
/// The instants a dump holds: chunk arithmetic stays inside i64 with
/// chunks of up to a year (1685 to 2255).
const EARLIEST: i64 = -9_000_000_000_000_000_000;
const LATEST: i64 = 9_000_000_000_000_000_000;
/// The longest chunk a dump is cut in.
pub const MAX_CHUNK: i64 = 366 * DEFAULT_CHUNK;

pub struct DirStore {
    root: PathBuf,
    shown: String,
    inner: Mutex<Inner>,
}

struct Inner {
    manifest: Manifest,
    /// The manifest as this run read it: another run's commit since then
    /// is found before anything is written.
    read_at_open: Manifest,
    /// `.lock`, held from the first change on: one writer per dump.
    lock: Option<std::fs::File>,
    /// Chunks changed and not written yet.
    dirty: HashMap<(String, i64), Arc<Content>>,
    /// The chunk read last (reads go through windows in time order).
    cached: Option<((String, i64), Arc<Content>)>,
}

impl DirStore {
    /// Opens a dump. For reading it must exist and is checked whole; for
    /// writing a missing one is created, in a new or empty directory only.
    pub fn open(root: &Path, shown: &str, access: Access, chunk: Option<i64>) -> StoreResult<DirStore> {
        let manifest_path = root.join(manifest::FILE);
        let manifest = if manifest_path.exists() {
            let m = Manifest::read(&manifest_path).map_err(StoreError::Invalid)?;
            if let Some(c) = chunk.filter(|&c| c != m.chunk_ns) {
                tracing::info!(asked = c, kept = m.chunk_ns, "the dump keeps the chunk it was made with");
            }
            m
        } else if access == Access::Read {
            let what = if root.is_dir() { "holds no manifest.json: it is not a rangesync dump" } else { "does not exist" };
            return Err(StoreError::Missing(format!("dump directory {shown} {what}")));
        } else {
            // A lock or a manifest a stopped run did not finish are ours.
            let ours = |name: &std::ffi::OsStr| name == LOCK || name == "manifest.tmp";
            let not_empty = std::fs::read_dir(root).map(|d| d.flatten().any(|e| !ours(&e.file_name()))).unwrap_or(false);
            if not_empty {
                return Err(StoreError::Invalid(format!(
                    "{shown} is a directory with files but no manifest.json; rangesync makes a dump only in a new or empty directory"
                )));
            }
            std::fs::create_dir_all(root).map_err(|e| write_failed(shown, "creating the directory", e))?;
            let m = Manifest::new(chunk.unwrap_or(DEFAULT_CHUNK));
            m.write(root).map_err(|e| write_failed(shown, "writing manifest.json", e))?;
            m
        };
        let inner = Inner { read_at_open: manifest.clone(), manifest, lock: None, dirty: HashMap::new(), cached: None };
        let store = DirStore { root: root.to_path_buf(), shown: shown.to_string(), inner: Mutex::new(inner) };
        if access == Access::Read {
            store.check_all()?;
        }
        Ok(store)
    }

    /// Before the first change: takes `.lock` (a second writer is refused,
    /// not interleaved), checks no other run committed since this one read
    /// the manifest, and removes what a stopped run left unlisted.
    fn lock_for_writing(&self, inner: &mut Inner) -> StoreResult<()> {
        if inner.lock.is_some() {
            return Ok(());
        }
        let path = self.root.join(LOCK);
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| write_failed(&self.shown, LOCK, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Invalid(format!("dump {} is being written by another rangesync run (it holds {LOCK}); run again when that one ends", self.shown)))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(write_failed(&self.shown, LOCK, e)),
        }
        let on_disk = Manifest::read(&self.root.join(manifest::FILE)).map_err(StoreError::Invalid)?;
        if on_disk != inner.read_at_open {
            return Err(StoreError::Invalid(format!("dump {} was changed by another run while this one read it; run again", self.shown)));
        }
        inner.lock = Some(file);
        self.remove_leftovers(inner);
        Ok(())
    }

    /// Chunk files a killed run wrote but never listed (and temporary
    /// files): the manifest is the truth, they are not part of the dump.
    fn remove_leftovers(&self, inner: &Inner) {
        let listed: BTreeSet<PathBuf> = inner.manifest.measurements.iter().flat_map(|m| m.chunks.iter().map(|c| self.root.join(&c.file))).collect();
        let _ = std::fs::remove_file(self.root.join(manifest::FILE).with_extension("tmp"));
        let Ok(dirs) = std::fs::read_dir(&self.root) else { return };
        for dir in dirs.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
            let Ok(files) = std::fs::read_dir(&dir) else { continue };
            for file in files.flatten().map(|e| e.path()) {
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if (name.ends_with(".lp.gz") || name.ends_with(".tmp")) && !listed.contains(&file) {
                    tracing::info!(file = %file.display(), "removing a chunk file no manifest lists (left by a stopped run)");
                    let _ = std::fs::remove_file(&file);
                }
            }
        }
    }

    /// Parses every chunk and compares its fingerprint with the manifest's.
    fn check_all(&self) -> StoreResult<()> {
        let entries: Vec<(String, ChunkEntry)> = {
            let inner = self.lock();
            inner.manifest.measurements.iter().flat_map(|m| m.chunks.iter().map(|c| (m.name.clone(), c.clone()))).collect()
        };
        for (measurement, entry) in entries {
            self.read_chunk(&measurement, &entry)?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves nothing half-written on
        // disk (files are replaced whole), so the state is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read_chunk(&self, measurement: &str, entry: &ChunkEntry) -> StoreResult<Content> {
        let path = self.root.join(&entry.file);
        let bytes = std::fs::read(&path).map_err(|e| {
            StoreError::Invalid(format!("dump {}: cannot read {} listed in manifest.json: {e}", self.shown, entry.file))
        })?;
        let text = chunk::gunzip(&bytes).map_err(|e| StoreError::Invalid(format!("dump {}: {} is not a gzip file ({e})", self.shown, entry.file)))?;
        let content = chunk::decode(&text, &entry.file, measurement).map_err(|e| StoreError::Invalid(format!("dump {}: {e}", self.shown)))?;
        if chunk::fingerprint(&text) != entry.blake3 {
            return Err(StoreError::Invalid(format!(
                "dump {}: {} does not match the fingerprint manifest.json gives it (changed or cut off since it was written)",
                self.shown, entry.file
            )));
        }
        Ok(content)
    }

    /// The chunk's content: changed in memory, read last, or read now.
    fn content(&self, inner: &mut Inner, measurement: &str, start: i64) -> StoreResult<Arc<Content>> {
        let key = (measurement.to_string(), start);
        if let Some(c) = inner.dirty.get(&key) {
            return Ok(c.clone());
        }
        if let Some((k, c)) = &inner.cached {
            if *k == key {
                return Ok(c.clone());
            }
        }
        let entry = inner.manifest.measurement(measurement).and_then(|m| m.chunk(start)).cloned();
        let content = Arc::new(match entry {
            Some(e) => self.read_chunk(measurement, &e)?,
            None => Content::new(),
        });
        inner.cached = Some((key, content.clone()));
        Ok(content)
    }

    /// Starts of the chunks of `measurement` that overlap `w`, on disk or
    /// only in memory.
    fn chunks_in(&self, inner: &Inner, measurement: &str, w: Window) -> Vec<i64> {
        let size = inner.manifest.chunk_ns;
        let mut starts: BTreeSet<i64> = BTreeSet::new();
        if let Some(m) = inner.manifest.measurement(measurement) {
            starts.extend(m.chunks.iter().filter(|c| c.start < w.end && w.start < c.end).map(|c| c.start));
        }
        starts.extend(inner.dirty.keys().filter(|(m, s)| m == measurement && *s < w.end && w.start < s.saturating_add(size)).map(|(_, s)| *s));
        starts.into_iter().collect()
    }

    /// Every sample of `m`'s fields in `w`, of the `wanted` series (all
    /// when empty), chunk by chunk (one held at a time).
    fn each_sample(&self, m: &Measurement, w: Window, wanted: &[Series], mut f: impl FnMut(&Series, i64, &str, &Value)) -> StoreResult<()> {
        let wanted: BTreeSet<&Series> = wanted.iter().collect();
        let mut inner = self.lock();
        for start in self.chunks_in(&inner, &m.name, w) {
            let content = self.content(&mut inner, &m.name, start)?;
            for (series, time, field, value) in content.iter() {
                if w.contains(time) && m.field_type(field).is_some() && (wanted.is_empty() || wanted.contains(series)) {
                    f(series, time, field, value);
                }
            }
        }
        Ok(())
    }

    /// Changes the chunk holding instant `t` of `measurement`.
    fn change(&self, inner: &mut Inner, measurement: &str, t: i64, edit: impl FnOnce(&mut Content)) -> StoreResult<()> {
        if !(EARLIEST..LATEST).contains(&t) {
            return Err(StoreError::Invalid(format!("{} is outside the instants a dump holds (1685 to 2255)", rfc3339(t))));
        }
        let start = t.div_euclid(inner.manifest.chunk_ns) * inner.manifest.chunk_ns;
        let key = (measurement.to_string(), start);
        if !inner.dirty.contains_key(&key) {
            if inner.dirty.len() >= MAX_DIRTY_CHUNKS {
                self.persist(inner)?;
            }
            // Out of the cache, so the only copy is changed in place.
            let content = match inner.cached.take() {
                Some((k, c)) if k == key => c,
                other => {
                    inner.cached = other;
                    self.content(inner, measurement, start)?
                }
            };
            inner.dirty.insert(key.clone(), content);
        }
        if let Some(c) = inner.dirty.get_mut(&key) {
            edit(Arc::make_mut(c));
        }
        Ok(())
    }

    /// Writes out every changed chunk under a new name, then the manifest,
    /// then removes the files the manifest no longer lists.
    fn persist(&self, inner: &mut Inner) -> StoreResult<()> {
        if inner.dirty.is_empty() {
            return Ok(());
        }
        let size = inner.manifest.chunk_ns;
        let mut dirty: Vec<((String, i64), Arc<Content>)> = inner.dirty.drain().collect();
        dirty.sort_by(|a, b| a.0.cmp(&b.0));
        let mut stale = Vec::new();
        for ((measurement, start), content) in &dirty {
            let text = chunk::encode(measurement, content).map_err(|e| StoreError::Invalid(format!("dump {}: {e}", self.shown)))?;
            let fingerprint = chunk::fingerprint(&text);
            let entry = inner.manifest.measurement_mut(measurement);
            let old = entry.chunks.iter().position(|c| c.start == *start);
            if old.is_some_and(|i| entry.chunks[i].blake3 == fingerprint) {
                continue;
            }
            if let Some(i) = old {
                stale.push(entry.chunks.remove(i).file);
            }
            if content.is_empty() {
                continue;
            }
            let file = chunk::file_name(measurement, *start, &fingerprint);
            let path = self.root.join(&file);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| write_failed(&self.shown, &file, e))?;
            }
            let bytes = chunk::gzip(&text).map_err(|e| write_failed(&self.shown, &file, e))?;
            write_atomically(&path, &bytes).map_err(|e| write_failed(&self.shown, &file, e))?;
            let samples = content.len() as u64;
            let chunk = ChunkEntry { start: *start, end: start.saturating_add(size), from: rfc3339(*start), file, points: content.points(), samples, blake3: fingerprint };
            let at = entry.chunks.partition_point(|c| c.start < *start);
            entry.chunks.insert(at, chunk);
        }
        inner.manifest.measurements.retain(|m| !m.chunks.is_empty() || !m.fields.is_empty());
        inner.manifest.write(&self.root).map_err(|e| write_failed(&self.shown, manifest::FILE, e))?;
        for file in stale {
            // Still listed under another start? Never: names hold the start.
            let _ = std::fs::remove_file(self.root.join(&file));
        }
        if let Some(((measurement, start), content)) = dirty.pop() {
            inner.cached = Some(((measurement, start), content));
        }
        Ok(())
    }

}

fn write_failed(shown: &str, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Write { context: format!("{what} in dump {shown}"), reason: e.to_string(), retryable: false, cause: crate::engine::error::boxed(e) }
}

/// Writes a file whole or not at all: a temporary file beside it, synced,
/// renamed over it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // The rename itself survives a power loss only once its directory is
    // synced.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[async_trait]
impl SeriesStore for DirStore {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn capabilities(&self) -> SeriesCapabilities {
        SeriesCapabilities { precision: Precision::Nanosecond, can_delete: true, earliest: EARLIEST, latest: LATEST, counts_skip_empty: true, sums: false, can_select: false, can_print: true, concurrency: 1 }
    }

    async fn measurements(&self, _pick: Option<&regex::Regex>) -> StoreResult<Vec<Measurement>> {
        let inner = self.lock();
        let mut out = Vec::new();
        for m in &inner.manifest.measurements {
            let fields = m.fields.iter().filter_map(|(f, t)| Some((f.clone(), manifest::field_type(t)?))).collect();
            out.push(Measurement::new(m.name.clone(), fields));
        }
        Ok(out)
    }

    async fn counts(&self, m: &Measurement, parent: Window, step: Option<i64>, wanted: &[Series]) -> StoreResult<Vec<Count>> {
        // Series → field → window start → count: a series and a field are
        // copied once, not per sample.
        let mut counts: HashMap<Series, HashMap<String, BTreeMap<i64, u64>>> = HashMap::new();
        self.each_sample(m, parent, wanted, |series, time, field, _| {
            let fields = match counts.get_mut(series) {
                Some(f) => f,
                None => counts.entry(series.clone()).or_default(),
            };
            let windows = match fields.get_mut(field) {
                Some(w) => w,
                None => fields.entry(field.to_string()).or_default(),
            };
            *windows.entry(parent.bucket(time, step)).or_default() += 1;
        })?;
        let mut out = Vec::new();
        for (series, fields) in counts {
            for (field, windows) in fields {
                out.extend(windows.into_iter().map(|(start, count)| Count { series: series.clone(), field: field.clone(), start, count, sum: None }));
            }
        }
        Ok(out)
    }

    async fn samples(&self, m: &Measurement, window: Window, series: &[Series]) -> StoreResult<Vec<Sample>> {
        let mut out = Vec::new();
        self.each_sample(m, window, series, |s, time, field, value| {
            out.push(Sample { series: s.clone(), field: field.to_string(), time, value: value.clone() });
        })?;
        Ok(out)
    }

    async fn write(&self, m: &Measurement, samples: &[Sample]) -> StoreResult<()> {
        let mut inner = self.lock();
        self.lock_for_writing(&mut inner)?;
        if let Some(s) = samples.iter().find(|s| FieldType::of(&s.value).is_none() || matches!(s.value, Value::Float(f) if !f.is_finite())) {
            return Err(StoreError::Invalid(format!("{} field {} holds {}, which a dump cannot store", s.series, s.field, s.value.display())));
        }
        let entry = inner.manifest.measurement_mut(&m.name);
        for (field, kind) in &m.fields {
            let had = entry.fields.entry(field.clone()).or_insert_with(|| kind.name().to_string());
            if had != kind.name() {
                return Err(StoreError::Invalid(format!(
                    "field {field} of measurement {} is {had} in dump {} and {} in the samples written",
                    m.name,
                    self.shown,
                    kind.name()
                )));
            }
        }
        for s in samples {
            self.change(&mut inner, &m.name, s.time, |c| {
                c.insert(&s.series, s.time, s.field.clone(), s.value.clone());
            })?;
        }
        Ok(())
    }

    async fn flush(&self) -> StoreResult<()> {
        let mut inner = self.lock();
        self.persist(&mut inner)
    }

    /// A dump has no statements: the points removed (as comments) and
    /// the line protocol merged into its chunks.
    async fn render_writes(&self, m: &Measurement, deletes: &[(Series, Window)], samples: &[Sample]) -> StoreResult<Vec<String>> {
        let mut out: Vec<String> = deletes.iter().map(|(series, window)| format!("# remove {series} in {window}")).collect();
        let body = line_protocol::encode(samples, &m.name, |f| f.to_string(), usize::MAX, line_protocol::Dialect::Dump).map_err(StoreError::Invalid)?;
        out.extend(body.concat().lines().map(str::to_string));
        Ok(out)
    }

    async fn delete(&self, m: &Measurement, points: &[(Series, Window)]) -> StoreResult<()> {
        let mut inner = self.lock();
        self.lock_for_writing(&mut inner)?;
        for (series, window) in points {
            for start in self.chunks_in(&inner, &m.name, *window) {
                self.change(&mut inner, &m.name, start, |c| c.remove_in(series, *window))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(host: &str, time: i64, v: f64) -> Sample {
        Sample { series: Series::new("cpu", [("host".to_string(), host.to_string())]), field: "v".into(), time, value: Value::Float(v) }
    }

    #[tokio::test]
    async fn writes_deletes_and_reads_back_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("dump");
        let m = Measurement::new("cpu", vec![("v".into(), FieldType::Float)]);
        const H: i64 = crate::engine::series::window::HOUR;
        let store = DirStore::open(&root, "dir://dump", Access::Write, Some(H)).unwrap();
        store.write(&m, &[sample("a", 0, 1.0), sample("a", H - 1, 2.0), sample("a", H, 3.0), sample("b", 5 * H, 4.0), sample("b", -1, 5.0)]).await.unwrap();
        store.flush().await.unwrap();
        drop(store);
        let again = DirStore::open(&root, "dir://dump", Access::Read, None).unwrap();
        let all = Window::new(-10 * H, 10 * H);
        assert_eq!(again.samples(&m, all, &[]).await.unwrap().len(), 5);
        let mut counts = again.counts(&m, Window::new(0, 2 * H), Some(H), &[]).await.unwrap();
        counts.sort_by_key(|c| (c.start, c.count));
        assert_eq!(counts.iter().map(|c| (c.start, c.count)).collect::<Vec<_>>(), [(0, 2), (H, 1)]);
        let only_b = again.counts(&m, all, Some(H), &[sample("b", 0, 0.0).series]).await.unwrap();
        assert_eq!(only_b.len(), 2, "b's two samples, in their own hours: {only_b:?}");
        assert!(only_b.iter().all(|c| c.series == sample("b", 0, 0.0).series));
        // Upsert and delete; chunk files replaced, the old ones removed.
        again.write(&m, &[sample("a", 0, 9.0)]).await.unwrap();
        again.delete(&m, &[(sample("b", 0, 0.0).series, Window::new(5 * H, 5 * H + 1))]).await.unwrap();
        again.flush().await.unwrap();
        drop(again);
        let third = DirStore::open(&root, "dir://dump", Access::Read, None).unwrap();
        let got = third.samples(&m, all, &[]).await.unwrap();
        assert_eq!(got.len(), 4);
        assert!(got.contains(&sample("a", 0, 9.0)));
        let files: usize = walk(&root);
        assert_eq!(files, 3 + 1 + 1, "three chunks, the manifest and the lock, no stale file: {files}");
        // A file a killed run wrote and never listed goes at the next write.
        std::fs::write(root.join("cpu/19700101T000000Z-000000000000.lp.gz"), "x").unwrap();
        std::fs::write(root.join("cpu/keep.txt"), "x").unwrap();
        let fourth = DirStore::open(&root, "dir://dump", Access::Read, None).unwrap();
        // A second writer is refused while the first holds the lock.
        let fifth = DirStore::open(&root, "dir://dump", Access::Read, None).unwrap();
        fourth.write(&m, &[sample("a", 0, 7.0)]).await.unwrap();
        let refused = fifth.write(&m, &[sample("a", 0, 8.0)]).await.unwrap_err();
        assert!(refused.to_string().contains("being written by another rangesync run"), "{refused}");
        fourth.flush().await.unwrap();
        drop(fourth);
        assert_eq!(walk(&root), 3 + 1 + 1 + 1, "the unlisted chunk removed; keep.txt and .lock stay");
        // The manifest changed since the fifth read it: refused too.
        let late = fifth.write(&m, &[sample("a", 0, 8.0)]).await.unwrap_err();
        assert!(late.to_string().contains("changed by another run"), "{late}");
        assert!(fifth.write(&m, &[sample("a", 0, f64::NAN)]).await.is_err());
    }

    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p).unwrap().map(|e| e.unwrap().path()).map(|p| if p.is_dir() { walk(&p) } else { 1 }).sum()
    }

    #[test]
    fn a_directory_that_is_not_a_dump_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let e = DirStore::open(dir.path(), "dir://x", Access::Write, None).err().unwrap();
        assert!(e.to_string().contains("no manifest.json"), "{e}");
        let e = DirStore::open(&dir.path().join("nope"), "dir://nope", Access::Read, None).err().unwrap();
        assert!(matches!(e, StoreError::Missing(_)), "{e}");
    }
}
