//! Time windows: half-open `[start, end)` in nanoseconds since the epoch,
//! cut at multiples of a zoom step, and the durations and instants users
//! write (`1d,1h,1m`, RFC3339, `now-24h`).
//!
//! Half-open windows are what keep a point on a boundary in exactly one
//! window: syncflux's closed chunks lost such points, and vmctl's wrote them
//! twice.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};

/// Durations in nanoseconds, the unit of every instant and window here.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
pub const MINUTE: i64 = 60 * NANOS_PER_SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;
pub const WEEK: i64 = 7 * DAY;

/// `[start, end)`, nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    pub fn new(start: i64, end: i64) -> Self {
        Window { start, end }
    }

    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && t < self.end
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The start of the window of `step` (cut from the epoch) holding `t`,
    /// clipped to this one; this one's start without a step. What a store
    /// reports as `Count::start`.
    pub fn bucket(&self, t: i64, step: Option<i64>) -> i64 {
        match step {
            Some(step) => (t.div_euclid(step) * step).max(self.start),
            None => self.start,
        }
    }

    /// The window cut at every multiple of `step` (counted from the epoch)
    /// inside it, so that windows of one level line up across runs and
    /// stores whatever the window they came from.
    pub fn split(&self, step: i64) -> Vec<Window> {
        assert!(step > 0, "a zoom step is positive");
        let mut out = Vec::new();
        let mut start = self.start;
        while start < self.end {
            let next = start.div_euclid(step).saturating_add(1).saturating_mul(step).min(self.end);
            out.push(Window::new(start, next));
            start = next;
        }
        out
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", rfc3339(self.start), rfc3339(self.end))
    }
}

/// An instant as RFC3339 with as many fractional digits as it needs.
pub fn rfc3339(t: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(t).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Time zoom levels, coarse to fine: each level cuts the mismatched
/// windows of the level above at multiples of its step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeZoom {
    steps: Vec<i64>,
}

/// One day, one hour, one minute: a day of drift is found in 1,440 windows
/// of a minute, of which only the mismatched ones are fetched.
pub const DEFAULT_TIME_ZOOM: &str = "1d,1h,1m";

impl TimeZoom {
    /// Steps in nanoseconds, coarse to fine.
    pub fn steps(&self) -> &[i64] {
        &self.steps
    }
}

impl Default for TimeZoom {
    fn default() -> Self {
        DEFAULT_TIME_ZOOM.parse().expect("the default time zoom parses")
    }
}

impl FromStr for TimeZoom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let steps = s.split(',').map(|p| parse_duration(p.trim())).collect::<Result<Vec<_>, _>>()?;
        if steps.is_empty() {
            return Err("--zoom needs at least one duration, such as 1d,1h,1m".into());
        }
        if let Some(w) = steps.windows(2).find(|w| w[1] >= w[0]) {
            return Err(format!(
                "--zoom durations must go from coarse to fine, but {} is followed by {} in '{s}'",
                show_duration(w[0]),
                show_duration(w[1])
            ));
        }
        // A window of one level must be cut into whole windows of the next:
        // with 1h,25m a 25-minute window would straddle two hours.
        if let Some(w) = steps.windows(2).find(|w| w[0] % w[1] != 0) {
            return Err(format!(
                "each --zoom duration must divide the one before it, but {} does not divide {} in '{s}'",
                show_duration(w[1]),
                show_duration(w[0])
            ));
        }
        Ok(TimeZoom { steps })
    }
}

const UNITS: &[(&str, i64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", NANOS_PER_SECOND),
    ("m", MINUTE),
    ("h", HOUR),
    ("d", DAY),
    ("w", WEEK),
];

/// `90s`, `1h30m`, `1d`: a positive duration in nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("'{s}' is not a duration (a number and a unit among ns, us, ms, s, m, h, d, w, such as 1h or 90s)");
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        // The longest unit that matches: `ms` before `m`.
        let (unit, factor) = UNITS
            .iter()
            .filter(|(u, _)| rest.starts_with(u))
            .max_by_key(|(u, _)| u.len())
            .ok_or_else(bad)?;
        rest = &rest[unit.len()..];
        total = n.checked_mul(*factor).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
    }
    if total <= 0 {
        return Err(format!("'{s}' is not a positive duration"));
    }
    Ok(total)
}

/// A duration in the largest unit that divides it.
pub fn show_duration(ns: i64) -> String {
    let (unit, factor) = UNITS.iter().rev().filter(|(u, _)| *u != "µs").find(|(_, f)| ns % f == 0).unwrap_or(&("ns", 1));
    format!("{}{unit}", ns / factor)
}

/// How `--start`/`--end` may be written, for messages.
const INSTANT_FORMS: &str = "RFC3339 (2024-01-01T00:00:00Z), a UTC date or date and time (2024-01-01, 2024-01-01 12:00:00.5), \
an epoch in s, ms, us or ns (1704067200, 1704067200000, or with the unit: 1704067200s), now, now-24h or -10h";

/// An instant for `--start`/`--end`: RFC3339, a date or date and time
/// without zone (UTC), an epoch (its unit told by its suffix, or by its
/// size: up to 11 digits seconds, 14 milliseconds, 17 microseconds, more
/// nanoseconds), `now`, or relative to now (`now-24h`, `-10h`).
pub fn parse_instant(s: &str, now: i64) -> Result<i64, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(now);
    }
    if let Some(ago) = s.strip_prefix("now-").or_else(|| s.strip_prefix('-')) {
        return Ok(now.saturating_sub(parse_duration(ago)?));
    }
    if let Some(ahead) = s.strip_prefix("now+") {
        return Ok(now.saturating_add(parse_duration(ahead)?));
    }
    let out_of_range = || format!("'{s}' is outside the years 1677 to 2262 that nanosecond timestamps cover");
    if let Some(epoch) = parse_epoch(s) {
        return epoch.ok_or_else(out_of_range);
    }
    let utc = |naive: chrono::NaiveDateTime| naive.and_utc().timestamp_nanos_opt().ok_or_else(out_of_range);
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt().ok_or_else(out_of_range);
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, format) {
            return utc(t);
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return utc(d.and_time(chrono::NaiveTime::MIN));
    }
    Err(format!("'{s}' is not a time: give {INSTANT_FORMS}"))
}

