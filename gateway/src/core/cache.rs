//! A value read from the broker, shared by every request for a moment.
//!
//! Every open dashboard polls health and groups; without sharing, each poll
//! would cost its own metadata and offset requests.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub(crate) struct Cached<T> {
    /// A tokio mutex, held across the refresh on purpose: concurrent
    /// requests wait for one refresh instead of each starting their own.
    slot: Mutex<Option<(Instant, T)>>,
    fresh_for: Duration,
}

impl<T: Clone> Cached<T> {
    pub(crate) fn new(fresh_for: Duration) -> Self {
        Self {
            slot: Mutex::new(None),
            fresh_for,
        }
    }

    /// The cached value if it is fresh, else the result of `refresh`, cached.
    pub(crate) async fn get<F: Future<Output = T>>(&self, refresh: impl FnOnce() -> F) -> T {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = &*slot
            && at.elapsed() < self.fresh_for
        {
            return value.clone();
        }
        let value = refresh().await;
        *slot = Some((Instant::now(), value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refreshes_only_when_stale() {
        let cache = Cached::new(Duration::from_secs(1));
        assert_eq!(cache.get(|| async { 1 }).await, 1);
        assert_eq!(cache.get(|| async { 2 }).await, 1);
        tokio::time::advance(Duration::from_millis(1_001)).await;
        assert_eq!(cache.get(|| async { 3 }).await, 3);
    }
}
