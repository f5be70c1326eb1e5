//! `--lite` for time series: only the points from TARGET's newest one
//! minus a lookback are compared. The newest point is found with the
//! counts every store computes (by day, then hour, then minute of the last
//! window holding any), so no store needs a query of its own for it.

use super::store::{Measurement, SeriesStore};
use super::window::{Window, DAY, HOUR, MINUTE};
use crate::engine::error::EngineError;
use crate::engine::retry::RetryPolicy;


/// The minute (inside `span`) holding the newest sample of `m` in `store`,
/// or `None` when it holds none in `span`.
pub async fn newest_minute(store: &dyn SeriesStore, m: &Measurement, span: Window, retry: RetryPolicy) -> Result<Option<Window>, EngineError> {
    let mut within = span;
    for step in [DAY, HOUR, MINUTE] {
        let counts = retry.run("finding the newest point", || store.counts(m, within, Some(step), &[])).await?;
        let Some(last) = counts.iter().filter(|c| c.count > 0).map(|c| c.start).max() else { return Ok(None) };
        let end = (last.div_euclid(step) + 1).saturating_mul(step).min(within.end);
        within = Window::new(last.max(within.start), end);
    }
    Ok(Some(within))
}

/// Where a `--lite` comparison of `span` starts: `lookback` before the
/// minute of TARGET's newest point, or before `now` when that point is
/// stamped later (a point from the future must not move the comparison
/// past the present); the whole span when TARGET has none.
pub fn lite_start(span: Window, newest: Option<Window>, lookback: i64, now: i64) -> i64 {
    match newest {
        Some(w) => w.start.min(now).saturating_sub(lookback).max(span.start),
        None => span.start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_is_the_lookback_before_the_newest_minute_within_the_span() {
        let span = Window::new(0, 10 * DAY);
        let now = 9 * DAY;
        assert_eq!(lite_start(span, Some(Window::new(5 * DAY, 5 * DAY + MINUTE)), HOUR, now), 5 * DAY - HOUR);
        assert_eq!(lite_start(span, Some(Window::new(MINUTE, 2 * MINUTE)), HOUR, now), 0);
        assert_eq!(lite_start(span, None, HOUR, now), 0);
        // A point stamped after now: the start is the lookback before now.
        assert_eq!(lite_start(span, Some(Window::new(9 * DAY + HOUR, 9 * DAY + HOUR + MINUTE)), HOUR, now), now - HOUR);
    }
}
