//! One suite every time-series connector runs against its real store
//! (InfluxDB and VictoriaMetrics servers, a dump directory), as
//! tests/conformance.rs does for the SQL stores: what the engine relies on
//! from `SeriesStore`. Samples written come back as written (at the
//! store's precision, in the type it keeps), counts per window are exact,
//! writing again changes nothing, and a store that can delete removes
//! exactly the window asked. OpenTSDB, which no registry here packages,
//! runs the read half against recorded answers (test-fixtures/opentsdb/
//! conformance.json) and must send the samples as the recorded `/api/put`
//! body; its writes reach a real listener in tests/opentsdb.rs.

mod common;

use common::ts::{fresh_influx, influx_url, unique_name, vm_forget, vm_url};
use rangesync::connector::{open_series, Access, Endpoint, SeriesSettings};
use rangesync::engine::series::sample::{Sample, Series};
use rangesync::engine::series::window::Window;
use rangesync::engine::series::{Measurement, SeriesStore};
use rangesync::engine::value::Value;

const SECOND: i64 = 1_000_000_000;
/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200 * SECOND;

async fn open(url: &str) -> Box<dyn SeriesStore> {
    let endpoint = Endpoint::parse(url).unwrap();
    let settings = SeriesSettings { separator: "_".into(), max_body: 1 << 20 };
    open_series(&endpoint, Access::Write, &settings).await.unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn series(m: &str, host: &str) -> Series {
    Series::new(m, [("host".to_string(), host.to_string())])
}

/// Two series of one float field, ten samples a second apart each, the
/// last of `a` off the whole second by what the store can keep.
fn samples(m: &str, precision_ns: i64) -> Vec<Sample> {
    let mut out = Vec::new();
    for (host, base) in [("a", 0.5), ("b", -1.25)] {
        for i in 0..10 {
            let time = T0 + i * SECOND + if host == "a" && i == 9 { 123_456_789 / precision_ns * precision_ns } else { 0 };
            out.push(Sample { series: series(m, host), field: "v".into(), time, value: Value::Float(base + i as f64) });
        }
    }
    out
}

fn sorted(mut s: Vec<Sample>) -> Vec<(String, String, i64, String)> {
    s.sort_by(|x, y| (&x.series, x.time).cmp(&(&y.series, y.time)));
    s.into_iter().map(|s| (format!("{:?}", s.series.tags), s.field, s.time, format!("{:?}", s.value))).collect()
}

/// Samples per series over the whole span, and per one-second window.
async fn counts(store: &dyn SeriesStore, m: &Measurement, window: Window) -> (Vec<(String, u64)>, usize) {
    let whole = store.counts(m, window, None, &[]).await.unwrap();
    let mut per_series: Vec<(String, u64)> = whole.iter().filter(|c| c.count > 0).map(|c| (format!("{:?}", c.series.tags), c.count)).collect();
    per_series.sort();
    let fine = store.counts(m, window, Some(SECOND), &[]).await.unwrap();
    (per_series, fine.iter().filter(|c| c.count > 0).count())
}

fn measurement(m_name: &str) -> Measurement {
    Measurement::new(m_name, vec![("v".into(), rangesync::engine::series::sample::FieldType::Float)])
}

/// What the engine reads of a store holding `written` (listing, samples,
/// counts whole and per window, a window's edges); the counts expected.
async fn reads_conform(store: &dyn SeriesStore, m_name: &str, written: &[Sample]) -> (Vec<(String, u64)>, usize) {
    let m = measurement(m_name);
    // Picked by name: a VictoriaMetrics metric rs_conf_x_v does not say
    // where the measurement ends, the pick does.
    let pick = regex::Regex::new(&format!("^{m_name}$")).unwrap();
    let listed = store.measurements(Some(&pick)).await.unwrap();
    let found = listed.iter().find(|x| x.name == m_name).unwrap_or_else(|| panic!("{}: {m_name} not listed", store.describe()));
    assert_eq!(found.fields, m.fields, "{}", store.describe());

    let span = Window::new(T0, T0 + 20 * SECOND);
    let read = store.samples(&m, span, &[]).await.unwrap();
    assert_eq!(sorted(read), sorted(written.to_vec()), "{}: samples read back", store.describe());
    let expected = (vec![("[(\"host\", \"a\")]".to_string(), 10), ("[(\"host\", \"b\")]".to_string(), 10)], 20);
    assert_eq!(counts(store, &m, span).await, expected, "{}: counts", store.describe());
    // A window's edges: its start is in, its end out.
    let edge = store.counts(&m, Window::new(T0 + SECOND, T0 + 3 * SECOND), None, &[]).await.unwrap();
    assert_eq!(edge.iter().map(|c| c.count).sum::<u64>(), 4, "{}: [1 s, 3 s) holds two samples a series", store.describe());

    expected
}

async fn conforms(store: &dyn SeriesStore, m_name: &str) {
    let caps = store.capabilities();
    let written = samples(m_name, caps.precision.nanos());
    let m = measurement(m_name);
    store.write(&m, &written).await.unwrap();
    store.flush().await.unwrap();
    let expected = reads_conform(store, m_name, &written).await;
    let span = Window::new(T0, T0 + 20 * SECOND);

    // Idempotent: the same samples again change nothing.
    store.write(&m, &written).await.unwrap();
    store.flush().await.unwrap();
    assert_eq!(counts(store, &m, span).await, expected, "{}: counts after writing again", store.describe());
    assert_eq!(sorted(store.samples(&m, span, &[]).await.unwrap()), sorted(written.clone()));

    if caps.can_delete {
        let gone = Window::new(T0 + 2 * SECOND, T0 + 5 * SECOND);
        store.delete(&m, &[(series(m_name, "a"), gone)]).await.unwrap();
        store.delete(&m, &[(series(m_name, "a"), gone)]).await.unwrap();
        store.flush().await.unwrap();
        let left = (vec![("[(\"host\", \"a\")]".to_string(), 7), ("[(\"host\", \"b\")]".to_string(), 10)], 17);
        assert_eq!(counts(store, &m, span).await, left, "{}: counts after deleting [2 s, 5 s) of a", store.describe());
        let kept: Vec<Sample> = written.into_iter().filter(|s| !(s.series.tags[0].1 == "a" && gone.contains(s.time))).collect();
        assert_eq!(sorted(store.samples(&m, span, &[]).await.unwrap()), sorted(kept));
    }
}

#[tokio::test]
async fn influxdb_conforms() {
    fresh_influx("rs_test_series_conformance").await;
    let store = open(&influx_url("rs_test_series_conformance")).await;
    assert_eq!(store.capabilities().precision.nanos(), 1, "InfluxDB keeps nanoseconds");
    conforms(store.as_ref(), "cpu").await;
}

#[tokio::test]
async fn victoriametrics_conforms() {
    let m = unique_name("rs_conf");
    vm_forget(&format!("{m}_.*")).await;
    let store = open(&vm_url()).await;
    conforms(store.as_ref(), &m).await;
    vm_forget(&format!("{m}_.*")).await;
}

#[tokio::test]
async fn dump_directory_conforms() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = open(&format!("dir://{}", dir.path().join("dump").display())).await;
    conforms(store.as_ref(), "cpu").await;
}

#[tokio::test]
async fn opentsdb_conforms_on_recorded_answers() {
    let (port, unanswered) = common::recorded::serve("opentsdb/conformance.json");
    let store = open(&format!("opentsdb://127.0.0.1:{port}")).await;
    let caps = store.capabilities();
    assert_eq!((caps.precision.nanos(), caps.can_delete), (1_000_000, false), "OpenTSDB keeps milliseconds and is never deleted from");
    let written = samples("cpu", caps.precision.nanos());
    // The recorded server answers only the body these samples must be sent as.
    store.write(&measurement("cpu"), &written).await.unwrap();
    reads_conform(store.as_ref(), "cpu", &written).await;
    assert!(unanswered.lock().unwrap().is_empty(), "asked what OpenTSDB was not recorded answering: {:?}", unanswered.lock().unwrap());
}
