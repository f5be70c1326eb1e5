//! How a differing window is narrowed further: counted again at a finer
//! step, or read sample by sample. Counting costs a row per non-empty
//! child window and series; reading costs every sample of the differing
//! series, on both sides. Which is cheaper depends on how the differences
//! are spread: a whole missing hour is best read, a loss of 1% scattered
//! over a day is best counted in windows of a few minutes first (one
//! sample in a hundred missing leaves most five-minute windows whole).
//!
//! The zoom steps are the levels tried first; between them, and below the
//! finest, a window may be cut at any "round" step dividing its own (so
//! windows still line up across stores and runs) when the model says that
//! costs less.

use super::window::{DAY, HOUR, MINUTE, NANOS_PER_SECOND};

/// A count row costs a store about as much as several points do (seen:
/// InfluxDB's `GROUP BY time(1m), *` and VictoriaMetrics' `query_range`
/// over a day of 100 series cost about three times reading the day's
/// points per row returned).
pub const COUNT_ROW_COST: f64 = 3.0;

/// Reading one series in one window costs a store this many points' worth
/// besides its points (measured on InfluxDB 1.6: about 0.1 ms per series
/// and statement, as much as some 60 points read; VictoriaMetrics' export
/// costs about as much per series and request). Many small windows cost
/// more than their points.
pub const READ_SERIES_COST: f64 = 64.0;

/// Steps a window may be cut at besides the zoom's own.
const ROUND_STEPS: &[i64] = &[
    NANOS_PER_SECOND,
    2 * NANOS_PER_SECOND,
    5 * NANOS_PER_SECOND,
    10 * NANOS_PER_SECOND,
    15 * NANOS_PER_SECOND,
    30 * NANOS_PER_SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
];

/// What is known of a window whose counts differ.
#[derive(Clone, Copy, Debug)]
pub struct Differing {
    /// Its length, in nanoseconds.
    pub length: i64,
    /// The series differing in it.
    pub series: u64,
    /// Samples of those series, the larger side's.
    pub rows: u64,
    /// Samples the two sides' counts are apart by (a floor of the
    /// differences: a missing and an extra sample offset each other).
    pub apart: u64,
}

/// Chooses, for a differing window, the step to count its children at,
/// or none to read it.
#[derive(Clone, Debug)]
pub struct Narrowing {
    /// The zoom's steps and the round ones, finest first.
    steps: Vec<i64>,
}

impl Narrowing {
    /// `zoom`: the user's steps, coarse to fine (none: every window
    /// differing at the first count is read). `floor`: the comparison's
    /// precision; no step is finer.
    pub fn new(zoom: &[i64], floor: i64) -> Self {
        let mut steps: Vec<i64> = if zoom.is_empty() { Vec::new() } else { zoom.iter().chain(ROUND_STEPS).copied().filter(|s| *s >= floor && s % floor == 0).collect() };
        steps.sort_unstable();
        steps.dedup();
        Narrowing { steps }
    }

    /// The step to count the children of a window cut at `cut` at, or
    /// `None` when reading it costs less. Only steps dividing `cut` are
    /// tried, so children never straddle two windows of the level above.
    /// Where both cost the same, counting wins: fewer points travel, are
    /// decoded and merged.
    pub fn next_step(&self, cut: i64, w: Differing) -> Option<i64> {
        let read = reading_cost(w.rows as f64, w.series as f64);
        self.steps
            .iter()
            .filter(|&&s| s < cut && cut % s == 0 && s < w.length)
            .map(|&s| (s, counting_cost(s, w)))
            .filter(|(_, cost)| *cost <= read)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(s, _)| s)
    }
}

/// Reading `rows` samples of `series` series (each in its own window) on
/// both sides.
fn reading_cost(rows: f64, series: f64) -> f64 {
    2.0 * (rows + series * READ_SERIES_COST)
}

/// Counting the children at `step` on both sides, then reading the
/// children expected to differ: the `apart` differences of a series
/// fall at random among its non-empty children.
fn counting_cost(step: i64, w: Differing) -> f64 {
    let series = w.series.max(1) as f64;
    let children = (w.length as f64 / step as f64).ceil().max(1.0);
    let per_series = w.rows as f64 / series;
    // A series holds at most as many non-empty children as samples.
    let nonempty = children.min(per_series).max(1.0);
    let count_rows = series * nonempty;
    // Equal counts with differing sums: at least one difference.
    let differences = (w.apart as f64 / series).max(1.0);
    let differing_share = 1.0 - (1.0 - 1.0 / nonempty).powf(differences);
    let reads = count_rows * differing_share;
    2.0 * COUNT_ROW_COST * count_rows + reading_cost(w.rows as f64 * differing_share, reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn day(series: u64, per_series: u64, apart_per_series: u64) -> Differing {
        Differing { length: DAY, series, rows: series * per_series, apart: series * apart_per_series }
    }

    #[test]
    fn scattered_loss_is_counted_in_windows_of_a_few_minutes() {
        let n = Narrowing::new(&[DAY, HOUR, MINUTE], MS);
        // 1% of a day at 20 s lost at random: minutes cost more in count
        // rows and small reads than they save, hours almost all differ.
        let step = n.next_step(DAY, day(10, 4_320, 43));
        assert!(matches!(step, Some(s) if (5 * MINUTE..=15 * MINUTE).contains(&s)), "{step:?}");
        // A ten-minute window of it, one sample apart: a few minutes pay.
        let finer = n.next_step(10 * MINUTE, Differing { length: 10 * MINUTE, series: 1, rows: 30, apart: 1 });
        assert!(matches!(finer, Some(s) if s >= MINUTE && s < 10 * MINUTE), "{finer:?}");
        // One difference per series: half hours.
        assert_eq!(n.next_step(DAY, day(10, 4_320, 1)), Some(30 * MINUTE));
    }

    #[test]
    fn dense_loss_and_small_windows_are_read() {
        let n = Narrowing::new(&[DAY, HOUR, MINUTE], MS);
        // A third of the day missing: every child would differ.
        assert_eq!(n.next_step(DAY, day(100, 3_323, 1_000)), None);
        // 15 samples of a series in five minutes, one apart: reading them
        // costs less than counting their minutes.
        assert_eq!(n.next_step(5 * MINUTE, Differing { length: 5 * MINUTE, series: 1, rows: 15, apart: 1 }), None);
        // A few samples: reading them is cheaper than any count.
        assert_eq!(n.next_step(DAY, day(2, 4, 1)), None);
    }

    #[test]
    fn steps_divide_the_window_and_respect_the_precision() {
        let n = Narrowing::new(&[DAY, HOUR], NANOS_PER_SECOND);
        for cut in [DAY, HOUR, 7 * MINUTE, 90 * NANOS_PER_SECOND] {
            if let Some(s) = n.next_step(cut, Differing { length: cut, series: 1, rows: 1_000_000, apart: 1 }) {
                assert!(s < cut && cut % s == 0 && s % NANOS_PER_SECOND == 0, "{s} for {cut}");
            }
        }
        assert_eq!(Narrowing::new(&[], MS).next_step(DAY, day(1, 100_000, 1)), None, "no zoom: the first windows are read");
        assert!(Narrowing::new(&[DAY], 30 * NANOS_PER_SECOND).steps.iter().all(|s| *s >= 30 * NANOS_PER_SECOND));
    }
}
