//! The load generator: `POST /api/load` places N orders at R per second,
//! keyed over M customers, through the same producer and the same checks as
//! `POST /api/orders`, so a person can watch Kafka take a spike while the
//! services behind it catch up at their own pace.
//!
//! Open loop: orders are sent on schedule whether or not earlier ones were
//! acknowledged yet, as real traffic would be, up to a bound on orders in
//! flight; past it the generator waits, and its rate falls short of the asked
//! one (the charts show it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use wire::load::{LoadRequest, LoadState, LoadStatus};
use wire::{NewOrder, OrderItem};

use super::orders::Orders;
use crate::clock::now_ms;
use crate::sync::lock;

/// Orders awaiting the broker's acknowledgement at once, at most.
const MAX_IN_FLIGHT: usize = 4_096;
/// How often the generator catches up with its schedule.
const TICK: Duration = Duration::from_millis(5);

/// Why a run was not started.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("a load run is already running")]
    Running,
}

/// The last load run, if any.
#[derive(Default)]
pub(crate) struct Load {
    current: Mutex<Option<Run>>,
}

struct Run {
    progress: Arc<Progress>,
    cancel: CancellationToken,
}

/// A run's counters, written by its tasks, read by status requests.
struct Progress {
    request: LoadRequest,
    started_at_ms: i64,
    sent: AtomicU64,
    acknowledged: AtomicU64,
    failed: AtomicU64,
    /// Set when the run ends: how, and when.
    ended: Mutex<Option<(LoadState, i64)>>,
}

impl Progress {
    fn status(&self) -> LoadStatus {
        let ended = *lock(&self.ended);
        LoadStatus {
            request: self.request.clone(),
            started_at_ms: self.started_at_ms,
            sent: self.sent.load(Ordering::Relaxed),
            acknowledged: self.acknowledged.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            state: ended.map_or(LoadState::Running, |(state, _)| state),
            ended_at_ms: ended.map(|(_, at)| at),
        }
    }
}

impl Load {
    /// Starts a run of `request` through `orders`; it stops at `shutdown`
    /// too. One run at a time.
    pub(crate) fn start(
        &self,
        request: LoadRequest,
        orders: Arc<Orders>,
        shutdown: &CancellationToken,
    ) -> Result<LoadStatus, LoadError> {
        let mut current = lock(&self.current);
        if let Some(run) = &*current
            && lock(&run.progress.ended).is_none()
        {
            return Err(LoadError::Running);
        }
        let progress = Arc::new(Progress {
            request,
            started_at_ms: now_ms(),
            sent: AtomicU64::new(0),
            acknowledged: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            ended: Mutex::new(None),
        });
        // A child token: gateway shutdown stops the run too.
        let cancel = shutdown.child_token();
        tokio::spawn(generate(progress.clone(), orders, cancel.clone()));
        let status = progress.status();
        *current = Some(Run { progress, cancel });
        Ok(status)
    }

    pub(crate) fn status(&self) -> Option<LoadStatus> {
        lock(&self.current)
            .as_ref()
            .map(|run| run.progress.status())
    }

    /// Stops sending. Orders already sent are acknowledged or failed as
    /// usual; the run's state turns `cancelled` once they all are.
    pub(crate) fn cancel(&self) -> Option<LoadStatus> {
        let current = lock(&self.current);
        let run = current.as_ref()?;
        run.cancel.cancel();
        Some(run.progress.status())
    }
}

/// The `i`-th order of a run: customers in turn, so keys spread evenly.
fn order(i: u64, customers: u32) -> NewOrder {
    NewOrder {
        customer_id: format!("load-customer-{}", i % u64::from(customers)),
        items: vec![OrderItem {
            sku: "LOAD-1".into(),
            quantity: 1 + u32::try_from(i % 3).unwrap_or(0),
            unit_price_cents: 999,
        }],
    }
}

/// How many orders should have been sent `elapsed` into a run at `rate`
/// per second, capped at `total`.
fn due(elapsed: Duration, rate: u32, total: u32) -> u64 {
    let due = (elapsed.as_secs_f64() * f64::from(rate)).floor() as u64;
    due.min(u64::from(total))
}

async fn generate(progress: Arc<Progress>, placer: Arc<Orders>, cancel: CancellationToken) {
    let LoadRequest {
        orders,
        rate,
        customers,
    } = progress.request.clone();
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let started = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut sent = 0_u64;
    // The first order goes at once; then the schedule says how many are due.
    'run: while sent < u64::from(orders) {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break 'run,
            _ = tick.tick() => {}
        }
        let target = due(started.elapsed(), rate, orders).max(1);
        while sent < target {
            let permit = tokio::select! {
                biased;
                _ = cancel.cancelled() => break 'run,
                permit = in_flight.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break 'run,
                },
            };
            let order = order(sent, customers);
            // Checked like any order from the network, though it is ours.
            if order.validate().is_err() {
                progress.failed.fetch_add(1, Ordering::Relaxed);
            } else {
                let (placer, progress) = (placer.clone(), progress.clone());
                tokio::spawn(async move {
                    let counter = match placer.place(order).await {
                        Ok(_) => &progress.acknowledged,
                        Err(_) => &progress.failed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    drop(permit);
                });
            }
            sent += 1;
            progress.sent.store(sent, Ordering::Relaxed);
        }
    }
    // Wait for the orders in flight: the run has ended when each is
    // acknowledged or failed. Sends are bounded by the delivery timeout.
    let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
    let _ = in_flight.acquire_many(all).await;
    let state = if sent < u64::from(orders) {
        LoadState::Cancelled
    } else {
        LoadState::Finished
    };
    *lock(&progress.ended) = Some((state, now_ms()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_due_on_schedule_and_never_beyond_the_total() {
        assert_eq!(due(Duration::ZERO, 1_000, 50), 0);
        assert_eq!(due(Duration::from_millis(10), 1_000, 50), 10);
        assert_eq!(due(Duration::from_millis(1_500), 10, 50), 15);
        assert_eq!(due(Duration::from_secs(60), 1_000, 50), 50);
    }

    #[test]
    fn orders_spread_over_customers_and_are_valid() {
        let keys: std::collections::BTreeSet<String> =
            (0..20).map(|i| order(i, 7).customer_id).collect();
        assert_eq!(keys.len(), 7);
        assert!((0..20).all(|i| order(i, 7).validate().is_ok()));
    }
}
