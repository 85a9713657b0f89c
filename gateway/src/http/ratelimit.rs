//! Rate limits on writes: a token bucket per client address, so one client
//! cannot flood the topic or the admin API for everyone. Reads are not
//! limited. Off unless `--write-rate` is set.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::security::is_write;
use crate::sync::lock;

/// Client addresses tracked at most; past it, idle ones are forgotten.
const MAX_TRACKED: usize = 10_000;

/// Writes per second per client address, with a burst of one second's worth.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one write from `client`'s bucket at `now`, or says how long
    /// until the next one is allowed.
    pub(crate) fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = lock(&self.buckets);
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&client) {
            // A full bucket is one that has been idle for a second: forget those.
            buckets.retain(|_, b| now.duration_since(b.at) < Duration::from_secs(1));
        }
        let burst = self.per_second;
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

/// Middleware: a write over the client's rate is 429 with `Retry-After`.
pub(crate) async fn limit_writes(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(limiter) = &state.rate_limiter
        && is_write(request.method())
        && let Err(wait) = limiter.take(peer.ip(), Instant::now())
    {
        return ApiError::RateLimited(wait.as_secs().max(1)).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_a_seconds_burst_then_its_rate() {
        let limiter = RateLimiter::new(5);
        let (a, b) = (
            "10.0.0.1".parse().expect("ip"),
            "10.0.0.2".parse().expect("ip"),
        );
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(limiter.take(a, t0).is_ok());
        }
        let wait = limiter.take(a, t0).expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        // Another client has its own bucket.
        assert!(limiter.take(b, t0).is_ok());
        // A fifth of a second later, one more.
        assert!(limiter.take(a, t0 + Duration::from_millis(200)).is_ok());
        assert!(limiter.take(a, t0 + Duration::from_millis(200)).is_err());
    }

    #[test]
    fn idle_clients_are_forgotten_when_many_are_tracked() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED {
            let ip = IpAddr::from((u32::try_from(i).expect("small")).to_be_bytes());
            assert!(limiter.take(ip, t0).is_ok());
        }
        let later = t0 + Duration::from_secs(2);
        assert!(
            limiter
                .take("192.0.2.1".parse().expect("ip"), later)
                .is_ok()
        );
        assert_eq!(lock(&limiter.buckets).len(), 1);
    }
}
