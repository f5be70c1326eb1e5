//! Retries with exponential backoff for transient store errors.

use std::future::Future;
use std::time::Duration;

use super::error::StoreError;

/// How often and how patiently to retry. Only errors whose
/// [`StoreError::is_retryable`] says so are retried; the last error is
/// returned as is, so the user sees what finally failed.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    pub async fn run<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) => attempt = self.backoff(what, attempt, e).await?,
            }
        }
    }

    /// After failed attempt number `attempt`: waits and returns the next
    /// attempt's number when `e` is worth another try, or gives `e` back.
    /// For loops that cannot be a closure (an operation borrowing its
    /// caller mutably).
    pub async fn backoff(&self, what: &str, attempt: u32, e: StoreError) -> Result<u32, StoreError> {
        if !e.is_retryable() || attempt >= self.attempts {
            return Err(e);
        }
        let delay = self.first_delay.saturating_mul(1 << (attempt - 1).min(16)).min(self.max_delay);
        // Shown with -v: the final error is the one sentence users get by
        // default.
        tracing::info!(attempt, ?delay, "{what}: {e}; retrying");
        tokio::time::sleep(delay).await;
        Ok(attempt + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy { attempts: 3, first_delay: Duration::from_millis(1), max_delay: Duration::from_millis(2) }
    }

    #[tokio::test]
    async fn retries_transient_errors_then_gives_up() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = fast()
            .run("read", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::Read { context: "t".into(), reason: "busy".into(), retryable: true, cause: None })
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn does_not_retry_bad_input_and_returns_success() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = fast()
            .run("read", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::Invalid("no such table".into()))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let n = AtomicU32::new(0);
        let ok = fast()
            .run("read", || async {
                if n.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(StoreError::Read { context: "t".into(), reason: "busy".into(), retryable: true, cause: None })
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!(ok, 7);
    }
}
