//! Rate limits on writes: a token bucket per client address that counts
//! orders (a batch of 1,000 is 1,000, a load run of 100,000 is 100,000) and
//! every other write as one, so one client cannot flood the topic or the
//! admin API for everyone. It runs after the token check: a request that is
//! refused for its token takes nothing from anyone's bucket. Reads are not
//! limited. Off unless `--write-rate` is set.
//!
//! A write is let through while its client's bucket is not in debt, and
//! then takes what it costs, into debt if it must: a batch larger than the
//! burst is allowed, and its client waits until the debt is paid off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::security::is_write;
use crate::admission::Client;
use crate::sync::lock;

/// Client addresses tracked at most: two generations of half as many each.
const MAX_TRACKED: usize = 10_000;

/// Orders (and other writes) per second per client address, with a burst of
/// one second's worth.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    buckets: Mutex<Generations>,
}

/// The buckets, in two generations so that the map stays bounded without a
/// sweep: when the current one is full it becomes the previous one, and
/// the previous one is dropped whole. A client found only in the previous
/// generation moves to the current one; a client in neither (idle while
/// at least [`MAX_TRACKED`]` / 2` others wrote) starts with a full bucket.
#[derive(Debug, Default)]
struct Generations {
    current: HashMap<Client, Bucket>,
    previous: HashMap<Client, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Below zero: the client's debt.
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            buckets: Mutex::new(Generations::default()),
        }
    }

    /// Takes `cost` writes from `client`'s bucket at `now` if it is not in
    /// debt, or says how long until it will not be.
    pub(crate) fn take(&self, client: Client, cost: u32, now: Instant) -> Result<(), Duration> {
        self.with_bucket(client, now, |bucket, per_second| {
            if bucket.tokens >= 1.0 {
                bucket.tokens -= f64::from(cost);
                Ok(())
            } else {
                Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
            }
        })
    }

    /// Takes `cost` more from a write already let through (the rest of a
    /// batch's orders, known once its body is read), into debt if need be.
    pub(crate) fn charge(&self, client: Client, cost: u32, now: Instant) {
        self.with_bucket(client, now, |bucket, _| bucket.tokens -= f64::from(cost));
    }

    fn with_bucket<T>(
        &self,
        client: Client,
        now: Instant,
        f: impl FnOnce(&mut Bucket, f64) -> T,
    ) -> T {
        let burst = self.per_second;
        let mut retired = HashMap::new();
        let result = {
            let mut buckets = lock(&self.buckets);
            let current = buckets.current.get(&client).copied();
            let found = current.or_else(|| buckets.previous.get(&client).copied());
            // Each generation holds at most half: a client about to enter a
            // full current generation (new, or moving up from the previous
            // one, whose bucket is kept in `found`) retires the previous one.
            if current.is_none() && buckets.current.len() >= MAX_TRACKED / 2 {
                let full = std::mem::take(&mut buckets.current);
                retired = std::mem::replace(&mut buckets.previous, full);
            }
            let mut bucket = found.unwrap_or(Bucket {
                tokens: burst,
                at: now,
            });
            let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_second;
            bucket.tokens = (bucket.tokens + refill).min(burst);
            bucket.at = now;
            let result = f(&mut bucket, self.per_second);
            buckets.previous.remove(&client);
            buckets.current.insert(client, bucket);
            result
        };
        // The retired generation is freed outside the lock.
        drop(retired);
        result
    }
}

/// Middleware: a write from a client whose bucket is in debt is 429 with
/// `Retry-After`; any other write takes one. Order routes charge the rest
/// of their orders themselves ([`charge_orders`]).
pub(crate) async fn limit_writes(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(limiter) = &state.rate_limiter
        && is_write(request.method())
        && let Err(wait) = limiter.take(Client::of(peer.ip()), 1, Instant::now())
    {
        return ApiError::RateLimited(wait.as_secs().max(1)).into_response();
    }
    next.run(request).await
}

/// Charges `orders` written on behalf of `peer` beyond the one its request
/// was let through for.
pub(crate) fn charge_orders(state: &AppState, peer: SocketAddr, orders: usize) {
    if let Some(limiter) = &state.rate_limiter {
        let extra = u32::try_from(orders.saturating_sub(1)).unwrap_or(u32::MAX);
        limiter.charge(Client::of(peer.ip()), extra, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_a_seconds_burst_then_its_rate() {
        let limiter = RateLimiter::new(5);
        let (a, b) = (client("10.0.0.1"), client("10.0.0.2"));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(limiter.take(a, 1, t0).is_ok());
        }
        let wait = limiter.take(a, 1, t0).expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        // Another client has its own bucket.
        assert!(limiter.take(b, 1, t0).is_ok());
        // A fifth of a second later, one more.
        assert!(limiter.take(a, 1, t0 + Duration::from_millis(200)).is_ok());
        assert!(limiter.take(a, 1, t0 + Duration::from_millis(200)).is_err());
    }

    fn client(s: &str) -> Client {
        Client::of(s.parse().expect("ip"))
    }

    #[test]
    fn orders_count_and_a_large_batch_is_paid_off_before_the_next_write() {
        let limiter = RateLimiter::new(10);
        let a = client("10.0.0.1");
        let t0 = Instant::now();
        assert!(limiter.take(a, 1, t0).is_ok());
        limiter.charge(a, 29, t0);
        // 10 - 30 = -20: two seconds of debt, then the third refills to 1.
        let wait = limiter.take(a, 1, t0).expect_err("in debt");
        assert!(
            wait > Duration::from_secs(2) && wait <= Duration::from_secs(3),
            "{wait:?}"
        );
        assert!(limiter.take(a, 1, t0 + Duration::from_secs(2)).is_err());
        assert!(
            limiter
                .take(a, 1, t0 + Duration::from_millis(2_100))
                .is_ok()
        );
    }

    #[test]
    fn clients_moving_up_from_the_previous_generation_do_not_grow_the_map() {
        let limiter = RateLimiter::new(1_000);
        let t0 = Instant::now();
        let half = u32::try_from(MAX_TRACKED / 2).expect("small");
        let ip = |n: u32| Client::of(std::net::IpAddr::from(n.to_be_bytes()));
        let mut last_round = Vec::new();
        for round in 0..4u32 {
            let fresh: Vec<u32> = (1..half).map(|i| round * half + i).collect();
            // New clients first, then every client of the round before
            // again: the order that would stack generations up.
            for &n in fresh.iter().chain(&last_round) {
                let _ = limiter.take(ip(n), 1, t0);
                let buckets = lock(&limiter.buckets);
                assert!(buckets.current.len() + buckets.previous.len() <= MAX_TRACKED);
            }
            last_round = fresh;
        }
    }

    #[test]
    fn the_buckets_stay_bounded_and_a_busy_client_keeps_its_bucket() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        let busy = client("192.0.2.1");
        assert!(limiter.take(busy, 1, t0).is_ok());
        for i in 0..(3 * MAX_TRACKED) {
            let ip = std::net::IpAddr::from((u32::try_from(i).expect("small") + 1).to_be_bytes());
            assert!(limiter.take(Client::of(ip), 1, t0).is_ok());
            if i % 1_000 == 0 {
                assert!(
                    limiter.take(busy, 1, t0).is_err(),
                    "still limited after {i}"
                );
            }
            let buckets = lock(&limiter.buckets);
            assert!(buckets.current.len() + buckets.previous.len() <= MAX_TRACKED);
        }
    }
}
