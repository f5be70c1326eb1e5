//! The store-independent core: values and their canonical encoding, keys and
//! key ranges, fingerprints, the level-by-level narrowing, and the guarded
//! application of the difference. Nothing here imports a connector.

pub mod apply;
pub mod dependencies;
pub mod diff;
pub mod empty;
pub mod error;
pub mod fingerprint;
pub mod key;
pub mod matching;
pub mod progress;
pub mod range;
pub mod report;
pub mod retry;
pub mod state;
pub mod series;
pub mod sided;
pub mod store;
pub mod value;
pub mod zoom;

pub use error::{EngineError, StoreError};
pub use fingerprint::{Fingerprint, RowHash};
pub use key::Key;
pub use range::KeyRange;
pub use value::Value;
