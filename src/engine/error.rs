//! Errors of the engine and of the stores it drives.

use thiserror::Error;

/// The first line of an error message: drivers and servers append details
/// and hints that would break the one sentence a user gets.
pub fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// What went wrong in a store, with enough context to act on it. Messages
/// name the store by its redacted URL, never with a password.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The store cannot be reached or opened.
    #[error("cannot open {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String, retryable: bool },
    /// A read failed.
    #[error("reading {context} failed: {reason}")]
    Read { context: String, reason: String, retryable: bool },
    /// A write failed.
    #[error("writing {context} failed: {reason}")]
    Write { context: String, reason: String, retryable: bool },
    /// The request itself cannot be served: an unknown table, a table
    /// without a primary key, a value the store cannot hold. Retrying will
    /// not help; the user must change the input.
    #[error("{0}")]
    Invalid(String),
    /// The store itself does not exist (a SQLite file not there). Bad input
    /// for a source; for a sync target, something to create.
    #[error("{0}")]
    Missing(String),
}

impl StoreError {
    /// Transient failures (busy database, dropped connection) that a retry
    /// with backoff may clear.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Connect { retryable, .. }
            | StoreError::Read { retryable, .. }
            | StoreError::Write { retryable, .. } => *retryable,
            StoreError::Invalid(_) | StoreError::Missing(_) => false,
        }
    }
}

/// Errors of a run, each mapped to one exit code of the contract.
#[derive(Debug, Error)]
pub enum EngineError {
    /// Bad input: flags, URLs, schemas that do not match. Exit code 2.
    #[error("{0}")]
    Usage(String),
    /// A store failed after retries. Exit code 3.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A safety limit stopped the run. Exit code 4.
    #[error("{0}")]
    SafetyLimit(String),
}

impl EngineError {
    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::Usage(_) => 2,
            EngineError::Store(StoreError::Invalid(_) | StoreError::Missing(_)) => 2,
            EngineError::Store(_) => 3,
            EngineError::SafetyLimit(_) => 4,
        }
    }
}
