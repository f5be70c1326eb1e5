//! Which side a store error comes from. The stores of a run are opened
//! behind [`Sided`], which tags every error they return with SOURCE or
//! TARGET: the watch daemon's health (SOURCE_DOWN, TARGET_DOWN) and the
//! exit path read the side from the error, never from its text.
//!
//! Every method forwards, default methods included: a store's own
//! implementation (a bulk path, a snapshot) must not be hidden behind the
//! trait's default.

use async_trait::async_trait;
use futures_util::stream::{BoxStream, StreamExt};

use super::error::Side;
use super::fingerprint::{Fingerprint, RowHash};
use super::key::Key;
use super::range::KeyRange;
use super::series::{Count, FieldType, Measurement, Sample, Series, SeriesCapabilities, SeriesStore, Window};
use super::store::{BulkRows, Capabilities, Dataset, Projection, Row, Statement, Store, StoreResult, TableSchema};
use super::value::Value;

/// A store (or one of its datasets) whose errors carry their side.
pub struct Sided<T: ?Sized> {
    pub side: Side,
    pub inner: Box<T>,
}

impl<T: ?Sized> Sided<T> {
    pub fn new(side: Side, inner: Box<T>) -> Self {
        Sided { side, inner }
    }

    fn tag<V>(&self, r: StoreResult<V>) -> StoreResult<V> {
        r.map_err(|e| e.on(self.side))
    }
}

#[async_trait]
impl Store for Sided<dyn Store> {
    fn describe(&self) -> &str {
        self.inner.describe()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn list_tables(&self) -> StoreResult<Vec<String>> {
        self.tag(self.inner.list_tables().await)
    }
    async fn foreign_keys(&self) -> StoreResult<std::collections::HashMap<String, Vec<String>>> {
        self.tag(self.inner.foreign_keys().await)
    }
    async fn table_schema(&self, name: &str) -> StoreResult<Option<TableSchema>> {
        self.tag(self.inner.table_schema(name).await)
    }
    async fn create_statements(&self, schema: &TableSchema) -> StoreResult<Vec<String>> {
        self.tag(self.inner.create_statements(schema).await)
    }
    async fn create_table(&self, table: &str, statements: &[String]) -> StoreResult<()> {
        self.tag(self.inner.create_table(table, statements).await)
    }
    async fn dataset(&self, projection: &Projection) -> StoreResult<Box<dyn Dataset>> {
        let dataset = self.tag(self.inner.dataset(projection).await)?;
        Ok(Box::new(Sided::new(self.side, dataset)))
    }
}

#[async_trait]
impl Dataset for Sided<dyn Dataset> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn round_trips(&self) -> u64 {
        self.inner.round_trips()
    }
    async fn split(&self, ranges: &[KeyRange], rows_per_chunk: u64) -> StoreResult<Vec<Vec<Key>>> {
        self.tag(self.inner.split(ranges, rows_per_chunk).await)
    }
    async fn fingerprints(&self, ranges: &[KeyRange]) -> StoreResult<Vec<Fingerprint>> {
        self.tag(self.inner.fingerprints(ranges).await)
    }
    fn scans_buckets(&self) -> bool {
        self.inner.scans_buckets()
    }
    async fn bucket_fingerprints(&self, range: &KeyRange, cuts: &[Key]) -> StoreResult<Vec<Fingerprint>> {
        self.tag(self.inner.bucket_fingerprints(range, cuts).await)
    }
    fn row_hashes<'a>(&'a self, range: &'a KeyRange) -> BoxStream<'a, StoreResult<(Key, RowHash)>> {
        let side = self.side;
        self.inner.row_hashes(range).map(move |r| r.map_err(|e| e.on(side))).boxed()
    }
    fn row_hashes_in<'a>(&'a self, ranges: &'a [KeyRange]) -> BoxStream<'a, StoreResult<(Key, RowHash)>> {
        let side = self.side;
        self.inner.row_hashes_in(ranges).map(move |r| r.map_err(|e| e.on(side))).boxed()
    }
    async fn fetch_rows(&self, keys: &[Key]) -> StoreResult<Vec<Row>> {
        self.tag(self.inner.fetch_rows(keys).await)
    }
    async fn rows_page(&self, range: &KeyRange, limit: usize) -> StoreResult<Vec<Row>> {
        self.tag(self.inner.rows_page(range, limit).await)
    }
    async fn insert_new(&self, rows: &[Row]) -> StoreResult<u64> {
        self.tag(self.inner.insert_new(rows).await)
    }
    fn bulk_format(&self) -> Option<String> {
        self.inner.bulk_format()
    }
    async fn export_range(&self, range: &KeyRange) -> StoreResult<BulkRows> {
        self.tag(self.inner.export_range(range).await)
    }
    async fn import_rows(&self, rows: &BulkRows) -> StoreResult<Option<u64>> {
        self.tag(self.inner.import_rows(rows).await)
    }
    async fn last_key(&self) -> StoreResult<Option<Key>> {
        self.tag(self.inner.last_key().await)
    }
    async fn begin_pass(&self, readers: usize) -> StoreResult<()> {
        self.tag(self.inner.begin_pass(readers).await)
    }
    async fn end_pass(&self) {
        self.inner.end_pass().await
    }
    fn reads_in_snapshot(&self) -> bool {
        self.inner.reads_in_snapshot()
    }
    async fn fetch_current_rows(&self, keys: &[Key]) -> StoreResult<Vec<Row>> {
        self.tag(self.inner.fetch_current_rows(keys).await)
    }
    async fn current_row_hashes(&self, keys: &[Key]) -> StoreResult<Vec<(Key, RowHash)>> {
        self.tag(self.inner.current_row_hashes(keys).await)
    }
    async fn upsert(&self, rows: &[Row]) -> StoreResult<u64> {
        self.tag(self.inner.upsert(rows).await)
    }
    async fn delete(&self, keys: &[Key]) -> StoreResult<u64> {
        self.tag(self.inner.delete(keys).await)
    }
    fn render_writes(&self, rows: &[Row], deletes: &[Key]) -> StoreResult<Vec<Statement>> {
        self.tag(self.inner.render_writes(rows, deletes))
    }
    async fn max_value(&self, column: &str) -> StoreResult<Option<Value>> {
        self.tag(self.inner.max_value(column).await)
    }
}

