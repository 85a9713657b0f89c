//! `Idempotency-Key` for `POST /api/orders`: a client that retries a
//! request (a timeout, a dropped connection, a double click) gets the first
//! acknowledgement back instead of placing the order twice, whichever
//! gateway of the topic it retries on.
//!
//! - The `order_id` is derived from the key and the order (UUID v5), so
//!   every record a key ever writes carries the same id: a retry after an
//!   in-doubt failure (the broker did not answer in time, and the first write
//!   may still land) can add a second record, and a consumer that remembers
//!   ids processes the order once.
//! - Each gateway remembers the keys acknowledged within the window, as a
//!   16-byte hash and the acknowledgement, never the key itself: its own, and
//!   every other gateway's, read from the key log (`kafka::keys`), where each
//!   acknowledged key is written before its client hears 202.
//! - A key this gateway does not know is decided only once it has read the
//!   key log up to its end as it was when the request came.
//!
//! A key is taken when its request starts and given back if the order was
//! not acknowledged, so a retry after a failure tries again. Two retries of
//! one key racing on two gateways may both write (with the same `order_id`).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::sync::lock;

/// Longest key accepted, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 128;

/// This product's namespace for its v5 UUIDs: the same key and order give
/// the same hash and id on every gateway, in every version. Never change it.
const NAMESPACE: Uuid = uuid::uuid!("6f1c1d2e-0b57-4c59-9a53-1f0d8e4b7a2c");

/// An `Idempotency-Key`'s stable hash: what gateways keep and share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct KeyHash(pub(crate) [u8; 16]);

impl KeyHash {
    pub(crate) fn of(key: &str) -> Self {
        Self(*Uuid::new_v5(&NAMESPACE, key.as_bytes()).as_bytes())
    }

    /// The id of the order `order` (its canonical bytes) placed under this
    /// key: the same for every attempt, different for another order.
    pub(crate) fn order_id(self, order: &[u8]) -> Uuid {
        Uuid::new_v5(&Uuid::from_bytes(self.0), order)
    }
}

/// Where an acknowledged order is, as its client was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Acked {
    pub(crate) order_id: Uuid,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp_ms: i64,
}

/// What a request with a key should do.
#[derive(Debug)]
pub(crate) enum Begin {
    /// The key is new here: check the key log, place the order, then
    /// [`Claim::finish`].
    New(Claim),
    /// The key was acknowledged for this same order: answer with this.
    Replay(Acked),
    /// A request with this key is still being placed on this gateway.
    InProgress,
    /// The key was used for a different order.
    Mismatch,
}

/// One remembered key. Kept small: there may be a million of them.
#[derive(Debug)]
struct Remembered {
    /// The order the key is for.
    order_id: Uuid,
    /// `None` while this gateway places it.
    acked: Option<Placement>,
    /// Which claim owns an in-flight key; changed when the key log settles it.
    claim: u32,
    /// When the key was acknowledged (or taken), in seconds since the store
    /// began (negative for keys acknowledged before this gateway started).
    since: i32,
}

#[derive(Debug, Clone, Copy)]
struct Placement {
    partition: i32,
    offset: i64,
    timestamp_ms: i64,
}

#[derive(Debug)]
struct Store {
    keys: HashMap<KeyHash, Remembered>,
    /// Keys in the order they were taken, to forget the oldest first. An
    /// entry whose claim differs from its key's is stale and skipped.
    taken: VecDeque<(KeyHash, u32)>,
    next_claim: u32,
    epoch: Instant,
}

impl Store {
    fn seconds(&self, now: Instant) -> i32 {
        i32::try_from(now.saturating_duration_since(self.epoch).as_secs()).unwrap_or(i32::MAX)
    }

    fn claim(&mut self) -> u32 {
        self.next_claim = self.next_claim.wrapping_add(1);
        self.next_claim
    }
}

/// The keys one gateway remembers.
#[derive(Debug)]
pub(crate) struct Idempotency {
    store: Arc<Mutex<Store>>,
    window_s: i32,
    capacity: usize,
}

/// A key taken by a request. Dropped without [`Claim::finish`] (the order
/// was not acknowledged), it gives the key back.
#[derive(Debug)]
pub(crate) struct Claim {
    store: Arc<Mutex<Store>>,
    key: Option<KeyHash>,
    order_id: Uuid,
    claim: u32,
}

