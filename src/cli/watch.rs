//! `rangesync watch --profile FILE`: the long-running form. Every
//! `interval` a cycle compares and repairs (the recent part, and every
//! `full_every`-th cycle everything), finding gaps from the data itself;
//! health, recent cycles and Prometheus metrics are served over HTTP.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::Notify;

use crate::engine::error::{EngineError, Side};
use crate::engine::report::{DatasetReport, Report};

use super::plan::Plan;
use super::profile::Watch;

/// The health of the pair a profile keeps reconciled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PairState {
    Ok,
    SourceDown,
    TargetDown,
    /// A side is back after being down: the cycle repairing what it missed
    /// is running.
    Recovering,
    /// The last cycle reconciled some databases and failed on others
    /// (`databases` in the health says which).
    Degraded,
}

/// One database of a profile mirroring several, as its last cycle left it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DatabaseHealth {
    /// `OK` or `FAILED`.
    pub state: &'static str,
    pub last_healthy: Option<String>,
    pub last_error: Option<String>,
    /// Differences its last cycle found, and rows (points) it wrote.
    pub differing: u64,
    pub written: u64,
}

/// What `/api/health` shows, and `/metrics` counts.
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    pub state: PairState,
    pub source: String,
    pub target: String,
    pub source_last_healthy: Option<String>,
    pub target_last_healthy: Option<String>,
    pub recoveries: u64,
    pub last_recovery_seconds: Option<f64>,
    pub last_error: Option<String>,
    pub cycles: u64,
    /// The latest state changes, oldest first: (when, new state).
    pub transitions: Vec<(String, PairState)>,
    /// A profile over several databases: each one's own health.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub databases: BTreeMap<String, DatabaseHealth>,
}

/// One cycle, as `/api/runs` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct Cycle {
    pub started: String,
    pub full: bool,
    pub seconds: f64,
    pub state: PairState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Default)]
struct Totals {
    compared: u64,
    differing: u64,
    written: u64,
    errors: u64,
    last_cycle_seconds: f64,
    /// Time series: the newest point TARGET held at the last recent cycle.
    target_newest: Option<i64>,
}

struct Daemon {
    health: Mutex<Health>,
    /// The latest cycles as `/api/runs` shows them, oldest first; kept in
    /// the state store too, so a restarted daemon shows its predecessor's.
    runs: Mutex<Vec<serde_json::Value>>,
    totals: Mutex<Totals>,
    /// `POST /api/sync`: a cycle now.
    wake: Notify,
    token: Option<String>,
    /// When the pair went down (for the recovery's duration).
    down_since: Mutex<Option<Instant>>,
}

const RUNS_KEPT: usize = 50;

impl Daemon {
    fn new(plan: &Plan, token: Option<String>, runs: Vec<serde_json::Value>) -> Daemon {
        Daemon {
            health: Mutex::new(Health {
                state: PairState::Ok,
                source: plan.source.to_string(),
                target: plan.target.to_string(),
                source_last_healthy: None,
                target_last_healthy: None,
                recoveries: 0,
                last_recovery_seconds: None,
                last_error: None,
                cycles: 0,
                transitions: Vec::new(),
                databases: BTreeMap::new(),
            }),
            runs: Mutex::new(runs),
            totals: Mutex::new(Totals::default()),
            wake: Notify::new(),
            token,
            down_since: Mutex::new(None),
        }
    }
}

/// What a daemon runs, all from its profile.
pub struct Plans {
    /// Every `full_every`-th cycle: the sync `sync --profile FILE` runs.
    pub full: Plan,
    /// The other cycles: that sync with `--lite` and the `recent` lookback.
    pub recent: Plan,
    pub settings: Watch,
    /// The profile's state store, held (locked) for the daemon's life.
    pub state: std::path::PathBuf,
}

/// The plans of `rangesync watch`, from the profile (and `--listen`).
pub fn plans(w: &super::args::WatchArgs) -> Result<Plans, EngineError> {
    let profile = super::profile::Profile::load(&w.profile)?;
    let mut settings = profile.watch.ok_or_else(|| {
        EngineError::Usage(format!("profile {} has no [watch] section (interval, listen...); see docs/watch.md", w.profile.display()))
    })?;
    if let Some(l) = &w.listen {
        settings.listen = listen(l).map_err(EngineError::Usage)?;
    }
    let mut full = Plan::sync(super::args::SyncArgs::from_profile(w.profile.clone()))?;
    let mut recent = full.clone();
    recent.lite = true;
    if let super::plan::Family::Series(series) = &mut recent.family {
        series.lookback = settings.recent;
    }
    // The daemon holds the state store (its lock) for its whole life; its
    // cycles keep no runs of their own.
    let state = full.state.take().unwrap_or_else(|| w.profile.with_extension("state.sqlite"));
    recent.state = None;
    Ok(Plans { full, recent, settings, state })
}

