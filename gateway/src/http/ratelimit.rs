//! Rate limits on writes: a token bucket per client address that counts
//! orders (a batch of 1,000 is 1,000, a load run of 100,000 is 100,000) and
//! every other write as one, so one client cannot flood the topic or the
//! admin API for everyone. It runs after the token check: a request that is
//! refused for its token takes nothing from anyone's bucket. Reads are not
//! limited. Off unless `--write-rate` is set.
//!
//! A write is let through only if its client's bucket holds all it costs:
//! a batch or load run's orders are counted once its body is read, before
//! anything is written. One larger than the burst (a second's worth) can
//! never fit and is refused with 422 naming the limit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::Method;
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
    tokens: f64,
    at: Instant,
}

/// Why a write was not let through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Refusal {
    /// The bucket holds too little now; this long until it holds enough.
    Wait(Duration),
    /// More than a second's worth (this many): it never fits.
    TooLarge(f64),
}

impl Refusal {
    fn into_error(self, what: &str) -> ApiError {
        match self {
            // Rounded up: a client that waits as long as it is told is let in.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Self::Wait(wait) => ApiError::RateLimited((wait.as_secs_f64().ceil() as u64).max(1)),
            Self::TooLarge(burst) => ApiError::InvalidField {
                field: what.to_owned(),
                message: format!(
                    "more orders at once than this gateway lets one client address write \
                     ({burst} a second, --write-rate): send fewer at a time"
                ),
            },
        }
    }
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            buckets: Mutex::new(Generations::default()),
        }
    }

    /// Takes `cost` writes from `client`'s bucket at `now` if it holds
    /// them all; else how long until it will, or that it never can.
    pub(crate) fn take(&self, client: Client, cost: u32, now: Instant) -> Result<(), Refusal> {
        let cost = f64::from(cost);
        if cost > self.per_second {
            return Err(Refusal::TooLarge(self.per_second));
        }
        self.with_bucket(client, now, |bucket, per_second| {
            if bucket.tokens >= cost {
                bucket.tokens -= cost;
                Ok(())
            } else {
                Err(Refusal::Wait(Duration::from_secs_f64(
                    (cost - bucket.tokens) / per_second,
                )))
            }
        })
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

/// Of the API guard (`super::guard`): a write takes one from its client's
/// bucket, or is 429 with `Retry-After`. Batches and load runs take their
/// orders themselves, once their bodies say how many ([`take_orders`]);
/// clearing the read-key cookie needs no token and takes nothing.
pub(crate) fn write_refusal(
    state: &AppState,
    peer: SocketAddr,
    request: &Request,
) -> Option<Response> {
    let path = request.uri().path();
    let counted_by_the_route = matches!(path, "/orders/batch" | "/load" | "/session")
        && *request.method() != Method::PATCH;
    if let Some(limiter) = &state.rate_limiter
        && is_write(request.method())
        && !counted_by_the_route
        && let Err(refusal) = limiter.take(Client::of(peer.ip()), 1, Instant::now())
    {
        return Some(refusal.into_error("body").into_response());
    }
    None
}

/// Takes `orders` from `peer`'s bucket before they are written: 429 when it
/// holds too few now, 422 naming `field` when they can never fit.
pub(crate) fn take_orders(
    state: &AppState,
    peer: SocketAddr,
    orders: usize,
    field: &str,
) -> Result<(), ApiError> {
    let Some(limiter) = &state.rate_limiter else {
        return Ok(());
    };
    let orders = u32::try_from(orders).unwrap_or(u32::MAX);
    limiter
        .take(Client::of(peer.ip()), orders, Instant::now())
        .map_err(|refusal| refusal.into_error(field))
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
        let Err(Refusal::Wait(wait)) = limiter.take(a, 1, t0) else {
            panic!("over the burst");
        };
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
    fn a_batch_takes_all_its_orders_before_it_is_written_or_is_refused() {
        let limiter = RateLimiter::new(10);
        let a = client("10.0.0.1");
        let t0 = Instant::now();
        assert_eq!(limiter.take(a, 11, t0), Err(Refusal::TooLarge(10.0)));
        assert!(limiter.take(a, 8, t0).is_ok());
        // 2 left: a batch of 5 waits for 3 more, 0.3 s.
        let Err(Refusal::Wait(wait)) = limiter.take(a, 5, t0) else {
            panic!("a batch over what is left waits");
        };
        assert!((wait.as_secs_f64() - 0.3).abs() < 1e-9, "{wait:?}");
        assert!(limiter.take(a, 5, t0 + Duration::from_millis(300)).is_ok());
        let ApiError::RateLimited(seconds) =
            Refusal::Wait(Duration::from_millis(1_200)).into_error("orders")
        else {
            panic!("429");
        };
        assert_eq!(seconds, 2, "Retry-After is rounded up");
        assert_eq!(
            Refusal::TooLarge(10.0).into_error("orders").status(),
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
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
