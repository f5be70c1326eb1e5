//! The time-series family (InfluxDB, VictoriaMetrics, OpenTSDB, dump
//! directories): samples keyed by (measurement, series, time), compared in
//! half-open time windows zoomed by durations. Like the rest of the engine,
//! nothing here imports a connector.

pub mod copy;
pub mod cost;
pub mod diff;
pub mod label;
pub mod lite;
pub mod merge;
pub mod reads;
pub mod sample;
pub mod sink;
pub mod store;
pub mod window;

pub use sample::{FieldType, Precision, Sample, Series};
pub use store::{Count, Measurement, SeriesCapabilities, SeriesStore, Sum};
pub use window::{TimeZoom, Window};