/// Runs the daemon until SIGINT or SIGTERM; the cycle in hand finishes
/// first.
pub async fn run(plans: Plans) -> Result<(), EngineError> {
    let Plans { full: plan, recent, settings: watch, state } = plans;
    // One daemon per profile: its state store's lock, held until it stops.
    let lock = crate::engine::state::StateStore::open(&state, "watch").await?;
    let listener = match tokio::net::TcpListener::bind(watch.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            // Refused before it began: no state store is left behind.
            lock.discard_if_unused().await;
            return Err(EngineError::Usage(format!("cannot listen on {}: {e}", watch.listen)));
        }
    };
    // The cycles of earlier daemons of this profile, from its state store.
    let kept = lock.cycles(RUNS_KEPT).await?.iter().filter_map(|c| serde_json::from_str(c).ok()).collect();
    let daemon = Arc::new(Daemon::new(&plan, watch.token.clone(), kept));
    let app = Router::new()
        .route("/api/health", get(health))
        .route("/api/runs", get(runs))
        .route("/metrics", get(metrics))
        .route("/api/sync", post(sync_now))
        .with_state(daemon.clone());
    tracing::info!(listen = %watch.listen, interval = ?watch.interval, "watching");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    // Listened for from now on, the first cycle included; acted on between
    // cycles, so the cycle in hand finishes.
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut cycle_no: u64 = 0;
    loop {
        let full = cycle_no % watch.full_every == 0;
        cycle_no += 1;
        let done = cycle(if full { &plan } else { &recent }, &daemon, full).await;
        if let Err(e) = lock.record_cycle(&done.to_string(), RUNS_KEPT).await {
            tracing::warn!("the cycle could not be kept in the state store: {e}");
        }
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            _ = tokio::time::sleep(watch.interval) => {}
            _ = daemon.wake.notified() => {}
        }
    }
    tracing::info!("stopping: the last cycle finished");
    server.abort();
    lock.finish(Some("{}")).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// One compare-and-repair of the pair; its outcome sets the state. Returns
/// the cycle as `/api/runs` shows it.
async fn cycle(plan: &Plan, daemon: &Daemon, full: bool) -> serde_json::Value {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339();
    let was = daemon.health.lock().unwrap_or_else(|p| p.into_inner()).state;
    // A side that was down is asked first: RECOVERING once it answers; a
    // cycle against a side still down is not run.
    let down = match was {
        PairState::SourceDown => Some(Side::Source),
        PairState::TargetDown => Some(Side::Target),
        _ => None,
    };
    let outcome = match down {
        Some(side) => match reachable(plan, side).await {
            Ok(()) => {
                set_state(daemon, PairState::Recovering);
                super::passes::run(plan, &super::progress::Bar::new(true)).await
            }
            Err(e) => Err(e),
        },
        None => super::passes::run(plan, &super::progress::Bar::new(true)).await,
    };
    let seconds = started.elapsed().as_secs_f64();
    let (state, report, error) = match outcome {
        Ok(report) => {
            succeeded(daemon, &report, seconds);
            let written: u64 = report.datasets.iter().map(|d| d.inserted + d.updated + d.deleted).sum();
            tracing::info!(full, seconds, written, "cycle done");
            let state = if report.failure_code().is_some() { PairState::Degraded } else { PairState::Ok };
            (state, Some(report), None)
        }
        Err(e) => {
            failed(daemon, &e, started, seconds);
            tracing::warn!(error = %e, "cycle failed");
            (side_down(&e), None, Some(e.to_string()))
        }
    };
    set_state(daemon, state);
    daemon.health.lock().unwrap_or_else(|p| p.into_inner()).cycles += 1;
    let done = serde_json::to_value(Cycle { started: started_at, full, seconds, state, report, error }).unwrap_or_default();
    let mut runs = daemon.runs.lock().unwrap_or_else(|p| p.into_inner());
    runs.push(done.clone());
    if runs.len() > RUNS_KEPT {
        runs.remove(0);
    }
    done
}