impl Claim {
    /// The order was acknowledged: remember the answer for the window.
    pub(crate) fn finish(mut self, acked: &Acked) {
        if let Some(key) = self.key.take()
            && let Some(entry) = lock(&self.store).keys.get_mut(&key)
            && entry.claim == self.claim
        {
            entry.acked = Some(Placement::of(acked));
        }
    }

    /// Once the key log is read: `None` if the key is still this request's
    /// to place, else what another gateway's acknowledgement of it says.
    pub(crate) fn settled(&self) -> Option<Begin> {
        let key = self.key?;
        let store = lock(&self.store);
        let entry = store.keys.get(&key)?;
        if entry.claim == self.claim {
            return None;
        }
        Some(match entry.acked {
            _ if entry.order_id != self.order_id => Begin::Mismatch,
            Some(placement) => Begin::Replay(placement.acked(entry.order_id)),
            None => Begin::InProgress,
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut store = lock(&self.store);
            if store.keys.get(&key).is_some_and(|e| e.claim == self.claim) {
                store.keys.remove(&key);
            }
        }
    }
}

impl Placement {
    fn of(acked: &Acked) -> Self {
        Self {
            partition: acked.partition,
            offset: acked.offset,
            timestamp_ms: acked.timestamp_ms,
        }
    }

    fn acked(self, order_id: Uuid) -> Acked {
        Acked {
            order_id,
            partition: self.partition,
            offset: self.offset,
            timestamp_ms: self.timestamp_ms,
        }
    }
}

impl Idempotency {
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Self {
            store: Arc::new(Mutex::new(Store {
                keys: HashMap::new(),
                taken: VecDeque::new(),
                next_claim: 0,
                epoch: Instant::now(),
            })),
            window_s: i32::try_from(window.as_secs()).unwrap_or(i32::MAX),
            capacity: capacity.max(1),
        }
    }

    /// Looks `key` for `order_id` up at `now`, and takes it if it is new.
    pub(crate) fn begin(&self, key: KeyHash, order_id: Uuid, now: Instant) -> Begin {
        let mut store = lock(&self.store);
        let now_s = store.seconds(now);
        let new = !store.keys.contains_key(&key);
        self.forget_old(&mut store, now_s, new);
        if let Some(entry) = store.keys.get(&key)
            && self.expired(entry, now_s)
        {
            // Learnt from the log long after it was acknowledged: expired.
            store.keys.remove(&key);
        }
        let claim = store.claim();
        match store.keys.entry(key) {
            Entry::Occupied(entry) => {
                let remembered = entry.get();
                match remembered.acked {
                    _ if remembered.order_id != order_id => Begin::Mismatch,
                    None => Begin::InProgress,
                    Some(placement) => Begin::Replay(placement.acked(order_id)),
                }
            }
            Entry::Vacant(entry) => {
                entry.insert(Remembered {
                    order_id,
                    acked: None,
                    claim,
                    since: now_s,
                });
                store.taken.push_back((key, claim));
                self.drop_stale(&mut store);
                Begin::New(Claim {
                    store: self.store.clone(),
                    key: Some(key),
                    order_id,
                    claim,
                })
            }
        }
    }

    /// A key acknowledged by some gateway (this one too), as the key log
    /// says, at `now`. A key this gateway is placing is settled by it (see
    /// [`Claim::settled`]). A key acknowledged twice (retries racing on two
    /// gateways both wrote) keeps the key log's later record: every gateway
    /// reads the log in one order, and compaction keeps the last, so all of
    /// them, and any started later, answer alike.
    pub(crate) fn learn(&self, key: KeyHash, acked: &Acked, now: Instant, now_ms: i64) {
        let mut store = lock(&self.store);
        let now_s = store.seconds(now);
        // Counted from when it was acknowledged, not from when it was read.
        // Saturating: the record's time is whatever its writer put there.
        let age_s = i32::try_from(now_ms.saturating_sub(acked.timestamp_ms).max(0) / 1000)
            .unwrap_or(i32::MAX);
        if age_s > self.window_s {
            return;
        }
        let since = now_s - age_s;
        let new = !store.keys.contains_key(&key);
        self.forget_old(&mut store, now_s, new);
        let claim = store.claim();
        match store.keys.entry(key) {
            Entry::Occupied(mut entry) => {
                let remembered = entry.get_mut();
                if remembered.acked.is_none() {
                    *remembered = Remembered {
                        order_id: acked.order_id,
                        acked: Some(Placement::of(acked)),
                        claim,
                        since,
                    };
                    store.taken.push_back((key, claim));
                } else {
                    remembered.order_id = acked.order_id;
                    remembered.acked = Some(Placement::of(acked));
                }
            }
            Entry::Vacant(entry) => {
                entry.insert(Remembered {
                    order_id: acked.order_id,
                    acked: Some(Placement::of(acked)),
                    claim,
                    since,
                });
                store.taken.push_back((key, claim));
            }
        }
        self.drop_stale(&mut store);
    }

