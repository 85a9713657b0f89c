//! `Idempotency-Key` for `POST /api/orders`: a client that retries a
//! request (a timeout, a dropped connection, a double click) gets the first
//! acknowledgement back instead of placing the order twice.
//!
//! The gateway remembers each key it acknowledged, with a fingerprint of the
//! order, for a bounded window and up to a bounded number of keys. A key is
//! taken when its request starts and given back if the order was not
//! acknowledged, so a retry after a failure tries again. Keys live in this
//! gateway's memory: behind several gateways, send retries to the same one.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wire::OrderAccepted;

use crate::sync::lock;

/// Longest key accepted, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 128;

/// What a request with a key should do.
#[derive(Debug)]
pub(crate) enum Begin {
    /// The key is new: place the order, then [`Claim::finish`].
    New(Claim),
    /// The key was acknowledged for this same order: answer with this.
    Replay(OrderAccepted),
    /// A request with this key is still being placed.
    InProgress,
    /// The key was used for a different order.
    Mismatch,
}

#[derive(Debug)]
enum State {
    InFlight,
    Done(OrderAccepted),
}

#[derive(Debug)]
struct Remembered {
    fingerprint: u64,
    state: State,
    since: Instant,
}

#[derive(Debug, Default)]
struct Store {
    keys: HashMap<String, Remembered>,
    /// Keys in the order they were taken, to forget the oldest first.
    /// An entry whose time differs from its key's is stale and skipped.
    taken: VecDeque<(String, Instant)>,
}

/// The keys of one gateway.
#[derive(Debug)]
pub(crate) struct Idempotency {
    store: Arc<Mutex<Store>>,
    window: Duration,
    capacity: usize,
    hasher: RandomState,
}

/// A key taken by a request. Dropped without [`Claim::finish`] (the order
/// was not acknowledged), it gives the key back.
#[derive(Debug)]
pub(crate) struct Claim {
    store: Arc<Mutex<Store>>,
    key: Option<String>,
    since: Instant,
}

impl Claim {
    /// The order was acknowledged: remember the answer for the window.
    pub(crate) fn finish(mut self, ack: &OrderAccepted) {
        if let Some(key) = self.key.take()
            && let Some(entry) = lock(&self.store).keys.get_mut(&key)
            && entry.since == self.since
        {
            entry.state = State::Done(ack.clone());
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut store = lock(&self.store);
            if store.keys.get(&key).is_some_and(|e| e.since == self.since) {
                store.keys.remove(&key);
            }
        }
    }
}

impl Idempotency {
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Self {
            store: Arc::default(),
            window,
            capacity,
            hasher: RandomState::new(),
        }
    }

    /// A fingerprint of the request, to tell a retry from a reused key.
    pub(crate) fn fingerprint(&self, request: &impl Hash) -> u64 {
        self.hasher.hash_one(request)
    }

    /// Looks `key` up at `now`, and takes it if it is new.
    pub(crate) fn begin(&self, key: &str, fingerprint: u64, now: Instant) -> Begin {
        let mut store = lock(&self.store);
        let new = !store.keys.contains_key(key);
        self.forget_old(&mut store, now, new);
        match store.keys.entry(key.to_owned()) {
            Entry::Occupied(entry) => {
                let remembered = entry.get();
                match &remembered.state {
                    _ if remembered.fingerprint != fingerprint => Begin::Mismatch,
                    State::InFlight => Begin::InProgress,
                    State::Done(ack) => Begin::Replay(ack.clone()),
                }
            }
            Entry::Vacant(entry) => {
                entry.insert(Remembered {
                    fingerprint,
                    state: State::InFlight,
                    since: now,
                });
                store.taken.push_back((key.to_owned(), now));
                // Keys given back leave stale entries behind; drop them
                // before they outnumber the live ones.
                if store.taken.len() > 2 * self.capacity {
                    let Store { keys, taken } = &mut *store;
                    taken.retain(|(k, since)| keys.get(k).is_some_and(|e| e.since == *since));
                }
                Begin::New(Claim {
                    store: self.store.clone(),
                    key: Some(key.to_owned()),
                    since: now,
                })
            }
        }
    }

    /// Forgets keys older than the window and, to make room for one more,
    /// the oldest beyond capacity.
    fn forget_old(&self, store: &mut Store, now: Instant, make_room: bool) {
        while let Some((key, since)) = store.taken.front() {
            let expired = now.duration_since(*since) > self.window;
            let full = make_room && store.keys.len() >= self.capacity;
            let current = store.keys.get(key).is_some_and(|e| e.since == *since);
            if current && !expired && !full {
                break;
            }
            if current {
                store.keys.remove(key);
            }
            store.taken.pop_front();
        }
    }
}

/// Whether `key` is an acceptable `Idempotency-Key`: 1 to [`MAX_KEY_BYTES`]
/// visible ASCII characters.
pub(crate) fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_BYTES && key.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(offset: i64) -> OrderAccepted {
        OrderAccepted {
            order_id: format!("order-{offset}"),
            topic: "orders".into(),
            partition: 0,
            offset,
            timestamp_ms: 0,
        }
    }

    fn claim(begin: Begin) -> Claim {
        match begin {
            Begin::New(claim) => claim,
            other => panic!("expected a new key, got {other:?}"),
        }
    }

    #[test]
    fn a_retry_gets_the_first_answer_and_a_reused_key_is_refused() {
        let keys = Idempotency::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        let first = claim(keys.begin("k", 1, t0));
        assert!(matches!(keys.begin("k", 1, t0), Begin::InProgress));
        first.finish(&ack(7));
        assert!(matches!(keys.begin("k", 1, t0), Begin::Replay(a) if a.offset == 7));
        assert!(matches!(keys.begin("k", 2, t0), Begin::Mismatch));
        assert!(matches!(keys.begin("other", 2, t0), Begin::New(_)));
    }

    #[test]
    fn a_failed_attempt_gives_its_key_back() {
        let keys = Idempotency::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        drop(claim(keys.begin("k", 1, t0)));
        claim(keys.begin("k", 1, t0)).finish(&ack(3));
        assert!(matches!(keys.begin("k", 1, t0), Begin::Replay(a) if a.offset == 3));
    }

    #[test]
    fn keys_are_forgotten_after_the_window() {
        let keys = Idempotency::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        claim(keys.begin("k", 1, t0)).finish(&ack(1));
        let later = t0 + Duration::from_secs(61);
        assert!(matches!(keys.begin("k", 1, later), Begin::New(_)));
    }

    #[test]
    fn the_oldest_keys_go_first_when_full() {
        let keys = Idempotency::new(Duration::from_secs(60), 2);
        let t0 = Instant::now();
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            claim(keys.begin(key, 1, t0)).finish(&ack(i as i64));
        }
        assert!(matches!(keys.begin("b", 1, t0), Begin::Replay(_)));
        assert!(matches!(keys.begin("c", 1, t0), Begin::Replay(_)));
        assert!(matches!(keys.begin("a", 1, t0), Begin::New(_)));
        assert!(lock(&keys.store).keys.len() <= 2);
    }

    #[test]
    fn keys_given_back_leave_a_bounded_trail() {
        let keys = Idempotency::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for i in 0..100 {
            drop(claim(keys.begin(&format!("failed-{i}"), 1, t0)));
        }
        assert!(lock(&keys.store).taken.len() <= 6);
        assert!(lock(&keys.store).keys.is_empty());
    }

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(valid_key("0190f1a2-retry-1"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key("ключ"));
        assert!(!valid_key(&"k".repeat(MAX_KEY_BYTES + 1)));
    }
}