/// A cycle that ended well: totals counted, both sides healthy now, a
/// recovery (if the pair was down) timed.
fn succeeded(daemon: &Daemon, report: &Report, seconds: f64) {
    {
        let mut t = daemon.totals.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(newest) = report.datasets.iter().filter_map(|d| d.target_newest).max() {
            t.target_newest = Some(newest);
        }
        for d in &report.datasets {
            t.compared += d.source_rows;
            t.differing += d.differences();
            t.written += d.inserted + d.updated + d.deleted;
        }
        t.last_cycle_seconds = seconds;
    }
    let now = chrono::Utc::now().to_rfc3339();
    let recovered = daemon.down_since.lock().unwrap_or_else(|p| p.into_inner()).take();
    let mut h = daemon.health.lock().unwrap_or_else(|p| p.into_inner());
    for d in &report.databases {
        let prefix = format!("{}/", d.name);
        let of_it: Vec<&DatasetReport> = report.datasets.iter().filter(|r| r.name.starts_with(&prefix)).collect();
        let e = h.databases.entry(d.name.clone()).or_default();
        e.differing = of_it.iter().map(|r| r.differences()).sum();
        e.written = of_it.iter().map(|r| r.inserted + r.updated + r.deleted).sum();
        match &d.error {
            None => {
                e.state = "OK";
                e.last_healthy = Some(now.clone());
                e.last_error = None;
            }
            Some(err) => {
                e.state = "FAILED";
                e.last_error = Some(err.clone());
            }
        }
    }
    h.last_error = report.databases.iter().find_map(|d| d.error.as_ref().map(|e| format!("database {}: {e}", d.name)));
    h.source_last_healthy = Some(now.clone());
    h.target_last_healthy = Some(now);
    if let Some(since) = recovered {
        h.recoveries += 1;
        h.last_recovery_seconds = Some(since.elapsed().as_secs_f64());
    }
}

/// A cycle that failed: counted, and the pair down since it began.
fn failed(daemon: &Daemon, e: &EngineError, started: Instant, seconds: f64) {
    {
        let mut t = daemon.totals.lock().unwrap_or_else(|p| p.into_inner());
        t.errors += 1;
        t.last_cycle_seconds = seconds;
    }
    daemon.down_since.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(started);
    let mut h = daemon.health.lock().unwrap_or_else(|p| p.into_inner());
    h.last_error = Some(e.to_string());
    // The whole cycle failed: no database was reconciled.
    for d in h.databases.values_mut() {
        d.state = "FAILED";
        d.last_error = Some(e.to_string());
    }
}

/// Whether a side answers again: it is opened (and closed) for reading.
async fn reachable(plan: &Plan, side: Side) -> Result<(), EngineError> {
    use crate::connector::{self, Access};
    let endpoint = match side {
        Side::Source => &plan.source,
        Side::Target => &plan.target,
    };
    match plan.series() {
        Some(series) => connector::open_series_side(side, endpoint, Access::Read, &series.settings).await.map(drop),
        None => connector::open_side(side, endpoint, Access::Read).await.map(drop),
    }
    .map_err(EngineError::from)
}

fn set_state(daemon: &Daemon, state: PairState) {
    let mut h = daemon.health.lock().unwrap_or_else(|p| p.into_inner());
    if h.state != state {
        tracing::info!(from = ?h.state, to = ?state, "state");
        h.transitions.push((chrono::Utc::now().to_rfc3339(), state));
        if h.transitions.len() > 20 {
            h.transitions.remove(0);
        }
    }
    h.state = state;
}

/// Which side a failure is about: the side its store error carries (each
/// store of a run is opened as SOURCE or TARGET). A failure of neither
/// store (a safety limit, the state store) counts against TARGET, the side
/// a sync writes.
fn side_down(e: &EngineError) -> PairState {
    match e.side() {
        Some(Side::Source) => PairState::SourceDown,
        Some(Side::Target) | None => PairState::TargetDown,
    }
}

async fn health(State(d): State<Arc<Daemon>>) -> Response {
    let h = d.health.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let status = if h.state == PairState::Ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(h)).into_response()
}

async fn runs(State(d): State<Arc<Daemon>>) -> Response {
    let runs: Vec<serde_json::Value> = d.runs.lock().unwrap_or_else(|p| p.into_inner()).iter().rev().cloned().collect();
    Json(runs).into_response()
}

/// Each database of a profile over several: 1 when its last cycle
/// reconciled it, 0 when it failed.
fn database_metrics(databases: &BTreeMap<String, DatabaseHealth>) -> String {
    if databases.is_empty() {
        return String::new();
    }
    let mut out = String::from("# HELP rangesync_database_ok Whether a database's last cycle reconciled it (1) or failed (0).\n# TYPE rangesync_database_ok gauge\n");
    for (name, d) in databases {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str(&format!("rangesync_database_ok{{database=\"{escaped}\"}} {}\n", u8::from(d.state == "OK")));
    }
    out
}

