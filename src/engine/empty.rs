//! A dataset with no rows: the target side of a table that does not exist
//! yet (in `diff`, or in `sync --dry-run`, where it is not created).

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream, StreamExt};

use super::error::StoreError;
use super::fingerprint::{Fingerprint, RowHash};
use super::key::Key;
use super::range::KeyRange;
use super::store::{Dataset, Row, StoreResult};

pub struct EmptyDataset {
    pub what: String,
}

#[async_trait]
impl Dataset for EmptyDataset {
    fn describe(&self) -> String {
        self.what.clone()
    }

    fn scans_buckets(&self) -> bool {
        true
    }

    async fn split(&self, ranges: &[KeyRange], _rows: u64) -> StoreResult<Vec<Vec<Key>>> {
        Ok(vec![Vec::new(); ranges.len()])
    }

    async fn fingerprints(&self, ranges: &[KeyRange]) -> StoreResult<Vec<Fingerprint>> {
        Ok(vec![Fingerprint::EMPTY; ranges.len()])
    }

    fn row_hashes<'a>(&'a self, _range: &'a KeyRange) -> BoxStream<'a, StoreResult<(Key, RowHash)>> {
        stream::empty().boxed()
    }

    async fn last_key(&self) -> StoreResult<Option<Key>> {
        Ok(None)
    }

    async fn max_value(&self, _column: &str) -> StoreResult<Option<super::value::Value>> {
        Ok(None)
    }

    async fn fetch_rows(&self, _keys: &[Key]) -> StoreResult<Vec<Row>> {
        Ok(Vec::new())
    }

    async fn rows_page(&self, _range: &KeyRange, _limit: usize) -> StoreResult<Vec<Row>> {
        Ok(Vec::new())
    }

    async fn upsert(&self, _rows: &[Row]) -> StoreResult<u64> {
        Err(StoreError::Invalid(format!("{} does not exist and cannot be written", self.what)))
    }

    async fn delete(&self, _keys: &[Key]) -> StoreResult<u64> {
        Ok(0)
    }

    fn render_writes(&self, _rows: &[Row], _deletes: &[Key]) -> StoreResult<Vec<super::store::Statement>> {
        Err(StoreError::Invalid(format!(
            "{} does not exist yet, so the statements filling it cannot be printed; create it first (rangesync schema), then print",
            self.what
        )))
    }
}