    /// How many keys are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.store).keys.len()
    }

    fn expired(&self, entry: &Remembered, now_s: i32) -> bool {
        i64::from(now_s) - i64::from(entry.since) > i64::from(self.window_s)
    }

    /// Forgets keys older than the window and, to make room for one more,
    /// the oldest beyond capacity.
    fn forget_old(&self, store: &mut Store, now_s: i32, make_room: bool) {
        while let Some(&(key, claim)) = store.taken.front() {
            let current = store.keys.get(&key).filter(|e| e.claim == claim);
            let expired = current.is_some_and(|e| self.expired(e, now_s));
            let full = make_room && store.keys.len() >= self.capacity;
            if current.is_some() && !expired && !full {
                break;
            }
            if current.is_some() {
                store.keys.remove(&key);
            }
            store.taken.pop_front();
        }
    }

    /// Keys given back or settled leave stale entries behind; drops them
    /// before they outnumber the live ones.
    fn drop_stale(&self, store: &mut Store) {
        if store.taken.len() > 2 * self.capacity {
            let Store { keys, taken, .. } = store;
            taken.retain(|(k, claim)| keys.get(k).is_some_and(|e| e.claim == *claim));
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

    const ORDER: Uuid = Uuid::from_u128(1);
    const OTHER: Uuid = Uuid::from_u128(2);

    fn key(name: &str) -> KeyHash {
        KeyHash::of(name)
    }

    fn acked(order_id: Uuid, offset: i64) -> Acked {
        Acked {
            order_id,
            partition: 0,
            offset,
            timestamp_ms: 1_000_000,
        }
    }

    fn claim(begin: Begin) -> Claim {
        match begin {
            Begin::New(claim) => claim,
            other => panic!("expected a new key, got {other:?}"),
        }
    }

    #[test]
    fn ids_are_stable_per_key_and_order_and_differ_otherwise() {
        assert_eq!(key("k"), key("k"));
        assert_ne!(key("k"), key("K"));
        assert_eq!(
            key("k").order_id(b"{\"a\":1}"),
            key("k").order_id(b"{\"a\":1}")
        );
        assert_ne!(
            key("k").order_id(b"{\"a\":1}"),
            key("k").order_id(b"{\"a\":2}")
        );
        assert_ne!(
            key("k").order_id(b"{\"a\":1}"),
            key("j").order_id(b"{\"a\":1}")
        );
        // Fixed forever: gateways of different versions share the key log.
        assert_eq!(
            key("order-1").order_id(b"{}").to_string(),
            "6d01f865-0bbb-5deb-8b02-f88691e118f7"
        );
    }

    #[test]
    fn a_retry_gets_the_first_answer_and_a_reused_key_is_refused() {
        let keys = Idempotency::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        let first = claim(keys.begin(key("k"), ORDER, t0));
        assert!(matches!(keys.begin(key("k"), ORDER, t0), Begin::InProgress));
        first.finish(&acked(ORDER, 7));
        assert!(matches!(keys.begin(key("k"), ORDER, t0), Begin::Replay(a) if a.offset == 7));
        assert!(matches!(keys.begin(key("k"), OTHER, t0), Begin::Mismatch));
        assert!(matches!(keys.begin(key("other"), OTHER, t0), Begin::New(_)));
    }

    #[test]
    fn a_failed_attempt_gives_its_key_back() {
        let keys = Idempotency::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        drop(claim(keys.begin(key("k"), ORDER, t0)));
        claim(keys.begin(key("k"), ORDER, t0)).finish(&acked(ORDER, 3));
        assert!(matches!(keys.begin(key("k"), ORDER, t0), Begin::Replay(a) if a.offset == 3));
    }

    #[test]
    fn a_key_another_gateway_acknowledged_settles_this_ones_attempt() {
        let keys = Idempotency::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        let mine = claim(keys.begin(key("k"), ORDER, t0));
        assert!(mine.settled().is_none(), "nothing learnt yet");
        keys.learn(key("k"), &acked(ORDER, 9), t0, 1_000_000);
        assert!(matches!(mine.settled(), Some(Begin::Replay(a)) if a.offset == 9));
        // Giving the claim back does not forget what was learnt.
        drop(mine);
        assert!(matches!(keys.begin(key("k"), ORDER, t0), Begin::Replay(a) if a.offset == 9));

        let other = claim(keys.begin(key("j"), OTHER, t0));
        keys.learn(key("j"), &acked(ORDER, 10), t0, 1_000_000);
        assert!(matches!(other.settled(), Some(Begin::Mismatch)));
    }

    #[test]
    fn a_key_acknowledged_twice_keeps_the_key_logs_last_record() {
        let keys = Idempotency::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        claim(keys.begin(key("k"), ORDER, t0)).finish(&acked(ORDER, 1));
        assert!(matches!(keys.begin(key("k"), ORDER, t0), Begin::Replay(a) if a.offset == 1));
        // Its own record, then another gateway's, raced in after it.
        keys.learn(key("k"), &acked(ORDER, 1), t0, 1_000_000);
        keys.learn(key("k"), &acked(ORDER, 2), t0, 1_000_000);
        assert!(matches!(keys.begin(key("k"), ORDER, t0), Begin::Replay(a) if a.offset == 2));
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn a_record_of_any_time_is_taken_without_overflow() {
        let keys = Idempotency::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        let at = |timestamp_ms| Acked {
            timestamp_ms,
            ..acked(ORDER, 1)
        };
        // Older than any window: left out.
        keys.learn(key("min"), &at(i64::MIN), t0, 1_000_000);
        assert!(matches!(keys.begin(key("min"), ORDER, t0), Begin::New(_)));
        // From the future: counted from now.
        keys.learn(key("max"), &at(i64::MAX), t0, 1_000_000);
        assert!(matches!(
            keys.begin(key("max"), ORDER, t0),
            Begin::Replay(_)
        ));
    }

    #[test]
    fn keys_are_forgotten_after_the_window_counted_from_their_acknowledgement() {
        let keys = Idempotency::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        claim(keys.begin(key("k"), ORDER, t0)).finish(&acked(ORDER, 1));
        let later = t0 + Duration::from_secs(61);
        assert!(matches!(keys.begin(key("k"), ORDER, later), Begin::New(_)));

        // Read from the log 50 s after it was acknowledged: 10 s left.
        keys.learn(key("old"), &acked(ORDER, 2), t0, 1_050_000);
        assert!(matches!(
            keys.begin(key("old"), ORDER, t0),
            Begin::Replay(_)
        ));
        let t11 = t0 + Duration::from_secs(11);
        assert!(matches!(keys.begin(key("old"), ORDER, t11), Begin::New(_)));
        // Older than the window when read: not kept at all.
        keys.learn(key("older"), &acked(ORDER, 3), t0, 1_070_000);
        assert!(matches!(keys.begin(key("older"), ORDER, t0), Begin::New(_)));
    }

    #[test]
    fn the_oldest_keys_go_first_when_full() {
        let keys = Idempotency::new(Duration::from_secs(60), 2);
        let t0 = Instant::now();
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            claim(keys.begin(key(name), ORDER, t0)).finish(&acked(ORDER, i as i64));
        }
        assert!(matches!(keys.begin(key("b"), ORDER, t0), Begin::Replay(_)));
        assert!(matches!(keys.begin(key("c"), ORDER, t0), Begin::Replay(_)));
        assert!(matches!(keys.begin(key("a"), ORDER, t0), Begin::New(_)));
        assert!(keys.len() <= 2);
        keys.learn(key("d"), &acked(ORDER, 4), t0, 1_000_000);
        assert!(keys.len() <= 2);
    }

    #[test]
    fn keys_given_back_leave_a_bounded_trail() {
        let keys = Idempotency::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for i in 0..100 {
            drop(claim(keys.begin(key(&format!("failed-{i}")), ORDER, t0)));
        }
        assert!(lock(&keys.store).taken.len() <= 6);
        assert_eq!(keys.len(), 0);
    }

    #[test]
    fn a_remembered_key_is_small() {
        // What README.md says a key costs: its hash and entry in the table,
        // plus its place in the queue of keys to forget.
        let entry = size_of::<(KeyHash, Remembered)>();
        let queued = size_of::<(KeyHash, u32)>();
        assert_eq!((entry, queued), (72, 20));
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
