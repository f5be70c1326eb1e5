//! `--db-label`: several InfluxDB databases into one store that has no
//! databases (VictoriaMetrics, OpenTSDB, a dump). Each source database's
//! series carry a label naming it (`db="telegraf"`), added as they are
//! read; on the target only the series with that label are seen, so a
//! comparison (and a `--delete`) of one database never touches another's.

use async_trait::async_trait;

use super::sample::{FieldType, Sample, Series};
use super::store::{Count, Measurement, SeriesCapabilities, SeriesStore};
use super::window::Window;
use crate::engine::error::StoreError;
use crate::engine::store::StoreResult;

/// Whether the wrapped store gets the label added (a source) or is seen
/// only through it (a target).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Adding,
    Selecting,
}

pub struct Labeled<'a> {
    inner: &'a dyn SeriesStore,
    label: String,
    value: String,
    role: Role,
}

impl<'a> Labeled<'a> {
    pub fn new(inner: &'a dyn SeriesStore, label: &str, value: &str, role: Role) -> Labeled<'a> {
        Labeled { inner, label: label.to_string(), value: value.to_string(), role }
    }

    fn has_label(&self, s: &Series) -> bool {
        s.tags.iter().any(|(k, v)| *k == self.label && *v == self.value)
    }

    /// The series with the label added; a series holding a tag of that
    /// name already cannot be told apart, and is refused.
    fn add(&self, s: &Series) -> StoreResult<Series> {
        if s.tags.iter().any(|(k, _)| *k == self.label) {
            return Err(StoreError::Invalid(format!(
                "{s} already has a tag named {}, the --db-label; pick another name",
                self.label
            )));
        }
        let (measurement, mut tags) = s.clone().into_parts();
        tags.push((self.label.clone(), self.value.clone()));
        Ok(Series::new(measurement, tags))
    }

    /// `add` for a run of items grouped by series (as stores answer): one
    /// labelled series per series, shared by its items.
    fn adder(&self) -> impl FnMut(&Series) -> StoreResult<Series> + '_ {
        let mut last: Option<(Series, Series)> = None;
        move |s| {
            if let Some((from, to)) = &last {
                if from == s {
                    return Ok(to.clone());
                }
            }
            let to = self.add(s)?;
            last = Some((s.clone(), to.clone()));
            Ok(to)
        }
    }

    fn strip(&self, s: &Series) -> Series {
        Series::new(s.measurement.clone(), s.tags.iter().filter(|(k, _)| *k != self.label).cloned())
    }
}

#[async_trait]
impl SeriesStore for Labeled<'_> {
    fn describe(&self) -> String {
        format!("{} ({}={})", self.inner.describe(), self.label, self.value)
    }

    fn capabilities(&self) -> SeriesCapabilities {
        self.inner.capabilities()
    }

    fn keeps(&self, t: FieldType) -> Option<FieldType> {
        self.inner.keeps(t)
    }

    async fn measurements(&self, pick: Option<&regex::Regex>) -> StoreResult<Vec<Measurement>> {
        self.inner.measurements(pick).await
    }

    async fn counts(&self, m: &Measurement, parent: Window, step: Option<i64>, series: &[Series]) -> StoreResult<Vec<Count>> {
        let asked: Vec<Series> = match self.role {
            Role::Adding => series.iter().map(|s| self.strip(s)).collect(),
            Role::Selecting => series.to_vec(),
        };
        let counts = self.inner.counts(m, parent, step, &asked).await?;
        match self.role {
            Role::Adding => {
                let mut add = self.adder();
                counts.into_iter().map(|c| Ok(Count { series: add(&c.series)?, ..c })).collect()
            }
            Role::Selecting => Ok(counts.into_iter().filter(|c| self.has_label(&c.series)).collect()),
        }
    }

    async fn samples(&self, m: &Measurement, window: Window, series: &[Series]) -> StoreResult<Vec<Sample>> {
        self.samples_of(m, &[(window, series.to_vec())]).await
    }

    async fn samples_of(&self, m: &Measurement, parts: &[(Window, Vec<Series>)]) -> StoreResult<Vec<Sample>> {
        match self.role {
            Role::Adding => {
                let asked: Vec<(Window, Vec<Series>)> = parts.iter().map(|(w, series)| (*w, series.iter().map(|s| self.strip(s)).collect())).collect();
                let samples = self.inner.samples_of(m, &asked).await?;
                let mut add = self.adder();
                samples.into_iter().map(|s| Ok(Sample { series: add(&s.series)?, ..s })).collect()
            }
            Role::Selecting => {
                // Series asked for carry the label: the store can select by it.
                let samples = self.inner.samples_of(m, parts).await?;
                Ok(samples.into_iter().filter(|s| self.has_label(&s.series)).collect())
            }
        }
    }

    async fn write(&self, m: &Measurement, samples: &[Sample]) -> StoreResult<()> {
        self.inner.write(m, samples).await
    }

    async fn flush(&self) -> StoreResult<()> {
        self.inner.flush().await
    }

    async fn delete(&self, m: &Measurement, points: &[(Series, Window)]) -> StoreResult<()> {
        self.inner.delete(m, points).await
    }

    async fn render_writes(&self, m: &Measurement, deletes: &[(Series, Window)], samples: &[Sample]) -> StoreResult<Vec<String>> {
        self.inner.render_writes(m, deletes, samples).await
    }
}
