//! Errors of the engine and of the stores it drives.

use thiserror::Error;

/// The first line of an error message: drivers and servers append details
/// and hints that would break the one sentence a user gets.
pub fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Which of a run's two stores an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Source => "SOURCE",
            Side::Target => "TARGET",
        })
    }
}

/// Keeps the error a store's driver gave (sqlx, reqwest, I/O) as the
/// source of ours: `reason` says it in one sentence, the chain keeps it
/// whole for whoever walks it (`RUST_LOG=debug` logs it).
pub fn boxed(e: impl std::error::Error + Send + Sync + 'static) -> Option<Box<dyn std::error::Error + Send + Sync>> {
    Some(Box::new(e))
}

/// What went wrong in a store, with enough context to act on it. Messages
/// name the store by its redacted URL, never with a password.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The store cannot be reached or opened.
    #[error("cannot open {endpoint}: {reason}")]
    Connect {
        endpoint: String,
        reason: String,
        retryable: bool,
        // Spelled out: thiserror tells an optional source by its `Option`.
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A read failed.
    #[error("reading {context} failed: {reason}")]
    Read {
        context: String,
        reason: String,
        retryable: bool,
        // Spelled out: thiserror tells an optional source by its `Option`.
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A write failed.
    #[error("writing {context} failed: {reason}")]
    Write {
        context: String,
        reason: String,
        retryable: bool,
        // Spelled out: thiserror tells an optional source by its `Option`.
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The request itself cannot be served: an unknown table, a table
    /// without a primary key, a value the store cannot hold. Retrying will
    /// not help; the user must change the input.
    #[error("{0}")]
    Invalid(String),
    /// The store itself does not exist (a SQLite file not there). Bad input
    /// for a source; for a sync target, something to create.
    #[error("{0}")]
    Missing(String),
    /// An error of the store on one side of the run (tagged by
    /// [`crate::engine::sided::Sided`]); says what the error says, and its
    /// chain goes on with the error's cause.
    #[error(transparent)]
    OnSide(Box<SidedError>),
}

/// A store error and the side it comes from: shown as the error alone (its
/// message names the store), its source the error's own.
#[derive(Debug)]
pub struct SidedError {
    pub side: Side,
    pub error: StoreError,
}

impl std::fmt::Display for SidedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for SidedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl StoreError {
    /// Transient failures (busy database, dropped connection) that a retry
    /// with backoff may clear.
    pub fn is_retryable(&self) -> bool {
        match self.root() {
            StoreError::Connect { retryable, .. }
            | StoreError::Read { retryable, .. }
            | StoreError::Write { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// This error, caused by the driver's `e`.
    pub fn caused_by(mut self, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        if let StoreError::Connect { cause, .. } | StoreError::Read { cause, .. } | StoreError::Write { cause, .. } = &mut self {
            *cause = boxed(e);
        }
        self
    }

    /// The error as the store gave it, without its side.
    pub fn root(&self) -> &StoreError {
        match self {
            StoreError::OnSide(sided) => sided.error.root(),
            e => e,
        }
    }

    pub fn into_root(self) -> StoreError {
        match self {
            StoreError::OnSide(sided) => sided.error.into_root(),
            e => e,
        }
    }

    /// The side the error is about, when its store was opened as one.
    pub fn side(&self) -> Option<Side> {
        match self {
            StoreError::OnSide(sided) => Some(sided.side),
            _ => None,
        }
    }

    /// This error, said to come from `side` (the first side given stays).
    pub fn on(self, side: Side) -> StoreError {
        match self {
            e @ StoreError::OnSide(_) => e,
            error => StoreError::OnSide(Box::new(SidedError { side, error })),
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
    /// The side of the store that failed, when a store did.
    pub fn side(&self) -> Option<Side> {
        match self {
            EngineError::Store(e) => e.side(),
            _ => None,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::Usage(_) => 2,
            EngineError::Store(e) if matches!(e.root(), StoreError::Invalid(_) | StoreError::Missing(_)) => 2,
            EngineError::Store(_) => 3,
            EngineError::SafetyLimit(_) => 4,
        }
    }
}