/// An epoch: digits, with an optional unit (s, ms, us, ns). `None` when
/// `s` is not one; `Some(None)` when it is, outside the nanosecond range.
fn parse_epoch(s: &str) -> Option<Option<i64>> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        return None;
    }
    let per_unit: i64 = match unit {
        "s" => NANOS_PER_SECOND,
        "ms" => 1_000_000,
        "us" | "µs" => 1_000,
        "ns" => 1,
        // Fewer digits are no epoch anyone means (2024 is not 33 minutes
        // past 1970); with a unit they are taken as written.
        "" if digits.len() < 9 => return None,
        "" => match digits.len() {
            0..=11 => NANOS_PER_SECOND,
            12..=14 => 1_000_000,
            15..=17 => 1_000,
            _ => 1,
        },
        _ => return None,
    };
    Some(digits.parse::<i64>().ok().and_then(|n| n.checked_mul(per_unit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600 * NANOS_PER_SECOND;

    #[test]
    fn windows_split_at_multiples_of_the_step_and_keep_boundaries_half_open() {
        let w = Window::new(H / 2, 3 * H);
        let parts = w.split(H);
        assert_eq!(parts, [Window::new(H / 2, H), Window::new(H, 2 * H), Window::new(2 * H, 3 * H)]);
        assert!(parts[1].contains(H) && !parts[0].contains(H), "a point on a boundary is in exactly one window");
        // Before the epoch too.
        assert_eq!(Window::new(-H - 1, 0).split(H), [Window::new(-H - 1, -H), Window::new(-H, 0)]);
        assert!(Window::new(5, 5).split(H).is_empty());
    }

    #[test]
    fn instants_are_read_in_every_usual_spelling() {
        let now = 1_800_000_000 * NANOS_PER_SECOND;
        let jan1 = 1_704_067_200 * NANOS_PER_SECOND;
        for text in ["2024-01-01T00:00:00Z", "2024-01-01", "2024-01-01 00:00:00", "2024-01-01T00:00:00", "2024-01-01 00:00", "1704067200", "1704067200000", "1704067200000000", "1704067200000000000", "1704067200s", "1704067200000ms", "1704067200000000us", "1704067200000000000ns"] {
            assert_eq!(parse_instant(text, now), Ok(jan1), "{text}");
        }
        assert_eq!(parse_instant("2024-01-01 12:00:00.5", now), Ok(jan1 + 12 * H + NANOS_PER_SECOND / 2), "a fraction, UTC");
        assert_eq!(parse_instant("2024-01-01T00:00:00.000000001+01:00", now), Ok(jan1 - H + 1), "RFC3339 keeps its zone");
        assert_eq!(parse_instant("now-1h", now), Ok(now - H));
        assert_eq!(parse_instant("-1h", now), Ok(now - H));
        assert_eq!(parse_instant("0s", now), Ok(0), "the epoch itself, with its unit");
        for bad in ["2024-13-01", "2024-01-01 25:00:00", "yesterday", "1704067200h", "12:00", "2024", "20240101"] {
            let e = parse_instant(bad, now).unwrap_err();
            assert!(e.starts_with(&format!("'{bad}' is not")), "{bad}: {e}");
        }
        assert!(parse_instant("99999999999999999999", now).unwrap_err().contains("outside the years"));
        assert!(parse_instant("3000-01-01", now).unwrap_err().contains("outside the years"));
    }

    #[test]
    fn durations_and_zooms_parse_or_say_why_not() {
        assert_eq!(parse_duration("1h30m"), Ok(90 * 60 * NANOS_PER_SECOND));
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("1d"), Ok(24 * H));
        for bad in ["", "h", "10", "1y", "-1h", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!("1d,1h,1m".parse::<TimeZoom>().unwrap().steps(), [24 * H, H, 60 * NANOS_PER_SECOND]);
        assert!("1h,25m".parse::<TimeZoom>().unwrap_err().contains("must divide"));
        let err = "1h,1d".parse::<TimeZoom>().unwrap_err();
        assert!(err.contains("coarse to fine") && err.contains("1h") && err.contains("1d"), "{err}");
        assert_eq!(show_duration(90 * 60 * NANOS_PER_SECOND), "90m");
        assert_eq!(show_duration(1_500), "1500ns");
    }

    #[test]
    fn instants_are_rfc3339_or_relative_to_now() {
        let now = 1_700_000_000 * NANOS_PER_SECOND;
        assert_eq!(parse_instant("now", now), Ok(now));
        assert_eq!(parse_instant("now-24h", now), Ok(now - 24 * H));
        assert_eq!(parse_instant("-10h", now), Ok(now - 10 * H));
        assert_eq!(parse_instant("2024-01-01T00:00:00.000000001+01:00", now), Ok(1_704_063_600 * NANOS_PER_SECOND + 1));
        assert!(parse_instant("yesterday", now).unwrap_err().contains("RFC3339"));
        assert_eq!(rfc3339(1_704_067_200 * NANOS_PER_SECOND + 5), "2024-01-01T00:00:00.000000005Z");
    }
}
