//! Orders sent to the gateway: open-loop at a fixed rate (for latency) or
//! closed-loop as fast as the gateway answers (for the most it takes).
//!
//! Every order's customer id is `{tag}-{seq}`, and the gateway keys its
//! record by customer, so a live client can tell from a record's key which
//! order it is and when that order was meant to be sent (see [`Schedule`]).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::stats::{Latencies, Percentiles};

/// The JSON body of order `seq` of a run tagged `tag`.
pub fn order_body(tag: &str, seq: u64) -> String {
    format!(
        r#"{{"customer_id":"{tag}-{seq}","items":[{{"sku":"BENCH-1","quantity":2,"unit_price_cents":1999}},{{"sku":"BENCH-2","quantity":1,"unit_price_cents":4500}}]}}"#
    )
}

/// The body of a batch holding orders `first..first + count`.
pub fn batch_body(tag: &str, first: u64, count: u64) -> String {
    let orders: Vec<String> = (first..first + count).map(|s| order_body(tag, s)).collect();
    format!(r#"{{"orders":[{}]}}"#, orders.join(","))
}

/// The order sequence number in a record key `{tag}-{seq}` of this run.
pub fn seq_of_key(tag: &str, key: &str) -> Option<u64> {
    key.strip_prefix(tag)?.strip_prefix('-')?.parse().ok()
}

/// When each order of an open-loop run is meant to be sent.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    /// Orders per second.
    pub rate: f64,
}

impl Schedule {
    pub fn intended(&self, seq: u64) -> Instant {
        self.start + Duration::from_secs_f64(seq as f64 / self.rate)
    }

    /// How many orders are due by `now`.
    pub fn due(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.start).as_secs_f64() * self.rate) as u64
    }
}

/// What one load run did.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LoadResult {
    /// Orders acknowledged (202).
    pub acked: u64,
    /// Orders refused or failed.
    pub failed: u64,
    /// Orders the run meant to send.
    pub planned: u64,
    pub seconds: f64,
    /// Acknowledged orders per second over the run, from the first send to
    /// the last answer.
    pub orders_per_second: f64,
    /// Per request (a single order, or one batch).
    pub latency: Percentiles,
}

/// Sends `units` of `per_unit` orders each at `rate` orders per second,
/// open-loop: unit `i` is due at `start + i * per_unit / rate`, and its
/// latency counts from then, even when a full in-flight window made it
/// wait. `send(first_seq)` sends one unit and says whether it was
/// acknowledged. Returns once every unit is answered.
pub async fn open_loop<F, Fut>(
    schedule: Schedule,
    duration: Duration,
    per_unit: u64,
    max_in_flight: usize,
    send: F,
) -> LoadResult
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let unit_schedule = Schedule {
        start: schedule.start,
        rate: schedule.rate / per_unit as f64,
    };
    let units = (duration.as_secs_f64() * unit_schedule.rate).round() as u64;
    let latencies = Arc::new(Mutex::new(Latencies::new()));
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let mut next = 0;
    while next < units {
        tokio::time::sleep_until(unit_schedule.intended(next).into()).await;
        // Everything due by now (at least the unit slept for).
        let due = unit_schedule.due(Instant::now()).clamp(next + 1, units);
        while next < due {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let intended = unit_schedule.intended(next);
            let reply = send(next * per_unit);
            let (latencies, acked) = (latencies.clone(), acked.clone());
            tokio::spawn(async move {
                if reply.await {
                    acked.fetch_add(per_unit, std::sync::atomic::Ordering::Relaxed);
                }
                let latency = intended.elapsed();
                if let Ok(mut l) = latencies.lock() {
                    l.record(latency);
                }
                drop(permit);
            });
            next += 1;
        }
    }
    // Every unit answered: all permits back.
    let _all = slots.acquire_many(max_in_flight as u32).await;
    let seconds = schedule.start.elapsed().as_secs_f64();
    let acked = acked.load(std::sync::atomic::Ordering::Relaxed);
    let latency = latencies
        .lock()
        .map(|l| l.percentiles())
        .unwrap_or_default();
    LoadResult {
        acked,
        failed: units * per_unit - acked,
        planned: units * per_unit,
        seconds,
        orders_per_second: acked as f64 / seconds,
        latency,
    }
}