async fn metrics(State(d): State<Arc<Daemon>>) -> Response {
    let t = d.totals.lock().unwrap_or_else(|p| p.into_inner());
    let h = d.health.lock().unwrap_or_else(|p| p.into_inner());
    let up = |s: PairState| if h.state == s { 1 } else { 0 };
    let text = format!(
        "# HELP rangesync_rows_compared_total Rows (points) compared, summed over cycles.\n\
         # TYPE rangesync_rows_compared_total counter\n\
         rangesync_rows_compared_total {}\n\
         # HELP rangesync_rows_differing_total Differences found, summed over cycles.\n\
         # TYPE rangesync_rows_differing_total counter\n\
         rangesync_rows_differing_total {}\n\
         # HELP rangesync_rows_written_total Rows (points) written or deleted on the target.\n\
         # TYPE rangesync_rows_written_total counter\n\
         rangesync_rows_written_total {}\n\
         # HELP rangesync_errors_total Cycles that failed.\n\
         # TYPE rangesync_errors_total counter\n\
         rangesync_errors_total {}\n\
         # HELP rangesync_cycles_total Cycles run.\n\
         # TYPE rangesync_cycles_total counter\n\
         rangesync_cycles_total {}\n\
         # HELP rangesync_cycle_duration_seconds Duration of the last cycle.\n\
         # TYPE rangesync_cycle_duration_seconds gauge\n\
         rangesync_cycle_duration_seconds {}\n\
         # HELP rangesync_recoveries_total Times the pair came back from a side being down.\n\
         # TYPE rangesync_recoveries_total counter\n\
         rangesync_recoveries_total {}\n\
         # HELP rangesync_state The pair's state (1 for the current one).\n\
         # TYPE rangesync_state gauge\n\
         rangesync_state{{state=\"OK\"}} {}\n\
         rangesync_state{{state=\"SOURCE_DOWN\"}} {}\n\
         rangesync_state{{state=\"TARGET_DOWN\"}} {}\n\
         rangesync_state{{state=\"RECOVERING\"}} {}\n\
         rangesync_state{{state=\"DEGRADED\"}} {}\n{}{}",
        t.compared,
        t.differing,
        t.written,
        t.errors,
        h.cycles,
        t.last_cycle_seconds,
        h.recoveries,
        up(PairState::Ok),
        up(PairState::SourceDown),
        up(PairState::TargetDown),
        up(PairState::Recovering),
        up(PairState::Degraded),
        match t.target_newest {
            Some(newest) => {
                let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
                format!(
                    "# HELP rangesync_newest_point_lag_seconds How far behind now TARGET's newest point was at the last cycle (to the minute).\n\
                     # TYPE rangesync_newest_point_lag_seconds gauge\n\
                     rangesync_newest_point_lag_seconds {}\n",
                    (now.saturating_sub(newest)) as f64 / 1e9
                )
            }
            None => String::new(),
        },
        database_metrics(&h.databases),
    );
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn sync_now(State(d): State<Arc<Daemon>>, headers: HeaderMap) -> Response {
    if let Some(token) = &d.token {
        let given = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({"error": "POST /api/sync needs the profile's token: Authorization: Bearer TOKEN"}))).into_response();
        }
    }
    d.wake.notify_one();
    (StatusCode::ACCEPTED, Json(serde_json::json!({"status": "a cycle starts now (or after the one running)"}))).into_response()
}

/// How long to wait between cycles, parsed (`5m`, `30s`; zero is refused
/// as no positive duration).
pub fn interval(text: &str) -> Result<Duration, String> {
    Ok(Duration::from_nanos(crate::engine::series::window::parse_duration(text)? as u64))
}

/// Where the daemon listens by default: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9180";

pub fn listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| format!("'{text}' is not an address to listen on (write 127.0.0.1:9180)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_side_down_is_the_side_the_error_carries() {
        use crate::engine::error::StoreError;
        let refused = || StoreError::Connect { endpoint: "postgres://u@h/shop".into(), reason: "connection refused".into(), retryable: true, cause: None };
        assert_eq!(side_down(&refused().on(Side::Source).into()), PairState::SourceDown);
        assert_eq!(side_down(&refused().on(Side::Target).into()), PairState::TargetDown);
        // The first side given stays (a sided store's error passed on).
        assert_eq!(side_down(&refused().on(Side::Source).on(Side::Target).into()), PairState::SourceDown);
        assert_eq!(side_down(&EngineError::SafetyLimit("too many deletes".into())), PairState::TargetDown);
    }

    #[test]
    fn intervals_and_addresses_are_checked() {
        assert_eq!(interval("0s").unwrap_err(), "'0s' is not a positive duration");
        assert_eq!(interval("90s").unwrap(), Duration::from_secs(90));
        assert!(listen("localhost").is_err());
    }
}