#[async_trait]
impl SeriesStore for Sided<dyn SeriesStore> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn capabilities(&self) -> SeriesCapabilities {
        self.inner.capabilities()
    }
    fn keeps(&self, t: FieldType) -> Option<FieldType> {
        self.inner.keeps(t)
    }
    async fn measurements(&self, pick: Option<&regex::Regex>) -> StoreResult<Vec<Measurement>> {
        self.tag(self.inner.measurements(pick).await)
    }
    async fn counts(&self, m: &Measurement, parent: Window, step: Option<i64>, series: &[Series]) -> StoreResult<Vec<Count>> {
        self.tag(self.inner.counts(m, parent, step, series).await)
    }
    async fn samples(&self, m: &Measurement, window: Window, series: &[Series]) -> StoreResult<Vec<Sample>> {
        self.tag(self.inner.samples(m, window, series).await)
    }
    async fn samples_of(&self, m: &Measurement, parts: &[(Window, Vec<Series>)]) -> StoreResult<Vec<Sample>> {
        self.tag(self.inner.samples_of(m, parts).await)
    }
    async fn write(&self, m: &Measurement, samples: &[Sample]) -> StoreResult<()> {
        self.tag(self.inner.write(m, samples).await)
    }
    async fn warn_before_writes(&self) {
        self.inner.warn_before_writes().await
    }
    async fn flush(&self) -> StoreResult<()> {
        self.tag(self.inner.flush().await)
    }
    async fn delete(&self, m: &Measurement, points: &[(Series, Window)]) -> StoreResult<()> {
        self.tag(self.inner.delete(m, points).await)
    }
    async fn render_writes(&self, m: &Measurement, deletes: &[(Series, Window)], samples: &[Sample]) -> StoreResult<Vec<String>> {
        self.tag(self.inner.render_writes(m, deletes, samples).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::empty::EmptyDataset;
    use crate::engine::error::{EngineError, StoreError};

    #[tokio::test]
    async fn errors_carry_the_side_and_the_stores_own_methods_stay_in_use() {
        let empty: Box<dyn Dataset> = Box::new(EmptyDataset { what: "table t in sqlite://b.db".into() });
        let sided = Sided::new(Side::Target, empty);
        // EmptyDataset's own answer, not the trait's default (false).
        assert!(sided.scans_buckets());
        assert_eq!(sided.fetch_rows(&[]).await.unwrap().len(), 0);
        let e = sided.upsert(&[vec![Value::Int(1)]]).await.unwrap_err();
        assert_eq!(e.side(), Some(Side::Target));
        assert!(matches!(e.root(), StoreError::Invalid(_)));
        assert_eq!(e.to_string(), "table t in sqlite://b.db does not exist and cannot be written", "the message is the store's");
        let e = EngineError::from(e);
        assert_eq!((e.side(), e.exit_code()), (Some(Side::Target), 2));
    }

    #[test]
    fn a_drivers_error_is_kept_as_the_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e = StoreError::Read { context: "t".into(), reason: "connection refused".into(), retryable: true, cause: None }.caused_by(io).on(Side::Source);
        assert!(e.is_retryable(), "a side does not change what a retry may clear");
        let mut chain = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = next {
            chain.push(err.to_string());
            next = err.source();
        }
        assert_eq!(chain, ["reading t failed: connection refused", "connection refused"], "the side adds no link, the cause ends the chain");
        assert_eq!(EngineError::from(e).exit_code(), 3);
    }
}