/// Sends units of `per_unit` orders from `workers` loops, each sending its
/// next unit as soon as the last is answered, for `duration`: the most the
/// gateway takes at that concurrency.
pub async fn closed_loop<F, Fut>(
    workers: usize,
    duration: Duration,
    per_unit: u64,
    send: F,
) -> LoadResult
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let send = Arc::new(send);
    let next_unit = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let end = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (send, next_unit) = (send.clone(), next_unit.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut acked, mut sent) = (Latencies::new(), 0, 0);
            while Instant::now() < end {
                let unit = next_unit.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let begun = Instant::now();
                if send(unit * per_unit).await {
                    acked += per_unit;
                }
                sent += per_unit;
                latencies.record(begun.elapsed());
            }
            (latencies, acked, sent)
        }));
    }
    let (mut latencies, mut acked, mut sent) = (Latencies::new(), 0, 0);
    for task in tasks {
        if let Ok((l, a, s)) = task.await {
            latencies.merge(&l);
            acked += a;
            sent += s;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    LoadResult {
        acked,
        failed: sent - acked,
        planned: sent,
        seconds,
        orders_per_second: acked as f64 / seconds,
        latency: latencies.percentiles(),
    }
}

/// Posts a prepared body; true when the gateway answered 202.
pub async fn post(http: &reqwest::Client, url: &str, body: String) -> bool {
    match http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(response) => {
            let accepted = response.status() == 202;
            // Read the body so the connection goes back to the pool.
            let _ = response.bytes().await;
            accepted
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_body_is_a_valid_order_keyed_by_its_sequence() {
        let order: wire::NewOrder =
            serde_json::from_str(&order_body("run7", 42)).expect("an order");
        order.validate().expect("valid");
        assert_eq!(seq_of_key("run7", &order.customer_id), Some(42));
        assert_eq!(seq_of_key("run8", &order.customer_id), None);
        assert_eq!(seq_of_key("run7", "run7x-1"), None);
    }

    #[test]
    fn a_batch_body_holds_consecutive_orders() {
        let batch: wire::api::NewOrderBatch =
            serde_json::from_str(&batch_body("t", 10, 3)).expect("a batch");
        let ids: Vec<_> = batch
            .orders
            .iter()
            .map(|o| o.customer_id.as_str())
            .collect();
        assert_eq!(ids, ["t-10", "t-11", "t-12"]);
    }

    #[test]
    fn the_schedule_spaces_orders_by_the_rate() {
        let start = Instant::now();
        let s = Schedule {
            start,
            rate: 1000.0,
        };
        assert_eq!(s.intended(500) - start, Duration::from_millis(500));
        assert_eq!(s.due(start + Duration::from_millis(2500)), 2500);
        assert_eq!(s.due(start), 0);
    }

    #[tokio::test]
    async fn open_loop_sends_every_planned_unit_and_counts_failures() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let record = sent.clone();
        let schedule = Schedule {
            start: Instant::now(),
            rate: 2000.0,
        };
        let result = open_loop(schedule, Duration::from_millis(100), 10, 4, move |first| {
            record.lock().expect("lock").push(first);
            // Every third unit fails.
            async move { first % 30 != 0 }
        })
        .await;
        let mut firsts = sent.lock().expect("lock").clone();
        firsts.sort();
        assert_eq!(firsts, (0..20).map(|u| u * 10).collect::<Vec<_>>());
        assert_eq!(
            (result.planned, result.acked, result.failed),
            (200, 130, 70)
        );
        assert_eq!(result.latency.count, 20);
    }
}
