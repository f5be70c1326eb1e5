//! Progress events the engine emits; the CLI draws them (or not).

/// Receives progress of one table's comparison. Positions count top-level
/// ranges whose whole subtree is settled.
pub trait Progress: Send + Sync {
    fn begin(&self, _table: &str, _top_ranges: u64) {}
    fn advance(&self, _top_ranges_done: u64, _differences: u64) {}
    fn finish(&self) {}
}

/// Draws nothing (quiet runs, output not a terminal, tests).
pub struct NoProgress;

impl Progress for NoProgress {}
