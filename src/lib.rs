//! rangesync: a diff-based sync engine.
//!
//! The crate is split the way data flows through a run:
//! - [`cli`] turns raw flags into a validated plan and prints the report;
//! - [`engine`] narrows mismatched key ranges level by level and applies the
//!   difference; it knows stores only through the traits in [`engine::store`];
//! - [`connector`] holds one folder per store implementing those traits.

pub mod cli;
pub mod connector;
pub mod engine;
